//! The newsletter: double opt-in with consent proof, campaigns that cannot
//! bypass the CAN-SPAM checks, headers and footer in every message, both
//! kinds of unsubscribe, suppression that survives re-import and
//! re-subscription, CSV, pause, schedule, and exactly-once delivery across
//! a kill -9.

use crate::{both, helpers::*};
use officecomms::{
    newsletter::{self, subscribers},
    platform::now_ms,
};
use std::time::{Duration, Instant};

const ANN: &str = "ann@example.com";

/// Imports confirmed subscribers (consent from a stated source), as an admin would.
pub async fn import(app: &TestApp, emails: &[&str], topics: &str) -> subscribers::ImportReport {
    let rows: Vec<subscribers::ImportRow> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| subscribers::ImportRow {
            line: i + 2,
            email: e.to_string(),
            name: String::new(),
            topics: topics.into(),
        })
        .collect();
    subscribers::import_rows(&app.state, &rows, "test sign-up sheet")
        .await
        .unwrap()
}

pub fn good_campaign<'a>(subject: &'a str, topic: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("subject", subject),
        ("from_name", "officecomms news"),
        ("reply_to", "news@officecomms.com"),
        ("topic", topic),
        ("ad_label", "Advertisement"),
        ("body", "## What is new\n\nOutlook tips **inside**."),
    ]
}

/// Creates a draft through the form; returns its id.
pub async fn create_campaign(app: &TestApp, fields: &[(&str, &str)]) -> i64 {
    let r = app.post_form("/admin/campaigns", fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    r.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

pub async fn act(
    app: &TestApp,
    id: i64,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut all = fields.to_vec();
    all.push(("action", action));
    let r = app.post_form(&format!("/admin/campaigns/{id}"), &all).await;
    // "Send now" asks first; the confirmation page's button sends.
    let confirm = format!("/admin/campaigns/{id}/send");
    if action == "send" && r.status() == 303 && r.headers()["location"] == confirm.as_str() {
        return app.post_form(&confirm, &[]).await;
    }
    r
}

async fn campaign_status(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM newsletter_campaigns WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn outbox_count(app: &TestApp, reason: &str, status: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE reason = $1 AND status = $2")
        .bind(reason)
        .bind(status)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// Waits until the campaign is sent and its outbox empty.
pub async fn wait_sent(app: &TestApp, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reason = format!("campaign:{id}");
        if campaign_status(app, id).await == "sent"
            && outbox_count(app, &reason, "pending").await == 0
        {
            return;
        }
        assert!(Instant::now() < deadline, "campaign {id} not sent in time");
        app.state.mail_wakeup.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Subscribes through the page form as a visitor would; returns the client.
async fn subscribe(app: &TestApp, email: &str, topics: &[&str]) -> reqwest::Response {
    let mut fields = vec![
        ("email", email),
        ("name", "Ann"),
        ("birth_year", "1980"),
        ("source", "page"),
    ];
    for t in topics {
        fields.push(("topic", t));
    }
    app.post_form("/newsletter", &fields).await
}

fn path_of(app: &TestApp, url: &str) -> String {
    url.trim_start_matches(&app.base).to_string()
}

both! {
    async fn subscribing_takes_a_confirmed_link_and_records_the_consent(backend) {
        let app = TestApp::spawn(backend).await;
        let r = subscribe(&app, ANN, &["tips"]).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("We have sent a confirmation link to ann@example.com"));
        app.drain_outbox().await;
        let mails = app.mails();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, ANN);
        let link = mails[0].link(&format!("{}/newsletter/confirm/", app.base));
        let (status,): (String,) = sqlx::query_as("SELECT status FROM newsletter_subscribers")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "pending", "nothing is confirmed before the link is used");

        // A forged token and an expired one are refused with a clear page.
        let forged = format!("{}x", link);
        let (code, body) = app.get_text(&path_of(&app, &forged)).await;
        assert_eq!(code, 400);
        assert!(body.contains("This link is not valid"));
        let expired = newsletter::confirm_token(&app.state.keyring, 1, now_ms() - 8 * 86_400_000);
        let (code, body) = app.get_text(&format!("/newsletter/confirm/{expired}")).await;
        assert_eq!(code, 410);
        assert!(body.contains("This confirmation link has expired"));

        // Opening the link asks; the button confirms (a mail scanner's GET subscribes nobody).
        let (code, body) = app.get_text(&path_of(&app, &link)).await;
        assert_eq!(code, 200);
        assert!(body.contains("Yes, subscribe me") && body.contains(ANN));
        let r = app.post_form(&path_of(&app, &link), &[("birth_year", "1980")]).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("You are subscribed"));
        let (status, source, policy, ip_hash, topics): (String, String, String, Option<Vec<u8>>, String) = sqlx::query_as(
            "SELECT status, consent_source, consent_policy, consent_ip_hash, topics FROM newsletter_subscribers",
        ).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "confirmed");
        assert_eq!(source, "the newsletter page");
        assert_eq!(policy, officecomms::privacy::policy::generate(&app.state.site(), &app.state.registry.inventory).version);
        let ip_hash = ip_hash.expect("ip hash kept as proof");
        assert_eq!(ip_hash.len(), 32);
        assert!(!String::from_utf8_lossy(&ip_hash).contains("127.0.0.1"));
        assert_eq!(topics, "tips");
        // The address is stored sealed, never in the clear.
        let (sealed,): (Vec<u8>,) = sqlx::query_as("SELECT email FROM newsletter_subscribers")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("ann@"));
    }

    async fn the_subscription_form_refuses_bad_input_and_children(backend) {
        let app = TestApp::spawn(backend).await;
        let r = app.post_form("/newsletter", &[("email", "not-an-address"), ("name", "Bo"), ("birth_year", "1980"), ("source", "page")]).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("valid email address") && body.contains("value=\"not-an-address\""));
        assert!(body.contains("Please choose at least one topic."));
        // The age question is on the confirmation page (see newsletter_age.rs).
        let r = app.post_form("/newsletter", &[("email", "kid@example.com"), ("birth_year", "2020"), ("source", "footer")]).await;
        assert_eq!(r.status(), 200, "the footer form asks only for an address");
    }

    async fn every_page_footer_carries_the_subscription_form(backend) {
        let app = TestApp::spawn(backend).await;
        for path in ["/", "/articles", "/contact", "/privacy"] {
            let (_, body) = app.get_text(path).await;
            assert!(body.contains("footer-newsletter-email") && body.contains("action=\"/newsletter\""), "{path}");
        }
        let r = app.post_form("/newsletter", &[("email", "foot@example.com"), ("birth_year", "1975"), ("source", "footer")]).await;
        assert_eq!(r.status(), 200);
        let (topics, source): (String, String) = sqlx::query_as("SELECT topics, consent_source FROM newsletter_subscribers")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(topics, "product-updates,tips,offers");
        assert_eq!(source, "the newsletter form in the page footer");
    }

    async fn a_campaign_carries_footer_headers_and_its_checks_through_real_smtp(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        app.login_as("admin").await;
        import(&app, &["ann@example.com", "bob@example.com"], "tips").await;
        import(&app, &["carl@example.com"], "offers").await;
        // A pending (unconfirmed) subscriber gets nothing.
        subscribe(&app, "dee@example.com", &["tips"]).await;
        app.drain_outbox().await;
        smtp.wait_for(1).await;

        let mut fields = good_campaign("November tips", "tips");
        fields.push(("commercial", "1"));
        let id = create_campaign(&app, &fields).await;
        let (_, page) = app.get_text(&format!("/admin/campaigns/{id}")).await;
        assert!(page.contains("id=\"preview-text\"") && page.contains("1200 Harbor Street"), "preview of the text part");
        assert!(page.contains("<strong>inside</strong>"), "preview of the HTML part");
        let r = act(&app, id, "send", &fields).await;
        assert_eq!(r.status(), 303);
        wait_sent(&app, id).await;
        app.drain_outbox().await;
        let all = smtp.wait_for(3).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let campaign: Vec<Mail> = smtp.messages().iter().map(|m| Mail::parse(m)).filter(|m| m.subject == "November tips").collect();
        let mut to: Vec<&str> = campaign.iter().map(|m| m.to.as_str()).collect();
        to.sort();
        assert_eq!(to, vec!["ann@example.com", "bob@example.com"], "only confirmed subscribers of the topic; {}", all.len());
        let m = &campaign[0];
        let unsubscribe = m.header("List-Unsubscribe").unwrap();
        assert!(unsubscribe.starts_with(&format!("<{}/unsubscribe/", app.base)), "{unsubscribe}");
        assert_eq!(m.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
        assert!(m.header("From").unwrap().contains("officecomms news") && m.header("From").unwrap().contains("hello@officecomms.com"));
        assert!(m.header("Reply-To").unwrap().contains("news@officecomms.com"));
        assert!(m.text.trim_start().starts_with("Advertisement"), "commercial mail is identified: {}", m.text);
        assert!(m.html.contains("Advertisement"));
        for part in [&m.text, &m.html] {
            assert!(part.contains("1200 Harbor Street, Suite 400, Oakland"), "postal address in every part");
            assert!(part.contains("/unsubscribe/") && part.contains("/newsletter/preferences/"));
        }
        assert!(m.html.contains("<strong>inside</strong>") && m.raw.contains("multipart/alternative"));
        assert!(m.text.contains("What is new\n\nOutlook tips inside.") && !m.text.contains("**") && !m.text.contains("## "), "plain text, not Markdown: {}", m.text);
        assert!(!m.html.contains("class=\"anchor\"") && m.html.contains("aria-roledescription=\"email\""), "the mail layout, no heading links");
        let stored: Vec<String> = sqlx::query_scalar("SELECT message_id FROM outbox WHERE reason = $1")
            .bind(format!("campaign:{id}")).fetch_all(&app.state.db.pool).await.unwrap();
        let message_id = m.header("Message-ID").unwrap();
        assert!(stored.contains(&message_id), "Message-ID fixed per recipient at enqueue time");
        let (_, page) = app.get_text(&format!("/admin/campaigns/{id}")).await;
        assert!(page.contains("data-figure=\"sent\">2<") && page.contains("data-figure=\"queued\">2<"), "figures");
        assert!(page.contains(">sent<"));
    }

    async fn each_failed_check_refuses_the_send_and_says_which(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        import(&app, &[ANN], "tips").await;
        let base = good_campaign("Fine subject", "tips");
        let id = create_campaign(&app, &base).await;
        let cases: Vec<(&str, &str, &str)> = vec![
            ("subject", "", "a campaign needs a subject"),
            ("subject", "RE: your order", "must not pretend to be a reply or a forward"),
            ("subject", "Fwd: great deal", "must not pretend to be a reply or a forward"),
            ("subject", "FW: news", "must not pretend to be a reply or a forward"),
            ("from_name", "", "From: give the sender"),
            ("from_name", "security@yourbank.com", "must be a plain name"),
            ("reply_to", "nobody", "Reply-To: enter a valid address"),
        ];
        for action in ["send", "test", "schedule"] {
            for (field, value, message) in &cases {
                let mut fields: Vec<(&str, &str)> = base.iter().filter(|(k, _)| k != field).copied().collect();
                fields.push((field, value));
                fields.push(("test_to", "staff@officecomms.com"));
                fields.push(("send_at", "2099-01-01T09:00"));
                let r = act(&app, id, action, &fields).await;
                assert_eq!(r.status(), 422, "{action} with {field}={value:?}");
                let body = r.text().await.unwrap();
                assert!(body.contains(message), "{action} {field}={value:?}: {message} not in page");
                assert!(body.contains(&format!("data-check=\"{field}\"")), "the failed check is named");
                assert!(value.is_empty() || body.contains(&format!("value=\"{value}\"")), "what was typed comes back");
            }
        }
        // Commercial without the advertisement label.
        let mut fields: Vec<(&str, &str)> = base.iter().filter(|(k, _)| *k != "ad_label").copied().collect();
        fields.extend([("commercial", "1"), ("ad_label", "")]);
        let r = act(&app, id, "send", &fields).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("must say it is an advertisement"));
        // No postal address in the settings: nothing may leave.
        let mut tx = app.state.db.begin().await.unwrap();
        officecomms::platform::settings::put(&mut tx, "postal_address", "").await.unwrap();
        tx.commit().await.unwrap();
        app.state.reload_site().await.unwrap();
        let r = act(&app, id, "send", &base).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("every mail must show our physical postal address"));
        // Nothing was saved, sent or queued by any refusal.
        assert_eq!(campaign_status(&app, id).await, "draft");
        let subject: String = sqlx::query_scalar("SELECT subject FROM newsletter_campaigns WHERE id = $1")
            .bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(subject, "Fine subject");
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE reason LIKE 'campaign%'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(queued, 0);
    }

    async fn both_kinds_of_unsubscribe_work_at_once_and_for_good(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        let admin_email = app.login_as("admin").await;
        let _ = admin_email;
        import(&app, &[ANN, "bob@example.com"], "tips").await;
        let id = create_campaign(&app, &good_campaign("First", "tips")).await;
        act(&app, id, "send", &good_campaign("First", "tips")).await;
        wait_sent(&app, id).await;
        app.drain_outbox().await;
        let first = smtp.wait_for(2).await;
        let mails: Vec<Mail> = first.iter().map(|m| Mail::parse(m)).collect();
        let ann = mails.iter().find(|m| m.to == ANN).unwrap();
        let bob = mails.iter().find(|m| m.to == "bob@example.com").unwrap();

        // Ann: one click from her mail client (RFC 8058): no cookie, no CSRF token.
        let url = ann.header("List-Unsubscribe").unwrap().trim_matches(['<', '>']).to_string();
        let r = client().post(&url).header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(officecomms::privacy::erasure::is_suppressed(&app.state, ANN).await.unwrap());
        // Bob: the page asks, the button confirms.
        let bob_link = bob.link(&format!("{}/unsubscribe/", app.base));
        let (code, page) = app.get_text(&path_of(&app, &bob_link)).await;
        assert_eq!(code, 200);
        assert!(page.contains("Unsubscribe me") && page.contains("bob@example.com"));
        assert!(!officecomms::privacy::erasure::is_suppressed(&app.state, "bob@example.com").await.unwrap(), "opening the page changes nothing");
        let r = app.post_form(&path_of(&app, &bob_link), &[]).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("You are unsubscribed"));
        let (_, page) = app.get_text(&format!("/admin/campaigns/{id}")).await;
        assert!(page.contains("data-figure=\"unsubscribed\">2<"), "figures count unsubscribes");
        // A forged link changes nothing.
        let (code, _) = app.get_text("/unsubscribe/1-1.forged").await;
        assert_eq!(code, 400);

        // Re-imported, and re-subscribed without confirming: still never mailed.
        let report = import(&app, &[ANN, "bob@example.com", "new@example.com"], "tips").await;
        assert_eq!((report.added, report.suppressed), (1, 2));
        assert_eq!(subscribe(&app, ANN, &["tips"]).await.status(), 200);
        app.drain_outbox().await;
        let confirm = smtp.wait_for(3).await.iter().map(|m| Mail::parse(m)).find(|m| m.subject.contains("confirm")).expect("confirmation mail");
        let id2 = create_campaign(&app, &good_campaign("Second", "tips")).await;
        act(&app, id2, "send", &good_campaign("Second", "tips")).await;
        wait_sent(&app, id2).await;
        app.drain_outbox().await;
        let got = smtp.wait_for(4).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second: Vec<String> = smtp.messages().iter().map(|m| Mail::parse(m)).filter(|m| m.subject == "Second").map(|m| m.to).collect();
        assert_eq!(second, vec!["new@example.com".to_string()], "{}", got.len());
        // Testing a campaign to a suppressed address is refused too.
        let mut fields = good_campaign("Third", "tips");
        fields.push(("test_to", "bob@example.com"));
        let id3 = create_campaign(&app, &good_campaign("Third", "tips")).await;
        let r = act(&app, id3, "test", &fields).await;
        assert_eq!(r.status(), 422);

        // Mail the law requires (a breach notice) still reaches Ann.
        let r = app.post_form("/admin/privacy/incidents", &[
            ("title", "Lost laptop"), ("description", "A laptop was stolen."),
            ("discovered_at", "2026-11-02T09:00"), ("category_contact", "1"),
            ("scope", "listed"), ("emails", ANN),
        ]).await;
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        app.post_form(&format!("{location}/publish"), &[]).await;
        app.drain_outbox().await;
        let all = smtp.messages();
        assert!(all.iter().map(|m| Mail::parse(m)).any(|m| m.to == ANN && m.subject.starts_with("Security notice") && m.text.contains("A laptop was stolen")), "breach notice delivered");

        // Confirming the new subscription from her mailbox is a new consent: Ann is back.
        let link = confirm.link(&format!("{}/newsletter/confirm/", app.base));
        assert_eq!(app.post_form(&path_of(&app, &link), &[("birth_year", "1980")]).await.status(), 200);
        assert!(!officecomms::privacy::erasure::is_suppressed(&app.state, ANN).await.unwrap());
        let id4 = create_campaign(&app, &good_campaign("Fourth", "tips")).await;
        act(&app, id4, "send", &good_campaign("Fourth", "tips")).await;
        wait_sent(&app, id4).await;
        app.drain_outbox().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut fourth: Vec<String> = smtp.messages().iter().map(|m| Mail::parse(m)).filter(|m| m.subject == "Fourth").map(|m| m.to).collect();
        fourth.sort();
        assert_eq!(fourth, vec![ANN.to_string(), "new@example.com".to_string()]);
    }

    async fn preferences_change_topics_without_logging_in(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        import(&app, &[ANN], "tips;offers").await;
        let id = create_campaign(&app, &good_campaign("Tips one", "tips")).await;
        act(&app, id, "send", &good_campaign("Tips one", "tips")).await;
        wait_sent(&app, id).await;
        app.drain_outbox().await;
        let mail = app.mails().into_iter().find(|m| m.subject == "Tips one").unwrap();
        let prefs = path_of(&app, &mail.link(&format!("{}/newsletter/preferences/", app.base)));
        let visitor = client();
        let page = visitor.get(app.url(&prefs)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(ANN) && page.contains("value=\"tips\" checked") && page.contains("value=\"offers\" checked"));
        let csrf = extract_csrf(&page);
        let r = visitor.post(app.url(&prefs)).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 422, "no topic at all is not a choice");
        let r = visitor.post(app.url(&prefs)).form(&[("csrf", csrf.as_str()), ("topic", "offers")]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("Saved."));
        let id2 = create_campaign(&app, &good_campaign("Tips two", "tips")).await;
        act(&app, id2, "send", &good_campaign("Tips two", "tips")).await;
        wait_sent(&app, id2).await;
        app.drain_outbox().await;
        assert!(!app.mails().iter().any(|m| m.subject == "Tips two"), "a topic given up is not sent");
    }

    async fn subscribers_import_needs_a_consent_source_and_export_shows_the_proof(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let csrf = app.csrf().await;
        let csv = "email,name,topics\nann@example.com,Ann,tips\nnot-an-address,X,\nbob@example.com,,offers;tips\n";
        let upload = |source: &'static str| {
            reqwest::multipart::Form::new()
                .text("csrf", csrf.clone())
                .text("source", source)
                .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("list.csv"))
        };
        let r = app.client.post(app.url("/admin/subscribers/import")).multipart(upload("")).send().await.unwrap();
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Say where these people agreed"));
        let r = app.client.post(app.url("/admin/subscribers/import")).multipart(upload("trade fair sign-up sheet 2026")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(page.contains("Imported 2; already subscribed 0; skipped because they unsubscribed or were erased: 0; not valid addresses: 1"), "{page}");
        assert!(page.contains("line 3: not-an-address"));
        let r = app.get("/admin/subscribers/export.csv").await;
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        let body = r.text().await.unwrap();
        let mut lines = body.lines();
        assert_eq!(lines.next().unwrap(), "email,name,status,topics,subscribed_at,confirmed_at,consent_at,consent_source,consent_policy");
        assert!(body.contains("ann@example.com,Ann,confirmed,tips,"));
        assert!(body.contains("bob@example.com,,confirmed,tips;offers,"));
        assert!(body.contains("import: trade fair sign-up sheet 2026"));
        assert!(app.get_text("/admin/audit?q=subscribers").await.1.contains("export"));
        let (_, list) = app.get_text("/admin/subscribers?q=bob").await;
        assert!(list.contains("bob@example.com") && !list.contains("ann@example.com"));
    }

    async fn a_subscriber_named_like_a_formula_is_exported_as_text(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let rows: Vec<subscribers::ImportRow> = [("eve@example.com", "=HYPERLINK(\"http://x\")"), ("max@example.com", "@SUM(A1:A9)"), ("joe@example.com", "-2+3")]
            .iter()
            .enumerate()
            .map(|(i, (email, name))| subscribers::ImportRow { line: i + 2, email: email.to_string(), name: name.to_string(), topics: "tips".into() })
            .collect();
        subscribers::import_rows(&app.state, &rows, "=cmd|' /C calc'!A0").await.unwrap();
        let r = app.get("/admin/subscribers/export.csv").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        let body = r.text().await.unwrap();
        assert!(body.contains("eve@example.com,\"'=HYPERLINK(\"\"http://x\"\")\","), "{body}");
        assert!(body.contains("max@example.com,'@SUM(A1:A9),"), "{body}");
        assert!(body.contains("joe@example.com,'-2+3,"), "{body}");
        for line in body.lines().skip(1) {
            for cell in line.split(',') {
                let cell = cell.trim_start_matches('"');
                assert!(!cell.starts_with(['=', '+', '-', '@']), "a live formula in {line}");
            }
        }
    }

    async fn a_corrected_address_gets_no_campaign_until_its_owner_confirms_it(backend) {
        let app = TestApp::spawn(backend).await;
        import(&app, &[ANN], "tips").await;
        // Ann asks for her data and "corrects" her newsletter address to someone else's.
        let person = client();
        let page = person.get(app.url("/my-data")).send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&page);
        person.post(app.url("/my-data")).form(&[("csrf", csrf.as_str()), ("email", ANN)]).send().await.unwrap();
        app.drain_outbox().await;
        let path = path_of(&app, &app.mails().last().unwrap().link(&format!("{}/my-data/", app.base)));
        let id: i64 = sqlx::query_scalar("SELECT id FROM newsletter_subscribers").fetch_one(&app.state.db.pool).await.unwrap();
        let r = person.post(app.url(&format!("{path}/correct"))).form(&[
            ("csrf", csrf.as_str()), ("table", "newsletter_subscribers"), ("id", &id.to_string()), ("column", "email"), ("value", "vic@example.com"),
        ]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let (status, confirmed_at): (String, Option<i64>) = sqlx::query_as("SELECT status, confirmed_at FROM newsletter_subscribers")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!((status.as_str(), confirmed_at), ("pending", None), "a corrected address is unconfirmed");
        app.drain_outbox().await;
        let to_vic: Vec<Mail> = app.mails().into_iter().filter(|m| m.to == "vic@example.com").collect();
        assert_eq!(to_vic.len(), 1, "one double opt-in mail to the new address");
        let confirm = to_vic[0].link(&format!("{}/newsletter/confirm/", app.base));

        // A campaign sent now reaches nobody: the only subscriber is unconfirmed.
        app.login_as("admin").await;
        let fields = good_campaign("Before confirming", "tips");
        let id = create_campaign(&app, &fields).await;
        assert_eq!(act(&app, id, "send", &fields).await.status(), 303);
        wait_sent(&app, id).await;
        app.drain_outbox().await;
        assert!(!app.mails().iter().any(|m| m.subject == "Before confirming"), "no campaign before the owner confirms");

        // Its owner confirms; the next campaign reaches the new address, not the old.
        let owner = client();
        let page = owner.get(&confirm).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("vic@example.com"), "{page}");
        let r = owner.post(&confirm).form(&[("csrf", extract_csrf(&page).as_str()), ("birth_year", "1970")]).send().await.unwrap();
        assert!(r.text().await.unwrap().contains("You are subscribed"));
        let fields = good_campaign("After confirming", "tips");
        let id = create_campaign(&app, &fields).await;
        assert_eq!(act(&app, id, "send", &fields).await.status(), 303);
        wait_sent(&app, id).await;
        app.drain_outbox().await;
        let sent: Vec<String> = app.mails().into_iter().filter(|m| m.subject == "After confirming").map(|m| m.to).collect();
        assert_eq!(sent, vec!["vic@example.com".to_string()]);
    }

    async fn a_preference_link_expires_after_a_year_and_still_unsubscribes(backend) {
        let app = TestApp::spawn(backend).await;
        import(&app, &[ANN], "tips").await;
        let id: i64 = sqlx::query_scalar("SELECT id FROM newsletter_subscribers").fetch_one(&app.state.db.pool).await.unwrap();
        let keyring = &app.state.keyring;
        let fresh = newsletter::link_token(keyring, id, 0, now_ms());
        let (code, page) = app.get_text(&format!("/newsletter/preferences/{fresh}")).await;
        assert_eq!(code, 200);
        assert!(page.contains(ANN));
        let old = newsletter::link_token(keyring, id, 0, now_ms() - 366 * 86_400_000);
        let unversioned = keyring.sign("newsletter-link", &format!("{id}-0"));
        for token in [&old, &unversioned] {
            let (code, page) = app.get_text(&format!("/newsletter/preferences/{token}")).await;
            assert_eq!(code, 410);
            assert!(page.contains("This link has expired") && !page.contains(ANN), "{page}");
        }
        // Unsubscribing works with any genuine link, however old.
        let r = app.post_form(&format!("/unsubscribe/{old}"), &[]).await;
        assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
        let status: String = sqlx::query_scalar("SELECT status FROM newsletter_subscribers").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "unsubscribed");
    }

    async fn a_scheduled_campaign_starts_on_its_own_and_pause_holds_its_mail(backend) {
        let app = TestApp::spawn_with(backend, |c| c.mail_rate = 20).await;
        app.login_as("admin").await;
        let emails: Vec<String> = (0..60).map(|i| format!("p{i}@example.com")).collect();
        import(&app, &emails.iter().map(String::as_str).collect::<Vec<_>>(), "tips").await;
        let fields = good_campaign("Later", "tips");
        let id = create_campaign(&app, &fields).await;
        let mut with_time = fields.clone();
        with_time.push(("send_at", "2020-01-01T09:00"));
        let r = act(&app, id, "schedule", &with_time).await;
        assert_eq!(r.status(), 422, "a time in the past is refused");
        with_time.pop();
        with_time.push(("send_at", "2099-01-01T09:00"));
        assert_eq!(act(&app, id, "schedule", &with_time).await.status(), 303);
        assert_eq!(campaign_status(&app, id).await, "scheduled");
        // Typed in the admin's zone (the company's, California: UTC-8 in
        // January), and shown back so, the zone named.
        let at: Option<i64> = sqlx::query_scalar("SELECT scheduled_at FROM newsletter_campaigns WHERE id = $1")
            .bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(at, Some(4_070_970_000_000), "2099-01-01 17:00 UTC");
        let (_, page) = app.get_text(&format!("/admin/campaigns/{id}")).await;
        assert!(page.contains("<label for=\"send_at\">Send at (America/Los_Angeles)</label>"), "{page}");
        assert!(page.contains("value=\"2099-01-01T09:00\""), "{page}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(outbox_count(&app, &format!("campaign:{id}"), "pending").await, 0, "not before its time");
        // Move the clock: the running server picks it up with no restart.
        sqlx::query("UPDATE newsletter_campaigns SET scheduled_at = $1 WHERE id = $2")
            .bind(now_ms() - 1000).bind(id).execute(&app.state.db.pool).await.unwrap();
        let reason = format!("campaign:{id}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while outbox_count(&app, &reason, "sent").await < 5 {
            assert!(Instant::now() < deadline, "the scheduled campaign did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(app.post_form(&format!("/admin/campaigns/{id}/pause"), &[]).await.status(), 303);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let sent = outbox_count(&app, &reason, "sent").await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(outbox_count(&app, &reason, "sent").await, sent, "nothing leaves while paused");
        assert!(outbox_count(&app, &reason, "held").await > 0);
        assert!(sent < 60);
        assert_eq!(app.post_form(&format!("/admin/campaigns/{id}/resume"), &[]).await.status(), 303);
        let deadline = Instant::now() + Duration::from_secs(30);
        while outbox_count(&app, &reason, "sent").await < 60 {
            assert!(Instant::now() < deadline, "resumed campaign did not finish");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        wait_sent(&app, id).await;
        let files = app.mails();
        let mut to: Vec<String> = files.iter().filter(|m| m.subject == "Later").map(|m| m.to.clone()).collect();
        to.sort();
        to.dedup();
        assert_eq!(to.len(), 60);
        assert_eq!(files.iter().filter(|m| m.subject == "Later").count(), 60, "each exactly once");
    }

    async fn an_unknown_or_missing_campaign_action_comes_back_on_the_form_and_changes_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        import(&app, &[ANN], "tips").await;
        let id = create_campaign(&app, &good_campaign("Kept", "tips")).await;
        let changed = good_campaign("Changed", "tips");
        for action in ["delete", "Send", "send ", "", "save\0"] {
            let r = act(&app, id, action, &changed).await;
            let status = r.status();
            let body = r.text().await.unwrap();
            assert!(status == 422 || status == 400, "{action:?}: {status}");
            assert!(status == 400 || body.contains("Unknown action."), "{action:?}: the form says why");
        }
        let r = app.post_form(&format!("/admin/campaigns/{id}"), &changed).await;
        assert_eq!(r.status(), 422, "no button named");
        assert!(r.text().await.unwrap().contains("value=\"Changed\""), "what was typed comes back");
        let subject: String = sqlx::query_scalar("SELECT subject FROM newsletter_campaigns WHERE id = $1")
            .bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(subject, "Kept");
        assert_eq!(campaign_status(&app, id).await, "draft");
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE reason LIKE 'campaign%'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(queued, 0);
        // The save button saves, and says so.
        let r = act(&app, id, "save", &changed).await;
        assert_eq!(r.status(), 303);
        assert!(r.headers()["location"].to_str().unwrap().ends_with("?done=saved"));
        let subject: String = sqlx::query_scalar("SELECT subject FROM newsletter_campaigns WHERE id = $1")
            .bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(subject, "Changed");
        assert_eq!(campaign_status(&app, id).await, "draft");
    }
}

/// The real binary, SIGKILLed in the middle of a 2,000-recipient campaign
/// and started again: every recipient ends up with exactly one copy.
async fn kill_9_exactly_once(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    const RECIPIENTS: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    let mut env: Vec<(String, String)> = vec![];
    let mut pg = None;
    if let Backend::Postgres(admin) = &backend {
        let (url, name) = create_pg_database(admin).await;
        config.database_url = Some(url.clone());
        env.push(("OFFICECOMMS_DATABASE_URL".into(), url));
        pg = Some((admin.clone(), name));
    }
    config.workers = false;
    let state = officecomms::AppState::open(config).await.unwrap();
    let emails: Vec<String> = (0..RECIPIENTS)
        .map(|i| format!("r{i:04}@example.com"))
        .collect();
    let rows: Vec<subscribers::ImportRow> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| subscribers::ImportRow {
            line: i + 2,
            email: e.clone(),
            name: String::new(),
            topics: "tips".into(),
        })
        .collect();
    let report = subscribers::import_rows(&state, &rows, "kill -9 test")
        .await
        .unwrap();
    assert_eq!(report.added, RECIPIENTS);
    let draft = newsletter::db::Draft {
        subject: "Exactly once".into(),
        from_name: "officecomms news".into(),
        reply_to: "news@officecomms.com".into(),
        body: "Hello".into(),
        topics: "tips".into(),
        commercial: false,
        ad_label: String::new(),
    };
    let mut tx = state.db.begin().await.unwrap();
    let id = newsletter::db::insert_campaign(&mut tx, &draft, None, now_ms())
        .await
        .unwrap();
    newsletter::db::set_status(&mut tx, id, &["draft"], "scheduled", Some(now_ms()))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let db = state.db.clone();
    drop(state);

    let port = free_port();
    let start = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_officecomms"));
        cmd.args(["serve", "--no-demo", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.path())
            .env("OFFICECOMMS_SMTP_URL", smtp.url())
            .env("OFFICECOMMS_MAIL_RATE", "400")
            .env("OFFICECOMMS_MAIL_CONCURRENCY", "8")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("start officecomms")
    };
    let mut server = start();
    let deadline = Instant::now() + Duration::from_secs(60);
    while smtp.messages().len() < 500 {
        assert!(Instant::now() < deadline, "the campaign did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let at_kill = smtp.messages().len();
    assert!(
        at_kill < RECIPIENTS,
        "killed too late to prove anything ({at_kill})"
    );

    let mut server = start();
    let reason = format!("campaign:{id}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (sent, status): (i64, String) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE reason = $1 AND status = 'sent'), \
             (SELECT status FROM newsletter_campaigns WHERE id = $2)",
        )
        .bind(&reason)
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if sent == RECIPIENTS as i64 && status == "sent" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {sent} sent after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let _ = server.kill();
    let _ = server.wait();
    let messages = smtp.messages();
    let mut counts = std::collections::HashMap::new();
    for m in &messages {
        *counts.entry(Mail::parse(m).to).or_insert(0) += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "received more than once: {twice:?}");
    assert_eq!(
        counts.len(),
        RECIPIENTS,
        "every recipient got the campaign (killed at {at_kill})"
    );
    assert_eq!(messages.len(), RECIPIENTS);
    db.pool.close().await;
    if let Some((admin, name)) = pg {
        let admin_db = officecomms::platform::db::Db::connect(&admin)
            .await
            .unwrap();
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin_db.pool)
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_campaign_delivers_each_recipient_exactly_once_sqlite() {
    kill_9_exactly_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_campaign_delivers_each_recipient_exactly_once_postgres() {
    if let Some(b) = Backend::postgres() {
        kill_9_exactly_once(b).await;
    }
}
