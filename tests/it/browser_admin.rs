//! The back office's work pages in headless Chromium at 1,440 and 390 px:
//! the chat console's proportions, the live "All conversations" list, and
//! no page wider than a phone.

use crate::{
    browser::{Browser, wait_text},
    chat::Ws,
    helpers::*,
};
use officecomms::{platform::now_ms, support::intake};
use serde_json::json;
use std::time::Duration;

const WIDE: u32 = 1_440;
const PHONE: u32 = 390;

/// A visitor starts a chat over the real WebSocket; the socket stays open.
async fn visitor_chat(app: &TestApp, name: &str) -> (Ws, i64) {
    let mut ws = Ws::visitor(app).await;
    ws.send(json!({"type": "hello", "name": name, "birth_year": "1980", "page": "/articles"}))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM chat_conversations")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        if let Some(id) = id {
            return (ws, id);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the chat never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_ticket(app: &TestApp) -> i64 {
    let token = intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let r = app
        .post_form(
            "/contact",
            &crate::support::query(&token, "wide@example.com"),
        )
        .await;
    assert_eq!(r.status(), 303);
    sqlx::query_scalar("SELECT MAX(id) FROM tickets")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn number(browser: &Browser, script: &str) -> f64 {
    browser
        .client
        .execute(&format!("return {script}"), vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap_or_else(|| panic!("{script} is not a number"))
}

/// Opens `path` at `width` px; saves a full-page screenshot when
/// `OFFICECOMMS_SCREENSHOTS` names a folder (for people to look at).
async fn open_at(browser: &Browser, app: &TestApp, path: &str, width: u32) {
    let c = &browser.client;
    c.set_window_size(width, 900).await.unwrap();
    c.goto(&app.url(path)).await.unwrap();
    if let Ok(dir) = std::env::var("OFFICECOMMS_SCREENSHOTS") {
        let height = number(browser, "document.documentElement.scrollHeight").await as u32;
        c.set_window_size(width, height.clamp(600, 4_000))
            .await
            .unwrap();
        let png = c.screenshot().await.unwrap();
        let name = path.trim_matches('/').replace('/', "-");
        std::fs::write(format!("{dir}/{name}-{width}.png"), png).unwrap();
        c.set_window_size(width, 900).await.unwrap();
    }
}

/// How far the page is wider than the window (0: no horizontal scrolling).
async fn overflow(browser: &Browser) -> f64 {
    number(
        browser,
        "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_console_gives_the_conversation_at_least_half_the_width() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_staff("wide-agent@officecomms.test", "agent")
        .await;
    let (_visitor, id) = visitor_chat(&app, "Olga Wide").await;
    browser.sign_in(&app, "wide-agent@officecomms.test").await;

    open_at(&browser, &app, &format!("/admin/chat/{id}"), WIDE).await;
    let conversation = number(
        &browser,
        "document.getElementById('chat-conversation').getBoundingClientRect().width",
    )
    .await;
    let content = number(&browser, "(function(m){var s=getComputedStyle(m);return m.clientWidth-parseFloat(s.paddingLeft)-parseFloat(s.paddingRight)})(document.getElementById('main'))").await;
    assert!(
        conversation >= content / 2.0,
        "conversation {conversation} px of {content} px"
    );
    // The search box sits in the conversation column, clear of the visitor panel.
    let apart = number(&browser, "(function(){var s=document.querySelector('.chat-search').getBoundingClientRect(),v=document.getElementById('visitor-title').getBoundingClientRect();return (s.right<=v.left||s.bottom<=v.top||s.top>=v.bottom)?1:0})()").await;
    assert_eq!(
        apart, 1.0,
        "the search box does not cover the Visitor heading"
    );
    // A waiting chat offers Accept; an accepted one does not.
    let accept = "document.querySelectorAll('button[value=accept]').length";
    assert_eq!(number(&browser, accept).await, 1.0);
    browser
        .client
        .find(fantoccini::Locator::Css("button[value=accept]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(
        &browser.client,
        "document.querySelector('.page-head').textContent",
        "with",
    )
    .await;
    assert_eq!(number(&browser, accept).await, 0.0);

    open_at(&browser, &app, &format!("/admin/chat/{id}"), PHONE).await;
    assert_eq!(
        overflow(&browser).await,
        0.0,
        "no sideways scrolling at 390 px"
    );
    // On a phone the columns stack: the conversation takes the whole width.
    let conversation = number(
        &browser,
        "document.getElementById('chat-conversation').getBoundingClientRect().width",
    )
    .await;
    let content = number(&browser, "(function(m){var s=getComputedStyle(m);return m.clientWidth-parseFloat(s.paddingLeft)-parseFloat(s.paddingRight)})(document.getElementById('main'))").await;
    assert!(
        conversation >= content - 1.0 && conversation > 300.0,
        "conversation {conversation} px of {content} px at 390 px"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_conversations_shows_a_new_chat_without_a_reload() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_staff("live-agent@officecomms.test", "agent")
        .await;
    // Neither the company's zone nor the browser's (UTC): times follow hers.
    sqlx::query("UPDATE staff_users SET time_zone = 'America/New_York' WHERE email = $1")
        .bind("live-agent@officecomms.test")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    browser.sign_in(&app, "live-agent@officecomms.test").await;
    let c = &browser.client;
    open_at(&browser, &app, "/admin/chat", WIDE).await;
    wait_text(
        c,
        "document.querySelector('[data-connection]').textContent",
        "Live",
    )
    .await;
    c.execute("window.notReloaded = 'still here'; return 1", vec![])
        .await
        .unwrap();
    let table = "document.getElementById('all-conversations').textContent";
    let before = wait_text(c, table, "").await;
    assert!(before.contains("No conversations yet."), "{before}");

    let (_visitor, id) = visitor_chat(&app, "Nora Newcomer").await;
    let after = wait_text(c, table, "Nora Newcomer").await;
    assert!(
        after.contains("waiting") && !after.contains("No conversations yet."),
        "{after}"
    );
    let link = wait_text(
        c,
        "document.querySelector('#all-conversations tbody a').getAttribute('href')",
        "/admin/chat/",
    )
    .await;
    assert_eq!(link, format!("/admin/chat/{id}"));
    // The row added live reads like the server's: words, and the exact
    // time in her zone on hover, in a <time datetime>.
    let time = wait_text(
        c,
        "(function(t){return t.textContent+'|'+t.getAttribute('datetime')+'|'+t.title})(document.querySelector('#all-conversations tbody time'))",
        "|",
    )
    .await;
    let parts: Vec<&str> = time.split('|').collect();
    assert_eq!(parts[0], "just now", "{time}");
    assert!(parts[1].ends_with('Z') && parts[1].len() == 20, "{time}");
    let exact = chrono::DateTime::parse_from_rfc3339(parts[1])
        .unwrap()
        .with_timezone(&chrono_tz::America::New_York)
        .format("%-d %b %Y, %H:%M %Z")
        .to_string();
    assert_eq!(parts[2], exact, "{time}");
    assert!(parts[2].ends_with(" EST"), "{time}");
    wait_text(c, "window.notReloaded", "still here").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_work_pages_never_scroll_sideways_on_a_phone() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_staff("phone-admin@officecomms.test", "admin")
        .await;
    let ticket = a_ticket(&app).await;
    let (_visitor, chat) = visitor_chat(&app, "Pia Phone").await;
    // Response targets: on Monday 9 November 2026 at 10:50 in California,
    // an urgent ticket of 09:00 is breached, one of 10:05 nearing.
    let monday = |h: i64, m: i64| 1_793_923_200_000 + (3 * 24 + h + 8) * 3_600_000 + m * 60_000;
    app.state.clock.set(monday(9, 0));
    let (late, _) = crate::back_office::seed_ticket(
        &app,
        "Lee Late",
        "lee@example.com",
        "Payroll export fails every Monday morning",
        "x",
    )
    .await;
    app.state.clock.set(monday(10, 5));
    let (near, _) = crate::back_office::seed_ticket(
        &app,
        "Nia Near",
        "nia@example.com",
        "Printer toner warning",
        "x",
    )
    .await;
    for id in [late, near] {
        crate::back_office::exec(
            &app,
            "UPDATE tickets SET priority = 'urgent' WHERE id = $1",
            id,
        )
        .await;
    }
    app.state.clock.set(monday(10, 50));
    browser.sign_in(&app, "phone-admin@officecomms.test").await;
    for path in [
        "/admin".to_string(),
        "/admin/tickets".into(),
        "/admin/tickets?sla=breached".into(),
        "/admin/tickets/settings".into(),
        format!("/admin/tickets/{late}"),
        format!("/admin/tickets/{ticket}"),
        "/admin/chat".into(),
        format!("/admin/chat/{chat}"),
        "/admin/analytics".into(),
        "/admin/privacy/requests".into(),
    ] {
        for width in [WIDE, PHONE] {
            open_at(&browser, &app, &path, width).await;
            assert_eq!(
                overflow(&browser).await,
                0.0,
                "{path} scrolls sideways at {width} px"
            );
        }
    }
    // References never wrap, even on a phone.
    open_at(&browser, &app, "/admin/tickets", PHONE).await;
    let lines = number(&browser, "(function(r){return Math.round(r.getBoundingClientRect().height/parseFloat(getComputedStyle(r).lineHeight))})(document.querySelector('#ticket-list .ref'))").await;
    assert_eq!(lines, 1.0);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composer_switches_to_a_note_and_puts_a_canned_reply_at_the_cursor() {
    use fantoccini::Locator;
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_staff("composer-agent@officecomms.test", "agent")
        .await;
    let ticket = a_ticket(&app).await;
    let mut tx = app.state.db.begin().await.unwrap();
    officecomms::support::db::insert_canned(&mut tx, "Restart", "please restart Outlook")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    browser
        .sign_in(&app, "composer-agent@officecomms.test")
        .await;
    let c = &browser.client;
    open_at(&browser, &app, &format!("/admin/tickets/{ticket}"), WIDE).await;
    let shown = |id: &str| {
        format!("(document.getElementById('{id}').offsetParent !== null ? 'shown' : 'hidden')")
    };
    assert_eq!(wait_text(c, &shown("send-reply"), "shown").await, "shown");
    assert_eq!(wait_text(c, &shown("add-note"), "hidden").await, "hidden");
    // The switch is a pair of radio buttons styled as one control.
    c.find(Locator::Css("label[for=mode-note]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, &shown("add-note"), "shown").await;
    wait_text(c, &shown("send-reply"), "hidden").await;
    wait_text(c, &shown("reply-status"), "hidden").await;

    // Typed text, the cursor between two words, a canned reply inserted there.
    let body = c.find(Locator::Id("reply-body")).await.unwrap();
    body.send_keys("Hello Ann,  then").await.unwrap();
    c.execute("var t = document.getElementById('reply-body'); t.selectionStart = t.selectionEnd = 11; return 1", vec![])
        .await
        .unwrap();
    c.execute(
        "var s = document.getElementById('canned'); s.selectedIndex = 1; return 1",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Id("insert-canned"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let text = wait_text(c, "document.getElementById('reply-body').value", "restart").await;
    assert_eq!(text, "Hello Ann, please restart Outlook then");
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with(&format!("/admin/tickets/{ticket}")),
        "no reload"
    );
    open_at(&browser, &app, &format!("/admin/tickets/{ticket}"), PHONE).await;
    assert_eq!(overflow(&browser).await, 0.0);
    browser.close().await;
}
