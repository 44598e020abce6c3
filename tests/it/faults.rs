//! Faults survived: the database going away, SMTP down, a full disk.

use crate::{both, helpers::*};
use std::time::{Duration, Instant};

both! {
    async fn a_lost_database_gives_a_503_page_not_a_500(backend) {
        let app = TestApp::spawn(backend).await;
        app.state.db.pool.close().await;
        let r = app.get("/privacy").await;
        assert_eq!(r.status(), 503);
        assert!(r.text().await.unwrap().contains("Back in a moment"));
        let (status, body) = app.get_text("/healthz").await;
        assert_eq!((status, body.contains("unreachable")), (503, true));
    }

    async fn a_panic_or_a_stall_under_the_site_middleware_answers_the_error_page_and_is_counted(backend) {
        use axum::{body::Body, http::Request, routing::get};
        use tower::ServiceExt;
        let app = TestApp::spawn_with(backend, |c| c.request_timeout_secs = 1).await;
        let routes = axum::Router::new()
            .route("/boom", get(|| async {
                let bug: Option<&str> = std::hint::black_box(None);
                bug.expect("a handler bug")
            }))
            .route("/slow", get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }))
            .layer(axum::middleware::from_fn_with_state(app.state.clone(), officecomms::app::middleware::site));
        let answer = |path: &'static str| {
            let routes = routes.clone();
            async move {
                let r = routes.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
                let status = r.status().as_u16();
                let csp = r.headers().contains_key("content-security-policy");
                let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
                (status, csp, String::from_utf8(body.to_vec()).unwrap())
            }
        };
        let (status, csp, body) = answer("/boom").await;
        assert_eq!(status, 500);
        assert!(csp, "security headers on the error page");
        assert!(body.contains("<html") && !body.contains("a handler bug"), "the error page, not the panic: {body}");
        let started = Instant::now();
        let (status, _, body) = answer("/slow").await;
        assert_eq!(status, 408);
        assert!(body.contains("That took too long") && !body.contains("late"), "{body}");
        assert!(started.elapsed() < Duration::from_secs(4));
        let (_, metrics) = app.get_text("/metrics").await;
        assert!(metrics.contains("status=\"500\"") && metrics.contains("status=\"408\""), "{metrics}");
    }
}

/// PostgreSQL drops every connection (as in a restart): requests fail
/// cleanly while it happens and the server recovers by itself within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_recovers_by_itself_when_postgres_drops_its_connections() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/privacy").await.status(), 200);
    let db_name: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    // From a separate connection, as an administrator would.
    let admin_url = std::env::var("OFFICECOMMS_TEST_POSTGRES_URL").unwrap();
    let admin = officecomms::platform::db::Db::connect(&admin_url)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db_name)
        .execute(&admin.pool)
        .await
        .unwrap();
    let start = Instant::now();
    let mut statuses = vec![];
    loop {
        let status = app.get("/privacy").await.status().as_u16();
        assert!(
            status == 200 || status == 503,
            "a request failed with {status}, not a clean 503"
        );
        statuses.push(status);
        if status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not recovered within 5 s: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..20 {
        assert_eq!(
            app.get("/privacy").await.status(),
            200,
            "a failure after recovery"
        );
    }
}

/// A tmpfs of a few megabytes, unmounted however the test ends.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("CI").is_err(),
                "CI runs as root and must be able to mount a tmpfs"
            );
            eprintln!("cannot mount a tmpfs here: full-disk test not run");
            return None;
        }
        Some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_a_clear_error_and_no_corrupted_database() {
    let Some(disk) = SmallDisk::mount(4) else {
        return;
    };
    let data_dir = disk.0.path().to_path_buf();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.data_dir = data_dir.clone();
    })
    .await;
    app.create_staff("full@officecomms.test", "admin").await;
    // The write-ahead log keeps the space it once took and is written over
    // from the start after each checkpoint; empty it, so that the next
    // writes need new space as on a site that has been running a while.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    // Fill the disk.
    let filler = data_dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    // Logging in writes a session and an audit entry: it cannot.
    let mut refused = false;
    for _ in 0..50 {
        let r = app
            .post_form(
                "/admin/login",
                &[
                    ("email", "full@officecomms.test"),
                    ("password", STAFF_PASSWORD),
                ],
            )
            .await;
        let status = r.status().as_u16();
        assert_ne!(status, 500, "a full disk must not be a bare internal error");
        if status == 503 {
            assert!(r.text().await.unwrap().contains("Nothing was saved"));
            refused = true;
            break;
        }
    }
    assert!(refused, "writes kept succeeding on a full disk");
    std::fs::remove_file(&filler).unwrap();
    let r = app
        .post_form(
            "/admin/login",
            &[
                ("email", "full@officecomms.test"),
                ("password", STAFF_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "works again once there is space");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    drop(app);
}

both! {
    async fn mail_waits_while_smtp_is_down_and_arrives_exactly_once_when_it_is_back(backend) {
        use officecomms::platform::mail::{self, OutgoingMail, Recipient};
        let port = free_port();
        let app = TestApp::spawn_with(backend, |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
        let state = &app.state;
        let mut tx = state.db.begin().await.unwrap();
        for i in 0..3 {
            let m = OutgoingMail { to: format!("p{i}@example.com"), subject: format!("n{i}"), text: "t".into(), html: None, headers: vec![] };
            mail::enqueue(&mut tx, &state.keyring, &state.site(), Recipient::System, "t", &format!("down:{i}"), &m).await.unwrap();
        }
        tx.commit().await.unwrap();
        state.mail_wakeup.notify_one();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let tried: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE attempts > 0 AND status = 'pending'")
                .fetch_one(&state.db.pool).await.unwrap();
            if tried == 3 { break; }
            assert!(Instant::now() < deadline, "no failed attempts recorded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let Some(smtp) = SmtpServer::start_on(port) else { return };
        // Move the clock past the backoff instead of waiting for it.
        sqlx::query("UPDATE outbox SET next_attempt_at = 0").execute(&state.db.pool).await.unwrap();
        app.drain_outbox().await;
        let got = smtp.wait_for(3).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(smtp.messages().len(), 3, "each mail exactly once");
        let mut subjects: Vec<String> = got.iter().map(|m| Mail::parse(m).subject).collect();
        subjects.sort();
        assert_eq!(subjects, vec!["n0", "n1", "n2"]);
    }
}

// kill -9 under a stream of query submissions, then start again: every
// submission that was answered 303 is there, whole, and none is doubled.
both! {
    async fn every_acknowledged_query_survives_a_kill_9(backend) {
        use officecomms::{AppState, support::settings as support_settings};
        use std::ffi::OsStr;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let scratch = match &backend {
            Backend::Sqlite => None,
            Backend::Postgres(admin) => Some(ScratchDatabase::create(admin).await),
        };
        let mut config = test_config(&data);
        config.database_url = scratch.as_ref().map(|s| s.url.clone());
        let database_url = config.database_url();
        // Prepare the site the real binary will serve: a stream from one
        // address is more than the per-network limits allow by default.
        let state = AppState::open(config).await.unwrap();
        let mut tx = state.db.begin().await.unwrap();
        let limits = support_settings::SupportSettings { per_ip_hour: 100_000, per_ip_day: 100_000, ..Default::default() };
        support_settings::save(&mut tx, &limits).await.unwrap();
        tx.commit().await.unwrap();
        state.db.pool.close().await;
        let keyring = state.keyring.clone();
        let config_file = dir.path().join("officecomms.toml");
        std::fs::write(&config_file, "public_post_per_minute = 100000\n").unwrap();
        let env = [("OFFICECOMMS_CONFIG", config_file.as_os_str()), ("OFFICECOMMS_DATABASE_URL", OsStr::new(&database_url))];

        let mut served = Served::start(&data, &env);
        let base = format!("http://127.0.0.1:{}", served.port);
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let csrf = client.get(format!("{base}/contact")).send().await.unwrap()
            .headers()["set-cookie"].to_str().unwrap()
            .strip_prefix("oc_csrf=").and_then(|c| c.split(';').next()).unwrap().to_string();

        // Four writers submit until the server dies under them.
        let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let mut writers = Vec::new();
        for w in 0..4 {
            let (client, base, csrf, keyring, acknowledged) = (client.clone(), base.clone(), csrf.clone(), keyring.clone(), acknowledged.clone());
            writers.push(tokio::spawn(async move {
                loop {
                    match post_query(&client, &base, &csrf, &keyring, &format!("writer{w}@example.com")).await {
                        Ok(r) if r.status() == 303 => {
                            let location = r.headers()["location"].to_str().unwrap().to_string();
                            acknowledged.lock().unwrap().push(location);
                        }
                        Ok(r) => panic!("unexpected {} before the kill: {}", r.status(), r.text().await.unwrap_or_default()),
                        Err(_) => return, // the server is gone
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while acknowledged.lock().unwrap().len() < 60 {
            assert!(Instant::now() < deadline, "too few submissions before the kill");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        served.signal("KILL");
        served.wait(Duration::from_secs(10));
        for w in writers {
            w.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();

        let served = Served::start(&data, &env);
        let base = format!("http://127.0.0.1:{}", served.port);
        let db = officecomms::platform::db::Db::connect(&database_url).await.unwrap();
        for location in &acknowledged {
            let page = client.get(format!("{base}{location}")).send().await.unwrap().text().await.unwrap();
            let reference = page.split("id=\"reference\">").nth(1).and_then(|r| r.split('<').next())
                .unwrap_or_else(|| panic!("no reference on {location}: {page}")).to_string();
            let (tickets, messages): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(DISTINCT t.id), COUNT(m.id) FROM tickets t LEFT JOIN ticket_messages m ON m.ticket_id = t.id WHERE t.reference = $1")
                .bind(&reference).fetch_one(&db.pool).await.unwrap();
            assert_eq!((tickets, messages), (1, 1), "acknowledged {reference} is stored whole, once");
        }
        // Nothing half-way: every ticket has its first message.
        let orphans: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_messages m WHERE m.ticket_id = t.id)")
            .fetch_one(&db.pool).await.unwrap();
        assert_eq!(orphans, 0);
        if matches!(backend, Backend::Sqlite) {
            let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&db.pool).await.unwrap();
            assert_eq!(check, "ok");
        }
        // And it goes on taking queries.
        let r = post_query(&client, &base, &csrf, &keyring, "bo@example.com").await.unwrap();
        assert_eq!(r.status(), 303);
        db.pool.close().await;
        drop(served);
    }
}

/// Sends the contact form to the server at `base` as a browser whose CSRF
/// cookie is `csrf`, with a form token shown ten seconds ago.
async fn post_query(
    client: &reqwest::Client,
    base: &str,
    csrf: &str,
    keyring: &officecomms::platform::crypto::Keyring,
    email: &str,
) -> reqwest::Result<reqwest::Response> {
    let token =
        officecomms::support::intake::new_token(keyring, officecomms::platform::now_ms() - 10_000);
    let mut fields = vec![("csrf", csrf)];
    fields.extend(crate::support::query(&token, email));
    client
        .post(format!("{base}/contact"))
        .header("cookie", format!("oc_csrf={csrf}"))
        .form(&fields)
        .send()
        .await
}
