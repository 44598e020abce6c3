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
