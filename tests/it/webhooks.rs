//! Webhooks: a receiver on loopback gets `ticket.created` signed per
//! Standard Webhooks, personal fields only where an admin ticked them (and
//! the policy then names the service), a failing answer is retried, and
//! private, link-local and metadata addresses are refused.

use crate::{both, helpers::*};
use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use officecomms::{
    platform::{
        now_ms,
        webhooks::{EVENTS, Sender},
    },
    support::intake,
};
use sha2::Sha256;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

#[derive(Clone, Debug)]
struct Received {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Answers 500 to this many requests before answering 200.
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    /// A tiny HTTP server on loopback; its port.
    async fn start(self) -> u16 {
        async fn hook(
            State(r): State<Receiver>,
            uri: axum::http::Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> axum::http::StatusCode {
            let h = |n: &str| {
                headers
                    .get(n)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            r.got.lock().unwrap().push(Received {
                path: uri.path().to_string(),
                id: h("webhook-id"),
                timestamp: h("webhook-timestamp"),
                signature: h("webhook-signature"),
                body: String::from_utf8(body.to_vec()).unwrap(),
            });
            let failing = r.fail_first.load(Ordering::SeqCst);
            if failing > 0 {
                r.fail_first.store(failing - 1, Ordering::SeqCst);
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            } else {
                axum::http::StatusCode::NO_CONTENT
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().route("/{*path}", post(hook)).with_state(self);
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n || start.elapsed() > limit {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Verifies a request as a receiver would (Standard Webhooks).
fn verify(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let fresh = (r.timestamp.parse::<i64>().unwrap() - now_ms() / 1000).abs() < 300;
    fresh && r.signature.split(' ').any(|s| s == expected)
}

/// Adds an endpoint as an admin; its id and signing secret.
async fn add_endpoint(
    admin: &StaffClient,
    app: &TestApp,
    fields: &[(&str, &str)],
) -> (i64, String) {
    let r = post_as(admin, app, "/admin/webhooks", fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let page = admin
        .client
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "id=\"webhook-secret\" class=\"secret\">";
    let start = page.find(marker).unwrap() + marker.len();
    let secret = page[start..start + page[start..].find('<').unwrap()].to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (id, secret)
}

async fn post_as(
    admin: &StaffClient,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = admin
        .client
        .get(app.url("/admin/webhooks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = extract_csrf(&page);
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    admin
        .client
        .post(app.url(path))
        .form(&all)
        .send()
        .await
        .unwrap()
}

async fn submit_ticket(app: &TestApp, email: &str) {
    let token = intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let r = app
        .post_form("/contact", &crate::support::query(&token, email))
        .await;
    assert_eq!(r.status(), 303);
}

both! {
    async fn a_new_ticket_reaches_the_receiver_signed_and_personal_only_where_ticked(backend) {
        let app = TestApp::spawn(backend).await;
        let receiver = Receiver::default();
        let port = receiver.clone().start().await;
        let admin = app.staff_client("admin").await;
        let lean = format!("http://127.0.0.1:{port}/lean");
        let (lean_id, lean_secret) = add_endpoint(&admin, &app, &[
            ("name", "Ops dashboard"), ("url", &lean), ("event:ticket.created", "on"),
            ("event:chat.started", "on"), ("allow_private", "on"),
        ]).await;
        let full = format!("http://127.0.0.1:{port}/full");
        let (_, full_secret) = add_endpoint(&admin, &app, &[
            ("name", "Acme CRM"), ("url", &full), ("event:ticket.created", "on"),
            ("include_personal", "on"), ("allow_private", "on"),
        ]).await;
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains("Acme CRM"), "the policy names the service that receives personal data");
        assert!(!policy.contains("Ops dashboard"), "and only that one");

        let started = Instant::now();
        submit_ticket(&app, "webhook.person@example.com").await;
        let got = receiver.wait_for(2, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 2, "both endpoints within 5 s: {got:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        for r in &got {
            let secret = if r.path == "/lean" { &lean_secret } else { &full_secret };
            assert!(verify(secret, r), "signature verifies: {r:?}");
            assert!(!verify(if r.path == "/lean" { &full_secret } else { &lean_secret }, r), "and only with its own secret");
            assert!(r.id.starts_with("msg_"));
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["type"], "ticket.created");
            assert!(body["data"]["reference"].as_str().unwrap().starts_with("OC-"));
            assert_eq!(body["data"]["product"], "Microsoft 365");
        }
        let lean_body = &got.iter().find(|r| r.path == "/lean").unwrap().body;
        assert!(!lean_body.contains("webhook.person@example.com"), "{lean_body}");
        assert!(!lean_body.contains("Ann Example") && !lean_body.contains("requester"), "{lean_body}");
        let full_body: serde_json::Value = serde_json::from_str(&got.iter().find(|r| r.path == "/full").unwrap().body).unwrap();
        assert_eq!(full_body["data"]["requester"]["email"], "webhook.person@example.com");
        assert_eq!(full_body["data"]["requester"]["name"], "Ann Example");

        // The delivery log says what happened.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let page = admin.client.get(app.url(&format!("/admin/webhooks/{lean_id}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("ticket.created"));
        assert!(page.contains("delivered, 1 attempt"), "{page}");
        assert!(page.contains("HTTP 204 in"));
    }

    async fn a_failing_endpoint_is_retried_and_can_be_resent(backend) {
        let app = TestApp::spawn(backend).await;
        let receiver = Receiver::default();
        receiver.fail_first.store(1, Ordering::SeqCst);
        let port = receiver.clone().start().await;
        let admin = app.staff_client("admin").await;
        let (id, secret) = add_endpoint(&admin, &app, &[
            ("name", "Flaky"), ("url", &format!("http://127.0.0.1:{port}/hook")),
            ("event:ticket.created", "on"), ("allow_private", "on"),
        ]).await;
        submit_ticket(&app, "retry.person@example.com").await;
        let first = receiver.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(first.len(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let page = admin.client.get(app.url(&format!("/admin/webhooks/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("pending, 1 attempt"), "{page}");
        assert!(page.contains("HTTP 500"));
        assert!(page.contains("Failing since"));

        let both = receiver.wait_for(2, Duration::from_secs(15)).await;
        assert_eq!(both.len(), 2, "retried after the 500");
        assert_eq!(both[0].id, both[1].id, "the same message, so the receiver can tell");
        assert!(verify(&secret, &both[1]));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let page = admin.client.get(app.url(&format!("/admin/webhooks/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("delivered, 2 attempts"), "{page}");
        assert!(!page.contains("Failing since"), "a success clears the failure");

        // Resend: the same message once more.
        let marker = format!("action=\"/admin/webhooks/{id}/deliveries/");
        let start = page.find(&marker).expect("a resend button") + "action=\"".len();
        let path = page[start..start + page[start..].find('"').unwrap()].to_string();
        assert_eq!(post_as(&admin, &app, &path, &[]).await.status(), 303);
        let three = receiver.wait_for(3, Duration::from_secs(5)).await;
        assert_eq!(three.len(), 3);
        assert_eq!(three[2].id, both[0].id);
    }

    async fn private_link_local_and_metadata_targets_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.staff_client("admin").await;
        for (url, private) in [
            ("https://10.0.0.1/hook", false),
            ("https://192.168.1.20/hook", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://169.254.169.254/latest/meta-data", true),
            ("https://[fd00:ec2::254]/", true),
            ("http://localhost:9/hook", false),
            ("http://127.0.0.1:9/hook", false),
            ("http://hooks.example.com/hook", false),
        ] {
            let mut fields = vec![("name", "Probe"), ("url", url), ("event:ticket.created", "on")];
            if private {
                fields.push(("allow_private", "on"));
            }
            let r = post_as(&admin, &app, "/admin/webhooks", &fields).await;
            assert_eq!(r.status(), 422, "{url} refused");
            let body = r.text().await.unwrap();
            assert!(body.contains("private, loopback, link-local or metadata") || body.contains("never go there") || body.contains("Use an https:// address"), "{url}: a clear message");
            assert!(body.contains(&format!("value=\"{url}\"")), "the form keeps what was typed");
        }
        let page = admin.client.get(app.url("/admin/webhooks")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("No endpoint yet"), "nothing saved");

        // At connect time: a name that resolves to loopback is refused
        // without the admin's permission, though a server listens there.
        let receiver = Receiver::default();
        let port = receiver.clone().start().await;
        let sender = Sender::new().unwrap();
        let secret = officecomms::platform::webhooks::new_secret();
        for url in [format!("http://localhost:{port}/x"), format!("http://127.0.0.1:{port}/x")] {
            let attempt = sender.post(&url, false, &secret, "msg_probe", b"{}".to_vec()).await;
            assert!(!attempt.ok());
            assert!(attempt.error.as_deref().unwrap().contains("refused"), "{attempt:?}");
        }
        assert!(receiver.got.lock().unwrap().is_empty(), "no request reached it");
        let attempt = sender.post(&format!("http://localhost:{port}/x"), true, &secret, "msg_probe", b"{}".to_vec()).await;
        assert!(attempt.ok(), "{attempt:?}");
        assert_eq!(receiver.got.lock().unwrap().len(), 1);
        let attempt = sender.post("http://169.254.169.254/latest", true, &secret, "msg_probe", b"{}".to_vec()).await;
        assert!(!attempt.ok(), "metadata never, even with private addresses allowed");
    }

    async fn erasure_cancels_what_is_queued_for_the_person(backend) {
        let app = TestApp::spawn(backend).await;
        let receiver = Receiver::default();
        receiver.fail_first.store(100, Ordering::SeqCst);
        let port = receiver.clone().start().await;
        let admin = app.staff_client("admin").await;
        let (id, _) = add_endpoint(&admin, &app, &[
            ("name", "Down for now"), ("url", &format!("http://127.0.0.1:{port}/hook")),
            ("event:ticket.created", "on"), ("event:privacy.erasure", "on"), ("allow_private", "on"),
        ]).await;
        submit_ticket(&app, "erase.me@example.com").await;
        assert_eq!(receiver.wait_for(1, Duration::from_secs(5)).await.len(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let page = admin.client.get(app.url(&format!("/admin/webhooks/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("pending, 1 attempt"), "waiting for its retry: {page}");

        let state = &app.state;
        let subject = officecomms::privacy::subjects::find(&state.db, &state.keyring, "erase.me@example.com").await.unwrap().unwrap();
        let mut tx = state.db.begin().await.unwrap();
        officecomms::privacy::erasure::erase(&mut tx, &state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE subject_id = $1")
            .bind(subject.id).fetch_one(&state.db.pool).await.unwrap();
        assert_eq!(left, 0, "the queued payload went with the person");
        // The retry would have come after 5 s: nothing more arrives.
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert_eq!(receiver.got.lock().unwrap().len(), 1, "never sent again");
        let page = admin.client.get(app.url(&format!("/admin/webhooks/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("ticket.created</code></td>"), "gone from the log too");
    }

    async fn chats_raise_started_and_message_events(backend) {
        let app = TestApp::spawn(backend).await;
        let receiver = Receiver::default();
        let port = receiver.clone().start().await;
        let admin = app.staff_client("admin").await;
        let (_, secret) = add_endpoint(&admin, &app, &[
            ("name", "Chat log"), ("url", &format!("http://127.0.0.1:{port}/chat")),
            ("event:chat.started", "on"), ("event:chat.message", "on"),
            ("include_personal", "on"), ("allow_private", "on"),
        ]).await;
        let mut visitor = crate::chat::Ws::visitor(&app).await;
        let welcome = crate::chat::hello(&mut visitor, "Ann Chat", Some("ann.chat@example.com")).await;
        visitor.send(serde_json::json!({"type": "message", "body": "The printer is on fire", "id": "m-1"})).await;
        let got = receiver.wait_for(2, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 2, "{got:?}");
        let bodies: Vec<serde_json::Value> = got.iter().map(|r| {
            assert!(verify(&secret, r));
            serde_json::from_str(&r.body).unwrap()
        }).collect();
        let started = bodies.iter().find(|b| b["type"] == "chat.started").expect("chat.started");
        assert_eq!(started["data"]["conversation_id"], welcome["conversation"]);
        assert_eq!(started["data"]["visitor"]["email"], "ann.chat@example.com");
        let message = bodies.iter().find(|b| b["type"] == "chat.message").expect("chat.message");
        assert_eq!(message["data"]["body"], "The printer is on fire");
        assert_eq!(message["data"]["from"], "visitor");
        assert_eq!(message["data"]["person_id"], started["data"]["person_id"]);
    }

    async fn an_endpoint_failing_for_three_days_is_switched_off_and_admins_told(backend) {
        let app = TestApp::spawn(backend).await;
        let receiver = Receiver::default();
        receiver.fail_first.store(100, Ordering::SeqCst);
        let port = receiver.clone().start().await;
        let admin = app.staff_client("admin").await;
        let (id, _) = add_endpoint(&admin, &app, &[
            ("name", "Gone Partner"), ("url", &format!("http://127.0.0.1:{port}/hook")),
            ("event:ticket.created", "on"), ("allow_private", "on"),
        ]).await;
        // It has been failing for a little over three days: the sender's
        // next round switches it off, event or not.
        sqlx::query("UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2")
            .bind(now_ms() - 3 * 86_400_000 - 60_000).bind(id)
            .execute(&app.state.db.pool).await.unwrap();
        let told = switched_off_and_told(&app, &admin, id, "Gone Partner").await;
        assert!(told[0].subject.contains("switched off after failing for three days"));
        assert!(told[0].text.contains(&format!("/admin/webhooks/{id}")));
        // Switched off: later events are not queued for it.
        submit_ticket(&app, "another@example.com").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(receiver.got.lock().unwrap().len(), 0);
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(queued, 0);
    }

    async fn each_of_the_ten_events_reaches_a_receiver_that_follows_it(backend) {
        let app = TestApp::spawn(backend).await;
        let receiver = Receiver::default();
        let port = receiver.clone().start().await;
        let admin = app.staff_client("admin").await;
        let mut fields = vec![("name", "Everything"), ("url", "")];
        let url = format!("http://127.0.0.1:{port}/all");
        fields[1].1 = &url;
        let ticks: Vec<String> = EVENTS.iter().map(|(e, _)| format!("event:{e}")).collect();
        fields.extend(ticks.iter().map(|t| (t.as_str(), "on")));
        fields.push(("allow_private", "on"));
        let (_, secret) = add_endpoint(&admin, &app, &fields).await;

        // ticket.created, then ticket.replied and ticket.status_changed by a staff reply.
        submit_ticket(&app, "events.person@example.com").await;
        let ticket: i64 = sqlx::query_scalar("SELECT MAX(id) FROM tickets").fetch_one(&app.state.db.pool).await.unwrap();
        let r = post_as(&admin, &app, &format!("/admin/tickets/{ticket}/reply"), &[("body", "Try again now, please."), ("status", "pending")]).await;
        assert_eq!(r.status(), 303);
        // chat.started and chat.message.
        let mut visitor = crate::chat::Ws::visitor(&app).await;
        crate::chat::hello(&mut visitor, "Ann Chat", Some("ann.chat@example.com")).await;
        visitor.send(serde_json::json!({"type": "message", "body": "Hello there", "id": "m-1"})).await;
        // subscriber.confirmed by an import through the API, subscriber.unsubscribed.
        let token = crate::api::token(&app, "admin", &["subscribers:read", "subscribers:write"]).await;
        let (status, _, added) = crate::api::call(&app, "POST", "/api/v1/subscribers", Some(&token), Some(serde_json::json!({"email": "lee@example.com", "confirmed": true, "consent_source": "trade fair"}))).await;
        assert_eq!((status, added["result"].as_str()), (202, Some("confirmed")));
        let lee: i64 = sqlx::query_scalar("SELECT MAX(id) FROM newsletter_subscribers").fetch_one(&app.state.db.pool).await.unwrap();
        let (status, _, _) = crate::api::call(&app, "POST", &format!("/api/v1/subscribers/{lee}/unsubscribe"), Some(&token), None).await;
        assert_eq!(status, 200);
        // order.created.
        crate::shop::fill_cart(&app).await;
        let key = crate::shop::idempotency_key(&app.get_text("/checkout").await.1);
        assert_eq!(crate::shop::checkout(&app, &key, "1980").await.status(), 303);
        // survey.response.
        let (_, qs) = crate::surveys::contact_survey(&app).await;
        let answer = vec![crate::surveys::q(&qs[0], "5"), ("birth_year".to_string(), "1975".to_string())];
        assert_eq!(crate::surveys::Visitor::new().answer(&app, "follow-up", &answer).await.status(), 303);
        // privacy.erasure: staff erase a child's request.
        submit_ticket(&app, "a.child@example.com").await;
        let child: i64 = sqlx::query_scalar("SELECT MAX(id) FROM tickets").fetch_one(&app.state.db.pool).await.unwrap();
        // Its ticket.created first: erasure cancels what is still queued about the person.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !receiver.got.lock().unwrap().iter().any(|r| r.body.contains(&format!("\"ticket_id\":{child}")) && r.body.contains("ticket.created")) {
            assert!(Instant::now() < deadline, "the child's ticket.created was not delivered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = post_as(&admin, &app, &format!("/admin/tickets/{child}/erase-child"), &[("confirm", "yes")]).await;
        assert_eq!(r.status(), 303);

        let deadline = Instant::now() + Duration::from_secs(15);
        let got = loop {
            let got = receiver.got.lock().unwrap().clone();
            let kinds: std::collections::BTreeSet<String> = got.iter().map(|r| {
                serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["type"].as_str().unwrap().to_string()
            }).collect();
            if kinds.len() == EVENTS.len() || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let bodies: Vec<serde_json::Value> = got.iter().map(|r| {
            assert!(verify(&secret, r), "signed: {r:?}");
            serde_json::from_str(&r.body).unwrap()
        }).collect();
        let of = |kind: &str| bodies.iter().filter(|b| b["type"] == kind).cloned().collect::<Vec<_>>();
        for (kind, _) in EVENTS {
            assert!(!of(kind).is_empty(), "{kind} was not delivered: {bodies:?}");
        }
        assert_eq!(of("ticket.replied")[0]["data"]["ticket_id"], ticket);
        let moved = &of("ticket.status_changed")[0]["data"];
        assert_eq!((moved["from"].as_str(), moved["status"].as_str(), moved["cause"].as_str()), (Some("open"), Some("pending"), Some("reply")), "{moved}");
        assert_eq!(of("subscriber.confirmed")[0]["data"]["subscriber_id"], lee);
        assert_eq!(of("subscriber.confirmed")[0]["data"]["via"], "import");
        assert_eq!(of("subscriber.unsubscribed")[0]["data"]["subscriber_id"], lee);
        assert!(of("order.created")[0]["data"]["reference"].as_str().is_some_and(|r| !r.is_empty()));
        assert_eq!(of("survey.response")[0]["data"]["questions_answered"], 1);
        let erased = &of("privacy.erasure")[0]["data"];
        assert_eq!(erased["requested_via"], "child-request");
        let child_person = of("ticket.created").iter().find(|b| b["data"]["ticket_id"] == child).map(|b| b["data"]["person_id"].clone());
        assert_eq!(Some(erased["person_id"].clone()), child_person, "the erasure names the person the child's ticket named");
        // No personal data for this endpoint: none asked for.
        let all: String = got.iter().map(|r| r.body.as_str()).collect();
        for personal in ["events.person@example.com", "lee@example.com", "robin.buyer@example.com", "Hello there", "Try again now"] {
            assert!(!all.contains(personal), "{personal} went out");
        }
    }

    async fn a_confirmed_csv_import_announces_each_new_subscriber(backend) {
        let app = TestApp::spawn(backend).await;
        let receiver = Receiver::default();
        let port = receiver.clone().start().await;
        let admin = app.staff_client("admin").await;
        add_endpoint(&admin, &app, &[
            ("name", "CRM"), ("url", &format!("http://127.0.0.1:{port}/crm")),
            ("event:subscriber.confirmed", "on"), ("include_personal", "on"), ("allow_private", "on"),
        ]).await;
        let page = admin.client.get(app.url("/admin/subscribers")).send().await.unwrap().text().await.unwrap();
        let csv = "email,name\nann@example.com,Ann\nnot-an-address,X\nbob@example.com,Bob\n";
        let form = reqwest::multipart::Form::new()
            .text("csrf", extract_csrf(&page))
            .text("source", "trade fair sign-up sheet")
            .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("list.csv"));
        let r = admin.client.post(app.url("/admin/subscribers/import")).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let got = receiver.wait_for(2, Duration::from_secs(5)).await;
        let mut emails: Vec<String> = got.iter().map(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["type"], "subscriber.confirmed");
            assert_eq!(body["data"]["via"], "import");
            body["data"]["email"].as_str().unwrap().to_string()
        }).collect();
        emails.sort();
        assert_eq!(emails, ["ann@example.com", "bob@example.com"]);
        // Imported again: already subscribed, nothing new to announce.
        let form = reqwest::multipart::Form::new()
            .text("csrf", extract_csrf(&page))
            .text("source", "trade fair sign-up sheet")
            .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("list.csv"));
        admin.client.post(app.url("/admin/subscribers/import")).multipart(form).send().await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(receiver.got.lock().unwrap().len(), 2);
    }

    async fn every_way_a_status_changes_is_announced(backend) {
        let app = TestApp::spawn(backend).await;
        let receiver = Receiver::default();
        let port = receiver.clone().start().await;
        let admin = app.staff_client("admin").await;
        add_endpoint(&admin, &app, &[
            ("name", "Status board"), ("url", &format!("http://127.0.0.1:{port}/status")),
            ("event:ticket.status_changed", "on"), ("allow_private", "on"),
        ]).await;
        for _ in 0..4 {
            submit_ticket(&app, "moves@example.com").await;
        }
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM tickets ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap();
        let pool = &app.state.db.pool;
        let reference = |id: i64| async move {
            sqlx::query_scalar::<_, String>("SELECT reference FROM tickets WHERE id = $1").bind(id).fetch_one(pool).await.unwrap()
        };
        let t = ids[0];
        // A staff reply with a status: open -> pending.
        let r = post_as(&admin, &app, &format!("/admin/tickets/{t}/reply"), &[("body", "Does it work now?"), ("status", "pending")]).await;
        assert_eq!(r.status(), 303);
        // The requester answers on the conversation page: pending -> open.
        app.drain_outbox().await;
        let ack = app.mails().into_iter().find(|m| m.to == "moves@example.com").unwrap();
        let path = ack.link(&format!("{}/support/tickets/", app.base)).trim_start_matches(&app.base).to_string();
        let requester = client();
        let page = requester.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        let r = requester.post(app.url(&path)).form(&[("csrf", extract_csrf(&page).as_str()), ("body", "Still broken.")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        // A macro that solves: open -> solved.
        assert_eq!(post_as(&admin, &app, "/admin/tickets/canned", &[("title", "Fixed"), ("body", "Fixed for {name}.")]).await.status(), 303);
        let canned: i64 = sqlx::query_scalar("SELECT id FROM support_canned_replies").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(post_as(&admin, &app, "/admin/automations/macros", &[("name", "Fix and solve"), ("canned_id", &canned.to_string()), ("status", "solved"), ("assignee", "")]).await.status(), 303);
        let macro_id: i64 = sqlx::query_scalar("SELECT id FROM support_macros").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(post_as(&admin, &app, &format!("/admin/tickets/{t}/macros/{macro_id}"), &[]).await.status(), 303);
        // Bulk: solved -> closed.
        let r = post_as(&admin, &app, "/admin/tickets/bulk", &[("action", "status"), ("status", "closed"), ("ids", &t.to_string())]).await;
        assert_eq!(r.status(), 200);
        // Merged from the ticket page, and in bulk: each duplicate open -> closed.
        let r = post_as(&admin, &app, &format!("/admin/tickets/{}/merge", ids[2]), &[("into", &reference(ids[1]).await)]).await;
        assert_eq!(r.status(), 303);
        let (keep, dup) = (ids[1].to_string(), ids[3].to_string());
        let r = post_as(&admin, &app, "/admin/tickets/bulk", &[("action", "merge"), ("ids", &keep), ("ids", &dup), ("target", &keep)]).await;
        assert_eq!(r.status(), 200);
        // Unchanged status: nothing.
        let r = post_as(&admin, &app, &format!("/admin/tickets/{}/status", ids[1]), &[("status", "open")]).await;
        assert_eq!(r.status(), 303);

        let got = receiver.wait_for(6, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let got = if got.len() < receiver.got.lock().unwrap().len() { receiver.got.lock().unwrap().clone() } else { got };
        let moves: Vec<(i64, String, String, String)> = got.iter().map(|r| {
            let b: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(b["type"], "ticket.status_changed");
            let d = &b["data"];
            (d["ticket_id"].as_i64().unwrap(), d["from"].as_str().unwrap().into(), d["status"].as_str().unwrap().into(), d["cause"].as_str().unwrap().into())
        }).collect();
        let want = |id: i64, from: &str, to: &str, cause: &str| (id, from.to_string(), to.to_string(), cause.to_string());
        let mut sorted = moves.clone();
        sorted.sort();
        let mut expected = vec![
            want(t, "open", "pending", "reply"),
            want(t, "pending", "open", "requester"),
            want(t, "open", "solved", "reply"),
            want(t, "solved", "closed", "bulk"),
            want(ids[2], "open", "closed", "merge"),
            want(ids[3], "open", "closed", "merge"),
        ];
        expected.sort();
        assert_eq!(sorted, expected, "{moves:?}");
    }

    async fn an_endpoint_failing_for_three_days_is_switched_off_with_no_new_event(backend) {
        let app = TestApp::spawn(backend).await;
        let receiver = Receiver::default();
        receiver.fail_first.store(100, Ordering::SeqCst);
        let port = receiver.clone().start().await;
        let admin = app.staff_client("admin").await;
        let (id, _) = add_endpoint(&admin, &app, &[
            ("name", "Quiet Partner"), ("url", &format!("http://127.0.0.1:{port}/hook")),
            ("event:ticket.created", "on"), ("allow_private", "on"),
        ]).await;
        submit_ticket(&app, "someone@example.com").await;
        assert_eq!(receiver.wait_for(1, Duration::from_secs(5)).await.len(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let since: Option<i64> = sqlx::query_scalar("SELECT failing_since FROM webhook_endpoints WHERE id = $1")
            .bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert!(since.is_some(), "the failure is noted");
        // Its retries ran out (about a day): nothing is left to send.
        sqlx::query("UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL")
            .execute(&app.state.db.pool).await.unwrap();
        // Two days on, no event: still on.
        app.state.clock.advance(2 * 86_400_000);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let page = admin.client.get(app.url(&format!("/admin/webhooks/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("Switched off"), "{page}");
        // Three days and a minute after the first failure, still no event: off, and the admins told.
        app.state.clock.advance(86_400_000 + 60_000);
        switched_off_and_told(&app, &admin, id, "Quiet Partner").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        app.drain_outbox().await;
        assert_eq!(app.mails().into_iter().filter(|m| m.subject.contains("Quiet Partner")).count(), 1, "and only once");
        assert_eq!(receiver.got.lock().unwrap().len(), 1, "no request was needed to notice");
        let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'disable' AND target_kind = 'webhook_endpoint'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(audited, 1);
    }
}

/// Waits for the sender's round to switch endpoint `id` off, and for the
/// admins' mail about it (its subject names `partner`); that mail, once.
async fn switched_off_and_told(
    app: &TestApp,
    admin: &StaffClient,
    id: i64,
    partner: &str,
) -> Vec<Mail> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let page = loop {
        let page = admin
            .client
            .get(app.url(&format!("/admin/webhooks/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("Switched off") || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        page.contains("Switched off (failing for three days)"),
        "{page}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let told = loop {
        app.drain_outbox().await;
        let told: Vec<_> = app
            .mails()
            .into_iter()
            .filter(|m| m.subject.contains(partner))
            .collect();
        if !told.is_empty() || Instant::now() > deadline {
            break told;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(told.len(), 1, "the admin is told once");
    told
}
