//! Chat search over sealed text: the visitor's name, email and topic, every
//! message of the visitor and the agents, and the ticket a chat became are
//! in a blind word index (`chat_search_terms`, keyed hashes only), written
//! in the transaction that stores the text (the hub's writer for
//! messages). A search intersects the query's hashes in SQL with the
//! console's filters; only the chats shown are decrypted, for their line
//! and the matching words under it.

use super::{
    conversations::{self, Conversation},
    db,
};
use crate::{
    AppState,
    error::AppResult,
    platform::{
        Platform,
        crypto::Keyring,
        db::Tx,
        nav::SearchHit,
        search_index::{self, Record, WordIndex},
        templates::format_in_zone,
        words,
    },
    privacy::subjects::Subject,
};
use anyhow::Context;
use chrono_tz::Tz;

/// The chats' blind word index. Dated: each row carries its chat's start,
/// so the chats' retention deletes the words with the chat.
pub const WORDS: WordIndex = WordIndex {
    table: "chat_search_terms",
    kind: "chat",
    dated: true,
};

/// Words shown around a match.
const SNIPPET_WORDS: usize = 16;

/// The record a chat's words go to.
pub fn record(conversation: i64, subject_id: i64, started: i64) -> Record {
    Record {
        id: conversation,
        subject_id,
        created_at: started,
    }
}

/// Indexes texts of one chat (its start's details, a ticket reference), in
/// the caller's transaction.
pub async fn index(
    keyring: &Keyring,
    tx: &mut Tx,
    record: Record,
    texts: &[&str],
) -> anyhow::Result<()> {
    WORDS
        .add(tx, keyring, record, texts)
        .await
        .context("indexing a chat's words")?;
    Ok(())
}

/// The hashes a search text looks for; empty when it holds no searchable word.
pub fn query(keyring: &Keyring, q: &str) -> Vec<i64> {
    WORDS.query(keyring, q)
}

/// Chats indexed per transaction while building the index of old ones.
const BACKFILL_BATCH: i64 = 100;

/// Indexes the chats stored before the index existed, newest first, a
/// batch per transaction (the mark moves with each, so a restart goes on
/// where it stopped). Returns how many chats it indexed.
pub async fn backfill(state: &Platform) -> anyhow::Result<usize> {
    let mut below = search_index::backfill_mark(&state.db, "chats").await?;
    let mut done = 0;
    while below > 1 {
        let rows = db::conversations_below(&state.db, below, BACKFILL_BATCH).await?;
        let next = rows.iter().map(|r| r.id).min().unwrap_or(1);
        let mut tx = state.db.begin().await?;
        for row in rows {
            // Erased visitors have no key and nothing left to index.
            let Some(wrapped) = &row.wrapped_key else {
                continue;
            };
            let subject = Subject {
                id: row.subject_id,
                key: state.keyring.unwrap(row.subject_id, wrapped)?,
            };
            let mut texts = vec![subject.open("chat_conversations", "name", &row.name)?];
            if let Some(email) = &row.email {
                texts.push(subject.open("chat_conversations", "email", email)?);
            }
            texts.extend(row.topic.clone());
            texts.extend(row.ticket_reference.clone());
            for m in db::messages(&state.db, row.id, 0, i64::MAX).await? {
                if m.sender != "system" {
                    texts.push(subject.open("chat_messages", "body", &m.body)?);
                }
            }
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let record = record(row.id, row.subject_id, row.created_at);
            index(&state.keyring, &mut tx, record, &texts).await?;
            done += 1;
        }
        search_index::set_backfill_mark(&mut tx, "chats", next).await?;
        tx.commit().await?;
        below = next;
    }
    if done > 0 {
        tracing::info!(chats = done, "indexed the words of earlier chats");
    }
    Ok(done)
}

/// The first text of a chat holding a searched word: a message of the
/// visitor or an agent, in order, else its visitor's name, email, topic or
/// ticket. Decrypts this one chat only.
pub async fn matching_text(
    state: &AppState,
    c: &Conversation,
    terms: &[String],
) -> anyhow::Result<Option<String>> {
    let hit = |text: &str| words::raw_words(text).any(|w| words::word_matches(w, terms));
    for m in db::messages(&state.db, c.id(), 0, c.row.last_seq).await? {
        if m.sender == "system" {
            continue;
        }
        let body = c.subject.open("chat_messages", "body", &m.body)?;
        if hit(&body) {
            return Ok(Some(body));
        }
    }
    let fields = [
        Some(&c.name),
        Some(&c.email),
        c.row.topic.as_ref(),
        c.row.ticket_reference.as_ref(),
    ];
    Ok(fields.into_iter().flatten().find(|f| hit(f)).cloned())
}

/// The line under a found chat in the console: the matching words marked
/// (HTML-escaped by [`words::snippet`]).
pub async fn snippet(state: &AppState, c: &Conversation, q: &str) -> anyhow::Result<String> {
    let terms = words::query_terms(q);
    Ok(matching_text(state, c, &terms)
        .await?
        .map(|text| words::snippet(&text, &terms, SNIPPET_WORDS))
        .unwrap_or_default())
}

/// Chats matching `q` for the back office's global search: every word of
/// `q` must be in the chat's index, whatever its age. Latest activity
/// first, at most `limit`; only those are decrypted.
pub async fn for_staff(
    state: &AppState,
    q: &str,
    limit: usize,
    zone: Tz,
) -> AppResult<Vec<SearchHit>> {
    let hashes = query(&state.keyring, q);
    if hashes.is_empty() {
        return Ok(vec![]);
    }
    let filter = db::ListFilter {
        statuses: &["all"],
        terms: hashes,
        teams: None,
    };
    let terms = words::query_terms(q);
    let teams = crate::support::automations::teams(state).await?;
    let mut hits = vec![];
    for row in db::list(&state.db, &filter, limit as i64).await? {
        let Some(c) = conversations::decrypt(state, row)? else {
            continue;
        };
        let name = if c.name.is_empty() {
            "Visitor"
        } else {
            c.name.as_str()
        };
        let mut detail = vec![
            format!("started {}", format_in_zone(c.row.created_at, zone)),
            c.row.status.clone(),
        ];
        if let Some(team) = c
            .row
            .team_id
            .and_then(|t| teams.iter().find(|team| team.id == t))
        {
            detail.push(team.name.clone());
        }
        if let Some(text) = matching_text(state, &c, &terms).await? {
            detail.push(format!(
                "“{}”",
                words::excerpt(&text, &terms, SNIPPET_WORDS)
            ));
        }
        hits.push(SearchHit {
            title: format!("Chat with {name}"),
            detail: detail.join(" · "),
            href: format!("/admin/chat/{}", c.id()),
        });
    }
    Ok(hits)
}
