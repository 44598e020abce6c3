//! What the integrity scan reads, as each feature declares it: a feature
//! that stores text shown on the site, or files, exposes
//! `pub const SCAN_SOURCES: &[Source]`, and the application layer gathers
//! them (`app::registry`).

use super::{inventory, state::Platform, subjects};
use futures_util::future::BoxFuture;

/// Somewhere the scan looks.
pub enum Source {
    /// Rows of `(id, text)` from a feature's own table; the query casts the
    /// id to text (`SELECT CAST(id AS TEXT), body FROM articles`).
    Query {
        kind: &'static str,
        sql: &'static str,
    },
    /// Every file under this folder of the data dir, recursively.
    Files {
        kind: &'static str,
        dir: &'static str,
    },
    /// Anything else, for text that needs decrypting first, say.
    Custom {
        kind: &'static str,
        items: fn(&Platform) -> BoxFuture<'_, anyhow::Result<Vec<Item>>>,
    },
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Query { kind, .. }
            | Source::Files { kind, .. }
            | Source::Custom { kind, .. } => kind,
        }
    }
}

/// One piece of stored text to inspect.
pub struct Item {
    pub id: String,
    pub text: String,
}

/// The rows of a query `(id, subject_id, sealed text)`, opened with each
/// subject's key, for a [`Source::Custom`] over encrypted text; rows of
/// erased people (no key) are skipped, as they can no longer be shown.
pub async fn sealed_items(
    platform: &Platform,
    sql: &'static str,
    table: &str,
    column: &str,
) -> anyhow::Result<Vec<Item>> {
    let rows: Vec<(i64, Option<i64>, Option<Vec<u8>>)> =
        sqlx::query_as(sql).fetch_all(&platform.db.pool).await?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.1).collect();
    let keys = subjects::keys_of(&platform.db, &platform.keyring, &ids).await?;
    let context = inventory::context(table, column);
    Ok(rows
        .into_iter()
        .filter_map(|(id, subject, sealed)| {
            let text = keys
                .get(&subject?)?
                .decrypt_string(&context, &sealed?)
                .ok()?;
            Some(Item {
                id: id.to_string(),
                text,
            })
        })
        .collect())
}
