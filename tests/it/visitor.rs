//! The visitor's side: a chat nobody can answer becomes a ticket (no agent
//! online, or unanswered past the support setting), the newsletter's age
//! question on its confirmation page, and the per-form age setting with
//! what the policy says about it.

use crate::{both, chat::Ws, helpers::*};
use officecomms::{chat::conversations, support};
use serde_json::json;
use std::time::Duration;

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn ticket_details(app: &TestApp, reference: &str) -> (String, String, String) {
    let row = support::db::ticket_by_reference(&app.state.db, reference)
        .await
        .unwrap()
        .expect("the ticket exists");
    let (ticket, subject) = support::tickets::Ticket::open(&app.state, row)
        .unwrap()
        .unwrap();
    let messages =
        support::tickets::conversation(&app.state, &ticket, &subject, false, &|_| String::new())
            .await
            .unwrap();
    let first = messages.first().map(|m| m.body.clone()).unwrap_or_default();
    (ticket.name, ticket.email, first)
}

async fn hello(ws: &mut Ws, name: &str, email: Option<&str>) -> serde_json::Value {
    ws.send(json!({"type": "hello", "name": name, "email": email, "birth_year": "1980"}))
        .await;
    ws.next_of("welcome").await
}

/// The footer's newsletter form of a page, as HTML.
fn footer_form(page: &str) -> &str {
    let start = page
        .find("class=\"form footer-newsletter\"")
        .expect("footer form");
    let end = start + page[start..].find("</form>").unwrap();
    &page[start..end]
}

both! {
    async fn with_nobody_online_what_the_visitor_writes_becomes_one_ticket_and_one_mail(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        let mut visitor = Ws::visitor(&app).await;
        let welcome = hello(&mut visitor, "Fay Offline", None).await;
        assert_eq!(welcome["agents_online"], 0);
        let offline = visitor.next_of("offline").await;
        assert_eq!(offline["reason"], "nobody_online");
        assert_eq!(offline["email_needed"], true, "the chat has no address yet");
        assert_eq!(
            offline["message"],
            "Nobody is online right now. Leave your message and email and we'll answer by email."
        );

        // Hostile or incomplete: a clear error frame each time, and no ticket.
        let refusals = [
            (json!({"type": "leave_message", "body": "My printer is offline."}), "email"),
            (json!({"type": "leave_message", "body": "My printer is offline.", "email": "not an address"}), "email"),
            (json!({"type": "leave_message", "body": "   ", "email": "fay@example.com"}), "invalid"),
            (json!({"type": "leave_message", "body": "x".repeat(4_001), "email": "fay@example.com"}), "invalid"),
        ];
        for (frame, code) in refusals {
            visitor.send(frame.clone()).await;
            let e = visitor.next_of("error").await;
            assert_eq!(e["code"], code, "{frame} → {e}");
            assert!(e["message"].as_str().unwrap().len() > 10, "a message a person can read: {e}");
        }
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 0, "nothing half-saved");

        visitor.send(json!({"type": "leave_message", "body": "My printer is offline since Monday.", "email": "fay@example.com"})).await;
        let ticket = visitor.next_of("ticket").await;
        let reference = ticket["reference"].as_str().unwrap().to_string();
        assert!(reference.starts_with("OC-"), "{reference}");
        let (name, email, first) = ticket_details(&app, &reference).await;
        assert_eq!((name.as_str(), email.as_str()), ("Fay Offline", "fay@example.com"));
        assert!(first.contains("My printer is offline since Monday."), "{first}");
        // The chat is closed with a note naming the ticket.
        let status: String = sqlx::query_scalar("SELECT status FROM chat_conversations").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "closed");
        // Sent again (a reconnect): the same ticket, no second one.
        visitor.send(json!({"type": "leave_message", "body": "My printer is offline since Monday.", "email": "fay@example.com"})).await;
        assert_eq!(visitor.next_of("ticket").await["reference"], reference.as_str());
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 1);

        app.drain_outbox().await;
        let mails: Vec<Mail> = smtp.wait_for(1).await.iter().map(|m| Mail::parse(m)).collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(smtp.messages().len(), 1, "exactly one mail: the acknowledgement");
        assert_eq!(mails[0].to, "fay@example.com");
        assert!(mails[0].text.contains(&reference), "{}", mails[0].text);
    }

    async fn a_chat_with_an_address_needs_no_second_one_to_become_a_ticket(backend) {
        let app = TestApp::spawn(backend).await;
        let mut visitor = Ws::visitor(&app).await;
        hello(&mut visitor, "Gil", Some("gil@example.com")).await;
        let offline = visitor.next_of("offline").await;
        assert_eq!(offline["email_needed"], false);
        visitor.send(json!({"type": "leave_message", "body": "Outlook asks for my password again and again."})).await;
        let reference = visitor.next_of("ticket").await["reference"].as_str().unwrap().to_string();
        let (_, email, _) = ticket_details(&app, &reference).await;
        assert_eq!(email, "gil@example.com");
        let mut notes = vec![];
        for f in visitor.drain(Duration::from_millis(500)).await {
            if f["type"] == "message" && f["from"] == "system" {
                notes.push(f["body"].as_str().unwrap().to_string());
            }
        }
        assert!(notes.iter().any(|n| n.contains(&reference) && n.contains("gil@example.com")), "{notes:?}");
    }

    async fn a_chat_nobody_answers_in_time_becomes_a_ticket_with_the_conversation(backend) {
        let app = TestApp::spawn(backend).await;
        // An agent is online, but nobody answers.
        let cookie = app.staff_client("agent").await.cookie;
        let mut agent = Ws::console(&app, &cookie).await;
        agent.next_of("console").await;
        let mut visitor = Ws::visitor(&app).await;
        hello(&mut visitor, "Hal Waiting", Some("hal@example.com")).await;
        visitor.send(json!({"type": "message", "body": "Is anybody there? Teams will not start."})).await;
        visitor.next_message().await;
        visitor.send(json!({"type": "message", "body": "It shows error 0xCAA70004."})).await;
        visitor.next_message().await;

        // Not yet: within the setting's 120 seconds nothing happens.
        let now = app.state.clock.now();
        conversations::sweep_unanswered(&app.state, now + 60_000).await.unwrap();
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 0);

        app.state.clock.advance(121_000);
        conversations::sweep_unanswered(&app.state, app.state.clock.now()).await.unwrap();
        let reference = visitor.next_of("ticket").await["reference"].as_str().unwrap().to_string();
        let (name, email, first) = ticket_details(&app, &reference).await;
        assert_eq!((name.as_str(), email.as_str()), ("Hal Waiting", "hal@example.com"));
        assert!(first.contains("Teams will not start.") && first.contains("0xCAA70004"), "the conversation so far: {first}");
        let (status, noted): (String, Option<String>) = sqlx::query_as("SELECT status, ticket_reference FROM chat_conversations")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!((status.as_str(), noted.as_deref()), ("closed", Some(reference.as_str())));
        // A second sweep changes nothing.
        app.state.clock.advance(600_000);
        conversations::sweep_unanswered(&app.state, app.state.clock.now()).await.unwrap();
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 1);
    }

    async fn an_unanswered_chat_without_an_address_asks_for_one(backend) {
        let app = TestApp::spawn(backend).await;
        // The admin's setting: five minutes.
        let mut tx = app.state.db.begin().await.unwrap();
        officecomms::platform::settings::put(&mut tx, "support.chat_unanswered_secs", "300").await.unwrap();
        tx.commit().await.unwrap();
        let mut visitor = Ws::visitor(&app).await;
        hello(&mut visitor, "Ida", None).await;
        visitor.send(json!({"type": "message", "body": "My scanner sends blank pages."})).await;
        visitor.next_message().await;
        app.state.clock.advance(200_000);
        conversations::sweep_unanswered(&app.state, app.state.clock.now()).await.unwrap();
        let early = visitor.drain(Duration::from_millis(300)).await;
        assert!(early.iter().all(|f| f["type"] != "offline" || f["reason"] != "unanswered"), "not before the setting: {early:?}");
        app.state.clock.advance(120_000);
        conversations::sweep_unanswered(&app.state, app.state.clock.now()).await.unwrap();
        loop {
            let f = visitor.next_of("offline").await;
            if f["reason"] == "unanswered" {
                assert_eq!(f["email_needed"], true);
                break;
            }
        }
        assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 0);
        // The address alone is enough: the chat so far is the message.
        visitor.send(json!({"type": "leave_message", "body": "", "email": "ida@example.com"})).await;
        let reference = visitor.next_of("ticket").await["reference"].as_str().unwrap().to_string();
        let (_, email, first) = ticket_details(&app, &reference).await;
        assert_eq!(email, "ida@example.com");
        assert!(first.contains("My scanner sends blank pages."), "{first}");
        app.drain_outbox().await;
        let acks: Vec<Mail> = app.mails().into_iter().filter(|m| m.to == "ida@example.com").collect();
        assert_eq!(acks.len(), 1, "one acknowledgement");
        assert!(acks[0].text.contains(&reference));
    }

    async fn the_footer_newsletter_form_asks_only_for_an_email(backend) {
        let app = TestApp::spawn(backend).await;
        for path in ["/", "/articles", "/contact", "/surveys"] {
            let (_, page) = app.get_text(path).await;
            let form = footer_form(&page);
            let inputs: Vec<&str> = form.split("<input").skip(1).collect();
            assert_eq!(inputs.len(), 2, "{path}: {form}");
            assert!(inputs.iter().any(|i| i.contains("type=\"hidden\" name=\"csrf\"")), "{form}");
            assert!(inputs.iter().any(|i| i.contains("name=\"email\"") && i.contains("type=\"email\"")), "{form}");
            assert!(!form.contains("birth_year") && !form.contains("Year of birth"), "{form}");
        }
    }

    async fn the_confirmation_asks_the_year_and_a_child_answer_deletes_the_pending_address(backend) {
        let app = TestApp::spawn(backend).await;
        // An adult confirms with the year (first: the child's answer is remembered by this browser).
        let r = app.post_form("/newsletter", &[("email", "ann@example.com")]).await;
        assert_eq!(r.status(), 200);
        app.drain_outbox().await;
        let mail = app.mails().into_iter().find(|m| m.to == "ann@example.com").unwrap();
        let path = mail.link(&format!("{}/newsletter/confirm/", app.base)).trim_start_matches(&app.base).to_string();
        let r = app.post_form(&path, &[("birth_year", "1979")]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM newsletter_subscribers WHERE status = 'confirmed'").await, 1);
        let adult_subject: i64 = sqlx::query_scalar("SELECT MAX(id) FROM subjects").fetch_one(&app.state.db.pool).await.unwrap();
        let r = app.post_form("/newsletter", &[("email", "kid@example.com")]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM newsletter_subscribers WHERE status = 'pending'").await, 1);
        app.drain_outbox().await;
        let mail = app.mails().into_iter().find(|m| m.to == "kid@example.com").expect("confirmation mail");
        let link = mail.link(&format!("{}/newsletter/confirm/", app.base));
        let path = link.trim_start_matches(&app.base).to_string();
        let (code, page) = app.get_text(&path).await;
        assert_eq!(code, 200);
        assert!(page.contains("name=\"birth_year\"") && page.contains("Year of birth"), "{page}");
        // No answer, or nonsense: asked again, nothing confirmed.
        for year in ["", "abc"] {
            let r = app.post_form(&path, &[("birth_year", year)]).await;
            assert_eq!(r.status(), 422);
            assert!(r.text().await.unwrap().contains("field-error"));
        }
        assert_eq!(count(&app, "SELECT COUNT(*) FROM newsletter_subscribers WHERE status = 'confirmed'").await, 1, "only the adult");
        let child = (chrono::Datelike::year(&chrono::Utc::now()) - 9).to_string();
        let r = app.post_form(&path, &[("birth_year", child.as_str())]).await;
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("Thank you for visiting"));
        assert_eq!(count(&app, "SELECT COUNT(*) FROM newsletter_subscribers WHERE status = 'pending'").await, 0, "the pending address is deleted");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM newsletter_subscribers").await, 1, "the adult's stays");
        let (key, index): (Option<Vec<u8>>, Option<Vec<u8>>) = sqlx::query_as("SELECT wrapped_key, email_index FROM subjects WHERE id > $1")
            .bind(adult_subject)
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert!(key.is_none() && index.is_none(), "its key and address hash are gone: nothing kept");
        // The link now subscribes nobody.
        let (code, _) = app.get_text(&path).await;
        assert_eq!(code, 404);
    }

    async fn a_form_whose_age_question_is_off_does_not_ask_and_the_policy_says_so(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains("Contact form and support requests: asks your year of birth."), "{policy}");
        assert!(policy.contains("Newsletter (asked on the confirmation page): asks your year of birth before we keep anything"));
        let (_, contact) = app.get_text("/contact").await;
        assert!(contact.contains("name=\"birth_year\""));

        app.login_as("admin").await;
        let (code, settings) = app.get_text("/admin/privacy/age").await;
        assert_eq!(code, 200);
        assert!(settings.contains("value=\"contact\" checked"), "{settings}");
        // Everything but the contact form and the newsletter keeps asking.
        let r = app.post_form("/admin/privacy/age", &[("ask", "chat"), ("ask", "checkout"), ("ask", "surveys")]).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("value=\"contact\">"), "unchecked now");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'privacy.age_question'").await, 1);

        let (_, contact) = app.get_text("/contact").await;
        assert!(!contact.contains("name=\"birth_year\""), "the contact form no longer asks");
        let (_, chat) = app.get_text("/chat").await;
        assert!(chat.contains("name=\"birth_year\""), "the chat still asks");
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains("Contact form and support requests: does not ask your age."), "{policy}");
        assert!(policy.contains("Newsletter (asked on the confirmation page): does not ask your age."));
        assert!(policy.contains("Live chat: asks your year of birth."));

        // The newsletter confirms without the question.
        let r = app.post_form("/newsletter", &[("email", "noage@example.com")]).await;
        assert_eq!(r.status(), 200);
        app.drain_outbox().await;
        let mail = app.mails().into_iter().find(|m| m.to == "noage@example.com").unwrap();
        let path = mail.link(&format!("{}/newsletter/confirm/", app.base)).trim_start_matches(&app.base).to_string();
        let (_, page) = app.get_text(&path).await;
        assert!(!page.contains("birth_year"));
        assert_eq!(app.post_form(&path, &[]).await.status(), 200);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM newsletter_subscribers WHERE status = 'confirmed'").await, 1);
    }

    async fn the_survey_counts_its_questions_and_shows_its_scale_as_radios(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, list) = app.get_text("/surveys").await;
        let (_, survey) = app.get_text("/surveys/customer-satisfaction").await;
        let asked = survey.matches("<legend>").count() + survey.matches("<label for=\"q").count();
        assert!(list.contains(&format!("{asked} questions")), "{list}");
        assert!(survey.contains(&format!("{asked} questions")), "{survey}");
        assert!(!list.contains("Five quick") && !survey.contains("Five quick"));
        assert!(survey.contains("class=\"scale steps-11\"") && survey.contains("Not likely") && survey.contains("Very likely"));
        assert_eq!(survey.matches("type=\"radio\" name=\"q1\"").count(), 11, "0 to 10, still radios");
    }
}
