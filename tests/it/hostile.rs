//! Hostile input through every public form: each field of each POST form the
//! public pages show gets XSS, SQL injection, path traversal, overlong,
//! NUL-byte and invalid UTF-8 payloads, one field at a time, the others
//! filled in validly. No answer is a 5xx, no payload comes back unescaped,
//! and a refused submission stores nothing at all. The browser half opens
//! the pages that show accepted payloads (to visitors and to staff) in
//! headless Chromium and checks that no script ran.

use crate::{both, helpers::*};
use officecomms::support::settings::{self as support_settings, SupportSettings};

const MARKER_XSS: &[&str] = &[
    "\"><script>window.__pwned=1</script>",
    "<img src=x onerror=\"window.__pwned=1\">",
    "javascript:window.__pwned=1",
];

/// (label, payload as it goes on the wire, already form-encoded)
fn payloads() -> Vec<(&'static str, String)> {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut list: Vec<(&'static str, String)> =
        MARKER_XSS.iter().map(|p| ("xss", enc(p))).collect();
    list.extend([
        ("sql", enc("' OR '1'='1'; DROP TABLE tickets; --")),
        ("path", enc("../../../../etc/passwd")),
        ("overlong", "A".repeat(100_000)),
        ("nul", "a%00b".to_string()),
        ("invalid utf-8", "%FF%FE%C3%28".to_string()),
    ]);
    list
}

/// A POST form as the page shows it.
#[derive(Debug, Clone)]
pub struct HtmlForm {
    pub action: String,
    pub multipart: bool,
    /// (name, default value, kind) — kind is the input type, "textarea" or "select".
    pub fields: Vec<(String, String, String)>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The POST forms of a page (a small scanner: our templates quote every attribute).
pub fn post_forms(html: &str, page_path: &str) -> Vec<HtmlForm> {
    let mut forms = Vec::new();
    for chunk in html.split("<form").skip(1) {
        let Some(body) = chunk.split("</form>").next() else {
            continue;
        };
        let head = &body[..body.find('>').unwrap_or(0)];
        if attr(head, "method").is_none_or(|m| !m.eq_ignore_ascii_case("post")) {
            continue;
        }
        let mut fields = Vec::new();
        for part in body.split('<').skip(1) {
            let tag = &part[..part.find('>').unwrap_or(part.len())];
            let kind = if tag.starts_with("input") {
                attr(tag, "type").unwrap_or_else(|| "text".into())
            } else if tag.starts_with("textarea") {
                "textarea".into()
            } else if tag.starts_with("select") {
                "select".into()
            } else {
                continue;
            };
            let Some(name) = attr(tag, "name") else {
                continue;
            };
            if matches!(kind.as_str(), "submit" | "button" | "file") {
                continue;
            }
            let value = match kind.as_str() {
                "textarea" => part[tag.len() + 1..].to_string(),
                "select" => body[body.find(part).unwrap_or(0)..]
                    .split("<option")
                    .nth(1)
                    .and_then(|o| attr(o, "value"))
                    .unwrap_or_default(),
                "checkbox" | "radio" if fields.iter().any(|(n, _, _)| n == &name) => continue,
                _ => attr(tag, "value").unwrap_or_default(),
            };
            fields.push((name, value, kind));
        }
        forms.push(HtmlForm {
            action: attr(head, "action").unwrap_or_else(|| page_path.to_string()),
            multipart: attr(head, "enctype").is_some_and(|e| e.contains("multipart")),
            fields,
        });
    }
    forms
}

/// A valid value for a field people fill in, by its name.
fn valid(name: &str, default: &str, kind: &str, n: usize) -> String {
    match (name, kind) {
        (_, "hidden" | "select" | "radio" | "checkbox") => default.to_string(),
        ("email", _) => format!("hostile{n}@example.com"),
        ("birth_year", _) => "1985".into(),
        ("website", _) => String::new(), // the honeypot stays empty
        ("phone", _) => String::new(),
        ("password", _) => "not the password".into(),
        ("quantity", _) => "1".into(),
        (_, "number") => "3".into(),
        _ if !default.is_empty() => default.to_string(),
        _ => "A reasonable answer".into(),
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Rows in every table of the inventory, to tell whether anything was stored.
async fn stored_rows(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in app.state.registry.inventory.tables() {
        // Bookkeeping of refusals (rate counters, sessions) is not a
        // submission, nor is the integrity scan the server runs a minute
        // after start (a loaded machine takes longer than that here).
        if matches!(
            table.name,
            "support_intake" | "staff_sessions" | "audit_log" | "settings" | "integrity_scans"
        ) {
            continue;
        }
        let sql = format!("SELECT COUNT(*) FROM {}", table.name);
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap_or(0);
        out.push((table.name, n));
    }
    out
}

/// Every public page with a form, reached the way a visitor would.
async fn public_forms(app: &TestApp) -> Vec<HtmlForm> {
    let mut pages = vec![
        "/".to_string(),
        "/contact".into(),
        "/my-data".into(),
        "/services".into(),
        "/admin/login".into(),
    ];
    let (_, surveys) = app.get_text("/surveys").await;
    for link in surveys.split("href=\"/surveys/").skip(1) {
        let slug = &link[..link.find('"').unwrap()];
        pages.push(format!("/surveys/{slug}"));
    }
    // A service in the cart makes the cart and checkout forms appear.
    let (_, services) = app.get_text("/services").await;
    let add = post_forms(&services, "/services")
        .into_iter()
        .find(|f| f.action == "/cart")
        .expect("an add-to-cart form");
    let fields: Vec<(String, String)> = add
        .fields
        .iter()
        .map(|(n, v, _)| (n.clone(), v.clone()))
        .collect();
    let r = app
        .client
        .post(app.url("/cart"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    pages.extend(["/cart".to_string(), "/checkout".into()]);

    let mut forms = Vec::new();
    for path in pages {
        let (status, html) = app.get_text(&path).await;
        assert_eq!(status, 200, "{path}");
        for form in post_forms(&html, &path) {
            if !forms
                .iter()
                .any(|f: &HtmlForm| f.action == form.action && f.fields.len() == form.fields.len())
            {
                forms.push(form);
            }
        }
    }
    forms
}

both! {
    async fn every_field_of_every_public_form_refuses_hostile_input_cleanly(backend) {
        let app = TestApp::spawn(backend).await;
        sweep(&app).await;
    }

    async fn every_public_form_that_asks_the_age_refuses_a_child_and_keeps_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let mut forms = public_forms(&app).await;
        let (_, chat) = app.get_text("/chat").await;
        forms.extend(post_forms(&chat, "/chat"));
        forms.retain(|f| f.fields.iter().any(|(name, _, _)| name == "birth_year"));
        let actions: Vec<&str> = forms.iter().map(|f| f.action.as_str()).collect();
        // The newsletter asks on its confirmation page (tests/it/newsletter.rs).
        assert!(!actions.contains(&"/newsletter"), "the newsletter forms ask only for an address");
        for expected in ["/contact", "/checkout", "/chat/start"] {
            assert!(actions.contains(&expected), "form {expected} asks the age: {actions:?}");
        }
        let this_year = chrono::Datelike::year(&chrono::Utc::now());
        for (n, form) in forms.iter().enumerate() {
            // A new browser for each form: a child's answer is remembered.
            let visitor = client();
            let home = visitor.get(app.url("/")).send().await.unwrap().text().await.unwrap();
            let csrf = extract_csrf(&home);
            let send = |year: i32| {
                let fields: Vec<(String, String)> = form
                    .fields
                    .iter()
                    .map(|(name, default, kind)| {
                        let value = match name.as_str() {
                            "csrf" => csrf.clone(),
                            "birth_year" => year.to_string(),
                            _ => valid(name, default, kind, n),
                        };
                        (name.clone(), value)
                    })
                    .collect();
                let request = visitor.post(app.url(&form.action));
                let request = if form.multipart {
                    let multipart = fields
                        .into_iter()
                        .fold(reqwest::multipart::Form::new(), |m, (k, v)| m.text(k, v));
                    request.multipart(multipart)
                } else {
                    request.form(&fields)
                };
                request.send()
            };
            let before = stored_rows(&app).await;
            let r = send(this_year - 9).await.unwrap();
            let what = &form.action;
            assert_eq!(r.status(), 403, "{what}");
            assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("oc_age="), "{what}");
            let page = r.text().await.unwrap();
            assert!(page.contains("Thank you for visiting"), "{what}: {page}");
            assert!(!page.contains(&format!("hostile{n}@example.com")), "{what}: nothing typed is shown back");
            let r = send(1980).await.unwrap();
            assert_eq!(r.status(), 403, "{what}: another year from the same browser is refused too");
            assert_eq!(stored_rows(&app).await, before, "{what} stored something");
            let queued = officecomms::platform::mail::depth(&app.state.db).await.unwrap();
            assert_eq!(queued, 0, "{what} sent something");
        }
    }
}

/// Posts every payload into every field of every public form; returns once
/// each answer has been checked.
async fn sweep(app: &TestApp) {
    {
        // The contact form's robot checks would refuse a form sent at once.
        let mut tx = app.state.db.begin().await.unwrap();
        let relaxed = SupportSettings {
            min_fill_secs: 0,
            per_ip_hour: 100_000,
            per_ip_day: 100_000,
            ..Default::default()
        };
        support_settings::save(&mut tx, &relaxed).await.unwrap();
        tx.commit().await.unwrap();

        let forms = public_forms(app).await;
        let actions: Vec<&str> = forms.iter().map(|f| f.action.as_str()).collect();
        for expected in ["/contact", "/my-data", "/cart", "/checkout", "/admin/login"] {
            assert!(
                actions.contains(&expected),
                "form {expected} found among {actions:?}"
            );
        }
        assert!(
            actions.iter().any(|a| a.starts_with("/surveys/")),
            "{actions:?}"
        );

        let mut n = 0;
        let mut accepted = 0;
        for form in &forms {
            for (target, _, target_kind) in &form.fields {
                if target == "csrf" || target_kind == "checkbox" {
                    continue;
                }
                for (label, payload) in payloads() {
                    n += 1;
                    // A fresh form each time: tokens and idempotency keys are single-use.
                    let path = if form.action.starts_with("/cart") {
                        "/cart"
                    } else {
                        &form.action
                    };
                    let (_, html) = app.get_text(path).await;
                    let fresh = post_forms(&html, path)
                        .into_iter()
                        .find(|f| f.action == form.action && f.fields.len() == form.fields.len())
                        .unwrap_or_else(|| form.clone());
                    let mut body = Vec::new();
                    for (name, default, kind) in &fresh.fields {
                        let value = if name == target {
                            payload.clone()
                        } else {
                            encode(&valid(name, default, kind, n))
                        };
                        body.push(format!("{}={value}", encode(name)));
                    }
                    let before = stored_rows(app).await;
                    let request = if fresh.multipart {
                        // The same bytes as a multipart body, payload undecoded.
                        let boundary = "hostileboundary7MA4YWxkTrZu0gW";
                        let mut raw: Vec<u8> = Vec::new();
                        for pair in &body {
                            let (k, v) = pair.split_once('=').unwrap();
                            let k: String =
                                url::form_urlencoded::parse(format!("k={k}").as_bytes())
                                    .next()
                                    .unwrap()
                                    .1
                                    .into_owned();
                            let v = percent_decode(v);
                            raw.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n").as_bytes());
                            raw.extend(v);
                            raw.extend(b"\r\n");
                        }
                        raw.extend(format!("--{boundary}--\r\n").as_bytes());
                        app.client
                            .post(app.url(&fresh.action))
                            .header(
                                "content-type",
                                format!("multipart/form-data; boundary={boundary}"),
                            )
                            .body(raw)
                    } else {
                        app.client
                            .post(app.url(&fresh.action))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(body.join("&"))
                    };
                    let r = request.send().await.unwrap();
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    let what = format!("{label} in {target} of {}", fresh.action);
                    assert!(
                        status < 500,
                        "{what}: {status} {}",
                        &text[..text.len().min(400)]
                    );
                    assert!(
                        !text.contains("window.__pwned=1</script>") && !text.contains("<img src=x"),
                        "{what} reflected unescaped"
                    );
                    let after = stored_rows(app).await;
                    if status < 400 {
                        accepted += 1;
                    } else {
                        assert_eq!(
                            before, after,
                            "{what}: refused with {status} but stored something"
                        );
                    }
                }
            }
        }
        eprintln!("hostile: {n} submissions, {accepted} accepted, forms {actions:?}");
        assert!(n > 100, "only {n} hostile submissions");
        assert!(
            accepted > 0,
            "some payloads are legitimate text and are accepted"
        );
    }
}

/// What Chromium shows is inert: no payload element in the DOM, no script ran.
async fn assert_inert(c: &fantoccini::Client, what: &str) {
    let found = c
        .execute(
            "return [window.__pwned === undefined, \
              document.querySelectorAll('img[src=\"x\"], a[href^=\"javascript:\"]').length, \
              [...document.scripts].filter(s => s.textContent.includes('__pwned')).length];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found, serde_json::json!([true, 0, 0]), "{what}");
}

/// The pages that show what the sweep left behind, to the visitor and to
/// staff, opened in headless Chromium with JavaScript on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_shown_back_in_a_real_browser_stays_inert() {
    use crate::browser::click;
    use fantoccini::Locator;
    let Some(browser) = crate::browser::Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    sweep(&app).await;
    let c = &browser.client;

    // A visitor types a payload into every field of the contact form.
    c.goto(&app.url("/contact")).await.unwrap();
    // Every field a person fills in (the honeypot stays empty, as people leave it).
    for field in c.find_all(Locator::Css("#contact-form input[type=text], #contact-form input[type=email], #contact-form input:not([type]):not([name=website]), #contact-form textarea")).await.unwrap() {
        field.send_keys(MARKER_XSS[1]).await.unwrap();
    }
    // Past the browser's own checks, so the server answers the payloads.
    c.execute(
        "document.getElementById('contact-form').noValidate = true;",
        vec![],
    )
    .await
    .unwrap();
    click(c, Locator::Css("#contact-form button[type=submit]")).await;
    // The form comes back with its errors (the address is not one).
    crate::browser::wait_text(
        c,
        "document.querySelector('[aria-invalid=true]') ? 'errors' : ''",
        "errors",
    )
    .await;
    assert_inert(c, "the contact form sent back with errors").await;

    // Staff read everything the sweep stored.
    app.create_staff("hostile-admin@officecomms.test", "admin")
        .await;
    browser
        .sign_in(&app, "hostile-admin@officecomms.test")
        .await;
    let mut opened = 0;
    for list in [
        "/admin/tickets",
        "/admin/orders",
        "/admin/surveys",
        "/admin/privacy/requests",
    ] {
        c.goto(&app.url(list)).await.unwrap();
        assert_inert(c, list).await;
        let links: Vec<String> = c
            .execute(
                "return [...document.querySelectorAll('main a')].map(a => a.getAttribute('href')).filter(h => h && h.startsWith(arguments[0] + '/'));",
                vec![serde_json::json!(list)],
            )
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        for link in links.iter().take(40) {
            c.goto(&app.url(link)).await.unwrap();
            assert_inert(c, link).await;
            opened += 1;
        }
    }
    assert!(opened >= 5, "only {opened} detail pages opened");
    browser.close().await;
}

fn percent_decode(v: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(&v.replace('+', " ")).collect()
}
