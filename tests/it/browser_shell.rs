//! The staff shell in a real headless Chromium, at a desktop's 1,440 px and
//! a phone's 390 px: no public footer, the sidebar's counts, global search,
//! the keyboard, times across a DST change, nothing wider than the screen.

use crate::{
    back_office::{exec, seed_counts, seed_ticket},
    browser::{Browser, wait_text},
    helpers::*,
};
use fantoccini::{Client, Locator, key::Key};

/// 15 July 2026, 16:15 UTC: 09:15 in Los Angeles (PDT, UTC-7).
const SUMMER: i64 = 1_784_132_100_000;
/// 15 January 2026, 17:40 UTC: 09:40 in Los Angeles (PST, UTC-8).
const WINTER: i64 = 1_768_498_800_000;

async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Saves a screenshot when `OFFICECOMMS_SCREENSHOTS` names a folder (to look at, not to commit).
async fn shot(c: &Client, name: &str, width: u32) {
    if let Some(dir) = std::env::var_os("OFFICECOMMS_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}-{width}.png")),
            png,
        )
        .unwrap();
    }
}

async fn fits(c: &Client, what: &str) {
    let (scroll, client) = (
        js(c, "return document.documentElement.scrollWidth").await,
        js(c, "return document.documentElement.clientWidth").await,
    );
    assert!(
        scroll.as_i64().unwrap() <= client.as_i64().unwrap(),
        "{what} overflows: {scroll} > {client}"
    );
}

/// Waits until the address holds `want` (no script: works with JavaScript off).
async fn wait_url(c: &Client, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let url = c.current_url().await.unwrap().to_string();
        if url.contains(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited for {want:?}, at {url}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Types `keys` where the focus is (the page itself, unless a field has it).
async fn press(c: &Client, keys: &str) {
    c.active_element()
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

async fn staff_shell_at(width: u32) {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = seed_counts(&app).await;
    sqlx::query("UPDATE staff_users SET time_zone = 'America/Los_Angeles' WHERE email = $1")
        .bind(&me)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    app.state.clock.set(SUMMER);
    let (summer, _) = seed_ticket(
        &app,
        "Sam Summer",
        "sam@example.com",
        "Duplex scanner jams",
        "Every second page.",
    )
    .await;
    app.state.clock.set(WINTER);
    let (winter, _) = seed_ticket(
        &app,
        "Wyn Winter",
        "wyn@example.com",
        "Mailbox full",
        "Again.",
    )
    .await;
    app.state.clock.set(officecomms::platform::now_ms());
    // Solved: they must not change the sidebar's figures.
    exec(
        &app,
        "UPDATE tickets SET status = 'solved' WHERE id = $1",
        summer,
    )
    .await;
    exec(
        &app,
        "UPDATE tickets SET status = 'solved' WHERE id = $1",
        winter,
    )
    .await;

    let c = &browser.client;
    c.set_window_size(width, 900).await.unwrap();
    browser.sign_in(&app, &me).await;
    shot(c, "dashboard", width).await;

    // The staff shell: none of the public site's parts.
    for public in [
        "footer.site-footer",
        "form.footer-newsletter",
        "#chat-launcher",
        "#consent-banner",
        "header.site-header",
    ] {
        assert!(
            c.find_all(Locator::Css(public)).await.unwrap().is_empty(),
            "{public} in the staff shell"
        );
    }
    assert!(c.find(Locator::Css("header.topbar")).await.is_ok());
    fits(c, "the dashboard").await;

    // The sidebar's figures (on a phone, behind the menu button).
    if width < 900 {
        let sidebar_shown = "return getComputedStyle(document.getElementById('sidebar')).display";
        assert_eq!(
            js(c, sidebar_shown).await,
            "none",
            "the menu starts closed on a phone"
        );
        c.find(Locator::Css(".nav-toggle-label"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(js(c, sidebar_shown).await, "block");
        shot(c, "menu", width).await;
        fits(c, "the open menu").await;
    }
    for (href, want) in [
        ("/admin/tickets?assignee=me", "2"),
        ("/admin/tickets?assignee=none", "4"),
        ("/admin/chat", "3"),
        ("/admin/orders", "1"),
    ] {
        let badge = c
            .find(Locator::Css(&format!("a[href=\"{href}\"] .count")))
            .await
            .unwrap();
        let shown = badge.text().await.unwrap();
        let figures: Vec<&str> = shown
            .split(|c: char| !c.is_ascii_digit())
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(figures, [want], "{href}: {shown:?}");
        assert_eq!(
            badge.attr("data-count").await.unwrap().as_deref(),
            Some(want)
        );
    }

    // The key help, with JavaScript.
    press(c, "?").await;
    wait_text(
        c,
        "document.getElementById('key-help').open && 'open'",
        "open",
    )
    .await;
    let help = c
        .find(Locator::Id("key-help"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        help.contains("Internal note") && help.contains("Search"),
        "{help}"
    );
    shot(c, "keys", width).await;
    press(c, &Key::Escape.to_string()).await;
    wait_text(
        c,
        "document.getElementById('key-help').open ? 'open' : 'closed'",
        "closed",
    )
    .await;

    // `/` focuses the search; a word of a subject finds the ticket.
    press(c, "/").await;
    wait_text(c, "document.activeElement.id", "global-q").await;
    c.find(Locator::Id("global-q"))
        .await
        .unwrap()
        .send_keys("duplex\n")
        .await
        .unwrap();
    wait_text(c, "location.pathname", "/admin/search").await;
    let found = c.find(Locator::Css(".hit-list a")).await.unwrap();
    assert_eq!(
        found.attr("href").await.unwrap().unwrap(),
        format!("/admin/tickets/{summer}")
    );
    assert!(found.text().await.unwrap().contains("Duplex scanner jams"));
    shot(c, "search", width).await;
    fits(c, "the search results").await;

    // j/k and Enter in the inbox.
    c.goto(&app.url("/admin/tickets?status=all")).await.unwrap();
    shot(c, "inbox", width).await;
    fits(c, "the inbox").await;
    press(c, "jjk").await;
    wait_text(c, "document.querySelectorAll('.key-current').length", "1").await;
    press(c, &Key::Enter.to_string()).await;
    wait_text(c, "location.pathname", "/admin/tickets/").await;

    // Times in the member's zone, on both sides of the change to winter time.
    c.goto(&app.url(&format!("/admin/tickets/{summer}")))
        .await
        .unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("15 Jul 2026, 09:15 PDT"), "summer: UTC-7");
    assert!(!page.contains("2026-07-15 16:15 UTC"));
    shot(c, "ticket", width).await;
    fits(c, "a ticket").await;
    // `n` switches the composer to an internal note, `r` back to a reply,
    // the cursor in the message either way.
    press(c, "n").await;
    wait_text(
        c,
        "document.activeElement.id + ':' + document.getElementById('mode-note').checked",
        "reply-body:true",
    )
    .await;
    c.execute("document.activeElement.blur()", vec![])
        .await
        .unwrap();
    press(c, "r").await;
    wait_text(
        c,
        "document.activeElement.closest('form').action + ':' + document.getElementById('mode-reply').checked",
        "/compose:true",
    )
    .await;
    c.goto(&app.url(&format!("/admin/tickets/{winter}")))
        .await
        .unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("15 Jan 2026, 09:40 PST"), "winter: UTC-8");

    c.goto(&app.url("/admin/settings")).await.unwrap();
    shot(c, "settings", width).await;
    fits(c, "the settings").await;
    c.goto(&app.url("/admin/account")).await.unwrap();
    fits(c, "the member's settings").await;
    browser.close().await;
}

#[tokio::test]
async fn the_staff_shell_works_on_a_desktop() {
    staff_shell_at(1440).await;
}

#[tokio::test]
async fn the_staff_shell_works_on_a_phone() {
    staff_shell_at(390).await;
}

/// Without JavaScript: the menu, the search and every link still work.
#[tokio::test]
async fn the_staff_shell_works_without_javascript() {
    let Some(browser) = Browser::start(false).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = seed_counts(&app).await;
    seed_ticket(
        &app,
        "Sam Summer",
        "sam@example.com",
        "Duplex scanner jams",
        "Every second page.",
    )
    .await;
    let c = &browser.client;
    c.set_window_size(390, 900).await.unwrap();
    c.goto(&app.url("/admin/login")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(&me)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(STAFF_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("form.form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "/admin").await;
    c.find(Locator::Css(".nav-toggle-label"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("a[href=\"/admin/tickets?assignee=none\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, "assignee=none").await;
    c.find(Locator::Id("global-q"))
        .await
        .unwrap()
        .send_keys("duplex\n")
        .await
        .unwrap();
    wait_url(c, "/admin/search").await;
    assert!(c.source().await.unwrap().contains("Duplex scanner jams"));
    browser.close().await;
}
