//! The framework's ceiling for `bench/run.sh`: axum on tokio's multi-thread
//! runtime (as `officecomms serve` runs) answering every GET with the same
//! bytes from memory, and nothing else. What officecomms loses against it
//! is ours; what this loses against nginx is the framework's.
//!
//!   cargo run --release --example bare_axum -- PAGE.html 127.0.0.1:18284

use axum::{Router, body::Bytes, http::header, routing::get};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(addr)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_axum PAGE.html ADDR");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(&file).expect("reading the page"));
    let app = Router::new().route(
        "/{*path}",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("binding");
    axum::serve(listener, app).await.expect("serving");
}
