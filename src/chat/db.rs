//! The chat's SQL. Message bodies and visitor details arrive here sealed.

use crate::platform::{
    db::{Db, Tx, placeholders, trusted_sql, value_rows},
    now_ms,
};
use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// When the visitor confirmed the email by the link mailed to it.
    pub email_verified_at: Option<i64>,
    /// When the chat went unanswered (past the support setting) and the
    /// visitor was asked for an email to turn it into a ticket.
    pub unanswered_at: Option<i64>,
    /// The topic the visitor picked (one of the support form's products).
    pub topic: Option<String>,
    /// The team the chat is routed to.
    pub team_id: Option<i64>,
    /// The subject's wrapped key; `None` once erased.
    pub wrapped_key: Option<Vec<u8>>,
}

const COLUMNS: &str = "c.id, c.subject_id, c.created_at, c.updated_at, c.status, c.agent_id, \
     c.closed_at, c.last_seq, c.visitor_read_seq, c.staff_read_seq, c.ticket_reference, \
     c.name, c.email, c.page, c.email_verified_at, c.unanswered_at, c.topic, c.team_id, s.wrapped_key";

/// A new conversation's sealed details.
pub struct NewConversation<'a> {
    pub subject_id: i64,
    pub name: &'a [u8],
    pub email: Option<&'a [u8]>,
    pub page: Option<&'a [u8]>,
    pub topic: Option<&'a str>,
    pub created_at: i64,
}

pub async fn insert_conversation(tx: &mut Tx, new: &NewConversation<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO chat_conversations (subject_id, created_at, updated_at, status, name, email, page, topic) \
         VALUES ($1, $2, $2, 'waiting', $3, $4, $5, $6) RETURNING id",
    )
    .bind(new.subject_id)
    .bind(new.created_at)
    .bind(new.name)
    .bind(new.email)
    .bind(new.page)
    .bind(new.topic)
    .fetch_one(&mut **tx)
    .await
}

/// Routes a conversation to a team (or to none).
pub async fn set_team(tx: &mut Tx, id: i64, team: Option<i64>) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("UPDATE chat_conversations SET team_id = $1 WHERE id = $2")
            .bind(team)
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1,
    )
}

/// What the console's lists ask for: statuses, words (query hashes of the
/// chats' word index, every one required) and teams (`None`: any team).
#[derive(Default)]
pub struct ListFilter<'a> {
    pub statuses: &'a [&'a str],
    pub terms: Vec<i64>,
    pub teams: Option<Vec<i64>>,
}

/// Conversations matching `filter`, latest activity first, at most `limit`.
pub async fn list(
    db: &Db,
    filter: &ListFilter<'_>,
    limit: i64,
) -> sqlx::Result<Vec<ConversationRow>> {
    let mut conditions = vec![];
    let mut next = 1;
    if !filter.statuses.is_empty() && !filter.statuses.contains(&"all") {
        conditions.push(format!(
            "c.status IN ({})",
            placeholders(next, filter.statuses.len())
        ));
        next += filter.statuses.len();
    }
    if !filter.terms.is_empty() {
        conditions.push(super::search::WORDS.condition("c.id", next, filter.terms.len()));
        next += filter.terms.len();
    }
    if let Some(teams) = &filter.teams {
        if teams.is_empty() {
            conditions.push("1 = 0".into());
        } else {
            conditions.push(format!(
                "c.team_id IN ({})",
                placeholders(next, teams.len())
            ));
            next += teams.len();
        }
    }
    let condition = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM chat_conversations c JOIN subjects s ON s.id = c.subject_id \
         {condition} ORDER BY c.updated_at DESC, c.id DESC LIMIT ${next}"
    );
    let mut query = sqlx::query_as(trusted_sql(sql));
    if !filter.statuses.contains(&"all") {
        for status in filter.statuses {
            query = query.bind(*status);
        }
    }
    for term in &filter.terms {
        query = query.bind(*term);
    }
    for team in filter.teams.iter().flatten() {
        query = query.bind(*team);
    }
    query.bind(limit).fetch_all(&db.pool).await
}

/// Conversations with an id below `below`, newest first (the word index's backfill).
pub async fn conversations_below(
    db: &Db,
    below: i64,
    limit: i64,
) -> sqlx::Result<Vec<ConversationRow>> {
    sqlx::query_as(trusted_sql(format!(
        "SELECT {COLUMNS} FROM chat_conversations c JOIN subjects s ON s.id = c.subject_id \
         WHERE c.id < $1 ORDER BY c.id DESC LIMIT $2"
    )))
    .bind(below)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Marks the conversation's email as its owner's; false if it was already.
pub async fn verify_email(db: &Db, id: i64, now: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE chat_conversations SET email_verified_at = $1 \
         WHERE id = $2 AND email IS NOT NULL AND email_verified_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?
    .rows_affected()
        == 1)
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
/// Chats waiting for an agent to accept them (the sidebar's figure).
pub fn count_waiting<'a>(
    platform: &'a crate::platform::Platform,
    _: &'a crate::platform::context::StaffUser,
) -> futures_util::future::BoxFuture<'a, anyhow::Result<i64>> {
    Box::pin(async move {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM chat_conversations WHERE status = 'waiting'")
                .fetch_one(&platform.db.pool)
                .await?;
        Ok(n)
    })
}

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

/// The seqs already stored under any of these (conversation, client id)
/// pairs: messages a client sent again after a lost acknowledgement.
pub async fn seqs_of_client_ids(
    tx: &mut Tx,
    pairs: &[(i64, &str)],
) -> sqlx::Result<HashMap<(i64, String), i64>> {
    if pairs.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT conversation_id, client_id, seq FROM chat_messages \
         WHERE client_id IN ({}) AND conversation_id IN ({})",
        placeholders(1, pairs.len()),
        placeholders(pairs.len() + 1, pairs.len()),
    );
    let mut query = sqlx::query_as::<_, (i64, String, i64)>(trusted_sql(sql)).persistent(false);
    for (_, client_id) in pairs {
        query = query.bind(*client_id);
    }
    for (conversation, _) in pairs {
        query = query.bind(*conversation);
    }
    let wanted: HashSet<(i64, &str)> = pairs.iter().copied().collect();
    Ok(query
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .filter(|(c, id, _)| wanted.contains(&(*c, id.as_str())))
        .map(|(c, id, seq)| ((c, id), seq))
        .collect())
}

/// Takes `count` seqs from each open conversation in one statement; returns
/// the last seq taken from each and the conversation's start (closed or
/// missing ones are absent).
pub async fn take_seqs(
    tx: &mut Tx,
    counts: &BTreeMap<i64, i64>,
    now: i64,
) -> sqlx::Result<HashMap<i64, (i64, i64)>> {
    if counts.is_empty() {
        return Ok(HashMap::new());
    }
    let cases: String = (0..counts.len())
        .map(|i| format!(" WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2))
        .collect();
    let ids = (0..counts.len())
        .map(|i| format!("${}", 2 * i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE chat_conversations SET last_seq = last_seq + CASE id{cases} END, updated_at = ${} \
         WHERE id IN ({ids}) AND status <> 'closed' RETURNING id, last_seq, created_at",
        2 * counts.len() + 1
    );
    let mut query = sqlx::query_as::<_, (i64, i64, i64)>(trusted_sql(sql)).persistent(false);
    for (conversation, count) in counts {
        query = query.bind(*conversation).bind(*count);
    }
    Ok(query
        .bind(now)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|(id, last, created)| (id, (last, created)))
        .collect())
}

/// A message ready to store: its seq taken, its body sealed.
pub struct NewMessageRow<'a> {
    pub conversation: i64,
    pub subject_id: i64,
    pub seq: i64,
    pub sender: &'a str,
    pub staff_id: Option<i64>,
    pub client_id: Option<&'a str>,
    pub body: &'a [u8],
    pub created_at: i64,
}

/// Stores messages, many rows per statement.
pub async fn insert_messages(tx: &mut Tx, rows: &[NewMessageRow<'_>]) -> sqlx::Result<()> {
    // Eight binds a row: 100 rows stay far under either database's limit.
    for chunk in rows.chunks(100) {
        let sql = format!(
            "INSERT INTO chat_messages (conversation_id, subject_id, seq, sender, staff_id, client_id, created_at, body) \
             VALUES {}",
            value_rows(1, chunk.len(), 8)
        );
        let mut query = sqlx::query(trusted_sql(sql)).persistent(false);
        for m in chunk {
            query = query
                .bind(m.conversation)
                .bind(m.subject_id)
                .bind(m.seq)
                .bind(m.sender)
                .bind(m.staff_id)
                .bind(m.client_id)
                .bind(m.created_at)
                .bind(m.body);
        }
        query.execute(&mut **tx).await?;
    }
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

/// Marks the conversation a ticket; returns `(subject, started)` for
/// indexing the reference.
pub async fn set_ticket(
    tx: &mut Tx,
    conversation: i64,
    reference: &str,
) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query_as(
        "UPDATE chat_conversations SET ticket_reference = $2, status = 'closed', closed_at = $3, updated_at = $3 \
         WHERE id = $1 RETURNING subject_id, created_at",
    )
    .bind(conversation)
    .bind(reference)
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await
}

/// Waiting chats with a visitor message older than `cutoff` that nobody
/// answered and that are not yet a ticket or marked unanswered.
pub async fn unanswered(db: &Db, cutoff: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT c.id FROM chat_conversations c WHERE c.status = 'waiting' \
         AND c.ticket_reference IS NULL AND c.unanswered_at IS NULL \
         AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.conversation_id = c.id \
         AND m.sender = 'visitor' AND m.created_at <= $1) ORDER BY c.id LIMIT 100",
    )
    .bind(cutoff)
    .fetch_all(&db.pool)
    .await
}

/// Waiting chats nobody accepted whose visitor first wrote at or before
/// `cutoff` and whose agents were not told yet: `(id, first message at)`.
pub async fn waiting_unnotified(db: &Db, cutoff: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT c.id, MIN(m.created_at) FROM chat_conversations c \
         JOIN chat_messages m ON m.conversation_id = c.id AND m.sender = 'visitor' \
         WHERE c.status = 'waiting' AND c.waiting_notified_at IS NULL \
         AND c.unanswered_at IS NULL AND c.ticket_reference IS NULL \
         GROUP BY c.id HAVING MIN(m.created_at) <= $1 ORDER BY c.id LIMIT 100",
    )
    .bind(cutoff)
    .fetch_all(&db.pool)
    .await
}

/// Marks a waiting chat's agents told; false when another instance did, or
/// it is no longer waiting.
pub async fn mark_waiting_notified(tx: &mut Tx, id: i64, now: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE chat_conversations SET waiting_notified_at = $1 \
         WHERE id = $2 AND status = 'waiting' AND waiting_notified_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Marks a waiting chat unanswered; false when another instance did, or it
/// is no longer waiting.
pub async fn mark_unanswered(db: &Db, id: i64, now: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE chat_conversations SET unanswered_at = $1, updated_at = $1 \
         WHERE id = $2 AND status = 'waiting' AND unanswered_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?
    .rows_affected()
        == 1)
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

/// The team a chat is routed to, if any.
pub async fn team_of(tx: &mut Tx, conversation: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT team_id FROM chat_conversations WHERE id = $1")
        .bind(conversation)
        .fetch_optional(&mut **tx)
        .await
        .map(Option::flatten)
}
