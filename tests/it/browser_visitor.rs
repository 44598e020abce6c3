//! The visitor's pages in a real Chromium at 1,280 and 390 px: the chat
//! nobody answers becomes a ticket in the real widget, the footer's
//! newsletter form has one field, no public page scrolls sideways on a
//! phone, and the survey's scale is large buttons.
//!
//! With `OFFICECOMMS_SCREENSHOTS=DIR` set, each width's pages are also
//! saved as PNGs there, to look at.

use crate::{
    browser::{Browser, click, type_into, wait_text},
    helpers::*,
};
use fantoccini::{Client, Locator};
use std::time::Duration;

const WIDTHS: [u32; 2] = [1280, 390];

/// Makes the page's viewport `width` CSS pixels wide.
async fn viewport(c: &Client, width: u32) {
    // Taller when saving screenshots, to see more of each page.
    let height = if std::env::var("OFFICECOMMS_SCREENSHOTS").is_ok() {
        1800
    } else {
        900
    };
    c.set_window_size(width, height).await.unwrap();
    let inner = c.execute("return window.innerWidth", vec![]).await.unwrap();
    let inner = inner.as_u64().unwrap_or(u64::from(width)) as u32;
    if inner != width {
        c.set_window_size(width + (width - inner.min(width)), height)
            .await
            .unwrap();
    }
}

async fn screenshot(c: &Client, name: &str, width: u32) {
    let Ok(dir) = std::env::var("OFFICECOMMS_SCREENSHOTS") else {
        return;
    };
    let png = c.screenshot().await.unwrap();
    let file = format!("{name}-{width}.png").replace('/', "_");
    std::fs::write(std::path::Path::new(&dir).join(file), png).unwrap();
}

/// How far the page reaches past the viewport's right edge, and what does.
async fn overflow(c: &Client) -> (i64, String) {
    let v = c
        .execute(
            "const w = document.documentElement.clientWidth;
             const clipped = e => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
               if (getComputedStyle(p).overflowX !== 'visible') return true; } return false; };
             const wide = [...document.querySelectorAll('body *')]
               .filter(e => e.getBoundingClientRect().right > w + 1 && e.offsetParent !== null && !clipped(e))
               .slice(0, 3).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ');
             return [document.documentElement.scrollWidth - w, wide];",
            vec![],
        )
        .await
        .unwrap();
    (
        v[0].as_i64().unwrap_or(0),
        v[1].as_str().unwrap_or("").into(),
    )
}

async fn ticket_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_with_nobody_online_becomes_a_ticket_and_a_mail_in_the_real_widget() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = &browser.client;
    for (n, width) in WIDTHS.into_iter().enumerate() {
        viewport(c, width).await;
        // A fresh tab state: the widget keeps its chat in sessionStorage.
        c.goto(&app.url("/chat")).await.unwrap();
        c.execute("sessionStorage.clear()", vec![]).await.unwrap();
        c.refresh().await.unwrap();
        wait_text(c, "document.body.innerText", "Nobody is online right now").await;
        type_into(c, Locator::Id("chat-name"), "Pat Browser").await;
        type_into(c, Locator::Id("birth_year"), "1984").await;
        click(c, Locator::Css("[data-chat-start] button[type=submit]")).await;
        // One box: the offline note, the email asked for, no second form.
        wait_text(
            c,
            "document.querySelector('.chat-compose .chat-email:not([hidden])') && document.querySelector('.chat-offline:not([hidden])')?.innerText",
            "Leave your message and email",
        )
        .await;
        let boxes = c
            .execute(
                "return document.querySelectorAll('#chat textarea').length",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(boxes.as_i64(), Some(1), "one message box");
        let intro = c
            .execute(
                "return document.querySelectorAll('[data-chat-intro]').length",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(intro.as_i64(), Some(0), "'tell us who you are' is gone");
        let email = format!("pat{n}@example.com");
        type_into(
            c,
            Locator::Css("[data-chat-input]"),
            "The shared printer prints blank pages.",
        )
        .await;
        type_into(c, Locator::Css("[data-chat-email]"), &email).await;
        screenshot(c, "chat-offline", width).await;
        click(c, Locator::Css(".chat-compose button[type=submit]")).await;
        let notice = wait_text(
            c,
            "document.querySelector('.chat-notice:not([hidden])')?.innerText",
            "support ticket OC-",
        )
        .await;
        screenshot(c, "chat-ticket", width).await;
        assert_eq!(ticket_count(&app).await, n as i64 + 1);
        let reference = notice
            .split_whitespace()
            .find(|w| w.starts_with("OC-"))
            .unwrap()
            .trim_end_matches([';', '.'])
            .to_string();
        app.drain_outbox().await;
        let acks: Vec<Mail> = app.mails().into_iter().filter(|m| m.to == email).collect();
        assert_eq!(acks.len(), 1, "one acknowledgement mail");
        assert!(acks[0].text.contains(&reference), "{}", acks[0].text);
        let (over, what) = overflow(c).await;
        assert!(
            over <= 0,
            "chat at {width}px scrolls sideways by {over}px: {what}"
        );
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_footer_newsletter_form_has_one_field() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = &browser.client;
    for width in WIDTHS {
        viewport(c, width).await;
        for path in ["/", "/articles", "/contact"] {
            c.goto(&app.url(path)).await.unwrap();
            let fields = c
                .execute(
                    "return [...document.querySelectorAll('.footer-newsletter input, .footer-newsletter select, .footer-newsletter textarea')]
                       .filter(e => e.type !== 'hidden').map(e => e.name).join(',')",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(fields.as_str(), Some("email"), "{path} at {width}px");
        }
    }
    browser.close().await;
}

/// A confirmation link for a fresh pending subscription.
async fn confirm_path(app: &TestApp) -> String {
    let r = app
        .post_form("/newsletter", &[("email", "look@example.com")])
        .await;
    assert_eq!(r.status(), 200);
    app.drain_outbox().await;
    let mail = app
        .mails()
        .into_iter()
        .find(|m| m.to == "look@example.com")
        .unwrap();
    mail.link(&format!("{}/newsletter/confirm/", app.base))
        .trim_start_matches(&app.base)
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_public_page_scrolls_sideways_at_390_px() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = &browser.client;
    let confirm = confirm_path(&app).await;
    // A service in the cart, so the cart and checkout show their forms.
    c.goto(&app.url("/services")).await.unwrap();
    click(c, Locator::Css("form[action='/cart'] button[type=submit]")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pages = [
        "/",
        "/articles",
        "/articles/slow-pc-checklist",
        "/blog",
        "/blog/a-website-without-trackers",
        "/services",
        "/cart",
        "/checkout",
        "/contact",
        "/chat",
        "/surveys",
        "/surveys/customer-satisfaction",
        "/privacy",
        "/cookies",
        "/my-data",
        "/newsletter",
        confirm.as_str(),
    ];
    for width in WIDTHS {
        viewport(c, width).await;
        for path in pages {
            c.goto(&app.url(path)).await.unwrap();
            let title = c.title().await.unwrap();
            assert!(!title.starts_with("Page not found"), "{path}: {title}");
            let name = if path.starts_with("/newsletter/confirm") {
                "newsletter-confirm"
            } else {
                path
            };
            screenshot(c, if name == "/" { "home" } else { name }, width).await;
            let (over, what) = overflow(c).await;
            assert!(
                over <= 0,
                "{path} at {width}px scrolls sideways by {over}px: {what}"
            );
        }
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survey_rating_is_large_buttons_that_stay_radios() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = &browser.client;
    for width in WIDTHS {
        viewport(c, width).await;
        c.goto(&app.url("/surveys/customer-satisfaction"))
            .await
            .unwrap();
        let sizes = c
            .execute(
                "return [...document.querySelectorAll('.scale label')].map(l => {
                   const r = l.getBoundingClientRect();
                   return [Math.round(r.width), Math.round(r.height), l.querySelector('input[type=radio]') ? 1 : 0];
                 })",
                vec![],
            )
            .await
            .unwrap();
        let sizes = sizes.as_array().unwrap();
        assert!(sizes.len() >= 11, "{sizes:?}");
        for s in sizes {
            assert!(
                s[0].as_i64().unwrap() >= 40,
                "at {width}px a step is {s}: too narrow"
            );
            assert!(
                s[1].as_i64().unwrap() >= 40,
                "at {width}px a step is {s}: too low"
            );
            assert_eq!(s[2], 1, "each step is a radio");
        }
        // Clicking a step's face picks its radio.
        click(c, Locator::Css(".scale label:nth-child(10) input")).await;
        let picked = c
            .execute(
                "return document.querySelector('.scale input:checked')?.value",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(picked.as_str(), Some("9"));
        let ends = c
            .execute(
                "return document.querySelector('.scale-ends').innerText",
                vec![],
            )
            .await
            .unwrap();
        let ends = ends.as_str().unwrap();
        assert!(
            ends.contains("Not likely") && ends.contains("Very likely"),
            "{ends}"
        );
    }
    browser.close().await;
}
