//! Queries of the integrity tables.

use super::integrity::Finding;
use crate::platform::{db::Db, now_ms};
use anyhow::Context;
use sha2::{Digest, Sha256};

#[derive(Debug, sqlx::FromRow)]
pub struct FindingRow {
    pub kind: String,
    pub item_id: String,
    pub rule: String,
    pub detail: String,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub resolved_at: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct ScanRow {
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub started_by: String,
    pub items: i64,
    pub findings: i64,
    pub errors: String,
}

fn fingerprint(f: &Finding) -> String {
    let mut hash = Sha256::new();
    for part in [f.kind.as_str(), &f.item_id, f.rule.code(), &f.detail] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

pub async fn start_scan(db: &Db, started_at: i64, started_by: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO integrity_scans (started_at, started_by) VALUES ($1, $2) RETURNING id",
    )
    .bind(started_at)
    .bind(started_by)
    .fetch_one(&db.pool)
    .await
    .context("recording the start of an integrity scan")
}

/// Stores what a scan found: new findings open, seen ones stay open (or
/// reopen), and open ones this scan no longer saw are resolved, except
/// those of sources that could not be read.
pub async fn finish_scan(
    db: &Db,
    scan_id: i64,
    started_at: i64,
    findings: &[Finding],
    failed_kinds: &[&str],
    items: usize,
    errors: &[String],
) -> anyhow::Result<()> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    for f in findings {
        sqlx::query(
            "INSERT INTO integrity_findings \
             (fingerprint, kind, item_id, rule, detail, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (fingerprint) DO UPDATE SET last_seen_at = excluded.last_seen_at, \
             resolved_at = NULL",
        )
        .bind(fingerprint(f))
        .bind(&f.kind)
        .bind(&f.item_id)
        .bind(f.rule.code())
        .bind(&f.detail)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("storing an integrity finding")?;
    }
    let gone: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, kind FROM integrity_findings WHERE resolved_at IS NULL AND last_seen_at < $1",
    )
    .bind(started_at)
    .fetch_all(&mut *tx)
    .await?;
    for (id, kind) in gone {
        if !failed_kinds.contains(&kind.as_str()) {
            sqlx::query("UPDATE integrity_findings SET resolved_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query(
        "UPDATE integrity_scans SET finished_at = $1, items = $2, findings = $3, errors = $4 \
         WHERE id = $5",
    )
    .bind(now)
    .bind(i64::try_from(items).unwrap_or(i64::MAX))
    .bind(i64::try_from(findings.len()).unwrap_or(i64::MAX))
    .bind(errors.join("; "))
    .bind(scan_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await.context("recording an integrity scan")?;
    Ok(())
}

pub async fn count_open(db: &Db) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM integrity_findings WHERE resolved_at IS NULL")
            .fetch_one(&db.pool)
            .await?,
    )
}

const FINDING_COLUMNS: &str =
    "kind, item_id, rule, detail, first_seen_at, last_seen_at, resolved_at";

/// Open findings matching `q` (any part of kind, item, rule or detail), newest first.
pub async fn list_open(db: &Db, q: &str) -> anyhow::Result<Vec<FindingRow>> {
    let pattern = format!("%{}%", q.trim().to_lowercase());
    Ok(sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {FINDING_COLUMNS} FROM integrity_findings WHERE resolved_at IS NULL \
         AND LOWER(kind || ' ' || item_id || ' ' || rule || ' ' || detail) LIKE $1 \
         ORDER BY last_seen_at DESC, id DESC LIMIT 500"
    )))
    .bind(pattern)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn list_resolved(db: &Db, limit: i64) -> anyhow::Result<Vec<FindingRow>> {
    Ok(sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {FINDING_COLUMNS} FROM integrity_findings WHERE resolved_at IS NOT NULL \
         ORDER BY resolved_at DESC, id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn last_scan(db: &Db) -> anyhow::Result<Option<ScanRow>> {
    Ok(sqlx::query_as(
        "SELECT started_at, finished_at, started_by, items, findings, errors \
         FROM integrity_scans ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await?)
}

pub async fn last_scan_started(db: &Db) -> anyhow::Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT MAX(started_at) FROM integrity_scans")
            .fetch_one(&db.pool)
            .await?,
    )
}
