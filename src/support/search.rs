//! Ticket search over sealed text: every ticket's reference, requester
//! name, email and phone, subject, product and every message, reply and
//! note is in a blind word index (`ticket_search_terms`, keyed hashes
//! only), written in the transaction that stores the text. A search
//! intersects the query's hashes in SQL with the inbox's filters and order,
//! and only the tickets shown are decrypted. Notes are searchable because
//! only staff search tickets; the visitor never sees a search of them.

use super::{TicketRef, db, tickets::Ticket};
use crate::{
    AppState,
    error::AppResult,
    platform::{
        Platform,
        db::Tx,
        nav::SearchHit,
        search_index::{self, Record, WordIndex},
        state::Correction,
        words,
    },
    privacy::subjects::Subject,
};
use anyhow::Context;
use futures_util::future::BoxFuture;

/// The tickets' blind word index.
pub const WORDS: WordIndex = WordIndex {
    table: "ticket_search_terms",
    kind: "ticket",
    dated: false,
};

/// The searchable fields of a ticket as it was stored (before decryption).
pub struct Fields<'a> {
    pub reference: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub phone: Option<&'a str>,
    pub phone_e164: Option<&'a str>,
    pub product: &'a str,
    pub product_other: Option<&'a str>,
    pub title: &'a str,
}

impl Fields<'_> {
    fn texts(&self) -> Vec<&str> {
        let mut texts = vec![
            self.reference,
            self.name,
            self.email,
            self.product,
            self.title,
        ];
        texts.extend(self.phone);
        texts.extend(self.phone_e164);
        texts.extend(self.product_other);
        texts
    }
}

/// Indexes a new ticket's fields and first message, in its transaction.
pub async fn index_ticket(
    state: &Platform,
    tx: &mut Tx,
    id: i64,
    subject_id: i64,
    fields: &Fields<'_>,
    body: &str,
) -> anyhow::Result<()> {
    let mut texts = fields.texts();
    texts.push(body);
    WORDS
        .add(tx, &state.keyring, Record::new(id, subject_id), &texts)
        .await
        .context("indexing a ticket's words")?;
    Ok(())
}

/// Indexes one more message (reply, note or the visitor's answer).
pub async fn index_message(
    state: &Platform,
    tx: &mut Tx,
    ticket_id: i64,
    subject_id: i64,
    body: &str,
) -> anyhow::Result<()> {
    WORDS
        .add(
            tx,
            &state.keyring,
            Record::new(ticket_id, subject_id),
            &[body],
        )
        .await
        .context("indexing a message's words")?;
    Ok(())
}

/// The hashes a search text looks for; empty when it holds no searchable word.
pub fn query(state: &Platform, q: &str) -> Vec<i64> {
    WORDS.query(&state.keyring, q)
}

/// A corrected ticket field (my-data) is found by its new words too.
pub fn field_corrected<'a>(
    state: &'a Platform,
    tx: &'a mut Tx,
    change: &'a Correction<'a>,
) -> BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        if change.table == "tickets" {
            WORDS
                .add(
                    tx,
                    &state.keyring,
                    Record::new(change.row_id, change.subject.id),
                    &[change.value],
                )
                .await?;
        }
        Ok(())
    })
}

/// The inbox line under a found ticket: its first message (notes
/// included) holding a searched word, or else its subject, marked.
pub async fn snippet(
    state: &AppState,
    ticket: &Ticket,
    subject: &Subject,
    q: &str,
) -> AppResult<String> {
    let terms = words::query_terms(q);
    for m in db::messages(&state.db, ticket.id, true).await? {
        let body = subject.open("ticket_messages", "body", &m.body)?;
        let found = words::snippet(&body, &terms, 16);
        if !found.is_empty() {
            return Ok(found);
        }
    }
    for field in [&ticket.title, &ticket.name, &ticket.email, &ticket.phone] {
        let found = words::snippet(field, &terms, 16);
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(String::new())
}

fn hit(ticket: &Ticket) -> SearchHit {
    let requester = match (ticket.name.is_empty(), ticket.email.is_empty()) {
        (false, false) => format!("{} <{}>", ticket.name, ticket.email),
        (false, true) => ticket.name.clone(),
        _ => ticket.email.clone(),
    };
    SearchHit {
        title: format!("{} · {}", ticket.reference, ticket.title),
        detail: format!("{requester} · {}", ticket.status),
        href: format!("/admin/tickets/{}", ticket.id),
    }
}

/// Tickets matching `q` for the back office's global search: a whole
/// reference finds its ticket; otherwise every word of `q` must be in the
/// ticket's index, whatever its age. Newest first, at most `limit`.
pub async fn for_staff(state: &AppState, q: &str, limit: usize) -> AppResult<Vec<SearchHit>> {
    if let Ok(reference) = q.parse::<TicketRef>() {
        let found = match db::ticket_by_reference(&state.db, reference.as_str()).await? {
            Some(row) => Ticket::open(state, row)?.map(|(t, _)| hit(&t)),
            None => None,
        };
        return Ok(found.into_iter().collect());
    }
    let terms = query(state, q);
    if terms.is_empty() {
        return Ok(vec![]);
    }
    let filter = db::InboxFilter {
        status: "all".into(),
        terms,
        ..db::InboxFilter::default()
    };
    let mut hits = vec![];
    for row in db::list(&state.db, &filter, limit as i64).await? {
        if let Some((ticket, _)) = Ticket::open(state, row)? {
            hits.push(hit(&ticket));
        }
    }
    Ok(hits)
}

/// The search before the word index, kept for the bench to compare with:
/// decrypts the newest [`super::admin::SEARCH_WINDOW`] tickets and their
/// messages and matches `q` (lower-cased) in memory.
pub async fn scan_newest(state: &AppState, q: &str, limit: usize) -> AppResult<Vec<SearchHit>> {
    use super::admin::SEARCH_WINDOW;
    use std::collections::HashMap;
    if let Ok(reference) = q.parse::<TicketRef>() {
        let found = match db::ticket_by_reference(&state.db, reference.as_str()).await? {
            Some(row) => Ticket::open(state, row)?.map(|(t, _)| hit(&t)),
            None => None,
        };
        return Ok(found.into_iter().collect());
    }
    let words: Vec<&str> = q.split_whitespace().collect();
    if words.is_empty() {
        return Ok(vec![]);
    }
    let filter = db::InboxFilter {
        status: "all".into(),
        ..db::InboxFilter::default()
    };
    let mut opened = vec![];
    for row in db::list(&state.db, &filter, SEARCH_WINDOW).await? {
        if let Some(pair) = Ticket::open(state, row)? {
            opened.push(pair);
        }
    }
    // The words each ticket's own fields lack; its messages may hold them.
    let missing: Vec<Vec<&str>> = opened
        .iter()
        .map(|(ticket, _)| {
            words
                .iter()
                .copied()
                .filter(|w| !ticket.matches(w))
                .collect()
        })
        .collect();
    let mut bodies: HashMap<i64, String> = HashMap::new();
    if missing.iter().any(|m| !m.is_empty()) {
        let keys: HashMap<i64, &Subject> = opened.iter().map(|(t, s)| (t.id, s)).collect();
        for (ticket_id, body) in db::window_messages(&state.db, SEARCH_WINDOW).await? {
            if let Some(subject) = keys.get(&ticket_id) {
                let text = subject.open("ticket_messages", "body", &body)?;
                let all = bodies.entry(ticket_id).or_default();
                all.push('\n');
                all.push_str(&text.to_lowercase());
            }
        }
    }
    let mut hits = vec![];
    for ((ticket, _), lacking) in opened.iter().zip(&missing) {
        let text = bodies
            .get(&ticket.id)
            .map(String::as_str)
            .unwrap_or_default();
        if lacking.iter().all(|w| text.contains(*w)) {
            hits.push(hit(ticket));
            if hits.len() >= limit {
                break;
            }
        }
    }
    Ok(hits)
}

/// Tickets indexed per transaction while building the index of old ones.
const BACKFILL_BATCH: i64 = 200;

/// Indexes the tickets stored before the index existed, newest first, a
/// batch per transaction (the mark moves with each, so a restart goes on
/// where it stopped). Returns how many tickets it indexed.
pub async fn backfill(state: &Platform) -> anyhow::Result<usize> {
    let mut below = search_index::backfill_mark(&state.db, "tickets").await?;
    let mut done = 0;
    while below > 1 {
        let rows = db::tickets_below(&state.db, below, BACKFILL_BATCH).await?;
        let mut tx = state.db.begin().await?;
        let next = rows.iter().map(|r| r.id).min().unwrap_or(1);
        for row in rows {
            // Erased requesters have no key and nothing left to index.
            let Some(wrapped) = &row.wrapped_key else {
                continue;
            };
            let subject = Subject {
                id: row.subject_id,
                key: state.keyring.unwrap(row.subject_id, wrapped)?,
            };
            let open = |column: &str, v: &[u8]| subject.open("tickets", column, v);
            let maybe = |column: &str, v: &Option<Vec<u8>>| {
                v.as_deref().map(|v| open(column, v)).transpose()
            };
            let (name, email, title) = (
                open("name", &row.name)?,
                open("email", &row.email)?,
                open("title", &row.title)?,
            );
            let (phone, phone_e164, other) = (
                maybe("phone", &row.phone)?,
                maybe("phone_e164", &row.phone_e164)?,
                maybe("product_other", &row.product_other)?,
            );
            let fields = Fields {
                reference: row.reference.as_deref().unwrap_or_default(),
                name: &name,
                email: &email,
                phone: phone.as_deref(),
                phone_e164: phone_e164.as_deref(),
                product: &row.product,
                product_other: other.as_deref(),
                title: &title,
            };
            let mut texts: Vec<String> = fields.texts().into_iter().map(String::from).collect();
            for m in db::messages(&state.db, row.id, true).await? {
                texts.push(subject.open("ticket_messages", "body", &m.body)?);
            }
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            WORDS
                .add(
                    &mut tx,
                    &state.keyring,
                    Record::new(row.id, row.subject_id),
                    &texts,
                )
                .await?;
            done += 1;
        }
        search_index::set_backfill_mark(&mut tx, "tickets", next).await?;
        tx.commit().await?;
        below = next;
    }
    if done > 0 {
        tracing::info!(tickets = done, "indexed the words of earlier tickets");
    }
    Ok(done)
}
