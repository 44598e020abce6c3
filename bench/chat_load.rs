//! Load for the live chat, against a running server (see `bench/chat.sh`):
//! opens many idle visitor connections and reports the server's RSS, then
//! measures round trips (send → the stored message back) at a fixed rate.
//!
//!   chat_load BASE_URL SERVER_PID [IDLE] [RATE] [SECONDS]
//!
//! Connections come from 127.0.0.1, 127.0.0.2, … (20,000 each), so that
//! 50,000 fit past one source address's ephemeral ports.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Connections per source address.
const PER_SOURCE: usize = 20_000;

async fn open(base: &str, name: &str, n: usize) -> anyhow::Result<Ws> {
    let mut req = format!("{}/chat/ws", base.replace("http://", "ws://")).into_client_request()?;
    req.headers_mut()
        .insert("origin", HeaderValue::from_str(base)?);
    let server: std::net::SocketAddr = base.trim_start_matches("http://").parse()?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    let source = std::net::Ipv4Addr::new(127, 0, 0, 1 + (n / PER_SOURCE) as u8);
    socket.bind((source, 0).into())?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await?;
    ws.send(Message::Text(
        json!({"type": "hello", "name": name, "birth_year": "1980"})
            .to_string()
            .into(),
    ))
    .await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == "welcome" {
                    return Ok(ws);
                }
                anyhow::ensure!(v["type"] != "error", "refused: {v}");
            }
            Some(Ok(_)) => {}
            other => anyhow::bail!("closed during hello: {other:?}"),
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .cloned()
        .unwrap_or("http://127.0.0.1:18291".into());
    let pid: u32 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let idle: usize = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(10_000);
    let rate: u64 = args.get(4).and_then(|p| p.parse().ok()).unwrap_or(1_000);
    let seconds: u64 = args.get(5).and_then(|p| p.parse().ok()).unwrap_or(10);

    let before = rss_kib(pid);
    println!("server RSS before: {:.1} MB", before as f64 / 1024.0);
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(idle);
    let mut pending = futures_util::stream::iter(0..idle)
        .map(|i| {
            let base = base.clone();
            async move { open(&base, &format!("Idle {i}"), i).await }
        })
        .buffer_unordered(200);
    while let Some(ws) = pending.next().await {
        sockets.push(ws?);
    }
    drop(pending);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    println!(
        "{} idle visitor connections opened in {:.1} s; server RSS {:.1} MB ({:.1} KiB per connection above the start)",
        sockets.len(),
        started.elapsed().as_secs_f64(),
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / sockets.len().max(1) as f64
    );

    if rate == 0 || seconds == 0 {
        return Ok(());
    }
    // Round trips: senders at 4 messages/s each (under the per-connection
    // limit of 5/s) until the total rate is reached.
    let senders = (rate / 4).max(1) as usize;
    let per_sender = Duration::from_millis(1000 * senders as u64 / rate);
    let mut tasks = Vec::new();
    for s in 0..senders {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = open(&base, &format!("Sender {s}"), s).await?;
            let mut samples = Vec::new();
            // Spread the senders over the first interval.
            tokio::time::sleep(per_sender * s as u32 / senders as u32).await;
            let mut tick = tokio::time::interval(per_sender);
            let end = Instant::now() + Duration::from_secs(seconds);
            let mut n = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                n += 1;
                let id = format!("{s}-{n}");
                let sent = Instant::now();
                ws.send(Message::Text(
                    json!({"type": "message", "body": format!("load {id}"), "id": id})
                        .to_string()
                        .into(),
                ))
                .await?;
                // The message frame back: stored, given its seq, fanned out.
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) => {
                            let v: Value = serde_json::from_str(&t)?;
                            if v["type"] == "message" && v["body"] == format!("load {id}") {
                                samples.push(sent.elapsed());
                                break;
                            }
                            anyhow::ensure!(v["type"] != "error", "error frame: {v}");
                        }
                        Some(Ok(_)) => {}
                        other => anyhow::bail!("closed: {other:?}"),
                    }
                }
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort();
    println!(
        "{} round trips at {} msg/s over {} s ({} senders, {} idle connections open): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        rate,
        seconds,
        senders,
        sockets.len(),
        percentile(&all, 0.50).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    println!(
        "server RSS at the end: {:.1} MB",
        rss_kib(pid) as f64 / 1024.0
    );
    Ok(())
}
