//! Contact-form submissions per second, end to end: the real server on a
//! loopback port, N keep-alive clients posting valid forms (each with its own
//! signed token, so each makes a ticket, its first message, a subject, an
//! outbox row and the acknowledgement mail written by the worker).
//!
//! `cargo bench --bench contact_form` runs it on SQLite and, when
//! `OFFICECOMMS_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL database.
//! `BENCH_SECS` (default 10) and `BENCH_CLIENTS` (default 32) tune it. The
//! load generator shares the machine's cores with the server, so the figures
//! are a floor.

use officecomms::{Application, Config, platform::now_ms, support::intake};
use sqlx::{AssertSqlSafe, Connection};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs = env_num("BENCH_SECS", 10);
    let clients = env_num("BENCH_CLIENTS", 32) as usize;
    println!("contact form, {clients} clients, {secs} s per database");
    run("sqlite", None, secs, clients).await?;
    if let Ok(admin) = std::env::var("OFFICECOMMS_TEST_POSTGRES_URL") {
        sqlx::any::install_default_drivers();
        let name = format!("oc_bench_{}", std::process::id());
        let mut conn = sqlx::AnyConnection::connect(&admin).await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        let mut url: url::Url = admin.parse()?;
        url.set_path(&name);
        let result = run("postgres", Some(url.to_string()), secs, clients).await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
        result?;
    }
    Ok(())
}

async fn run(
    label: &str,
    database_url: Option<String>,
    secs: u64,
    clients: usize,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::load(|_| None)?;
    config.data_dir = dir.path().to_path_buf();
    config.set_bind("127.0.0.1:0".parse()?);
    config.database_url = database_url;
    config.public_post_per_minute = 10_000_000;
    let app = Application::build(config).await?;
    let state = app.state().clone();
    let base = format!("http://127.0.0.1:{}", app.port());
    {
        let mut tx = state.db.begin().await?;
        for (k, v) in [
            ("support.per_ip_hour", "1000000"),
            ("support.per_ip_day", "10000000"),
        ] {
            officecomms::platform::settings::put(&mut tx, k, v).await?;
        }
        tx.commit().await?;
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stop_rx.await;
    }));

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = vec![];
    for c in 0..clients {
        let (base, state, ok, failed) = (base.clone(), state.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let page = client.get(format!("{base}/contact")).send().await.unwrap().text().await.unwrap();
            let marker = "name=\"csrf\" value=\"";
            let start = page.find(marker).unwrap() + marker.len();
            let csrf = page[start..start + page[start..].find('"').unwrap()].to_string();
            let mut latencies = vec![];
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let token = intake::new_token(&state.keyring, now_ms() - 10_000);
                let email = format!("person{}@example.com", (c as u64 * 7919 + i) % 2000);
                let fields = [
                    ("csrf", csrf.as_str()),
                    ("token", &token),
                    ("name", "Bench Person"),
                    ("email", &email),
                    ("phone", "+1 415 555 2671"),
                    ("product", "Windows"),
                    ("subject", "Windows update fails with 0x80070005"),
                    ("details", "After the latest update the machine reboots and the update fails again. We tried the troubleshooter."),
                    ("birth_year", "1980"),
                    ("website", ""),
                ];
                let t = Instant::now();
                match client.post(format!("{base}/contact")).form(&fields).send().await {
                    Ok(r) if r.status() == 303 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let flushes_before = state.db.flushes();
    let mut latencies = vec![];
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
        .fetch_one(&state.db.pool)
        .await?;
    let ok = ok.load(Ordering::Relaxed);
    // Each 303 waited for its commit to be on disk; SQLite's answers share
    // flushes of the log (PostgreSQL flushes at commit, not counted here).
    let flushes = state.db.flushes() - flushes_before;
    println!(
        "{label:8} {:>8.0} submissions/s  ({ok} tickets in {elapsed:.1} s, {} failed, db holds {tickets})  p50 {:.1} ms  p99 {:.1} ms  {:.2} flushes per submission",
        ok as f64 / elapsed,
        failed.load(Ordering::Relaxed),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        flushes as f64 / ok.max(1) as f64,
    );
    // On a shared machine wall-clock rates follow the neighbours' load; CPU
    // time per submission does not. It covers server, worker and clients
    // (and not the PostgreSQL server, which runs outside this process).
    println!(
        "{label:8} {:.2} ms of CPU per submission in this process: {:.0}/s would fit on {} dedicated cores",
        cpu * 1000.0 / ok.max(1) as f64,
        ok as f64 / cpu * cores(),
        cores()
    );
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(())
}

/// User plus system CPU time of this process, in seconds (Linux `/proc`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}
