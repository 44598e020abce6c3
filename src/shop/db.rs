//! Queries of the shop: services, order requests and their lines.

use super::Billing;
use crate::platform::{
    db::{Db, Tx},
    now_ms,
};

#[derive(Clone, Debug)]
pub struct Service {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub billing: Billing,
    pub active: bool,
    pub position: i64,
}

type ServiceRow = (i64, String, String, String, i64, String, i64, i64);

fn to_service(r: ServiceRow) -> Service {
    Service {
        id: r.0,
        slug: r.1,
        name: r.2,
        description: r.3,
        price_cents: r.4,
        billing: Billing::parse(&r.5).unwrap_or(Billing::Once),
        active: r.6 != 0,
        position: r.7,
    }
}

/// Services on offer, in catalog order.
pub async fn active_services(db: &Db) -> Result<Vec<Service>, sqlx::Error> {
    let rows: Vec<ServiceRow> = sqlx::query_as(
        "SELECT id, slug, name, description, price_cents, billing, active, position FROM services \
         WHERE active = 1 ORDER BY position, id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_service).collect())
}

/// Every service, retired ones too, for the back office; `q` filters by name or slug.
pub async fn all_services(db: &Db, q: &str) -> Result<Vec<Service>, sqlx::Error> {
    let rows: Vec<ServiceRow> = sqlx::query_as(
        "SELECT id, slug, name, description, price_cents, billing, active, position FROM services \
         WHERE $1 = '' OR LOWER(name) LIKE $2 OR LOWER(slug) LIKE $2 ORDER BY position, id",
    )
    .bind(q)
    .bind(format!("%{}%", q.to_lowercase()))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_service).collect())
}

pub async fn service(db: &Db, id: i64) -> Result<Option<Service>, sqlx::Error> {
    let row: Option<ServiceRow> = sqlx::query_as(
        "SELECT id, slug, name, description, price_cents, billing, active, position FROM services \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(to_service))
}

pub struct NewService<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub price_cents: i64,
    pub billing: Billing,
    pub active: bool,
    pub position: i64,
}

pub async fn insert_service(tx: &mut Tx, s: &NewService<'_>) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    sqlx::query_scalar(
        "INSERT INTO services (slug, name, description, price_cents, billing, active, position, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(s.slug)
    .bind(s.name)
    .bind(s.description)
    .bind(s.price_cents)
    .bind(s.billing.as_str())
    .bind(i64::from(s.active))
    .bind(s.position)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

pub async fn update_service(tx: &mut Tx, id: i64, s: &NewService<'_>) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE services SET slug = $1, name = $2, description = $3, price_cents = $4, billing = $5, \
         active = $6, position = $7, updated_at = $8 WHERE id = $9",
    )
    .bind(s.slug)
    .bind(s.name)
    .bind(s.description)
    .bind(s.price_cents)
    .bind(s.billing.as_str())
    .bind(i64::from(s.active))
    .bind(s.position)
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// An order request as stored: personal fields sealed under the subject's key.
pub struct SealedOrder {
    pub id: i64,
    pub reference: String,
    pub subject_id: i64,
    pub status: String,
    pub name: Vec<u8>,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub company: Option<Vec<u8>>,
    pub notes: Option<Vec<u8>>,
    pub total_cents: i64,
    pub created_at: i64,
}

type OrderRow = (
    i64,
    String,
    i64,
    String,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    i64,
    i64,
);

fn to_order(r: OrderRow) -> SealedOrder {
    SealedOrder {
        id: r.0,
        reference: r.1,
        subject_id: r.2,
        status: r.3,
        name: r.4,
        email: r.5,
        phone: r.6,
        company: r.7,
        notes: r.8,
        total_cents: r.9,
        created_at: r.10,
    }
}

pub struct NewOrder<'a> {
    pub reference: &'a str,
    pub idempotency_key: &'a str,
    pub subject_id: i64,
    pub name: Vec<u8>,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub company: Option<Vec<u8>>,
    pub notes: Option<Vec<u8>>,
    pub total_cents: i64,
}

/// Inserts an order request; `None` when one with this idempotency key exists.
pub async fn insert_order(tx: &mut Tx, o: &NewOrder<'_>) -> Result<Option<i64>, sqlx::Error> {
    let now = now_ms();
    sqlx::query_scalar(
        "INSERT INTO orders (reference, idempotency_key, subject_id, status, name, email, phone, company, notes, \
         total_cents, created_at, updated_at) VALUES ($1, $2, $3, 'new', $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(o.reference)
    .bind(o.idempotency_key)
    .bind(o.subject_id)
    .bind(&o.name)
    .bind(&o.email)
    .bind(&o.phone)
    .bind(&o.company)
    .bind(&o.notes)
    .bind(o.total_cents)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
}

pub struct Line {
    pub service_id: Option<i64>,
    pub name: String,
    pub billing: Billing,
    pub unit_price_cents: i64,
    pub quantity: i64,
}

impl Line {
    pub fn total_cents(&self) -> i64 {
        self.unit_price_cents * self.quantity
    }
}

pub async fn insert_line(
    tx: &mut Tx,
    order_id: i64,
    subject_id: i64,
    line: &Line,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_lines (order_id, subject_id, service_id, name, billing, unit_price_cents, quantity, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(order_id)
    .bind(subject_id)
    .bind(line.service_id)
    .bind(&line.name)
    .bind(line.billing.as_str())
    .bind(line.unit_price_cents)
    .bind(line.quantity)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The reference of the order made with this idempotency key, if any.
pub async fn reference_for_key(db: &Db, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT reference FROM orders WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await
}

pub async fn order_exists(db: &Db, reference: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE reference = $1")
        .bind(reference)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

/// The newest order requests (a small company's volume: filtering happens
/// after decryption, so the list is bounded).
/// `status` (when not empty) keeps the orders in it.
pub async fn recent_orders(
    db: &Db,
    status: &str,
    limit: i64,
) -> Result<Vec<SealedOrder>, sqlx::Error> {
    let rows: Vec<OrderRow> = sqlx::query_as(
        "SELECT id, reference, subject_id, status, name, email, phone, company, notes, total_cents, created_at \
         FROM orders WHERE ($2 = '' OR status = $2) ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .bind(status)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_order).collect())
}

/// The newest orders holding every one of `terms` (blind-index hashes),
/// in `status` when not empty, at most `limit`.
pub async fn orders_matching(
    db: &Db,
    status: &str,
    terms: &[i64],
    limit: i64,
) -> Result<Vec<SealedOrder>, sqlx::Error> {
    let sql = format!(
        "SELECT id, reference, subject_id, status, name, email, phone, company, notes, total_cents, created_at \
         FROM orders WHERE ($2 = '' OR status = $2) AND {} ORDER BY id DESC LIMIT $1",
        super::search::WORDS.condition("id", 3, terms.len())
    );
    let mut query = sqlx::query_as(crate::platform::db::trusted_sql(sql))
        .bind(limit)
        .bind(status);
    for t in terms {
        query = query.bind(*t);
    }
    let rows: Vec<OrderRow> = query.fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(to_order).collect())
}

/// Up to `limit` orders with an id below `below`, newest first (indexing
/// the orders stored before the word index existed).
pub async fn orders_below(
    db: &Db,
    below: i64,
    limit: i64,
) -> Result<Vec<SealedOrder>, sqlx::Error> {
    let rows: Vec<OrderRow> = sqlx::query_as(
        "SELECT id, reference, subject_id, status, name, email, phone, company, notes, total_cents, created_at \
         FROM orders WHERE id < $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(below)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_order).collect())
}

pub async fn order(db: &Db, id: i64) -> Result<Option<SealedOrder>, sqlx::Error> {
    let row: Option<OrderRow> = sqlx::query_as(
        "SELECT id, reference, subject_id, status, name, email, phone, company, notes, total_cents, created_at \
         FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(to_order))
}

pub async fn lines(db: &Db, order_id: i64) -> Result<Vec<Line>, sqlx::Error> {
    let rows: Vec<(Option<i64>, String, String, i64, i64)> = sqlx::query_as(
        "SELECT service_id, name, billing, unit_price_cents, quantity FROM order_lines \
         WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Line {
            service_id: r.0,
            name: r.1,
            billing: Billing::parse(&r.2).unwrap_or(Billing::Once),
            unit_price_cents: r.3,
            quantity: r.4,
        })
        .collect())
}

pub async fn set_status(tx: &mut Tx, id: i64, status: &str) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Order requests nobody has answered yet (the sidebar's figure).
pub fn nav_new_orders<'a>(
    platform: &'a crate::platform::Platform,
    _: &'a crate::platform::context::StaffUser,
) -> futures_util::future::BoxFuture<'a, anyhow::Result<i64>> {
    Box::pin(async move { Ok(count_new_orders(&platform.db).await?) })
}

/// A person's order requests, newest first.
pub async fn orders_of_subject(db: &Db, subject_id: i64) -> Result<Vec<SealedOrder>, sqlx::Error> {
    let rows: Vec<OrderRow> = sqlx::query_as(
        "SELECT id, reference, subject_id, status, name, email, phone, company, notes, total_cents, created_at \
         FROM orders WHERE subject_id = $1 ORDER BY id DESC LIMIT 200",
    )
    .bind(subject_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(to_order).collect())
}

/// Order requests nobody has followed up yet (status `new`).
pub async fn count_new_orders(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status = 'new'")
        .fetch_one(&db.pool)
        .await
}
