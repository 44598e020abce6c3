//! Ticket search at scale (issue 25): seeds tickets of three messages each
//! through the real write path (`tickets::create` and the visitor's
//! answers, so every word is indexed as in production), then times, with 8
//! concurrent searchers:
//!
//! - the blind-index search as the global search runs it (20 hits);
//! - the search it replaced (decrypt the newest 500 tickets and their
//!   messages, match in memory), same queries, same run;
//! - the inbox page itself over HTTP (`/admin/tickets?q=`, 100 rows, each
//!   with its matching line decrypted).
//!
//! It also reports ticket creation time, the index's share of it, and the
//! index's rows and bytes per ticket.
//!
//! Then it seeds chats of three messages each through the chat's real write
//! path (`conversations::start`, then messages through the hub's writer,
//! which indexes them in the storing transaction) and times a chat message's
//! storage and the chat search the global search runs (one and three words,
//! 8 searchers), with the chats' index size per chat.
//!
//! `cargo bench --bench ticket_search`; `BENCH_TICKETS` (default 10,000),
//! `BENCH_CHATS` (default 20,000) and `BENCH_ROUNDS` (searches per searcher
//! and kind, default 40). With `OFFICECOMMS_TEST_POSTGRES_URL` set it runs
//! on PostgreSQL too.
//!
//! Seeding 100,000 tickets through the real write path takes a long while,
//! so it can be done once and measured later: with `BENCH_KEEP=DIR` the
//! SQLite data lives in `DIR/sqlite`, the PostgreSQL run in the database
//! `oc_bench_search_keep` (its key file in `DIR/postgres`), neither is
//! deleted, and a run finding them seeded with the same counts skips the
//! seeding (and the creation-time figures, which only a seeding run has).
//! `BENCH_SEED_ONLY=1` stops after seeding.

use officecomms::{
    AppState, Application, Config,
    chat::{conversations, search as chat_search},
    platform::{db::Backend, forms::EmailAddress},
    support::{db, intake::NewTicket, search, tickets},
};
use sqlx::{AssertSqlSafe, Connection};
use std::time::{Duration, Instant};

const SEARCHERS: usize = 8;
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "da", "gri", "bel", "tor", "man", "quo",
    "zen",
];

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic generator (same text every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Word number `k` of a 5,000-word vocabulary: syllables from its digits.
fn word(k: u64) -> String {
    let (mut k, mut w) = (k + 20, String::new());
    while k > 0 {
        w.push_str(SYLLABLES[(k % 16) as usize]);
        k /= 16;
    }
    w
}

/// A word drawn with a skewed frequency: low ranks are common, most rare.
fn zipf(rng: &mut Rng) -> u64 {
    let u = (rng.next() % 10_000) as f64 / 10_000.0;
    (5_000f64.powf(u) - 1.0) as u64
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| word(zipf(rng)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ticket(i: usize) -> (NewTicket, [String; 2]) {
    let mut rng = Rng(i as u64 * 7919 + 3);
    let new = NewTicket {
        name: format!("{} {}", word(rng.next() % 300), word(rng.next() % 3000)),
        email: format!("person{i}@example{}.com", i % 500)
            .parse::<EmailAddress>()
            .unwrap(),
        phone: None,
        phone_e164: None,
        product: "Microsoft 365".into(),
        product_other: None,
        title: sentence(&mut rng, 6),
        details: sentence(&mut rng, 40),
        attachments: vec![],
    };
    let answers = [sentence(&mut rng, 40), sentence(&mut rng, 40)];
    (new, answers)
}

/// Where a kept run lives (`BENCH_KEEP`), if any.
fn kept() -> Option<std::path::PathBuf> {
    std::env::var_os("BENCH_KEEP").map(std::path::PathBuf::from)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env_num("BENCH_TICKETS", 10_000);
    let chats = env_num("BENCH_CHATS", 20_000);
    let rounds = env_num("BENCH_ROUNDS", 40);
    println!(
        "ticket search: {n} tickets of 3 messages, {chats} chats of 3 messages, {SEARCHERS} searchers, {rounds} rounds each"
    );
    run(None, n, chats, rounds).await?;
    if let Ok(admin) = std::env::var("OFFICECOMMS_TEST_POSTGRES_URL") {
        sqlx::any::install_default_drivers();
        let keep = kept().is_some();
        let name = if keep {
            "oc_bench_search_keep".to_string()
        } else {
            format!("oc_bench_search_{}", std::process::id())
        };
        let mut conn = sqlx::AnyConnection::connect(&admin).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
        }
        let mut url: url::Url = admin.parse()?;
        url.set_path(&name);
        let result = run(Some(url.to_string()), n, chats, rounds).await;
        if !keep {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
        }
        result?;
    }
    Ok(())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "  {label:44} p50 {:7.1} ms  p99 {:7.1} ms  ({} samples)",
        pct(&times, 0.5),
        pct(&times, 0.99),
        times.len()
    );
}

async fn run(
    database_url: Option<String>,
    n: usize,
    chats: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let data_dir = match kept() {
        Some(keep) => keep.join(if database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        }),
        None => temp.path().to_path_buf(),
    };
    std::fs::create_dir_all(&data_dir)?;
    // A kept run already seeded with these counts is measured as it is.
    let marker = data_dir.join("seeded");
    let counts = format!("{n} tickets, {chats} chats");
    let seeded_before = std::fs::read_to_string(&marker).is_ok_and(|m| m == counts);
    let mut config = Config::load(|_| None)?;
    config.data_dir = data_dir.clone();
    config.set_bind("127.0.0.1:0".parse()?);
    config.database_url = database_url;
    config.demo = false;
    let app = Application::build(config).await?;
    let state = app.state().clone();
    let label = match state.db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stop_rx.await;
    }));

    if seeded_before {
        println!(
            "{label}: {counts} seeded by an earlier run ({})",
            data_dir.display()
        );
    } else {
        seed_tickets(&state, label, n).await?;
        seed_chats(&state, label, chats).await?;
        std::fs::write(&marker, &counts)?;
    }
    if std::env::var_os("BENCH_SEED_ONLY").is_some() {
        let _ = stop_tx.send(());
        let _ = server.await;
        return Ok(());
    }
    measure_tickets(&state, label, n, rounds).await?;
    chat_search_bench(&state, chats, rounds).await?;
    inbox_over_http(&state, &base, n, rounds).await?;
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(())
}

/// Seeding: 8 writers, each ticket then its two answers, as production does.
async fn seed_tickets(state: &AppState, label: &str, n: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut writers = vec![];
    for w in 0..SEARCHERS {
        let state = state.clone();
        writers.push(tokio::spawn(async move {
            let mut create_times = vec![];
            for i in (w..n).step_by(SEARCHERS) {
                let (new, answers) = ticket(i);
                let t = Instant::now();
                let created = tickets::create(&state, &new, &format!("bench-{i}"), b"bench")
                    .await
                    .unwrap();
                create_times.push(t.elapsed());
                let tickets::Created::New { id, .. } = created else {
                    continue;
                };
                let row = db::ticket(&state.db, id).await.unwrap().unwrap();
                let (ticket, subject) = tickets::Ticket::open(&state, row).unwrap().unwrap();
                for body in &answers {
                    tickets::visitor_reply(&state, &ticket, &subject, body)
                        .await
                        .unwrap();
                }
            }
            create_times
        }));
    }
    let mut create_times = vec![];
    for w in writers {
        create_times.extend(w.await?);
    }
    let seeded = started.elapsed();
    println!(
        "{label}: seeded {n} tickets (3 messages each) in {:.0} s",
        seeded.as_secs_f64()
    );
    report("ticket creation (8 writers), with index", create_times);
    Ok(())
}

/// The index's cost and size, then the searches, blind and decrypt-500.
async fn measure_tickets(
    state: &AppState,
    label: &str,
    n: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    println!("{label}: {n} tickets");
    // The index's own share of a creation: hashing and inserting a new
    // ticket's words, in a transaction rolled back, one at a time.
    let mut index_times = vec![];
    for i in 0..200 {
        let (new, _) = ticket(n + i);
        let fields = search::Fields {
            reference: "OC-2026-999999",
            name: &new.name,
            email: new.email.as_str(),
            phone: None,
            phone_e164: None,
            product: &new.product,
            product_other: None,
            title: &new.title,
        };
        let mut tx = state.db.begin().await?;
        let t = Instant::now();
        search::index_ticket(
            state,
            &mut tx,
            1_000_000 + i as i64,
            1,
            &fields,
            &new.details,
        )
        .await?;
        index_times.push(t.elapsed());
        tx.rollback().await?;
    }
    report("indexing a new ticket's words alone", index_times);
    let rows = search::WORDS.rows(&state.db).await?;
    let bytes: i64 = match state.db.backend {
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'ticket_search_terms%'",
        )
        .fetch_one(&state.db.pool)
        .await
        .unwrap_or(-1),
        Backend::Postgres => {
            sqlx::query_scalar("SELECT pg_total_relation_size('ticket_search_terms')::BIGINT")
                .fetch_one(&state.db.pool)
                .await?
        }
    };
    println!(
        "  index: {rows} rows, {:.0} rows and {:.1} KB per ticket (table and indexes)",
        rows as f64 / n as f64,
        bytes as f64 / n as f64 / 1024.0
    );

    let (one, three) = ticket_queries(n, rounds);
    for (kind, queries) in [("one word", &one), ("three words", &three)] {
        for engine in ["blind index (20 hits)", "decrypt newest 500 (before)"] {
            let mut tasks = vec![];
            for s in 0..SEARCHERS {
                let (state, queries) = (state.clone(), queries.clone());
                tasks.push(tokio::spawn(async move {
                    let mut times = vec![];
                    for r in 0..queries.len() {
                        let q = &queries[(r + s) % queries.len()];
                        let t = Instant::now();
                        if engine.starts_with("blind") {
                            search::for_staff(&state, q, 20).await.unwrap();
                        } else {
                            search::scan_newest(&state, q, 20).await.unwrap();
                        }
                        times.push(t.elapsed());
                    }
                    times
                }));
            }
            let mut times = vec![];
            for t in tasks {
                times.extend(t.await?);
            }
            report(&format!("{kind}, {engine}"), times);
        }
    }

    Ok(())
}

/// The inbox page over HTTP, signed in as an agent.
async fn inbox_over_http(
    state: &AppState,
    base: &str,
    n: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    let (one, three) = ticket_queries(n, rounds);
    // A kept database has its agent from the first measuring run.
    let _ = officecomms::staff::add_user_cli(
        state,
        "bench-agent@officecomms.test",
        None,
        officecomms::staff::Role::Agent,
        "a long bench passphrase",
    )
    .await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = client
        .get(format!("{base}/admin/login"))
        .send()
        .await?
        .text()
        .await?;
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a login form") + marker.len();
    let csrf = page[start..start + page[start..].find('"').unwrap()].to_string();
    let r = client
        .post(format!("{base}/admin/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "bench-agent@officecomms.test"),
            ("password", "a long bench passphrase"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303, "the bench agent signs in");
    for (kind, queries) in [("one word", &one), ("three words", &three)] {
        let mut tasks = vec![];
        for s in 0..SEARCHERS {
            let (client, base, queries) = (client.clone(), base.to_string(), queries.clone());
            tasks.push(tokio::spawn(async move {
                let mut times = vec![];
                for r in 0..queries.len() {
                    let q = queries[(r + s) % queries.len()].replace(' ', "+");
                    let t = Instant::now();
                    let r = client
                        .get(format!("{base}/admin/tickets?status=all&q={q}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
                    times.push(t.elapsed());
                }
                times
            }));
        }
        let mut times = vec![];
        for t in tasks {
            times.extend(t.await?);
        }
        report(&format!("{kind}, inbox page over HTTP (100 rows)"), times);
    }
    Ok(())
}

/// Queries: one common-ish word, one rare word, and three words of one
/// ticket (so each has a match), varied per round.
fn ticket_queries(n: usize, rounds: usize) -> (Vec<String>, Vec<String>) {
    let one = (0..rounds)
        .map(|r| {
            word(if r % 2 == 0 {
                20 + r as u64
            } else {
                2_000 + r as u64
            })
        })
        .collect();
    let three = (0..rounds)
        .map(|r| {
            let (_, answers) = ticket((r * 97) % n);
            answers[1].split(' ').take(3).collect::<Vec<_>>().join(" ")
        })
        .collect();
    (one, three)
}

/// Chat `i`: its visitor's name and three messages.
fn chat(i: usize) -> (String, [String; 3]) {
    let mut rng = Rng(i as u64 * 104_729 + 11);
    let name = format!("{} {}", word(rng.next() % 300), word(rng.next() % 3000));
    let messages = [
        sentence(&mut rng, 12),
        sentence(&mut rng, 12),
        sentence(&mut rng, 12),
    ];
    (name, messages)
}

/// Seeds `n` chats through the chat's write path (8 visitors at a time, so
/// the hub's writer batches as in production).
async fn seed_chats(state: &AppState, label: &str, n: usize) -> anyhow::Result<()> {
    if n == 0 {
        return Ok(());
    }
    let started = Instant::now();
    let mut writers = vec![];
    for w in 0..SEARCHERS {
        let state = state.clone();
        writers.push(tokio::spawn(async move {
            let mut post_times = vec![];
            for i in (w..n).step_by(SEARCHERS) {
                let (name, messages) = chat(i);
                let c = conversations::start(&state, &name, None, Some("/"), None)
                    .await
                    .unwrap();
                for (k, body) in messages.iter().enumerate() {
                    let from = if k == 1 { "agent" } else { "visitor" };
                    let t = Instant::now();
                    conversations::post(&state, &c, from, None, body, None)
                        .await
                        .unwrap();
                    post_times.push(t.elapsed());
                }
            }
            post_times
        }));
    }
    let mut post_times = vec![];
    for w in writers {
        post_times.extend(w.await?);
    }
    println!(
        "{label}: seeded {n} chats (3 messages each) in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    report("chat message stored, with index (8 visitors)", post_times);
    Ok(())
}

/// Times chat-word searches.
async fn chat_search_bench(state: &AppState, n: usize, rounds: usize) -> anyhow::Result<()> {
    if n == 0 {
        return Ok(());
    }
    let rows = chat_search::WORDS.rows(&state.db).await?;
    println!(
        "  chat index: {rows} rows, {:.0} rows per chat",
        rows as f64 / n as f64
    );
    let one: Vec<String> = (0..rounds)
        .map(|r| {
            word(if r % 2 == 0 {
                30 + r as u64
            } else {
                2_500 + r as u64
            })
        })
        .collect();
    let three: Vec<String> = (0..rounds)
        .map(|r| {
            let (_, messages) = chat((r * 89) % n);
            messages[2].split(' ').take(3).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let zone = state.site().time_zone;
    for (kind, queries) in [("one word", &one), ("three words", &three)] {
        let mut tasks = vec![];
        for s in 0..SEARCHERS {
            let (state, queries) = (state.clone(), queries.clone());
            tasks.push(tokio::spawn(async move {
                let mut times = vec![];
                for r in 0..queries.len() {
                    let q = &queries[(r + s) % queries.len()];
                    let t = Instant::now();
                    chat_search::for_staff(&state, q, 20, zone).await.unwrap();
                    times.push(t.elapsed());
                }
                times
            }));
        }
        let mut times = vec![];
        for t in tasks {
            times.extend(t.await?);
        }
        report(&format!("{kind}, chats, blind index (20 hits)"), times);
    }
    Ok(())
}
