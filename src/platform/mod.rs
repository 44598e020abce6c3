//! What every layer stands on: database, crypto, mail outbox, HTTP
//! helpers, templates, assets, settings, metrics, the per-request context
//! and the registries' vocabulary. It names nothing above it: only
//! `config`, `error` and itself (a test reads the source to hold that).

pub mod activity;
pub mod api;
pub mod assets;
pub mod context;
pub mod crypto;
pub mod csv;
pub mod db;
pub mod forms;
pub mod http;
pub mod inventory;
pub mod mail;
pub mod memory;
pub mod metrics;
pub mod nav;
pub mod paths;
pub mod scan;
pub mod search_index;
pub mod settings;
pub mod smtp;
pub mod state;
pub mod subjects;
pub mod templates;
pub mod tls;
pub mod webhooks;
pub mod words;
pub mod zones;

pub use context::{ClientIp, Privacy, StaffUser};
pub use state::Platform;

use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch: the one timestamp format in the database.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A random URL-safe token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Hex SHA-256 of a token, for storing tokens without storing them.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Wall-clock time plus an offset that tests move forward (to see scheduled
/// pieces appear, retention expire, a day end) without sleeping.
#[derive(Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> i64 {
        now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Makes "now" this time (epoch ms).
    pub fn set(&self, ms: i64) {
        self.offset_ms.store(ms - now_ms(), Ordering::Relaxed);
    }

    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}
