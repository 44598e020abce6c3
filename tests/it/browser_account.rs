//! The visitor's account and the satisfaction rating page in a real
//! headless Chromium, at a desktop width (1,280 px) and a phone's (390 px).

use crate::{
    account::{
        ANN, ANN_TITLE, BEN, browser as http_browser, get, post, rating_of, send_request,
        set_status, ticket_id,
    },
    audit::set_width,
    browser::{Browser, click, type_into, wait_for_text},
    helpers::*,
};
use fantoccini::{Client, Locator};

const WIDTHS: [u32; 2] = [1280, 390];

/// Saves a screenshot when `OFFICECOMMS_SCREENSHOTS` names a folder (to look at the pages).
async fn screenshot(c: &Client, name: &str, width: u32) {
    if let Ok(dir) = std::env::var("OFFICECOMMS_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}-{width}.png"), png).unwrap();
    }
}

/// The page is no wider than the window: nothing scrolls sideways.
async fn assert_no_horizontal_overflow(c: &Client, what: &str) {
    let v = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await
        .unwrap();
    let (scroll, inner) = (v[0].as_i64().unwrap(), v[1].as_i64().unwrap());
    assert!(
        scroll <= inner,
        "{what}: {scroll} px wide in a {inner} px window"
    );
}

async fn main_text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Signs the browser in as `email` through the pages: form, mailed link, button.
pub(crate) async fn sign_in_in_browser(app: &TestApp, c: &Client, email: &str) {
    c.goto(&app.url("/account")).await.unwrap();
    type_into(c, Locator::Id("email"), email).await;
    click(c, Locator::Css("main form button[type=submit]")).await;
    wait_for_text(c, "Check your email").await;
    app.drain_outbox().await;
    let link = app
        .mails()
        .into_iter()
        .rfind(|m| m.to == email && m.subject.contains("sign-in"))
        .expect("a sign-in mail")
        .link(&format!("{}/account/sign-in/", app.base));
    c.goto(&link).await.unwrap();
    wait_for_text(c, "You are signing in as").await;
    click(c, Locator::Css("main form button[type=submit]")).await;
    wait_for_text(c, "Signed in as").await;
}

#[tokio::test]
async fn a_signed_in_account_sees_its_ticket_and_order_and_not_anothers_at_both_widths() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ann = http_browser();
    let ann_ref = send_request(&app, &ann, ANN, ANN_TITLE).await;
    let services = officecomms::shop::db::active_services(&app.state.db)
        .await
        .unwrap();
    let r = post(
        &app,
        &ann,
        "/cart",
        &[("action", "add"), ("service", &services[0].id.to_string())],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, checkout) = get(&app, &ann, "/checkout").await;
    let marker = "name=\"idempotency_key\" value=\"";
    let start = checkout.find(marker).unwrap() + marker.len();
    let key = checkout[start..start + checkout[start..].find('"').unwrap()].to_string();
    let r = post(
        &app,
        &ann,
        "/checkout",
        &[
            ("name", "Ann Account"),
            ("email", ANN),
            ("birth_year", "1980"),
            ("idempotency_key", &key),
        ],
    )
    .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let ann_order: String = sqlx::query_scalar("SELECT reference FROM orders")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let ben_ref = send_request(&app, &http_browser(), BEN, "Ben's printer is offline").await;
    crate::account::confirmed_chat(&app, ANN, "My scanner shows error 5").await;
    crate::account::survey_answer(&app, ANN, "Faster answers on Fridays").await;
    officecomms::newsletter::subscribers::import_rows(
        &app.state,
        &[officecomms::newsletter::subscribers::ImportRow {
            line: 2,
            email: ANN.into(),
            name: String::new(),
            topics: "tips".into(),
        }],
        "test sheet",
    )
    .await
    .unwrap();

    let c = &browser.client;
    for width in WIDTHS {
        set_width(c, width).await;
        c.goto(&app.url("/account")).await.unwrap();
        wait_for_text(c, "Email me a sign-in link").await;
        screenshot(c, "account-signed-out", width).await;
        assert_no_horizontal_overflow(c, "the sign-in page").await;
    }
    sign_in_in_browser(&app, c, ANN).await;
    for width in WIDTHS {
        set_width(c, width).await;
        c.goto(&app.url("/account")).await.unwrap();
        let text = main_text(c).await;
        assert!(
            text.contains(&ann_ref) && text.contains(ANN_TITLE),
            "{text}"
        );
        assert!(text.contains(&ann_order), "{text}");
        assert!(!text.contains(&ben_ref) && !text.contains("Ben's printer"));
        screenshot(c, "account", width).await;
        assert_no_horizontal_overflow(c, "the account").await;
        c.execute("window.scrollTo(0, document.body.scrollHeight)", vec![])
            .await
            .unwrap();
        screenshot(c, "account-bottom", width).await;

        let ticket_link = format!("a[href='/account/tickets/{ann_ref}']");
        click(c, Locator::Css(&ticket_link)).await;
        wait_for_text(c, "Your answer").await;
        assert!(main_text(c).await.contains("Since Monday Outlook asks"));
        screenshot(c, "account-ticket", width).await;
        assert_no_horizontal_overflow(c, "a ticket").await;

        c.goto(&app.url(&format!("/account/orders/{ann_order}")))
            .await
            .unwrap();
        wait_for_text(c, "This is a request, not a payment").await;
        assert_no_horizontal_overflow(c, "an order").await;

        c.goto(&app.url("/account/sessions")).await.unwrap();
        wait_for_text(c, "This browser").await;
        screenshot(c, "account-sessions", width).await;
        assert_no_horizontal_overflow(c, "the sessions").await;

        c.goto(&app.url(&format!("/account/tickets/{ben_ref}")))
            .await
            .unwrap();
        let text = main_text(c).await;
        assert!(!text.contains("Ben's printer"), "another's ticket: {text}");
        assert_no_horizontal_overflow(c, "the not-found page").await;
    }
    // The answer form works from the browser.
    c.goto(&app.url(&format!("/account/tickets/{ann_ref}")))
        .await
        .unwrap();
    type_into(c, Locator::Id("body"), "Still broken on my laptop.").await;
    click(c, Locator::Css("form.account-answer button[type=submit]")).await;
    wait_for_text(c, "Your answer was sent").await;
    assert!(main_text(c).await.contains("Still broken on my laptop."));
    browser.close().await;
}

#[tokio::test]
async fn a_rating_link_records_nothing_until_the_button_is_clicked_at_both_widths() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let agent = app.staff_client("agent").await;
    let c = &browser.client;
    for (i, width) in WIDTHS.into_iter().enumerate() {
        let email = format!("rater{i}@example.com");
        let reference = send_request(&app, &http_browser(), &email, ANN_TITLE).await;
        let id = ticket_id(&app, &reference).await;
        set_status(&app, &agent, id, "solved").await;
        app.drain_outbox().await;
        let mail = app
            .mails()
            .into_iter()
            .find(|m| m.to == email && m.subject.contains("How did we do?"))
            .expect("the rating request");
        let link = mail.link(&format!("{}/csat/", app.base));
        let link = link.replace("score=1", "score=4");

        set_width(c, width).await;
        c.goto(&link).await.unwrap();
        wait_for_text(c, "How did we do?").await;
        let checked = c
            .find(Locator::Css("input[name=score]:checked"))
            .await
            .unwrap()
            .attr("value")
            .await
            .unwrap();
        assert_eq!(checked.as_deref(), Some("4"), "the link's choice is chosen");
        assert_eq!(
            rating_of(&app, id).await,
            None,
            "opening the link records nothing"
        );
        screenshot(c, "csat", width).await;
        assert_no_horizontal_overflow(c, "the rating page").await;

        // Another choice before sending is fine; the button records once.
        click(c, Locator::Css("label[for=score-2]")).await;
        type_into(c, Locator::Id("comment"), "Slow first answer.").await;
        click(c, Locator::Css("form.rate-form button[type=submit]")).await;
        wait_for_text(c, "Thank you!").await;
        screenshot(c, "csat-thanks", width).await;
        assert_no_horizontal_overflow(c, "the thanks page").await;
        assert_eq!(rating_of(&app, id).await, Some(2));
        let rows: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM csat_ratings WHERE rating IS NOT NULL")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        assert_eq!(rows, i as i64 + 1, "one rating per ticket");
    }
    browser.close().await;
}

#[tokio::test]
async fn times_follow_the_visitors_zone_where_the_browser_tells_it_and_name_the_companys_otherwise()
{
    let app = TestApp::spawn(Backend::Sqlite).await;
    let reference = send_request(&app, &http_browser(), ANN, ANN_TITLE).await;
    let sent: i64 = sqlx::query_scalar("SELECT created_at FROM tickets")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let utc = chrono::DateTime::from_timestamp_millis(sent).unwrap();
    let iso = utc.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let kolkata = utc.with_timezone(&chrono_tz::Asia::Kolkata);
    let company = officecomms::platform::templates::format_in_zone(
        sent,
        officecomms::platform::settings::DEFAULT_TIME_ZONE,
    );
    for javascript in [true, false] {
        let Some(browser) = Browser::start_in_zone(javascript, Some("Asia/Kolkata")).await else {
            return;
        };
        let c = &browser.client;
        sign_in_in_browser(&app, c, ANN).await;
        let path = format!("/account/tickets/{reference}");
        for width in WIDTHS {
            set_width(c, width).await;
            c.goto(&app.url(&path)).await.unwrap();
            wait_for_text(c, "Your answer").await;
            let sent_at = c
                .find(Locator::Css(&format!("time[datetime='{iso}']")))
                .await
                .unwrap();
            let text = sent_at.text().await.unwrap();
            let title = sent_at.attr("title").await.unwrap().unwrap_or_default();
            if javascript {
                // The browser's zone, which India names by its offset.
                let zone = c
                    .execute(
                        "return Intl.DateTimeFormat().resolvedOptions().timeZone",
                        vec![],
                    )
                    .await
                    .unwrap();
                // ICU still calls it by its old name.
                assert!(
                    matches!(zone.as_str(), Some("Asia/Kolkata" | "Asia/Calcutta")),
                    "TZ reached the browser: {zone}"
                );
                let clock = [
                    kolkata.format("%-I:%M").to_string(),
                    kolkata.format("%H:%M").to_string(),
                ];
                assert!(
                    text.contains("GMT+5:30") && clock.iter().any(|c| text.contains(c.as_str())),
                    "{text} is not {kolkata}"
                );
                assert!(
                    title.contains("GMT+5:30")
                        && title.contains(&kolkata.format(":%M:%S").to_string()),
                    "the exact time on hover: {title}"
                );
                screenshot(c, "account-ticket-kolkata", width).await;
            } else {
                assert_eq!(text, company, "without script, the company's zone");
                assert!(text.ends_with(" PST") || text.ends_with(" PDT"), "{text}");
            }
            assert_no_horizontal_overflow(c, "a ticket").await;
        }
        browser.close().await;
    }
}
