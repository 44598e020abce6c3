//! Staff notifications (issue 25): each member's choices at /admin/account,
//! the bell and /admin/notifications, "assigned to you" from every way of
//! assigning, and a chat that waits too long.

use crate::{both, chat::Ws, helpers::*};
use officecomms::{chat::conversations, platform::now_ms};
use serde_json::json;

async fn contact(app: &TestApp, email: &str, subject: &str) {
    let token = officecomms::support::intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let r = app
        .post_form(
            "/contact",
            &[
                ("token", token.as_str()),
                ("name", "Dana Whitfield"),
                ("email", email),
                ("phone", ""),
                ("product", "Windows"),
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

async fn scalar(app: &TestApp, sql: &'static str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn staff_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM staff_users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn ticket_ids(app: &TestApp) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT id, reference FROM tickets ORDER BY id")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
}

/// A member signed in in a browser of their own: GETs and CSRF'd POSTs.
struct Member {
    email: String,
    browser: StaffClient,
}

impl Member {
    async fn new(app: &TestApp, role: &str) -> Member {
        let browser = app.staff_client(role).await;
        let email: String =
            sqlx::query_scalar("SELECT email FROM staff_users ORDER BY id DESC LIMIT 1")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        Member { email, browser }
    }

    async fn get(&self, app: &TestApp, path: &str) -> (u16, String) {
        let r = self.browser.client.get(app.url(path)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let (_, page) = self.get(app, "/admin/account").await;
        let csrf = extract_csrf(&page);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.browser
            .client
            .post(app.url(path))
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    async fn unread(&self, app: &TestApp) -> i64 {
        let (status, body) = self.get(app, "/admin/dashboard.json").await;
        assert_eq!(status, 200);
        let figures: serde_json::Value = serde_json::from_str(&body).unwrap();
        figures["unread_notifications"]
            .as_i64()
            .expect("the count is in the figures")
    }
}

/// The ids of a member's notifications as the list links them.
fn listed_ids(page: &str) -> Vec<String> {
    page.split("href=\"/admin/notifications/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|id| id.chars().all(|c| c.is_ascii_digit()))
        .map(String::from)
        .collect()
}

both! {
    async fn a_member_who_turned_off_mail_for_answers_gets_the_badge_but_no_mail(backend) {
        let app = TestApp::spawn(backend).await;
        contact(&app, "dana@example.com", "Shared mailbox missing").await;
        app.drain_outbox().await;
        let ack = app.mails().into_iter().find(|m| m.to == "dana@example.com").expect("the acknowledgement");
        let path = ack.link(&format!("{}/support/tickets/", app.base)).trim_start_matches(&app.base).to_string();
        let agent = Member::new(&app, "agent").await;
        let (id, reference) = ticket_ids(&app).await.remove(0);
        // The defaults: every kind in the back office, mail for all but chats.
        let (_, account) = agent.get(&app, "/admin/account").await;
        assert!(account.contains("A requester answers a ticket assigned to you"));
        assert!(account.contains("name=\"mail\" value=\"visitor_answered\" id=\"mail-visitor_answered\" aria-labelledby=\"mail-label kind-visitor_answered\" checked"));
        assert!(!account.contains("name=\"mail\" value=\"chat_waiting\" id=\"mail-chat_waiting\" aria-labelledby=\"mail-label kind-chat_waiting\" checked"));
        // Mail off for answers only.
        let r = agent.post(&app, "/admin/account/notifications", &[
            ("mail", "assigned_to_you"), ("mail", "sla_nearing"),
            ("app", "visitor_answered"), ("app", "assigned_to_you"), ("app", "chat_waiting"), ("app", "sla_nearing"),
        ]).await;
        assert_eq!(r.status(), 303);
        let (_, account) = agent.get(&app, "/admin/account?saved=notifications").await;
        assert!(account.contains("Your notification choices are saved."));
        assert!(!account.contains("value=\"visitor_answered\" id=\"mail-visitor_answered\" aria-labelledby=\"mail-label kind-visitor_answered\" checked"));
        assert!(agent.post(&app, &format!("/admin/tickets/{id}/assign"), &[("assignee", "me")]).await.status() == 303);
        assert_eq!(agent.unread(&app).await, 0, "assigning yourself tells you nothing");

        let visitor = client();
        let page = visitor.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&page);
        let r = visitor.post(app.url(&path)).form(&[("csrf", csrf.as_str()), ("body", "It is the Finance mailbox, Pinecrest office.")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        app.drain_outbox().await;
        assert!(!app.mails().iter().any(|m| m.to == agent.email), "no mail: the member turned it off");
        assert_eq!(agent.unread(&app).await, 1);
        let (_, dashboard) = agent.get(&app, "/admin").await;
        assert!(dashboard.contains("aria-label=\"Notifications, 1 unread\""), "the bell");
        let (status, list) = agent.get(&app, "/admin/notifications").await;
        assert_eq!(status, 200);
        assert!(list.contains(&format!("Dana Whitfield answered {reference}")), "in words, with the requester's name");
        assert!(!list.contains("Pinecrest"), "never what was written");
        assert!(list.contains("<time datetime="));
        // Stored sealed: the name is not in the table in clear.
        let clear: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff_notifications WHERE about LIKE '%Dana%' OR detail LIKE '%Dana%'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(clear, 0);
        // Opening it reads it and leads to the ticket.
        let ids = listed_ids(&list);
        assert_eq!(ids.len(), 1);
        let r = agent.browser.client.get(app.url(&format!("/admin/notifications/{}", ids[0]))).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], format!("/admin/tickets/{id}").as_str());
        assert_eq!(agent.unread(&app).await, 0);
    }

    async fn assigning_a_ticket_to_sam_tells_sam_once_and_assigning_yourself_tells_nobody(backend) {
        let app = TestApp::spawn(backend).await;
        for subject in ["Printer offline", "VPN drops", "Outlook asks for password"] {
            contact(&app, "dana@example.com", subject).await;
        }
        let tickets = ticket_ids(&app).await;
        let sam = Member::new(&app, "agent").await;
        let sam_id = staff_id(&app, &sam.email).await;
        let lead = Member::new(&app, "admin").await;
        let lead_id = staff_id(&app, &lead.email).await;
        let lead_name: String = sqlx::query_scalar("SELECT display_name FROM staff_users WHERE id = $1")
            .bind(lead_id).fetch_one(&app.state.db.pool).await.unwrap();
        app.drain_outbox().await;
        let before = app.mails().len();

        // By the ticket page.
        let (first, first_ref) = &tickets[0];
        let r = lead.post(&app, &format!("/admin/tickets/{first}/assign"), &[("assignee", &sam_id.to_string())]).await;
        assert_eq!(r.status(), 303);
        // Yourself: nothing.
        let (second, _) = &tickets[1];
        assert_eq!(lead.post(&app, &format!("/admin/tickets/{second}/assign"), &[("assignee", "me")]).await.status(), 303);
        app.drain_outbox().await;
        let to_sam: Vec<Mail> = app.mails().into_iter().skip(before).filter(|m| m.to == sam.email).collect();
        assert_eq!(to_sam.len(), 1, "one mail to Sam");
        assert_eq!(to_sam[0].subject, format!("{first_ref} was assigned to you by {lead_name}"));
        assert!(to_sam[0].text.contains(&format!("/admin/tickets/{first}")));
        assert_eq!(sam.unread(&app).await, 1);
        assert_eq!(lead.unread(&app).await, 0);
        assert!(!app.mails()[before..].iter().any(|m| m.to == lead.email));

        // In bulk: the two not yet Sam's notify; the one already his does not.
        let ids: Vec<String> = tickets.iter().map(|(id, _)| id.to_string()).collect();
        let sam_value = sam_id.to_string();
        let r = lead.post(&app, "/admin/tickets/bulk", &[("action", "assign"), ("assignee", &sam_value), ("ids", &ids[0]), ("ids", &ids[1]), ("ids", &ids[2])]).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        app.drain_outbox().await;
        let to_sam = app.mails()[before..].iter().filter(|m| m.to == sam.email).count();
        assert_eq!(to_sam, 3, "one more mail for each ticket newly Sam's");
        assert_eq!(sam.unread(&app).await, 3);
        let (_, page) = sam.get(&app, "/admin/tickets").await;
        assert!(page.contains("aria-label=\"Notifications, 3 unread\""));
        let (_, list) = sam.get(&app, "/admin/notifications").await;
        assert_eq!(list.matches(&format!("was assigned to you by {lead_name}")).count(), 3);

        // Only your own: another member can neither open nor mark Sam's.
        let sams = listed_ids(&list);
        let r = lead.browser.client.get(app.url(&format!("/admin/notifications/{}", sams[0]))).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let (_, lead_list) = lead.get(&app, "/admin/notifications").await;
        assert!(!lead_list.contains("was assigned to you"), "{lead_list}");
        assert_eq!(lead.post(&app, "/admin/notifications/read-all", &[]).await.status(), 303);
        assert_eq!(sam.unread(&app).await, 3, "still unread");

        // Reading one, then all.
        let r = sam.browser.client.get(app.url(&format!("/admin/notifications/{}", sams[0]))).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(sam.unread(&app).await, 2);
        assert_eq!(sam.post(&app, "/admin/notifications/read-all", &[]).await.status(), 303);
        assert_eq!(sam.unread(&app).await, 0);
        let (_, page) = sam.get(&app, "/admin").await;
        assert!(page.contains("aria-label=\"Notifications, none unread\""));
        assert_eq!(scalar(&app, "SELECT COUNT(*) FROM staff_notifications WHERE user_id = $1", sam_id).await, 3, "read, not deleted");
        assert_eq!(sam.get(&app, "/admin/notifications/not-a-number").await.0, 400);
    }

    async fn a_chat_waiting_past_the_setting_notifies_the_agents_online_once(backend) {
        let app = TestApp::spawn(backend).await;
        let online = Member::new(&app, "agent").await;
        let online_id = staff_id(&app, &online.email).await;
        let away = Member::new(&app, "agent").await;
        let away_id = staff_id(&app, &away.email).await;
        let mut console = Ws::console(&app, &online.browser.cookie).await;
        console.next_of("console").await;
        let mut visitor = Ws::visitor(&app).await;
        visitor.send(json!({"type": "hello", "name": "Hal Waiting", "email": "hal@example.com", "birth_year": "1980"})).await;
        visitor.next_of("welcome").await;
        visitor.send(json!({"type": "message", "body": "Is anybody there?"})).await;
        visitor.next_message().await;

        // Not before the setting's 60 seconds.
        conversations::notify_waiting(&app.state, app.state.clock.now() + 30_000).await.unwrap();
        assert_eq!(online.unread(&app).await, 0);
        app.state.clock.advance(65_000);
        conversations::notify_waiting(&app.state, app.state.clock.now()).await.unwrap();
        assert_eq!(online.unread(&app).await, 1, "the agent online is told");
        assert_eq!(away.unread(&app).await, 0, "an agent online is there: the others are not disturbed");
        let (_, list) = online.get(&app, "/admin/notifications").await;
        assert!(list.contains("A visitor has waited 1 min in chat"), "{list}");
        // Once per chat, however often the sweep runs.
        app.state.clock.advance(30_000);
        conversations::notify_waiting(&app.state, app.state.clock.now()).await.unwrap();
        assert_eq!(scalar(&app, "SELECT COUNT(*) FROM staff_notifications WHERE user_id = $1", online_id).await, 1);
        assert_eq!(scalar(&app, "SELECT COUNT(*) FROM staff_notifications WHERE user_id = $1", away_id).await, 0);
        // Chat mail is off by default.
        app.drain_outbox().await;
        assert!(!app.mails().iter().any(|m| m.to == online.email));

        // A chat routed to a team waits for the team, online or not.
        let mut other = Ws::visitor(&app).await;
        other.send(json!({"type": "hello", "name": "Ida Routed", "email": "ida@example.com", "birth_year": "1980"})).await;
        other.next_of("welcome").await;
        other.send(json!({"type": "message", "body": "Payroll question"})).await;
        other.next_message().await;
        let now = app.state.clock.now();
        sqlx::query("INSERT INTO support_teams (id, name, created_at) VALUES (77, 'Accounting software', $1)").bind(now).execute(&app.state.db.pool).await.unwrap();
        sqlx::query("INSERT INTO support_team_members (team_id, staff_id) VALUES (77, $1)").bind(away_id).execute(&app.state.db.pool).await.unwrap();
        sqlx::query("UPDATE chat_conversations SET team_id = 77 WHERE team_id IS NULL AND waiting_notified_at IS NULL").execute(&app.state.db.pool).await.unwrap();
        app.state.clock.advance(65_000);
        assert_eq!(conversations::notify_waiting(&app.state, app.state.clock.now()).await.unwrap(), 1);
        assert_eq!(away.unread(&app).await, 1, "the team's member is told though not online");
        assert_eq!(scalar(&app, "SELECT COUNT(*) FROM staff_notifications WHERE user_id = $1", online_id).await, 1, "the agent online outside the team is not");
    }

    async fn a_choices_form_with_an_unknown_kind_is_refused_and_changes_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let member = Member::new(&app, "editor").await;
        let id = staff_id(&app, &member.email).await;
        for fields in [
            vec![("mail", "visitor_answered"), ("mail", "everything")],
            vec![("app", "<script>alert(1)</script>")],
            vec![("mail", "visitor_answered"), ("role", "admin")],
        ] {
            let r = member.post(&app, "/admin/account/notifications", &fields).await;
            assert_eq!(r.status(), 422);
            let page = r.text().await.unwrap();
            assert!(page.contains("role=\"alert\""), "a message");
            assert!(!page.contains("<script>alert(1)"));
            assert_eq!(scalar(&app, "SELECT COUNT(*) FROM staff_notification_choices WHERE user_id = $1", id).await, 0, "nothing saved");
        }
        // Everything off is a choice too, and audited.
        assert_eq!(member.post(&app, "/admin/account/notifications", &[]).await.status(), 303);
        assert_eq!(scalar(&app, "SELECT COUNT(*) FROM staff_notification_choices WHERE user_id = $1 AND by_mail = 0 AND in_app = 0", id).await, 4);
        assert_eq!(scalar(&app, "SELECT COUNT(*) FROM audit_log WHERE actor_user_id = $1 AND detail LIKE 'own notifications%'", id).await, 1);
        // Without the CSRF token: refused.
        let r = member.browser.client.post(app.url("/admin/account/notifications")).form(&[("mail", "visitor_answered")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
    }
}
