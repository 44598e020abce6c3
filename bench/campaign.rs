//! A campaign to N subscribers (50,000 by default) through a local SMTP
//! sink that only counts: messages per second and the server's peak RSS.
//!
//! ```text
//! cargo build --release && cargo run --release --example campaign -- \
//!     [--recipients 50000] [--database-url postgres://…] [--concurrency 8]
//! ```
//!
//! It seeds the subscribers through the import function (consent source
//! stated), schedules one campaign, starts the real release binary against
//! the sink and times from the first to the last message accepted.

use officecomms::{
    AppState, Config,
    newsletter::{self, subscribers},
    platform::now_ms,
};
use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

/// A minimal SMTP server: says yes to everything and counts messages.
async fn sink(
    listener: TcpListener,
    count: Arc<AtomicU64>,
    first: Arc<std::sync::Mutex<Option<Instant>>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let count = count.clone();
        let first = first.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read);
            if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
                return;
            }
            let mut line = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" => b"250-sink\r\n250 PIPELINING\r\n",
                    "DATA" => {
                        if write.write_all(b"354 go on\r\n").await.is_err() {
                            return;
                        }
                        loop {
                            line.clear();
                            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" || line == ".\n" {
                                break;
                            }
                        }
                        first.lock().unwrap().get_or_insert_with(Instant::now);
                        count.fetch_add(1, Ordering::SeqCst);
                        b"250 queued\r\n"
                    }
                    "QUIT" => {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    }
                    _ => b"250 ok\r\n",
                };
                if write.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Peak resident set of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which ends with the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let recipients: usize = arg("--recipients").map_or(50_000, |v| v.parse().expect("a number"));
    let concurrency = arg("--concurrency").unwrap_or_else(|| "8".into());
    let database_url = arg("--database-url");
    // By default the server built beside this example (…/release/examples/campaign).
    let binary = match arg("--binary") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?
            .parent()
            .and_then(|examples| examples.parent())
            .map(|release| release.join("officecomms"))
            .unwrap_or_default(),
    };
    anyhow::ensure!(
        binary.exists(),
        "build the release binary first: {}",
        binary.display()
    );

    let count = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::Mutex::new(None));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let smtp_port = listener.local_addr()?.port();
    tokio::spawn(sink(listener, count.clone(), first.clone()));

    let dir = tempfile::tempdir()?;
    let mut config = Config::load(|_| None)?;
    config.data_dir = dir.path().to_path_buf();
    config.database_url = database_url.clone();
    config.workers = false;
    config.demo = false;
    let state = AppState::open(config).await?;
    let seeding = Instant::now();
    let rows: Vec<subscribers::ImportRow> = (0..recipients)
        .map(|i| subscribers::ImportRow {
            line: i + 2,
            email: format!("reader{i:06}@example.com"),
            name: String::new(),
            topics: "tips".into(),
        })
        .collect();
    let report = subscribers::import_rows(&state, &rows, "benchmark").await?;
    anyhow::ensure!(report.added == recipients, "seeded {}", report.added);
    eprintln!(
        "seeded {recipients} subscribers in {:.1?}",
        seeding.elapsed()
    );
    let draft = newsletter::db::Draft {
        subject: "Benchmark news".into(),
        from_name: "officecomms news".into(),
        reply_to: "news@officecomms.com".into(),
        body: "## Hello\n\nA paragraph of **news**, a [link](https://officecomms.com/articles) and a list:\n\n- one\n- two\n".into(),
        topics: "tips".into(),
        commercial: true,
        ad_label: "Advertisement".into(),
    };
    let mut tx = state.db.begin().await?;
    let id = newsletter::db::insert_campaign(&mut tx, &draft, None, now_ms()).await?;
    newsletter::db::set_status(&mut tx, id, &["draft"], "scheduled", Some(now_ms())).await?;
    tx.commit().await?;
    state.db.pool.close().await;
    drop(state);

    let http_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = std::process::Command::new(&binary);
    cmd.args([
        "serve",
        "--no-demo",
        "--bind",
        &format!("127.0.0.1:{http_port}"),
    ])
    .arg("--data-dir")
    .arg(dir.path())
    .env(
        "OFFICECOMMS_SMTP_URL",
        format!("smtp://127.0.0.1:{smtp_port}"),
    )
    .env("OFFICECOMMS_MAIL_CONCURRENCY", &concurrency)
    .env("OFFICECOMMS_MAIL_RATE", "0")
    .env("OFFICECOMMS_LOG", "warn")
    .stdout(std::process::Stdio::null());
    if let Some(url) = &database_url {
        cmd.env("OFFICECOMMS_DATABASE_URL", url);
    }
    let started = Instant::now();
    let mut server = cmd.spawn()?;
    let pid = server.id();
    let mut peak = 0;
    let mut cpu = 0.0;
    while count.load(Ordering::SeqCst) < recipients as u64 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "only {} delivered after 15 minutes",
            count.load(Ordering::SeqCst)
        );
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        cpu = cpu_seconds(pid).unwrap_or(cpu);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = Instant::now();
    peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
    cpu = cpu_seconds(pid).unwrap_or(cpu);
    let _ = server.kill();
    let _ = server.wait();
    let first = first.lock().unwrap().expect("a first message");
    let delivering = done - first;
    let total = done - started;
    println!(
        "backend={} recipients={recipients} concurrency={concurrency} \
         delivery={:.2}s ({:.0} msg/s, first to last message) \
         total={:.2}s ({:.0} msg/s, from process start incl. enqueue) peak_rss={:.1} MiB \
         server_cpu={cpu:.2}s ({:.0} msg per CPU-second)",
        if database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        delivering.as_secs_f64(),
        recipients as f64 / delivering.as_secs_f64(),
        total.as_secs_f64(),
        recipients as f64 / total.as_secs_f64(),
        peak as f64 / 1024.0,
        recipients as f64 / cpu.max(0.01)
    );
    Ok(())
}
