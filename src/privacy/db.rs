//! Queries of the privacy domain: requests, incidents, policy versions,
//! suppressions, the erasure log, and the queries over every table the data
//! inventory declares (export, erasure, retention, correction).

use crate::platform::{
    db::{Db, Tx, placeholders, trusted_sql},
    inventory::Table,
    now_ms,
};
use sqlx::any::AnyRow;

pub struct Request {
    pub id: i64,
    pub created_at: i64,
    pub due_at: i64,
    pub kind: String,
    pub via: String,
    pub status: String,
    pub subject_id: Option<i64>,
    pub expires_at: i64,
    pub claim_hash: Option<String>,
    pub claimed_at: Option<i64>,
    pub completed_at: Option<i64>,
}

type RequestRow = (
    i64,
    i64,
    i64,
    String,
    String,
    String,
    Option<i64>,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn to_request(r: RequestRow) -> Request {
    Request {
        id: r.0,
        created_at: r.1,
        due_at: r.2,
        kind: r.3,
        via: r.4,
        status: r.5,
        subject_id: r.6,
        expires_at: r.7,
        claim_hash: r.8,
        claimed_at: r.9,
        completed_at: r.10,
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_request(
    tx: &mut Tx,
    kind: &str,
    via: &str,
    subject_id: i64,
    token_hash: &str,
    due_at: i64,
    expires_at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO privacy_requests (created_at, due_at, kind, via, status, subject_id, token_hash, expires_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7) RETURNING id",
    )
    .bind(now_ms())
    .bind(due_at)
    .bind(kind)
    .bind(via)
    .bind(subject_id)
    .bind(token_hash)
    .bind(expires_at)
    .fetch_one(&mut **tx)
    .await
}

pub async fn request_by_token(db: &Db, token_hash: &str) -> Result<Option<Request>, sqlx::Error> {
    let sql = "SELECT id, created_at, due_at, kind, via, status, subject_id, expires_at, \
               claim_hash, claimed_at, completed_at FROM privacy_requests WHERE token_hash = $1";
    let row: Option<RequestRow> = sqlx::query_as(sql)
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(to_request))
}

/// Binds an unclaimed request to one browser; false if someone claimed it first.
pub async fn claim_request(db: &Db, id: i64, claim_hash: &str) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE privacy_requests SET claim_hash = $1, claimed_at = $2, status = 'verified' \
         WHERE id = $3 AND claim_hash IS NULL",
    )
    .bind(claim_hash)
    .bind(now_ms())
    .bind(id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn complete_request(tx: &mut Tx, id: i64, kind: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE privacy_requests SET status = 'completed', kind = $1, completed_at = $2 WHERE id = $3",
    )
    .bind(kind)
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn list_requests(db: &Db, q: &str) -> Result<Vec<Request>, sqlx::Error> {
    let rows: Vec<RequestRow> = sqlx::query_as(
        "SELECT id, created_at, due_at, kind, via, status, subject_id, expires_at, \
         claim_hash, claimed_at, completed_at FROM privacy_requests \
         WHERE $1 = '' OR lower(kind || ' ' || via || ' ' || status) LIKE '%' || lower($1) || '%' \
         ORDER BY id DESC LIMIT 500",
    )
    .bind(q)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_request).collect())
}

pub struct Incident {
    pub id: i64,
    pub created_at: i64,
    pub discovered_at: i64,
    pub deadline_at: i64,
    pub title: String,
    pub description: String,
    pub categories: String,
    pub scope: String,
    pub published_at: Option<i64>,
}

type IncidentRow = (
    i64,
    i64,
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<i64>,
);

fn to_incident(r: IncidentRow) -> Incident {
    Incident {
        id: r.0,
        created_at: r.1,
        discovered_at: r.2,
        deadline_at: r.3,
        title: r.4,
        description: r.5,
        categories: r.6,
        scope: r.7,
        published_at: r.8,
    }
}

pub struct NewIncident<'a> {
    pub discovered_at: i64,
    pub deadline_at: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub categories: &'a str,
    pub scope: &'a str,
    pub created_by: i64,
}

pub async fn insert_incident(tx: &mut Tx, n: &NewIncident<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO incidents (created_at, discovered_at, deadline_at, title, description, categories, scope, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(now_ms())
    .bind(n.discovered_at)
    .bind(n.deadline_at)
    .bind(n.title)
    .bind(n.description)
    .bind(n.categories)
    .bind(n.scope)
    .bind(n.created_by)
    .fetch_one(&mut **tx)
    .await
}

pub async fn insert_recipient(
    tx: &mut Tx,
    incident_id: i64,
    subject_id: i64,
    sealed_email: &[u8],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO incident_recipients (incident_id, subject_id, email) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(incident_id)
    .bind(subject_id)
    .bind(sealed_email)
    .fetch_one(&mut **tx)
    .await
}

pub async fn incident(db: &Db, id: i64) -> Result<Option<Incident>, sqlx::Error> {
    let row: Option<IncidentRow> = sqlx::query_as(
        "SELECT id, created_at, discovered_at, deadline_at, title, description, categories, scope, published_at \
         FROM incidents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(to_incident))
}

pub async fn list_incidents(db: &Db, q: &str) -> Result<Vec<Incident>, sqlx::Error> {
    let rows: Vec<IncidentRow> = sqlx::query_as(
        "SELECT id, created_at, discovered_at, deadline_at, title, description, categories, scope, published_at \
         FROM incidents WHERE $1 = '' OR lower(title || ' ' || description) LIKE '%' || lower($1) || '%' \
         ORDER BY id DESC",
    )
    .bind(q)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_incident).collect())
}

/// Published incidents affecting everyone: shown on every page.
pub async fn public_notices(db: &Db) -> Result<Vec<Incident>, sqlx::Error> {
    let rows: Vec<IncidentRow> = sqlx::query_as(
        "SELECT id, created_at, discovered_at, deadline_at, title, description, categories, scope, published_at \
         FROM incidents WHERE published_at IS NOT NULL AND scope = 'everyone' ORDER BY id DESC",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_incident).collect())
}

/// Published incidents that name this subject.
pub async fn notices_for_subject(db: &Db, subject_id: i64) -> Result<Vec<Incident>, sqlx::Error> {
    let rows: Vec<IncidentRow> = sqlx::query_as(
        "SELECT i.id, i.created_at, i.discovered_at, i.deadline_at, i.title, i.description, i.categories, i.scope, i.published_at \
         FROM incidents i WHERE i.published_at IS NOT NULL AND (i.scope = 'everyone' OR EXISTS \
         (SELECT 1 FROM incident_recipients r WHERE r.incident_id = i.id AND r.subject_id = $1)) ORDER BY i.id DESC",
    )
    .bind(subject_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_incident).collect())
}

/// `(recipient id, subject id, sealed email)` of an incident's listed people.
pub async fn recipients(
    tx: &mut Tx,
    incident_id: i64,
) -> Result<Vec<(i64, i64, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, subject_id, email FROM incident_recipients WHERE incident_id = $1 ORDER BY id",
    )
    .bind(incident_id)
    .fetch_all(&mut **tx)
    .await
}

/// `(listed, notified)` counts of an incident.
pub async fn recipient_counts(db: &Db, incident_id: i64) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), COUNT(notified_at) FROM incident_recipients WHERE incident_id = $1",
    )
    .bind(incident_id)
    .fetch_one(&db.pool)
    .await
}

pub async fn mark_notified(tx: &mut Tx, recipient_id: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE incident_recipients SET notified_at = $1 WHERE id = $2")
        .bind(at)
        .bind(recipient_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Publishes an incident; false if it was already published.
pub async fn publish_incident(tx: &mut Tx, id: i64, at: i64) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE incidents SET published_at = $1 WHERE id = $2 AND published_at IS NULL",
    )
    .bind(at)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn save_policy_version(
    db: &Db,
    version: &str,
    markdown: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO policy_versions (version, created_at, markdown) VALUES ($1, $2, $3) \
         ON CONFLICT (version) DO NOTHING",
    )
    .bind(version)
    .bind(now_ms())
    .bind(markdown)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// `(version, created_at)`, newest first.
pub async fn policy_versions(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, created_at FROM policy_versions ORDER BY created_at DESC, version",
    )
    .fetch_all(&db.pool)
    .await
}

pub async fn policy_version(db: &Db, version: &str) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT markdown, created_at FROM policy_versions WHERE version = $1")
        .bind(version)
        .fetch_optional(&db.pool)
        .await
}

/// Seals a corrected email on the request, for the erasure confirmation.
pub async fn store_request_email(
    tx: &mut Tx,
    request_id: i64,
    sealed: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE privacy_requests SET email = $1 WHERE id = $2")
        .bind(sealed)
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The request's sealed email, if it still holds one.
pub async fn request_email(db: &Db, request_id: i64) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM privacy_requests WHERE id = $1")
        .bind(request_id)
        .fetch_one(&db.pool)
        .await
}

pub async fn forget_request_email(tx: &mut Tx, request_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE privacy_requests SET email = NULL WHERE id = $1")
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds a keyed email hash to the suppression list (idempotent).
pub async fn suppress(tx: &mut Tx, email_index: &[u8], reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO suppressions (email_index, reason, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (email_index) DO NOTHING",
    )
    .bind(email_index)
    .bind(reason)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn is_suppressed(db: &Db, email_index: &[u8]) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM suppressions WHERE email_index = $1")
        .bind(email_index)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

/// Which of these keyed email hashes are suppressed (give a few hundred at
/// most: one bind each).
pub async fn suppressed_of(
    db: &Db,
    email_indexes: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    // Only the number of placeholders is formatted in.
    let sql = format!(
        "SELECT email_index FROM suppressions WHERE email_index IN ({})",
        placeholders(1, email_indexes.len())
    );
    let mut q = sqlx::query_scalar::<_, Vec<u8>>(trusted_sql(sql)).persistent(false);
    for index in email_indexes {
        q = q.bind(index);
    }
    q.fetch_all(&db.pool).await
}

/// Removes a suppression of this reason only.
pub async fn lift_suppression(
    tx: &mut Tx,
    email_index: &[u8],
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM suppressions WHERE email_index = $1 AND reason = $2")
        .bind(email_index)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn log_erasure(
    tx: &mut Tx,
    subject_id: i64,
    erased_at: i64,
    requested_via: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO erasure_log (subject_id, erased_at, requested_via) VALUES ($1, $2, $3)",
    )
    .bind(subject_id)
    .bind(erased_at)
    .bind(requested_via)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// The queries below run over any table of the data inventory, so they put
// its table and column names into the SQL text. That is safe because every
// name is a `&'static` declaration compiled into the program (a feature's
// `TABLES`), never text from a request or the database: a caller finds the
// `Table` or `Field` in the inventory first, and only its names are used.
// Values are always bound.

/// A subject's rows of `table`: `columns`, in that order.
pub async fn subject_rows(
    db: &Db,
    table: &'static Table,
    subject_column: &'static str,
    columns: &[&'static str],
    subject_id: i64,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {subject_column} = $1",
        columns.join(", "),
        table.name
    );
    sqlx::query(trusted_sql(sql))
        .bind(subject_id)
        .fetch_all(&db.pool)
        .await
}

/// Deletes a subject's rows of `table`; returns how many.
pub async fn delete_subject_rows(
    tx: &mut Tx,
    table: &'static Table,
    subject_column: &'static str,
    subject_id: i64,
) -> Result<u64, sqlx::Error> {
    let sql = format!("DELETE FROM {} WHERE {subject_column} = $1", table.name);
    Ok(sqlx::query(trusted_sql(sql))
        .bind(subject_id)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// Deletes the rows of `table` created before `cutoff` (epoch ms); returns how many.
pub async fn delete_created_before(
    db: &Db,
    table: &'static Table,
    created_column: &'static str,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    let sql = format!("DELETE FROM {} WHERE {created_column} < $1", table.name);
    Ok(sqlx::query(trusted_sql(sql))
        .bind(cutoff)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// Replaces `column` of row `row_id` of `table` with a sealed value, if the
/// row belongs to the subject; false when it does not (or is gone).
pub async fn correct_field(
    tx: &mut Tx,
    table: &'static Table,
    subject_column: &'static str,
    column: &'static str,
    row_id: i64,
    subject_id: i64,
    sealed: &[u8],
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET {column} = $1 WHERE id = $2 AND {subject_column} = $3",
        table.name
    );
    let n = sqlx::query(trusted_sql(sql))
        .bind(sealed)
        .bind(row_id)
        .bind(subject_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}
