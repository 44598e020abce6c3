//! Seeds synthetic articles for benchmarks into a data dir (or the database
//! of `OFFICECOMMS_DATABASE_URL`), on top of the demo site:
//!
//! ```sh
//! cargo run --release --example seed_articles -- DATA_DIR 10000
//! ```

// The queries are for the search test that shares this corpus.
#[allow(dead_code)]
mod corpus;

use officecomms::{AppState, Config};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(n)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: seed_articles DATA_DIR COUNT");
    };
    let n: usize = n.parse()?;
    let mut config = Config::load(|k| std::env::var(k).ok())?;
    config.data_dir = dir.into();
    config.workers = false;
    let state = AppState::open(config).await?;
    let started = std::time::Instant::now();
    corpus::seed(&state.db, n, state.clock.now()).await?;
    // Copy SQLite's log back into the database now (connections do not
    // checkpoint by themselves): else the server measured next starts by
    // doing it, on the cores the measurement needs.
    state.db.checkpoint().await?;
    state.db.pool.close().await;
    println!("seeded {n} articles in {:.1?}", started.elapsed());
    Ok(())
}
