//! Mail in: messages taken into tickets per second, three ways: the intake
//! in process, `officecomms mail-in` once per message (as an MTA pipe runs
//! it, `--concurrency` processes at a time: Postfix's default for a pipe
//! transport is 20), and the IMAP reader draining a mailbox of
//! `--imap-messages`, its resident memory sampled every second.
//!
//! ```text
//! cargo build --release --bin officecomms --example mail_in && \
//!   target/release/examples/mail_in [--messages 2000] [--pipe 400] \
//!     [--concurrency 8] [--database-url postgres://…] \
//!     [--imap-url imap://user:pass@127.0.0.1:1143/INBOX?tls=none] [--imap-messages 10000]
//! ```
//!
//! `bench/mail_in.sh` starts a throw-away Dovecot and runs it on SQLite and
//! PostgreSQL. The IMAP part needs a mailbox of its own (filled by APPEND,
//! then read); without `--imap-url` it is skipped.

use futures_util::TryStreamExt;
use officecomms::{AppState, Config};
use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn message(i: usize, run: &str) -> String {
    format!(
        "From: Person {i} <person{i}@example.com>\r\nTo: help@officecomms.com\r\n\
         Subject: Question {i}\r\nMessage-ID: <{run}-{i}@bench.example>\r\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Outlook asks for my password again and again since this morning.\r\n\
         \r\nOn Mon, 7 Dec 2026, officecomms wrote:\r\n> Earlier answer\r\n"
    )
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn peak_rss_kb() -> u64 {
    status_kb("VmHWM:")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn tickets(state: &AppState) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
        .fetch_one(&state.db.pool)
        .await
        .unwrap()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let n: usize = arg("--messages").map_or(Ok(2000), |v| v.parse())?;
    let piped: usize = arg("--pipe").map_or(Ok(400), |v| v.parse())?;
    let concurrency: usize = arg("--concurrency").map_or(Ok(8), |v| v.parse())?;
    let imap_messages: usize = arg("--imap-messages").map_or(Ok(10_000), |v| v.parse())?;
    println!("load average at start: {}", load_average());
    let dir = tempfile::tempdir()?;
    let mut config = Config::load(|_| None)?;
    config.data_dir = dir.path().to_path_buf();
    config.demo = false;
    config.workers = false;
    config.database_url = arg("--database-url");
    config.imap_url = arg("--imap-url");
    let state = AppState::open(config.clone()).await?;
    let run = officecomms::platform::random_token(6);

    // 1. The intake in process.
    let started = Instant::now();
    for i in 0..n {
        officecomms::mail_in::take(&state, message(i, &run).as_bytes()).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "intake in process: {n} messages in {secs:.2} s = {:.0} messages/s (peak RSS {} MB)",
        n as f64 / secs,
        peak_rss_kb() / 1024
    );

    // 2. `mail-in`, one process per message, as an MTA's pipe runs it.
    let bin = std::env::var("OFFICECOMMS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::current_exe()
                .unwrap()
                .parent()
                .and_then(|p| p.parent())
                .unwrap()
                .join("officecomms")
        });
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= piped {
                            return Ok(());
                        }
                        let mut command = Command::new(&bin);
                        command
                            .args(["mail-in", "--data-dir"])
                            .arg(dir.path())
                            .env("OFFICECOMMS_LOG", "warn")
                            .stdin(Stdio::piped())
                            .stdout(Stdio::null());
                        if let Some(url) = &config.database_url {
                            command.env("OFFICECOMMS_DATABASE_URL", url);
                        }
                        let mut child = command.spawn()?;
                        child
                            .stdin
                            .take()
                            .unwrap()
                            .write_all(message(n + i, &run).as_bytes())?;
                        let status = child.wait()?;
                        anyhow::ensure!(status.success(), "mail-in exited {status}");
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("a mail-in worker panicked")?;
        }
        Ok(())
    })?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "mail-in (a process each, {concurrency} at a time): {piped} messages in {secs:.2} s = {:.0} messages/s (load average {})",
        piped as f64 / secs,
        load_average()
    );

    // 3. The IMAP reader draining a mailbox filled beforehand.
    if let Some(url) = &config.imap_url {
        let parsed = url::Url::parse(url)?;
        let user = percent_encoding::percent_decode_str(parsed.username()).decode_utf8()?;
        let password =
            percent_encoding::percent_decode_str(parsed.password().unwrap_or("")).decode_utf8()?;
        let tcp = tokio::net::TcpStream::connect((
            parsed.host_str().unwrap_or("127.0.0.1"),
            parsed.port().unwrap_or(143),
        ))
        .await?;
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await?;
        let mut session = client
            .login(user.as_ref(), password.as_ref())
            .await
            .map_err(|(e, _)| e)?;
        let start = n + piped;
        let filling = Instant::now();
        for i in 0..imap_messages {
            session
                .append("INBOX", None, None, message(start + i, &run).as_bytes())
                .await?;
        }
        session.select("INBOX").await?;
        let _: Vec<_> = session
            .uid_store("1:*", "-FLAGS (\\Seen)")
            .await?
            .try_collect()
            .await?;
        session.logout().await?;
        println!(
            "IMAP mailbox filled with {imap_messages} messages in {:.1} s",
            filling.elapsed().as_secs_f64()
        );
        let before = tickets(&state).await;
        // Resident memory every second while the reader works.
        let (samples_stop, mut samples_done) = tokio::sync::watch::channel(false);
        let sampler = tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                samples.push(status_kb("VmRSS:"));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = samples_done.changed() => return samples,
                }
            }
        });
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let reader = tokio::spawn(officecomms::mail_in::imap::run(state.clone(), shutdown));
        let started = Instant::now();
        while tickets(&state).await < before + imap_messages as i64 {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(1800),
                "IMAP reader too slow"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        stop.send_replace(true);
        let _ = reader.await;
        samples_stop.send_replace(true);
        let samples = sampler.await?;
        let half = &samples[samples.len() / 2..];
        let mb = |kb: u64| kb as f64 / 1024.0;
        println!(
            "IMAP reader: {imap_messages} messages in {secs:.2} s = {:.0} messages/s (load average {})",
            imap_messages as f64 / secs,
            load_average()
        );
        println!(
            "IMAP reader RSS, {} samples a second apart: first {:.1} MB; second half min {:.1} MB, max {:.1} MB",
            samples.len(),
            mb(samples[0]),
            mb(half.iter().copied().min().unwrap_or(0)),
            mb(half.iter().copied().max().unwrap_or(0)),
        );
    }
    Ok(())
}
