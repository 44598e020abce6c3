//! The analytics tables: daily counts, the day's salt, the marks of
//! visitors already counted.

use super::aggregate::{Batch, Day, Dim, day_label};
use crate::platform::db::{Db, trusted_sql, value_rows};
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

/// Visitor marks per INSERT (two binds each, well under SQLite's limit).
const MARKS_PER_INSERT: usize = 500;

/// The stored form of a mark: a hash of visitor, dimension and key.
fn mark_bytes(visitor: u128, dim: Dim, key: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(visitor.to_le_bytes());
    h.update(dim.as_str().as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    h.finalize()[..16].to_vec()
}

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delta {
    pub views: i64,
    pub visitors: i64,
    pub entries: i64,
}

/// Writes a batch in one transaction: marks first (a mark the database
/// already holds is a visitor already counted), then the counts.
pub async fn write(db: &Db, batch: &Batch) -> anyhow::Result<()> {
    let mut deltas: BTreeMap<(Day, Dim, &str), Delta> = BTreeMap::new();
    for ((day, dim, key), views) in &batch.views {
        deltas.entry((*day, *dim, key)).or_default().views += views;
    }
    let mut tx = db.begin().await?;
    // Marks go in a few hundred per statement; the database names the ones
    // it did not hold yet, which are the visitors to count.
    for chunk in batch.marks.chunks(MARKS_PER_INSERT) {
        let rows: Vec<(String, Vec<u8>)> = chunk
            .iter()
            .map(|m| (day_label(m.day), mark_bytes(m.visitor, m.dim, &m.key)))
            .collect();
        let sql = format!(
            "INSERT INTO analytics_seen (day, mark) VALUES {} \
             ON CONFLICT (day, mark) DO NOTHING RETURNING day, mark",
            value_rows(1, rows.len(), 2)
        );
        let mut insert = sqlx::query_as::<_, (String, Vec<u8>)>(trusted_sql(sql)).persistent(false);
        for (day, mark) in &rows {
            insert = insert.bind(day.clone()).bind(mark.clone());
        }
        let mut new: HashSet<(String, Vec<u8>)> = insert
            .fetch_all(&mut *tx)
            .await
            .context("writing visitor marks")?
            .into_iter()
            .collect();
        for (mark, row) in chunk.iter().zip(rows) {
            // `remove`: a mark twice in one batch counts once.
            if new.remove(&row) {
                deltas
                    .entry((mark.day, mark.dim, &mark.key))
                    .or_default()
                    .visitors += 1;
                if let Some(entry) = &mark.entry {
                    deltas
                        .entry((mark.day, Dim::Path, entry))
                        .or_default()
                        .entries += 1;
                }
            }
        }
    }
    for ((day, dim, key), d) in deltas {
        sqlx::query(
            "INSERT INTO analytics_counts (day, dimension, key, views, visitors, entries) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (day, dimension, key) DO UPDATE SET \
             views = analytics_counts.views + excluded.views, \
             visitors = analytics_counts.visitors + excluded.visitors, \
             entries = analytics_counts.entries + excluded.entries",
        )
        .bind(day_label(day))
        .bind(dim.as_str())
        .bind(key)
        .bind(d.views)
        .bind(d.visitors)
        .bind(d.entries)
        .execute(&mut *tx)
        .await
        .context("writing analytics counts")?;
    }
    tx.commit().await?;
    Ok(())
}

/// The day's salt, made by whichever instance asks first.
pub async fn salt(db: &Db, day: Day) -> anyhow::Result<Vec<u8>> {
    let mut fresh = vec![0u8; 32];
    rand::fill(&mut fresh[..]);
    sqlx::query(
        "INSERT INTO analytics_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
    )
    .bind(day_label(day))
    .bind(&fresh)
    .execute(&db.pool)
    .await
    .context("storing the day's salt")?;
    let salt: Vec<u8> = sqlx::query_scalar("SELECT salt FROM analytics_salts WHERE day = $1")
        .bind(day_label(day))
        .fetch_one(&db.pool)
        .await
        .context("reading the day's salt")?;
    Ok(salt)
}

/// Deletes the salts of past days, and the marks of days before yesterday
/// (kept a day longer for instances still flushing yesterday's).
pub async fn forget(db: &Db, today: Day) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM analytics_salts WHERE day < $1")
        .bind(day_label(today))
        .execute(&db.pool)
        .await?;
    sqlx::query("DELETE FROM analytics_seen WHERE day < $1")
        .bind(day_label(today - 1))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// One dimension's rows over a range, summed by key, most viewed first.
pub async fn top(
    db: &Db,
    dim: Dim,
    from: Day,
    to: Day,
    limit: i64,
) -> anyhow::Result<Vec<(String, Delta)>> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT key, CAST(SUM(views) AS BIGINT), CAST(SUM(visitors) AS BIGINT), CAST(SUM(entries) AS BIGINT) \
         FROM analytics_counts WHERE dimension = $1 AND day >= $2 AND day <= $3 \
         GROUP BY key ORDER BY 2 DESC, 1 LIMIT $4",
    )
    .bind(dim.as_str())
    .bind(day_label(from))
    .bind(day_label(to))
    .bind(limit)
    .fetch_all(&db.pool)
    .await
    .context("reading analytics")?;
    Ok(rows
        .into_iter()
        .map(|(k, views, visitors, entries)| {
            (
                k,
                Delta {
                    views,
                    visitors,
                    entries,
                },
            )
        })
        .collect())
}

/// Per-day rows of one dimension (and key, if given), oldest first.
pub async fn daily(
    db: &Db,
    dim: Dim,
    from: Day,
    to: Day,
) -> anyhow::Result<Vec<(String, String, Delta)>> {
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, key, views, visitors, entries FROM analytics_counts \
         WHERE dimension = $1 AND day >= $2 AND day <= $3 ORDER BY day, key",
    )
    .bind(dim.as_str())
    .bind(day_label(from))
    .bind(day_label(to))
    .fetch_all(&db.pool)
    .await
    .context("reading analytics")?;
    Ok(rows
        .into_iter()
        .map(|(day, key, views, visitors, entries)| {
            (
                day,
                key,
                Delta {
                    views,
                    visitors,
                    entries,
                },
            )
        })
        .collect())
}
