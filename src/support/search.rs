//! Tickets for the back office's global search: the inbox's own search
//! (personal fields are sealed, so the newest tickets are opened and matched
//! in memory), widened to the words of each ticket's messages.

use super::{TicketRef, admin::SEARCH_WINDOW, db, tickets::Ticket};
use crate::{AppState, error::AppResult, platform::nav::SearchHit, privacy::subjects::Subject};
use std::collections::HashMap;

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

/// Tickets matching `q` (lower-cased): a whole reference finds its ticket
/// whatever its age; otherwise every word must be in the reference, the
/// requester's name or email, the subject, the product or a message, among
/// the newest [`SEARCH_WINDOW`] tickets. Newest first, at most `limit`.
pub async fn for_staff(state: &AppState, q: &str, limit: usize) -> AppResult<Vec<SearchHit>> {
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
