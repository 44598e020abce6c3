//! Operations: HTTPS with a reloadable certificate, trusted proxies,
//! backups and restores, graceful shutdown, the integrity scan, and the
//! deploy files.

use crate::{both, helpers::*};
use officecomms::{
    AppState, Application,
    config::{TlsFiles, TrustedProxies},
    ops::{backup, integrity},
    platform::{
        mail::{self, OutgoingMail, Recipient},
        settings,
    },
    privacy::{erasure, subjects},
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A test certificate authority and the leaf certificates it signs for localhost.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "officecomms test CA");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes a fresh certificate for localhost and its key; returns its DER.
    fn issue(&self, files: &TlsFiles, name: &str) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        cert.der().to_vec()
    }
}

/// A client that trusts only the test CA and reaches `localhost` on `port`.
fn tls_client(ca: &TestCa, port: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_with_the_configured_certificate_and_reloads_without_dropping_connections()
{
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    let ca = TestCa::new();
    let first = ca.issue(&files, "first");
    let mut config = test_config(&dir.path().join("data"));
    config.tls = Some(files.clone());
    config.base_url = "https://localhost:0/".parse().unwrap();
    let app = Application::build(config).await.unwrap();
    let port = app.port();
    let certificates = app.certificates().expect("TLS is on");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let url = format!("https://localhost:{port}/");

    let old_client = tls_client(&ca, port);
    let r = old_client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(peer_certificate(&r), first);
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(r.text().await.unwrap().contains("1200 Harbor Street"));

    // A renewed certificate: new connections get it, the open one carries on.
    let second = ca.issue(&files, "second");
    certificates.reload().unwrap();
    let r = old_client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        peer_certificate(&r),
        first,
        "the kept-alive connection was not dropped"
    );
    let r = tls_client(&ca, port).get(&url).send().await.unwrap();
    assert_eq!(peer_certificate(&r), second);

    // A broken renewal is refused and the working certificate stays.
    std::fs::write(&files.key, "not a key").unwrap();
    assert!(certificates.reload().is_err());
    let r = tls_client(&ca, port).get(&url).send().await.unwrap();
    assert_eq!(peer_certificate(&r), second);

    // Nobody gets in with plain HTTP or with a certificate we did not make.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .is_err()
    );
    let stranger = reqwest::Client::builder()
        .use_rustls_tls()
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    assert!(stranger.get(&url).send().await.is_err(), "untrusted CA");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

/// Mail providers send RFC 8058 one-click unsubscribes from shared
/// addresses: the per-address limit on public posts never refuses one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribes_are_not_rate_limited() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.public_post_per_minute = 1).await;
    let status = |path: &'static str| {
        let request = app
            .client
            .post(app.url(path))
            .body("List-Unsubscribe=One-Click");
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_ne!(status("/privacy").await, 429);
    assert_eq!(
        status("/privacy").await,
        429,
        "other public posts are limited"
    );
    for _ in 0..5 {
        // A forged token: refused for what it is, never for the rate.
        assert_eq!(status("/unsubscribe/1-1.forged").await, 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    // One public post per address and minute: the limiter shows which
    // address the server believed.
    let posts = |app: &TestApp, forwarded_for: &'static str| {
        let request = app
            .client
            .post(app.url("/privacy"))
            .header("x-forwarded-for", forwarded_for);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let trusting = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.public_post_per_minute = 1;
        c.trust_proxy = TrustedProxies::loopback();
    })
    .await;
    assert_ne!(posts(&trusting, "198.51.100.1").await, 429);
    assert_ne!(posts(&trusting, "198.51.100.2").await, 429);
    assert_eq!(posts(&trusting, "198.51.100.1").await, 429);
    // A client's own claim before our proxy's entry does not change its address.
    assert_eq!(posts(&trusting, "203.0.113.50, 198.51.100.2").await, 429);

    let direct = TestApp::spawn_with(Backend::Sqlite, |c| c.public_post_per_minute = 1).await;
    assert_ne!(posts(&direct, "198.51.100.1").await, 429);
    assert_eq!(
        posts(&direct, "198.51.100.2").await,
        429,
        "a header from a stranger is ignored"
    );

    // An https site behind a proxy that took a plain-HTTP request redirects.
    let https = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.trust_proxy = TrustedProxies::loopback();
        c.base_url = "https://officecomms.test/".parse().unwrap();
    })
    .await;
    let r = https
        .client
        .get(https.url("/privacy?x=1"))
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        "https://officecomms.test/privacy?x=1"
    );
    let r = https
        .client
        .get(https.url("/privacy"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = direct
        .client
        .get(direct.url("/privacy"))
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "only a trusted proxy's word counts");
}

async fn count(state: &AppState, sql: &'static str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&state.db.pool)
        .await
        .unwrap()
}

both! {
    async fn a_backup_taken_while_writing_restores_everything_and_later_erasures_stay_erased(backend) {
        let keys = tempfile::tempdir().unwrap();
        let (identity, recipient) = backup_keys(keys.path());
        let app = TestApp::spawn_with(backend.clone(), |c| {
            c.workers = false;
            c.backup_recipient = Some(recipient);
        }).await;
        let state = app.state.clone();

        // Two people, one with a mail waiting; an uploaded file.
        let mut tx = state.db.begin().await.unwrap();
        let gone = subjects::find_or_create(&mut tx, &state.keyring, "gone@example.test").await.unwrap();
        let mail = OutgoingMail { to: "gone@example.test".into(), subject: "Your ticket".into(), text: "We are on it.".into(), html: None, headers: vec![] };
        mail::enqueue(&mut tx, &state.keyring, &state.site(), Recipient::Subject(&gone), "test", "backup:gone", &mail).await.unwrap();
        let kept = subjects::find_or_create(&mut tx, &state.keyring, "kept@example.test").await.unwrap();
        tx.commit().await.unwrap();
        let upload = app.dir.path().join("uploads/attachments/7/hello.txt");
        std::fs::create_dir_all(upload.parent().unwrap()).unwrap();
        std::fs::write(&upload, "hello from a visitor").unwrap();

        // A writer keeps committing while the backup runs.
        let committed = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn({
            let (state, committed, stop) = (state.clone(), committed.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::SeqCst) {
                    let n = committed.load(Ordering::SeqCst);
                    let mut tx = state.db.begin().await.unwrap();
                    settings::put(&mut tx, &format!("load.{n:06}"), "x").await.unwrap();
                    tx.commit().await.unwrap();
                    committed.store(n + 1, Ordering::SeqCst);
                }
            }
        });
        while committed.load(Ordering::SeqCst) < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let before = committed.load(Ordering::SeqCst);
        let dest = app.dir.path().join("backups/one");
        let report = backup::backup(&state, &dest).await.unwrap();
        let after = committed.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.store(true, Ordering::SeqCst);
        writer.await.unwrap();
        assert!(report.files >= 2, "{report:?}");
        assert!(backup::read_manifest(&dest).is_ok());

        // Erased after the backup was taken.
        let mut tx = state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &state.registry.inventory, gone.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        erasure::append_log(app.dir.path(), &erasure::LogEntry { subject_id: gone.id, erased_at: officecomms::platform::now_ms() }).unwrap();

        // Restore the older backup with the live, newer erasure log.
        let target = tempfile::tempdir().unwrap();
        let mut config = test_config(&target.path().join("restored"));
        config.backup_identity = Some(identity);
        let scratch = match &backend {
            Backend::Postgres(admin) => {
                let db = ScratchDatabase::create(admin).await;
                config.database_url = Some(db.url.clone());
                Some(db)
            }
            Backend::Sqlite => None,
        };
        let live_log = app.dir.path().join(erasure::LOG_FILE);
        let restored = backup::restore(config.clone(), &dest, Some(&live_log)).await.unwrap();
        assert_eq!((restored.log_entries, restored.replayed), (1, 1), "{restored:?}");

        config.demo = false;
        let restored = AppState::open(config.clone()).await.unwrap();
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM settings WHERE key LIKE 'load.%' ORDER BY key")
            .fetch_all(&restored.db.pool).await.unwrap();
        for n in 0..before {
            assert!(keys.contains(&format!("load.{n:06}")), "write {n} committed before the backup is missing");
        }
        assert!(keys.len() <= after + 1, "nothing from after the backup finished");
        assert!(subjects::find(&restored.db, &restored.keyring, "kept@example.test").await.unwrap().is_some());
        assert!(subjects::find(&restored.db, &restored.keyring, "gone@example.test").await.unwrap().is_none());
        assert!(subjects::key(&restored.db, &restored.keyring, gone.id).await.unwrap().is_none(), "shredded");
        assert!(subjects::key(&restored.db, &restored.keyring, kept.id).await.unwrap().is_some());
        assert_eq!(count(&restored, "SELECT COUNT(*) FROM outbox WHERE subject_id = $1", gone.id).await, 0);
        assert_eq!(count(&restored, "SELECT COUNT(*) FROM erasure_log WHERE subject_id = $1", gone.id).await, 1);
        let data = &config.data_dir;
        assert_eq!(std::fs::read_to_string(data.join("uploads/attachments/7/hello.txt")).unwrap(), "hello from a visitor");
        assert_eq!(std::fs::read(data.join("officecomms.key")).unwrap(), std::fs::read(app.dir.path().join("officecomms.key")).unwrap());
        let log = erasure::read_log(&data.join(erasure::LOG_FILE)).unwrap();
        assert_eq!(log.iter().map(|e| e.subject_id).collect::<Vec<_>>(), vec![gone.id], "the next restore replays it too");
        restored.db.pool.close().await;

        // Restoring again over what is there now is refused, clearly.
        let again = backup::restore(config.clone(), &dest, None).await.unwrap_err();
        assert!(format!("{again:#}").contains("is not empty"), "{again:#}");
        if let Some(db) = &scratch {
            let mut elsewhere = test_config(&target.path().join("other"));
            elsewhere.database_url = Some(db.url.clone());
            elsewhere.backup_identity = config.backup_identity.clone();
            let refused = backup::restore(elsewhere, &dest, None).await.unwrap_err();
            assert!(format!("{refused:#}").contains("already has"), "{refused:#}");
        }
        drop(scratch);
    }

    async fn the_integrity_scan_reports_planted_payloads_on_the_admin_page_until_they_are_gone(backend) {
        let app = TestApp::spawn_with(backend, |c| c.scan_blocklist = vec!["bad.test".into()]).await;
        let state = &app.state;
        let mut tx = state.db.begin().await.unwrap();
        settings::put(&mut tx, "tagline", "Friendly help <script src=\"https://cdn.bad.test/x.js\"></script>").await.unwrap();
        tx.commit().await.unwrap();
        let planted = app.dir.path().join("uploads/attachments/3/invoice.html");
        std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
        std::fs::write(&planted, "<p>Invoice</p><iframe src=\"//tracker.example/\"></iframe>").unwrap();

        app.login_as("admin").await;
        let r = app.post_form("/admin/integrity/scan", &[]).await;
        assert_eq!(r.status(), 303);
        let (status, page) = app.get_text("/admin/integrity").await;
        assert_eq!(status, 200);
        let escaped = page.contains("&#60;script src=") || page.contains("&lt;script src=");
        assert!(page.contains("script tag") && escaped, "{page}");
        assert!(page.contains("link to a blocked host") && page.contains("https://cdn.bad.test/x.js"));
        assert!(page.contains("frame or embedded object") && page.contains("attachments/3/invoice.html"));
        assert!(!page.contains("<script src=\"https://cdn.bad.test"), "shown escaped, never run");
        assert!(!page.contains("asset <code>"), "served assets match the build: {page}");
        // When they were seen, in the viewer's zone (the company's here,
        // California), the exact time on hover; never UTC text.
        assert!(page.contains("<td><time datetime=\"") && !page.contains(" UTC</td>"), "{page}");
        let zone = if page.contains(" PST\">") { "PST" } else { "PDT" };
        assert!(page.contains(&format!(" {zone}\">just now</time></td>")), "{page}");
        let (_, dashboard) = app.get_text("/admin").await;
        assert!(dashboard.contains("Integrity findings</a>: <strong>3</strong>"), "{dashboard}");
        let (_, audit) = app.get_text("/admin/audit").await;
        assert!(audit.contains("integrity_scan"));

        // Cleaned up: the next scan closes the findings.
        let mut tx = state.db.begin().await.unwrap();
        settings::put(&mut tx, "tagline", "Friendly help").await.unwrap();
        tx.commit().await.unwrap();
        std::fs::remove_file(&planted).unwrap();
        let report = integrity::scan(state, "test").await.unwrap();
        assert!(report.findings.is_empty(), "{report:?}");
        let (_, page) = app.get_text("/admin/integrity").await;
        assert!(page.contains("Open findings (0)") && page.contains("Nothing found."));
        assert!(page.contains("attachments/3/invoice.html"), "listed as resolved");
        let (_, dashboard) = app.get_text("/admin").await;
        assert!(dashboard.contains("Integrity findings</a>: <strong>0</strong>"));

        // Only admins see it.
        let agent = app.sibling().await;
        agent.login_as("agent").await;
        assert_eq!(agent.get("/admin/integrity").await.status(), 403);
    }

    async fn the_integrity_scan_reads_every_feature_that_stores_text(backend) {
        let app = TestApp::spawn(backend).await;
        let state = &app.state;
        let payload = "<script>alert(1)</script>";
        for sql in [
            "UPDATE services SET description = description || ' <script>alert(1)</script>' WHERE id = (SELECT MIN(id) FROM services)",
            "UPDATE surveys SET intro = intro || ' <script>alert(1)</script>' WHERE id = (SELECT MIN(id) FROM surveys)",
            "UPDATE articles SET body = body || ' <script>alert(1)</script>' WHERE id = (SELECT MIN(id) FROM articles)",
        ] {
            assert_eq!(sqlx::query(sql).execute(&state.db.pool).await.unwrap().rows_affected(), 1, "{sql}");
        }
        // Encrypted text is read too: a ticket's message.
        let new = officecomms::support::intake::NewTicket {
            name: "Mallory".into(),
            email: "mallory@example.com".parse().unwrap(),
            phone: None,
            phone_e164: None,
            product: "Other".into(),
            product_other: None,
            title: "Help".into(),
            details: format!("Please look {payload}"),
            attachments: vec![],
        };
        officecomms::support::tickets::create(state, &new, "scan-test", b"ip").await.unwrap();
        let report = integrity::scan(state, "test").await.unwrap();
        let kinds: std::collections::BTreeSet<&str> = report.findings.iter().map(|f| f.kind.as_str()).collect();
        for kind in ["service", "survey", "article", "ticket message"] {
            assert!(kinds.contains(kind), "{kind} not scanned: {:?}", report.findings);
        }
    }

    async fn a_stopping_outbox_worker_hands_back_the_mail_it_has_not_started(backend) {
        let mut app = TestApp::spawn_with(backend, |c| c.workers = false).await;
        let state = &app.state.clone();
        let mut tx = state.db.begin().await.unwrap();
        for n in 0..3 {
            let mail = OutgoingMail { to: format!("p{n}@example.test"), subject: "Hi".into(), text: "Hello".into(), html: None, headers: vec![] };
            mail::enqueue(&mut tx, &state.keyring, &state.site(), Recipient::System, "test", &format!("stop:{n}"), &mail).await.unwrap();
        }
        tx.commit().await.unwrap();
        state.shutdown.send_replace(true);
        assert_eq!(mail::deliver_due(state).await.unwrap(), 0);
        let (pending, claimed): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(claimed_until) FROM outbox WHERE status = 'pending'",
        ).fetch_one(&state.db.pool).await.unwrap();
        assert_eq!((pending, claimed), (3, 0), "unclaimed, so the next start sends them at once");
        // The next start: after the server has finished stopping, which
        // raises the flag again on its way out.
        app.wait_stopped().await;
        state.shutdown.send_replace(false);
        assert_eq!(mail::deliver_due(state).await.unwrap(), 3);
        assert_eq!(app.eml_files().len(), 3);
    }
}

/// A classic age key pair: the identity file written in `dir`, and the recipient.
fn backup_keys(dir: &Path) -> (PathBuf, String) {
    use age::secrecy::ExposeSecret;
    #[allow(deprecated)]
    let identity = age::x25519::Identity::generate();
    let file = dir.join("backup-identity.txt");
    std::fs::write(&file, identity.to_string().expose_secret()).unwrap();
    (file, identity.to_public().to_string())
}

fn run(args: &[&str], dir: &Path) -> std::process::Output {
    run_with(args, dir, &[])
}

fn run_with(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    clean_env(&mut command)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("OFFICECOMMS_SCAN_BLOCKLIST", "evil.test");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn backup_and_restore_commands_round_trip_and_refuse_a_non_empty_data_dir() {
    let root = tempfile::tempdir().unwrap();
    let (live, dest, fresh) = (
        root.path().join("live"),
        root.path().join("backup"),
        root.path().join("fresh"),
    );
    let (identity, recipient) = backup_keys(root.path());
    let (identity, env) = (
        identity.to_str().unwrap().to_string(),
        [("OFFICECOMMS_BACKUP_RECIPIENT", recipient.as_str())],
    );
    assert!(run(&["migrate"], &live).status.success());
    let out = run_with(&["backup", dest.to_str().unwrap()], &live, &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("backed up the SQLite database"));

    let again = run_with(&["backup", dest.to_str().unwrap()], &live, &env);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("is not empty"),
        "{}",
        text(&again.stderr)
    );

    let out = run(
        &["restore", dest.to_str().unwrap(), "--identity", &identity],
        &fresh,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("restored the SQLite database"));
    assert!(fresh.join("officecomms.db").is_file() && fresh.join("officecomms.key").is_file());
    let policy = run(&["policy"], &fresh);
    assert!(
        text(&policy.stdout).contains("1200 Harbor Street"),
        "the restored site works"
    );

    let over = run(
        &["restore", dest.to_str().unwrap(), "--identity", &identity],
        &fresh,
    );
    assert!(!over.status.success());
    assert!(
        text(&over.stderr).contains("is not empty"),
        "{}",
        text(&over.stderr)
    );
    let not_a_backup = run(&["restore", live.to_str().unwrap()], &root.path().join("x"));
    assert!(text(&not_a_backup.stderr).contains("not a complete officecomms backup"));
    let missing_log = run(
        &[
            "restore",
            dest.to_str().unwrap(),
            "--erasure-log",
            "/nonexistent/erasure.log",
        ],
        &root.path().join("y"),
    );
    assert!(text(&missing_log.stderr).contains("does not exist"));
    assert!(
        !root.path().join("y").exists(),
        "nothing written when refusing"
    );
}

#[test]
fn scan_command_reports_a_planted_upload_and_exits_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(&["migrate"], dir.path()).status.success());
    let clean = run(&["scan"], dir.path());
    assert!(clean.status.success(), "{}", text(&clean.stderr));
    assert!(text(&clean.stdout).contains(", 0 findings"));

    let upload = dir.path().join("uploads/attachments/9/logo.svg");
    std::fs::create_dir_all(upload.parent().unwrap()).unwrap();
    std::fs::write(
        &upload,
        "<svg onload=\"alert(1)\"><a href=\"https://www.evil.test/win\">x</a></svg>",
    )
    .unwrap();
    let out = run(&["scan"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("upload attachments/9/logo.svg: inline event handler"),
        "{stdout}"
    );
    assert!(stdout.contains("link to a blocked host: https://www.evil.test/win"));
    assert!(text(&out.stderr).contains("found problems"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(dir.path(), &[]);
    let port = served.port;

    // The CSRF cookie is also the form's token.
    let r = reqwest::get(format!("http://127.0.0.1:{port}/admin/login"))
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let token = cookie
        .strip_prefix("oc_csrf=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();

    // A sign-in whose body is still arriving when SIGTERM comes.
    let body = format!("csrf={token}&email=nobody%40example.test&password=not+the+password");
    let (head, tail) = body.split_at(20);
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    conn.write_all(
        format!(
            "POST /admin/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: oc_csrf={token}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{head}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    served.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "no new connections once stopping"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "still finishing the request"
    );

    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_string(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(response.contains("do not match an active account"));

    let status = served.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_makes_the_running_server_present_a_renewed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    let ca = TestCa::new();
    let first = ca.issue(&files, "first");
    let mut served = Served::start(
        &dir.path().join("data"),
        &[
            ("OFFICECOMMS_TLS_CERT", files.cert.as_os_str()),
            ("OFFICECOMMS_TLS_KEY", files.key.as_os_str()),
        ],
    );
    let url = format!("https://localhost:{}/healthz", served.port);
    let r = tls_client(&ca, served.port).get(&url).send().await.unwrap();
    assert_eq!(peer_certificate(&r), first);

    let second = ca.issue(&files, "second");
    served.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = tls_client(&ca, served.port).get(&url).send().await.unwrap();
        if peer_certificate(&r) == second {
            break;
        }
        assert!(Instant::now() < deadline, "certificate not reloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    served.signal("TERM");
    assert_eq!(served.wait(Duration::from_secs(20)).code(), Some(0));
}

#[test]
fn deploy_files_pass_their_checkers() {
    let has = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has("systemd-analyze") {
        assert!(
            std::env::var("CI").is_err(),
            "systemd-analyze (Debian package systemd) is required in CI"
        );
        eprintln!("systemd-analyze not installed: deploy files not checked");
        return;
    }
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "deploy", "check"]
        .iter()
        .collect();
    let out = Command::new("bash").arg(&script).arg(BIN).output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
