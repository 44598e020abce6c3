//! The retention purge: every table whose inventory entry keeps rows for a
//! number of days loses the older ones. Run daily by the jobs loop; `now`
//! is a parameter so tests move the clock instead of waiting.

use super::inventory::{Inventory, Retention};
use crate::platform::{
    db::{Db, trusted_sql},
    mail,
};
use anyhow::Context;
use std::path::Path;

/// Deletes expired rows; returns `(table, rows deleted)` for tables that lost any.
pub async fn purge(
    db: &Db,
    inventory: &Inventory,
    now_ms: i64,
) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let mut purged = vec![];
    for table in inventory.tables() {
        let (Retention::Days(days), Some(created)) = (table.retention, table.created_column) else {
            continue;
        };
        let cutoff = now_ms - i64::from(days) * 86_400_000;
        let sql = format!("DELETE FROM {} WHERE {created} < $1", table.name);
        let n = sqlx::query(trusted_sql(sql))
            .bind(cutoff)
            .execute(&db.pool)
            .await
            .with_context(|| format!("purging {}", table.name))?
            .rows_affected();
        if n > 0 {
            purged.push((table.name, n));
        }
    }
    Ok(purged)
}

/// Deletes the mail files (`DATA_DIR/mail/`) whose outbox row the purge
/// (or an erasure) removed; returns how many.
pub async fn purge_files(db: &Db, data_dir: &Path) -> anyhow::Result<usize> {
    mail::sweep_files(db, data_dir).await
}
