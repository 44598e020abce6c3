//! The helpdesk in the JSON API: tickets listed with the inbox's filters,
//! read with their conversation, opened on behalf of a requester (the age
//! question still applies), answered, noted, assigned and moved. Each
//! handler calls the same functions as the staff pages; every read of
//! personal data is audited as the token's owner.

use super::{
    admin::{self, InboxQuery},
    csat::{self, CsatView},
    db,
    intake::{self, ContactForm, ContactInput},
    settings,
    sla::SlaFilter,
    tickets::{self, Created, Ticket},
};
use crate::{
    AppState,
    platform::{
        Privacy,
        api::{
            ApiError, ApiResult, Id, Json, Query, Refusals, cursor, page_size, parse_cursor, time,
        },
        forms::FieldErrors,
        random_token,
    },
    privacy::{
        age::{self, Age},
        subjects::Subject,
    },
    staff::tokens::{Bearer, TicketsRead, TicketsWrite},
};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tickets", get(list_tickets).post(create_ticket))
        .route("/api/v1/tickets/{id}", get(get_ticket))
        .route("/api/v1/tickets/{id}/replies", post(reply_to_ticket))
        .route("/api/v1/tickets/{id}/notes", post(add_note))
        .route("/api/v1/tickets/{id}/assignee", put(assign_ticket))
        .route("/api/v1/tickets/{id}/status", put(change_status))
}

/// This feature's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_tickets,
    create_ticket,
    get_ticket,
    reply_to_ticket,
    add_note,
    assign_ticket,
    change_status
))]
pub struct Doc;

/// A ticket as listed.
#[derive(Serialize, ToSchema)]
pub struct TicketSummary {
    pub id: i64,
    /// The reference the requester knows it by, like `T-2026-000123`.
    pub reference: String,
    pub title: String,
    /// `open`, `pending`, `solved` or `closed`.
    pub status: String,
    pub product: String,
    pub requester_name: String,
    pub requester_email: String,
    pub assignee_id: Option<i64>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    pub first_response_at: Option<String>,
    /// The requester's rating once solved, when they gave one; `null` otherwise.
    pub satisfaction: Option<Satisfaction>,
}

/// How satisfied the requester said they were (CSAT).
#[derive(Serialize, ToSchema)]
pub struct Satisfaction {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i64,
    /// What they wrote with it; empty when nothing.
    pub comment: String,
    /// RFC 3339, UTC.
    pub rated_at: Option<String>,
}

impl Satisfaction {
    fn of(view: Option<CsatView>) -> Option<Satisfaction> {
        let view = view?;
        Some(Satisfaction {
            rating: view.rating?,
            comment: view.comment,
            rated_at: view.rated_at.map(time),
        })
    }
}

impl From<&Ticket> for TicketSummary {
    fn from(t: &Ticket) -> TicketSummary {
        TicketSummary {
            id: t.id,
            reference: t.reference.clone(),
            title: t.title.clone(),
            status: t.status.clone(),
            product: t.product.clone(),
            requester_name: t.name.clone(),
            requester_email: t.email.clone(),
            assignee_id: t.assignee_id,
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
            first_response_at: t.first_response_at.map(time),
            satisfaction: None,
        }
    }
}

/// One page of tickets.
#[derive(Serialize, ToSchema)]
pub struct TicketList {
    pub items: Vec<TicketSummary>,
    /// Pass as `?cursor=` for the next page; `null` on the last. With `q`
    /// a page may hold fewer items than `limit`: follow the cursor.
    pub next_cursor: Option<String>,
}

/// The inbox's filters.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct TicketListQuery {
    /// `active` (open or pending; the default), `open`, `pending`, `solved`, `closed` or `all`.
    pub status: Option<String>,
    /// A staff id, `me` or `none` (unassigned).
    pub assignee: Option<String>,
    pub product: Option<String>,
    /// Text in the reference, requester, title or product; a reference finds that ticket.
    pub q: Option<String>,
    /// `newest` (the default) or `oldest` first.
    pub sort: Option<String>,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: Option<String>,
    /// A tag the tickets carry.
    pub tag: Option<String>,
    /// `nearing` (in the last quarter of a response target) or `breached`.
    pub sla: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 100; 50 when not given.
    pub limit: Option<i64>,
}

const LIST_STATUSES: [&str; 6] = ["active", "open", "pending", "solved", "closed", "all"];

/// Lists tickets as the inbox does.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets",
    params(TicketListQuery),
    responses((status = 200, description = "A page of tickets", body = TicketList), Refusals),
    security(("bearer" = ["tickets:read"])))]
pub async fn list_tickets(
    Bearer(caller, ..): Bearer<TicketsRead>,
    State(state): State<AppState>,
    Query(query): Query<TicketListQuery>,
) -> ApiResult<Json<TicketList>> {
    let mut errors = FieldErrors::default();
    let status = query.status.unwrap_or_else(|| "active".into());
    if !LIST_STATUSES.contains(&status.as_str()) {
        errors.add(
            "status",
            "Use active, open, pending, solved, closed or all.",
        );
    }
    let sort = match query.sort.as_deref().unwrap_or("newest") {
        "newest" => "",
        "oldest" => "oldest",
        _ => {
            errors.add("sort", "Use newest or oldest.");
            ""
        }
    };
    let sla = query
        .sla
        .as_deref()
        .unwrap_or_default()
        .parse::<SlaFilter>()
        .unwrap_or_else(|e| {
            errors.add("sla", e);
            SlaFilter::Any
        });
    errors.into_result()?;
    let limit = page_size(query.limit)?;
    let inbox = InboxQuery {
        status,
        assignee: query.assignee.unwrap_or_default(),
        product: query.product.unwrap_or_default(),
        q: query.q.unwrap_or_default(),
        sort: sort.into(),
        priority: query.priority.unwrap_or_default(),
        tag: query.tag.unwrap_or_default(),
        sla: String::new(),
    };
    let mut filter =
        admin::inbox_filter(&inbox, &caller.user).map_err(ApiError::on_field("assignee"))?;
    filter.after = parse_cursor(query.cursor.as_deref())?;
    let settings = settings::load(&state.db).await?;
    filter.sla = sla.windows(state.clock.now(), &settings, state.site().time_zone);
    let q = inbox.q.trim().to_lowercase();
    let searching = !q.is_empty() && filter.reference.is_empty();
    if searching {
        // The blind word index, as the inbox searches.
        filter.terms = super::search::query(&state, &q);
    }
    let rows = if searching && filter.terms.is_empty() {
        vec![]
    } else {
        db::list(&state.db, &filter, limit + 1).await?
    };
    let more = rows.len() as i64 > limit;
    let mut opened = Vec::new();
    let mut last = None;
    for row in rows.into_iter().take(limit as usize) {
        last = Some((row.created_at, row.id));
        if let Some(pair) = Ticket::open(&state, row)? {
            opened.push(pair);
        }
    }
    let keys: Vec<(i64, &Subject)> = opened.iter().map(|(t, s)| (t.id, s)).collect();
    let mut ratings = csat::ratings_of(&state, &keys).await?;
    let items: Vec<TicketSummary> = opened
        .iter()
        .map(|(ticket, _)| TicketSummary {
            satisfaction: Satisfaction::of(ratings.remove(&ticket.id)),
            ..TicketSummary::from(ticket)
        })
        .collect();
    let ids: Vec<String> = items.iter().map(|t| t.id.to_string()).collect();
    let detail = format!(
        "{} tickets via API token “{}”{}: {}",
        items.len(),
        caller.token_name,
        if searching { " (text search)" } else { "" },
        ids.join(",")
    );
    admin::audit_alone(&state, &caller.user, "list-tickets", "ticket", "", &detail).await?;
    Ok(Json(TicketList {
        items,
        next_cursor: last.filter(|_| more).map(|(at, id)| cursor(at, id)),
    }))
}

/// A message of a ticket's conversation.
#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    /// `visitor` (the requester), `reply` or `note` (staff only).
    pub kind: String,
    pub author: String,
    pub body: String,
    pub at: String,
    pub attachments: Vec<AttachmentInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentInfo {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

/// A ticket with its whole conversation, notes included.
#[derive(Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: TicketSummary,
    pub requester_phone: String,
    pub messages: Vec<MessageView>,
}

async fn detail(state: &AppState, id: i64) -> ApiResult<TicketDetail> {
    let (ticket, subject) = admin::load(state, id).await?;
    let names: HashMap<i64, String> = super::public::staff_names(state).await?;
    let name_of = |id: Option<i64>| {
        id.and_then(|id| names.get(&id).cloned())
            .unwrap_or_else(|| "staff".into())
    };
    let messages = tickets::conversation(state, &ticket, &subject, true, &name_of).await?;
    let satisfaction = Satisfaction::of(csat::for_ticket(state, ticket.id, &subject).await?);
    Ok(TicketDetail {
        ticket: TicketSummary {
            satisfaction,
            ..TicketSummary::from(&ticket)
        },
        requester_phone: ticket.phone.clone(),
        messages: messages
            .into_iter()
            .map(|m| MessageView {
                id: m.id,
                kind: m.kind,
                author: m.author,
                body: m.body,
                at: time(m.at),
                attachments: m
                    .attachments
                    .into_iter()
                    .map(|a| AttachmentInfo {
                        filename: a.filename,
                        content_type: a.content_type,
                        size: a.size,
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// Reads a ticket and its conversation.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 200, description = "The ticket", body = TicketDetail), Refusals),
    security(("bearer" = ["tickets:read"])))]
pub async fn get_ticket(
    Bearer(caller, ..): Bearer<TicketsRead>,
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<TicketDetail>> {
    let detail = detail(&state, id).await?;
    let words = format!(
        "{} via API token “{}”",
        detail.ticket.reference, caller.token_name
    );
    admin::audit_alone(&state, &caller.user, "view-ticket", "ticket", id, &words).await?;
    Ok(Json(detail))
}

/// A request taken on behalf of a requester (by phone, say).
#[derive(Deserialize, ToSchema)]
pub struct NewTicketRequest {
    pub requester_name: String,
    pub requester_email: String,
    #[serde(default)]
    pub requester_phone: String,
    /// The requester's year of birth: nothing is kept from a child under
    /// 13. Required unless an admin switched the contact form's age
    /// question off.
    pub requester_birth_year: Option<i32>,
    /// One of the helpdesk's products, or `other` with `product_other`.
    pub product: String,
    #[serde(default)]
    pub product_other: String,
    pub subject: String,
    pub details: String,
}

/// The API's names for the contact form's fields.
fn api_field(form_field: &str) -> &str {
    match form_field {
        "name" => "requester_name",
        "email" => "requester_email",
        "phone" => "requester_phone",
        age::FIELD => "requester_birth_year",
        other => other,
    }
}

/// Opens a ticket for a requester, who gets the usual acknowledgement by
/// mail. An `Idempotency-Key` header makes a retried call the same ticket.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets",
    request_body = NewTicketRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "The same key again answers with the ticket it made")),
    responses(
        (status = 201, description = "Opened", body = TicketSummary),
        (status = 200, description = "Already opened with this Idempotency-Key", body = TicketSummary),
        Refusals),
    security(("bearer" = ["tickets:write"])))]
pub async fn create_ticket(
    Bearer(caller, ..): Bearer<TicketsWrite>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<NewTicketRequest>,
) -> ApiResult<Response> {
    let birth_year = request
        .requester_birth_year
        .map(|y| y.to_string())
        .unwrap_or_default();
    let age_problem = if state.site().asks_age(age::CONTACT) {
        match age::assess(&Privacy::default(), &birth_year) {
            Age::Ok => None,
            Age::Invalid(m) => Some(m),
            Age::Child => {
                return Err(ApiError::field(
                    "requester_birth_year",
                    "The requester may be under 13: we take nothing from children, so nothing was saved.",
                ));
            }
        }
    } else {
        None
    };
    let settings = settings::load(&state.db).await?;
    let input = ContactInput {
        form: ContactForm {
            name: request.requester_name,
            email: request.requester_email,
            phone: request.requester_phone,
            product: request.product,
            product_other: request.product_other,
            subject: request.subject,
            details: request.details,
            birth_year,
            ..ContactForm::default()
        },
        uploads: Vec::new(),
        unreadable: FieldErrors::default(),
    };
    let new = intake::validate(input, age_problem, &settings).map_err(|invalid| {
        ApiError::Invalid(
            invalid
                .errors
                .iter()
                .map(|(k, v)| (api_field(k).to_string(), v.to_string()))
                .collect(),
        )
    })?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 200);
    let nonce = match key {
        Some(k) => format!("api:{}:{k}", caller.token_id),
        None => format!("api:{}", random_token(16)),
    };
    let source = state
        .keyring
        .blind_index("ip", &format!("api-token:{}", caller.token_id));
    let (id, status) = match tickets::create(&state, &new, &nonce, &source).await? {
        Created::New { id, reference } => {
            let words = format!("{reference} via API token “{}”", caller.token_name);
            admin::audit_alone(&state, &caller.user, "create", "ticket", id, &words).await?;
            (id, StatusCode::CREATED)
        }
        Created::Existing { id, .. } => (id, StatusCode::OK),
    };
    let (ticket, _) = admin::load(&state, id).await?;
    Ok((
        status,
        [(header::LOCATION, format!("/api/v1/tickets/{id}"))],
        Json(TicketSummary::from(&ticket)),
    )
        .into_response())
}

/// A reply to the requester.
#[derive(Deserialize, ToSchema)]
pub struct ReplyRequest {
    pub body: String,
    /// The status it leaves the ticket in; `pending` when not given.
    #[serde(default)]
    pub status: String,
}

/// What a new message became.
#[derive(Serialize, ToSchema)]
pub struct MessageCreated {
    pub message_id: i64,
}

/// Answers the requester (mailed through the outbox).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/replies", tag = "tickets",
    params(("id" = i64, Path, description = "The ticket's id")),
    request_body = ReplyRequest,
    responses((status = 201, description = "Sent", body = MessageCreated), Refusals),
    security(("bearer" = ["tickets:write"])))]
pub async fn reply_to_ticket(
    Bearer(caller, ..): Bearer<TicketsWrite>,
    State(state): State<AppState>,
    Id(id): Id,
    Json(request): Json<ReplyRequest>,
) -> ApiResult<(StatusCode, Json<MessageCreated>)> {
    let (ticket, subject) = admin::load(&state, id).await?;
    let status = admin::reply_status(&request.status)
        .ok_or_else(|| ApiError::field("status", "Use open, pending, solved or closed."))?;
    let body = admin::reply_body(&ticket, &request.body)?;
    let message_id =
        admin::store_reply(&state, &caller.user, &ticket, &subject, &body, status).await?;
    Ok((StatusCode::CREATED, Json(MessageCreated { message_id })))
}

/// An internal note: never mailed, never shown to the requester.
#[derive(Deserialize, ToSchema)]
pub struct NoteRequest {
    pub body: String,
}

/// Adds an internal note.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/notes", tag = "tickets",
    params(("id" = i64, Path, description = "The ticket's id")),
    request_body = NoteRequest,
    responses((status = 201, description = "Kept", body = MessageCreated), Refusals),
    security(("bearer" = ["tickets:write"])))]
pub async fn add_note(
    Bearer(caller, ..): Bearer<TicketsWrite>,
    State(state): State<AppState>,
    Id(id): Id,
    Json(request): Json<NoteRequest>,
) -> ApiResult<(StatusCode, Json<MessageCreated>)> {
    let (ticket, subject) = admin::load(&state, id).await?;
    let body = admin::note_body(&request.body)?;
    let message_id = admin::store_note(&state, &caller.user, &ticket, &subject, &body).await?;
    Ok((StatusCode::CREATED, Json(MessageCreated { message_id })))
}

/// Who has the ticket.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct Assignee {
    /// An active agent's or admin's id; `null` for nobody.
    pub assignee_id: Option<i64>,
}

/// Assigns the ticket.
#[utoipa::path(put, path = "/api/v1/tickets/{id}/assignee", tag = "tickets",
    params(("id" = i64, Path, description = "The ticket's id")),
    request_body = Assignee,
    responses((status = 200, description = "Assigned", body = Assignee), Refusals),
    security(("bearer" = ["tickets:write"])))]
pub async fn assign_ticket(
    Bearer(caller, ..): Bearer<TicketsWrite>,
    State(state): State<AppState>,
    Id(id): Id,
    Json(request): Json<Assignee>,
) -> ApiResult<Json<Assignee>> {
    let (ticket, _) = admin::load(&state, id).await?;
    let wanted = request
        .assignee_id
        .map_or_else(|| "none".to_string(), |a| a.to_string());
    let assignee_id = admin::assign(&state, &caller.user, &ticket, &wanted)
        .await
        .map_err(ApiError::on_field("assignee_id"))?;
    Ok(Json(Assignee { assignee_id }))
}

/// A ticket's status.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct TicketStatus {
    /// `open`, `pending`, `solved` (asks the requester for a rating) or `closed`.
    pub status: String,
}

/// Moves the ticket to another status.
#[utoipa::path(put, path = "/api/v1/tickets/{id}/status", tag = "tickets",
    params(("id" = i64, Path, description = "The ticket's id")),
    request_body = TicketStatus,
    responses((status = 200, description = "Moved", body = TicketStatus), Refusals),
    security(("bearer" = ["tickets:write"])))]
pub async fn change_status(
    Bearer(caller, ..): Bearer<TicketsWrite>,
    State(state): State<AppState>,
    Id(id): Id,
    Json(request): Json<TicketStatus>,
) -> ApiResult<Json<TicketStatus>> {
    let (ticket, subject) = admin::load(&state, id).await?;
    let status = admin::set_status(&state, &caller.user, &ticket, &subject, &request.status)
        .await
        .map_err(ApiError::on_field("status"))?;
    Ok(Json(TicketStatus {
        status: status.into(),
    }))
}
