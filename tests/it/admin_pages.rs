//! The back office's work pages: the dashboard and its refresh endpoint,
//! the ticket composer, canned replies without JavaScript, the inbox's bulk
//! actions, the campaign send confirmation, the analytics chart and the
//! privacy pages' deadlines.

use crate::{both, helpers::*};
use officecomms::{platform::now_ms, privacy::business_days, support::intake};
use std::time::Duration;

/// A query from `name` at `email`, through the public contact form.
async fn ticket_from(app: &TestApp, name: &str, email: &str, subject: &str) -> i64 {
    let token = intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let fields: Vec<(&str, &str)> = crate::support::query(&token, email)
        .into_iter()
        .map(|(k, v)| match k {
            "name" => (k, name),
            "subject" => (k, subject),
            _ => (k, v),
        })
        .collect();
    let r = app.post_form("/contact", &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    sqlx::query_scalar("SELECT MAX(id) FROM tickets")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn reference(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT reference FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn staff_member(app: &TestApp, email: &str) -> (i64, String) {
    sqlx::query_as("SELECT id, display_name FROM staff_users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn messages_of(app: &TestApp, id: i64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM ticket_messages WHERE ticket_id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn figures(app: &TestApp) -> serde_json::Value {
    let r = app.get("/admin/dashboard.json").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    r.json().await.unwrap()
}

both! {
    async fn the_dashboard_counts_the_work_and_tells_what_happened_in_words(backend) {
        let app = TestApp::spawn(backend).await;
        let dana = ticket_from(&app, "Dana Whitfield", "dana@example.com", "Printer offline").await;
        let other = ticket_from(&app, "Eli Moss", "eli@example.com", "VPN drops").await;
        // Eli's query came in ten days ago: its first reply is overdue.
        sqlx::query("UPDATE tickets SET created_at = $1, last_visitor_at = $1 WHERE id = $2")
            .bind(now_ms() - 10 * 86_400_000).bind(other)
            .execute(&app.state.db.pool).await.unwrap();
        let r = app.post_form("/chat/start", &[("name", "Fay Lind"), ("email", ""), ("birth_year", "1980")]).await;
        assert_eq!(r.status(), 303);

        let me = app.login_as("agent").await;
        let (my_id, _) = staff_member(&app, &me).await;
        let colleague = app.staff_client("agent").await;
        let (_, colleague_name) = sqlx::query_as::<_, (i64, String)>(
            "SELECT id, display_name FROM staff_users WHERE role = 'agent' AND id <> $1",
        ).bind(my_id).fetch_one(&app.state.db.pool).await.unwrap();
        // The colleague hands Dana's ticket to me, through the page's form.
        let page = colleague.client.get(app.url(&format!("/admin/tickets/{dana}"))).send().await.unwrap().text().await.unwrap();
        let r = colleague.client.post(app.url(&format!("/admin/tickets/{dana}/assign")))
            .form(&[("csrf", extract_csrf(&page).as_str()), ("assignee", &my_id.to_string())])
            .send().await.unwrap();
        assert_eq!(r.status(), 303);

        let (status, page) = app.get_text("/admin").await;
        assert_eq!(status, 200);
        let dana_ref = reference(&app, dana).await;
        let eli_ref = reference(&app, other).await;
        let figure = |name: &str, n: i64| format!("data-figure=\"{name}\">{n}</span>");
        assert!(page.contains(&figure("my_open_tickets", 1)), "{page}");
        assert!(page.contains(&figure("unassigned_tickets", 1)));
        assert!(page.contains(&figure("waiting_chats", 1)));
        assert!(page.contains(&figure("sla_breached", 1)));
        assert!(!page.contains("data-figure=\"new_orders\""), "orders are for admins");
        // Activity in words, each a link to the ticket.
        let assigned = format!("<a href=\"/admin/tickets/{dana}\">Dana Whitfield&#39;s ticket {dana_ref} was assigned to you by {colleague_name}</a>");
        assert!(page.contains(&assigned), "{page}");
        assert!(page.contains(&format!("<a href=\"/admin/tickets/{dana}\">Dana Whitfield opened ticket {dana_ref}: Printer offline</a>")));
        assert!(!page.contains("Eli Moss opened"), "the feed covers the last seven days");
        // The waiting chat with how long it waits, the breached ticket with how late it is.
        assert!(page.contains("Fay Lind</a> <span class=\"hint\">waiting since <time datetime="), "{page}");
        assert!(page.contains(&format!("<span class=\"ref\">{eli_ref}</span> VPN drops</a>")));
        assert!(page.contains("<span class=\"badge error\">first response late by "), "{page}");
        assert!(!page.contains(&format!("<span class=\"ref\">{dana_ref}</span>")), "Dana's answer is not late");

        // The refresh endpoint says the same, and follows changes.
        let f = figures(&app).await;
        assert_eq!(f["my_open_tickets"], 1);
        assert_eq!(f["unassigned_tickets"], 1);
        assert_eq!(f["waiting_chats"], 1);
        assert_eq!(f["sla_breached"], 1);
        assert!(f.get("visitors_today").is_none(), "analytics are for admins: {f}");
        let r = app.post_form(&format!("/admin/tickets/{other}/assign"), &[("assignee", "me")]).await;
        assert_eq!(r.status(), 303);
        let f = figures(&app).await;
        assert_eq!((f["my_open_tickets"].as_i64(), f["unassigned_tickets"].as_i64()), (Some(2), Some(0)));
        let (_, page) = app.get_text("/admin").await;
        assert!(page.contains(&format!("You took Eli Moss&#39;s ticket {eli_ref}")), "{page}");
    }

    async fn admins_see_orders_visitors_and_subscribers_on_the_dashboard(backend) {
        let app = TestApp::spawn(backend).await;
        let visitor = crate::consent::visitor(&[]);
        for path in ["/", "/articles", "/"] {
            assert_eq!(visitor.get(app.url(path)).send().await.unwrap().status(), 200);
        }
        app.login_as("admin").await;
        let f = figures(&app).await;
        assert_eq!(f["visitors_today"], 1, "{f}");
        assert_eq!(f["new_orders"], 0);
        assert_eq!(f["subscribers_today"], 0);
        let (_, page) = app.get_text("/admin").await;
        assert!(page.contains("data-figure=\"visitors_today\">1</span>"), "{page}");
        assert!(page.contains("href=\"/admin/orders\""));
    }

    async fn today_on_the_dashboard_is_the_companys_day(backend) {
        let app = TestApp::spawn(backend).await;
        let rows: Vec<officecomms::newsletter::subscribers::ImportRow> = ["early@example.com", "late@example.com"]
            .iter()
            .enumerate()
            .map(|(i, e)| officecomms::newsletter::subscribers::ImportRow { line: i + 2, email: e.to_string(), name: String::new(), topics: "tips".into() })
            .collect();
        officecomms::newsletter::subscribers::import_rows(&app.state, &rows, "a sign-up sheet").await.unwrap();
        // Tuesday 8 Dec 2026, 03:00 UTC: Monday 7 Dec, 19:00 in California,
        // the company's zone. Monday 01:00 there (09:00 UTC) is today; Sunday
        // 23:00 there (07:00 UTC Monday) is not, though it is the same UTC day.
        let monday = |utc_hour: i64| 1_796_601_600_000 + utc_hour * 3_600_000;
        app.state.clock.set(monday(27));
        for (email, at) in [("early@example.com", monday(7)), ("late@example.com", monday(9))] {
            let id: i64 = sqlx::query_scalar("SELECT id FROM newsletter_subscribers ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap()[if email.starts_with("early") { 0 } else { 1 }];
            sqlx::query("UPDATE newsletter_subscribers SET status = 'confirmed', confirmed_at = $1 WHERE id = $2").bind(at).bind(id).execute(&app.state.db.pool).await.unwrap();
        }
        app.login_as("admin").await;
        let f = figures(&app).await;
        assert_eq!(f["subscribers_today"], 1, "{f}");
        // An hour later it is Monday 20:00 there: still one. At 08:00 UTC
        // the company's Tuesday begins, and nobody joined yet.
        app.state.clock.set(monday(28));
        assert_eq!(figures(&app).await["subscribers_today"], 1);
        app.state.clock.set(monday(32));
        assert_eq!(figures(&app).await["subscribers_today"], 0);
    }

    async fn the_dashboard_figures_are_for_staff_only(backend) {
        let app = TestApp::spawn(backend).await;
        let r = client().get(app.url("/admin/dashboard.json")).send().await.unwrap();
        assert!(matches!(r.status().as_u16(), 303 | 401), "{}", r.status());
        let body = r.text().await.unwrap();
        assert!(!body.contains("my_open_tickets"));
        // An editor is staff, but tickets, chats and orders are not theirs;
        // their own notifications are (the top bar's bell).
        app.login_as("editor").await;
        let f = figures(&app).await;
        assert_eq!(f, serde_json::json!({ "unread_notifications": 0 }));
        let (status, page) = app.get_text("/admin").await;
        assert_eq!(status, 200);
        assert!(!page.contains("data-figure="), "{page}");
    }

    async fn the_composer_sends_replies_and_keeps_notes_inside(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        let id = ticket_from(&app, "Gus Park", "gus@example.com", "Scanner driver").await;
        smtp.wait_for(1).await;
        app.login_as("agent").await;
        let (_, page) = app.get_text(&format!("/admin/tickets/{id}")).await;
        assert!(page.contains("action=\"/admin/tickets/") && page.contains("/compose\""), "one composer");
        assert!(page.contains("id=\"mode-reply\" checked") && page.contains("id=\"mode-note\""), "{page}");
        assert!(page.contains(">Send reply</button>") && page.contains(">Add note</button>"));

        let r = app.post_form(&format!("/admin/tickets/{id}/compose"), &[("mode", "note"), ("body", "He uses the old Canon model; driver 2.1 works."), ("status", "solved")]).await;
        assert_eq!(r.status(), 303);
        let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM ticket_messages WHERE ticket_id = $1 ORDER BY id").bind(id).fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(kinds, ["visitor", "note"]);
        let (status,): (String,) = sqlx::query_as("SELECT status FROM tickets WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "open", "a note changes no status");
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.state.mail_wakeup.notify_one();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(smtp.messages().len(), 1, "the note was never mailed");

        let r = app.post_form(&format!("/admin/tickets/{id}/compose"), &[("mode", "reply"), ("body", "Please install driver 2.1 from the vendor site."), ("status", "pending")]).await;
        assert_eq!(r.status(), 303);
        let mails = smtp.wait_for(2).await;
        let reply = Mail::parse(&mails[1]);
        assert_eq!(reply.to, "gus@example.com");
        assert!(reply.text.contains("driver 2.1 from the vendor site"));
        assert!(!mails.iter().any(|m| m.contains("old Canon model")), "the note is in no mail");

        // An empty note comes back as a note, with the message beside it.
        let r = app.post_form(&format!("/admin/tickets/{id}/compose"), &[("mode", "note"), ("body", "   ")]).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("Please write the note first.") && page.contains("id=\"mode-note\" checked"), "{page}");
        // A mode that does not exist is refused, and nothing is stored.
        let r = app.post_form(&format!("/admin/tickets/{id}/compose"), &[("mode", "broadcast"), ("body", "hi")]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(messages_of(&app, id).await, 3);
    }

    async fn a_canned_reply_is_inserted_without_javascript_keeping_what_was_typed(backend) {
        let app = TestApp::spawn(backend).await;
        let id = ticket_from(&app, "Hal Berg", "hal@example.com", "Teams audio").await;
        let me = app.login_as("agent").await;
        let (_, my_name) = staff_member(&app, &me).await;
        let r = app.post_form("/admin/tickets/canned", &[("title", "Restart"), ("body", "Hello {name}, please restart Teams ({reference}). {agent}")]).await;
        assert_eq!(r.status(), 303);
        let canned: i64 = sqlx::query_scalar("SELECT id FROM support_canned_replies").fetch_one(&app.state.db.pool).await.unwrap();
        let before = messages_of(&app, id).await;

        let r = app.post_form(&format!("/admin/tickets/{id}/compose"), &[
            ("mode", "reply"), ("body", "Thanks for the details."), ("status", "solved"),
            ("canned", &canned.to_string()), ("insert", "1"),
        ]).await;
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        let reference = reference(&app, id).await;
        let expected = format!("Thanks for the details.\n\nHello Hal Berg, please restart Teams ({reference}). {my_name}</textarea>");
        assert!(page.contains(&expected), "{page}");
        assert!(page.contains("<option value=\"solved\" selected>"), "the chosen status is kept");
        assert_eq!(messages_of(&app, id).await, before, "inserting sends nothing");

        // Inserting into a note keeps the note mode.
        let r = app.post_form(&format!("/admin/tickets/{id}/compose"), &[
            ("mode", "note"), ("body", ""), ("canned", &canned.to_string()), ("insert", "1"),
        ]).await;
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"mode-note\" checked"));
        assert!(page.contains(&format!("\">Hello Hal Berg, please restart Teams ({reference}).")), "{page}");

        // No canned reply chosen: what was typed stays, with a message.
        let r = app.post_form(&format!("/admin/tickets/{id}/compose"), &[
            ("mode", "reply"), ("body", "Half a sentence"), ("canned", ""), ("insert", "1"),
        ]).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("Please choose one of the canned replies.") && page.contains(">Half a sentence</textarea>"));
        assert_eq!(messages_of(&app, id).await, before);
    }

    async fn bulk_actions_assign_set_status_and_merge_the_selected_tickets(backend) {
        let app = TestApp::spawn(backend).await;
        let a = ticket_from(&app, "Ivy Ross", "ivy@example.com", "Mail quota").await;
        let b = ticket_from(&app, "Ivy Ross", "ivy@example.com", "Mail quota again").await;
        let c = ticket_from(&app, "Ivy Ross", "ivy@example.com", "Mail quota, third try").await;
        let stranger = ticket_from(&app, "Jon Vale", "jon@example.com", "Mail quota too").await;
        let me = app.login_as("agent").await;
        let (my_id, _) = staff_member(&app, &me).await;
        let (ra, rb, rc, rs) = (reference(&app, a).await, reference(&app, b).await, reference(&app, c).await, reference(&app, stranger).await);

        let (_, inbox) = app.get_text("/admin/tickets").await;
        assert!(inbox.contains(&format!("name=\"ids\" value=\"{a}\"")) && inbox.contains("id=\"select-all\""), "{inbox}");
        assert!(inbox.contains(&format!("<td class=\"subject\"><a href=\"/admin/tickets/{a}\">Mail quota</a></td>")), "subjects are links");

        // Assign two, one of which is real and one which does not exist.
        let r = app.post_form("/admin/tickets/bulk", &[("action", "assign"), ("assignee", "me"), ("ids", &a.to_string()), ("ids", &b.to_string()), ("ids", "999999")]).await;
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!("Assigned to you: {ra}, {rb}.")), "{page}");
        assert!(page.contains("1 selected ticket does not exist (any more) and was left alone."));
        let assigned: Vec<Option<i64>> = sqlx::query_scalar("SELECT assignee_id FROM tickets ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(assigned, [Some(my_id), Some(my_id), None, None]);

        // Status for all four.
        let r = app.post_form("/admin/tickets/bulk", &[("action", "status"), ("status", "pending"), ("ids", &a.to_string()), ("ids", &b.to_string()), ("ids", &c.to_string()), ("ids", &stranger.to_string())]).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains(&format!("Marked as pending: {ra}, {rb}, {rc}, {rs}.")));
        let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM tickets ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(statuses, ["pending"; 4]);

        // Merge: first the choice of the ticket to keep, nothing changed yet.
        let picks = [("action", "merge"), ("ids", &a.to_string()[..]), ("ids", &b.to_string()[..]), ("ids", &c.to_string()[..]), ("ids", &stranger.to_string()[..])];
        let r = app.post_form("/admin/tickets/bulk", &picks).await;
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(page.contains("Which ticket do the others go into?") && page.contains(&format!("name=\"target\" value=\"{c}\"")), "{page}");
        assert_eq!(messages_of(&app, a).await, 1);
        // A target outside the selection is refused.
        let mut outside = picks.to_vec();
        outside.push(("target", "999999"));
        let r = app.post_form("/admin/tickets/bulk", &outside).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Please choose the ticket to keep among the selected ones."));
        // Into A: B and C move, the stranger's ticket stays apart.
        let mut into_a = picks.to_vec();
        let target = a.to_string();
        into_a.push(("target", &target));
        let r = app.post_form("/admin/tickets/bulk", &into_a).await;
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!("Merged into {ra}: {rb}, {rc}.")), "{page}");
        assert!(page.contains(&format!("{rs} was not merged: only duplicates from the same email address can be merged.")));
        assert!(page.contains(&format!("href=\"/admin/tickets/{a}\"")));
        assert_eq!(messages_of(&app, a).await, 3, "the duplicates' messages moved");
        assert_eq!((messages_of(&app, b).await, messages_of(&app, c).await, messages_of(&app, stranger).await), (0, 0, 1));
        let merged: Vec<Option<i64>> = sqlx::query_scalar("SELECT merged_into FROM tickets ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(merged, [None, Some(a), Some(a), None]);
        let (_, audit) = app.get_text("/admin/tickets").await;
        assert!(!audit.contains(&format!("name=\"ids\" value=\"{b}\"")), "merged tickets leave the inbox");
    }

    async fn bulk_actions_refuse_hostile_and_empty_requests(backend) {
        let app = TestApp::spawn(backend).await;
        let a = ticket_from(&app, "Kim Lee", "kim@example.com", "Backup").await;
        app.login_as("agent").await;
        let count_audit = || async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action IN ('assign', 'status', 'merge')")
                .fetch_one(&app.state.db.pool).await.unwrap()
        };
        // Nothing selected.
        let r = app.post_form("/admin/tickets/bulk", &[("action", "assign"), ("assignee", "me")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("No ticket was selected: tick the tickets in the list first."));
        // Only tickets that do not exist, or are not numbers at all.
        let r = app.post_form("/admin/tickets/bulk", &[("action", "status"), ("status", "solved"), ("ids", "424242"), ("ids", "DROP TABLE")]).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("None of the selected tickets exists.") && page.contains("2 selected tickets do not exist"), "{page}");
        // Unknown action, status or assignee.
        let id = a.to_string();
        let r = app.post_form("/admin/tickets/bulk", &[("action", "delete"), ("ids", &id)]).await;
        assert_eq!(r.status(), 400);
        let r = app.post_form("/admin/tickets/bulk", &[("action", "status"), ("status", "vanished"), ("ids", &id)]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Please choose open, pending, solved or closed."));
        let r = app.post_form("/admin/tickets/bulk", &[("action", "assign"), ("assignee", "31337"), ("ids", &id)]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("active agents and admins only"));
        // Merging needs two.
        let r = app.post_form("/admin/tickets/bulk", &[("action", "merge"), ("ids", &id)]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Select at least two tickets to merge"));
        // Without the CSRF token.
        let r = app.client.post(app.url("/admin/tickets/bulk")).form(&[("action", "status"), ("status", "closed"), ("ids", &id)]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        // An editor may not touch tickets.
        let editor = app.staff_client("editor").await;
        let page = editor.client.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        let r = editor.client.post(app.url("/admin/tickets/bulk"))
            .form(&[("csrf", extract_csrf(&page).as_str()), ("action", "status"), ("status", "closed"), ("ids", &id)])
            .send().await.unwrap();
        assert_eq!(r.status(), 403);
        // Nobody: no status changed, nothing audited.
        let (status, assignee): (String, Option<i64>) = sqlx::query_as("SELECT status, assignee_id FROM tickets WHERE id = $1").bind(a).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!((status.as_str(), assignee), ("open", None));
        assert_eq!(count_audit().await, 0);
    }

    async fn send_now_asks_first_with_the_number_of_recipients(backend) {
        let app = TestApp::spawn(backend).await;
        let rows: Vec<officecomms::newsletter::subscribers::ImportRow> = ["a@example.com", "b@example.com", "c@example.com"]
            .iter().enumerate()
            .map(|(i, e)| officecomms::newsletter::subscribers::ImportRow { line: i + 2, email: e.to_string(), name: String::new(), topics: if i == 2 { "offers".into() } else { "tips".into() } })
            .collect();
        officecomms::newsletter::subscribers::import_rows(&app.state, &rows, "test sheet").await.unwrap();
        app.login_as("admin").await;
        let fields = [("subject", "December tips"), ("from_name", "officecomms news"), ("reply_to", "news@officecomms.com"), ("topic", "tips"), ("ad_label", "Advertisement"), ("body", "Tips **inside**.")];
        let r = app.post_form("/admin/campaigns", &fields).await;
        assert_eq!(r.status(), 303);
        let id: i64 = r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap();
        let (_, page) = app.get_text(&format!("/admin/campaigns/{id}")).await;
        assert!(page.contains("value=\"send\" id=\"send-now\">Send now…</button>"), "{page}");

        let mut send = fields.to_vec();
        send.push(("action", "send"));
        let r = app.post_form(&format!("/admin/campaigns/{id}"), &send).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], format!("/admin/campaigns/{id}/send").as_str());
        // Looking at the question, even twice, sends nothing.
        for _ in 0..2 {
            let (status, confirm) = app.get_text(&format!("/admin/campaigns/{id}/send")).await;
            assert_eq!(status, 200);
            assert!(confirm.contains("<h1 id=\"confirm-title\">Send to 2 subscribers?</h1>"), "{confirm}");
            assert!(confirm.contains(">Send to 2 subscribers</button>"));
        }
        let status: String = sqlx::query_scalar("SELECT status FROM newsletter_campaigns WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "draft");
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE reason LIKE 'campaign%'").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(queued, 0);
        // The button sends, to the two who asked for tips.
        let r = app.post_form(&format!("/admin/campaigns/{id}/send"), &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], format!("/admin/campaigns/{id}?done=sending").as_str());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status: String = sqlx::query_scalar("SELECT status FROM newsletter_campaigns WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.unwrap();
            if status == "sent" { break; }
            assert!(std::time::Instant::now() < deadline, "not sent: {status}");
            app.state.mail_wakeup.notify_one();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        app.drain_outbox().await;
        let mut to: Vec<String> = app.mails().into_iter().filter(|m| m.subject == "December tips").map(|m| m.to).collect();
        to.sort();
        assert_eq!(to, ["a@example.com", "b@example.com"]);
        // Once sent, the question is not asked again.
        let r = app.get(&format!("/admin/campaigns/{id}/send")).await;
        assert_eq!(r.status(), 303);
    }

    async fn the_analytics_chart_has_axes_a_legend_and_a_table_with_its_numbers(backend) {
        let app = TestApp::spawn(backend).await;
        let visitor = crate::consent::visitor(&[]);
        for path in ["/", "/articles", "/", "/services"] {
            assert_eq!(visitor.get(app.url(path)).send().await.unwrap().status(), 200);
        }
        app.login_as("admin").await;
        // The company's day (California), as analytics counts it.
        let now_there = chrono::Utc::now().with_timezone(&chrono_tz::America::Los_Angeles);
        let today = now_there.format("%Y-%m-%d").to_string();
        let (status, page) = app.get_text("/admin/analytics").await;
        assert_eq!(status, 200);
        // A round scale up to the highest value (4 views): gridlines and labelled ticks 0 to 4.
        let y_axis = page.split("<g class=\"axis y-axis\">").nth(1).unwrap().split("</g>").next().unwrap();
        let labels: Vec<&str> = y_axis.split("text-anchor=\"end\">").skip(1).map(|s| s.split('<').next().unwrap()).collect();
        assert_eq!(labels, ["0", "1", "2", "3", "4"], "{page}");
        assert_eq!(page.split("<g class=\"grid\">").nth(1).unwrap().split("</g>").next().unwrap().matches("<line").count(), 5);
        let short_today = now_there.format("%-d %b").to_string();
        assert!(page.contains(&format!("text-anchor=\"end\">{short_today}</text>")), "the last day is labelled");
        assert!(page.contains("<ul class=\"legend\" aria-label=\"Legend\">") && page.contains("</span>Page views</li>") && page.contains("</span>Visitors</li>"));
        // The table behind it has the same numbers.
        assert!(page.contains("<summary>Show as table</summary>") && page.contains("<caption>Page views and visitors per day"));
        assert!(page.contains(&format!("<tr><th scope=\"row\">{today}</th><td class=\"num\">4</td><td class=\"num\">1</td></tr>")), "{page}");
        assert!(page.contains(&format!("{today}: 4 views, 1 visitors")));
    }

    async fn privacy_pages_speak_in_deadlines_and_words(backend) {
        let app = TestApp::spawn(backend).await;
        app.mail_person("pat@example.com", "Welcome", "hello").await;
        app.login_as("admin").await;
        let r = app.post_form("/admin/privacy/requests", &[("email", "pat@example.com")]).await;
        let page = r.text().await.unwrap();
        assert!(page.contains("Request opened: the person was sent a link"), "{page}");
        // Made overdue: its deadline passed ten days ago.
        let now = now_ms();
        let due = now - 10 * 86_400_000;
        sqlx::query("UPDATE privacy_requests SET due_at = $1").bind(due).execute(&app.state.db.pool).await.unwrap();
        let (_, page) = app.get_text("/admin/privacy/requests").await;
        let la = chrono_tz::America::Los_Angeles;
        let late = business_days::deadline_words(due, now, la, &[]);
        assert!(late.starts_with("overdue by ") && late.ends_with(" business days"), "{late}");
        // "Deadline: Tue 8 Dec 2026, 17:00 (overdue by 8 business days)", the
        // weekday named, in the company's zone (the admin chose none).
        let local = chrono::DateTime::from_timestamp_millis(due).unwrap().with_timezone(&la);
        let words = format!(
            "Deadline: <time datetime=\"{}\" title=\"{}\">{}</time> <span class=\"deadline late\">({late})</span>",
            local.to_utc().format("%Y-%m-%dT%H:%M:%SZ"),
            local.format("%a %-d %b %Y, %H:%M %Z"),
            local.format("%a %-d %b %Y, %H:%M"),
        );
        assert!(page.contains(&words), "{words} in {page}");
        assert!(page.contains("<td>See, correct or erase their data</td>") && page.contains("<td>Opened by staff for them</td>"));
        assert!(page.contains("Link sent, not opened yet"));
        // Due in a fortnight: business days left, counted without weekends.
        let due = now + 14 * 86_400_000;
        sqlx::query("UPDATE privacy_requests SET due_at = $1").bind(due).execute(&app.state.db.pool).await.unwrap();
        let (_, page) = app.get_text("/admin/privacy/requests").await;
        let left = business_days::deadline_words(due, now, la, &[]);
        assert!(left.ends_with(" business days left"), "{left}");
        let n: u32 = left.split(' ').next().unwrap().parse().unwrap();
        assert!((8..=10).contains(&n), "two weeks hold 8 to 10 business days: {left}");
        assert!(page.contains(&format!("<span class=\"deadline\">({left})</span>")), "{page}");

        // A breach: its kinds of data in words, its deadline in business days.
        let r = app.post_form("/admin/privacy/incidents", &[
            ("title", "Lost laptop"), ("description", "A laptop with exports was stolen."),
            // Typed in the admin's zone (the company's: California).
            ("discovered_at", &chrono::Utc::now().with_timezone(&la).format("%Y-%m-%dT%H:%M").to_string()),
            ("category_identity", "1"), ("category_contact", "1"), ("scope", "everyone"),
        ]).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let (_, page) = app.get_text(&location).await;
        assert!(page.contains("<dd>Identity (names), Contact details (email, phone)</dd>"), "{page}");
        assert!(page.contains("business days left)</span>"), "{page}");
        let deadline = page.split("<dt>Notice deadline</dt><dd>Deadline: <time").nth(1).unwrap();
        let shown = deadline.split('>').nth(1).unwrap().split('<').next().unwrap();
        // "Tue 15 Dec 2026, 23:59": the end of the company's seventh business day.
        assert!(shown.ends_with(", 23:59") && shown.len() > 15, "{shown}");
        assert!(["Mon ", "Tue ", "Wed ", "Thu ", "Fri "].iter().any(|d| shown.starts_with(d)), "{shown}");
    }
}
