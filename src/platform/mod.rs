//! What every domain stands on: database, crypto, mail outbox, HTTP
//! middleware, templates, assets, settings and metrics.

pub mod assets;
pub mod crypto;
pub mod csv;
pub mod db;
pub mod forms;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod paths;
pub mod settings;
pub mod smtp;
pub mod templates;
pub mod tls;

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
