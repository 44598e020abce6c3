//! The consent proof ledger: every choice as a record (time, choices, policy
//! version, signals present), append-only and hash-chained. Each record's
//! hash covers the previous record's hash and its own content, so editing,
//! removing or reordering a record breaks the chain at that point.
//!
//! The database refuses updates and deletes (triggers), and `prev_hash` is
//! unique, so two instances appending at once cannot fork the chain: the
//! loser retries on the new head.

use super::Choices;
use crate::platform::{
    db::{Db, is_unique_violation},
    now_ms,
};
use anyhow::Context;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How a choice was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Banner,
    CookiePage,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Banner => "banner",
            Via::CookiePage => "cookie page",
        }
    }
}

/// A record before it is written.
pub struct NewRecord<'a> {
    pub visitor: &'a str,
    pub choices: Choices,
    pub policy_version: &'a str,
    pub dnt: bool,
    pub gpc: bool,
    pub via: Via,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: i64,
    pub created_at: i64,
    pub visitor: String,
    pub choices: Choices,
    pub policy_version: String,
    pub dnt: bool,
    pub gpc: bool,
    pub via: String,
    pub prev_hash: String,
    pub hash: String,
}

type Row = (
    i64,
    i64,
    String,
    i64,
    i64,
    i64,
    String,
    i64,
    i64,
    String,
    String,
    String,
);

const COLUMNS: &str = "id, created_at, visitor, preferences, analytics, marketing, \
                       policy_version, dnt, gpc, via, prev_hash, hash";

impl From<Row> for Record {
    fn from(r: Row) -> Record {
        Record {
            id: r.0,
            created_at: r.1,
            visitor: r.2,
            choices: Choices {
                preferences: r.3 != 0,
                analytics: r.4 != 0,
                marketing: r.5 != 0,
            },
            policy_version: r.6,
            dnt: r.7 != 0,
            gpc: r.8 != 0,
            via: r.9,
            prev_hash: r.10,
            hash: r.11,
        }
    }
}

fn bit(b: bool) -> char {
    if b { '1' } else { '0' }
}

/// What a record's hash covers: every field but the id (which the database
/// assigns after the hash is made), plus the previous record's hash.
#[derive(Clone, Copy)]
pub struct Content<'a> {
    pub created_at: i64,
    pub visitor: &'a str,
    pub choices: Choices,
    pub policy_version: &'a str,
    pub dnt: bool,
    pub gpc: bool,
    pub via: &'a str,
}

impl Content<'_> {
    /// SHA-256 over the previous hash and the content, hex.
    pub fn hash(&self, prev_hash: &str) -> String {
        let text = format!(
            "consent-v1\n{prev_hash}\n{}\n{}\n{}\n{}\n{}{}\n{}",
            self.created_at,
            self.visitor,
            self.choices.flags(),
            self.policy_version,
            bit(self.dnt),
            bit(self.gpc),
            self.via,
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

impl Record {
    fn content(&self) -> Content<'_> {
        Content {
            created_at: self.created_at,
            visitor: &self.visitor,
            choices: self.choices,
            policy_version: &self.policy_version,
            dnt: self.dnt,
            gpc: self.gpc,
            via: &self.via,
        }
    }
}

/// Appends a record at the head of the chain.
pub async fn append(db: &Db, new: &NewRecord<'_>) -> anyhow::Result<Record> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_append(db, new).await {
            Ok(record) => return Ok(record),
            // Another instance appended on the same head first: go again.
            Err(e) if attempt < 8 && is_unique_violation(&e) => continue,
            Err(e) => return Err(e).context("appending a consent record"),
        }
    }
}

async fn try_append(db: &Db, new: &NewRecord<'_>) -> Result<Record, sqlx::Error> {
    let mut tx = db.begin().await?;
    let head: Option<String> =
        sqlx::query_scalar("SELECT hash FROM consent_records ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let prev_hash = head.unwrap_or_else(|| GENESIS.to_string());
    let created_at = now_ms();
    let via = new.via.as_str();
    let hash = Content {
        created_at,
        visitor: new.visitor,
        choices: new.choices,
        policy_version: new.policy_version,
        dnt: new.dnt,
        gpc: new.gpc,
        via,
    }
    .hash(&prev_hash);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO consent_records (created_at, visitor, preferences, analytics, marketing, \
         policy_version, dnt, gpc, via, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(created_at)
    .bind(new.visitor)
    .bind(new.choices.preferences as i64)
    .bind(new.choices.analytics as i64)
    .bind(new.choices.marketing as i64)
    .bind(new.policy_version)
    .bind(new.dnt as i64)
    .bind(new.gpc as i64)
    .bind(via)
    .bind(&prev_hash)
    .bind(&hash)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Record {
        id,
        created_at,
        visitor: new.visitor.to_string(),
        choices: new.choices,
        policy_version: new.policy_version.to_string(),
        dnt: new.dnt,
        gpc: new.gpc,
        via: via.to_string(),
        prev_hash,
        hash,
    })
}

/// The outcome of checking the whole chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    Intact {
        records: i64,
        /// The newest hash: written down elsewhere, it also pins the length.
        head: String,
    },
    Broken {
        /// The first record that does not fit the chain.
        id: i64,
        reason: String,
        checked: i64,
    },
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        matches!(self, Verification::Intact { .. })
    }
}

/// Recomputes every hash, oldest first, a page at a time.
pub async fn verify(db: &Db) -> anyhow::Result<Verification> {
    let mut prev = GENESIS.to_string();
    let mut after = 0i64;
    let mut checked = 0i64;
    loop {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consent_records WHERE id > $1 ORDER BY id LIMIT 1000"
        )))
        .bind(after)
        .fetch_all(&db.pool)
        .await
        .context("reading the consent ledger")?;
        if rows.is_empty() {
            return Ok(Verification::Intact {
                records: checked,
                head: prev,
            });
        }
        for row in rows {
            let record = Record::from(row);
            if record.prev_hash != prev {
                return Ok(Verification::Broken {
                    id: record.id,
                    reason: "does not follow the record before it (a record was removed, \
                             inserted or reordered)"
                        .into(),
                    checked,
                });
            }
            if record.content().hash(&record.prev_hash) != record.hash {
                return Ok(Verification::Broken {
                    id: record.id,
                    reason: "its content does not match its hash (the record was edited)".into(),
                    checked,
                });
            }
            prev = record.hash;
            after = record.id;
            checked += 1;
        }
    }
}

/// The newest records, newest first.
pub async fn recent(db: &Db, limit: i64) -> anyhow::Result<Vec<Record>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM consent_records ORDER BY id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(Record::from).collect())
}

/// Every record of one browser, oldest first.
pub async fn for_visitor(db: &Db, visitor: &str) -> anyhow::Result<Vec<Record>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM consent_records WHERE visitor = $1 ORDER BY id"
    )))
    .bind(visitor)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(Record::from).collect())
}

/// The records linked to a person (their receipts), newest first.
pub async fn for_subject(db: &Db, subject_id: i64, limit: i64) -> anyhow::Result<Vec<Record>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM consent_records WHERE id IN \
         (SELECT record_id FROM consent_receipts WHERE subject_id = $1) ORDER BY id DESC LIMIT $2"
    )))
    .bind(subject_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
    .context("reading a person's cookie choices")?;
    Ok(rows.into_iter().map(Record::from).collect())
}

/// Copies one browser's records, sealed, to a person's receipts (once
/// each), their time written in `zone` (the company's), named.
pub async fn link(
    db: &Db,
    subject: &crate::privacy::subjects::Subject,
    visitor: &str,
    zone: chrono_tz::Tz,
) -> anyhow::Result<u64> {
    let records = for_visitor(db, visitor).await?;
    if records.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let mut linked = 0;
    for r in &records {
        let receipt = serde_json::json!({
            "given_at": crate::platform::templates::format_in_zone(r.created_at, zone),
            "choices": r.choices.describe(),
            "policy_version": r.policy_version,
            "do_not_track": r.dnt,
            "global_privacy_control": r.gpc,
            "via": r.via,
            "ledger_record": r.id,
        });
        linked += sqlx::query(
            "INSERT INTO consent_receipts (subject_id, record_id, record_hash, linked_at, receipt) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subject_id, record_id) DO NOTHING",
        )
        .bind(subject.id)
        .bind(r.id)
        .bind(&r.hash)
        .bind(now_ms())
        .bind(subject.seal("consent_receipts", "receipt", &receipt.to_string()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(linked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        let base = Content {
            created_at: 1_700_000_000_000,
            visitor: "v",
            choices: Choices::NONE,
            policy_version: "abc",
            dnt: true,
            gpc: false,
            via: "banner",
        };
        let a = base.hash(GENESIS);
        assert_eq!(a, base.hash(GENESIS));
        assert_eq!(a.len(), 64);
        let variants = [
            Content {
                created_at: 1_700_000_000_001,
                ..base
            },
            Content {
                visitor: "w",
                ..base
            },
            Content {
                choices: Choices::ALL,
                ..base
            },
            Content {
                policy_version: "abd",
                ..base
            },
            Content { dnt: false, ..base },
            Content { gpc: true, ..base },
            Content {
                via: "cookie page",
                ..base
            },
        ];
        assert_ne!(base.hash(&a), a, "the previous hash is not covered");
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(v.hash(GENESIS), a, "field {i} is not covered by the hash");
        }
    }
}
