//! Cookie consent: the banner, /cookies, DNT and GPC, the proof ledger, the
//! my-data export of a person's choices, third-party tags, and a real browser.

use crate::{
    both,
    browser::{Browser, click, wait_for_text},
    helpers::*,
};
use fantoccini::Locator;
use officecomms::{
    consent::ledger::{self, Verification},
    privacy::{
        erasure,
        inventory::{COOKIES, CookieCategory},
        subjects,
    },
};
use reqwest::header::HeaderMap;

pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0";
const TAG_NAME: &str = "Example Ads";
const TAG_URL: &str = "https://tags.example.com/t.js?id=42";

/// A browser-like client with a real user agent and extra headers (DNT, GPC).
pub fn visitor(headers: &[(&'static str, &str)]) -> reqwest::Client {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(*k, v.parse().unwrap());
    }
    // A client given its own Cookie header keeps no cookie jar that could replace it.
    let jar = !headers.iter().any(|(k, _)| *k == "cookie");
    reqwest::Client::builder()
        .cookie_store(jar)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(FIREFOX)
        .default_headers(h)
        .build()
        .unwrap()
}

pub async fn text(c: &reqwest::Client, url: &str) -> (u16, HeaderMap, String) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// Posts a form from this client, with its CSRF token (read from a page that is never counted).
pub async fn post(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (_, _, page) = text(c, &app.url("/admin/login")).await;
    let csrf = extract_csrf(&page);
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    c.post(app.url(path)).form(&all).send().await.unwrap()
}

async fn choose(c: &reqwest::Client, app: &TestApp, choice: &str) -> reqwest::Response {
    post(
        c,
        app,
        "/cookies",
        &[
            ("choice", choice),
            ("from", "banner"),
            ("return_to", "/articles"),
        ],
    )
    .await
}

fn cookie_names(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split('=').next().unwrap().to_string())
        .collect()
}

fn necessary(name: &str) -> bool {
    COOKIES
        .iter()
        .any(|c| c.name == name && c.category == CookieCategory::Necessary)
}

async fn records(app: &TestApp) -> Vec<ledger::Record> {
    let mut r = ledger::recent(&app.state.db, 1000).await.unwrap();
    r.reverse();
    r
}

async fn switch_tag_on(app: &TestApp, script_url: &str, init: &str) {
    app.login_as("admin").await;
    let r = app
        .post_form(
            "/admin/consent/tags",
            &[
                ("enabled", "1"),
                ("name", TAG_NAME),
                ("script_url", script_url),
                ("init_script", init),
                ("policy_url", "https://tags.example.com/privacy"),
                ("origins", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("the tag is on"));
}

both! {
    async fn no_cookie_outside_the_necessary_ones_is_set_before_consent(backend) {
        let app = TestApp::spawn(backend).await;
        switch_tag_on(&app, TAG_URL, "").await;
        let c = visitor(&[]);
        let mut seen = vec![];
        for path in ["/", "/articles", "/articles/windows-update-stuck", "/blog", "/services", "/cart", "/contact", "/cookies", "/privacy", "/my-data", "/surveys", "/nope"] {
            let (status, headers, body) = text(&c, &app.url(path)).await;
            assert!(status == 200 || status == 404, "{path}: {status}");
            seen.extend(cookie_names(&headers));
            assert!(!body.contains("tags.example.com/t.js"), "{path} carries the tag before consent");
            assert!(!headers["content-security-policy"].to_str().unwrap().contains("tags.example.com"));
        }
        assert!(!seen.is_empty(), "the CSRF cookie at least");
        for name in &seen {
            assert!(necessary(name), "{name} was set before consent and is not a necessary cookie");
        }
        assert!(!seen.iter().any(|n| n == "oc_consent"), "no choice yet, no consent cookie");
        let r = choose(&c, &app, "reject").await;
        for name in cookie_names(r.headers()) {
            assert!(necessary(&name), "{name} set on refusal");
        }
    }

    async fn the_banner_is_fair_and_a_choice_works_without_javascript(backend) {
        let app = TestApp::spawn(backend).await;
        let c = visitor(&[]);
        let (_, _, home) = text(&c, &app.url("/")).await;
        assert!(home.contains("id=\"consent-banner\""));
        let button = |label: &str| {
            let end = home.find(&format!(">{label}</button>")).unwrap_or_else(|| panic!("no {label} button"));
            let start = home[..end].rfind("<button").unwrap();
            home[start..end].replace(&format!("value=\"{}\"", if label == "Reject all" { "reject" } else { "accept" }), "")
        };
        assert_eq!(button("Reject all"), button("Accept all"), "both buttons look exactly alike");
        assert!(home.find(">Reject all<").unwrap() < home.find(">Accept all<").unwrap());
        let (_, _, page) = text(&c, &app.url("/cookies")).await;
        assert!(!page.contains(" checked"), "no box is ticked before a choice");
        assert!(page.contains("You have not chosen yet"));
        for cookie in COOKIES {
            assert!(page.contains(cookie.name) && page.contains(cookie.purpose.split(',').next().unwrap()), "{} not listed", cookie.name);
        }

        let r = choose(&c, &app, "reject").await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/articles");
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(set.starts_with("oc_consent=") && set.contains("HttpOnly") && set.contains("Max-Age=15552000"), "{set}");
        let (_, _, after) = text(&c, &app.url("/articles")).await;
        assert!(!after.contains("consent-banner"), "the banner does not ask again");
        let recorded = records(&app).await;
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].choices.describe(), "necessary only");
        assert_eq!(recorded[0].via, "banner");
        assert!(!recorded[0].dnt && !recorded[0].gpc);
        assert_eq!(recorded[0].prev_hash, ledger::GENESIS);
        let (_, _, page) = text(&c, &app.url("/cookies")).await;
        assert!(page.contains("Your current choice: <strong>necessary only</strong>"));

        // Change of mind on /cookies: analytics only, the same browser id.
        let r = post(&c, &app, "/cookies", &[("choice", "save"), ("from", "page"), ("analytics", "on")]).await;
        assert_eq!(r.headers()["location"], "/cookies?saved=1");
        let (_, _, page) = text(&c, &app.url("/cookies?saved=1")).await;
        assert!(page.contains("Your choices are saved: necessary, analytics."), "{page}");
        assert!(page.contains("id=\"analytics\" name=\"analytics\" value=\"on\" aria-describedby=\"analytics-about\" checked"));
        assert!(!page.contains("name=\"marketing\" value=\"on\" aria-describedby=\"marketing-about\" checked"));
        let recorded = records(&app).await;
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[1].visitor, recorded[0].visitor, "one browser, one history");
        assert_eq!(recorded[1].prev_hash, recorded[0].hash);
        assert_eq!(recorded[1].policy_version.len(), 12);
        assert!(page.contains(&recorded[1].hash[..12]), "the history shows the proof");
        // The policy version named by the record can be read.
        let (status, _, _) = text(&c, &app.url(&format!("/privacy/versions/{}", recorded[1].policy_version))).await;
        assert_eq!(status, 200);
    }

    async fn a_bad_choice_is_refused_with_a_message_and_records_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let c = visitor(&[]);
        let r = post(&c, &app, "/cookies", &[("choice", "maybe")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("Please choose “Accept all”, “Reject all” or “Save my choices”."));
        assert!(records(&app).await.is_empty());
        // Going back anywhere but this site lands on the cookie page.
        let r = post(&c, &app, "/cookies", &[("choice", "accept"), ("from", "banner"), ("return_to", "//evil.example/")]).await;
        assert_eq!(r.headers()["location"], "/cookies?saved=1");
        // A forged consent cookie counts for nothing.
        let forged = visitor(&[("cookie", "oc_consent=abcdefghijklmnopqrstuv:111.AAAA")]);
        let (_, _, home) = text(&forged, &app.url("/")).await;
        assert!(home.contains("consent-banner"));
    }

    async fn dnt_and_gpc_turn_tracking_off_without_asking_and_opt_in_stays_possible(backend) {
        let app = TestApp::spawn(backend).await;
        for (header, name) in [("dnt", "Do Not Track"), ("sec-gpc", "Global Privacy Control")] {
            let c = visitor(&[(header, "1")]);
            let (_, _, home) = text(&c, &app.url("/")).await;
            assert!(home.contains(&format!("Your browser sent {name}, and we honour it")), "{home}");
            let (_, _, page) = text(&c, &app.url("/cookies")).await;
            assert!(page.contains("id=\"signal-honoured\""));
            assert!(!page.contains(" checked"));
            let r = choose(&c, &app, "accept").await;
            assert_eq!(r.status(), 303, "an explicit opt-in is still possible");
            let last = records(&app).await.pop().unwrap();
            assert_eq!(last.choices.describe(), "necessary, preferences, analytics, marketing");
            assert_eq!((last.dnt, last.gpc), (header == "dnt", header == "sec-gpc"));
        }
    }

    async fn the_ledger_detects_an_edited_or_removed_record(backend) {
        let app = TestApp::spawn(backend).await;
        for choice in ["accept", "reject", "accept", "reject"] {
            choose(&visitor(&[]), &app, choice).await;
        }
        let db = &app.state.db;
        let v = ledger::verify(db).await.unwrap();
        assert!(matches!(&v, Verification::Intact { records: 4, .. }), "{v:?}");
        app.login_as("admin").await;
        let (_, page) = app.get_text("/admin/consent").await;
        assert!(page.contains("The chain is intact: all 4 records"), "{page}");

        let edit = "UPDATE consent_records SET analytics = 1 WHERE id = 2";
        assert!(sqlx::query(edit).execute(&db.pool).await.is_err(), "the database refuses edits");
        let drop = db.pick("DROP TRIGGER consent_records_no_update", "DROP TRIGGER consent_records_no_change ON consent_records");
        sqlx::query(drop).execute(&db.pool).await.unwrap();
        sqlx::query(edit).execute(&db.pool).await.unwrap();
        let v = ledger::verify(db).await.unwrap();
        match &v {
            Verification::Broken { id: 2, reason, checked: 1 } => assert!(reason.contains("edited")),
            other => panic!("edit not detected: {other:?}"),
        }
        let (_, page) = app.get_text("/admin/consent").await;
        assert!(page.contains("The chain is broken at record #2"), "{page}");

        // Restoring the content makes record 2 whole again; removing record 3 breaks 4.
        sqlx::query("UPDATE consent_records SET analytics = 0 WHERE id = 2").execute(&db.pool).await.unwrap();
        assert!(ledger::verify(db).await.unwrap().is_intact());
        if app.state.db.backend == officecomms::platform::db::Backend::Sqlite {
            sqlx::query("DROP TRIGGER consent_records_no_delete").execute(&db.pool).await.unwrap();
        }
        sqlx::query("DELETE FROM consent_records WHERE id = 3").execute(&db.pool).await.unwrap();
        match ledger::verify(db).await.unwrap() {
            Verification::Broken { id: 4, reason, .. } => assert!(reason.contains("does not follow")),
            other => panic!("removal not detected: {other:?}"),
        }
    }

    async fn a_persons_choices_appear_in_their_export_and_go_with_erasure(backend) {
        let app = TestApp::spawn(backend).await;
        let person = "casey.consent@example.com";
        {
            let mut tx = app.state.db.begin().await.unwrap();
            subjects::find_or_create(&mut tx, &app.state.keyring, person).await.unwrap();
            tx.commit().await.unwrap();
        }
        let c = visitor(&[("dnt", "1")]);
        choose(&c, &app, "reject").await;
        post(&c, &app, "/cookies", &[("choice", "save"), ("marketing", "on")]).await;
        let r = post(&c, &app, "/my-data", &[("email", person)]).await;
        assert_eq!(r.status(), 200);
        app.drain_outbox().await;
        let link = app.mails().last().unwrap().link(&format!("{}/my-data/", app.base));
        let (status, _, page) = text(&c, &link).await;
        assert_eq!(status, 200);
        assert!(page.contains("Your cookie choices") && page.contains("Cookie choices · "), "{page}");
        let (_, _, json) = text(&c, &format!("{link}/export.json")).await;
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        let receipts = doc["data"].as_array().unwrap().iter()
            .find(|t| t["table"] == "consent_receipts").expect("receipts exported");
        let rows = receipts["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0]["receipt"]["choices"], "necessary only");
        assert_eq!(rows[1]["receipt"]["choices"], "necessary, marketing");
        assert_eq!(rows[1]["receipt"]["do_not_track"], true);

        let subject = subjects::find(&app.state.db, &app.state.keyring, person).await.unwrap().unwrap();
        let mut tx = app.state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &app.state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_receipts").fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(left, 0);
        assert!(ledger::verify(&app.state.db).await.unwrap().is_intact(), "the anonymous ledger stays whole");
    }

    async fn a_third_party_tag_runs_only_with_marketing_consent_and_no_signal(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains("No third-party script"));
        // Refused settings come back with a message.
        app.login_as("admin").await;
        let r = app.post_form("/admin/consent/tags", &[("enabled", "1"), ("name", ""), ("script_url", "javascript:alert(1)")]).await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("Please name the tag") && body.contains("Please enter a full http(s) address"));
        assert!(body.contains("javascript:alert(1)"), "what was typed comes back");
        switch_tag_on(&app, TAG_URL, "window.exampleAds = 1;").await;
        let (_, policy) = app.get_text("/privacy").await;
        assert!(policy.contains(TAG_NAME) && policy.contains("https://tags.example.com"), "the policy lists the tag");

        let tagged = |body: &str, headers: &HeaderMap| {
            let csp = headers["content-security-policy"].to_str().unwrap();
            let has = body.contains("<script src=\"https://tags.example.com/t.js?id=42\" async");
            assert_eq!(has, csp.contains("script-src 'self' https://tags.example.com;"), "tag and CSP go together: {csp}");
            has
        };
        let undecided = visitor(&[]);
        let (_, h, body) = text(&undecided, &app.url("/")).await;
        assert!(!tagged(&body, &h));
        let rejecting = visitor(&[]);
        choose(&rejecting, &app, "reject").await;
        let (_, h, body) = text(&rejecting, &app.url("/")).await;
        assert!(!tagged(&body, &h));
        let analytics_only = visitor(&[]);
        post(&analytics_only, &app, "/cookies", &[("choice", "save"), ("analytics", "on")]).await;
        let (_, h, body) = text(&analytics_only, &app.url("/")).await;
        assert!(!tagged(&body, &h));

        let consenting = visitor(&[]);
        choose(&consenting, &app, "accept").await;
        let (_, h, body) = text(&consenting, &app.url("/articles")).await;
        assert!(tagged(&body, &h), "marketing consent brings the tag");
        let (status, h, js) = text(&consenting, &app.url("/consent/tag.js")).await;
        assert_eq!((status, js.as_str()), (200, "window.exampleAds = 1;"));
        assert!(h["content-type"].to_str().unwrap().starts_with("text/javascript"));
        let (_, h, _) = text(&consenting, &app.url("/static/app.css")).await;
        assert!(!h.get("content-security-policy").is_some_and(|v| v.to_str().unwrap().contains("tags.example")));
        // Never where a vendor's script could read personal data or a token.
        for path in ["/contact", "/my-data", "/cart", "/chat", "/account", "/newsletter/preferences/x", "/unsubscribe/x"] {
            let (_, h, body) = text(&consenting, &app.url(path)).await;
            assert!(!tagged(&body, &h), "{path} carries the tag");
        }
        let (_, h, body) = text(&consenting, &app.url("/blog")).await;
        assert!(tagged(&body, &h), "content pages keep it");
        // A staff member who accepted marketing gets it on content, never in the back office.
        choose(&app.client, &app, "accept").await;
        let (_, h, body) = text(&app.client, &app.url("/articles")).await;
        assert!(tagged(&body, &h));
        let (status, h, body) = text(&app.client, &app.url("/admin")).await;
        assert_eq!(status, 200);
        assert!(!tagged(&body, &h), "never in the back office");

        // The same consent with a signal, or a child's answer, gets nothing.
        let cookie = consenting_cookie(&app, &consenting).await;
        let child = app.state.keyring.sign("age-gate", "child");
        for extra in [vec![("dnt", "1")], vec![("sec-gpc", "1")]] {
            let mut headers = vec![("cookie", cookie.as_str())];
            headers.extend(extra);
            let c = visitor(&headers);
            let (_, h, body) = text(&c, &app.url("/articles")).await;
            assert!(!tagged(&body, &h));
            assert_eq!(text(&c, &app.url("/consent/tag.js")).await.0, 404);
        }
        let with_child = format!("{cookie}; oc_age={child}");
        let c = visitor(&[("cookie", with_child.as_str())]);
        let (_, h, body) = text(&c, &app.url("/articles")).await;
        assert!(!tagged(&body, &h), "never for a child");

        // Off again: gone from pages and from the policy.
        let r = app.post_form("/admin/consent/tags", &[("name", TAG_NAME), ("script_url", TAG_URL)]).await;
        assert_eq!(r.status(), 200);
        let (_, h, body) = text(&consenting, &app.url("/articles")).await;
        assert!(!tagged(&body, &h));
        let (_, policy) = app.get_text("/privacy").await;
        assert!(!policy.contains(TAG_NAME));
    }
}

/// The consent cookie a client holds, as a `Cookie:` header value.
async fn consenting_cookie(app: &TestApp, c: &reqwest::Client) -> String {
    // Re-saving the same choice returns the cookie again.
    let r = post(c, app, "/cookies", &[("choice", "accept")]).await;
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

/// A tiny HTTP server on another origin (localhost, not 127.0.0.1) serving
/// a "third-party" script that sets a cookie of its own.
async fn tag_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                let body = "document.cookie = 'tp_tag=1; path=/'; window.tagRan = true;";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/javascript\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

async fn browser_cookies(c: &fantoccini::Client) -> Vec<String> {
    let mut names: Vec<String> = c
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_rejects_all_in_a_real_browser_then_opts_in_on_the_cookie_page() {
    let Some(browser) = Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let port = tag_server().await;
    switch_tag_on(
        &app,
        &format!("http://localhost:{port}/tag.js"),
        "window.tagSetUp = true;",
    )
    .await;
    let c = &browser.client;
    c.goto(&app.url("/articles")).await.unwrap();
    let banner = c.find(Locator::Id("consent-banner")).await.unwrap();
    assert!(banner.text().await.unwrap().contains("Reject all"));
    click(
        c,
        Locator::XPath("//section[@id='consent-banner']//button[normalize-space()='Reject all']"),
    )
    .await;
    // The script saves the choice in place and says so.
    wait_for_text(c, "Saved: necessary only.").await;
    let names = browser_cookies(c).await;
    assert!(names.contains(&"oc_consent".to_string()), "{names:?}");
    for name in &names {
        assert!(necessary(name), "the browser holds {name} after Reject all");
    }
    c.goto(&app.url("/articles")).await.unwrap();
    assert!(
        c.find(Locator::Id("consent-banner")).await.is_err(),
        "no banner once chosen"
    );
    assert!(!browser_cookies(c).await.contains(&"tp_tag".to_string()));
    assert_eq!(records(&app).await.len(), 1);

    c.goto(&app.url("/cookies")).await.unwrap();
    for id in ["analytics", "marketing"] {
        let b = c.find(Locator::Id(id)).await.unwrap();
        assert_eq!(
            b.attr("checked").await.unwrap(),
            None,
            "{id} starts unticked"
        );
        b.click().await.unwrap();
    }
    click(
        c,
        Locator::XPath("//button[normalize-space()='Save my choices']"),
    )
    .await;
    wait_for_text(
        c,
        "Your choices are saved: necessary, analytics, marketing.",
    )
    .await;
    // Not on the cookie page itself (no vendor script where choices are
    // made); on the next content page the tag loads from its own origin
    // and sets its cookie.
    assert!(!browser_cookies(c).await.contains(&"tp_tag".to_string()));
    c.goto(&app.url("/articles")).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !browser_cookies(c).await.contains(&"tp_tag".to_string()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the third-party tag never ran: {:?}",
            browser_cookies(c).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let set_up = c
        .execute("return window.tagSetUp === true", vec![])
        .await
        .unwrap();
    assert_eq!(
        set_up,
        serde_json::Value::Bool(true),
        "the set-up code ran from our origin"
    );
    let recorded = records(&app).await;
    assert_eq!(recorded.len(), 2);
    assert_eq!(
        recorded[1].choices.describe(),
        "necessary, analytics, marketing"
    );
    browser.close().await;
}
