//! Blind word indexes: search over sealed records without decrypting them.
//! A feature's record (a ticket with its messages, an order, a chat) is
//! cut into terms ([`words::index_terms`]); each term is stored only as a
//! keyed hash ([`Keyring::search_hash`]) beside the record's id and its
//! data subject, so erasure finds and deletes the rows with the subject's
//! other data. A query is cut and hashed the same way and intersected in
//! SQL; only the records a page shows are then decrypted. What the hashes
//! tell someone holding the database alone is in `docs/search.md`.

use super::{
    crypto::Keyring,
    db::{Db, Tx, trusted_sql},
    inventory::{Retention, Table},
    words,
};
use std::collections::BTreeSet;

/// The record a text belongs to.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub id: i64,
    pub subject_id: i64,
    /// When the record was made (epoch milliseconds).
    pub created_at: i64,
}

impl Record {
    /// A record of an undated index (its rows go with the subject only).
    pub fn new(id: i64, subject_id: i64) -> Record {
        Record {
            id,
            subject_id,
            created_at: 0,
        }
    }
}

/// Each record's new terms are padded with random hashes (which match no
/// query) to a multiple of this, so the row count tells a message's length
/// only roughly.
pub const PAD_TO: usize = 16;
/// Rows per `INSERT` (four binds a row at most stay far below both databases' limits).
const CHUNK: usize = 400;

/// One feature's blind word index: the table it owns (columns `hash`,
/// `record_id`, `subject_id`, primary key `(hash, record_id)`, and
/// `created_at` when its records expire) and the kind of record hashed into it.
#[derive(Clone, Copy, Debug)]
pub struct WordIndex {
    pub table: &'static str,
    pub kind: &'static str,
    /// Whether each row carries its record's creation time, for a
    /// retention purge that deletes it with the record.
    pub dated: bool,
}

impl WordIndex {
    /// The hashes stored for `texts`, padded with random ones.
    pub fn hashes(&self, keyring: &Keyring, texts: &[&str]) -> Vec<i64> {
        let mut terms = BTreeSet::new();
        for text in texts {
            words::index_terms(text, &mut terms);
        }
        let mut out: Vec<i64> = terms
            .iter()
            .map(|t| keyring.search_hash(self.kind, t))
            .collect();
        let padded = out.len().div_ceil(PAD_TO) * PAD_TO;
        while out.len() < padded {
            out.push(rand::random::<i64>());
        }
        out
    }

    /// Adds the terms of `texts` to a record, in the caller's transaction
    /// (the one that stores the text). `created_at` is the record's
    /// creation time (kept only by a dated index). Returns the rows written.
    pub async fn add(
        &self,
        tx: &mut Tx,
        keyring: &Keyring,
        record: Record,
        texts: &[&str],
    ) -> sqlx::Result<usize> {
        self.add_many(tx, keyring, &[(record, texts)]).await
    }

    /// Adds the terms of several records' texts (each padded on its own) in
    /// as few statements as the bind limits allow: a writer storing a batch
    /// of messages spends one statement on all their words.
    pub async fn add_many(
        &self,
        tx: &mut Tx,
        keyring: &Keyring,
        records: &[(Record, &[&str])],
    ) -> sqlx::Result<usize> {
        let rows: Vec<(i64, Record)> = records
            .iter()
            .flat_map(|(record, texts)| {
                self.hashes(keyring, texts)
                    .into_iter()
                    .map(move |h| (h, *record))
            })
            .collect();
        let (columns, width) = if self.dated {
            ("hash, record_id, subject_id, created_at", 4)
        } else {
            ("hash, record_id, subject_id", 3)
        };
        for chunk in rows.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO {} ({columns}) VALUES {} ON CONFLICT DO NOTHING",
                self.table,
                super::db::value_rows(1, chunk.len(), width)
            );
            let mut query = sqlx::query(trusted_sql(sql)).persistent(false);
            for (hash, record) in chunk {
                query = query.bind(*hash).bind(record.id).bind(record.subject_id);
                if self.dated {
                    query = query.bind(record.created_at);
                }
            }
            query.execute(&mut **tx).await?;
        }
        Ok(rows.len())
    }

    /// The hashes of a query, one per term; empty when nothing in it is
    /// searchable (only punctuation, one-letter or very common words).
    pub fn query(&self, keyring: &Keyring, q: &str) -> Vec<i64> {
        words::query_terms(q)
            .iter()
            .map(|t| keyring.search_hash(self.kind, t))
            .collect()
    }

    /// SQL that holds when `column` names a record with every one of `n`
    /// query hashes, bound from `$first` on: one indexed lookup a term.
    pub fn condition(&self, column: &str, first: usize, n: usize) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{column} IN (SELECT record_id FROM {} WHERE hash = ${})",
                    self.table,
                    first + i
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Gives record `to` every term of record `from` (both of one subject:
    /// a merged duplicate's words find the ticket it went into; an undated
    /// index only).
    pub async fn copy(&self, tx: &mut Tx, subject_id: i64, from: i64, to: i64) -> sqlx::Result<()> {
        let sql = format!(
            "INSERT INTO {0} (hash, record_id, subject_id) SELECT hash, $1, subject_id FROM {0} \
             WHERE subject_id = $2 AND record_id = $3 ON CONFLICT DO NOTHING",
            self.table
        );
        sqlx::query(trusted_sql(sql))
            .bind(to)
            .bind(subject_id)
            .bind(from)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Rows in the index (for the bench's size per record).
    pub async fn rows(&self, db: &Db) -> sqlx::Result<i64> {
        sqlx::query_scalar(trusted_sql(format!("SELECT COUNT(*) FROM {}", self.table)))
            .fetch_one(&db.pool)
            .await
    }
}

/// Where building an index for records stored before it existed stands:
/// records with an id below the mark still need their terms. A migration
/// sets the mark past the newest record (SQL cannot hash: the key is not
/// in the database); the server works down from it at start.
pub async fn backfill_mark(db: &Db, name: &str) -> sqlx::Result<i64> {
    let mark: Option<i64> = sqlx::query_scalar("SELECT below FROM search_backfill WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    Ok(mark.unwrap_or(0))
}

/// Moves the mark down, in the transaction that indexed the records above it.
pub async fn set_backfill_mark(tx: &mut Tx, name: &str, below: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE search_backfill SET below = $1 WHERE name = $2")
        .bind(below)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub const TABLES: &[Table] = &[Table {
    name: "search_backfill",
    feature: "search (staff only)",
    title: "Search index progress",
    summary: "",
    subject_column: None,
    created_column: None,
    retention: Retention::UntilErased,
    personal: &[],
    other: &["name", "below"],
    columns: &[],
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_padded_and_kind_bound() {
        let ring = Keyring::from_secret(&[3; 32]);
        let tickets = WordIndex {
            table: "t",
            kind: "ticket",
            dated: false,
        };
        let orders = WordIndex {
            table: "o",
            kind: "order",
            dated: true,
        };
        let h = tickets.hashes(&ring, &["printer"]);
        assert_eq!(h.len(), PAD_TO);
        let q = tickets.query(&ring, "Printers");
        assert_eq!(q.len(), 1);
        assert!(h.contains(&q[0]));
        assert!(!h.contains(&orders.query(&ring, "printer")[0]));
        let other = Keyring::from_secret(&[4; 32]);
        assert!(!h.contains(&tickets.query(&other, "printer")[0]));
        assert_eq!(
            tickets.condition("t.id", 3, 2),
            "t.id IN (SELECT record_id FROM t WHERE hash = $3) AND \
             t.id IN (SELECT record_id FROM t WHERE hash = $4)"
        );
    }
}
