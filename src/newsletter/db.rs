//! The newsletter's queries.

use crate::platform::db::{Db, Tx};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SubscriberRow {
    pub id: i64,
    pub subject_id: i64,
    pub email: Vec<u8>,
    pub name: Option<Vec<u8>>,
    pub status: String,
    pub topics: String,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
    pub consent_at: i64,
    pub consent_source: String,
    pub consent_policy: String,
}

const SUBSCRIBER_COLUMNS: &str = "id, subject_id, email, name, status, topics, created_at, confirmed_at, \
     unsubscribed_at, consent_at, consent_source, consent_policy";

/// What a person agreed to, and how: recorded with every (re)subscription.
pub struct Consent<'a> {
    pub at: i64,
    pub source: &'a str,
    pub policy: &'a str,
    pub ip_hash: Option<&'a [u8]>,
}

pub async fn subscriber_by_subject(
    tx: &mut Tx,
    subject_id: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, status FROM newsletter_subscribers WHERE subject_id = $1")
        .bind(subject_id)
        .fetch_optional(&mut **tx)
        .await
}

pub async fn subscriber(db: &Db, id: i64) -> Result<Option<SubscriberRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM newsletter_subscribers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// Adds a subscriber, or brings an existing one back to `status` with new
/// consent and topics. Returns the subscriber's id.
#[allow(clippy::too_many_arguments)]
pub async fn upsert_subscriber(
    tx: &mut Tx,
    subject_id: i64,
    email: &[u8],
    name: Option<&[u8]>,
    status: &str,
    topics: &str,
    consent: &Consent<'_>,
) -> Result<i64, sqlx::Error> {
    let confirmed_at = (status == "confirmed").then_some(consent.at);
    sqlx::query_scalar(
        "INSERT INTO newsletter_subscribers (subject_id, email, name, status, topics, created_at, \
         confirmed_at, consent_at, consent_source, consent_policy, consent_ip_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $8, $9, $10) \
         ON CONFLICT (subject_id) DO UPDATE SET email = excluded.email, \
         name = COALESCE(excluded.name, newsletter_subscribers.name), status = excluded.status, \
         topics = excluded.topics, confirmed_at = excluded.confirmed_at, unsubscribed_at = NULL, \
         consent_at = excluded.consent_at, consent_source = excluded.consent_source, \
         consent_policy = excluded.consent_policy, consent_ip_hash = excluded.consent_ip_hash \
         RETURNING id",
    )
    .bind(subject_id)
    .bind(email)
    .bind(name)
    .bind(status)
    .bind(topics)
    .bind(consent.at)
    .bind(confirmed_at)
    .bind(consent.source)
    .bind(consent.policy)
    .bind(consent.ip_hash)
    .fetch_one(&mut **tx)
    .await
}

/// Deletes a subscription still pending (its owner may be under 13);
/// false when it was not pending.
pub async fn delete_pending(tx: &mut Tx, id: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM newsletter_subscribers WHERE id = $1 AND status = 'pending'")
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Confirms a pending subscription; false when it was not pending.
pub async fn confirm(tx: &mut Tx, id: i64, now: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE newsletter_subscribers SET status = 'confirmed', confirmed_at = $1 \
         WHERE id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Makes a subscription wait for its (new) address to be confirmed: no
/// campaign reaches it until then. Returns the row if it was confirmed or
/// pending (an ended subscription stays ended).
pub async fn unconfirm(tx: &mut Tx, id: i64) -> Result<Option<SubscriberRow>, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE newsletter_subscribers SET status = 'pending', confirmed_at = NULL \
         WHERE id = $1 AND status IN ('pending', 'confirmed')",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM newsletter_subscribers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

pub async fn set_topics(tx: &mut Tx, id: i64, topics: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE newsletter_subscribers SET topics = $1 WHERE id = $2")
        .bind(topics)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Marks a subscriber unsubscribed; false when they already were.
pub async fn unsubscribe(tx: &mut Tx, id: i64, now: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE newsletter_subscribers SET status = 'unsubscribed', unsubscribed_at = $1 \
         WHERE id = $2 AND status <> 'unsubscribed'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

pub async fn all_subscribers(db: &Db) -> Result<Vec<SubscriberRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM newsletter_subscribers ORDER BY id"
    )))
    .fetch_all(&db.pool)
    .await
}

/// Up to `limit` subscribers after `after_id` (by id), of `status` or any
/// when it is empty: a page of the API's list.
pub async fn subscribers_after(
    db: &Db,
    after_id: i64,
    status: &str,
    limit: i64,
) -> Result<Vec<SubscriberRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM newsletter_subscribers \
         WHERE id > $1 AND ($2 = '' OR status = $2) ORDER BY id LIMIT $3"
    )))
    .bind(after_id)
    .bind(status)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// `(status, count)` of every status.
pub async fn subscriber_counts(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, COUNT(*) FROM newsletter_subscribers GROUP BY status ORDER BY status",
    )
    .fetch_all(&db.pool)
    .await
}

/// The next confirmed subscribers after `after_id`, for a campaign's batches.
pub async fn confirmed_after(
    db: &Db,
    after_id: i64,
    limit: i64,
) -> Result<Vec<SubscriberRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM newsletter_subscribers \
         WHERE status = 'confirmed' AND id > $1 ORDER BY id LIMIT $2"
    )))
    .bind(after_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct Campaign {
    pub id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub subject: String,
    pub from_name: String,
    pub reply_to: String,
    pub body: String,
    pub topics: String,
    pub commercial: i64,
    pub ad_label: String,
    pub status: String,
    pub scheduled_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub enqueued_through: i64,
    pub suppressed: i64,
    pub unsubscribed: i64,
}

const CAMPAIGN_COLUMNS: &str = "id, created_at, updated_at, subject, from_name, reply_to, body, topics, \
     commercial, ad_label, status, scheduled_at, started_at, finished_at, enqueued_through, \
     suppressed, unsubscribed";

/// What staff write in the campaign form.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub subject: String,
    pub from_name: String,
    pub reply_to: String,
    pub body: String,
    pub topics: String,
    pub commercial: bool,
    pub ad_label: String,
}

pub async fn insert_campaign(
    tx: &mut Tx,
    draft: &Draft,
    staff_id: Option<i64>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO newsletter_campaigns (created_at, updated_at, created_by, subject, from_name, \
         reply_to, body, topics, commercial, ad_label, status) \
         VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8, $9, 'draft') RETURNING id",
    )
    .bind(now)
    .bind(staff_id)
    .bind(&draft.subject)
    .bind(&draft.from_name)
    .bind(&draft.reply_to)
    .bind(&draft.body)
    .bind(&draft.topics)
    .bind(draft.commercial as i64)
    .bind(&draft.ad_label)
    .fetch_one(&mut **tx)
    .await
}

/// Saves a draft's text; only drafts and scheduled campaigns change.
pub async fn update_campaign(
    tx: &mut Tx,
    id: i64,
    draft: &Draft,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE newsletter_campaigns SET updated_at = $1, subject = $2, from_name = $3, \
         reply_to = $4, body = $5, topics = $6, commercial = $7, ad_label = $8 \
         WHERE id = $9 AND status IN ('draft', 'scheduled')",
    )
    .bind(now)
    .bind(&draft.subject)
    .bind(&draft.from_name)
    .bind(&draft.reply_to)
    .bind(&draft.body)
    .bind(&draft.topics)
    .bind(draft.commercial as i64)
    .bind(&draft.ad_label)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

pub async fn campaign(db: &Db, id: i64) -> Result<Option<Campaign>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM newsletter_campaigns WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

pub async fn campaigns(db: &Db) -> Result<Vec<Campaign>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM newsletter_campaigns ORDER BY id DESC"
    )))
    .fetch_all(&db.pool)
    .await
}

/// Moves a campaign from one of `from` to `to`; false when it was elsewhere.
pub async fn set_status(
    tx: &mut Tx,
    id: i64,
    from: &[&str],
    to: &str,
    scheduled_at: Option<i64>,
) -> Result<bool, sqlx::Error> {
    for f in from {
        let n = sqlx::query(
            "UPDATE newsletter_campaigns SET status = $1, scheduled_at = COALESCE($2, scheduled_at) \
             WHERE id = $3 AND status = $4",
        )
        .bind(to)
        .bind(scheduled_at)
        .bind(id)
        .bind(*f)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if n == 1 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Scheduled campaigns whose time has come become `sending`; returns the
/// campaigns now sending (including those a restart interrupted).
pub async fn due_campaigns(db: &Db, now: i64) -> Result<Vec<Campaign>, sqlx::Error> {
    sqlx::query(
        "UPDATE newsletter_campaigns SET status = 'sending', started_at = $1 \
         WHERE status = 'scheduled' AND scheduled_at <= $1",
    )
    .bind(now)
    .execute(&db.pool)
    .await?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM newsletter_campaigns WHERE status = 'sending' ORDER BY id"
    )))
    .fetch_all(&db.pool)
    .await
}

/// Moves a sending campaign's cursor from `from` to `to`, in the batch's
/// transaction; false when another worker moved it first.
pub async fn advance(
    tx: &mut Tx,
    id: i64,
    from: i64,
    to: i64,
    suppressed: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE newsletter_campaigns SET enqueued_through = $1, suppressed = suppressed + $2 \
         WHERE id = $3 AND enqueued_through = $4 AND status = 'sending'",
    )
    .bind(to)
    .bind(suppressed)
    .bind(id)
    .bind(from)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Every recipient is queued and every mail has left the outbox: the campaign is sent.
pub async fn finish(db: &Db, id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE newsletter_campaigns SET status = 'sent', finished_at = $1 \
         WHERE id = $2 AND status = 'sending'",
    )
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn count_unsubscribe(tx: &mut Tx, campaign_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE newsletter_campaigns SET unsubscribed = unsubscribed + 1 WHERE id = $1")
        .bind(campaign_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The subscription of a person, if they ever subscribed.
pub async fn subscriber_of_subject(
    db: &Db,
    subject_id: i64,
) -> Result<Option<SubscriberRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM newsletter_subscribers WHERE subject_id = $1"
    )))
    .bind(subject_id)
    .fetch_optional(&db.pool)
    .await
}

/// Subscribers who confirmed since `since` and are still subscribed.
pub async fn count_confirmed_since(db: &Db, since: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM newsletter_subscribers WHERE status = 'confirmed' AND confirmed_at >= $1",
    )
    .bind(since)
    .fetch_one(&db.pool)
    .await
}
