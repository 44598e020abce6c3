//! Ticket search over sealed text (issue 25): the blind word index finds
//! any word of any ticket, message or note, whatever its age, shows only
//! keyed hashes to the database, and goes with the person on erasure.

use crate::{both, helpers::*};
use officecomms::{
    platform::{forms::EmailAddress, now_ms},
    privacy::{erasure, subjects},
    support::{intake::NewTicket, tickets},
};

fn conversation_path(app: &TestApp, mail: &Mail) -> String {
    mail.link(&format!("{}/support/tickets/", app.base))
        .trim_start_matches(&app.base)
        .to_string()
}

/// Sends the contact form as `email` with this subject and details.
async fn contact(app: &TestApp, email: &str, subject: &str, details: &str) {
    let token = officecomms::support::intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let r = app
        .post_form(
            "/contact",
            &[
                ("token", token.as_str()),
                ("name", "Zoë Fairbanks"),
                ("email", email),
                ("phone", "(415) 555-2671"),
                ("product", "Microsoft 365"),
                ("product_other", ""),
                ("subject", subject),
                ("details", details),
                ("birth_year", "1985"),
                ("website", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

/// `n` tickets made through the same write path as the form (so each is
/// indexed), from other people, about other things.
async fn many_tickets(app: &TestApp, n: usize) {
    for i in 0..n {
        let new = NewTicket {
            name: format!("Person {i}"),
            email: format!("person{i}@example.net")
                .parse::<EmailAddress>()
                .unwrap(),
            phone: None,
            phone_e164: None,
            product: "Microsoft 365".into(),
            product_other: None,
            title: format!("Routine question {i}"),
            details: "My mailbox is full and I cannot send messages any more.".into(),
            attachments: vec![],
        };
        tickets::create(&app.state, &new, &format!("bulk-{i}"), b"bench")
            .await
            .unwrap();
    }
}

async fn ticket_id(app: &TestApp, email: &str) -> (i64, i64) {
    let subject = subjects::find(&app.state.db, &app.state.keyring, email)
        .await
        .unwrap()
        .unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM tickets WHERE subject_id = $1")
        .bind(subject.id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    (id, subject.id)
}

async fn hash_rows(app: &TestApp, subject_id: i64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM ticket_search_terms WHERE subject_id = $1")
        .bind(subject_id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

both! {
    async fn a_word_only_in_the_third_message_of_a_ticket_older_than_500_others_is_found(backend) {
        let app = TestApp::spawn(backend).await;
        contact(&app, "zoe@example.com", "Ledger export fails", "The yearly export stops halfway.").await;
        app.drain_outbox().await;
        let path = conversation_path(&app, &app.mails()[0]);
        app.login_as("agent").await;
        let (id, _) = ticket_id(&app, "zoe@example.com").await;
        let r = app.post_form(&format!("/admin/tickets/{id}/reply"), &[("body", "Which version do you run?"), ("status", "pending")]).await;
        assert_eq!(r.status(), 303);
        // The third message, from the visitor, holds the only "Quickbooks".
        let visitor = client();
        let page = visitor.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&page);
        let r = visitor.post(app.url(&path)).form(&[("csrf", csrf.as_str()), ("body", "It is Quickbooks Desktop 2019, with the Café plug-in.")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        many_tickets(&app, 501).await;

        let (status, inbox) = app.get_text("/admin/tickets?status=all&q=quickbooks").await;
        assert_eq!(status, 200);
        assert!(inbox.contains("Ledger export fails"), "the old ticket is found");
        assert!(!inbox.contains("Routine question"), "only the ticket with the word");
        assert!(inbox.contains("<mark>Quickbooks</mark>"), "the matching line is shown: {inbox}");
        // A prefix, three words at once, folded diacritics, a word of its
        // requester's name, the global search: all find it.
        for q in ["quickb", "QUICKBOOKS desktop yearly", "cafe", "zoe ledger", "Fairbank"] {
            let (_, found) = app.get_text(&format!("/admin/tickets?status=all&q={}", q.replace(' ', "+"))).await;
            assert!(found.contains("Ledger export fails") && !found.contains("Routine question"), "{q}");
        }
        let (_, global) = app.get_text("/admin/search?q=quickbooks").await;
        assert!(global.contains("Ledger export fails") && !global.contains("Routine question"));
        // A word of every ticket: filters and the page size still apply.
        let (_, mailbox) = app.get_text("/admin/tickets?status=all&q=mailbox").await;
        assert!(mailbox.contains("Routine question 500") && !mailbox.contains("Ledger export fails"));
        assert!(mailbox.contains("Showing the first 100"));
        let (_, oldest) = app.get_text("/admin/tickets?status=all&sort=oldest&q=mailbox").await;
        assert!(oldest.contains("Routine question 0<") && !oldest.contains("Routine question 500"));
        // A word nowhere, and words that cannot be searched.
        let (_, none) = app.get_text("/admin/tickets?status=all&q=quickbooks+mailbox").await;
        assert!(none.contains("No tickets match."));
        let (status, junk) = app.get_text("/admin/tickets?status=all&q=%22%27%3B--+the").await;
        assert_eq!(status, 200);
        assert!(junk.contains("Search for words of two letters or more"));
    }

    async fn a_notes_words_are_found_by_staff_and_never_shown_to_the_visitor(backend) {
        let app = TestApp::spawn(backend).await;
        contact(&app, "yan@example.com", "Printer offline", "It says offline since the update.").await;
        app.drain_outbox().await;
        let path = conversation_path(&app, &app.mails()[0]);
        app.login_as("agent").await;
        let (id, _) = ticket_id(&app, "yan@example.com").await;
        let r = app.post_form(&format!("/admin/tickets/{id}/note"), &[("body", "Escalated to Brightwater, our print vendor.")]).await;
        assert_eq!(r.status(), 303);
        let (_, found) = app.get_text("/admin/tickets?q=brightwater").await;
        assert!(found.contains("Printer offline") && found.contains("<mark>Brightwater,</mark>"), "{found}");
        let (_, global) = app.get_text("/admin/search?q=brightwater").await;
        assert!(global.contains("Printer offline"));
        let page = client().get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("offline since the update") && !page.contains("Brightwater"));
    }

    async fn after_erasure_the_words_find_nothing_and_no_hash_of_the_person_remains(backend) {
        let app = TestApp::spawn(backend).await;
        contact(&app, "xia@example.com", "Scanner driver", "The Kyocera scanner driver crashes.").await;
        contact(&app, "wim@example.com", "Scanner driver too", "My Kyocera scanner is fine but slow.").await;
        app.login_as("agent").await;
        let (id, subject_id) = ticket_id(&app, "xia@example.com").await;
        let r = app.post_form(&format!("/admin/tickets/{id}/note"), &[("body", "Known Gallifrey bug.")]).await;
        assert_eq!(r.status(), 303);
        assert!(hash_rows(&app, subject_id).await > 0);
        let (_, before) = app.get_text("/admin/tickets?q=kyocera+crash").await;
        assert!(before.contains("Scanner driver<"), "{before}");
        let mut tx = app.state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &app.state.registry.inventory, subject_id, "test").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(hash_rows(&app, subject_id).await, 0, "no hash row of the person remains");
        for q in ["crash", "gallifrey", "xia", "kyocera+crashes"] {
            let (_, after) = app.get_text(&format!("/admin/tickets?status=all&q={q}")).await;
            assert!(!after.contains("Scanner driver<") && !after.contains("Gallifrey"), "{q}");
            let (_, global) = app.get_text(&format!("/admin/search?q={q}")).await;
            assert!(!global.contains("Scanner driver<"), "{q}");
        }
        let (_, other) = app.get_text("/admin/tickets?q=kyocera").await;
        assert!(other.contains("Scanner driver too"), "someone else's ticket is still found");
    }

    async fn tickets_stored_before_the_index_are_indexed_at_start(backend) {
        let app = TestApp::spawn(backend).await;
        contact(&app, "vic@example.com", "Old request", "Our Synology backup fails.").await;
        let (id, subject_id) = ticket_id(&app, "vic@example.com").await;
        // As if stored before the index existed: no words, the mark above it.
        sqlx::query("DELETE FROM ticket_search_terms").execute(&app.state.db.pool).await.unwrap();
        sqlx::query("UPDATE search_backfill SET below = $1 WHERE name = 'tickets'").bind(id + 1)
            .execute(&app.state.db.pool).await.unwrap();
        let app = app.restart().await;
        assert!(hash_rows(&app, subject_id).await > 0);
        let mark: i64 = sqlx::query_scalar("SELECT below FROM search_backfill WHERE name = 'tickets'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert!(mark <= 1, "the whole backlog is done");
        app.login_as("agent").await;
        let (_, found) = app.get_text("/admin/tickets?q=synology").await;
        assert!(found.contains("Old request"));
    }

    async fn the_search_hashes_are_in_the_inventory_and_the_policy(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains("keyed hashes of the words of your support requests"), "the policy lists them");
        assert!(policy.contains("keyed hashes of the words of your order requests"));
        let tables: Vec<&str> = app.state.registry.inventory.tables().map(|t| t.name).collect();
        assert!(tables.contains(&"ticket_search_terms") && tables.contains(&"order_search_terms"));
    }

    async fn priorities_and_tags_are_set_audited_and_filter_the_inbox(backend) {
        let app = TestApp::spawn(backend).await;
        contact(&app, "una@example.com", "Invoice question", "Why was I charged twice?").await;
        contact(&app, "ulf@example.com", "Laptop broken", "The screen is black.").await;
        app.login_as("agent").await;
        let (invoice, _) = ticket_id(&app, "una@example.com").await;
        let (laptop, _) = ticket_id(&app, "ulf@example.com").await;
        assert_eq!(app.post_form(&format!("/admin/tickets/{invoice}/priority"), &[("priority", "urgent")]).await.status(), 303);
        assert_eq!(app.post_form(&format!("/admin/tickets/{invoice}/tags"), &[("tag", "Billing Dispute")]).await.status(), 303);
        assert_eq!(app.post_form(&format!("/admin/tickets/{laptop}/tags"), &[("tag", "hardware")]).await.status(), 303);
        let (_, page) = app.get_text(&format!("/admin/tickets/{invoice}")).await;
        assert!(page.contains("billing-dispute") && page.contains("value=\"urgent\" selected"));
        let (_, urgent) = app.get_text("/admin/tickets?priority=urgent").await;
        assert!(urgent.contains("Invoice question") && !urgent.contains("Laptop broken"));
        let (_, tagged) = app.get_text("/admin/tickets?tag=hardware").await;
        assert!(tagged.contains("Laptop broken") && !tagged.contains("Invoice question"));
        let (_, both) = app.get_text("/admin/tickets?tag=billing-dispute&q=charged").await;
        assert!(both.contains("Invoice question"));
        // Hostile values: a clear refusal, nothing saved.
        assert_eq!(app.post_form(&format!("/admin/tickets/{laptop}/priority"), &[("priority", "critical")]).await.status(), 422);
        assert_eq!(app.post_form(&format!("/admin/tickets/{laptop}/tags"), &[("tag", "<script>")]).await.status(), 422);
        assert_eq!(app.get("/admin/tickets?priority=%27%3B--").await.status(), 400);
        let (_, none) = app.get_text("/admin/tickets?tag=%3Cscript%3E").await;
        assert!(none.contains("No tickets match."));
        assert_eq!(app.post_form("/admin/tickets/999999/tags", &[("tag", "x")]).await.status(), 404);
        assert_eq!(app.post_form(&format!("/admin/tickets/{invoice}/tags/remove"), &[("tag", "billing-dispute")]).await.status(), 303);
        let (_, untagged) = app.get_text("/admin/tickets?tag=billing-dispute").await;
        assert!(!untagged.contains("Invoice question"));
        let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE action IN ('priority', 'tag', 'untag') ORDER BY id")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(actions, vec!["priority", "tag", "tag", "untag"]);
    }
}
