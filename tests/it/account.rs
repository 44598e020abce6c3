//! A visitor's account (sign-in by mailed link, their requests, chats,
//! orders, subscription, survey answers, sessions) and the satisfaction
//! rating asked when a ticket is solved. Mail goes through a real SMTP
//! server on loopback.

use crate::{both, helpers::*};
use officecomms::{
    newsletter::subscribers,
    platform::now_ms,
    privacy::{self, subjects},
    support::intake,
};

pub const ANN: &str = "ann.account@example.com";
pub const BEN: &str = "ben.account@example.com";
pub const ANN_TITLE: &str = "Outlook keeps asking for my password";

/// The app with its mail going to a real SMTP server, or `None` (the test
/// is skipped) when aiosmtpd is missing outside CI.
pub async fn app_with_smtp(backend: Backend) -> Option<(TestApp, SmtpServer)> {
    let smtp = SmtpServer::start()?;
    let url = smtp.url();
    let app = TestApp::spawn_with(backend, move |c| c.smtp_url = Some(url)).await;
    Some((app, smtp))
}

/// A browser of its own (cookies kept, redirects not followed).
pub fn browser() -> reqwest::Client {
    client()
}

pub async fn get(app: &TestApp, c: &reqwest::Client, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts a form from `c` with the CSRF token its cookie holds.
pub async fn post(
    app: &TestApp,
    c: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = c.get(app.url("/account")).send().await.unwrap();
    let csrf = extract_csrf(&page.text().await.unwrap());
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    c.post(app.url(path)).form(&all).send().await.unwrap()
}

/// Mails the SMTP server received so far, parsed.
pub fn received(smtp: &SmtpServer) -> Vec<Mail> {
    smtp.messages().iter().map(|m| Mail::parse(m)).collect()
}

/// Waits for the outbox, then the received mails to `to` whose subject has `about`.
pub async fn mails_to(app: &TestApp, smtp: &SmtpServer, to: &str, about: &str) -> Vec<Mail> {
    app.drain_outbox().await;
    // Delivery is done once the outbox is empty; the sink writes at once.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    received(smtp)
        .into_iter()
        .filter(|m| m.to == to && m.subject.contains(about))
        .collect()
}

/// Sends a support request from `c` as `email` (the contact form, with a
/// form shown 10 s ago); its reference.
pub async fn send_request(app: &TestApp, c: &reqwest::Client, email: &str, title: &str) -> String {
    let token = intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let mut fields = crate::support::query(&token, email);
    for f in fields.iter_mut() {
        if f.0 == "subject" {
            f.1 = title;
        }
    }
    let r = post(app, c, "/contact", &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM tickets")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT reference FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// Asks for a sign-in link for `email` and returns it (from the mail).
pub async fn sign_in_link(app: &TestApp, smtp: &SmtpServer, email: &str) -> String {
    let prefix = format!("{}/account/sign-in/", app.base);
    let before: Vec<String> = mails_to(app, smtp, email, "sign-in link")
        .await
        .iter()
        .map(|m| m.link(&prefix))
        .collect();
    let c = browser();
    let r = post(app, &c, "/account", &[("email", email)]).await;
    assert_eq!(r.status(), 200);
    let mails = mails_to(app, smtp, email, "sign-in link").await;
    assert_eq!(mails.len(), before.len() + 1, "one sign-in mail");
    // The sink's file names do not sort by arrival within a second: the
    // new link is the one not seen before.
    mails
        .iter()
        .map(|m| m.link(&prefix))
        .find(|link| !before.contains(link))
        .expect("a new sign-in link")
}

/// Signs `c` in as `email` (link from the mail, then the button).
pub async fn sign_in(app: &TestApp, smtp: &SmtpServer, c: &reqwest::Client, email: &str) {
    let link = sign_in_link(app, smtp, email).await;
    let page = c.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = extract_csrf(&page.text().await.unwrap());
    let r = c
        .post(&link)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/account?done=signed-in");
}

/// Signs `c` in as `email` with the link mailed as a file to the data dir
/// (no SMTP server needed): the link, then the button.
pub async fn sign_in_by_file(app: &TestApp, c: &reqwest::Client, email: &str) {
    let prefix = format!("{}/account/sign-in/", app.base);
    let links = || -> Vec<String> {
        app.mails()
            .into_iter()
            .filter(|m| m.to == email && m.text.contains(&prefix))
            .map(|m| m.link(&prefix))
            .collect()
    };
    app.drain_outbox().await;
    let before = links();
    let r = post(app, &browser(), "/account", &[("email", email)]).await;
    assert_eq!(r.status(), 200);
    app.drain_outbox().await;
    let link = links()
        .into_iter()
        .find(|l| !before.contains(l))
        .expect("a new sign-in link");
    let page = c.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = extract_csrf(&page.text().await.unwrap());
    let r = c
        .post(&link)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/account?done=signed-in");
}

/// A chat of `email`'s, its address confirmed, with one message each way.
pub async fn confirmed_chat(app: &TestApp, email: &str, text: &str) -> i64 {
    let state = &app.state;
    let mut tx = state.db.begin().await.unwrap();
    let subject = subjects::find_or_create(&mut tx, &state.keyring, email)
        .await
        .unwrap();
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO chat_conversations (subject_id, created_at, updated_at, status, name, email, last_seq, email_verified_at) \
         VALUES ($1, $2, $2, 'closed', $3, $4, 2, $2) RETURNING id",
    )
    .bind(subject.id)
    .bind(now)
    .bind(subject.seal("chat_conversations", "name", "Ann"))
    .bind(subject.seal("chat_conversations", "email", email))
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    for (seq, sender, body) in [
        (1, "visitor", text),
        (2, "agent", "Happy to help with that."),
    ] {
        sqlx::query(
            "INSERT INTO chat_messages (conversation_id, subject_id, seq, sender, created_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(subject.id)
        .bind(seq)
        .bind(sender)
        .bind(now)
        .bind(subject.seal("chat_messages", "body", body))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    id
}

/// A survey answer of `email`'s to the demo survey (its first question).
pub async fn survey_answer(app: &TestApp, email: &str, text: &str) {
    let state = &app.state;
    let mut tx = state.db.begin().await.unwrap();
    let subject = subjects::find_or_create(&mut tx, &state.keyring, email)
        .await
        .unwrap();
    let (survey, question): (i64, i64) = sqlx::query_as(
        "SELECT s.id, q.id FROM surveys s JOIN survey_questions q ON q.survey_id = s.id \
         WHERE q.kind IN ('short', 'long') ORDER BY q.position LIMIT 1",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let response: i64 = sqlx::query_scalar(
        "INSERT INTO survey_responses (survey_id, submitted_at, marker, subject_id) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(survey)
    .bind(now_ms())
    .bind(format!("test-{email}"))
    .bind(subject.id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO survey_answers (response_id, question_id, subject_id, text_value) VALUES ($1, $2, $3, $4)",
    )
    .bind(response)
    .bind(question)
    .bind(subject.id)
    .bind(subject.seal("survey_answers", "text_value", text))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Orders the first service from `c` (cart, then checkout); the reference.
pub async fn order(app: &TestApp, c: &reqwest::Client, email: &str) -> String {
    let services = officecomms::shop::db::active_services(&app.state.db)
        .await
        .unwrap();
    let id = services[0].id.to_string();
    let r = post(
        app,
        c,
        "/cart",
        &[("action", "add"), ("service", &id), ("quantity", "1")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, page) = get(app, c, "/checkout").await;
    let marker = "name=\"idempotency_key\" value=\"";
    let start = page.find(marker).expect("checkout form") + marker.len();
    let key = page[start..start + page[start..].find('"').unwrap()].to_string();
    let r = post(
        app,
        c,
        "/checkout",
        &[
            ("name", "Ann Account"),
            ("email", email),
            ("phone", ""),
            ("company", ""),
            ("notes", "Ann's order notes"),
            ("birth_year", "1980"),
            ("idempotency_key", &key),
        ],
    )
    .await;
    assert!(
        r.status().is_redirection() || r.status() == 200,
        "{}",
        r.status()
    );
    sqlx::query_scalar("SELECT reference FROM orders ORDER BY id DESC LIMIT 1")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

both! {
    async fn a_sign_in_link_works_once_in_the_first_browser_and_only_by_its_button(backend) {
        let Some((app, smtp)) = app_with_smtp(backend).await else { return };
        let ann = browser();
        send_request(&app, &ann, ANN, ANN_TITLE).await;

        // Unknown and known addresses get the same answer; only the known one a mail.
        let before = { app.drain_outbox().await; received(&smtp).len() };
        let unknown = post(&app, &browser(), "/account", &[("email", "nobody@example.com")]).await;
        assert_eq!(unknown.status(), 200);
        let unknown = unknown.text().await.unwrap();
        assert!(unknown.contains("If nobody@example.com is an address we know"), "{unknown}");
        app.drain_outbox().await;
        assert_eq!(received(&smtp).len(), before, "no mail to an unknown address");
        let known = post(&app, &browser(), "/account", &[("email", ANN)]).await.text().await.unwrap();
        let strip = |s: &str, e: &str| s.replace(e, "EMAIL").replace(&extract_csrf(s), "");
        assert_eq!(strip(&unknown, "nobody@example.com"), strip(&known, ANN));
        let mail = mails_to(&app, &smtp, ANN, "sign-in link").await.pop().expect("a sign-in mail");
        assert!(mail.text.contains("The link works once, for 60 minutes"), "{}", mail.text);
        let link = mail.link(&format!("{}/account/sign-in/", app.base));

        // Bad input: not an address, a forged token, no CSRF token.
        let r = post(&app, &browser(), "/account", &[("email", "not an address")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("value=\"not an address\""));
        let (status, page) = get(&app, &browser(), "/account/sign-in/forged-token").await;
        assert_eq!(status, 404);
        assert!(page.contains("not one of ours"));
        let r = browser().post(app.url("/account")).form(&[("email", ANN)]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().to_lowercase().contains("form"), "a clear message");

        // Opening the link (GET, as a mail scanner does) signs no one in.
        let first = browser();
        let r = first.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let page = r.text().await.unwrap();
        assert!(page.contains("You are signing in as <strong>ann.account@example.com</strong>"));
        assert_eq!(count(&app, "SELECT COUNT(*) FROM account_sessions").await, 0);
        let (_, overview) = get(&app, &first, "/account").await;
        assert!(overview.contains("Email me a sign-in link"), "still signed out");

        // A second browser is refused, before and after the first signs in.
        let (status, page) = get(&app, &browser(), link.trim_start_matches(&app.base)).await;
        assert_eq!(status, 410);
        assert!(page.contains("opened in another browser first"));

        // The button signs in, with a cookie that is HttpOnly, Lax, site-wide, 30 days.
        let csrf = extract_csrf(&page_of(&app, &first, &link).await);
        let r = first.post(&link).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let cookie = r.headers().get_all("set-cookie").iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("oc_account="))
            .expect("session cookie")
            .to_string();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
        let token = cookie.trim_start_matches("oc_account=").split(';').next().unwrap().to_string();
        let stored: String = sqlx::query_scalar("SELECT token_hash FROM account_sessions")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_ne!(stored, token, "the token is stored hashed");
        assert_eq!(stored, officecomms::platform::token_hash(&token));
        let (_, overview) = get(&app, &first, "/account?done=signed-in").await;
        assert!(overview.contains("Signed in as <strong>ann.account@example.com</strong>"), "{overview}");
        assert!(overview.contains(ANN_TITLE));

        // Single use: the same link again, even in the same browser.
        let (status, page) = get(&app, &first, link.trim_start_matches(&app.base)).await;
        assert_eq!(status, 410);
        assert!(page.contains("already used"));
        let r = first.post(&link).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 410);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM account_sessions").await, 1);

        // An expired link is refused.
        let late = sign_in_link(&app, &smtp, ANN).await;
        sqlx::query("UPDATE account_links SET expires_at = $1 WHERE used_at IS NULL")
            .bind(now_ms() - 1).execute(&app.state.db.pool).await.unwrap();
        let (status, page) = get(&app, &browser(), late.trim_start_matches(&app.base)).await;
        assert_eq!(status, 410);
        assert!(page.contains("expired"));

        // A tampered or unknown cookie is simply no session: the sign-in page, not an error.
        let r = browser().get(app.url("/account")).header("cookie", format!("oc_account={token}x")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("Email me a sign-in link"));
        let r = browser().get(app.url("/account/tickets/OC-2026-000001")).header("cookie", "oc_account=%00%ff;").send().await.unwrap();
        assert_eq!(r.status(), 303, "signed out: back to the sign-in page");

        // The policy names the cookie as strictly necessary, and the session's fields.
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains("oc_account"), "the policy lists the session cookie");
        assert!(policy.contains("the kind of browser a session of your account is in"));
    }

    async fn under_https_the_session_cookie_is_host_only_and_secure(backend) {
        let app = TestApp::spawn_with(backend, |c| c.base_url = "https://officecomms.test/".parse().unwrap()).await;
        let state: &officecomms::platform::Platform = &app.state;
        app.mail_person(ANN, "Hello", "hello").await;
        let email = ANN.parse().unwrap();
        privacy::account::request_link(state, &email).await.unwrap().expect("a link for a known address");
        // Read the link from the outbox mail (sealed under Ann's key).
        app.drain_outbox().await;
        let mail = app.mails().into_iter().find(|m| m.subject.contains("sign-in")).expect("sign-in mail");
        let link = mail.link("https://officecomms.test/account/sign-in/");
        let token = link.rsplit('/').next().unwrap();
        let opened = privacy::account::open_link(state, &Default::default(), token).await.unwrap().expect("a good link");
        let claim = opened.set_cookie.clone().expect("claim cookie");
        assert!(claim.contains("Secure") && claim.contains("HttpOnly"));
        let cookie = privacy::account::sign_in(state, &opened, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
            .await.unwrap().expect("signed in");
        assert!(cookie.starts_with("__Host-oc_account="), "{cookie}");
        for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        assert!(!cookie.contains("Domain"), "host-only");
        // The device label is kept sealed, and only as a family.
        let device: Vec<u8> = sqlx::query_scalar("SELECT device FROM account_sessions")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert!(!String::from_utf8_lossy(&device).contains("Firefox"), "sealed at rest");
    }

    async fn an_account_shows_its_own_requests_chats_orders_newsletter_and_surveys_and_nothing_of_another(backend) {
        let Some((app, smtp)) = app_with_smtp(backend).await else { return };
        let ann = browser();
        let ann_ref = send_request(&app, &ann, ANN, ANN_TITLE).await;
        let ann_order = order(&app, &ann, ANN).await;
        let ann_chat = confirmed_chat(&app, ANN, "My scanner shows error 5").await;
        survey_answer(&app, ANN, "Faster answers on Fridays").await;
        subscribers::import_rows(&app.state, &[subscribers::ImportRow {
            line: 2, email: ANN.into(), name: String::new(), topics: "tips".into(),
        }], "test sheet").await.unwrap();
        // A chat someone started with Ann's address but never confirmed is not hers to read.
        let unconfirmed = confirmed_chat(&app, ANN, "A stranger typed Ann's address").await;
        sqlx::query("UPDATE chat_conversations SET email_verified_at = NULL WHERE id = $1")
            .bind(unconfirmed).execute(&app.state.db.pool).await.unwrap();

        let ben = browser();
        let ben_ref = send_request(&app, &ben, BEN, "Ben's printer is offline").await;
        let ben_order = order(&app, &ben, BEN).await;
        sign_in(&app, &smtp, &ann, ANN).await;
        sign_in(&app, &smtp, &ben, BEN).await;

        let (status, overview) = get(&app, &ann, "/account").await;
        assert_eq!(status, 200);
        for own in [ann_ref.as_str(), ANN_TITLE, ann_order.as_str(), "Faster answers on Fridays", "Change topics or unsubscribe", "/cookies"] {
            assert!(overview.contains(own), "Ann's overview lacks {own}");
        }
        assert!(overview.contains(&format!("/account/chats/{ann_chat}")));
        assert!(!overview.contains(&format!("/account/chats/{unconfirmed}")), "an unconfirmed chat is not listed");
        for other in [ben_ref.as_str(), "Ben's printer", ben_order.as_str()] {
            assert!(!overview.contains(other), "Ann's overview shows Ben's {other}");
        }
        let (status, ticket) = get(&app, &ann, &format!("/account/tickets/{ann_ref}")).await;
        assert_eq!(status, 200);
        assert!(ticket.contains("Since Monday Outlook asks for my password"));
        let (status, chat) = get(&app, &ann, &format!("/account/chats/{ann_chat}")).await;
        assert_eq!(status, 200);
        assert!(chat.contains("My scanner shows error 5") && chat.contains("Happy to help with that."));
        let (status, page) = get(&app, &ann, &format!("/account/orders/{ann_order}")).await;
        assert_eq!(status, 200);
        assert!(page.contains("Ann&#39;s order notes") || page.contains("Ann's order notes"), "{page}");

        // Ben reaches none of Ann's by reference or id: 404, with nothing of hers.
        for path in [
            format!("/account/tickets/{ann_ref}"),
            format!("/account/tickets/{}", ann_ref.to_lowercase()),
            format!("/account/orders/{ann_order}"),
            format!("/account/chats/{ann_chat}"),
            format!("/account/chats/{unconfirmed}"),
            "/account/chats/not-a-number".to_string(),
            "/account/tickets/OC-9999-999999".to_string(),
        ] {
            let (status, page) = get(&app, &ben, &path).await;
            assert_eq!(status, 404, "{path}");
            for secret in [ANN_TITLE, "Since Monday", "My scanner", "Ann's order", ANN] {
                assert!(!page.contains(secret), "{path} shows {secret}");
            }
        }
        let r = post(&app, &ben, &format!("/account/tickets/{ann_ref}"), &[("body", "Ben writing into Ann's ticket")]).await;
        assert_eq!(r.status(), 404);
        let (_, overview) = get(&app, &ben, "/account").await;
        assert!(overview.contains(&ben_ref) && !overview.contains(&ann_ref));
        // Ann's my-data, opened from her account, is hers.
        let r = post(&app, &ann, "/account/my-data", &[("what", "see")]).await;
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.starts_with("/my-data/"));
        let (status, page) = get(&app, &ann, &to).await;
        assert_eq!(status, 200);
        assert!(page.contains(ANN_TITLE));
        let r = post(&app, &ann, "/account/my-data", &[("what", "everything-now")]).await;
        assert_eq!(r.status(), 422);
    }

    async fn an_answer_from_the_account_lands_on_the_ticket_and_new_requests_and_orders_are_the_accounts(backend) {
        let Some((app, smtp)) = app_with_smtp(backend).await else { return };
        let ann = browser();
        let reference = send_request(&app, &ann, ANN, ANN_TITLE).await;
        sqlx::query("UPDATE tickets SET status = 'pending'").execute(&app.state.db.pool).await.unwrap();
        sign_in(&app, &smtp, &ann, ANN).await;

        let path = format!("/account/tickets/{reference}");
        let r = post(&app, &ann, &path, &[("body", "   ")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Please write your answer first."));
        let r = post(&app, &ann, &path, &[("body", "It still happens after the update.")]).await;
        assert_eq!(r.status(), 303);
        let (_, page) = get(&app, &ann, &format!("{path}?sent=1")).await;
        assert!(page.contains("Your answer was sent") && page.contains("It still happens after the update."));
        let (kind, status): (String, String) = sqlx::query_as(
            "SELECT m.kind, t.status FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id ORDER BY m.id DESC LIMIT 1")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!((kind.as_str(), status.as_str()), ("visitor", "open"), "the requester's message, back to the agents");
        let staff = app.staff_client("agent").await;
        let id: i64 = sqlx::query_scalar("SELECT id FROM tickets").fetch_one(&app.state.db.pool).await.unwrap();
        let page = staff.client.get(app.url(&format!("/admin/tickets/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("It still happens after the update."));

        // Signed in, the contact form has the account's address, fixed; a typed one is ignored.
        let (_, form) = get(&app, &ann, "/contact").await;
        assert!(form.contains(&format!("value=\"{ANN}\" readonly")), "{form}");
        let new_ref = send_request(&app, &ann, "someone.else@example.com", "A second question").await;
        let (_, overview) = get(&app, &ann, "/account").await;
        assert!(overview.contains(&new_ref) && overview.contains("A second question"));
        let owners: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT subject_id) FROM tickets")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(owners, 1, "both requests are Ann's");
        let subject = subjects::find(&app.state.db, &app.state.keyring, "someone.else@example.com").await.unwrap();
        assert!(subject.is_none(), "nothing kept about the typed address");

        let (_, checkout_form) = { order(&app, &ann, "someone.else@example.com").await; get(&app, &ann, "/account").await };
        let order_ref: String = sqlx::query_scalar("SELECT reference FROM orders").fetch_one(&app.state.db.pool).await.unwrap();
        assert!(checkout_form.contains(&order_ref), "the order is in Ann's account");
    }

    async fn sessions_are_listed_ended_one_by_one_or_everywhere_and_by_erasure(backend) {
        let Some((app, smtp)) = app_with_smtp(backend).await else { return };
        let (first, second) = (browser(), browser());
        send_request(&app, &first, ANN, ANN_TITLE).await;
        sign_in(&app, &smtp, &first, ANN).await;
        let link = sign_in_link(&app, &smtp, ANN).await;
        let page = second.get(&link).header("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1").send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&page);
        let r = second.post(&link).header("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
            .form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);

        let (_, sessions) = get(&app, &first, "/account/sessions").await;
        assert!(sessions.contains("Safari on iPhone"), "{sessions}");
        assert_eq!(sessions.matches("<li class=\"session").count(), 2);
        assert_eq!(sessions.matches("This browser").count(), 1);
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM account_sessions ORDER BY id")
            .fetch_all(&app.state.db.pool).await.unwrap();
        let (mine, other) = (ids[0], ids[1]);

        // Someone else's session cannot be ended from here.
        let ben = browser();
        send_request(&app, &ben, BEN, "Ben's question").await;
        sign_in(&app, &smtp, &ben, BEN).await;
        let r = post(&app, &ben, &format!("/account/sessions/{other}/end"), &[]).await;
        assert_eq!(r.status(), 404);
        let (_, still) = get(&app, &second, "/account").await;
        assert!(still.contains("Signed in as"));

        // Ending the other session signs that browser out at once.
        let r = post(&app, &first, &format!("/account/sessions/{other}/end"), &[]).await;
        assert_eq!(r.status(), 303);
        let (_, page) = get(&app, &second, "/account").await;
        assert!(page.contains("Email me a sign-in link"), "the ended session is gone");
        let (_, page) = get(&app, &first, "/account/sessions?done=ended").await;
        assert!(page.contains("That session is ended") && !page.contains("Safari on iPhone"));
        assert_eq!(mine, ids[0]);

        // Sign out everywhere ends this one too, and clears the cookie.
        sign_in(&app, &smtp, &second, ANN).await;
        let r = post(&app, &first, "/account/sign-out-everywhere", &[]).await;
        assert_eq!(r.status(), 303);
        assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
        for c in [&first, &second] {
            let (_, page) = get(&app, c, "/account").await;
            assert!(page.contains("Email me a sign-in link"));
        }
        let ann_id = subjects::find(&app.state.db, &app.state.keyring, ANN).await.unwrap().unwrap().id;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM account_sessions WHERE subject_id = $1")
            .bind(ann_id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(left, 0, "none of Ann's sessions is left");

        // Erasing the person ends their sessions.
        sign_in(&app, &smtp, &first, ANN).await;
        let r = post(&app, &first, "/account/my-data", &[("what", "erase")]).await;
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.ends_with("/delete"));
        let (status, _) = get(&app, &first, &to).await;
        assert_eq!(status, 200);
        let r = post(&app, &first, &to, &[("confirm", "yes")]).await;
        assert_eq!(r.status(), 200);
        let (_, page) = get(&app, &first, "/account").await;
        assert!(page.contains("Email me a sign-in link"), "erased: signed out");
        let ann_sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM account_sessions").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(ann_sessions, 1, "only Ben's session is left after Ann's erasure");
    }
}

/// The page at `url` as `c` sees it.
async fn page_of(_app: &TestApp, c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

// --- Satisfaction ratings ---------------------------------------------------

pub async fn ticket_id(app: &TestApp, reference: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM tickets WHERE reference = $1")
        .bind(reference)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

pub async fn set_status(app: &TestApp, staff: &StaffClient, id: i64, status: &str) {
    let page = staff
        .client
        .get(app.url(&format!("/admin/tickets/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = extract_csrf(&page);
    let r = staff
        .client
        .post(app.url(&format!("/admin/tickets/{id}/status")))
        .form(&[("csrf", csrf.as_str()), ("status", status)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

pub async fn rating_of(app: &TestApp, id: i64) -> Option<i64> {
    sqlx::query_scalar("SELECT rating FROM csat_ratings WHERE ticket_id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

both! {
    async fn solving_a_ticket_mails_one_rating_request_whose_links_record_nothing_until_the_button(backend) {
        let Some((app, smtp)) = app_with_smtp(backend).await else { return };
        let ann = browser();
        let reference = send_request(&app, &ann, ANN, ANN_TITLE).await;
        let id = ticket_id(&app, &reference).await;
        let agent = app.staff_client("agent").await;
        set_status(&app, &agent, id, "solved").await;
        let mails = mails_to(&app, &smtp, ANN, "How did we do?").await;
        assert_eq!(mails.len(), 1, "one rating request");
        let mail = &mails[0];
        assert!(mail.subject.contains(&reference));
        let links: Vec<String> = (1..=5)
            .map(|n| {
                let at = mail.text.find(&format!("?score={n}")).unwrap_or_else(|| panic!("no link {n}: {}", mail.text));
                let start = mail.text[..at].rfind("http").unwrap();
                mail.text[start..at + 8].to_string()
            })
            .collect();
        assert_eq!(links.len(), 5);
        assert!(links.iter().all(|l| l.starts_with(&format!("{}/csat/", app.base))));
        assert!(mail.html.matches("?score=").count() >= 5);

        // Opening a link (as a mail scanner does) shows the choice and records nothing.
        let path = links[3].trim_start_matches(&app.base).to_string();
        let (status, page) = get(&app, &browser(), &path).await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"score-4\" name=\"score\" value=\"4\" checked"), "{page}");
        assert!(page.contains("Send rating"));
        assert_eq!(rating_of(&app, id).await, None, "a GET records nothing");

        // The button records; a second POST replaces it (one rating per ticket).
        let token_path = path.split('?').next().unwrap().to_string();
        let rater = browser();
        let r = post(&app, &rater, &token_path, &[("score", "9"), ("comment", "")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Please choose a rating from 1 to 5."));
        assert_eq!(rating_of(&app, id).await, None);
        let r = post(&app, &rater, &token_path, &[("score", "4"), ("comment", "Quick and kind, thank you")]).await;
        assert_eq!(r.status(), 303);
        let (_, thanks) = get(&app, &rater, r.headers()["location"].to_str().unwrap()).await;
        assert!(thanks.contains("Thank you") && thanks.contains("4 of 5"));
        assert_eq!(rating_of(&app, id).await, Some(4));
        let r = post(&app, &rater, &token_path, &[("score", "5"), ("comment", "Quick and kind, thank you")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM csat_ratings").await, 1);
        assert_eq!(rating_of(&app, id).await, Some(5));
        let comment: Vec<u8> = sqlx::query_scalar("SELECT comment FROM csat_ratings").fetch_one(&app.state.db.pool).await.unwrap();
        assert!(!String::from_utf8_lossy(&comment).contains("Quick and kind"), "the comment is sealed");

        // Hostile: a forged token, an expired one.
        let (status, _) = get(&app, &browser(), "/csat/forged?score=5").await;
        assert_eq!(status, 404);
        let r = post(&app, &browser(), "/csat/forged", &[("score", "5")]).await;
        assert_eq!(r.status(), 404);

        // Reopened and solved again (also by a reply that solves): no second request.
        set_status(&app, &agent, id, "open").await;
        set_status(&app, &agent, id, "solved").await;
        set_status(&app, &agent, id, "pending").await;
        let page = agent.client.get(app.url(&format!("/admin/tickets/{id}"))).send().await.unwrap().text().await.unwrap();
        let csrf = extract_csrf(&page);
        let r = agent.client.post(app.url(&format!("/admin/tickets/{id}/reply")))
            .form(&[("csrf", csrf.as_str()), ("body", "Solved again."), ("status", "solved")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(mails_to(&app, &smtp, ANN, "How did we do?").await.len(), 1, "at most one request per ticket, ever");

        // Staff see it: on the ticket, on the dashboard, in the CSV.
        assert!(page.contains("5/5") && page.contains("Very satisfied") && page.contains("Quick and kind, thank you"), "{page}");
        let dashboard = agent.client.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        assert!(dashboard.contains("Customer satisfaction"));
        assert!(dashboard.contains("100%") && dashboard.contains("average 5.0") && dashboard.contains("1 ratings of 1 asked"), "{dashboard}");
        let month = chrono::Utc::now().format("%B %Y").to_string();
        assert!(dashboard.contains(&month));
        let csv = agent.client.get(app.url("/admin/tickets/export.csv")).send().await.unwrap().text().await.unwrap();
        let header = csv.lines().next().unwrap();
        assert!(header.contains("satisfaction") && header.contains("satisfaction_comment"), "{header}");
        let line = csv.lines().find(|l| l.contains(&reference)).expect("the ticket's row");
        assert!(line.contains(",5,Very satisfied,Quick and kind, thank you") || line.contains(",5,Very satisfied,\"Quick and kind, thank you\""), "{line}");

        // The rating is the person's data: in their export, and erased with them.
        let export = officecomms::privacy::erasure::export(&app.state.db, &app.state.registry.inventory,
            &subjects::find(&app.state.db, &app.state.keyring, ANN).await.unwrap().unwrap()).await.unwrap();
        let csat = export.iter().find(|t| t.table == "csat_ratings").expect("ratings exported");
        assert_eq!(csat.rows[0]["comment"], "Quick and kind, thank you");
        let mut tx = app.state.db.begin().await.unwrap();
        let subject = subjects::find(&app.state.db, &app.state.keyring, ANN).await.unwrap().unwrap();
        officecomms::privacy::erasure::erase(&mut tx, &app.state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&app, "SELECT COUNT(*) FROM csat_ratings").await, 0);
        let (status, _) = get(&app, &rater, &token_path).await;
        assert_eq!(status, 404, "an erased person's link opens nothing");
    }

    async fn no_rating_request_to_suppressed_people_without_an_address_or_when_turned_off(backend) {
        let Some((app, smtp)) = app_with_smtp(backend).await else { return };
        let agent = app.staff_client("admin").await;
        // Suppressed (unsubscribed from all correspondence).
        let c = browser();
        let suppressed = send_request(&app, &c, BEN, "Ben's question").await;
        let mut tx = app.state.db.begin().await.unwrap();
        let index = app.state.keyring.blind_index("email", &subjects::normalise_email(BEN));
        officecomms::privacy::erasure::suppress_index(&mut tx, &index, "unsubscribed").await.unwrap();
        tx.commit().await.unwrap();
        set_status(&app, &agent, ticket_id(&app, &suppressed).await, "solved").await;
        assert!(mails_to(&app, &smtp, BEN, "How did we do?").await.is_empty());
        // A requester without an address (a ticket from another channel).
        let carl = "carl.noaddress@example.com";
        let reference = send_request(&app, &c, carl, "Carl's question").await;
        let subject = subjects::find(&app.state.db, &app.state.keyring, carl).await.unwrap().unwrap();
        sqlx::query("UPDATE tickets SET email = $1 WHERE reference = $2")
            .bind(subject.seal("tickets", "email", ""))
            .bind(&reference)
            .execute(&app.state.db.pool).await.unwrap();
        set_status(&app, &agent, ticket_id(&app, &reference).await, "solved").await;
        assert!(mails_to(&app, &smtp, carl, "How did we do?").await.is_empty());
        // Turned off in the helpdesk settings.
        let page = agent.client.get(app.url("/admin/tickets/settings")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Satisfaction ratings"));
        let mut fields: Vec<(String, String)> = officecomms::support::settings::FIELDS.iter()
            .map(|(k, _, _)| (k.to_string(), officecomms::support::settings::SupportSettings::default().with_configured(app.state.config.soft_bounce_limit).get(k))).collect();
        fields.retain(|(k, _)| k != "csat");
        fields.push(("csat".into(), "off".into()));
        fields.push(("csrf".into(), extract_csrf(&page)));
        let r = agent.client.post(app.url("/admin/tickets/settings")).form(&fields).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let off = send_request(&app, &c, ANN, ANN_TITLE).await;
        set_status(&app, &agent, ticket_id(&app, &off).await, "solved").await;
        assert!(mails_to(&app, &smtp, ANN, "How did we do?").await.is_empty());
        assert_eq!(count(&app, "SELECT COUNT(*) FROM csat_ratings").await, 0);
        let dashboard = agent.client.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        assert!(dashboard.contains("Satisfaction ratings are off"));
        // A nonsense setting is refused with a message.
        let mut bad = fields.clone();
        bad.retain(|(k, _)| k != "csat");
        bad.push(("csat".into(), "maybe".into()));
        let r = agent.client.post(app.url("/admin/tickets/settings")).form(&bad).send().await.unwrap();
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Please choose on or off."));
    }
}

// --- Times, cookie choices, ratings per agent --------------------------------

/// A moment as every visitor's page writes it: a `<time>` whose text is the
/// exact time in the company's zone (the demo's: Los Angeles), named, which
/// the browser's script may rewrite in the visitor's own zone.
fn moment(ms: i64) -> String {
    let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap();
    let local = utc.with_timezone(&officecomms::platform::settings::DEFAULT_TIME_ZONE);
    format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        utc.format("%Y-%m-%dT%H:%M:%SZ"),
        local.format("%-d %b %Y, %H:%M:%S %Z"),
        local.format("%-d %b %Y, %H:%M %Z"),
    )
}

async fn at(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// Ann's cookie choice from `c` on the cookie page: necessary and analytics.
async fn choose_analytics(app: &TestApp, c: &reqwest::Client) {
    let r = post(
        app,
        c,
        "/cookies",
        &[("choice", "save"), ("from", "page"), ("analytics", "on")],
    )
    .await;
    assert!(r.status().is_redirection(), "{}", r.status());
}

/// An agent whose name customers and the dashboard see.
async fn agent_named(app: &TestApp, name: &str) -> StaffClient {
    let agent = app.staff_client("agent").await;
    let page = agent
        .client
        .get(app.url("/admin/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = agent
        .client
        .post(app.url("/admin/account"))
        .form(&[
            ("csrf", extract_csrf(&page).as_str()),
            ("display_name", name),
            ("time_zone", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    agent
}

/// `agent` takes the ticket, solves it, and its requester rates it `score`.
async fn solved_and_rated(app: &TestApp, agent: &StaffClient, email: &str, score: &str) {
    let reference = send_request(app, &browser(), email, "Printer offline").await;
    let id = ticket_id(app, &reference).await;
    let page = agent
        .client
        .get(app.url(&format!("/admin/tickets/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = agent
        .client
        .post(app.url(&format!("/admin/tickets/{id}/assign")))
        .form(&[("csrf", extract_csrf(&page).as_str()), ("assignee", "me")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    set_status(app, agent, id, "solved").await;
    app.drain_outbox().await;
    let prefix = format!("{}/csat/", app.base);
    let link = app
        .mails()
        .into_iter()
        .find(|m| m.to == email && m.text.contains(&prefix))
        .expect("the rating request")
        .link(&prefix);
    let path = link
        .trim_start_matches(&app.base)
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let r = post(app, &browser(), &path, &[("score", score), ("comment", "")]).await;
    assert_eq!(r.status(), 303);
}

both! {
    async fn a_visitors_times_are_exact_in_the_companys_zone_named_and_marked_for_their_own(backend) {
        let app = TestApp::spawn(backend).await;
        let ann = browser();
        choose_analytics(&app, &ann).await;
        let reference = send_request(&app, &ann, ANN, ANN_TITLE).await;
        let order_ref = order(&app, &ann, ANN).await;
        let chat = confirmed_chat(&app, ANN, "My scanner shows error 5").await;
        sign_in_by_file(&app, &ann, ANN).await;
        let ticket_at = at(&app, "SELECT created_at FROM tickets").await;
        let message_at = at(&app, "SELECT MIN(created_at) FROM ticket_messages").await;
        let order_at = at(&app, "SELECT created_at FROM orders").await;
        let chat_at = at(&app, "SELECT created_at FROM chat_conversations").await;
        let session_at = at(&app, "SELECT created_at FROM account_sessions").await;
        let choice_at = at(&app, "SELECT created_at FROM consent_records").await;

        for (path, ms) in [
            (format!("/account/tickets/{reference}"), ticket_at),
            (format!("/account/tickets/{reference}"), message_at),
            (format!("/account/orders/{order_ref}"), order_at),
            (format!("/account/chats/{chat}"), chat_at),
            ("/account".to_string(), chat_at),
            ("/account".to_string(), choice_at),
            ("/account/sessions".to_string(), session_at),
            ("/cookies".to_string(), choice_at),
        ] {
            let (status, page) = get(&app, &ann, &path).await;
            assert_eq!(status, 200, "{path}");
            let want = moment(ms);
            assert!(want.ends_with(" PST</time>") || want.ends_with(" PDT</time>"));
            assert!(page.contains(&want), "{path} lacks {want}:\n{page}");
        }
        // No moment is left as bare text in UTC.
        for path in ["/account", "/cookies", "/privacy/versions"] {
            let (_, page) = get(&app, &ann, path).await;
            assert!(!page.contains(" UTC"), "{path} shows a time in UTC");
        }
        let (_, versions) = get(&app, &ann, "/privacy/versions").await;
        assert!(versions.contains("in effect from <time datetime=\"") && (versions.contains(" PST</time>") || versions.contains(" PDT</time>")), "{versions}");

        // The conversation page of the mailed link.
        app.drain_outbox().await;
        let prefix = format!("{}/support/tickets/", app.base);
        let link = app.mails().into_iter().find(|m| m.to == ANN && m.text.contains(&prefix)).unwrap().link(&prefix);
        let (_, conversation) = get(&app, &browser(), link.trim_start_matches(&app.base)).await;
        assert!(conversation.contains(&moment(message_at)), "{conversation}");

        // My data: the request's time in the company's zone, named, not UTC;
        // the download keeps the epoch milliseconds.
        let r = post(&app, &ann, "/account/my-data", &[("what", "see")]).await;
        let my_data = r.headers()["location"].to_str().unwrap().to_string();
        let (_, page) = get(&app, &ann, &my_data).await;
        assert!(page.contains(&moment(ticket_at)), "{page}");
        assert!(!page.contains(" UTC"), "my data shows a time in UTC");
        let (_, export) = get(&app, &ann, &format!("{my_data}/export.json")).await;
        assert!(export.contains(&ticket_at.to_string()), "the export keeps the epoch");
    }

    async fn the_account_shows_the_persons_own_cookie_choices_and_not_anothers(backend) {
        let app = TestApp::spawn(backend).await;
        let ann = browser();
        let ben = browser();
        send_request(&app, &ann, ANN, ANN_TITLE).await;
        send_request(&app, &ben, BEN, "Ben's printer is offline").await;
        choose_analytics(&app, &ann).await;
        let r = post(&app, &ben, "/cookies", &[("choice", "accept"), ("from", "page")]).await;
        assert!(r.status().is_redirection());
        sign_in_by_file(&app, &ben, BEN).await;
        let (_, page) = get(&app, &ben, "/account").await;
        assert!(page.contains("Your cookie choices") && page.contains("necessary, preferences, analytics, marketing"), "{page}");

        // Before Ann signs in, nothing of hers is linked; then her browser's choice is.
        sign_in_by_file(&app, &ann, ANN).await;
        let (_, page) = get(&app, &ann, "/account").await;
        let section = &page[page.find("id=\"cookies-heading\"").unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        assert!(section.contains("necessary, analytics"), "{section}");
        assert!(section.contains("This browser, on the cookie page"), "{section}");
        assert!(!section.contains("marketing"), "Ben's choice shown to Ann: {section}");
        assert_eq!(section.matches("class=\"choice\"").count(), 1, "{section}");

        // A change of mind in the same browser, and a choice in a second one of Ann's.
        let r = post(&app, &ann, "/cookies", &[("choice", "reject"), ("from", "page")]).await;
        assert!(r.status().is_redirection());
        let phone = browser();
        let r = post(&app, &phone, "/cookies", &[("choice", "save"), ("from", "page"), ("preferences", "on")]).await;
        assert!(r.status().is_redirection());
        sign_in_by_file(&app, &phone, ANN).await;
        get(&app, &phone, "/account").await;
        let (_, page) = get(&app, &ann, "/account").await;
        let section = &page[page.find("id=\"cookies-heading\"").unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        assert_eq!(section.matches("class=\"choice\"").count(), 3, "{section}");
        assert!(section.contains("necessary only") && section.contains("necessary, preferences"), "{section}");
        assert!(section.contains("Another browser, on the cookie page"), "{section}");
        assert!(!section.contains("marketing"), "{section}");
        // Ben still sees only his.
        let (_, page) = get(&app, &ben, "/account").await;
        let section = &page[page.find("id=\"cookies-heading\"").unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        assert_eq!(section.matches("class=\"choice\"").count(), 1, "{section}");
        // Erased with her: the account is gone, and so are her receipts.
        let subject = subjects::find(&app.state.db, &app.state.keyring, ANN).await.unwrap().unwrap();
        let mut tx = app.state.db.begin().await.unwrap();
        privacy::erasure::erase(&mut tx, &app.state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&app, "SELECT COUNT(*) FROM consent_receipts").await, 1, "only Ben's is left");
    }

    async fn the_dashboard_rates_each_agent_by_name_with_their_average(backend) {
        let app = TestApp::spawn(backend).await;
        let priya = agent_named(&app, "Priya Raman").await;
        let omar = agent_named(&app, "Omar Haddad").await;
        solved_and_rated(&app, &priya, "r1@example.com", "5").await;
        solved_and_rated(&app, &priya, "r2@example.com", "4").await;
        solved_and_rated(&app, &omar, "r3@example.com", "2").await;
        let admin = app.staff_client("admin").await;
        let dashboard = admin.client.get(app.url("/admin")).send().await.unwrap().text().await.unwrap();
        assert!(dashboard.contains("<tr><th scope=\"row\">Priya Raman</th><td>2</td><td>4.5</td><td>100%</td></tr>"), "{dashboard}");
        assert!(dashboard.contains("<tr><th scope=\"row\">Omar Haddad</th><td>1</td><td>2.0</td><td>0%</td></tr>"), "{dashboard}");
        assert!(dashboard.contains("average 3.7 of 5") && dashboard.contains("3 ratings of 3 asked"), "{dashboard}");
    }
}
