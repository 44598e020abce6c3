//! Access and erasure, generic over the data inventory: every table that
//! names a subject column is exported and erased with no code of its own.
//! Erasure deletes the person's rows, destroys their key (so any copy left,
//! backups included, is unreadable), keeps only a suppression hash, and is
//! logged (in the database and in `DATA_DIR/erasure.log`) so a restore of an
//! older backup can replay it. After the commit, [`clear_traces`] removes
//! what lies outside the rows: mail files, and on SQLite the log's old pages.

use super::{
    db,
    inventory::{self, Inventory, Table},
    subjects::{self, Subject},
};
use crate::{
    platform::Platform,
    platform::{
        db::{Db, Tx},
        mail, now_ms,
    },
};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Row, any::AnyRow};
use std::{collections::BTreeMap, io::Write, path::Path};

pub const LOG_FILE: &str = "erasure.log";

/// One table's rows about a person, every inventory column, decrypted.
#[derive(Debug, Serialize)]
pub struct TableExport {
    pub table: &'static str,
    pub feature: &'static str,
    pub rows: Vec<BTreeMap<&'static str, Value>>,
}

fn columns(table: &Table) -> Vec<&'static str> {
    table
        .other
        .iter()
        .copied()
        .chain(table.personal.iter().map(|f| f.column))
        .collect()
}

/// Tables holding rows about a subject, in registration order.
fn subject_tables(
    inventory: &Inventory,
) -> impl Iterator<Item = (&'static Table, &'static str)> + '_ {
    inventory
        .tables()
        .filter_map(|t| t.subject_column.map(|c| (t, c)))
}

fn decode(row: &AnyRow, i: usize, table: &Table, column: &str, subject: &Subject) -> Value {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map(Value::from).unwrap_or(Value::Null);
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v.map(Value::from).unwrap_or(Value::Null);
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return v.map(Value::from).unwrap_or(Value::Null);
    }
    match row.try_get::<Option<Vec<u8>>, _>(i) {
        Ok(Some(bytes)) => {
            let encrypted = table
                .personal
                .iter()
                .any(|f| f.column == column && f.encrypted);
            if encrypted {
                match subject
                    .key
                    .decrypt(&inventory::context(table.name, column), &bytes)
                {
                    Ok(plain) => match String::from_utf8(plain) {
                        Ok(text) => serde_json::from_str::<Value>(&text)
                            .ok()
                            .filter(|v| v.is_object() || v.is_array())
                            .unwrap_or(Value::String(text)),
                        Err(e) => Value::String(hex::encode(e.into_bytes())),
                    },
                    Err(_) => Value::String("(unreadable)".into()),
                }
            } else {
                Value::String(hex::encode(bytes))
            }
        }
        _ => Value::Null,
    }
}

/// Everything held about a subject, table by table, from the inventory.
pub async fn export(
    db: &Db,
    inventory: &Inventory,
    subject: &Subject,
) -> anyhow::Result<Vec<TableExport>> {
    let mut out = Vec::new();
    for (table, subject_column) in subject_tables(inventory) {
        let cols = columns(table);
        let rows = db::subject_rows(db, table, subject_column, &cols, subject.id)
            .await
            .with_context(|| format!("exporting {}", table.name))?;
        let rows: Vec<_> = rows
            .iter()
            .map(|row| {
                cols.iter()
                    .enumerate()
                    .map(|(i, c)| (*c, decode(row, i, table, c, subject)))
                    .collect::<BTreeMap<_, _>>()
            })
            .collect();
        if !rows.is_empty() {
            out.push(TableExport {
                table: table.name,
                feature: table.feature,
                rows,
            });
        }
    }
    Ok(out)
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogEntry {
    pub subject_id: i64,
    pub erased_at: i64,
}

/// Erases a subject everywhere, inside the caller's transaction. Returns
/// the number of rows deleted. Call [`append_log`] after the commit.
/// Tells the webhook endpoints following `privacy.erasure` that the person
/// whose events carried `person_id` = `subject_id` was erased (and how the
/// erasure was asked for), in the erasure's transaction. Nothing personal
/// goes with it.
pub async fn announce(
    tx: &mut Tx,
    state: &Platform,
    subject_id: i64,
    requested_via: &str,
) -> anyhow::Result<()> {
    crate::platform::webhooks::enqueue(
        tx,
        &state.keyring,
        state.clock.now(),
        crate::platform::webhooks::Event {
            kind: "privacy.erasure",
            subject: None,
            data: serde_json::json!({ "person_id": subject_id, "requested_via": requested_via }),
            personal: serde_json::json!({}),
        },
    )
    .await?;
    Ok(())
}

pub async fn erase(
    tx: &mut Tx,
    inventory: &Inventory,
    subject_id: i64,
    requested_via: &str,
) -> anyhow::Result<u64> {
    let mut deleted = 0;
    // Children before parents: later registrations may reference earlier ones.
    let tables: Vec<_> = subject_tables(inventory)
        .filter(|(t, _)| t.name != "subjects")
        .collect();
    for (table, subject_column) in tables.into_iter().rev() {
        deleted += db::delete_subject_rows(tx, table, subject_column, subject_id)
            .await
            .with_context(|| format!("erasing from {}", table.name))?;
    }
    if let Some(index) = subjects::email_index(tx, subject_id).await? {
        db::suppress(tx, &index, "erased").await?;
    }
    subjects::shred(tx, subject_id).await?;
    db::log_erasure(tx, subject_id, now_ms(), requested_via).await?;
    Ok(deleted)
}

/// Adds a keyed email hash to the suppression list (idempotent).
pub async fn suppress_index(
    tx: &mut Tx,
    email_index: &[u8],
    reason: &str,
) -> Result<(), sqlx::Error> {
    db::suppress(tx, email_index, reason).await
}

/// Whether an email address must never be written to again.
pub async fn is_suppressed(state: &Platform, email: &str) -> anyhow::Result<bool> {
    let index = state
        .keyring
        .blind_index("email", &subjects::normalise_email(email));
    Ok(db::is_suppressed(&state.db, &index).await?)
}

/// Which of these keyed email hashes are suppressed, in one query per few hundred.
pub async fn suppressed_among(
    db: &Db,
    indexes: &[Vec<u8>],
) -> anyhow::Result<std::collections::HashSet<Vec<u8>>> {
    let mut found = std::collections::HashSet::new();
    for chunk in indexes.chunks(500) {
        found.extend(db::suppressed_of(db, chunk).await?);
    }
    Ok(found)
}

/// Removes a suppression of this reason only (a new, confirmed opt-in
/// lifts an unsubscribe; nothing lifts an erasure's).
pub async fn lift_suppression(
    tx: &mut Tx,
    email_index: &[u8],
    reason: &str,
) -> Result<(), sqlx::Error> {
    db::lift_suppression(tx, email_index, reason).await
}

/// Appends an erasure to the log file kept beside the database (fsynced),
/// which backups carry and restores replay.
pub fn append_log(data_dir: &Path, entry: &LogEntry) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join(LOG_FILE))
        .context("opening the erasure log")?;
    writeln!(file, "{}", serde_json::to_string(entry)?)?;
    file.sync_all()?;
    Ok(())
}

/// After an erasure's commit: deletes the person's mail files (and any
/// whose outbox row is gone), and on SQLite copies the write-ahead log back
/// and truncates it, since it still holds the pages as they were before the
/// deletion (`secure_delete` zeroes them in the database file itself).
pub async fn clear_traces(state: &Platform, subject_id: i64) -> anyhow::Result<()> {
    let data_dir = &state.config.data_dir;
    mail::remove_files_of(data_dir, subject_id).context("deleting the person's mail files")?;
    mail::sweep_files(&state.db, data_dir).await?;
    if !state
        .db
        .checkpoint_truncate()
        .await
        .context("truncating the SQLite log after an erasure")?
    {
        tracing::warn!(
            subject_id,
            "the SQLite log could not be truncated after an erasure (a reader held it); \
             its old pages go with the next erasure's checkpoint"
        );
    }
    Ok(())
}

pub fn read_log(path: &Path) -> anyhow::Result<Vec<LogEntry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).context("reading the erasure log"),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).context("erasure log line"))
        .collect()
}

/// Erases again every subject in `entries` that a restored database still
/// holds; returns how many were erased.
pub async fn replay(state: &Platform, entries: &[LogEntry]) -> anyhow::Result<usize> {
    let mut erased = 0;
    for entry in entries {
        let still_there = subjects::key(&state.db, &state.keyring, entry.subject_id)
            .await?
            .is_some();
        if still_there {
            let mut tx = state.db.begin().await?;
            erase(
                &mut tx,
                &state.registry.inventory,
                entry.subject_id,
                "replay after restore",
            )
            .await?;
            tx.commit().await?;
            clear_traces(state, entry.subject_id).await?;
            erased += 1;
        }
    }
    Ok(erased)
}
