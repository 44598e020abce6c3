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

/// Waits until the ticket's stored status is `want`.
async fn wait_status(app: &TestApp, id: i64, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        if status == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ticket {id} is {status}, not {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// With JavaScript on a desktop, nothing needs a reload: the dashboard's
/// figures follow the work, `e` solves, Ctrl-K searches, the inbox filters
/// apply as they change, the sidebar stays compact, and the search finds a
/// subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_staff_shell_works_without_reloads() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = seed_counts(&app).await;
    let c = &browser.client;
    c.set_window_size(1440, 900).await.unwrap();
    browser.sign_in(&app, &me).await;

    // A new unassigned ticket shows on the open dashboard when the member
    // comes back to the window (and every 30 s while it is shown).
    let unassigned =
        "document.querySelector('.figures [data-figure=unassigned_tickets]').textContent";
    assert_eq!(wait_text(c, unassigned, "4").await, "4");
    js(c, "window.notReloaded = 'still here'; return 1").await;
    let (fresh, _) = seed_ticket(
        &app,
        "Nia New",
        "nia@example.com",
        "Monitor flickers",
        "Since the update.",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    js(c, "window.dispatchEvent(new Event('focus')); return 1").await;
    assert_eq!(wait_text(c, unassigned, "5").await, "5");
    assert_eq!(
        wait_text(c, "window.notReloaded", "still").await,
        "still here"
    );

    // `e` on a ticket solves it; Ctrl-K puts the cursor in the search.
    c.goto(&app.url(&format!("/admin/tickets/{fresh}")))
        .await
        .unwrap();
    press(c, "e").await;
    wait_status(&app, fresh, "solved").await;
    c.goto(&app.url("/admin")).await.unwrap();
    press(c, &format!("{}k{}", Key::Control, Key::Null)).await;
    wait_text(c, "document.activeElement.id", "global-q").await;
    c.execute("document.activeElement.blur(); return 1", vec![])
        .await
        .unwrap();

    // Inbox filters apply as soon as one changes (no button pressed).
    c.goto(&app.url("/admin/tickets")).await.unwrap();
    assert_eq!(
        js(
            c,
            "return document.querySelector('form[data-apply-on-change] .apply').hidden"
        )
        .await,
        true,
        "the Apply button is not needed with JavaScript"
    );
    c.find(Locator::Css("select[name=status]"))
        .await
        .unwrap()
        .select_by_value("solved")
        .await
        .unwrap();
    wait_url(c, "status=solved").await;
    let rows = c
        .find(Locator::Id("ticket-list"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(rows.contains("Monitor flickers"), "{rows}");

    // The sidebar folds to its icons, and stays so after a reload.
    let side =
        "String(Math.round(document.getElementById('sidebar').getBoundingClientRect().width))";
    let wide: i64 = wait_text(c, side, "").await.parse().unwrap();
    assert!(wide > 150, "the full sidebar is {wide} px");
    c.find(Locator::Css(".nav-toggle-label"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let compact = "(document.getElementById('sidebar').getBoundingClientRect().width < 80 ? 'compact' : 'full')";
    wait_text(c, compact, "compact").await;
    let label = "getComputedStyle(document.querySelector('#sidebar .label')).width";
    assert_eq!(
        wait_text(c, label, "px").await,
        "1px",
        "labels hidden, icons shown"
    );
    c.refresh().await.unwrap();
    wait_text(c, "document.readyState", "complete").await;
    wait_text(c, compact, "compact").await;
    // Unfolded again, it stays unfolded.
    c.find(Locator::Css(".nav-toggle-label"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.refresh().await.unwrap();
    wait_text(c, "document.readyState", "complete").await;
    wait_text(c, compact, "full").await;

    // The global search finds a newsletter subscriber by their address.
    let rows = vec![officecomms::newsletter::subscribers::ImportRow {
        line: 2,
        email: "kim.reader@example.com".into(),
        name: "Kim Reader".into(),
        topics: "tips".into(),
    }];
    officecomms::newsletter::subscribers::import_rows(&app.state, &rows, "a sign-up sheet")
        .await
        .unwrap();
    c.find(Locator::Id("global-q"))
        .await
        .unwrap()
        .send_keys("kim.reader\n")
        .await
        .unwrap();
    wait_text(c, "location.pathname", "/admin/search").await;
    let found = wait_text(
        c,
        "document.querySelector('main').textContent",
        "kim.reader@example.com",
    )
    .await;
    assert!(found.contains("Newsletter subscribers"), "{found}");
    shot(c, "search-subscriber", 1440).await;
    browser.close().await;
}
