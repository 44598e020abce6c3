//! Support requests: the contact form, its spam defences, the signed
//! conversation page, the staff helpdesk, and privacy end to end.

use crate::{both, helpers::*};
use officecomms::{
    platform::{now_ms, settings},
    privacy::{erasure, subjects},
    support::intake,
};
use reqwest::multipart::{Form, Part};
use std::time::Duration;

/// A form token as if the form had been shown `secs_ago` seconds ago.
fn token(app: &TestApp, secs_ago: i64) -> String {
    intake::new_token(&app.state.keyring, now_ms() - secs_ago * 1000)
}

pub fn query<'a>(token: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("token", token),
        ("name", "Ann Example"),
        ("email", email),
        ("phone", "(415) 555-2671"),
        ("product", "Microsoft 365"),
        ("product_other", ""),
        ("subject", "Outlook keeps asking for my password"),
        (
            "details",
            "Since Monday Outlook asks for my password every ten minutes.",
        ),
        ("birth_year", "1985"),
        ("website", ""),
    ]
}

async fn submit(app: &TestApp, email: &str) -> reqwest::Response {
    let t = token(app, 10);
    app.post_form("/contact", &query(&t, email)).await
}

/// Submits a query and returns the path of the page showing its reference.
async fn submit_ok(app: &TestApp, email: &str) -> String {
    let r = submit(app, email).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn post_multipart(
    app: &TestApp,
    fields: &[(&str, &str)],
    files: Vec<(&str, Vec<u8>)>,
) -> reqwest::Response {
    let mut form = Form::new().text("csrf", app.csrf().await);
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (name, bytes) in files {
        form = form.part(
            "attachments",
            Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str("image/png")
                .unwrap(),
        );
    }
    app.client
        .post(app.url("/contact"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn count(app: &TestApp, table: &'static str) -> i64 {
    let sql = match table {
        "tickets" => "SELECT COUNT(*) FROM tickets",
        "ticket_messages" => "SELECT COUNT(*) FROM ticket_messages",
        "ticket_attachments" => "SELECT COUNT(*) FROM ticket_attachments",
        "subjects" => "SELECT COUNT(*) FROM subjects",
        "outbox" => "SELECT COUNT(*) FROM outbox",
        "support_intake" => "SELECT COUNT(*) FROM support_intake",
        _ => unreachable!(),
    };
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn nothing_stored(app: &TestApp) {
    for table in [
        "tickets",
        "ticket_messages",
        "subjects",
        "outbox",
        "support_intake",
    ] {
        assert_eq!(count(app, table).await, 0, "{table} has rows");
    }
}

async fn set(app: &TestApp, key: &str, value: &str) {
    let mut tx = app.state.db.begin().await.unwrap();
    settings::put(&mut tx, key, value).await.unwrap();
    tx.commit().await.unwrap();
}

fn reference_in(body: &str) -> String {
    let start = body.find("OC-").expect("a reference on the page");
    body[start..start + 14].to_string()
}

async fn ticket_ids(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM tickets ORDER BY id")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
}

/// The acknowledgement mail's conversation link, as a path.
fn conversation_path(app: &TestApp, mail: &Mail) -> String {
    mail.link(&format!("{}/support/tickets/", app.base))
        .trim_start_matches(&app.base)
        .to_string()
}

async fn get_with(app: &TestApp, c: &reqwest::Client, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn reference_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT reference FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

fn tamper(path: &str) -> String {
    // Change the ticket id the link was signed for (`{id}~{nonce}.{sig}`).
    let (prefix, rest) = path.rsplit_once('/').unwrap();
    let (data, sig) = rest.rsplit_once('.').unwrap();
    let (id, nonce) = data.split_once('~').unwrap();
    format!("{prefix}/{}~{nonce}.{sig}", id.parse::<i64>().unwrap() + 1)
}

both! {
    async fn a_query_gets_a_reference_and_a_mail_with_a_signed_conversation_link(backend) {
        let app = TestApp::spawn(backend).await;
        let (status, form) = app.get_text("/contact").await;
        assert_eq!(status, 200);
        assert!(form.contains("href=\"/privacy\""), "the form links to the privacy policy");
        assert!(form.contains("name=\"birth_year\""), "the form asks the age question");
        assert!(form.contains("name=\"website\""), "the honeypot is there");

        let location = submit_ok(&app, "ann@example.com").await;
        assert!(location.starts_with("/contact/received/"));
        let (status, page) = app.get_text(&location).await;
        assert_eq!(status, 200);
        let reference = reference_in(&page);
        let year = chrono::Datelike::year(&chrono::Utc::now());
        assert!(reference.starts_with(&format!("OC-{year}-0")), "{reference}");

        app.drain_outbox().await;
        let mails = app.mails();
        assert_eq!(mails.len(), 1);
        let ack = &mails[0];
        assert_eq!(ack.to, "ann@example.com");
        assert!(ack.subject.contains(&reference), "{}", ack.subject);
        assert!(ack.text.contains(&reference) && ack.html.contains(&reference));
        assert!(ack.text.contains("1200 Harbor Street"), "postal address in the mail");

        let path = conversation_path(&app, ack);
        let visitor = client();
        let page = visitor.get(app.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains("Outlook keeps asking for my password"));
        assert!(page.contains("every ten minutes"));
        assert!(page.contains(&reference));

        for bad in [tamper(&path), format!("{path}x"), "/support/tickets/1".to_string()] {
            let r = visitor.get(app.url(&bad)).send().await.unwrap();
            assert_eq!(r.status(), 404, "{bad}");
            let body = r.text().await.unwrap();
            assert!(body.contains("This link is not valid"));
            assert!(!body.contains("every ten minutes"));
        }
    }

    async fn a_reissued_or_expired_conversation_link_answers_410_and_the_new_one_works(backend) {
        let app = TestApp::spawn(backend).await;
        submit_ok(&app, "ann@example.com").await;
        app.drain_outbox().await;
        let old = conversation_path(&app, &app.mails()[0]);
        let visitor = client();
        assert_eq!(get_with(&app, &visitor, &old).await.0, 200);

        app.login_as("agent").await;
        let id = ticket_ids(&app).await[0];
        let r = app.post_form(&format!("/admin/tickets/{id}/link"), &[]).await;
        assert_eq!(r.status(), 303);
        let (status, body) = get_with(&app, &visitor, &old).await;
        assert_eq!(status, 410, "the old link is revoked");
        assert!(body.contains("This link no longer works") && !body.contains("every ten minutes"), "{body}");
        let (_, ticket) = app.get_text(&format!("/admin/tickets/{id}")).await;
        let start = ticket.find("href=\"/support/tickets/").expect("the new link on the ticket page") + 6;
        let new = ticket[start..start + ticket[start..].find('"').unwrap()].to_string();
        assert_ne!(new, old);
        let (status, body) = get_with(&app, &visitor, &new).await;
        assert_eq!(status, 200);
        assert!(body.contains("every ten minutes"));
        let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'reissue-link'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(audited, 1, "a reissue is audited");

        // Closed: the link lives 90 more days, then answers 410.
        assert_eq!(app.post_form(&format!("/admin/tickets/{id}/status"), &[("status", "closed")]).await.status(), 303);
        assert_eq!(get_with(&app, &visitor, &new).await.0, 200, "a closed ticket's link still works for a while");
        let closed_at: Option<i64> = sqlx::query_scalar("SELECT closed_at FROM tickets WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert!(closed_at.is_some_and(|t| (now_ms() - t).abs() < 60_000), "closing records when");
        sqlx::query("UPDATE tickets SET closed_at = closed_at - $1 WHERE id = $2").bind(91 * 86_400_000_i64).bind(id)
            .execute(&app.state.db.pool).await.unwrap();
        let (status, body) = get_with(&app, &visitor, &new).await;
        assert_eq!(status, 410, "expired 90 days after closing");
        assert!(body.contains("90 days") && !body.contains("every ten minutes"));
        // Reopening by staff brings it back (the link is the ticket's, not a new secret).
        assert_eq!(app.post_form(&format!("/admin/tickets/{id}/status"), &[("status", "open")]).await.status(), 303);
        assert_eq!(get_with(&app, &visitor, &new).await.0, 200);
    }

    async fn the_whole_conversation_goes_round_through_real_smtp(backend) {
        let Some(smtp) = SmtpServer::start() else { return };
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(smtp.url())).await;
        submit_ok(&app, "bob@example.com").await;
        let ack = Mail::parse(&smtp.wait_for(1).await[0]);
        assert_eq!(ack.to, "bob@example.com");
        let path = conversation_path(&app, &ack);

        let staff = &app;
        staff.login_as("agent").await;
        let id = ticket_ids(&app).await[0];
        let r = staff.post_form(&format!("/admin/tickets/{id}/reply"), &[("body", "Please re-enter the password in Settings > Accounts."), ("status", "pending")]).await;
        assert_eq!(r.status(), 303);

        let messages = smtp.wait_for(2).await;
        let reply = messages.iter().map(|m| Mail::parse(m)).find(|m| m.subject.starts_with("Re:")).expect("the reply arrived");
        assert_eq!(reply.to, "bob@example.com");
        assert!(reply.subject.contains("OC-"));
        assert!(reply.text.contains("Settings > Accounts"), "{}", reply.text);
        assert_eq!(conversation_path(&app, &reply), path, "the same conversation link");

        let visitor = client();
        let page = visitor.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("re-enter the password in Settings &#62; Accounts"), "the visitor sees the reply, escaped");
        assert!(page.contains("pending"));
        let csrf = extract_csrf(&page);
        let r = visitor.post(app.url(&path)).form(&[("csrf", csrf.as_str()), ("body", "That fixed it, thank you!")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let page = visitor.get(app.url(r.headers()["location"].to_str().unwrap())).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Your answer was sent") && page.contains("That fixed it"));

        let (status, ticket) = staff.get_text(&format!("/admin/tickets/{id}")).await;
        assert_eq!(status, 200);
        assert!(ticket.contains("That fixed it, thank you!"), "staff see the answer");
        assert!(ticket.contains("bob@example.com"));
        let (status,): (String,) = sqlx::query_as("SELECT status FROM tickets WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(status, "open", "the visitor's answer puts it back with the agents");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(smtp.messages().len(), 2, "the visitor's own answer is not mailed back");
    }

    async fn an_internal_note_is_never_mailed_nor_shown_to_the_visitor(backend) {
        let app = TestApp::spawn(backend).await;
        submit_ok(&app, "cy@example.com").await;
        app.drain_outbox().await;
        let path = conversation_path(&app, &app.mails()[0]);
        app.login_as("agent").await;
        let id = ticket_ids(&app).await[0];
        let r = app.post_form(&format!("/admin/tickets/{id}/note"), &[("body", "Customer is on the legacy plan; check licence first.")]).await;
        assert_eq!(r.status(), 303);
        let (_, page) = app.get_text(&format!("/admin/tickets/{id}")).await;
        assert!(page.contains("Internal note") && page.contains("legacy plan"));
        app.drain_outbox().await;
        assert_eq!(app.mails().len(), 1, "only the acknowledgement was mailed");
        let page = client().get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("legacy plan"));
        let (first_response,): (Option<i64>,) = sqlx::query_as("SELECT first_response_at FROM tickets WHERE id = $1").bind(id).fetch_one(&app.state.db.pool).await.unwrap();
        assert!(first_response.is_none(), "a note is not a response");
    }

    async fn robots_are_refused_and_told_why(backend) {
        let app = TestApp::spawn(backend).await;
        let fresh = token(&app, 0);
        let stale = token(&app, 3 * 86_400);
        let good = token(&app, 10);
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            ({ let mut f = query(&good, "dan@example.com"); f.retain(|(k, _)| *k != "website"); f.push(("website", "http://cheap-pills.example")); f }, "a field that people cannot see was filled in"),
            (query(&fresh, "dan@example.com"), "faster than a person can fill it in"),
            (query(&stale, "dan@example.com"), "open for too long"),
            ({ let mut f = query("", "dan@example.com"); f.retain(|(k, _)| *k != "token"); f }, "expired or was changed"),
            (query("123:abc.forged", "dan@example.com"), "expired or was changed"),
        ];
        for (fields, why) in cases {
            let r = app.post_form("/contact", &fields).await;
            assert_eq!(r.status(), 422, "{why}");
            let body = r.text().await.unwrap();
            assert!(body.contains(why), "missing reason {why:?}");
            assert!(body.contains("value=\"dan@example.com\""), "what was typed comes back");
            assert!(body.contains("every ten minutes"));
        }
        nothing_stored(&app).await;
    }

    async fn one_address_may_send_only_so_many_requests(backend) {
        let app = TestApp::spawn(backend).await;
        set(&app, "support.per_ip_hour", "2").await;
        submit_ok(&app, "eve@example.com").await;
        submit_ok(&app, "eve@example.com").await;
        let r = submit(&app, "eve@example.com").await;
        assert_eq!(r.status(), 429);
        let body = r.text().await.unwrap();
        assert!(body.contains("2 requests from your network in the last hour"), "says why");
        assert!(body.contains("value=\"eve@example.com\""), "keeps what was typed");
        assert_eq!(count(&app, "tickets").await, 2);

        set(&app, "support.per_ip_hour", "100").await;
        set(&app, "support.per_ip_day", "2").await;
        let r = submit(&app, "eve@example.com").await;
        assert_eq!(r.status(), 429);
        assert!(r.text().await.unwrap().contains("today"));
        assert_eq!(count(&app, "tickets").await, 2);
    }

    async fn bad_input_comes_back_with_what_was_typed_and_a_message_per_field(backend) {
        let app = TestApp::spawn(backend).await;
        let t = token(&app, 10);
        let mut fields = query(&t, "not-an-email");
        fields.retain(|(k, _)| !matches!(*k, "name" | "subject"));
        let r = app.post_form("/contact", &fields).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("Please tell us your name."));
        assert!(body.contains("Please give your request a short subject."));
        assert!(body.contains("Please enter a valid email address"));
        assert!(body.contains("value=\"not-an-email\""));
        assert!(body.contains("every ten minutes"), "details kept");
        assert!(body.contains("value=\"(415) 555-2671\""), "phone kept");
        assert!(body.contains(&format!("value=\"{t}\"")), "the same form token, so a fix is not 'too fast'");

        let huge = "a".repeat(1024 * 1024);
        let mut fields = query(&t, "fay@example.com");
        fields.retain(|(k, _)| *k != "details");
        fields.push(("details", &huge));
        let r = app.post_form("/contact", &fields).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Please keep this under 10000 characters."));

        let mut fields = query(&t, "fay@example.com");
        fields.retain(|(k, _)| *k != "product");
        fields.push(("product", "other"));
        let r = app.post_form("/contact", &fields).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("type its name"));

        // Invalid UTF-8 in a field: refused with a message there, the rest kept.
        let csrf = app.csrf().await;
        let body = format!(
            "csrf={csrf}&token={}&name=Fay&email=fay%40example.com&product=Zoom&subject=%FF%FEbad&details=Hello&birth_year=1980",
            percent_encoding::utf8_percent_encode(&t, percent_encoding::NON_ALPHANUMERIC)
        );
        let r = app.client.post(app.url("/contact"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("not valid UTF-8"));
        assert!(page.contains("value=\"fay@example.com\""));

        let r = app.client.post(app.url("/contact")).header("x-csrf-token", &csrf)
            .header("content-type", "application/json").body("{}").send().await.unwrap();
        assert_eq!(r.status(), 415);
        nothing_stored(&app).await;
    }

    async fn a_double_submit_makes_one_ticket(backend) {
        let app = TestApp::spawn(backend).await;
        let t = token(&app, 10);
        let csrf = app.csrf().await;
        let mut fields = query(&t, "gus@example.com");
        fields.push(("csrf", &csrf));
        let send = || app.client.post(app.url("/contact")).form(&fields).send();
        let (a, b) = tokio::join!(send(), send());
        let (a, b) = (a.unwrap(), b.unwrap());
        let c = send().await.unwrap();
        for r in [&a, &b, &c] {
            assert_eq!(r.status(), 303);
        }
        assert_eq!(a.headers()["location"], b.headers()["location"]);
        assert_eq!(a.headers()["location"], c.headers()["location"]);
        assert_eq!(count(&app, "tickets").await, 1);
        app.drain_outbox().await;
        assert_eq!(app.mails().len(), 1, "one acknowledgement");
        assert_eq!(count(&app, "support_intake").await, 1, "counted once against the limit");
    }

    async fn attachments_are_checked_by_content_and_kept_encrypted(backend) {
        let app = TestApp::spawn(backend).await;
        let t = token(&app, 10);
        let fields = query(&t, "hal@example.com");
        let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00This program cannot be run in DOS mode".to_vec();
        let r = post_multipart(&app, &fields, vec![("screenshot.png", exe)]).await;
        assert_eq!(r.status(), 415);
        let body = r.text().await.unwrap();
        assert!(body.contains("screenshot.png is not an image, a PDF or plain text"), "says why");
        assert!(body.contains("value=\"hal@example.com\"") && body.contains("every ten minutes"));
        assert!(body.contains("please choose them again"));
        nothing_stored(&app).await;

        let r = post_multipart(&app, &fields, vec![("a.txt", b"1".to_vec()), ("b.txt", b"2".to_vec()), ("c.txt", b"3".to_vec()), ("d.txt", b"4".to_vec())]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("at most 3 files"));
        let big = vec![b'a'; 5 * 1024 * 1024 + 1];
        let r = post_multipart(&app, &fields, vec![("log.txt", big)]).await;
        assert_eq!(r.status(), 413);
        assert!(r.text().await.unwrap().contains("log.txt is larger than 5 MB"));
        nothing_stored(&app).await;

        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR secret-pixels".to_vec();
        let r = post_multipart(&app, &fields, vec![("error dialog.png", png.clone()), ("log.txt", "Fehler 0x80070005 beim Anmelden\n".as_bytes().to_vec())]).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        assert_eq!(count(&app, "ticket_attachments").await, 2);
        let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT content FROM ticket_attachments").fetch_all(&app.state.db.pool).await.unwrap();
        for s in &stored {
            assert!(!s.windows(13).any(|w| w == b"secret-pixels") && !s.windows(8).any(|w| w == b"Fehler 0"), "encrypted at rest");
        }

        app.login_as("agent").await;
        let id = ticket_ids(&app).await[0];
        let (_, page) = app.get_text(&format!("/admin/tickets/{id}")).await;
        assert!(page.contains("error dialog.png") && page.contains("image/png"));
        let aid: i64 = sqlx::query_scalar("SELECT MIN(id) FROM ticket_attachments").fetch_one(&app.state.db.pool).await.unwrap();
        let r = app.get(&format!("/admin/tickets/{id}/attachments/{aid}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        assert_eq!(r.bytes().await.unwrap().to_vec(), png);
        let admin = app.staff_client("admin").await.client;
        let (_, audit) = get_with(&app, &admin, "/admin/audit?q=download").await;
        assert!(audit.contains("download-attachment"));
    }

    async fn a_child_gives_nothing_and_cannot_retry_with_another_year(backend) {
        let app = TestApp::spawn(backend).await;
        let t = token(&app, 10);
        let year = (chrono::Datelike::year(&chrono::Utc::now()) - 10).to_string();
        let mut fields = query(&t, "kid@example.com");
        fields.retain(|(k, _)| *k != "birth_year");
        fields.push(("birth_year", &year));
        let r = app.post_form("/contact", &fields).await;
        assert_eq!(r.status(), 403);
        let body = r.text().await.unwrap();
        assert!(body.contains("Thank you for visiting"));
        assert!(!body.contains("kid@example.com"), "nothing typed is echoed");
        let r = submit(&app, "kid@example.com").await;
        assert_eq!(r.status(), 403, "another year in the same session is still refused");
        app.drain_outbox().await;
        assert!(app.mails().is_empty());
        nothing_stored(&app).await;
    }

    async fn a_browser_that_answered_as_a_child_cannot_answer_a_conversation(backend) {
        let app = TestApp::spawn(backend).await;
        submit_ok(&app, "dee@example.com").await;
        app.drain_outbox().await;
        let path = conversation_path(&app, &app.mails()[0]);
        let visitor = client();
        let page = visitor.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&page);
        // The same browser answers, on another form, that it is nine.
        let year = (chrono::Datelike::year(&chrono::Utc::now()) - 9).to_string();
        let r = visitor.post(app.url("/chat/start")).form(&[("csrf", csrf.as_str()), ("name", "Dee"), ("birth_year", &year)]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let before = count(&app, "ticket_messages").await;
        let r = visitor.post(app.url(&path)).form(&[("csrf", csrf.as_str()), ("body", "My tablet is slow too")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let body = r.text().await.unwrap();
        assert!(body.contains("Thank you for visiting") && !body.contains("tablet"), "{body}");
        assert_eq!(count(&app, "ticket_messages").await, before, "the answer is not kept");
    }

    async fn the_database_never_holds_the_visitors_words_in_plaintext(backend) {
        let app = TestApp::spawn(backend.clone()).await;
        let email = "zed.unique-4417@example.com";
        let t = token(&app, 10);
        let mut fields = query(&t, email);
        fields.retain(|(k, _)| !matches!(*k, "details" | "name" | "phone"));
        fields.extend([("details", "My secret licence key is QWERTY-99871"), ("name", "Zebedee Quux"), ("phone", "+44 20 7946 0958")]);
        let r = app.post_form("/contact", &fields).await;
        assert_eq!(r.status(), 303);
        app.login_as("agent").await;
        let id = ticket_ids(&app).await[0];
        // Staff look, search by email and reply: nothing of it may land in the clear.
        app.get_text(&format!("/admin/tickets/{id}")).await;
        let (_, found) = app.get_text(&format!("/admin/tickets?q={email}")).await;
        assert!(found.contains("Zebedee Quux"), "search by email finds the ticket in memory");
        app.post_form(&format!("/admin/tickets/{id}/reply"), &[("body", "Thanks Zebedee")]).await;
        app.drain_outbox().await;

        let secrets = [email, "QWERTY-99871", "Zebedee", "7946 0958", "442079460958"];
        let dump = raw_database(&app, &backend).await;
        for secret in secrets {
            assert!(!dump.contains(secret), "{secret} stored in plaintext");
            assert!(!dump.contains(&hex::encode(secret)), "{secret} stored as plain bytes");
        }
        assert!(dump.contains("OC-"), "the dump is readable: references are in the clear");
    }

    async fn erasure_removes_the_tickets_that_export_showed(backend) {
        let app = TestApp::spawn(backend).await;
        submit_ok(&app, "ida@example.com").await;
        submit_ok(&app, "other@example.com").await;
        app.drain_outbox().await;
        let path = conversation_path(&app, &app.mails()[0]);
        let state = &app.state;
        let subject = subjects::find(&state.db, &state.keyring, "ida@example.com").await.unwrap().unwrap();
        let export = erasure::export(&state.db, &state.registry.inventory, &subject).await.unwrap();
        let json = serde_json::to_string(&export.iter().map(|t| (t.table, &t.rows)).collect::<Vec<_>>()).unwrap();
        for expected in ["\"tickets\"", "\"ticket_messages\"", "ida@example.com", "Outlook keeps asking", "every ten minutes", "+14155552671"] {
            assert!(json.contains(expected), "export lacks {expected}");
        }
        let mut tx = state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE subject_id = $1").bind(subject.id).fetch_one(&state.db.pool).await.unwrap();
        assert_eq!(left, 0);
        assert_eq!(count(&app, "tickets").await, 1, "someone else's ticket stays");
        assert_eq!(count(&app, "ticket_messages").await, 1);
        let r = client().get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "the conversation is gone");
    }

    async fn staff_filter_search_and_sort_the_inbox_and_every_view_is_audited(backend) {
        let app = TestApp::spawn(backend).await;
        submit_ok(&app, "jo@example.com").await;
        let t = token(&app, 10);
        let mut fields = query(&t, "kim@example.com");
        fields.retain(|(k, _)| !matches!(*k, "product" | "product_other" | "subject" | "name"));
        fields.extend([("product", "other"), ("product_other", "FileMaker Pro"), ("subject", "Database will not open"), ("name", "Kim Lee")]);
        assert_eq!(app.post_form("/contact", &fields).await.status(), 303);

        let editor = app.staff_client("editor").await.client;
        assert_eq!(get_with(&app, &editor, "/admin/tickets").await.0, 403, "editors have no access");
        assert_eq!(app.get("/admin/tickets").await.status(), 303, "signed-out staff go to the login");

        let agent = app.login_as("agent").await;
        let (status, inbox) = app.get_text("/admin/tickets").await;
        assert_eq!(status, 200);
        assert!(inbox.contains("Database will not open") && inbox.contains("Outlook keeps asking"));
        assert!(inbox.contains("first response due in"), "SLA badge shown");
        let (_, only_other) = app.get_text("/admin/tickets?product=other").await;
        assert!(only_other.contains("FileMaker Pro (typed)") && !only_other.contains("Outlook keeps asking"));
        let (_, found) = app.get_text("/admin/tickets?q=kim+lee").await;
        assert!(found.contains("Database will not open") && !found.contains("Outlook keeps asking"));
        let ids = ticket_ids(&app).await;
        let reference = reference_of(&app, ids[0]).await;
        let (_, by_ref) = app.get_text(&format!("/admin/tickets?q={}", reference.to_lowercase())).await;
        assert!(by_ref.contains("Outlook keeps asking") && !by_ref.contains("Database will not open"));
        let (_, oldest) = app.get_text("/admin/tickets?sort=oldest").await;
        assert!(oldest.find("Outlook keeps asking").unwrap() < oldest.find("Database will not open").unwrap());
        let (_, newest) = app.get_text("/admin/tickets").await;
        assert!(newest.find("Database will not open").unwrap() < newest.find("Outlook keeps asking").unwrap());

        assert_eq!(app.post_form(&format!("/admin/tickets/{}/status", ids[0]), &[("status", "solved")]).await.status(), 303);
        let (_, active) = app.get_text("/admin/tickets").await;
        assert!(!active.contains("Outlook keeps asking"), "solved tickets leave the active view");
        let (_, solved) = app.get_text("/admin/tickets?status=solved").await;
        assert!(solved.contains("Outlook keeps asking"));

        assert_eq!(app.post_form(&format!("/admin/tickets/{}/assign", ids[1]), &[("assignee", "me")]).await.status(), 303);
        let (_, mine) = app.get_text("/admin/tickets?assignee=me").await;
        assert!(mine.contains("Database will not open"));
        let (_, nobody) = app.get_text("/admin/tickets?assignee=none&status=all").await;
        assert!(!nobody.contains("Database will not open") && nobody.contains("Outlook keeps asking"));
        assert_eq!(app.post_form(&format!("/admin/tickets/{}/assign", ids[1]), &[("assignee", "99999")]).await.status(), 422);

        app.get_text(&format!("/admin/tickets/{}", ids[1])).await;
        let admin = app.staff_client("admin").await.client;
        let (_, audit) = get_with(&app, &admin, "/admin/audit?q=ticket").await;
        for action in ["list-tickets", "view-ticket", "status", "assign"] {
            assert!(audit.contains(action), "audit lacks {action}");
        }
        assert!(audit.contains(&agent));
        assert!(!audit.contains("kim lee"), "search text is not logged");
    }

    async fn duplicates_from_one_person_merge_into_one_conversation(backend) {
        let app = TestApp::spawn(backend).await;
        submit_ok(&app, "lou@example.com").await;
        submit_ok(&app, "lou@example.com").await;
        submit_ok(&app, "max@example.com").await;
        app.drain_outbox().await;
        let second_link = conversation_path(&app, &app.mails()[1]);
        app.login_as("agent").await;
        let ids = ticket_ids(&app).await;
        let r = app.post_form(&format!("/admin/tickets/{}/merge", ids[1]), &[("into", &reference_of(&app, ids[2]).await)]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Only duplicates from the same email address"));
        let r = app.post_form(&format!("/admin/tickets/{}/merge", ids[1]), &[("into", "OC-1999-000001")]).await;
        assert_eq!(r.status(), 422);

        let r = app.post_form(&format!("/admin/tickets/{}/merge", ids[1]), &[("into", &reference_of(&app, ids[0]).await)]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], format!("/admin/tickets/{}", ids[0]).as_str());
        let moved: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ticket_messages WHERE ticket_id = $1").bind(ids[0]).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(moved, 2);
        let (_, inbox) = app.get_text("/admin/tickets?status=all").await;
        assert!(!inbox.contains(&reference_of(&app, ids[1]).await), "the duplicate leaves the inbox");
        let r = client().get(app.url(&second_link)).send().await.unwrap();
        assert_eq!(r.status(), 303, "the duplicate's link leads to the merged conversation");
    }

    async fn canned_replies_fill_the_reply_without_javascript(backend) {
        let app = TestApp::spawn(backend).await;
        submit_ok(&app, "ned@example.com").await;
        app.login_as("agent").await;
        let r = app.post_form("/admin/tickets/canned", &[("title", "Password reset"), ("body", "Hello {name}, about {reference}: please reset your password. {agent}")]).await;
        assert_eq!(r.status(), 303);
        let r = app.post_form("/admin/tickets/canned", &[("title", ""), ("body", "")]).await;
        assert_eq!(r.status(), 422);
        let canned: i64 = sqlx::query_scalar("SELECT id FROM support_canned_replies").fetch_one(&app.state.db.pool).await.unwrap();
        let id = ticket_ids(&app).await[0];
        let (_, page) = app.get_text(&format!("/admin/tickets/{id}?canned={canned}")).await;
        assert!(page.contains("Hello Ann Example, about OC-"), "{page}");
        assert!(page.contains("please reset your password. Agent "), "the agent's name, not their address");
    }

    async fn admins_tune_the_helpdesk_settings(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        let (status, page) = app.get_text("/admin/tickets/settings").await;
        assert_eq!(status, 200);
        assert!(page.contains("value=\"20\"") && page.contains("value=\"240\""), "Zammad's defaults");
        let r = app.post_form("/admin/tickets/settings", &[("per_ip_hour", "0"), ("business_hours", "9-17")]).await;
        assert_eq!(r.status(), 422);
        let r = app.post_form("/admin/tickets/settings", &[("per_ip_hour", "5"), ("products", "Word\nExcel")]).await;
        assert_eq!(r.status(), 200);
        let (_, form) = app.get_text("/contact").await;
        assert!(form.contains(">Excel</option>") && !form.contains("Microsoft 365"));
    }
}

/// Every stored byte of the database as text: the SQLite files, or every
/// row of every table of ours on PostgreSQL (bytea shown as hex).
async fn raw_database(app: &TestApp, backend: &Backend) -> String {
    match backend {
        Backend::Sqlite => {
            let mut dump = String::new();
            for file in ["officecomms.db", "officecomms.db-wal"] {
                if let Ok(bytes) = std::fs::read(app.dir.path().join(file)) {
                    dump.push_str(&String::from_utf8_lossy(&bytes));
                    dump.push_str(&hex::encode(&bytes));
                }
            }
            dump
        }
        Backend::Postgres(_) => {
            let mut dump = String::new();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
            for table in tables {
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT t::text FROM \"{table}\" t"
                )))
                .fetch_all(&app.state.db.pool)
                .await
                .unwrap();
                dump.push_str(&rows.join("\n"));
            }
            dump
        }
    }
}

/// A person fills in the form in a real browser, attaching a file.
async fn contact_form_in_a_browser(javascript: bool) {
    use crate::browser::{click, type_into};
    use fantoccini::Locator;
    let Some(browser) = crate::browser::Browser::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    // A robot check measured in seconds would only slow the test down.
    set(&app, "support.min_fill_secs", "0").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("error.txt");
    std::fs::write(&file, "0x80070005 access denied\n").unwrap();
    let c = &browser.client;
    c.goto(&app.url("/contact")).await.unwrap();
    for (id, value) in [
        ("name", "Pat Browser"),
        ("email", "pat@example.com"),
        ("subject", "Printer offline"),
        (
            "details",
            "The office printer shows offline since the update.",
        ),
        ("birth_year", "1979"),
    ] {
        type_into(c, Locator::Id(id), value).await;
    }
    c.find(Locator::Id("product"))
        .await
        .unwrap()
        .select_by_value("Printers and scanners")
        .await
        .unwrap();
    type_into(c, Locator::Id("attachments"), file.to_str().unwrap()).await;
    click(c, Locator::Css("#contact-form button[type=submit]")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !c
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/contact/received/")
    {
        assert!(std::time::Instant::now() < deadline, "no reference page");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reference = c
        .find(Locator::Id("reference"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reference.starts_with("OC-"), "{reference}");
    let stored: String = sqlx::query_scalar("SELECT reference FROM tickets")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, reference);
    assert_eq!(
        count(&app, "ticket_attachments").await,
        1,
        "the file came along"
    );
    browser.close().await;
}

#[tokio::test]
async fn the_contact_form_works_in_a_browser_with_javascript_off() {
    contact_form_in_a_browser(false).await;
}

#[tokio::test]
async fn the_contact_form_works_in_a_browser_with_javascript_on() {
    contact_form_in_a_browser(true).await;
}
