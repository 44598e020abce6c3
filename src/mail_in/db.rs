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

/// The IMAP reader's place in one mailbox.
#[derive(Debug, sqlx::FromRow)]
pub struct Cursor {
    pub uid_validity: i64,
    /// The last UID taken.
    pub last_uid: i64,
    /// Up to this UID only unseen mail is new (the mailbox as it was when
    /// first read, or when its UIDVALIDITY changed); 0: none.
    pub catch_up_until: i64,
    /// A message that failed to be taken, and how often it failed.
    pub failing_uid: Option<i64>,
    pub failures: i64,
}

pub async fn cursor(db: &Db, mailbox: &str) -> sqlx::Result<Option<Cursor>> {
    sqlx::query_as(
        "SELECT uid_validity, last_uid, catch_up_until, failing_uid, failures \
         FROM mail_in_cursor WHERE mailbox = $1",
    )
    .bind(mailbox)
    .fetch_optional(&db.pool)
    .await
}

/// Starts a mailbox over (first read, or a new UIDVALIDITY): nothing taken
/// yet, and up to `catch_up_until` only unseen mail is new.
pub async fn restart_cursor(
    db: &Db,
    mailbox: &str,
    uid_validity: i64,
    catch_up_until: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO mail_in_cursor (mailbox, uid_validity, last_uid, updated_at, catch_up_until, failing_uid, failures) \
         VALUES ($1, $2, 0, $3, $4, NULL, 0) \
         ON CONFLICT (mailbox) DO UPDATE SET uid_validity = $2, last_uid = 0, updated_at = $3, \
         catch_up_until = $4, failing_uid = NULL, failures = 0",
    )
    .bind(mailbox)
    .bind(uid_validity)
    .bind(now)
    .bind(catch_up_until)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Moves the cursor past a message taken (and forgets its failures).
pub async fn set_cursor(tx: &mut Tx, mailbox: &str, last_uid: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE mail_in_cursor SET last_uid = $2, updated_at = $3, failing_uid = NULL, failures = 0 \
         WHERE mailbox = $1",
    )
    .bind(mailbox)
    .bind(last_uid)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Counts one failed attempt to take the message `uid`; its failures now.
pub async fn count_failure(db: &Db, mailbox: &str, uid: i64, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "UPDATE mail_in_cursor SET failures = CASE WHEN failing_uid = $2 THEN failures + 1 ELSE 1 END, \
         failing_uid = $2, updated_at = $3 WHERE mailbox = $1 RETURNING failures",
    )
    .bind(mailbox)
    .bind(uid)
    .bind(now)
    .fetch_one(&db.pool)
    .await
}

/// Whether the database answers at all.
pub async fn reachable(db: &Db) -> bool {
    sqlx::query("SELECT 1").execute(&db.pool).await.is_ok()
}

/// When a person's last soft bounce was counted.
pub async fn last_soft_bounce(tx: &mut Tx, subject_id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT last_at FROM mail_soft_bounces WHERE subject_id = $1")
        .bind(subject_id)
        .fetch_optional(&mut **tx)
        .await
}

pub async fn forget_soft_bounces(tx: &mut Tx, subject_id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM mail_soft_bounces WHERE subject_id = $1")
        .bind(subject_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
