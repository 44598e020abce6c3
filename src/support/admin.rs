//! The staff helpdesk: inbox, ticket page and its actions, canned replies
//! and settings. Every view of personal data and every change is audited.

use super::{
    TicketRef, db,
    settings::{self, FIELDS as SETTING_FIELDS, SupportSettings},
    sla::{Sla, SlaFilter, Timeline},
    tickets::{self, Message, STATUSES, Ticket},
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        forms::{FieldErrors, Form, text},
        now_ms,
        templates::{Page, render, render_with},
    },
    privacy::subjects::Subject,
    staff::{
        Admin, Agent, Staff, StaffUser,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use std::collections::HashMap;

/// Rows the search before the word index decrypted in memory (the bench
/// compares with it).
pub const SEARCH_WINDOW: i64 = 500;
const PAGE_SIZE: usize = 100;

/// Records a staff action in its own transaction (views have no other write).
pub async fn audit_alone(
    state: &AppState,
    staff: &StaffUser,
    action: &str,
    kind: &str,
    id: impl ToString,
    detail: &str,
) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    audit::record(&mut tx, Actor::Staff(staff), action, kind, id, detail).await?;
    tx.commit().await?;
    Ok(())
}

/// Agents and admins who can be assigned tickets: `(id, name)`.
pub async fn assignable(state: &AppState) -> AppResult<Vec<(i64, String)>> {
    Ok(crate::staff::db::active_agents(&state.db).await?)
}

#[derive(Deserialize, Default, Clone)]
pub struct InboxQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub assignee: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub tag: String,
    /// `nearing` or `breached` (see `sla`), or empty for any.
    #[serde(default)]
    pub sla: String,
}

/// The inbox's filters as the database takes them (the API's too): a
/// reference typed in `q` looks it up whatever the status; `me` is `user`.
pub fn inbox_filter(query: &InboxQuery, user: &StaffUser) -> AppResult<db::InboxFilter> {
    let by_reference = query.q.parse::<TicketRef>().ok();
    Ok(db::InboxFilter {
        status: if by_reference.is_some() {
            "all".into()
        } else {
            query.status.clone()
        },
        assignee: match query.assignee.as_str() {
            "" => None,
            "none" => Some(None),
            "me" => Some(Some(user.id)),
            id => Some(Some(id.parse().map_err(|_| {
                AppError::BadRequest("Unknown assignee filter.".into())
            })?)),
        },
        product: query.product.clone(),
        reference: by_reference.map(|r| r.to_string()).unwrap_or_default(),
        sort: query.sort.clone(),
        after: None,
        priority: match query.priority.as_str() {
            "" => String::new(),
            p => p
                .parse::<super::labels::Priority>()
                .map_err(|e| AppError::BadRequest(e.into()))?
                .as_str()
                .into(),
        },
        tag: query.tag.trim().to_string(),
        terms: vec![],
        sla: None,
    })
}

pub struct InboxRow {
    pub ticket: Ticket,
    pub sla: Sla,
    pub assignee: String,
    /// Where a searched word was found (HTML, escaped, matches marked).
    pub snippet: String,
    pub tags: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "support/inbox.html")]
struct InboxPage {
    page: Page,
    query: InboxQuery,
    rows: Vec<InboxRow>,
    staff: Vec<(i64, String)>,
    products: Vec<String>,
    counts: Vec<(String, i64)>,
    statuses: [&'static str; 4],
    priorities: [&'static str; 4],
    tags: Vec<String>,
    truncated: bool,
    /// Why the search text finds nothing, when it cannot.
    problem: String,
}

pub async fn list_tickets(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Query(mut query): Query<InboxQuery>,
) -> AppResult<Response> {
    if query.status.is_empty() {
        query.status = "active".into();
    }
    let settings = settings::load(&state.db).await?;
    let q = query.q.trim().to_lowercase();
    let filter = inbox_filter(&query, &user)?;
    let searching = !q.is_empty() && filter.reference.is_empty();
    let mut filter = filter;
    let mut problem = String::new();
    if searching {
        filter.terms = super::search::query(&state, &q);
        if filter.terms.is_empty() {
            problem = "Search for words of two letters or more (very common words such as \"the\" are not indexed), or a whole reference.".into();
        }
    }
    let now = state.clock.now();
    let zone = state.site().time_zone;
    let sla_filter = query
        .sla
        .parse::<SlaFilter>()
        .map_err(|e| AppError::BadRequest(e.into()))?;
    filter.sla = sla_filter.windows(now, &settings, zone);
    let mut rows = vec![];
    let staff = assignable(&state).await?;
    let names: HashMap<i64, String> = staff.iter().cloned().collect();
    let found = if problem.is_empty() {
        db::list(&state.db, &filter, PAGE_SIZE as i64 + 1).await?
    } else {
        vec![]
    };
    for row in found {
        // The database picked the SLA filter's tickets by their clocks'
        // starts; the arithmetic says the same (`sla` tests it).
        let sla = Sla::of(&Timeline::of_row(&row), now, &settings, zone);
        if !sla.is(sla_filter) {
            continue;
        }
        let Some((ticket, subject)) = Ticket::open(&state, row)? else {
            continue;
        };
        // Only the rows shown are opened further, for their matching line.
        let snippet = if searching && rows.len() < PAGE_SIZE {
            super::search::snippet(&state, &ticket, &subject, &q).await?
        } else {
            String::new()
        };
        rows.push(InboxRow {
            sla,
            assignee: ticket
                .assignee_id
                .map(|id| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")))
                .unwrap_or_default(),
            snippet,
            tags: vec![],
            ticket,
        });
    }
    let truncated = rows.len() > PAGE_SIZE;
    rows.truncate(PAGE_SIZE);
    if query.sort == "waiting" {
        // Nearest deadline first among those waiting for an answer.
        rows.sort_by_key(|r| r.sla.urgency());
    }
    let shown: Vec<i64> = rows.iter().map(|r| r.ticket.id).collect();
    for (id, tag) in db::tags_of(&state.db, &shown).await? {
        if let Some(row) = rows.iter_mut().find(|r| r.ticket.id == id) {
            row.tags.push(tag);
        }
    }
    let ids: Vec<String> = rows.iter().map(|r| r.ticket.id.to_string()).collect();
    // The search text may itself be personal data: only that a search ran is logged.
    let detail = format!(
        "{} tickets shown{}: {}",
        rows.len(),
        if q.is_empty() { "" } else { " (text search)" },
        ids.join(",")
    );
    audit_alone(&state, &user, "list-tickets", "ticket", "", &detail).await?;
    render(&InboxPage {
        page: page.titled("Tickets"),
        query,
        rows,
        staff,
        products: settings.products.clone(),
        counts: db::status_counts(&state.db).await?,
        statuses: STATUSES,
        priorities: super::labels::PRIORITIES,
        tags: db::all_tags(&state.db).await?,
        truncated,
        problem,
    })
}

/// What the composer and the side panel show again: what was typed.
#[derive(Default)]
struct Drafts {
    body: String,
    /// `note` for an internal note, else a reply.
    mode: String,
    reply_status: String,
    merge_into: String,
    errors: FieldErrors,
}

impl Drafts {
    fn note(&self) -> bool {
        self.mode == "note"
    }
}

#[derive(askama::Template)]
#[template(path = "support/ticket.html")]
struct TicketPage {
    page: Page,
    ticket: Ticket,
    messages: Vec<Message>,
    sla: Sla,
    staff: Vec<(i64, String)>,
    /// Canned replies with the ticket's placeholders filled in.
    canned: Vec<db::CannedReply>,
    statuses: [&'static str; 4],
    merged_into: String,
    conversation_link: String,
    drafts: Drafts,
    csat: Option<super::csat::CsatView>,
    tags: Vec<String>,
    priorities: [&'static str; 4],
    teams: Vec<super::automations::Team>,
    macros: Vec<super::automations::Macro>,
}

/// Loads and decrypts a ticket for staff, or 404 (also once its requester
/// was erased).
pub async fn load(state: &AppState, id: i64) -> AppResult<(Ticket, Subject)> {
    let row = db::ticket(&state.db, id).await?.ok_or(AppError::NotFound)?;
    Ticket::open(state, row)?.ok_or(AppError::NotFound)
}

async fn ticket_page(
    state: &AppState,
    page: Page,
    ticket: Ticket,
    subject: &Subject,
    drafts: Drafts,
) -> AppResult<Response> {
    let viewer = page.staff.clone();
    let settings = settings::load(&state.db).await?;
    let staff = assignable(state).await?;
    let names: HashMap<i64, String> = crate::support::public::staff_names(state).await?;
    let name_of = |id: Option<i64>| {
        id.and_then(|id| names.get(&id).cloned())
            .unwrap_or_else(|| "staff".into())
    };
    let messages = tickets::conversation(state, &ticket, subject, true, &name_of).await?;
    let merged_into = match ticket.merged_into {
        Some(target) => db::ticket(&state.db, target)
            .await?
            .and_then(|t| t.reference)
            .unwrap_or_default(),
        None => String::new(),
    };
    let status = drafts.errors.status();
    let csat = super::csat::for_ticket(state, ticket.id, subject).await?;
    let canned = db::canned_replies(&state.db)
        .await?
        .into_iter()
        .map(|c| db::CannedReply {
            body: match &viewer {
                Some(v) => fill_canned(&c.body, &ticket, v),
                None => c.body.clone(),
            },
            ..c
        })
        .collect();
    let tags = db::tags_of(&state.db, &[ticket.id])
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let body = TicketPage {
        teams: db::teams(&state.db).await?,
        macros: db::macros(&state.db).await?,
        tags,
        priorities: super::labels::PRIORITIES,
        csat,
        page: page.titled(format!("{} · {}", ticket.reference, ticket.title)),
        sla: Sla::of_ticket(
            &ticket,
            state.clock.now(),
            &settings,
            state.site().time_zone,
        ),
        conversation_link: tickets::conversation_path(state, ticket.id, &ticket.link_nonce),
        ticket,
        messages,
        staff,
        canned,
        statuses: STATUSES,
        merged_into,
        drafts,
    };
    render_with(status, &body)
}

#[derive(Deserialize, Default)]
pub struct TicketQuery {
    #[serde(default)]
    canned: String,
}

pub async fn show_ticket(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Query(query): Query<TicketQuery>,
) -> AppResult<Response> {
    let (ticket, subject) = load(&state, id).await?;
    audit_alone(
        &state,
        &user,
        "view-ticket",
        "ticket",
        id,
        &ticket.reference,
    )
    .await?;
    let mut drafts = Drafts::default();
    // Without JavaScript, choosing a canned reply reloads the page with it filled in.
    if let Ok(canned_id) = query.canned.parse::<i64>()
        && let Some(c) = db::canned_replies(&state.db)
            .await?
            .into_iter()
            .find(|c| c.id == canned_id)
    {
        drafts.body = fill_canned(&c.body, &ticket, &user);
    }
    ticket_page(&state, page, ticket, &subject, drafts).await
}

/// Fills `{name}`, `{reference}` and `{agent}` in a canned reply.
pub fn fill_canned(body: &str, ticket: &Ticket, staff: &StaffUser) -> String {
    body.replace("{name}", &ticket.name)
        .replace("{reference}", &ticket.reference)
        .replace("{agent}", &staff.display_name)
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    status: String,
}

pub async fn reply_to_ticket(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<ReplyForm>,
) -> AppResult<Response> {
    let (ticket, subject) = load(&state, id).await?;
    send_reply(
        &state,
        page,
        &user,
        ticket,
        &subject,
        form.body,
        form.status,
    )
    .await
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    body: String,
}

pub async fn add_note(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<NoteForm>,
) -> AppResult<Response> {
    let (ticket, subject) = load(&state, id).await?;
    save_note(&state, page, &user, ticket, &subject, form.body).await
}

/// The ticket page's one composer: a reply or an internal note, and,
/// without JavaScript, the "Insert" of a canned reply (the page comes back
/// with the text added after what was typed).
#[derive(Deserialize)]
pub struct ComposeForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    canned: String,
    /// Present when the "Insert" button sent the form.
    #[serde(default)]
    insert: String,
}

pub async fn compose(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<ComposeForm>,
) -> AppResult<Response> {
    let (ticket, subject) = load(&state, id).await?;
    if !matches!(form.mode.as_str(), "" | "reply" | "note") {
        return Err(AppError::BadRequest(
            "Please choose a reply or an internal note.".into(),
        ));
    }
    if !form.insert.is_empty() {
        let mut drafts = Drafts {
            body: form.body,
            mode: form.mode,
            reply_status: form.status,
            ..Drafts::default()
        };
        let chosen = match form.canned.parse::<i64>() {
            Ok(canned_id) => db::canned_replies(&state.db)
                .await?
                .into_iter()
                .find(|c| c.id == canned_id),
            Err(_) => None,
        };
        match chosen {
            Some(c) => {
                let text = fill_canned(&c.body, &ticket, &user);
                if !drafts.body.trim().is_empty() {
                    drafts.body = format!("{}\n\n", drafts.body.trim_end());
                }
                drafts.body.push_str(&text);
            }
            None => drafts
                .errors
                .add("canned", "Please choose one of the canned replies."),
        }
        return ticket_page(&state, page, ticket, &subject, drafts).await;
    }
    if form.mode == "note" {
        save_note(&state, page, &user, ticket, &subject, form.body).await
    } else {
        send_reply(
            &state,
            page,
            &user,
            ticket,
            &subject,
            form.body,
            form.status,
        )
        .await
    }
}

/// Mails a reply to the requester (through the outbox) and sets the status.
async fn send_reply(
    state: &AppState,
    page: Page,
    user: &StaffUser,
    ticket: Ticket,
    subject: &Subject,
    typed: String,
    wanted_status: String,
) -> AppResult<Response> {
    let id = ticket.id;
    let status = reply_status(&wanted_status)
        .ok_or_else(|| AppError::BadRequest("Unknown status.".into()))?;
    let body = match reply_body(&ticket, &typed) {
        Ok(body) => body,
        Err(errors) => {
            let drafts = Drafts {
                body: typed,
                mode: "reply".into(),
                reply_status: wanted_status,
                errors,
                ..Drafts::default()
            };
            return ticket_page(state, page, ticket, subject, drafts).await;
        }
    };
    store_reply(state, user, &ticket, subject, &body, status).await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

/// The status a reply leaves the ticket in: `pending` (waiting for the
/// requester) unless one of [`STATUSES`] is asked for.
pub fn reply_status(wanted: &str) -> Option<&'static str> {
    if wanted.is_empty() {
        return Some("pending");
    }
    STATUSES.into_iter().find(|s| *s == wanted)
}

/// A reply's text, or what is wrong with it (field `body`).
pub fn reply_body(ticket: &Ticket, typed: &str) -> Result<String, FieldErrors> {
    let mut errors = FieldErrors::default();
    if ticket.merged_into.is_some() {
        errors.add(
            "body",
            "This ticket was merged; answer in the ticket it was merged into.",
        );
    }
    match text(typed, 20_000) {
        Ok(Some(b)) if errors.is_empty() => return Ok(b),
        Ok(Some(_)) => {}
        Ok(None) => errors.add("body", "Please write the reply first."),
        Err(e) => errors.add("body", e),
    }
    Err(errors)
}

/// Stores and mails a checked reply, moves the ticket to `status` (asking
/// for a rating when that solves it) and audits it, in one transaction.
pub async fn store_reply(
    state: &AppState,
    user: &StaffUser,
    ticket: &Ticket,
    subject: &Subject,
    body: &str,
    status: &str,
) -> AppResult<i64> {
    let mut tx = state.db.begin().await?;
    let message_id = tickets::reply(state, &mut tx, ticket, subject, user, body, status).await?;
    if status == "solved" && ticket.status != "solved" {
        let agent = ticket.assignee_id.or(Some(user.id));
        super::csat::request_on_solve(state, &mut tx, ticket, subject, agent).await?;
    }
    audit::record(
        &mut tx,
        Actor::Staff(user),
        "reply",
        "ticket",
        ticket.id,
        &format!("message {message_id}, status {status}"),
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(message_id)
}

/// Keeps a note for colleagues: never mailed, never shown to the requester.
async fn save_note(
    state: &AppState,
    page: Page,
    user: &StaffUser,
    ticket: Ticket,
    subject: &Subject,
    typed: String,
) -> AppResult<Response> {
    let id = ticket.id;
    let body = match note_body(&typed) {
        Ok(b) => b,
        Err(errors) => {
            let drafts = Drafts {
                body: typed,
                mode: "note".into(),
                errors,
                ..Drafts::default()
            };
            return ticket_page(state, page, ticket, subject, drafts).await;
        }
    };
    store_note(state, user, &ticket, subject, &body).await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

/// A note's text, or what is wrong with it (field `body`).
pub fn note_body(typed: &str) -> Result<String, FieldErrors> {
    let mut errors = FieldErrors::default();
    match text(typed, 20_000) {
        Ok(Some(b)) => return Ok(b),
        Ok(None) => errors.add("body", "Please write the note first."),
        Err(e) => errors.add("body", e),
    }
    Err(errors)
}

/// Stores a checked note and audits it.
pub async fn store_note(
    state: &AppState,
    user: &StaffUser,
    ticket: &Ticket,
    subject: &Subject,
    body: &str,
) -> AppResult<i64> {
    let mut tx = state.db.begin().await?;
    let note_id = tickets::note(state, &mut tx, ticket, subject, user.id, body).await?;
    audit::record(
        &mut tx,
        Actor::Staff(user),
        "note",
        "ticket",
        ticket.id,
        &format!("message {note_id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(note_id)
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    assignee: String,
}

pub async fn assign_ticket(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<AssignForm>,
) -> AppResult<Response> {
    let (ticket, _) = load(&state, id).await?;
    assign(&state, &user, &ticket, &form.assignee).await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

/// Assigns the ticket to `wanted` (a staff id, `me`, or empty/`none` for
/// nobody) and audits it; the assignee.
pub async fn assign(
    state: &AppState,
    user: &StaffUser,
    ticket: &Ticket,
    wanted: &str,
) -> AppResult<Option<i64>> {
    let id = ticket.id;
    let assignee = match wanted {
        "" | "none" => None,
        "me" => Some(user.id),
        other => {
            let wanted: i64 = other
                .parse()
                .map_err(|_| AppError::BadRequest("Unknown staff member.".into()))?;
            if !assignable(state)
                .await?
                .iter()
                .any(|(sid, _)| *sid == wanted)
            {
                return Err(AppError::Unprocessable(
                    "Tickets can be assigned to active agents and admins only.".into(),
                ));
            }
            Some(wanted)
        }
    };
    let mut tx = state.db.begin().await?;
    db::set_assignee(&mut tx, ticket.id, assignee).await?;
    let by = super::notify::AssignedBy::Staff(user.id, &user.display_name);
    super::notify::assigned(state, &mut tx, ticket, assignee, by).await?;
    let detail = assignee.map_or("unassigned".to_string(), |a| format!("to staff {a}"));
    audit::record(&mut tx, Actor::Staff(user), "assign", "ticket", id, &detail).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(assignee)
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

pub async fn change_status(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    let (ticket, subject) = load(&state, id).await?;
    set_status(&state, &user, &ticket, &subject, &form.status).await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

/// Moves the ticket to `wanted`, one of [`STATUSES`] (asking for a rating
/// when that solves it), and audits it.
pub async fn set_status(
    state: &AppState,
    user: &StaffUser,
    ticket: &Ticket,
    subject: &Subject,
    wanted: &str,
) -> AppResult<&'static str> {
    let status = STATUSES.into_iter().find(|s| *s == wanted).ok_or_else(|| {
        AppError::Unprocessable("Please choose open, pending, solved or closed.".into())
    })?;
    let mut tx = state.db.begin().await?;
    db::set_status(&mut tx, ticket.id, status).await?;
    tickets::status_moved(state, &mut tx, ticket, subject, status, "staff").await?;
    audit::record(
        &mut tx,
        Actor::Staff(user),
        "status",
        "ticket",
        ticket.id,
        &format!("{} -> {status}", ticket.status),
    )
    .await?;
    if status == "solved" && ticket.status != "solved" {
        // Rated for the agent who had the ticket, or who solved it.
        let agent = ticket.assignee_id.or(Some(user.id));
        super::csat::request_on_solve(state, &mut tx, ticket, subject, agent).await?;
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(status)
}

/// Gives the ticket a new conversation link; every older one stops
/// working (410), e.g. after a link was forwarded to the wrong person.
pub async fn reissue_link(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let (ticket, _) = load(&state, id).await?;
    let mut tx = state.db.begin().await?;
    db::reissue_link(&mut tx, ticket.id, &tickets::new_link_nonce()).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "reissue-link",
        "ticket",
        id,
        "conversation link reissued",
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct MergeForm {
    #[serde(default)]
    into: String,
}

pub async fn merge_ticket(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<MergeForm>,
) -> AppResult<Response> {
    let (ticket, subject) = load(&state, id).await?;
    let target = match form.into.parse::<TicketRef>() {
        Ok(r) => db::ticket_by_reference(&state.db, r.as_str()).await?,
        Err(_) => None,
    };
    let problem = match &target {
        None => Some("There is no ticket with that reference (like OC-2026-000123)."),
        Some(t) if t.id == ticket.id => Some("A ticket cannot be merged into itself."),
        Some(t) if t.merged_into.is_some() => {
            Some("That ticket was itself merged; merge into the ticket it went to.")
        }
        // Messages are sealed under the requester's key: only their own tickets can be joined.
        Some(t) if t.subject_id != ticket.subject_id => {
            Some("Only duplicates from the same email address can be merged.")
        }
        _ if ticket.merged_into.is_some() => Some("This ticket was already merged."),
        _ => None,
    };
    if let Some(problem) = problem {
        let mut errors = FieldErrors::default();
        errors.add("merge", problem);
        let drafts = Drafts {
            merge_into: form.into,
            errors,
            ..Drafts::default()
        };
        return ticket_page(&state, page, ticket, &subject, drafts).await;
    }
    let target = target.expect("checked above");
    let mut tx = state.db.begin().await?;
    db::merge(&mut tx, ticket.id, target.id).await?;
    tickets::status_moved(&state, &mut tx, &ticket, &subject, "closed", "merge").await?;
    super::search::WORDS
        .copy(&mut tx, ticket.subject_id, ticket.id, target.id)
        .await?;
    let target_ref = target.reference.clone().unwrap_or_default();
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "merge",
        "ticket",
        id,
        &format!("{} merged into {target_ref}", ticket.reference),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/tickets/{}", target.id)).into_response())
}

#[derive(Deserialize)]
pub struct ChildForm {
    #[serde(default)]
    confirm: String,
}

/// COPPA's one-time response: a child wrote, staff may answer once and then
/// erase everything the requester gave us (this ticket, its mails, any
/// other record), and their address is never written to again (erasure
/// suppresses it). Audited without naming them.
pub async fn erase_as_child(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<ChildForm>,
) -> AppResult<Response> {
    let (ticket, subject) = load(&state, id).await?;
    if form.confirm != "yes" {
        let mut errors = FieldErrors::default();
        errors.add(
            "child",
            "Tick the box to confirm that the requester is a child under 13.",
        );
        let drafts = Drafts {
            errors,
            ..Drafts::default()
        };
        return ticket_page(&state, page, ticket, &subject, drafts).await;
    }
    let mut tx = state.db.begin().await?;
    let rows = crate::privacy::erasure::erase(
        &mut tx,
        &state.registry.inventory,
        subject.id,
        "a child's request (staff)",
    )
    .await?;
    crate::privacy::erasure::announce(&mut tx, &state.platform, subject.id, "child-request")
        .await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "erase",
        "ticket",
        id,
        &format!(
            "{} erased as a child's request: {rows} records of the requester deleted, their address suppressed",
            ticket.reference
        ),
    )
    .await?;
    tx.commit().await?;
    crate::privacy::erasure::append_log(
        &state.config.data_dir,
        &crate::privacy::erasure::LogEntry {
            subject_id: subject.id,
            erased_at: now_ms(),
        },
    )?;
    if let Err(e) = crate::privacy::erasure::clear_traces(&state.platform, subject.id).await {
        tracing::error!(error = ?e, subject_id = subject.id, "clearing an erasure's traces");
    }
    Ok(Redirect::to("/admin/tickets?erased=child").into_response())
}

pub async fn download_attachment(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path((id, attachment)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let (_, subject) = load(&state, id).await?;
    let (content_type, filename, content) = db::attachment(&state.db, id, attachment)
        .await?
        .ok_or(AppError::NotFound)?;
    let filename = subject.open("ticket_attachments", "filename", &filename)?;
    let bytes = tickets::open_attachment(&subject.key, &content)?;
    audit_alone(
        &state,
        &user,
        "download-attachment",
        "ticket",
        id,
        &format!("attachment {attachment}"),
    )
    .await?;
    let encoded =
        percent_encoding::utf8_percent_encode(&filename, percent_encoding::NON_ALPHANUMERIC);
    let disposition = format!("attachment; filename=\"attachment\"; filename*=UTF-8''{encoded}");
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(response)
}

#[derive(askama::Template)]
#[template(path = "support/canned.html")]
struct CannedPage {
    page: Page,
    canned: Vec<db::CannedReply>,
    title: String,
    body: String,
    errors: FieldErrors,
}

pub async fn list_canned(
    _: Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    render(&CannedPage {
        page: page.titled("Canned replies"),
        canned: db::canned_replies(&state.db).await?,
        title: String::new(),
        body: String::new(),
        errors: FieldErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct CannedForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

pub async fn add_canned(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<CannedForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let title = match text(&form.title, 100) {
        Ok(Some(t)) => Some(t),
        Ok(None) => {
            errors.add("title", "Please give it a title.");
            None
        }
        Err(e) => {
            errors.add("title", e);
            None
        }
    };
    let body = match text(&form.body, 10_000) {
        Ok(Some(b)) => Some(b),
        Ok(None) => {
            errors.add("body", "Please write the reply.");
            None
        }
        Err(e) => {
            errors.add("body", e);
            None
        }
    };
    let (Some(title), Some(body)) = (title, body) else {
        let body = CannedPage {
            page: page.titled("Canned replies"),
            canned: db::canned_replies(&state.db).await?,
            title: form.title,
            body: form.body,
            errors,
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    };
    let mut tx = state.db.begin().await?;
    let id = db::insert_canned(&mut tx, &title, &body).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "add-canned-reply",
        "canned_reply",
        id,
        &title,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/tickets/canned").into_response())
}

pub async fn delete_canned(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    if db::delete_canned(&mut tx, id).await? == 0 {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "delete-canned-reply",
        "canned_reply",
        id,
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/tickets/canned").into_response())
}

#[derive(askama::Template)]
#[template(path = "support/settings.html")]
struct SettingsPage {
    page: Page,
    /// Every setting but the response targets: `(key, label, help, value)`.
    values: Vec<(&'static str, &'static str, &'static str, String)>,
    /// The response targets, a row per priority, most urgent first.
    targets: Vec<TargetRow>,
    errors: FieldErrors,
    saved: bool,
}

/// One priority's response targets in the settings form: `(key, value)`.
struct TargetRow {
    priority: &'static str,
    first: (&'static str, String),
    next: (&'static str, String),
}

impl SettingsPage {
    fn new(
        page: Page,
        all: Vec<(&'static str, &'static str, &'static str, String)>,
        errors: FieldErrors,
        saved: bool,
    ) -> SettingsPage {
        let (targets, values): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|(k, ..)| settings::is_target(k));
        let find = |key: String| {
            targets
                .iter()
                .find(|(k, ..)| **k == key)
                .map(|(k, _, _, v)| (*k, v.clone()))
                .unwrap_or_default()
        };
        let targets = ["urgent", "high", "normal", "low"]
            .into_iter()
            .map(|priority| TargetRow {
                priority,
                first: find(format!("sla_first_{priority}")),
                next: find(format!("sla_next_{priority}")),
            })
            .collect();
        SettingsPage {
            page: page.titled("Helpdesk settings"),
            values,
            targets,
            errors,
            saved,
        }
    }
}

fn settings_values(
    s: &SupportSettings,
    typed: Option<&HashMap<String, String>>,
) -> Vec<(&'static str, &'static str, &'static str, String)> {
    SETTING_FIELDS
        .iter()
        .map(|(k, label, help)| {
            let value = typed
                .and_then(|t| t.get(*k).cloned())
                .unwrap_or_else(|| s.get(k));
            (*k, *label, *help, value)
        })
        .collect()
}

pub async fn show_settings(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    let s = settings::load(&state.db)
        .await?
        .with_configured(state.config.soft_bounce_limit);
    render(&SettingsPage::new(
        page,
        settings_values(&s, None),
        FieldErrors::default(),
        false,
    ))
}

pub async fn save_settings(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<HashMap<String, String>>,
) -> AppResult<Response> {
    let mut s = settings::load(&state.db)
        .await?
        .with_configured(state.config.soft_bounce_limit);
    let mut errors = FieldErrors::default();
    for (key, _, _) in SETTING_FIELDS {
        if let Some(value) = form.get(*key)
            && let Err(e) = s.set(key, value)
        {
            errors.add(key, e);
        }
    }
    if !errors.is_empty() {
        let body = SettingsPage::new(page, settings_values(&s, Some(&form)), errors, false);
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let mut tx = state.db.begin().await?;
    settings::save(&mut tx, &s).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "support-settings",
        "settings",
        "support",
        "",
    )
    .await?;
    tx.commit().await?;
    render(&SettingsPage::new(
        page,
        settings_values(&s, None),
        FieldErrors::default(),
        true,
    ))
}
