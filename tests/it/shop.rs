//! The services catalog, the signed-cookie cart, checkout and order requests.

use crate::{both, helpers::*};
use officecomms::{
    privacy::{erasure, subjects},
    shop::db as shop_db,
};

const BUYER: &str = "robin.buyer@example.com";

/// Ids of the demo catalog, in catalog order.
pub async fn catalog(app: &TestApp) -> Vec<(i64, String)> {
    shop_db::active_services(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect()
}

pub async fn cart_post(
    app: &TestApp,
    action: &str,
    service: &str,
    quantity: &str,
) -> reqwest::Response {
    app.post_form(
        "/cart",
        &[
            ("action", action),
            ("service", service),
            ("quantity", quantity),
        ],
    )
    .await
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

pub fn idempotency_key(body: &str) -> String {
    let marker = "name=\"idempotency_key\" value=\"";
    let start = body.find(marker).expect("checkout form has a key") + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_string()
}

/// Fills the cart with 2 × the first service and 1 × the fourth (a one-off).
pub async fn fill_cart(app: &TestApp) -> Vec<(i64, String)> {
    let services = catalog(app).await;
    let r = cart_post(app, "add", &services[0].0.to_string(), "2").await;
    assert_eq!(r.status(), 303);
    let r = cart_post(app, "add", &services[3].0.to_string(), "").await;
    assert_eq!(r.status(), 303);
    services
}

pub async fn checkout(app: &TestApp, key: &str, birth_year: &str) -> reqwest::Response {
    app.post_form(
        "/checkout",
        &[
            ("name", "Robin Buyer"),
            ("email", BUYER),
            ("phone", "+1 510 555 0199"),
            ("company", "Acme Dental"),
            ("notes", "Please call after 2pm"),
            ("birth_year", birth_year),
            ("idempotency_key", key),
        ],
    )
    .await
}

both! {
    async fn staff_find_an_order_by_any_of_its_words_until_it_is_erased(backend) {
        let app = TestApp::spawn(backend).await;
        let services = fill_cart(&app).await;
        let key = idempotency_key(&app.get_text("/checkout").await.1);
        assert_eq!(checkout(&app, &key, "1980").await.status(), 303);
        app.login_as("admin").await;
        let reference: String = sqlx::query_scalar("SELECT reference FROM orders").fetch_one(&app.state.db.pool).await.unwrap();
        // A word of the notes, a prefix of the company, the phone's digits, a service's name, with a status.
        let service_word = services[0].1.split_whitespace().last().unwrap().to_lowercase();
        for q in ["after 2pm", "dent", "510 555 0199", &service_word, "acme new"] {
            let (_, list) = app.get_text(&format!("/admin/orders?q={}", q.replace(' ', "+"))).await;
            assert!(list.contains(&reference), "{q}");
        }
        assert!(!app.get_text("/admin/orders?q=acme+won").await.1.contains(&reference));
        assert!(app.get_text("/admin/search?q=acme+dental").await.1.contains(&reference));
        let subject = subjects::find(&app.state.db, &app.state.keyring, BUYER).await.unwrap().unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_search_terms WHERE subject_id = $1").bind(subject.id).fetch_one(&app.state.db.pool).await.unwrap();
        assert!(rows > 0);
        let mut tx = app.state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &app.state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_search_terms WHERE subject_id = $1").bind(subject.id).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(rows, 0, "no hash of the buyer remains");
        assert!(!app.get_text("/admin/orders?q=acme").await.1.contains(&reference));
    }

    async fn the_cart_adds_updates_and_removes_services_with_plain_forms(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, page) = app.get_text("/services").await;
        assert!(page.contains("Essential support plan") && page.contains("$49.00") && page.contains("per month"));
        assert!(page.contains("action=\"/cart\""));
        let services = catalog(&app).await;
        let (first, fourth) = (services[0].0.to_string(), services[3].0.to_string());

        let r = cart_post(&app, "add", &first, "2").await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/cart?done=added");
        let cookie = set_cookie(&r, "oc_cart").expect("cart cookie set");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(!cookie.contains("Robin"), "the cart cookie holds ids and quantities only");
        let (_, page) = app.get_text("/cart?done=added").await;
        assert!(page.contains("Added to your cart."));
        assert!(page.contains("Essential support plan") && page.contains("$98.00"), "{page}");

        cart_post(&app, "add", &fourth, "1").await;
        let (_, page) = app.get_text("/cart").await;
        assert!(page.contains("Total per month") && page.contains("Total one-off"));
        assert!(page.contains("$150.00"));

        let r = cart_post(&app, "update", &first, "3").await;
        assert_eq!(r.headers()["location"], "/cart?done=updated");
        let (_, page) = app.get_text("/cart").await;
        assert!(page.contains("value=\"3\"") && page.contains("$147.00"));

        cart_post(&app, "update", &first, "0").await;
        let (_, page) = app.get_text("/cart").await;
        assert!(!page.contains("Essential support plan"), "quantity 0 removes the line");

        let r = cart_post(&app, "remove", &fourth, "").await;
        assert_eq!(r.headers()["location"], "/cart?done=removed");
        let (_, page) = app.get_text("/cart").await;
        assert!(page.contains("Your cart is empty"));

        // A necessary cookie: it works for a visitor who sends Do Not Track.
        let csrf = app.csrf().await;
        let r = app.client.post(app.url("/cart")).header("dnt", "1").header("sec-gpc", "1")
            .form(&[("csrf", csrf.as_str()), ("action", "add"), ("service", first.as_str())])
            .send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert!(set_cookie(&r, "oc_cart").is_some());
        let r = cart_post(&app, "clear", "", "").await;
        assert_eq!(r.headers()["location"], "/cart?done=cleared");
        assert!(set_cookie(&r, "oc_cart").unwrap().contains("Max-Age=0"));
    }

    async fn a_tampered_or_stale_cart_cookie_is_emptied_with_a_message(backend) {
        let app = TestApp::spawn(backend).await;
        let services = catalog(&app).await;
        let r = cart_post(&app, "add", &services[0].0.to_string(), "2").await;
        let cookie = set_cookie(&r, "oc_cart").unwrap();
        let value = cookie.split(';').next().unwrap().trim_start_matches("oc_cart=").to_string();
        let csrf = app.csrf().await;
        let stranger = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let with_cart = |v: String| format!("oc_csrf={csrf}; oc_cart={v}");

        for forged in [
            value.replacen("x2", "x9", 1),
            format!("{}A", value),
            "c1-0-1x1".to_string(),
            "%%%".to_string(),
        ] {
            let r = stranger.get(app.url("/cart")).header("cookie", with_cart(forged.clone())).send().await.unwrap();
            assert_eq!(r.status(), 200, "{forged}");
            assert!(set_cookie(&r, "oc_cart").unwrap().contains("Max-Age=0"), "emptied");
            let page = r.text().await.unwrap();
            assert!(page.contains("could not be read") && page.contains("Your cart is empty"), "{forged}");

            let r = stranger.post(app.url("/cart")).header("cookie", with_cart(forged.clone()))
                .form(&[("csrf", csrf.as_str()), ("action", "add"), ("service", "1"), ("quantity", "1")])
                .send().await.unwrap();
            assert_eq!(r.status(), 400);
            assert!(set_cookie(&r, "oc_cart").unwrap().contains("Max-Age=0"));
            assert!(r.text().await.unwrap().contains("could not be read"));

            let r = stranger.get(app.url("/services")).header("cookie", with_cart(forged)).send().await.unwrap();
            assert_eq!(r.status(), 200, "the catalog still works");
        }

        // Signed by us but older than a week: emptied, and adding still works.
        let old = app.state.keyring.sign("cart", &format!("c1-{}-{}x1", officecomms::platform::now_ms() - 8 * 86_400_000, services[0].0));
        let r = stranger.get(app.url("/cart")).header("cookie", with_cart(old.clone())).send().await.unwrap();
        assert!(r.text().await.unwrap().contains("older than a week"));
        let r = stranger.post(app.url("/cart")).header("cookie", with_cart(old))
            .form(&[("csrf", csrf.as_str()), ("action", "add"), ("service", &services[1].0.to_string())])
            .send().await.unwrap();
        assert_eq!(r.status(), 303);

        // A retired service drops out of the cart with a note.
        cart_post(&app, "add", &services[1].0.to_string(), "1").await;
        sqlx::query("UPDATE services SET active = 0 WHERE id = $1").bind(services[0].0)
            .execute(&app.state.db.pool).await.unwrap();
        let (_, page) = app.get_text("/cart").await;
        assert!(page.contains("no longer offered") && page.contains(&services[1].1));
    }

    async fn negative_huge_or_malformed_quantities_and_unknown_services_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let services = catalog(&app).await;
        let first = services[0].0.to_string();
        cart_post(&app, "add", &first, "5").await;
        for (quantity, message) in [
            ("-1", "at least 1"),
            ("101", "at most 100"),
            ("99999999999999999999999", "at most 100"),
            ("abc", "whole number"),
            ("1.5", "whole number"),
            ("0", "at least 1"),
        ] {
            let r = cart_post(&app, "add", &first, quantity).await;
            assert_eq!(r.status(), 422, "{quantity}");
            let page = r.text().await.unwrap();
            assert!(page.contains(message), "{quantity}: {page}");
            assert!(page.contains("value=\"5\""), "the cart is unchanged");
        }
        for quantity in ["-3", "1000"] {
            assert_eq!(cart_post(&app, "update", &first, quantity).await.status(), 422);
        }
        // 96 more would make 101 of one service.
        let r = cart_post(&app, "add", &first, "96").await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("at most 100"));
        for service in ["999999", "abc", "", "-1"] {
            let r = cart_post(&app, "add", service, "1").await;
            assert_eq!(r.status(), 422, "{service}");
            assert!(r.text().await.unwrap().contains("not in our catalog"));
        }
        sqlx::query("UPDATE services SET active = 0 WHERE id = $1").bind(services[1].0)
            .execute(&app.state.db.pool).await.unwrap();
        assert_eq!(cart_post(&app, "add", &services[1].0.to_string(), "1").await.status(), 422, "a retired service");
        assert_eq!(cart_post(&app, "explode", &first, "1").await.status(), 400);
        let r = app.client.post(app.url("/cart")).form(&[("action", "add"), ("service", first.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 403, "CSRF token required");
        let (_, page) = app.get_text("/cart").await;
        assert!(page.contains("value=\"5\""));
    }

    async fn checkout_creates_one_order_and_one_mail_even_when_sent_twice(backend) {
        let app = TestApp::spawn(backend).await;
        assert_eq!(app.get("/checkout").await.status(), 303, "nothing to check out yet");
        let services = fill_cart(&app).await;
        let (status, form) = app.get_text("/checkout").await;
        assert_eq!(status, 200);
        assert!(form.contains("name=\"birth_year\""), "the age question is asked");
        for field in ["card", "iban", "account_number", "cvc", "cvv", "expiry", "routing", "bank"] {
            assert!(!form.to_lowercase().contains(&format!("name=\"{field}")), "no {field} field");
        }
        assert!(!form.contains("autocomplete=\"cc-"), "no card autocomplete");
        let key = idempotency_key(&form);

        let r = checkout(&app, &key, "1980").await;
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with("/checkout/OC-"), "{location}");
        assert!(set_cookie(&r, "oc_cart").unwrap().contains("Max-Age=0"), "cart emptied");
        let reference = location.trim_start_matches("/checkout/").to_string();
        let (status, page) = app.get_text(&location).await;
        assert_eq!(status, 200);
        assert!(page.contains(&reference) && !page.contains("Robin"), "nothing personal on the confirmation page");
        assert!(app.get_text("/cart").await.1.contains("Your cart is empty"));

        // The same form sent again (double click, back and resend): the same order.
        let again = checkout(&app, &key, "1980").await;
        assert_eq!(again.status(), 303);
        assert_eq!(again.headers()["location"].to_str().unwrap(), location);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM orders").await, 1);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM order_lines").await, 2);

        app.drain_outbox().await;
        let mails = app.mails();
        assert_eq!(mails.len(), 1, "one confirmation");
        let mail = &mails[0];
        assert_eq!(mail.to, BUYER);
        assert!(mail.subject.contains(&reference));
        assert!(mail.text.contains(&services[0].1) && mail.text.contains("$98.00") && mail.text.contains("No payment"));
        assert!(mail.text.contains("1200 Harbor Street"), "postal address in every mail");

        // Sealed at rest.
        let rows: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as("SELECT name, email FROM orders")
            .fetch_all(&app.state.db.pool).await.unwrap();
        assert!(!String::from_utf8_lossy(&rows[0].0).contains("Robin"));
        assert!(!String::from_utf8_lossy(&rows[0].1).contains("robin"));

        // Staff see it decrypted, search it and move it on.
        assert_eq!(app.get("/admin/orders").await.status(), 303, "staff only");
        app.login_as("admin").await;
        let (_, list) = app.get_text("/admin/orders").await;
        assert!(list.contains(&reference) && list.contains("Robin Buyer") && list.contains("Acme Dental") && list.contains(">new<"));
        assert!(app.get_text("/admin/orders?q=acme").await.1.contains(&reference));
        assert!(app.get_text(&format!("/admin/orders?q={}", reference.to_lowercase())).await.1.contains("Robin Buyer"));
        assert!(!app.get_text("/admin/orders?q=nobody-here").await.1.contains(&reference));
        let id: i64 = sqlx::query_scalar("SELECT id FROM orders").fetch_one(&app.state.db.pool).await.unwrap();
        let (_, detail) = app.get_text(&format!("/admin/orders/{id}")).await;
        assert!(detail.contains("Please call after 2pm") && detail.contains("+1 510 555 0199"));
        let r = app.post_form(&format!("/admin/orders/{id}"), &[("status", "contacted")]).await;
        assert_eq!(r.status(), 303);
        assert!(app.get_text("/admin/orders?q=contacted").await.1.contains(&reference));
        assert_eq!(app.post_form(&format!("/admin/orders/{id}"), &[("status", "paid")]).await.status(), 422);
        assert!(app.get_text("/admin/audit?q=set-status").await.1.contains("contacted"));
    }

    async fn checkout_refuses_bad_input_and_keeps_what_was_typed(backend) {
        let app = TestApp::spawn(backend).await;
        fill_cart(&app).await;
        let key = idempotency_key(&app.get_text("/checkout").await.1);
        let r = app.post_form("/checkout", &[
            ("name", ""), ("email", "not-an-address"), ("phone", "call me"), ("company", "Acme Dental"),
            ("notes", "keep me"), ("birth_year", "19x5"), ("idempotency_key", &key),
        ]).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        for text in ["Please enter your name.", "valid email address", "phone number with digits", "four-digit year",
                     "value=\"not-an-address\"", "value=\"Acme Dental\"", "keep me", &format!("value=\"{key}\"")] {
            assert!(page.contains(text), "missing {text}");
        }
        assert_eq!(checkout(&app, "", "1980").await.status(), 422, "a form without its key");
        cart_post(&app, "clear", "", "").await;
        let r = checkout(&app, &key, "1980").await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Your cart is empty"));
        assert_eq!(count(&app, "SELECT COUNT(*) FROM orders").await, 0);
        assert_eq!(app.get("/checkout/OC-NOPE").await.status(), 404);
    }

    async fn a_child_at_checkout_is_refused_and_nothing_is_stored_or_sent(backend) {
        let app = TestApp::spawn(backend).await;
        fill_cart(&app).await;
        let key = idempotency_key(&app.get_text("/checkout").await.1);
        let year = (chrono::Utc::now().format("%Y").to_string().parse::<i32>().unwrap() - 10).to_string();
        let r = checkout(&app, &key, &year).await;
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("Thank you for visiting"));
        // The answer is remembered: another year straight after does not get through.
        assert_eq!(checkout(&app, &key, "1980").await.status(), 403);
        for sql in ["SELECT COUNT(*) FROM orders", "SELECT COUNT(*) FROM order_lines", "SELECT COUNT(*) FROM subjects", "SELECT COUNT(*) FROM outbox"] {
            assert_eq!(count(&app, sql).await, 0, "{sql}");
        }
    }

    async fn staff_manage_the_catalog_and_only_admins_may(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("editor").await;
        assert_eq!(app.get("/admin/services").await.status(), 403);
        assert_eq!(app.get("/admin/orders").await.status(), 403);
        app.login_as("admin").await;
        let (_, page) = app.get_text("/admin/services").await;
        assert!(page.contains("Essential support plan"));
        let fields = |price: &'static str, slug: &'static str| vec![
            ("name", "Printer rescue"), ("slug", slug), ("description", "We make the printer print."),
            ("price", price), ("billing", "once"), ("position", "9"), ("active", "1"),
        ];
        let r = app.post_form("/admin/services", &fields("12.5x", "printer-rescue")).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("price in dollars") && page.contains("value=\"Printer rescue\""));
        assert_eq!(app.post_form("/admin/services", &fields("120", "essential-support")).await.status(), 422, "duplicate slug");
        assert_eq!(app.post_form("/admin/services", &fields("120", "Bad Slug")).await.status(), 422);
        assert_eq!(app.post_form("/admin/services", &fields("$1,250.50", "printer-rescue")).await.status(), 303);
        let (_, public) = app.get_text("/services").await;
        assert!(public.contains("Printer rescue") && public.contains("$1,250.50"));
        assert!(app.get_text("/admin/services?q=printer").await.1.contains("Printer rescue"));
        let id: i64 = sqlx::query_scalar("SELECT id FROM services WHERE slug = 'printer-rescue'")
            .fetch_one(&app.state.db.pool).await.unwrap();
        assert!(app.get_text(&format!("/admin/services/{id}")).await.1.contains("value=\"1250.50\""));
        let mut retired = fields("99", "printer-rescue");
        retired.retain(|(k, _)| *k != "active");
        assert_eq!(app.post_form(&format!("/admin/services/{id}"), &retired).await.status(), 303);
        assert!(!app.get_text("/services").await.1.contains("Printer rescue"), "retired services leave the catalog");
        assert!(app.get_text("/admin/services").await.1.contains("retired"));
        assert_eq!(app.get("/admin/services/999999").await.status(), 404);
        assert!(app.get_text("/admin/audit?q=service").await.1.contains("Printer rescue"));
    }

    async fn my_data_export_and_erasure_cover_order_requests(backend) {
        let app = TestApp::spawn(backend).await;
        fill_cart(&app).await;
        let key = idempotency_key(&app.get_text("/checkout").await.1);
        assert_eq!(checkout(&app, &key, "1980").await.status(), 303);
        let state = &app.state;
        let subject = subjects::find(&state.db, &state.keyring, BUYER).await.unwrap().expect("subject");
        let export = erasure::export(&state.db, &state.registry.inventory, &subject).await.unwrap();
        let orders = export.iter().find(|t| t.table == "orders").expect("orders exported");
        assert_eq!(orders.rows[0]["name"], "Robin Buyer");
        assert_eq!(orders.rows[0]["company"], "Acme Dental");
        assert_eq!(orders.rows[0]["notes"], "Please call after 2pm");
        let lines = export.iter().find(|t| t.table == "order_lines").expect("lines exported");
        assert_eq!(lines.rows.len(), 2);

        let mut tx = state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&app, "SELECT COUNT(*) FROM orders").await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM order_lines").await, 0);
    }
}

#[tokio::test]
async fn a_visitor_orders_two_services_with_javascript_off_in_a_real_browser() {
    use crate::browser::{Browser, click, type_into, wait_for_text};
    use fantoccini::Locator;
    let Some(browser) = Browser::start(false).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = &browser.client;
    c.goto(&app.url("/services")).await.unwrap();
    let forms = c
        .find_all(Locator::Css("form[action='/cart']"))
        .await
        .unwrap();
    assert!(forms.len() >= 4);
    forms[0]
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(c, "Added to your cart.").await;
    c.goto(&app.url("/services")).await.unwrap();
    let forms = c
        .find_all(Locator::Css("form[action='/cart']"))
        .await
        .unwrap();
    let quantity = forms[3]
        .find(Locator::Css("input[name=quantity]"))
        .await
        .unwrap();
    quantity.clear().await.unwrap();
    quantity.send_keys("2").await.unwrap();
    forms[3]
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(c, "Remote office health check").await;
    // $49.00 per month, 2 × $150.00 one-off.
    wait_for_text(c, "$300.00").await;
    click(c, Locator::LinkText("Request this order")).await;
    wait_for_text(c, "Send order request").await;
    for (id, value) in [
        ("name", "Sam Browser"),
        ("email", "sam@example.com"),
        ("company", "Sam's Bakery"),
        ("birth_year", "1975"),
    ] {
        type_into(c, Locator::Id(id), value).await;
    }
    click(c, Locator::Css("main form.form button[type=submit]")).await;
    wait_for_text(c, "Order request received").await;
    let path = c.current_url().await.unwrap().path().to_string();
    assert!(path.starts_with("/checkout/OC-"), "{path}");
    let lines: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, quantity FROM order_lines ORDER BY id")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(
        lines,
        vec![
            ("Essential support plan".to_string(), 1),
            ("Remote office health check".to_string(), 2)
        ]
    );
    c.goto(&app.url("/cart")).await.unwrap();
    wait_for_text(c, "Your cart is empty").await;
    app.drain_outbox().await;
    assert_eq!(app.mails().len(), 1);
    browser.close().await;
}
