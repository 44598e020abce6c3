//! Webhook deliveries per second to a receiver on loopback.
//!
//! ```text
//! cargo run --release --example webhooks -- [--events 5000] [--database-url postgres://…]
//! ```
//!
//! Starts the real application (its webhook worker included) on a fresh
//! data dir, adds one endpoint on 127.0.0.1 (private addresses allowed),
//! queues N events through `platform::webhooks::enqueue` in transactions of
//! 500, and times from the first to the last request the receiver got. The
//! receiver checks every signature, so signing is part of the figure.

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use officecomms::{
    Application, Config,
    platform::{now_ms, webhooks},
};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

#[derive(Clone)]
struct Receiver {
    secret: String,
    count: Arc<AtomicU64>,
    bad: Arc<AtomicU64>,
    first: Arc<Mutex<Option<Instant>>>,
    last: Arc<Mutex<Option<Instant>>>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> &'static str {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let timestamp: i64 = h("webhook-timestamp").parse().unwrap_or_default();
    let expected = webhooks::sign(&r.secret, &h("webhook-id"), timestamp, &body).unwrap();
    if h("webhook-signature") != expected {
        r.bad.fetch_add(1, Ordering::Relaxed);
    }
    let now = Instant::now();
    r.first.lock().unwrap().get_or_insert(now);
    *r.last.lock().unwrap() = Some(now);
    r.count.fetch_add(1, Ordering::Relaxed);
    "ok"
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut events: u64 = 5_000;
    let mut database_url = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => events = args.next().unwrap_or_default().parse()?,
            "--database-url" => database_url = args.next(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let dir = tempfile::tempdir()?;
    let mut config = Config::load(|_| None)?;
    config.data_dir = dir.path().to_path_buf();
    config.set_bind("127.0.0.1:0".parse()?);
    config.database_url = database_url;
    config.demo = false;
    let app = Application::build(config).await?;
    let state = app.state().clone();

    let secret = webhooks::new_secret();
    let receiver = Receiver {
        secret: secret.clone(),
        count: Arc::default(),
        bad: Arc::default(),
        first: Arc::default(),
        last: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let sink = Router::new()
        .route("/hook", post(hook))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, sink).await });

    sqlx::query(
        "INSERT INTO webhook_endpoints (name, url, secret, events, include_personal, allow_private, \
         enabled, created_at) VALUES ('bench', $1, $2, 'ticket.created', 0, 1, 1, $3)",
    )
    .bind(format!("http://127.0.0.1:{port}/hook"))
    .bind(webhooks::seal_secret(&state.keyring, &secret))
    .bind(now_ms())
    .execute(&state.db.pool)
    .await?;

    let queued = Instant::now();
    let mut n = 0;
    while n < events {
        let mut tx = state.db.begin().await?;
        for _ in 0..500.min(events - n) {
            webhooks::enqueue(
                &mut tx,
                &state.keyring,
                now_ms(),
                webhooks::Event {
                    kind: "ticket.created",
                    subject: None,
                    data: serde_json::json!({ "ticket_id": n, "reference": format!("OC-2026-{n:06}") }),
                    personal: serde_json::json!({}),
                },
            )
            .await?;
            n += 1;
        }
        tx.commit().await?;
    }
    let queue_secs = queued.elapsed().as_secs_f64();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(600);
    while receiver.count.load(Ordering::Relaxed) < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = receiver.count.load(Ordering::Relaxed);
    let first = receiver.first.lock().unwrap().unwrap_or_else(Instant::now);
    let last = receiver.last.lock().unwrap().unwrap_or(first);
    let secs = (last - first).as_secs_f64().max(0.001);
    let _ = stop.send(());
    let _ = server.await;
    println!(
        "webhooks: {got} of {events} delivered ({} bad signatures) in {secs:.2} s: {:.0} deliveries/s; \
         queueing took {queue_secs:.2} s ({:.0} events/s)",
        receiver.bad.load(Ordering::Relaxed),
        got as f64 / secs,
        events as f64 / queue_secs,
    );
    anyhow::ensure!(got == events, "not every event arrived");
    Ok(())
}
