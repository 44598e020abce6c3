//! The analytics aggregator alone: page views ingested per second in
//! memory, with a realistic spread of visitors, pages, referrers, campaigns,
//! devices and browsers (target: at least 50,000 per second). Also: the
//! whole per-request work of the counting layer (visitor hash, user-agent
//! parsing, robot check, then the aggregator), two threads sharing one
//! aggregator, and writing a batch to SQLite.
//!
//! `cargo bench --bench analytics`; `BENCH_VIEWS` (default 2,000,000) sets
//! how many views each in-memory figure ingests.

use officecomms::{
    analytics::{
        aggregate::{Aggregator, Hit},
        db,
        track::{UserAgent, VisitorHasher, ua_digest},
    },
    platform::db::Db,
};
use std::time::Instant;

const UAS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
];

/// A cheap deterministic sequence, so runs compare.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

struct Traffic {
    paths: Vec<String>,
    referrers: Vec<String>,
    campaigns: Vec<String>,
}

impl Traffic {
    fn new() -> Traffic {
        Traffic {
            paths: (0..300)
                .map(|i| format!("/articles/article-number-{i}"))
                .collect(),
            referrers: (0..40).map(|i| format!("site{i}.example")).collect(),
            campaigns: (0..8).map(|i| format!("campaign-{i}")).collect(),
        }
    }
}

fn ingest(agg: &Aggregator, t: &Traffic, views: usize, seed: u64, full: bool) -> f64 {
    let mut rng = Lcg(seed);
    let hasher = VisitorHasher::new(&[7u8; 32]);
    let started = Instant::now();
    for _ in 0..views {
        let v = rng.next(20_000);
        let ua = UAS[v % UAS.len()];
        let path = &t.paths[rng.next(t.paths.len())];
        let referrer =
            (rng.next(4) == 0).then(|| t.referrers[rng.next(t.referrers.len())].as_str());
        let campaign =
            (rng.next(10) == 0).then(|| t.campaigns[rng.next(t.campaigns.len())].as_str());
        let (visitor, device, browser) = if full {
            let agent = UserAgent::classify(ua);
            assert!(!agent.bot);
            let ip = std::net::IpAddr::from([203, 0, (v / 256 % 256) as u8, (v % 256) as u8]);
            (
                hasher.visitor(ip, ua_digest(ua)),
                agent.device,
                agent.browser,
            )
        } else {
            (v as u128, "desktop", "Firefox")
        };
        agg.record(&Hit {
            day: 20_000,
            visitor,
            path,
            referrer,
            campaign,
            device,
            browser,
        });
    }
    views as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let views: usize = std::env::var("BENCH_VIEWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let t = Traffic::new();
    println!("analytics aggregator, {views} page views per figure (20,000 visitors, 300 pages)");

    let agg = Aggregator::default();
    let rate = ingest(&agg, &t, views, 1, false);
    println!(
        "aggregator alone:                {rate:>12.0} views/s (target >= 50,000: {:.0}x)",
        rate / 50_000.0
    );

    let agg = Aggregator::default();
    let rate = ingest(&agg, &t, views, 2, true);
    println!("hash + user agent + aggregator:  {rate:>12.0} views/s");

    let agg = std::sync::Arc::new(Aggregator::default());
    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let agg = agg.clone();
            std::thread::spawn(move || ingest(&agg, &Traffic::new(), views / 2, 10 + i, true))
        })
        .collect();
    for th in threads {
        th.join().expect("bench thread");
    }
    let rate = views as f64 / started.elapsed().as_secs_f64();
    println!("2 threads, one aggregator:       {rate:>12.0} views/s");

    // Writing: one day's batch of 100,000 views to SQLite, as the flusher does.
    let dir = tempfile::tempdir()?;
    let db = Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("a.db").display()
    ))
    .await?;
    db.migrate().await?;
    let agg = Aggregator::default();
    ingest(&agg, &t, 100_000, 3, false);
    let batch = agg.take(20_000);
    let (rows, marks) = (batch.views.len(), batch.marks.len());
    let started = Instant::now();
    db::write(&db, &batch).await?;
    println!(
        "flush of 100,000 views to SQLite: {:.0} ms ({rows} count rows, {marks} visitor marks)",
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
