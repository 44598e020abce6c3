//! Every query of the helpdesk. Personal columns arrive and leave sealed;
//! opening them is the caller's business, with the subject's key.

use super::sla::{Response, StartWindow};
use crate::platform::{
    Platform,
    context::StaffUser,
    db::{Db, Tx},
    now_ms,
};
use futures_util::future::BoxFuture;

/// A ticket row with its personal fields still sealed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TicketRow {
    pub id: i64,
    pub reference: Option<String>,
    pub subject_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub status: String,
    pub product: String,
    pub assignee_id: Option<i64>,
    pub first_response_at: Option<i64>,
    pub last_visitor_at: i64,
    pub merged_into: Option<i64>,
    /// In the conversation link's signature; drawn again when staff reissue
    /// the link (older ones die). Empty for tickets from before it existed.
    pub link_nonce: String,
    /// When the ticket was closed; its link dies 90 days later.
    pub closed_at: Option<i64>,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// Says which channel made the ticket (see `automations::channel_of`).
    pub form_nonce: String,
    pub team_id: Option<i64>,
    /// When the requester's oldest message no public reply has answered
    /// yet arrived (the next-response clock, `sla`); `None` when nothing waits.
    pub awaiting_since: Option<i64>,
    pub name: Vec<u8>,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub phone_e164: Option<Vec<u8>>,
    pub product_other: Option<Vec<u8>>,
    pub title: Vec<u8>,
    /// The subject's wrapped key; `None` once erased.
    pub wrapped_key: Option<Vec<u8>>,
}

const TICKET_COLUMNS: &str = "t.id, t.reference, t.subject_id, t.created_at, t.updated_at, t.status, \
     t.product, t.assignee_id, t.first_response_at, t.last_visitor_at, t.merged_into, t.link_nonce, t.closed_at, t.priority, t.form_nonce, t.team_id, t.awaiting_since, t.name, t.email, \
     t.phone, t.phone_e164, t.product_other, t.title, s.wrapped_key";

pub struct SealedTicket {
    pub subject_id: i64,
    pub form_nonce: String,
    pub product: String,
    pub name: Vec<u8>,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub phone_e164: Option<Vec<u8>>,
    pub product_other: Option<Vec<u8>>,
    pub title: Vec<u8>,
    pub link_nonce: String,
}

/// Inserts a ticket; `None` when a ticket with this form nonce exists.
pub async fn insert_ticket(tx: &mut Tx, t: &SealedTicket, now: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "INSERT INTO tickets (subject_id, form_nonce, created_at, updated_at, status, product, \
         last_visitor_at, name, email, phone, phone_e164, product_other, title, link_nonce) \
         VALUES ($1, $2, $3, $3, 'open', $4, $3, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (form_nonce) DO NOTHING RETURNING id",
    )
    .bind(t.subject_id)
    .bind(&t.form_nonce)
    .bind(now)
    .bind(&t.product)
    .bind(&t.name)
    .bind(&t.email)
    .bind(&t.phone)
    .bind(&t.phone_e164)
    .bind(&t.product_other)
    .bind(&t.title)
    .bind(&t.link_nonce)
    .fetch_optional(&mut **tx)
    .await
}

pub async fn set_reference(tx: &mut Tx, id: i64, reference: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE tickets SET reference = $1 WHERE id = $2")
        .bind(reference)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `(id, reference)` of the ticket a form nonce already made.
/// The sealed international form of a ticket's contact number, after
/// its owner corrected the number.
pub async fn set_phone_e164(
    tx: &mut Tx,
    id: i64,
    subject_id: i64,
    sealed: Option<Vec<u8>>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE tickets SET phone_e164 = $1 WHERE id = $2 AND subject_id = $3")
        .bind(sealed)
        .bind(id)
        .bind(subject_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn ticket_by_nonce(db: &Db, nonce: &str) -> sqlx::Result<Option<(i64, Option<String>)>> {
    sqlx::query_as("SELECT id, reference FROM tickets WHERE form_nonce = $1")
        .bind(nonce)
        .fetch_optional(&db.pool)
        .await
}

pub async fn insert_message(
    tx: &mut Tx,
    ticket_id: i64,
    subject_id: i64,
    kind: &str,
    staff_id: Option<i64>,
    body: &[u8],
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO ticket_messages (ticket_id, subject_id, created_at, kind, staff_id, body) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(ticket_id)
    .bind(subject_id)
    .bind(now_ms())
    .bind(kind)
    .bind(staff_id)
    .bind(body)
    .fetch_one(&mut **tx)
    .await
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_attachment(
    tx: &mut Tx,
    ticket_id: i64,
    message_id: i64,
    subject_id: i64,
    content_type: &str,
    size: i64,
    filename: &[u8],
    content: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO ticket_attachments (ticket_id, message_id, subject_id, created_at, content_type, \
         size, filename, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ticket_id)
    .bind(message_id)
    .bind(subject_id)
    .bind(now_ms())
    .bind(content_type)
    .bind(size)
    .bind(filename)
    .bind(content)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Accepted submissions from this address since each of two instants.
pub async fn count_intake(
    db: &Db,
    ip_hash: &[u8],
    since_hour: i64,
    since_day: i64,
) -> sqlx::Result<(i64, i64)> {
    let (hour, day): (Option<i64>, i64) = sqlx::query_as(
        "SELECT SUM(CASE WHEN at > $2 THEN 1 ELSE 0 END), COUNT(*) FROM support_intake \
         WHERE ip_hash = $1 AND at > $3",
    )
    .bind(ip_hash)
    .bind(since_hour)
    .bind(since_day)
    .fetch_one(&db.pool)
    .await?;
    Ok((hour.unwrap_or(0), day))
}

/// Records an accepted submission and forgets this address's older ones.
pub async fn record_intake(tx: &mut Tx, ip_hash: &[u8], now: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM support_intake WHERE ip_hash = $1 AND at < $2")
        .bind(ip_hash)
        .bind(now - 86_400_000)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO support_intake (ip_hash, at) VALUES ($1, $2)")
        .bind(ip_hash)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn ticket(db: &Db, id: i64) -> sqlx::Result<Option<TicketRow>> {
    sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t JOIN subjects s ON s.id = t.subject_id WHERE t.id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// The ticket a message belongs to.
pub async fn ticket_of_message(db: &Db, message_id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT ticket_id FROM ticket_messages WHERE id = $1")
        .bind(message_id)
        .fetch_optional(&db.pool)
        .await
}

pub async fn ticket_by_reference(db: &Db, reference: &str) -> sqlx::Result<Option<TicketRow>> {
    sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t JOIN subjects s ON s.id = t.subject_id WHERE t.reference = $1"
    )))
    .bind(reference.trim().to_uppercase())
    .fetch_optional(&db.pool)
    .await
}

/// Tickets of one data subject, newest first (the chat console's context).
pub async fn by_subject(db: &Db, subject_id: i64) -> sqlx::Result<Vec<TicketRow>> {
    sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t JOIN subjects s ON s.id = t.subject_id \
         WHERE t.subject_id = $1 ORDER BY t.id DESC LIMIT 50"
    )))
    .bind(subject_id)
    .fetch_all(&db.pool)
    .await
}

/// Filters of the staff inbox; empty strings mean "any".
#[derive(Clone, Debug, Default)]
pub struct InboxFilter {
    /// `open`, `pending`, `solved`, `closed`, `active` (open or pending) or `all`.
    pub status: String,
    /// A staff id, `none` (unassigned) or empty.
    pub assignee: Option<Option<i64>>,
    pub product: String,
    /// A reference (or its number) to look up directly.
    pub reference: String,
    pub sort: String,
    /// Only tickets after this `(created_at, id)` in the order (newest or
    /// oldest first; the API's cursor).
    pub after: Option<(i64, i64)>,
    /// A priority, or empty for any.
    pub priority: String,
    /// A tag the tickets carry, or empty for any.
    pub tag: String,
    /// Blind-index hashes every ticket shown must hold (a text search).
    pub terms: Vec<i64>,
    /// Only open or pending tickets whose clock started in one of these
    /// windows (the SLA filter: nearing or breached at some moment).
    pub sla: Option<Vec<StartWindow>>,
}

/// The condition that a ticket (`t`) waits for a response whose clock
/// started in one of `windows`. The bounds are numbers we computed.
fn in_windows(windows: &[StartWindow]) -> String {
    if windows.is_empty() {
        return "AND 1 = 0".into();
    }
    let terms: Vec<String> = windows
        .iter()
        .map(|w| {
            // An unknown priority counts as normal (`sla::Targets::of`).
            let priority = match w.priority {
                "normal" => "t.priority NOT IN ('low', 'high', 'urgent')".to_string(),
                p => format!("t.priority = '{}'", p.replace('\'', "")),
            };
            let (answered, column) = match w.response {
                Response::First => ("IS NULL", "t.created_at"),
                Response::Next => ("IS NOT NULL", "t.awaiting_since"),
            };
            let from = w
                .from
                .map(|from| format!(" AND {column} >= {from}"))
                .unwrap_or_default();
            format!(
                "({priority} AND t.first_response_at {answered} AND {column} < {}{from})",
                w.until
            )
        })
        .collect();
    format!(
        "AND t.merged_into IS NULL AND t.status IN ('open', 'pending') AND ({})",
        terms.join(" OR ")
    )
}

/// The moment a ticket's SLA clock started, in SQL: its creation while it
/// waits for a first response, else the requester's oldest unanswered
/// message (NULL when nothing waits).
const CLOCK_START: &str =
    "CASE WHEN t.first_response_at IS NULL THEN t.created_at ELSE t.awaiting_since END";

/// Tickets matching the filters, newest first unless sorted otherwise, at most `limit`.
pub async fn list(db: &Db, f: &InboxFilter, limit: i64) -> sqlx::Result<Vec<TicketRow>> {
    let order = match f.sort.as_str() {
        "oldest" => "t.created_at ASC, t.id ASC",
        "updated" => "t.updated_at DESC, t.id DESC",
        // Waiting longest for an answer first (the SLA view; the caller
        // orders them by business time left).
        "waiting" => &format!(
            "CASE WHEN t.status IN ('open', 'pending') AND {CLOCK_START} IS NOT NULL THEN 0 ELSE 1 END, \
             {CLOCK_START} ASC, t.id ASC"
        ),
        _ => "t.created_at DESC, t.id DESC",
    };
    let sla = f.sla.as_deref().map(in_windows).unwrap_or_default();
    let (assignee_any, assignee_none, assignee_id) = match f.assignee {
        None => (1, 0, 0),
        Some(None) => (0, 1, 0),
        Some(Some(id)) => (0, 0, id),
    };
    let beyond = if f.sort == "oldest" { ">" } else { "<" };
    let (after_any, after_at, after_id) = match f.after {
        None => (1, 0, 0),
        Some((at, id)) => (0, at, id),
    };
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t JOIN subjects s ON s.id = t.subject_id \
         WHERE t.merged_into IS NULL \
         AND ($1 = 'all' OR t.status = $1 OR ($1 = 'active' AND t.status IN ('open', 'pending'))) \
         AND ($2 = 1 OR ($3 = 1 AND t.assignee_id IS NULL) OR t.assignee_id = $4) \
         AND ($5 = '' OR t.product = $5) \
         AND ($6 = '' OR t.reference = $6) \
         AND ($8 = 1 OR t.created_at {beyond} $9 OR (t.created_at = $9 AND t.id {beyond} $10)) \
         AND ($11 = '' OR t.priority = $11) \
         AND ($12 = '' OR t.id IN (SELECT g.ticket_id FROM ticket_tags g WHERE g.tag = $12)) {sla} {words} \
         ORDER BY {order} LIMIT $7",
        words = if f.terms.is_empty() {
            String::new()
        } else {
            format!(
                "AND {}",
                super::search::WORDS.condition("t.id", 13, f.terms.len())
            )
        }
    );
    let mut query = sqlx::query_as(crate::platform::db::trusted_sql(sql))
        .bind(&f.status)
        .bind(assignee_any)
        .bind(assignee_none)
        .bind(assignee_id)
        .bind(&f.product)
        .bind(&f.reference)
        .bind(limit)
        .bind(after_any)
        .bind(after_at)
        .bind(after_id)
        .bind(&f.priority)
        .bind(&f.tag);
    for hash in &f.terms {
        query = query.bind(*hash);
    }
    query.fetch_all(&db.pool).await
}

/// Up to `limit` tickets with an id below `below`, newest first (indexing
/// the tickets stored before the word index existed).
pub async fn tickets_below(db: &Db, below: i64, limit: i64) -> sqlx::Result<Vec<TicketRow>> {
    sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t JOIN subjects s ON s.id = t.subject_id \
         WHERE t.id < $1 ORDER BY t.id DESC LIMIT $2"
    )))
    .bind(below)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Open or pending tickets assigned to `staff` (the sidebar's figure).
pub fn count_mine<'a>(
    platform: &'a Platform,
    staff: &'a StaffUser,
) -> BoxFuture<'a, anyhow::Result<i64>> {
    Box::pin(async move {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE merged_into IS NULL \
             AND status IN ('open', 'pending') AND assignee_id = $1",
        )
        .bind(staff.id)
        .fetch_one(&platform.db.pool)
        .await?;
        Ok(n)
    })
}

/// Open or pending tickets nobody has taken (the sidebar's figure).
pub fn count_unassigned<'a>(
    platform: &'a Platform,
    _: &'a StaffUser,
) -> BoxFuture<'a, anyhow::Result<i64>> {
    Box::pin(async move {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE merged_into IS NULL \
             AND status IN ('open', 'pending') AND assignee_id IS NULL",
        )
        .fetch_one(&platform.db.pool)
        .await?;
        Ok(n)
    })
}

/// `(ticket id, sealed body)` of every message (notes too: staff search
/// them) of the newest `window` tickets, for the global search.
pub async fn window_messages(db: &Db, window: i64) -> sqlx::Result<Vec<(i64, Vec<u8>)>> {
    sqlx::query_as(
        "SELECT m.ticket_id, m.body FROM ticket_messages m WHERE m.ticket_id IN \
         (SELECT t.id FROM tickets t WHERE t.merged_into IS NULL \
          ORDER BY t.created_at DESC, t.id DESC LIMIT $1) ORDER BY m.id",
    )
    .bind(window)
    .fetch_all(&db.pool)
    .await
}

/// Count of tickets per status (merged ones left out).
pub async fn status_counts(db: &Db) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT status, COUNT(*) FROM tickets WHERE merged_into IS NULL GROUP BY status ORDER BY status",
    )
    .fetch_all(&db.pool)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub ticket_id: i64,
    pub created_at: i64,
    pub kind: String,
    pub staff_id: Option<i64>,
    pub body: Vec<u8>,
}

/// Messages of a ticket, oldest first; internal notes only when asked.
pub async fn messages(db: &Db, ticket_id: i64, with_notes: bool) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(
        "SELECT id, ticket_id, created_at, kind, staff_id, body FROM ticket_messages \
         WHERE ticket_id = $1 AND ($2 = 1 OR kind <> 'note') ORDER BY created_at, id",
    )
    .bind(ticket_id)
    .bind(i64::from(with_notes))
    .fetch_all(&db.pool)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttachmentMeta {
    pub id: i64,
    pub message_id: i64,
    pub content_type: String,
    pub size: i64,
    pub filename: Vec<u8>,
}

pub async fn attachments(db: &Db, ticket_id: i64) -> sqlx::Result<Vec<AttachmentMeta>> {
    sqlx::query_as(
        "SELECT id, message_id, content_type, size, filename FROM ticket_attachments \
         WHERE ticket_id = $1 ORDER BY id",
    )
    .bind(ticket_id)
    .fetch_all(&db.pool)
    .await
}

/// `(content_type, filename, content)` of one attachment of a ticket.
pub async fn attachment(
    db: &Db,
    ticket_id: i64,
    id: i64,
) -> sqlx::Result<Option<(String, Vec<u8>, Vec<u8>)>> {
    sqlx::query_as(
        "SELECT content_type, filename, content FROM ticket_attachments WHERE ticket_id = $1 AND id = $2",
    )
    .bind(ticket_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// After a staff reply: the first response is kept once, whatever the
/// requester wrote is answered, the status set.
pub async fn mark_staff_reply(tx: &mut Tx, id: i64, status: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE tickets SET status = $1, updated_at = $2, \
         first_response_at = COALESCE(first_response_at, $2), awaiting_since = NULL, \
         closed_at = CASE WHEN $1 = 'closed' THEN COALESCE(closed_at, $2) ELSE NULL END \
         WHERE id = $3",
    )
    .bind(status)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// After the visitor wrote: back to the agents. Their oldest unanswered
/// message starts the next-response clock; on a solved or closed ticket,
/// this one does.
pub async fn mark_visitor_reply(tx: &mut Tx, id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE tickets SET status = 'open', updated_at = $1, last_visitor_at = $1, \
         awaiting_since = CASE WHEN status IN ('open', 'pending') \
         THEN COALESCE(awaiting_since, $1) ELSE $1 END, \
         closed_at = NULL WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_status(tx: &mut Tx, id: i64, status: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE tickets SET status = $1, updated_at = $2, \
         closed_at = CASE WHEN $1 = 'closed' THEN COALESCE(closed_at, $2) ELSE NULL END \
         WHERE id = $3",
    )
    .bind(status)
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Kills every conversation link of a ticket: its links carry `nonce` from now on.
pub async fn reissue_link(tx: &mut Tx, id: i64, nonce: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE tickets SET link_nonce = $1 WHERE id = $2")
        .bind(nonce)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn touch(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_priority(tx: &mut Tx, id: i64, priority: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE tickets SET priority = $1, updated_at = $2 WHERE id = $3")
        .bind(priority)
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds a tag; the rows written (0 when the ticket had it).
pub async fn add_tag(tx: &mut Tx, id: i64, subject_id: i64, tag: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO ticket_tags (ticket_id, subject_id, tag, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(subject_id)
    .bind(tag)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

pub async fn remove_tag(tx: &mut Tx, id: i64, tag: &str) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1 AND tag = $2")
            .bind(id)
            .bind(tag)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

/// `(ticket id, tag)` of these tickets, by tag.
pub async fn tags_of(db: &Db, ids: &[i64]) -> sqlx::Result<Vec<(i64, String)>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!(
        "SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN ({}) ORDER BY tag",
        crate::platform::db::placeholders(1, ids.len())
    );
    let mut query = sqlx::query_as(crate::platform::db::trusted_sql(sql)).persistent(false);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(&db.pool).await
}

/// Every tag in use, for the inbox's filter.
pub async fn all_tags(db: &Db) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT DISTINCT tag FROM ticket_tags ORDER BY tag")
        .fetch_all(&db.pool)
        .await
}

pub async fn set_assignee(tx: &mut Tx, id: i64, assignee: Option<i64>) -> sqlx::Result<()> {
    sqlx::query("UPDATE tickets SET assignee_id = $1, updated_at = $2 WHERE id = $3")
        .bind(assignee)
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves a duplicate's conversation into `target` and closes the duplicate.
pub async fn merge(tx: &mut Tx, duplicate: i64, target: i64) -> sqlx::Result<()> {
    for sql in [
        "UPDATE ticket_messages SET ticket_id = $2 WHERE ticket_id = $1",
        "UPDATE ticket_attachments SET ticket_id = $2 WHERE ticket_id = $1",
        "UPDATE tickets SET merged_into = $2 WHERE merged_into = $1",
    ] {
        sqlx::query(sql)
            .bind(duplicate)
            .bind(target)
            .execute(&mut **tx)
            .await?;
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE tickets SET merged_into = $1, status = 'closed', updated_at = $2, \
         closed_at = COALESCE(closed_at, $2) WHERE id = $3",
    )
    .bind(target)
    .bind(now)
    .bind(duplicate)
    .execute(&mut **tx)
    .await?;
    // The target keeps the earliest first response and the latest visitor
    // message; what waits for an answer in either waits in the target.
    sqlx::query(
        "UPDATE tickets SET updated_at = $1, \
         last_visitor_at = (SELECT MAX(last_visitor_at) FROM tickets WHERE id = $2 OR merged_into = $2), \
         awaiting_since = CASE WHEN first_response_at IS NULL THEN NULL ELSE \
         (SELECT MIN(COALESCE(m.awaiting_since, CASE WHEN m.first_response_at IS NULL THEN m.created_at END)) \
          FROM tickets m WHERE m.id IN ($2, $3)) END \
         WHERE id = $2",
    )
    .bind(now)
    .bind(target)
    .bind(duplicate)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CannedReply {
    pub id: i64,
    pub title: String,
    pub body: String,
}

pub async fn canned_replies(db: &Db) -> sqlx::Result<Vec<CannedReply>> {
    sqlx::query_as("SELECT id, title, body FROM support_canned_replies ORDER BY title, id")
        .fetch_all(&db.pool)
        .await
}

pub async fn insert_canned(tx: &mut Tx, title: &str, body: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO support_canned_replies (title, body, updated_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(title)
    .bind(body)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
}

pub async fn delete_canned(tx: &mut Tx, id: i64) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM support_canned_replies WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

/// Open or pending tickets assigned to `staff_id`.
pub async fn count_open_assigned_to(db: &Db, staff_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM tickets WHERE merged_into IS NULL \
         AND status IN ('open', 'pending') AND assignee_id = $1",
    )
    .bind(staff_id)
    .fetch_one(&db.pool)
    .await
}

/// Open or pending tickets nobody is assigned to.
pub async fn count_open_unassigned(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM tickets WHERE merged_into IS NULL \
         AND status IN ('open', 'pending') AND assignee_id IS NULL",
    )
    .fetch_one(&db.pool)
    .await
}

/// Open or pending tickets waiting for a response whose clock started in
/// one of `windows`, the longest waiting first, at most `limit`.
pub async fn awaiting_in(
    db: &Db,
    windows: &[StartWindow],
    limit: i64,
) -> sqlx::Result<Vec<TicketRow>> {
    sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t JOIN subjects s ON s.id = t.subject_id \
         WHERE 1 = 1 {} ORDER BY {CLOCK_START} ASC, t.id ASC LIMIT $1",
        in_windows(windows)
    )))
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// How many tickets [`awaiting_in`] would find without a limit.
pub async fn count_awaiting_in(db: &Db, windows: &[StartWindow]) -> sqlx::Result<i64> {
    sqlx::query_scalar(crate::platform::db::trusted_sql(format!(
        "SELECT COUNT(*) FROM tickets t WHERE 1 = 1 {}",
        in_windows(windows)
    )))
    .fetch_one(&db.pool)
    .await
}

/// `(id, email)` of the active agents and admins in a team.
pub async fn active_team_members(tx: &mut Tx, team: i64) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT u.id, u.email FROM support_team_members m JOIN staff_users u ON u.id = m.staff_id \
         WHERE m.team_id = $1 AND u.disabled = 0 AND u.role IN ('agent', 'admin') ORDER BY u.id",
    )
    .bind(team)
    .fetch_all(&mut **tx)
    .await
}

/// Tickets received since `since`, newest first.
pub async fn received_since(db: &Db, since: i64, limit: i64) -> sqlx::Result<Vec<TicketRow>> {
    sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t JOIN subjects s ON s.id = t.subject_id \
         WHERE t.created_at >= $1 ORDER BY t.created_at DESC, t.id DESC LIMIT $2"
    )))
    .bind(since)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

pub async fn set_team(tx: &mut Tx, id: i64, team: Option<i64>) -> sqlx::Result<()> {
    sqlx::query("UPDATE tickets SET team_id = $1, updated_at = $2 WHERE id = $3")
        .bind(team)
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One canned reply, on the pool or in a transaction.
pub async fn canned_reply<'e, E>(e: E, id: i64) -> sqlx::Result<Option<CannedReply>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as("SELECT id, title, body FROM support_canned_replies WHERE id = $1")
        .bind(id)
        .fetch_optional(e)
        .await
}

/// Every trigger, in the order they are tried.
pub async fn triggers<'e, E>(e: E) -> sqlx::Result<Vec<super::automations::Trigger>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(
        "SELECT id, position, name, on_event, if_product, if_channel, if_words, if_domain, \
         set_team_id, set_assignee_id, set_priority, add_tag, canned_id FROM support_triggers \
         ORDER BY position, id",
    )
    .fetch_all(e)
    .await
}

pub async fn insert_trigger(
    tx: &mut Tx,
    t: &super::automations::Trigger,
    now: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO support_triggers (position, name, on_event, if_product, if_channel, if_words, \
         if_domain, set_team_id, set_assignee_id, set_priority, add_tag, canned_id, created_at) \
         VALUES ((SELECT COALESCE(MAX(position), 0) + 1 FROM support_triggers), $1, $2, $3, $4, $5, \
         $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(&t.name)
    .bind(&t.on_event)
    .bind(&t.if_product)
    .bind(&t.if_channel)
    .bind(&t.if_words)
    .bind(&t.if_domain)
    .bind(t.set_team_id)
    .bind(t.set_assignee_id)
    .bind(&t.set_priority)
    .bind(&t.add_tag)
    .bind(t.canned_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

pub async fn delete_trigger(tx: &mut Tx, id: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM support_triggers WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// Gives the triggers positions 1, 2, … in this order.
pub async fn reorder_triggers(tx: &mut Tx, ids: &[i64]) -> sqlx::Result<()> {
    for (i, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE support_triggers SET position = $1 WHERE id = $2")
            .bind(i as i64 + 1)
            .bind(*id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn macros(db: &Db) -> sqlx::Result<Vec<super::automations::Macro>> {
    sqlx::query_as(
        "SELECT id, name, canned_id, status, assignee FROM support_macros ORDER BY name, id",
    )
    .fetch_all(&db.pool)
    .await
}

pub async fn macro_by_id(db: &Db, id: i64) -> sqlx::Result<Option<super::automations::Macro>> {
    sqlx::query_as("SELECT id, name, canned_id, status, assignee FROM support_macros WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await
}

pub async fn insert_macro(
    tx: &mut Tx,
    name: &str,
    canned_id: i64,
    status: &str,
    assignee: &str,
    now: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO support_macros (name, canned_id, status, assignee, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(canned_id)
    .bind(status)
    .bind(assignee)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

pub async fn delete_macro(tx: &mut Tx, id: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM support_macros WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

pub async fn teams(db: &Db) -> sqlx::Result<Vec<super::automations::Team>> {
    sqlx::query_as("SELECT id, name FROM support_teams ORDER BY name")
        .fetch_all(&db.pool)
        .await
}

/// `(team, staff)` of every membership.
pub async fn team_members(db: &Db) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as("SELECT team_id, staff_id FROM support_team_members ORDER BY team_id, staff_id")
        .fetch_all(&db.pool)
        .await
}

pub async fn insert_team(tx: &mut Tx, name: &str, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("INSERT INTO support_teams (name, created_at) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(now)
        .fetch_one(&mut **tx)
        .await
}

pub async fn add_member(tx: &mut Tx, team: i64, staff: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO support_team_members (team_id, staff_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(team)
    .bind(staff)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn remove_member(tx: &mut Tx, team: i64, staff: i64) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM support_team_members WHERE team_id = $1 AND staff_id = $2")
            .bind(team)
            .bind(staff)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}
