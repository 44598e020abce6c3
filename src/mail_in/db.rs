//! Mail in's own tables: messages taken, acknowledgements, quarantine,
//! soft bounces and the IMAP cursor.

use crate::platform::db::{Db, Tx};

/// Remembers a message as taken; false when it was taken before.
pub async fn mark_seen(tx: &mut Tx, hash: &[u8], now: i64, outcome: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO mail_in_seen (message_hash, received_at, outcome) VALUES ($1, $2, $3) \
         ON CONFLICT (message_hash) DO NOTHING",
    )
    .bind(hash)
    .bind(now)
    .bind(outcome)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

pub async fn seen(db: &Db, hash: &[u8]) -> sqlx::Result<bool> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mail_in_seen WHERE message_hash = $1")
            .bind(hash)
            .fetch_one(&db.pool)
            .await?
            > 0,
    )
}

/// Acknowledgements to this sender since `since`.
pub async fn acks_since(tx: &mut Tx, sender_hash: &[u8], since: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM mail_in_acks WHERE sender_hash = $1 AND at >= $2")
        .bind(sender_hash)
        .bind(since)
        .fetch_one(&mut **tx)
        .await
}

pub async fn record_ack(tx: &mut Tx, sender_hash: &[u8], now: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO mail_in_acks (sender_hash, at) VALUES ($1, $2)")
        .bind(sender_hash)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn quarantine(
    tx: &mut Tx,
    now: i64,
    reason: &str,
    size: i64,
    sealed: &[u8],
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO mail_quarantine (received_at, reason, size, raw) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(now)
    .bind(reason)
    .bind(size)
    .bind(sealed)
    .fetch_one(&mut **tx)
    .await
}

/// `(id, received_at, reason, size)`, newest first.
pub async fn quarantined(db: &Db, limit: i64) -> sqlx::Result<Vec<(i64, i64, String, i64)>> {
    sqlx::query_as(
        "SELECT id, received_at, reason, size FROM mail_quarantine ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

pub async fn quarantined_raw(db: &Db, id: i64) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT raw FROM mail_quarantine WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await
}

/// Counts a soft bounce for a person; returns their count now.
pub async fn count_soft_bounce(tx: &mut Tx, subject_id: i64, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO mail_soft_bounces (subject_id, bounces, last_at) VALUES ($1, 1, $2) \
         ON CONFLICT (subject_id) DO UPDATE SET bounces = mail_soft_bounces.bounces + 1, last_at = $2 \
         RETURNING bounces",
    )
    .bind(subject_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// `(uid_validity, last_uid)` of a mailbox.
pub async fn cursor(db: &Db, mailbox: &str) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query_as("SELECT uid_validity, last_uid FROM mail_in_cursor WHERE mailbox = $1")
        .bind(mailbox)
        .fetch_optional(&db.pool)
        .await
}

pub async fn set_cursor(
    tx: &mut Tx,
    mailbox: &str,
    uid_validity: i64,
    last_uid: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO mail_in_cursor (mailbox, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (mailbox) DO UPDATE SET uid_validity = $2, last_uid = $3, updated_at = $4",
    )
    .bind(mailbox)
    .bind(uid_validity)
    .bind(last_uid)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
