//! The outbox: real SMTP on loopback, .eml files, retries, failures, dedupe.

use crate::{both, helpers::*};
use officecomms::platform::mail::{self, OutgoingMail, Recipient};

fn mail_to(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.into(),
        subject: "Your ticket OC-1".into(),
        text: "Hello".into(),
        html: Some("<p>Hello</p>".into()),
        headers: vec![(
            "List-Unsubscribe".into(),
            "<https://officecomms.test/u/1>".into(),
        )],
    }
}

async fn enqueue(app: &TestApp, to: &str, key: &str) -> bool {
    let mut tx = app.state.db.begin().await.unwrap();
    let site = app.state.site();
    let added = mail::enqueue(
        &mut tx,
        &app.state.keyring,
        &site,
        Recipient::System,
        "test",
        key,
        &mail_to(to),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.state.mail_wakeup.notify_one();
    added
}

async fn status_of(app: &TestApp, key: &str) -> (String, i64, Option<String>) {
    sqlx::query_as("SELECT status, attempts, last_error FROM outbox WHERE dedupe_key = $1")
        .bind(key)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

both! {
    async fn mail_is_delivered_through_real_smtp_once_with_a_stable_message_id(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        assert!(enqueue(&app, "ann@example.com", "k1").await);
        assert!(!enqueue(&app, "ann@example.com", "k1").await, "same reason and recipient: not twice");
        app.drain_outbox().await;
        let messages = smtp.wait_for(1).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(smtp.messages().len(), 1);
        let m = Mail::parse(&messages[0]);
        assert_eq!(m.to, "ann@example.com");
        assert_eq!(m.subject, "Your ticket OC-1");
        assert_eq!(m.header("List-Unsubscribe").as_deref(), Some("<https://officecomms.test/u/1>"));
        assert!(m.text.contains("1200 Harbor Street") && m.html.contains("1200 Harbor Street"), "postal address added to every mail");
        assert!(m.raw.contains("multipart/alternative"));
        let m = &m.raw;
        let (stored_id,): (String,) = sqlx::query_as("SELECT message_id FROM outbox WHERE dedupe_key = 'k1'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert!(m.contains(&format!("Message-ID: {stored_id}")), "Message-ID fixed at enqueue time");
        assert_eq!(status_of(&app, "k1").await.0, "sent");
    }

    async fn an_unreachable_smtp_server_is_retried_later_not_lost(backend) {
        let port = free_port();
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
        enqueue(&app, "ann@example.com", "retry").await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (status, attempts, error) = status_of(&app, "retry").await;
            if attempts >= 1 {
                assert_eq!(status, "pending", "a transient failure is retried");
                assert!(error.is_some());
                let (next,): (i64,) = sqlx::query_as("SELECT next_attempt_at FROM outbox WHERE dedupe_key = 'retry'")
                    .fetch_one(&app.state.db.pool).await.unwrap();
                assert!(next > officecomms::platform::now_ms() + 10_000, "with backoff");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no attempt made");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn a_permanent_failure_is_recorded_and_not_retried(backend) {
        let app = TestApp::spawn(backend).await;
        enqueue(&app, "not an address", "bad").await;
        app.drain_outbox().await;
        let (status, attempts, error) = status_of(&app, "bad").await;
        assert_eq!((status.as_str(), attempts), ("failed", 1));
        assert!(error.unwrap().contains("recipient"));
        assert!(app.eml_files().is_empty());
    }

    async fn without_smtp_mails_become_eml_files(backend) {
        let app = TestApp::spawn(backend).await;
        enqueue(&app, "bob@example.com", "eml").await;
        app.drain_outbox().await;
        let files = app.mails();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].to, "bob@example.com");
        assert!(files[0].header("Message-ID").unwrap().starts_with('<'));
    }
}

both! {
    async fn a_transactional_mail_through_real_smtp_has_the_layout_and_a_readable_text_part(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        app.mail_person("ann@example.com", "Earlier mail", "first").await;
        smtp.wait_for(1).await;
        let r = app.post_form("/my-data", &[("email", "ann@example.com")]).await;
        assert_eq!(r.status(), 200);
        app.drain_outbox().await;
        let messages = smtp.wait_for(2).await;
        let m = Mail::parse(&messages[1]);
        assert!(m.subject.contains("see or erase your data"), "{}", m.subject);
        assert!(m.raw.contains("multipart/alternative"), "both parts");
        assert!(m.html.starts_with("<!doctype html>") && m.html.contains("aria-roledescription=\"email\""), "the layout: {}", m.html);
        assert!(m.html.contains("font-family:-apple-system") && m.html.contains(">See my data</a>"), "system fonts and one button");
        assert!(m.html.contains("officecomms<br>1200 Harbor Street"), "the brand and the address once: {}", m.html);
        assert!(m.text.starts_with("Hello,\n\nYou (or someone who typed your address)"), "{}", m.text);
        assert!(m.text.contains(&format!("See my data ({}/my-data/", app.base)), "the link as text (URL): {}", m.text);
        assert!(m.text.contains("You receive this email because") && m.text.contains("officecomms\n1200 Harbor Street"), "{}", m.text);
        for syntax in ["](", "**", "# ", "<"] {
            assert!(!m.text.contains(syntax), "{syntax:?} in {}", m.text);
        }
        assert_eq!(m.text.matches("Hello").count(), 1, "greeted once");
    }
}
