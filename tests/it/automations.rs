//! Work that runs itself (issue 25): teams, triggers and macros, through
//! their admin page and on real tickets.

use crate::{both, helpers::*};
use officecomms::platform::now_ms;

async fn contact(app: &TestApp, email: &str, product: &str, subject: &str) {
    let token = officecomms::support::intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let r = app
        .post_form(
            "/contact",
            &[
                ("token", token.as_str()),
                ("name", "Ria Example"),
                ("email", email),
                ("phone", ""),
                ("product", product),
                ("product_other", ""),
                ("subject", subject),
                ("details", "Please help, details inside."),
                ("birth_year", "1985"),
                ("website", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

/// `(id, assignee, priority, team, status)` of the newest ticket.
async fn newest(app: &TestApp) -> (i64, Option<i64>, String, Option<i64>, String) {
    sqlx::query_as(
        "SELECT id, assignee_id, priority, team_id, status FROM tickets ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
}

/// The newest staff account (the one just made).
async fn newest_staff(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT MAX(id) FROM staff_users")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

both! {
    async fn a_trigger_assigns_routes_and_tags_tickets_by_product(backend) {
        let app = TestApp::spawn(backend).await;
        let agent = app.staff_client("agent").await;
        let agent_id = newest_staff(&app).await;
        app.login_as("admin").await;
        assert_eq!(app.post_form("/admin/automations/teams", &[("name", "Accounting software")]).await.status(), 303);
        let team: i64 = sqlx::query_scalar("SELECT id FROM support_teams").fetch_one(&app.state.db.pool).await.unwrap();
        let r = app.post_form(&format!("/admin/automations/teams/{team}/members"), &[("staff", &agent_id.to_string())]).await;
        assert_eq!(r.status(), 303);
        let (status, page) = app.get_text("/admin/automations").await;
        assert_eq!(status, 200);
        assert!(page.contains("Accounting software"));
        // Hostile or empty rules are refused with a message, nothing saved.
        let r = app.post_form("/admin/automations/triggers", &[("name", "Nothing"), ("on_event", "created")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("at least one thing"));
        let r = app.post_form("/admin/automations/triggers", &[("name", "Bad"), ("on_event", "created"), ("if_domain", "'; DROP TABLE"), ("set_priority", "high")]).await;
        assert_eq!(r.status(), 422);
        let r = app.post_form("/admin/automations/triggers", &[("name", "Bad"), ("on_event", "created"), ("set_assignee_id", "99999")]).await;
        assert_eq!(r.status(), 422);
        let saved: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM support_triggers").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(saved, 0);

        let r = app.post_form("/admin/automations/triggers", &[
            ("name", "QuickBooks to accounting"), ("on_event", "created"), ("if_product", "QuickBooks"),
            ("set_team_id", &team.to_string()), ("set_assignee_id", &agent_id.to_string()),
            ("set_priority", "high"), ("add_tag", "accounting"),
        ]).await;
        assert_eq!(r.status(), 303);
        let r = app.post_form("/admin/automations/triggers", &[
            ("name", "Urgent words"), ("on_event", "both"), ("if_words", "server down"), ("if_domain", "acme.test"),
            ("set_priority", "urgent"),
        ]).await;
        assert_eq!(r.status(), 303);
        let (_, page) = app.get_text("/admin/automations").await;
        assert!(page.contains("if product is QuickBooks, then route to Accounting software"), "{page}");

        contact(&app, "ria@example.com", "QuickBooks", "Payroll totals are wrong").await;
        let (id, assignee, priority, team_of, _) = newest(&app).await;
        assert_eq!((assignee, priority.as_str(), team_of), (Some(agent_id), "high", Some(team)));
        let tags: Vec<String> = sqlx::query_scalar("SELECT tag FROM ticket_tags WHERE ticket_id = $1").bind(id).fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(tags, vec!["accounting"]);
        let audited: String = sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'trigger' AND target_id = $1")
            .bind(id.to_string()).fetch_one(&app.state.db.pool).await.unwrap();
        assert!(audited.contains("QuickBooks to accounting"), "{audited}");

        contact(&app, "sam@example.com", "Microsoft 365", "Teams calls drop").await;
        let (_, assignee, priority, team_of, _) = newest(&app).await;
        assert_eq!((assignee, priority.as_str(), team_of), (None, "normal", None), "other products are left alone");
        contact(&app, "it@branch.acme.test", "Microsoft 365", "Our server is down again").await;
        let (_, _, priority, _, _) = newest(&app).await;
        assert_eq!(priority, "urgent", "words of the subject and a subdomain of the domain");

        // The agent sees the ticket routed to them.
        let mine = agent.client.get(app.url("/admin/tickets?assignee=me")).send().await.unwrap().text().await.unwrap();
        assert!(mine.contains("Payroll totals are wrong"));
    }

    async fn a_macro_sends_its_reply_sets_the_status_and_assigns_in_one_click(backend) {
        let app = TestApp::spawn(backend).await;
        contact(&app, "tom@example.com", "Microsoft 365", "Cannot sign in").await;
        app.drain_outbox().await;
        let before = app.mails().len();
        app.login_as("admin").await;
        let me = newest_staff(&app).await;
        assert_eq!(app.post_form("/admin/tickets/canned", &[("title", "Password reset"), ("body", "Hello {name}, I reset your password for {reference}. {agent}")]).await.status(), 303);
        let canned: i64 = sqlx::query_scalar("SELECT id FROM support_canned_replies WHERE title = 'Password reset'").fetch_one(&app.state.db.pool).await.unwrap();
        let r = app.post_form("/admin/automations/macros", &[("name", "Reset and solve"), ("canned_id", &canned.to_string()), ("status", "solved"), ("assignee", "me")]).await;
        assert_eq!(r.status(), 303);
        let r = app.post_form("/admin/automations/macros", &[("name", "Broken"), ("canned_id", "99999"), ("status", "gone"), ("assignee", "x")]).await;
        assert_eq!(r.status(), 422);
        let macro_id: i64 = sqlx::query_scalar("SELECT id FROM support_macros").fetch_one(&app.state.db.pool).await.unwrap();
        let (id, assignee, _, _, status) = newest(&app).await;
        assert_eq!((assignee, status.as_str()), (None, "open"));
        let (_, page) = app.get_text(&format!("/admin/tickets/{id}")).await;
        assert!(page.contains(&format!("/admin/tickets/{id}/macros/{macro_id}")) && page.contains("Reset and solve"));

        let r = app.post_form(&format!("/admin/tickets/{id}/macros/{macro_id}"), &[]).await;
        assert_eq!(r.status(), 303);
        let (_, assignee, _, _, status) = newest(&app).await;
        assert_eq!((assignee, status.as_str()), (Some(me), "solved"), "status and assignment");
        let (_, page) = app.get_text(&format!("/admin/tickets/{id}")).await;
        assert!(page.contains("Hello Ria Example, I reset your password for OC-"), "the reply, filled in");
        app.drain_outbox().await;
        let mails = app.mails();
        assert!(mails.len() > before, "the reply is mailed");
        assert!(mails[before..].iter().any(|m| m.to == "tom@example.com" && m.text.contains("I reset your password")));
        let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'macro'").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(audited, 1);
        assert_eq!(app.post_form(&format!("/admin/tickets/{id}/macros/99999"), &[]).await.status(), 404);
    }

    async fn a_visitors_answer_notifies_the_assignee_by_mail(backend) {
        let app = TestApp::spawn(backend).await;
        contact(&app, "una@example.com", "Microsoft 365", "Shared mailbox missing").await;
        app.drain_outbox().await;
        let ack = app.mails().into_iter().find(|m| m.to == "una@example.com").expect("the acknowledgement");
        let path = ack.link(&format!("{}/support/tickets/", app.base)).trim_start_matches(&app.base).to_string();
        let agent = app.login_as("agent").await;
        let (id, ..) = newest(&app).await;
        // Unassigned: nobody is mailed.
        let visitor = client();
        let answer = |text: &'static str| {
            let (visitor, url) = (visitor.clone(), app.url(&path));
            async move {
                let page = visitor.get(&url).send().await.unwrap().text().await.unwrap();
                let csrf = extract_csrf(&page);
                let r = visitor.post(&url).form(&[("csrf", csrf.as_str()), ("body", text)]).send().await.unwrap();
                assert_eq!(r.status(), 303);
            }
        };
        answer("Still missing this morning.").await;
        app.drain_outbox().await;
        assert!(!app.mails().iter().any(|m| m.to == agent));
        assert_eq!(app.post_form(&format!("/admin/tickets/{id}/assign"), &[("assignee", "me")]).await.status(), 303);
        answer("It is the Finance mailbox, Pinecrest office.").await;
        app.drain_outbox().await;
        let mails: Vec<Mail> = app.mails().into_iter().filter(|m| m.to == agent).collect();
        assert_eq!(mails.len(), 1, "one mail to the assignee");
        assert!(mails[0].subject.starts_with("New answer on OC-"), "{}", mails[0].subject);
        assert!(mails[0].text.contains(&format!("/admin/tickets/{id}")));
        assert!(!mails[0].text.contains("Pinecrest") && !mails[0].html.contains("Pinecrest"), "the answer itself stays in the back office");
    }
}
