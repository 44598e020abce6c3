//! Nothing acknowledged is lost: a support request answered "received"
//! (303) is on disk before the answer leaves, and concurrent answers share
//! flushes (group commit, counted by the server itself: under `strace`
//! every system call is slow and the commits line up one by one).
//!
//! SQLite: the real binary runs under `strace -f`, which records, in the
//! order they happened, the log's (`-wal`) writes and flushes and the
//! socket writes. For each request the proof is: a flush of the log began
//! after the request's commit was written and ended before the 303 was
//! written. A commit is recognised by its frame header (SQLite writes each
//! frame's 24-byte header apart; bytes 4–8, the database size after the
//! commit, are non-zero only on a commit frame).
//! PostgreSQL flushes at commit when `synchronous_commit` is on: our
//! connections set it on even where the database's default is off.

use crate::{both, helpers::*};
use officecomms::{
    AppState,
    platform::{now_ms, settings},
    support::intake,
};
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

/// Concurrent answers share flushes: without, every submission would wait
/// for a flush of its own, one after another (about 2 ms each here).
// A measurement more than a proof: beside the whole suite on two cores the
// requests reach the server one by one and every round flushes 40 times,
// so it runs on demand (`cargo test --test it -- --ignored durability::`),
// as a benchmark does; the proof that nothing acknowledged is lost is the
// test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing: run on a quiet machine"]
async fn concurrent_submissions_share_flushes_of_the_sqlite_log() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    lift_hourly_limits(&app.state).await;
    let (_, form) = app.get_text("/contact").await;
    let csrf = extract_csrf(&form);
    const AT_ONCE: usize = 40;
    // Newsletter sign-ups: short transactions, so a flush takes longer
    // than the next commit and the answers waiting meanwhile share it (a
    // support request also writes its search index, long enough that each
    // one's flush is over before the next commits).
    let submit = |n: usize| {
        let (client, url, csrf) = (app.client.clone(), app.url("/newsletter"), csrf.clone());
        async move {
            let email = format!("together{n}@example.com");
            let fields = [
                ("csrf", csrf.as_str()),
                ("email", &email),
                ("source", "footer"),
            ];
            let r = client.post(url).form(&fields).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    };
    // About a quarter as many flushes as submissions on a quiet machine,
    // half under a load average of 15; one each would be no sharing at all.
    // A suite running beside it can line every request up one by one, so
    // three rounds: without group commit no round shares.
    let mut seen = vec![];
    for round in 0..3 {
        let before = app.state.db.flushes();
        futures_util::future::join_all((0..AT_ONCE).map(|n| submit(round * AT_ONCE + n))).await;
        let flushes = app.state.db.flushes() - before;
        eprintln!("{AT_ONCE} submissions at once: {flushes} flushes");
        assert!(flushes >= 1, "the submissions were flushed");
        if flushes < AT_ONCE as u64 {
            return;
        }
        seen.push(flushes);
    }
    panic!("{seen:?} flushes for rounds of {AT_ONCE} concurrent submissions: not shared");
}

both! {
    async fn an_acknowledged_request_is_on_disk_before_its_answer(backend) {
        match backend {
            Backend::Sqlite => sqlite_proof().await,
            Backend::Postgres(admin) => postgres_proof(&admin).await,
        }
    }
}

/// Many requests from one address in a minute: allowed here.
async fn lift_hourly_limits(state: &AppState) {
    let mut tx = state.db.begin().await.unwrap();
    for (k, v) in [
        ("support.per_ip_hour", "100000"),
        ("support.per_ip_day", "100000"),
    ] {
        settings::put(&mut tx, k, v).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn strace() -> Option<&'static str> {
    let found = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var("CI").is_err(), "strace is required in CI");
        eprintln!("strace not installed: durability proof not run");
        return None;
    }
    Some("strace")
}

/// One traced system call: where its entry and its exit are in the log.
#[derive(Debug)]
struct Call {
    name: String,
    /// The first argument as `-y` shows it: `7</path/to/file>`.
    fd: String,
    /// Everything after the name, as on the entry line.
    args: String,
    entry: usize,
    exit: usize,
}

/// Pairs `<unfinished ...>` entries with their `<... resumed>` exits.
fn parse(log: &str) -> Vec<Call> {
    let mut calls: Vec<Call> = Vec::new();
    let mut open: std::collections::HashMap<String, usize> = Default::default();
    for (i, line) in log.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.starts_with("<...") {
            if let Some(k) = open.remove(pid) {
                calls[k].exit = i;
                // A read's bytes are shown when it returns.
                calls[k].args.push_str(rest);
            }
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let fd = match args.find('>') {
            Some(end) => args[..=end].to_string(),
            None => String::new(),
        };
        calls.push(Call {
            name: name.to_string(),
            fd,
            args: args.to_string(),
            entry: i,
            exit: i,
        });
        if rest.ends_with("<unfinished ...>") {
            open.insert(pid.to_string(), calls.len() - 1);
        }
    }
    calls
}

impl Call {
    fn on_wal(&self) -> bool {
        self.fd.ends_with("-wal>")
    }

    /// A WAL frame header whose "database size after commit" is non-zero.
    fn is_commit_frame(&self) -> bool {
        if !(self.on_wal() && self.name.starts_with("pwrite") && self.args.contains(", 24, ")) {
            return false;
        }
        let Some(start) = self.args.find('"') else {
            return false;
        };
        let bytes: Vec<&str> = self.args[start + 1..]
            .split("\\x")
            .skip(1)
            .map(|b| &b[..2.min(b.len())])
            .collect();
        bytes.len() >= 8 && bytes[4..8].iter().any(|b| *b != "00")
    }

    fn is_flush_of_wal(&self) -> bool {
        self.on_wal() && (self.name == "fdatasync" || self.name == "fsync")
    }
}

async fn sqlite_proof() {
    let Some(strace) = strace() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("officecomms.toml");
    std::fs::write(&config_file, "public_post_per_minute = 100000\n").unwrap();
    let data = dir.path().join("data");

    // The data dir made (and the form's key read) before the traced start.
    let mut config = test_config(&data);
    config.workers = false;
    let state = AppState::open(config).await.unwrap();
    lift_hourly_limits(&state).await;
    let keyring = state.keyring.clone();
    state.db.pool.close().await;
    drop(state);

    let log = dir.path().join("strace.log");
    let mut command = Command::new(strace);
    command
        .args(["-f", "-qq", "-x", "-s", "16", "-y", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=pwrite64,pwritev,write,writev,sendto,sendmsg,read,readv,recvfrom,fsync,fdatasync",
            BIN,
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data);
    clean_env(&mut command)
        .env("OFFICECOMMS_CONFIG", &config_file)
        .env("OFFICECOMMS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("printed link: {first}"))
        .trim_end_matches('/')
        .to_string();
    let server_pid = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id()))
        .unwrap()
        .split_whitespace()
        .next()
        .expect("the traced server")
        .to_string();

    let client = client();
    let (_, form) = {
        let r = client.get(format!("{url}/contact")).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    let csrf = extract_csrf(&form);
    let submit = |n: usize| {
        let client = client.clone();
        let url = url.clone();
        let csrf = csrf.clone();
        let token = intake::new_token(&keyring, now_ms() - 10_000);
        async move {
            let email = format!("durable{n}@example.com");
            let mut fields = crate::support::query(&token, &email);
            fields.push(("csrf", &csrf));
            let r = client
                .post(format!("{url}/contact"))
                .form(&fields)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        }
    };
    const ONE_BY_ONE: usize = 5;
    for n in 0..ONE_BY_ONE {
        submit(n).await;
        // The acknowledgment mail's delivery settles before the next request.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    const AT_ONCE: usize = 24;
    futures_util::future::join_all((ONE_BY_ONE..ONE_BY_ONE + AT_ONCE).map(submit)).await;

    let ok = Command::new("kill")
        .args(["-TERM", &server_pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "stopping the server");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "strace did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let calls = parse(&text);

    // `-x`: text as text, binary (the log's frames) in hex.
    let post = "POST /contact";
    let answer = "HTTP/1.1 303";
    let posts: Vec<&Call> = calls
        .iter()
        .filter(|c| c.name.starts_with("read") || c.name == "recvfrom")
        .filter(|c| c.args.contains(post))
        .collect();
    let answers: Vec<&Call> = calls
        .iter()
        .filter(|c| c.name.starts_with("write") || c.name.starts_with("send"))
        .filter(|c| c.args.contains(answer))
        .collect();
    let commits: Vec<&Call> = calls.iter().filter(|c| c.is_commit_frame()).collect();
    let flushes: Vec<&Call> = calls.iter().filter(|c| c.is_flush_of_wal()).collect();
    assert_eq!(posts.len(), ONE_BY_ONE + AT_ONCE, "every request seen");
    assert_eq!(answers.len(), ONE_BY_ONE + AT_ONCE, "every 303 seen");
    assert!(!commits.is_empty(), "commit frames recognised");

    // One by one: the request's commit, then a flush, then the answer.
    for (n, (post, answer)) in posts.iter().zip(&answers).take(ONE_BY_ONE).enumerate() {
        assert!(
            post.entry < answer.entry,
            "request {n} read before its answer"
        );
        let commit = commits
            .iter()
            .find(|c| c.entry > post.exit && c.exit < answer.entry)
            .unwrap_or_else(|| panic!("request {n}: no commit between request and answer"));
        let flushed = flushes
            .iter()
            .any(|f| f.entry > commit.exit && f.exit < answer.entry);
        assert!(
            flushed,
            "request {n}: answered 303 before its commit was flushed to disk"
        );
    }

    // At once (answers and commits cannot be paired in the trace): every
    // answer after a flush that began after one of these commits.
    let window = posts[ONE_BY_ONE].entry;
    for answer in &answers[ONE_BY_ONE..] {
        let covered = flushes.iter().any(|f| {
            f.exit < answer.entry && commits.iter().any(|c| c.entry > window && c.exit < f.entry)
        });
        assert!(
            covered,
            "an answer at line {} before any flush",
            answer.entry
        );
    }
    check_log_is_ours(&text, dir.path());
}

/// The trace saw our database (a guard against a trace of the wrong files).
fn check_log_is_ours(log: &str, dir: &Path) {
    let wal = format!("{}/data/officecomms.db-wal", dir.display());
    assert!(log.contains(&wal), "the trace names {wal}");
}

async fn postgres_proof(admin: &str) {
    let scratch = ScratchDatabase::create(admin).await;
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin)
        .await
        .unwrap();
    let name = scratch.url.rsplit('/').next().unwrap().to_string();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} SET synchronous_commit = off"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let mut plain = <sqlx::AnyConnection as sqlx::Connection>::connect(&scratch.url)
        .await
        .unwrap();
    let default: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
        .fetch_one(&mut plain)
        .await
        .unwrap();
    assert_eq!(default, "off", "the database's own default is off");

    let url = scratch.url.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| c.database_url = Some(url)).await;
    // Several connections at once, so more than the first is asked.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = app.state.db.pool.acquire().await.unwrap();
        let setting: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        assert_eq!(setting, "on", "our connections commit durably");
        held.push(c);
    }
    drop(held);
    let t = intake::new_token(&app.state.keyring, now_ms() - 10_000);
    let r = app
        .post_form(
            "/contact",
            &crate::support::query(&t, "durable@example.com"),
        )
        .await;
    assert_eq!(r.status(), 303);
}
