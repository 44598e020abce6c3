//! Queries of the webhooks feature: endpoints and their delivery log.

use crate::platform::db::{Db, Tx};

pub struct Endpoint {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub secret: Vec<u8>,
    pub events: Vec<String>,
    pub include_personal: bool,
    pub allow_private: bool,
    pub enabled: bool,
    pub created_at: i64,
    pub failing_since: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
}

type EndpointRow = (
    i64,
    String,
    String,
    Vec<u8>,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

const ENDPOINT_COLUMNS: &str = "SELECT id, name, url, secret, events, include_personal, allow_private, enabled, \
     created_at, failing_since, disabled_at, disabled_reason FROM webhook_endpoints";

fn endpoint(row: EndpointRow) -> Endpoint {
    let (id, name, url, secret, events, personal, private, enabled, created_at, failing, off, why) =
        row;
    Endpoint {
        id,
        name,
        url,
        secret,
        events: events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect(),
        include_personal: personal != 0,
        allow_private: private != 0,
        enabled: enabled != 0,
        created_at,
        failing_since: failing,
        disabled_at: off,
        disabled_reason: why,
    }
}

pub async fn endpoints(db: &Db) -> Result<Vec<Endpoint>, sqlx::Error> {
    let rows: Vec<EndpointRow> = sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "{ENDPOINT_COLUMNS} ORDER BY name, id"
    )))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(endpoint).collect())
}

pub async fn endpoint_by_id(db: &Db, id: i64) -> Result<Option<Endpoint>, sqlx::Error> {
    let row: Option<EndpointRow> = sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "{ENDPOINT_COLUMNS} WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(endpoint))
}

pub struct NewEndpoint<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub secret: Vec<u8>,
    pub events: &'a [&'static str],
    pub include_personal: bool,
    pub allow_private: bool,
}

pub async fn insert_endpoint(
    tx: &mut Tx,
    new: &NewEndpoint<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO webhook_endpoints (name, url, secret, events, include_personal, allow_private, \
         enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7) RETURNING id",
    )
    .bind(new.name)
    .bind(new.url)
    .bind(&new.secret)
    .bind(new.events.join(","))
    .bind(i64::from(new.include_personal))
    .bind(i64::from(new.allow_private))
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// Switches an endpoint on (forgetting past failures) or off.
pub async fn set_enabled(tx: &mut Tx, id: i64, on: bool, now: i64) -> Result<bool, sqlx::Error> {
    let query = if on {
        sqlx::query(
            "UPDATE webhook_endpoints SET enabled = 1, failing_since = NULL, disabled_at = NULL, \
             disabled_reason = NULL WHERE id = $1",
        )
        .bind(id)
    } else {
        sqlx::query(
            "UPDATE webhook_endpoints SET enabled = 0, disabled_at = $1, \
             disabled_reason = 'switched off by an admin' WHERE id = $2",
        )
        .bind(now)
        .bind(id)
    };
    Ok(query.execute(&mut **tx).await?.rows_affected() == 1)
}

pub async fn delete_endpoint(tx: &mut Tx, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected()
        == 1)
}

/// One line of an endpoint's delivery log.
pub struct Delivery {
    pub id: i64,
    pub event: String,
    pub msg_id: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: i64,
    pub next_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Its payload is still held (it can be sent again).
    pub resendable: bool,
}

type DeliveryRow = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
);

/// The newest deliveries of an endpoint.
pub async fn deliveries(
    db: &Db,
    endpoint_id: i64,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT id, event, msg_id, status, attempts, created_at, next_attempt_at, last_attempt_at, \
         last_status, last_latency_ms, last_error, CASE WHEN payload IS NULL THEN 0 ELSE 1 END \
         FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(endpoint_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Delivery {
            id: r.0,
            event: r.1,
            msg_id: r.2,
            status: r.3,
            attempts: r.4,
            created_at: r.5,
            next_attempt_at: r.6,
            last_attempt_at: r.7,
            last_status: r.8,
            last_latency_ms: r.9,
            last_error: r.10,
            resendable: r.11 != 0,
        })
        .collect())
}
