//! The chat's SQL. Message bodies and visitor details arrive here sealed.

use crate::platform::{
    db::{Db, Tx},
    now_ms,
};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: i64,
    pub subject_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub status: String,
    pub agent_id: Option<i64>,
    pub closed_at: Option<i64>,
    pub last_seq: i64,
    pub visitor_read_seq: i64,
    pub staff_read_seq: i64,
    pub ticket_reference: Option<String>,
    pub name: Vec<u8>,
    pub email: Option<Vec<u8>>,
    pub page: Option<Vec<u8>>,
    /// The subject's wrapped key; `None` once erased.
    pub wrapped_key: Option<Vec<u8>>,
}

const COLUMNS: &str = "c.id, c.subject_id, c.created_at, c.updated_at, c.status, c.agent_id, \
     c.closed_at, c.last_seq, c.visitor_read_seq, c.staff_read_seq, c.ticket_reference, \
     c.name, c.email, c.page, s.wrapped_key";

pub async fn insert_conversation(
    tx: &mut Tx,
    subject_id: i64,
    name: &[u8],
    email: Option<&[u8]>,
    page: Option<&[u8]>,
) -> sqlx::Result<i64> {
    let now = now_ms();
    sqlx::query_scalar(
        "INSERT INTO chat_conversations (subject_id, created_at, updated_at, status, name, email, page) \
         VALUES ($1, $2, $2, 'waiting', $3, $4, $5) RETURNING id",
    )
    .bind(subject_id)
    .bind(now)
    .bind(name)
    .bind(email)
    .bind(page)
    .fetch_one(&mut **tx)
    .await
}

pub async fn conversation(db: &Db, id: i64) -> sqlx::Result<Option<ConversationRow>> {
    sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {COLUMNS} FROM chat_conversations c JOIN subjects s ON s.id = c.subject_id WHERE c.id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// Conversations in these statuses, oldest activity first, at most `limit`.
pub async fn by_status(
    db: &Db,
    statuses: &[&str],
    limit: i64,
) -> sqlx::Result<Vec<ConversationRow>> {
    let all = statuses.contains(&"all");
    let list = statuses.join(",");
    sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {COLUMNS} FROM chat_conversations c JOIN subjects s ON s.id = c.subject_id \
         WHERE $1 = 1 OR ',' || $2 || ',' LIKE '%,' || c.status || ',%' \
         ORDER BY c.updated_at DESC, c.id DESC LIMIT $3"
    )))
    .bind(i64::from(all))
    .bind(list)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

pub async fn by_subject(db: &Db, subject_id: i64) -> sqlx::Result<Vec<ConversationRow>> {
    sqlx::query_as(crate::platform::db::trusted_sql(format!(
        "SELECT {COLUMNS} FROM chat_conversations c JOIN subjects s ON s.id = c.subject_id \
         WHERE c.subject_id = $1 ORDER BY c.id DESC LIMIT 50"
    )))
    .bind(subject_id)
    .fetch_all(&db.pool)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub seq: i64,
    pub sender: String,
    pub staff_id: Option<i64>,
    pub created_at: i64,
    pub body: Vec<u8>,
}

/// Messages with `after < seq <= upto`, in order.
pub async fn messages(
    db: &Db,
    conversation: i64,
    after: i64,
    upto: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(
        "SELECT seq, sender, staff_id, created_at, body FROM chat_messages \
         WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
    )
    .bind(conversation)
    .bind(after)
    .bind(upto)
    .fetch_all(&db.pool)
    .await
}

/// The seq of a message already stored under this client id.
pub async fn seq_of_client_id(
    tx: &mut Tx,
    conversation: i64,
    client_id: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT seq FROM chat_messages WHERE conversation_id = $1 AND client_id = $2",
    )
    .bind(conversation)
    .bind(client_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Takes the next seq of an open conversation; `None` when it is closed or gone.
pub async fn next_seq(tx: &mut Tx, conversation: i64, now: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "UPDATE chat_conversations SET last_seq = last_seq + 1, updated_at = $2 \
         WHERE id = $1 AND status <> 'closed' RETURNING last_seq",
    )
    .bind(conversation)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_message(
    tx: &mut Tx,
    conversation: i64,
    subject_id: i64,
    seq: i64,
    sender: &str,
    staff_id: Option<i64>,
    client_id: Option<&str>,
    body: &[u8],
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO chat_messages (conversation_id, subject_id, seq, sender, staff_id, client_id, created_at, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(conversation)
    .bind(subject_id)
    .bind(seq)
    .bind(sender)
    .bind(staff_id)
    .bind(client_id)
    .bind(now)
    .bind(body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Raises the read mark of one side (`visitor` or `staff`); returns the mark.
pub async fn mark_read(db: &Db, conversation: i64, by_staff: bool, seq: i64) -> sqlx::Result<i64> {
    let sql = if by_staff {
        "UPDATE chat_conversations SET staff_read_seq = CASE WHEN staff_read_seq < $2 AND $2 <= last_seq THEN $2 ELSE staff_read_seq END \
         WHERE id = $1 RETURNING staff_read_seq"
    } else {
        "UPDATE chat_conversations SET visitor_read_seq = CASE WHEN visitor_read_seq < $2 AND $2 <= last_seq THEN $2 ELSE visitor_read_seq END \
         WHERE id = $1 RETURNING visitor_read_seq"
    };
    Ok(sqlx::query_scalar(sql)
        .bind(conversation)
        .bind(seq)
        .fetch_optional(&db.pool)
        .await?
        .unwrap_or(0))
}

pub async fn set_page(db: &Db, conversation: i64, page: &[u8]) -> sqlx::Result<()> {
    sqlx::query("UPDATE chat_conversations SET page = $2 WHERE id = $1")
        .bind(conversation)
        .bind(page)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Moves a conversation to `status` with `agent`; `from` limits the move to
/// conversations currently in one of those statuses (comma-separated).
pub async fn set_state(
    tx: &mut Tx,
    conversation: i64,
    status: &str,
    agent: Option<i64>,
    from: &str,
) -> sqlx::Result<bool> {
    let now = now_ms();
    let closed = if status == "closed" { Some(now) } else { None };
    Ok(sqlx::query(
        "UPDATE chat_conversations SET status = $2, agent_id = $3, updated_at = $4, closed_at = $5 \
         WHERE id = $1 AND ',' || $6 || ',' LIKE '%,' || status || ',%'",
    )
    .bind(conversation)
    .bind(status)
    .bind(agent)
    .bind(now)
    .bind(closed)
    .bind(from)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

pub async fn set_ticket(tx: &mut Tx, conversation: i64, reference: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE chat_conversations SET ticket_reference = $2, status = 'closed', closed_at = $3, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(conversation)
    .bind(reference)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn presence_upsert(
    db: &Db,
    connection: &str,
    staff_id: i64,
    status: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO chat_presence (connection_id, staff_id, status, seen_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (connection_id) DO UPDATE SET status = excluded.status, seen_at = excluded.seen_at",
    )
    .bind(connection)
    .bind(staff_id)
    .bind(status)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn presence_touch(db: &Db, connection: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE chat_presence SET seen_at = $2 WHERE connection_id = $1")
        .bind(connection)
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn presence_remove(db: &Db, connection: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM chat_presence WHERE connection_id = $1")
        .bind(connection)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Staff with a console open and `online`, seen since `since`.
pub async fn agents_online(db: &Db, since: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT DISTINCT staff_id FROM chat_presence WHERE status = 'online' AND seen_at >= $1 ORDER BY staff_id",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await
}
