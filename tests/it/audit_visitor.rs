//! The visitor's pages the crawl in `audit.rs` cannot reach by links: the
//! signed-in account (overview, a request, an order, a chat, the signed-in
//! browsers) and the pages behind mailed links (sign-in, rating, newsletter
//! confirmation, erasure, a request's conversation, "request received").
//! (With the cookie page's record of choices and the policy's versions,
//! which show times.) Each in a real Chromium at 1,280 and 390 px: axe-core finds no serious or
//! critical violation, nothing scrolls sideways, and the page is the one
//! asked for (not an error page).

use crate::{
    account::{ANN, ANN_TITLE, browser as http_browser, confirmed_chat, order, post, set_status},
    audit::{axe_violations, overflow, set_width},
    both,
    browser::{Browser, click, wait_for_text},
    helpers::*,
};
use fantoccini::{Client, Locator};
use officecomms::{platform::now_ms, support::intake};

const WIDTHS: [u32; 2] = [1280, 390];

/// Audits the page at `path` at both widths; what is wrong, one line each.
/// `shows` is text the page itself must show; `name` names its screenshots.
async fn audit(c: &Client, app: &TestApp, name: &str, path: &str, shows: &str) -> Vec<String> {
    let mut found = Vec::new();
    for width in WIDTHS {
        set_width(c, width).await;
        c.goto(&app.url(path)).await.unwrap();
        let main = match c.find(Locator::Css("main")).await {
            Ok(main) => main.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if !main.contains(shows) {
            found.push(format!("{path} at {width} px: {shows:?} not shown: {main}"));
            continue;
        }
        for v in axe_violations(c).await {
            found.push(format!("{path} at {width} px: {v}"));
        }
        let (extra, what) = overflow(c).await;
        if extra > 0 {
            found.push(format!(
                "{path} at {width} px: scrolls {extra} px sideways ({what})"
            ));
        }
        full_page_shot(c, name, width).await;
    }
    found
}

/// With `OFFICECOMMS_SCREENSHOTS=DIR`, the whole page (to look at, not to
/// commit) as `visitor-<name>-<width>.png`.
async fn full_page_shot(c: &Client, name: &str, width: u32) {
    let Some(dir) = std::env::var_os("OFFICECOMMS_SCREENSHOTS") else {
        return;
    };
    let height = c
        .execute("return document.documentElement.scrollHeight", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap_or(900) as u32;
    let (w, _) = c.get_window_size().await.unwrap();
    c.set_window_size(w as u32, height.clamp(900, 6000) + 150)
        .await
        .unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(
        std::path::Path::new(&dir).join(format!("visitor-{name}-{width}.png")),
        png,
    )
    .unwrap();
    set_width(c, width).await;
}

/// The path of the newest mail's link to `to` starting with `prefix`.
async fn mailed_path(app: &TestApp, to: &str, prefix: &str) -> String {
    app.drain_outbox().await;
    let full = format!("{}{prefix}", app.base);
    app.mails()
        .into_iter()
        .rev()
        .find(|m| m.to == to && m.text.contains(&full))
        .unwrap_or_else(|| panic!("no mail to {to} with a {prefix} link"))
        .link(&full)
        .trim_start_matches(&app.base)
        .to_string()
}

both! {
    async fn the_visitors_own_pages_pass_axe_and_fit_a_phone(backend) {
        let Some(browser) = Browser::start(true).await else { return };
        let app = TestApp::spawn(backend).await;
        let ann = http_browser();

        // A request through the contact form: its "received" page, and the
        // conversation link of its acknowledgement.
        let token = intake::new_token(&app.state.keyring, now_ms() - 10_000);
        let mut fields = crate::support::query(&token, ANN);
        fields.retain(|f| f.0 != "subject");
        fields.push(("subject", ANN_TITLE));
        let r = post(&app, &ann, "/contact", &fields).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let received = r.headers()["location"].to_str().unwrap().to_string();
        assert!(received.starts_with("/contact/received/"), "{received}");
        let conversation = mailed_path(&app, ANN, "/support/tickets/").await;
        let reference: String = sqlx::query_scalar("SELECT reference FROM tickets")
            .fetch_one(&app.state.db.pool).await.unwrap();
        let id: i64 = sqlx::query_scalar("SELECT id FROM tickets")
            .fetch_one(&app.state.db.pool).await.unwrap();

        // Solved: the rating request.
        let agent = app.staff_client("agent").await;
        set_status(&app, &agent, id, "solved").await;
        let rating = mailed_path(&app, ANN, "/csat/").await.replace("score=1", "score=4");

        // An order, a confirmed chat, a pending subscription.
        let order_ref = order(&app, &ann, ANN).await;
        let chat = confirmed_chat(&app, ANN, "My scanner shows error 5").await;
        let r = app.post_form("/newsletter", &[("email", "nell@example.com")]).await;
        assert_eq!(r.status(), 200);
        let confirm = mailed_path(&app, "nell@example.com", "/newsletter/confirm/").await;

        // The sign-in link, asked for from another browser.
        let r = post(&app, &http_browser(), "/account", &[("email", ANN)]).await;
        assert_eq!(r.status(), 200);
        let sign_in = mailed_path(&app, ANN, "/account/sign-in/").await;

        let c = &browser.client;
        // A cookie choice, as a visitor makes it (and the banner out of the way).
        c.goto(&app.url("/")).await.unwrap();
        wait_for_text(c, "Reject all").await;
        click(c, Locator::Css(".consent-banner button[value=reject]")).await;
        wait_for_text(c, "Saved").await;

        let mut found = Vec::new();
        // Pages the crawl reaches too, here with a time in them: this
        // browser's record of choices and the policy's versions.
        found.extend(audit(c, &app, "cookies", "/cookies", "Your choices so far").await);
        found.extend(audit(c, &app, "policy-versions", "/privacy/versions", "Version 1").await);
        found.extend(audit(c, &app, "received", &received, &reference).await);
        found.extend(audit(c, &app, "conversation", &conversation, ANN_TITLE).await);
        found.extend(audit(c, &app, "rating", &rating, "How did we do?").await);
        click(c, Locator::Css("form.rate-form button[type=submit]")).await;
        wait_for_text(c, "Thank you!").await;
        let thanks = c.current_url().await.unwrap();
        let thanks = format!("{}?{}", thanks.path(), thanks.query().unwrap_or_default());
        found.extend(audit(c, &app, "rating-thanks", &thanks, "Thank you!").await);
        found.extend(audit(c, &app, "newsletter-confirm", &confirm, "Confirm your subscription").await);
        found.extend(audit(c, &app, "sign-in", &sign_in, "You are signing in as").await);
        click(c, Locator::Css("main form button[type=submit]")).await;
        wait_for_text(c, "Signed in as").await;

        found.extend(audit(c, &app, "account", "/account", ANN_TITLE).await);
        found.extend(audit(c, &app, "account-ticket", &format!("/account/tickets/{reference}"), "Since Monday Outlook asks").await);
        found.extend(audit(c, &app, "account-order", &format!("/account/orders/{order_ref}"), &order_ref).await);
        found.extend(audit(c, &app, "account-chat", &format!("/account/chats/{chat}"), "My scanner shows error 5").await);
        found.extend(audit(c, &app, "account-sessions", "/account/sessions", "This browser").await);
        // Erasing, reached from the account by its button.
        c.goto(&app.url("/account")).await.unwrap();
        click(c, Locator::Css("button[name=what][value=erase]")).await;
        wait_for_text(c, "Erase everything?").await;
        let erase = c.current_url().await.unwrap().path().to_string();
        assert!(erase.starts_with("/my-data/") && erase.ends_with("/delete"), "{erase}");
        found.extend(audit(c, &app, "my-data-delete", &erase, "Erase everything?").await);
        let my_data = erase.trim_end_matches("/delete");
        found.extend(audit(c, &app, "my-data", my_data, "Your cookie choices").await);
        browser.close().await;
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}
