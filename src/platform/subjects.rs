//! Data subjects: one row per person who gave us personal data, found by a
//! blind index of their email and holding their data key, wrapped. Erasing
//! a subject deletes the key, so every ciphertext made with it is unreadable.
//! The key store sits in the platform because the mail outbox seals with
//! it; what to do with a subject (export, erasure) is the privacy layer's.

use super::inventory::{Category, Column, Field, Retention, SUBJECT_ID, Shown, Table};
use crate::platform::{
    crypto::{DataKey, Keyring},
    db::{Db, Tx},
    now_ms,
};
use anyhow::Context;

pub const TABLES: &[Table] = &[Table {
    name: "subjects",
    feature: "every form that asks for your email",
    title: "Your record with us",
    summary: "Your record with us · since {created_at}",
    subject_column: Some("id"),
    created_column: Some("created_at"),
    retention: Retention::UntilErased,
    personal: &[Field {
        column: "email_index",
        label: "a keyed hash of your email address (not the address itself)",
        category: Category::Identity,
        purpose: "to find everything we hold about you when you ask",
        encrypted: false,
        shared_with: &[],
    }],
    other: &["id", "wrapped_key", "created_at", "erased_at"],
    columns: &[
        Column::new(
            "created_at",
            "First contact",
            Shown::DateTime,
            "When you first gave us your email address.",
        ),
        Column::new(
            "erased_at",
            "Erased",
            Shown::DateTime,
            "When your data was erased; empty while we keep it.",
        ),
        Column::new(
            "email_index",
            "Fingerprint of your email address",
            Shown::Internal,
            "A keyed fingerprint of your email address (not the address itself): how we find your data when you ask for it.",
        ),
        Column::internal("id", SUBJECT_ID),
        Column::internal(
            "wrapped_key",
            "Your personal encryption key, itself encrypted with ours. Erasing your data destroys it, and everything encrypted with it becomes unreadable, backups included.",
        ),
    ],
}];

#[derive(Clone, Debug)]
pub struct Subject {
    pub id: i64,
    pub key: DataKey,
}

impl Subject {
    /// Encrypts a personal field for `table.column` under this subject's key.
    pub fn seal(&self, table: &str, column: &str, value: &str) -> Vec<u8> {
        self.key
            .encrypt_str(&super::inventory::context(table, column), value)
    }

    /// Decrypts a field sealed by [`Subject::seal`].
    pub fn open(&self, table: &str, column: &str, sealed: &[u8]) -> anyhow::Result<String> {
        self.key
            .decrypt_string(&super::inventory::context(table, column), sealed)
    }
}

/// Lower-cased and trimmed: the form the blind index is made of.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn index(keyring: &Keyring, email: &str) -> Vec<u8> {
    keyring.blind_index("email", &normalise_email(email))
}

/// The subject for this email, created (with a fresh key) if new.
pub async fn find_or_create(
    tx: &mut Tx,
    keyring: &Keyring,
    email: &str,
) -> anyhow::Result<Subject> {
    let idx = index(keyring, email);
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO subjects (email_index, created_at) VALUES ($1, $2) \
         ON CONFLICT (email_index) DO NOTHING RETURNING id",
    )
    .bind(&idx)
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await
    .context("creating data subject")?;
    if let Some(id) = inserted {
        return give_key(tx, keyring, id).await;
    }
    let (id, wrapped): (i64, Option<Vec<u8>>) =
        sqlx::query_as("SELECT id, wrapped_key FROM subjects WHERE email_index = $1")
            .bind(&idx)
            .fetch_one(&mut **tx)
            .await
            .context("reading data subject")?;
    let wrapped = wrapped.context("subject has no key")?;
    Ok(Subject {
        id,
        key: keyring.unwrap(id, &wrapped)?,
    })
}

/// A subject no email can find (a chat visitor who gave none): its key
/// still seals their data, and retention or erasure of its rows applies.
pub async fn create_anonymous(tx: &mut Tx, keyring: &Keyring) -> anyhow::Result<Subject> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO subjects (email_index, created_at) VALUES (NULL, $1) RETURNING id",
    )
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
    .context("creating an anonymous data subject")?;
    give_key(tx, keyring, id).await
}

/// A fresh key for a new subject row, stored wrapped (the wrap binds it to
/// the id, so the id must exist first).
async fn give_key(tx: &mut Tx, keyring: &Keyring, id: i64) -> anyhow::Result<Subject> {
    let key = DataKey::generate();
    sqlx::query("UPDATE subjects SET wrapped_key = $1 WHERE id = $2")
        .bind(keyring.wrap(id, &key))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(Subject { id, key })
}

/// The subject for this email, if we hold anything about it.
pub async fn find(db: &Db, keyring: &Keyring, email: &str) -> anyhow::Result<Option<Subject>> {
    let row: Option<(i64, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT id, wrapped_key FROM subjects WHERE email_index = $1")
            .bind(index(keyring, email))
            .fetch_optional(&db.pool)
            .await?;
    match row {
        Some((id, Some(wrapped))) => Ok(Some(Subject {
            id,
            key: keyring.unwrap(id, &wrapped)?,
        })),
        _ => Ok(None),
    }
}

/// The key of a subject by id; `None` once erased.
pub async fn key(db: &Db, keyring: &Keyring, id: i64) -> anyhow::Result<Option<DataKey>> {
    let wrapped: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT wrapped_key FROM subjects WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    match wrapped.flatten() {
        Some(w) => Ok(Some(keyring.unwrap(id, &w)?)),
        None => Ok(None),
    }
}

/// A subject's blind email index; `None` for an anonymous or erased one.
pub async fn email_index(tx: &mut Tx, id: i64) -> Result<Option<Vec<u8>>, sqlx::Error> {
    Ok(
        sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT email_index FROM subjects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .flatten(),
    )
}

/// Crypto-shreds a subject: its key and blind index are gone for good.
pub async fn shred(tx: &mut Tx, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE subjects SET wrapped_key = NULL, email_index = NULL, erased_at = $1 WHERE id = $2",
    )
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The keys of many subjects in one query; erased ones are absent.
pub async fn keys_of(
    db: &Db,
    keyring: &Keyring,
    ids: &[i64],
) -> anyhow::Result<std::collections::HashMap<i64, DataKey>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut keys = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id, wrapped_key FROM subjects WHERE wrapped_key IS NOT NULL AND id IN ({})",
            crate::platform::db::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (i64, Vec<u8>)>(crate::platform::db::trusted_sql(sql))
            .persistent(false);
        for id in chunk {
            q = q.bind(id);
        }
        for (id, wrapped) in q.fetch_all(&db.pool).await? {
            keys.insert(id, keyring.unwrap(id, &wrapped)?);
        }
    }
    Ok(keys)
}
