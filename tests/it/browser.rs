//! Pages in a real headless Chromium (Debian's chromium + chromedriver).

use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Headless Chromium, with JavaScript on or off. `None` (with a note)
    /// when chromedriver is absent outside CI; in CI it must be there.
    pub async fn start(javascript: bool) -> Option<Browser> {
        Browser::start_in_zone(javascript, None).await
    }

    /// As [`Browser::start`], the browser's clock in time zone `zone`
    /// (`Asia/Kolkata`) when given: the `TZ` of the driver and the browser
    /// it starts.
    pub async fn start_in_zone(javascript: bool, zone: Option<&str>) -> Option<Browser> {
        let driver_path = "/usr/bin/chromedriver";
        if !std::path::Path::new(driver_path).exists() {
            assert!(
                std::env::var("CI").is_err(),
                "chromium-driver is required in CI"
            );
            eprintln!("chromedriver not installed: browser test not run");
            return None;
        }
        let port = free_port();
        let mut driver = Command::new(driver_path);
        if let Some(zone) = zone {
            driver.env("TZ", zone);
        }
        let driver = driver
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile = tempfile::tempdir().unwrap();
        let mut prefs = serde_json::Map::new();
        if !javascript {
            prefs.insert(
                "profile.managed_default_content_settings.javascript".into(),
                2.into(),
            );
        }
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                         format!("--user-data-dir={}", profile.path().display())],
                "prefs": prefs,
            }
        });
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("connect to chromedriver");
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Signs a staff member in through the login form and waits for the dashboard.
    pub async fn sign_in(&self, app: &TestApp, email: &str) {
        let c = &self.client;
        c.goto(&app.url("/admin/login")).await.unwrap();
        type_into(c, Locator::Id("email"), email).await;
        type_into(c, Locator::Id("password"), STAFF_PASSWORD).await;
        click(c, Locator::Css("form.form button[type=submit]")).await;
        let at_dashboard = "(location.pathname === '/admin' ? 'dashboard' : location.pathname)";
        wait_text(c, at_dashboard, "dashboard").await;
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Waits until the JavaScript expression's text contains `want`; that text.
/// Types `text` into the element `locator` finds.
pub async fn type_into(c: &Client, locator: Locator<'_>, text: &str) {
    c.find(locator)
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// Clicks the element `locator` finds. A live page may replace the element
/// between finding and clicking it (a queue re-rendered by a socket
/// frame): then it is found again, a few times at most.
pub async fn click(c: &Client, locator: Locator<'_>) {
    for attempt in 0.. {
        match c.find(locator).await.unwrap().click().await {
            Ok(_) => return,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference
                    && attempt < 5 =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("clicking {locator:?}: {e}"),
        }
    }
}

pub async fn wait_text(c: &Client, script: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = c
            .execute(&format!("return String({script} || '')"), vec![])
            .await
            .unwrap();
        let text = v.as_str().unwrap_or_default().to_string();
        if text.contains(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {want:?} in {script}, got {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn home_page_renders(javascript: bool) {
    let Some(browser) = Browser::start(javascript).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = &browser.client;
    c.goto(&app.url("/")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "officecomms");
    let footer = c
        .find(Locator::Css("footer"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for text in [
        "Privacy policy",
        "Cookie choices",
        "See or erase my data",
        "Contact us",
    ] {
        assert!(footer.contains(text), "footer lacks {text}");
    }
    // Our script marks <html> when it runs: proof that JS is on or off as asked.
    let class = c
        .find(Locator::Css("html"))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(class.contains("js"), javascript);
    // The stylesheet loaded under CSP from our own origin.
    let color = c
        .execute(
            "return getComputedStyle(document.querySelector('.button')).backgroundColor",
            vec![],
        )
        .await;
    if javascript {
        assert_eq!(color.unwrap(), "rgb(31, 95, 191)");
    }
    browser.close().await;
}

#[tokio::test]
async fn home_page_works_with_javascript_on() {
    home_page_renders(true).await;
}

#[tokio::test]
async fn home_page_works_with_javascript_off() {
    home_page_renders(false).await;
}

#[tokio::test]
async fn staff_log_in_through_the_form_in_a_real_browser() {
    let Some(browser) = Browser::start(false).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_staff("eve@officecomms.test", "admin").await;
    let c = &browser.client;
    browser.sign_in(&app, "eve@officecomms.test").await;
    let h1 = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(h1, "Dashboard");
    let body = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Signed in as Eve (admin)"));
    browser.close().await;
}

#[tokio::test]
async fn a_person_sees_and_erases_their_data_in_a_real_browser() {
    let Some(browser) = Browser::start(false).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let state = &app.state;
    app.mail_person("kim@example.com", "Hello", "about your scanner")
        .await;

    let c = &browser.client;
    c.goto(&app.url("/my-data")).await.unwrap();
    type_into(c, Locator::Id("email"), "kim@example.com").await;
    click(c, Locator::Css("main form button[type=submit]")).await;
    wait_for_text(c, "Check your email").await;
    app.drain_outbox().await;
    let link = app
        .mails()
        .last()
        .unwrap()
        .link(&format!("{}/my-data/", app.base));
    c.goto(&link).await.unwrap();
    wait_for_text(c, "Emails we sent you").await;
    click(c, Locator::LinkText("Erase everything")).await;
    wait_for_text(c, "Erase everything?").await;
    click(c, Locator::Css("input[name=confirm]")).await;
    click(c, Locator::Css("main form button[type=submit]")).await;
    wait_for_text(c, "Your data is erased").await;
    assert!(
        officecomms::privacy::subjects::find(&state.db, &state.keyring, "kim@example.com")
            .await
            .unwrap()
            .is_none()
    );
    browser.close().await;
}

/// Waits until the page's text shows `text`. Works with JavaScript off, and
/// a lookup that fails while the browser is between pages is retried.
pub async fn wait_for_text(c: &Client, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = match c.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if body.contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "page never showed {text:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
