//! The my-data page in a real browser, at 1,280 and 390 px: a person with a
//! support request, a chat, an order, a newsletter subscription and a
//! survey answer reads cards with one line each, not raw rows, opens their
//! details, and erases everything from a destructive button.

use crate::{
    browser::{Browser, click, wait_for_text},
    helpers::*,
};
use fantoccini::{Client, Locator};
use officecomms::platform::now_ms;
use serde_json::json;
use std::time::{Duration, Instant};

const PERSON: &str = "rae.person@example.com";

/// Gives the app everything a person can leave with us, the way they
/// would; returns the support request's reference.
async fn seed_everything(app: &TestApp) -> String {
    let token = officecomms::support::intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let r = app
        .post_form("/contact", &crate::support::query(&token, PERSON))
        .await;
    assert_eq!(r.status(), 303, "support request");

    let mut ws = crate::chat::Ws::visitor(app).await;
    crate::chat::hello(&mut ws, "Rae", Some(PERSON)).await;
    ws.send(json!({"type": "message", "body": "Is my order on its way?", "id": "m-1"}))
        .await;
    wait_for_row(
        app,
        "SELECT COUNT(*) FROM chat_messages WHERE sender = 'visitor'",
    )
    .await;

    let services = officecomms::shop::db::active_services(&app.state.db)
        .await
        .unwrap();
    let first = services[0].id.to_string();
    let r = app
        .post_form(
            "/cart",
            &[("action", "add"), ("service", &first), ("quantity", "2")],
        )
        .await;
    assert_eq!(r.status(), 303, "cart");
    let (_, form) = app.get_text("/checkout").await;
    let marker = "name=\"idempotency_key\" value=\"";
    let start = form.find(marker).expect("checkout form") + marker.len();
    let key = &form[start..start + form[start..].find('"').unwrap()];
    let r = app
        .post_form(
            "/checkout",
            &[
                ("name", "Rae Person"),
                ("email", PERSON),
                ("phone", "(415) 555-2671"),
                ("company", "Person & Co"),
                ("notes", "Mornings are best"),
                ("birth_year", "1980"),
                ("idempotency_key", key),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "order request");

    let r = app
        .post_form(
            "/newsletter",
            &[
                ("email", PERSON),
                ("name", "Rae"),
                ("birth_year", "1980"),
                ("source", "page"),
                ("topic", "product-updates"),
            ],
        )
        .await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "newsletter: {}",
        r.status()
    );

    let (_, questions) = crate::surveys::contact_survey(app).await;
    let fields = vec![
        crate::surveys::q(&questions[0], "5"),
        ("name".to_string(), "Rae".to_string()),
        ("email".to_string(), PERSON.to_string()),
        ("birth_year".to_string(), "1980".to_string()),
    ];
    let r = crate::surveys::Visitor::new()
        .answer(app, "follow-up", &fields)
        .await;
    assert_eq!(r.status(), 303, "survey answer");
    app.drain_outbox().await;
    let (reference,): (String,) = sqlx::query_as("SELECT reference FROM tickets")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    reference
}

async fn wait_for_row(app: &TestApp, sql: &'static str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        if n > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no row for {sql}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn script(c: &Client, js: &str) -> serde_json::Value {
    c.execute(js, vec![]).await.unwrap()
}

/// What the visitor reads at this width: no number of 12 or more digits,
/// no JSON, nothing wider than the window.
async fn check_readable(c: &Client, width: u32, what: &str) -> String {
    let text = script(c, "return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default().to_string();
    let longest = text
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest < 12,
        "{what} at {width}px shows a raw number: {text}"
    );
    assert!(
        !text.contains("{\"") && !text.contains("\":"),
        "{what} at {width}px shows JSON: {text}"
    );
    let overflow = script(
        c,
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
    )
    .await;
    let (scroll, client) = (overflow[0].as_i64().unwrap(), overflow[1].as_i64().unwrap());
    assert!(
        scroll <= client,
        "{what} at {width}px scrolls sideways: {scroll} > {client}"
    );
    text
}

/// Saves a screenshot of the whole page at this width when
/// `OFFICECOMMS_SCREENSHOTS` names a folder.
async fn screenshot(c: &Client, width: u32, name: &str) {
    if let Some(dir) = std::env::var_os("OFFICECOMMS_SCREENSHOTS") {
        let height = script(c, "return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(600, 6000) as u32;
        c.set_window_size(width, height).await.unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}-{width}.png")),
            png,
        )
        .unwrap();
        c.set_window_size(width, 900).await.unwrap();
    }
}

#[tokio::test]
async fn a_person_reads_their_data_as_cards_and_erases_it_at_desktop_and_phone_widths() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let reference = seed_everything(&app).await;
    let r = app.post_form("/my-data", &[("email", PERSON)]).await;
    assert_eq!(r.status(), 200);
    app.drain_outbox().await;
    let link = app
        .mails()
        .last()
        .unwrap()
        .link(&format!("{}/my-data/", app.base));
    let c = &browser.client;
    for width in [1280, 390] {
        c.set_window_size(width, 900).await.unwrap();
        c.goto(&link).await.unwrap();
        wait_for_text(c, "Your data").await;
        let inner = script(c, "return window.innerWidth")
            .await
            .as_u64()
            .unwrap();
        assert!(inner <= u64::from(width), "the window is {inner}px wide");
        let text = check_readable(c, width, "my-data").await;
        assert!(
            text.contains(&format!("Support request {reference} · open · ")),
            "the request's line: {text}"
        );
        for group in [
            "Support requests",
            "Live chats",
            "Order requests",
            "Newsletter subscription",
            "Survey responses",
            "Emails we sent you",
        ] {
            assert!(text.contains(group), "{group} missing at {width}px: {text}");
        }
        assert!(
            !text.contains("The subject you gave your request."),
            "details are closed at first"
        );
        let summary = format!("//summary[contains(., 'Support request {reference}')]");
        click(c, Locator::XPath(&summary)).await;
        let opened = script(
            c,
            "return document.querySelector('details.record[open]').innerText",
        )
        .await;
        assert!(
            opened
                .as_str()
                .unwrap_or_default()
                .contains("The subject you gave your request."),
            "the request's details open on click: {opened}"
        );
        // Every detail open, the mails' text included: still nothing raw.
        script(
            c,
            "document.querySelectorAll('details').forEach(d => d.open = true); return 1",
        )
        .await;
        let all = check_readable(c, width, "my-data, all open").await;
        assert!(
            all.contains("Is my order on its way?") && all.contains("$"),
            "{all}"
        );
        screenshot(c, width, "my-data").await;
    }

    for width in [1280, 390] {
        c.set_window_size(width, 900).await.unwrap();
        c.goto(&format!("{link}/delete")).await.unwrap();
        wait_for_text(c, "Erase everything?").await;
        check_readable(c, width, "erase confirmation").await;
        let button = script(
            c,
            "const b = document.querySelector('main form button[type=submit]'); \
             return [b.className, b.innerText, getComputedStyle(b).backgroundColor, getComputedStyle(b).color]",
        )
        .await;
        assert_eq!(button[0], "danger", "{button}");
        assert_eq!(button[1], "Erase everything, for good");
        assert_eq!(button[2], "rgb(179, 38, 30)", "red: {button}");
        assert_eq!(button[3], "rgb(255, 255, 255)");
        screenshot(c, width, "my-data-erase").await;
    }
    for width in [1280, 390] {
        c.set_window_size(width, 900).await.unwrap();
        c.goto(&app.url("/privacy")).await.unwrap();
        wait_for_text(c, "Version 1 · last updated").await;
        check_readable(c, width, "privacy policy").await;
        let anchor = script(
            c,
            "return getComputedStyle(document.querySelector('.policy a.anchor')).opacity",
        )
        .await;
        assert_eq!(
            anchor, "0",
            "heading links stay out of sight until hovered or focused"
        );
        screenshot(c, width, "privacy").await;
    }

    c.goto(&format!("{link}/delete")).await.unwrap();
    click(c, Locator::Css("input[name=confirm]")).await;
    click(c, Locator::Css("main form button.danger")).await;
    wait_for_text(c, "Your data is erased").await;
    let state = &app.state;
    assert!(
        officecomms::privacy::subjects::find(&state.db, &state.keyring, PERSON)
            .await
            .unwrap()
            .is_none()
    );
    for table in [
        "tickets",
        "chat_conversations",
        "orders",
        "newsletter_subscribers",
        "survey_responses",
    ] {
        let n: i64 = sqlx::query_scalar(officecomms::platform::db::trusted_sql(format!(
            "SELECT COUNT(*) FROM {table} WHERE subject_id IS NOT NULL"
        )))
        .fetch_one(&state.db.pool)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table} erased");
    }
    browser.close().await;
}
