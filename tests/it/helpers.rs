//! Test helpers: the real application on a random port, on a fresh SQLite
//! database or, when `OFFICECOMMS_TEST_POSTGRES_URL` is set, a fresh
//! PostgreSQL database per test; a real SMTP server on loopback.

use officecomms::{AppState, Application, Config, staff};
use reqwest::{Response, redirect::Policy};
use sqlx::{AssertSqlSafe, Connection};
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tempfile::TempDir;

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// Admin URL of a PostgreSQL server on which test databases are created.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend if configured. A configured server that cannot
    /// be reached fails the test; it is never skipped.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("OFFICECOMMS_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => {
                eprintln!("OFFICECOMMS_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
                None
            }
        }
    }
}

/// Runs each test body once on SQLite and once on PostgreSQL, as
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($backend: $crate::helpers::Backend) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { run($crate::helpers::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(b) = $crate::helpers::Backend::postgres() { run(b).await }
            }
        }
    )*};
}

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    /// A browser-like client: keeps cookies, does not follow redirects.
    pub client: reqwest::Client,
    pub dir: TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pg_database: Option<(String, String)>,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::load(|_| None).expect("default config");
    config.data_dir = dir.to_path_buf();
    config.set_bind("127.0.0.1:0".parse().unwrap());
    config.public_post_per_minute = 10_000;
    config.login_per_minute = 10_000;
    config
}

impl TestApp {
    /// Waits for the server to finish stopping, once `state.shutdown` is
    /// set: it sets the flag again itself as it finishes.
    pub async fn wait_stopped(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        let pg_database = match &backend {
            Backend::Sqlite => None,
            Backend::Postgres(admin_url) => {
                let (db_url, name) = create_pg_database(admin_url).await;
                config.database_url = Some(db_url);
                Some((admin_url.clone(), name))
            }
        };
        adjust(&mut config);
        TestApp::start(config, dir, pg_database).await
    }

    /// A second instance on the same database and data dir (scale-out tests).
    pub async fn sibling(&self) -> TestApp {
        let mut config = self.state.config.clone();
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.base_url = "http://127.0.0.1:0/".parse().unwrap();
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::copy(
            self.dir.path().join("officecomms.key"),
            dir.path().join("officecomms.key"),
        )
        .unwrap();
        config.data_dir = dir.path().to_path_buf();
        TestApp::start(config, dir, None).await
    }

    async fn start(config: Config, dir: TempDir, pg_database: Option<(String, String)>) -> TestApp {
        let app = Application::build(config)
            .await
            .expect("application builds");
        let port = app.port();
        let state = app.state().clone();
        let base = format!("http://127.0.0.1:{port}");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        TestApp {
            base,
            state,
            client: client(),
            dir,
            shutdown: Some(tx),
            server: Some(server),
            pg_database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// The CSRF token this client's cookie holds, read from a rendered form.
    pub async fn csrf(&self) -> String {
        let (_, body) = self.get_text("/admin/login").await;
        extract_csrf(&body)
    }

    /// Posts a form with this client's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.client
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("POST")
    }

    /// Creates a staff account of `role` with a fresh address; the address.
    pub async fn new_staff(&self, role: &str) -> String {
        let email = format!(
            "{role}-{}@officecomms.test",
            officecomms::platform::random_token(4).to_lowercase()
        );
        self.create_staff(&email, role).await;
        email
    }

    /// Another browser signed in as a new staff member of `role`.
    pub async fn staff_client(&self, role: &str) -> StaffClient {
        use reqwest::cookie::CookieStore;
        let email = self.new_staff(role).await;
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let page = client.get(self.url("/admin/login")).send().await.unwrap();
        let csrf = extract_csrf(&page.text().await.unwrap());
        let r = client
            .post(self.url("/admin/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", &email),
                ("password", STAFF_PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "login should redirect");
        let cookie = jar
            .cookies(&self.url("/").parse().unwrap())
            .expect("session cookie")
            .to_str()
            .unwrap()
            .to_string();
        StaffClient { client, cookie }
    }

    /// Creates a staff account and signs this client in as it.
    pub async fn login_as(&self, role: &str) -> String {
        let email = self.new_staff(role).await;
        let r = self
            .post_form(
                "/admin/login",
                &[("email", &email), ("password", STAFF_PASSWORD)],
            )
            .await;
        assert_eq!(r.status().as_u16(), 303, "login should redirect");
        email
    }

    pub async fn create_staff(&self, email: &str, role: &str) {
        staff::add_user_cli(
            &self.state,
            email,
            None,
            staff::Role::parse(role).unwrap(),
            STAFF_PASSWORD,
        )
        .await
        .expect("staff account");
    }

    /// Mails `email` as a feature would (its subject found or made, the
    /// mail sealed under its key, delivered as a `.eml` file, dedupe key
    /// `test:<subject line>`); the subject's id.
    pub async fn mail_person(&self, email: &str, subject_line: &str, text: &str) -> i64 {
        use officecomms::platform::mail::{self, OutgoingMail, Recipient};
        let state = &self.state;
        let mut tx = state.db.begin().await.unwrap();
        let subject =
            officecomms::privacy::subjects::find_or_create(&mut tx, &state.keyring, email)
                .await
                .unwrap();
        let mail = OutgoingMail {
            to: email.into(),
            subject: subject_line.into(),
            text: text.into(),
            html: None,
            headers: vec![],
        };
        let dedupe = format!("test:{subject_line}");
        mail::enqueue(
            &mut tx,
            &state.keyring,
            &state.site(),
            Recipient::Subject(&subject),
            "test",
            &dedupe,
            &mail,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        self.drain_outbox().await;
        subject.id
    }

    /// Waits until the outbox has nothing pending.
    pub async fn drain_outbox(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pending = officecomms::platform::mail::depth(&self.state.db)
                .await
                .unwrap();
            if pending == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "outbox still has {pending} pending mails"
            );
            self.state.mail_wakeup.notify_one();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Mails written as `.eml` files (no SMTP configured), parsed, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        self.eml_files()
            .iter()
            .map(|raw| Mail::parse(raw))
            .collect()
    }

    /// `.eml` files written when no SMTP server is configured, oldest first.
    pub fn eml_files(&self) -> Vec<String> {
        read_dir_sorted(&self.dir.path().join("mail"))
    }

    /// Stops the server gracefully and starts it again on the same data dir
    /// and database, as after a deploy.
    pub async fn restart(mut self) -> TestApp {
        self.stop_server().await;
        let mut config = self.state.config.clone();
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.base_url = "http://127.0.0.1:0/".parse().unwrap();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let pg = self.pg_database.take();
        drop(self);
        TestApp::start(config, dir, pg).await
    }

    async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some((admin, name)) = self.pg_database.take() {
            // Dropped from a plain thread: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    sqlx::any::install_default_drivers();
                    if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                        let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A client of its own, signed in as a staff member.
pub struct StaffClient {
    pub client: reqwest::Client,
    /// Its cookies as a `Cookie` header (for WebSocket handshakes).
    pub cookie: String,
}

pub const STAFF_PASSWORD: &str = "correct horse battery staple";

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn extract_csrf(body: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).expect("page has a CSRF field") + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_string()
}

pub async fn create_pg_database(admin_url: &str) -> (String, String) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| {
            panic!("OFFICECOMMS_TEST_POSTGRES_URL is set but PostgreSQL cannot be reached: {e}")
        });
    let name = format!(
        "oc_test_{}",
        officecomms::platform::random_token(9)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url: url::Url = admin_url.parse().expect("postgres url");
    url.set_path(&name);
    (url.to_string(), name)
}

fn read_dir_sorted(dir: &std::path::Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file());
    // In arrival order: Maildir names do not sort by it within a second.
    files.sort_by_key(|p| {
        (
            std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            p.clone(),
        )
    });
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// An aiosmtpd handler that appends each accepted message's recipients
/// to a file (handed to the kernel at once, never synced to disk).
const RECORDER: &str = r#"
class Recorder:
    def __init__(self, path):
        self.out = open(path, "a")

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        self.out.write("".join(r + "\n" for r in envelope.rcpt_tos))
        self.out.flush()
        return "250 OK"
"#;

/// An aiosmtpd handler that refuses, for good, every recipient whose
/// address starts with `nobody` (as a receiving server does an unknown
/// mailbox) and records the others' recipients as [`RECORDER`] does.
const REFUSER: &str = r#"
class Recorder:
    def __init__(self, path):
        self.out = open(path, "a")

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.out.write("".join(r + "\n" for r in envelope.rcpt_tos))
        self.out.flush()
        return "250 OK"
"#;

/// A real SMTP server on loopback (Debian's python3-aiosmtpd) writing a Maildir.
pub struct SmtpServer {
    pub port: u16,
    child: Child,
    maildir: TempDir,
}

impl SmtpServer {
    /// Starts the server, or returns `None` (with a note) when aiosmtpd is not
    /// installed and this is not CI, where it must be.
    pub fn start() -> Option<SmtpServer> {
        SmtpServer::start_on(free_port())
    }

    /// Starts the server on a chosen port (for a server that comes back).
    pub fn start_on(port: u16) -> Option<SmtpServer> {
        SmtpServer::launch(port, None)
    }

    /// A server that keeps no messages, only each one's recipients, a line
    /// each in arrival order (see [`SmtpServer::recipients`]): Python's
    /// Maildir flushes every message to disk, a few milliseconds each,
    /// which would time the disk rather than the sender.
    pub fn start_recorder() -> Option<SmtpServer> {
        SmtpServer::launch(free_port(), Some(RECORDER))
    }

    /// A recorder that refuses every `nobody…` recipient with a 550.
    pub fn start_refusing() -> Option<SmtpServer> {
        SmtpServer::launch(free_port(), Some(REFUSER))
    }

    fn launch(port: u16, handler: Option<&str>) -> Option<SmtpServer> {
        let python = ["/usr/bin/python3", "python3"].into_iter().find(|p| {
            Command::new(p)
                .args(["-c", "import aiosmtpd"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        let Some(python) = python else {
            assert!(
                std::env::var("CI").is_err(),
                "aiosmtpd (python3-aiosmtpd) is required in CI"
            );
            eprintln!("python3-aiosmtpd not installed: SMTP test not run");
            return None;
        };
        let maildir = tempfile::tempdir().unwrap();
        let mut command = Command::new(python);
        command.args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
        ]);
        match handler {
            None => command
                .arg("aiosmtpd.handlers.Mailbox")
                .arg(maildir.path().join("Maildir")),
            Some(code) => {
                std::fs::write(maildir.path().join("recorder.py"), code).unwrap();
                command
                    .env("PYTHONPATH", maildir.path())
                    .arg("recorder.Recorder")
                    .arg(maildir.path().join("recipients"))
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "SMTP server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(SmtpServer {
            port,
            child,
            maildir,
        })
    }

    /// The recipients of each message a recorder accepted, in order.
    pub fn recipients(&self) -> Vec<String> {
        std::fs::read_to_string(self.maildir.path().join("recipients"))
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Raw messages received so far.
    pub fn messages(&self) -> Vec<String> {
        read_dir_sorted(&self.maildir.path().join("Maildir").join("new"))
    }

    /// Waits until at least `n` messages arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} messages, got {}",
                m.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A received mail, MIME-decoded.
#[derive(Debug)]
pub struct Mail {
    pub raw: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn parse(raw: &str) -> Mail {
        let m = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("a MIME message");
        let to = m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        Mail {
            raw: raw.to_string(),
            to,
            subject: m.subject().unwrap_or_default().to_string(),
            text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
            html: m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        }
    }

    /// The first link in the text part that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        let start = self
            .text
            .find(prefix)
            .unwrap_or_else(|| panic!("no link {prefix} in {}", self.text));
        // Mails write a link as "text (URL)": the parenthesis is not the link's.
        self.text[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches(')')
            .to_string()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let m = mail_parser::MessageParser::default().parse(self.raw.as_bytes())?;
        m.header_raw(name).map(|v| v.trim().to_string())
    }
}

/// The server binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_officecomms");

/// A command without the OFFICECOMMS_* settings of whoever runs the tests.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("OFFICECOMMS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The real binary serving plain HTTP, and the port it printed.
pub struct Served {
    pub child: Child,
    pub port: u16,
}

impl Served {
    pub fn start(dir: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Served {
        let mut command = Command::new(BIN);
        clean_env(&mut command)
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap_or_else(|| panic!("printed link: {first}"));
        let port = url::Url::parse(url).unwrap().port().unwrap();
        Served { child, port }
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL database of a test's own, dropped at the end.
pub struct ScratchDatabase {
    admin: String,
    name: String,
    pub url: String,
}

impl ScratchDatabase {
    pub async fn create(admin: &str) -> ScratchDatabase {
        let (url, name) = create_pg_database(admin).await;
        ScratchDatabase {
            admin: admin.to_string(),
            name,
            url,
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}
