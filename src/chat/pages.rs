//! The chat's pages: the visitor's full-page chat and its pre-chat form,
//! the staff console, and a conversation's searchable history.

use super::{
    conversations::{self, Conversation, Refused},
    db,
    protocol::ServerFrame,
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        forms::{EmailAddress, FieldErrors, Form},
        now_ms,
        templates::{Page, render, render_with},
    },
    privacy::age::{self, AgeGate},
    staff::{Agent, Staff},
    support::automations::{self, Team},
};
use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub birth_year: String,
    /// The page the visitor opened the chat from.
    #[serde(default)]
    pub page: String,
    /// One of the support form's products, or blank.
    #[serde(default)]
    pub topic: String,
}

#[derive(askama::Template)]
#[template(path = "chat/page.html")]
struct ChatPage {
    page: Page,
    form: StartForm,
    errors: FieldErrors,
    /// `(conversation, token)` to resume.
    resume: Option<(i64, String)>,
    retention_days: u32,
    /// Nobody online: the page says so before the chat starts.
    agents_online: i64,
    /// What the visitor can say the chat is about (the support form's products).
    topics: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct ResumeQuery {
    #[serde(default)]
    c: Option<i64>,
    #[serde(default)]
    t: String,
}

/// `GET /chat`: the pre-chat form, or the conversation to continue.
pub async fn show_chat(
    State(state): State<AppState>,
    page: Page,
    Query(q): Query<ResumeQuery>,
) -> AppResult<Response> {
    let resume = q
        .c
        .filter(|c| conversations::verify(&state, &q.t, now_ms()).is_some_and(|(id, _)| id == *c))
        .map(|c| (c, q.t.clone()));
    let topics = crate::support::settings::load(&state.db).await?.products;
    render(&ChatPage {
        page: page.titled("Live chat"),
        form: StartForm::default(),
        errors: FieldErrors::default(),
        resume,
        retention_days: super::RETENTION_DAYS,
        agents_online: *state.chat.agents_online().borrow(),
        topics,
    })
}

/// `GET /chat/topics`: the topics the floating widget offers on its
/// pre-chat form (the /chat page renders them itself), so a chat started
/// from any page is routed by its topic like one started on /chat.
pub async fn chat_topics(State(state): State<AppState>) -> AppResult<Response> {
    let topics = crate::support::settings::load(&state.db).await?.products;
    Ok((
        [(header::CACHE_CONTROL, "no-cache")],
        axum::Json(serde_json::json!({ "topics": topics })),
    )
        .into_response())
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `POST /chat/start`: the pre-chat answers (age question first). The
/// widget asks for JSON; without JavaScript the page reloads on the chat.
pub async fn start_chat(
    State(state): State<AppState>,
    page: Page,
    gate: AgeGate,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    if let Some(m) = gate.check_form(age::CHAT, &form.birth_year)? {
        errors.add(age::FIELD, m);
    }
    let name = conversations::clean_name(&form.name).map_err(|m| errors.add("name", m));
    let email = match form.email.trim() {
        "" => Ok(None),
        e => e
            .parse::<EmailAddress>()
            .map(Some)
            .map_err(|m| errors.add("email", m)),
    };
    let topic = conversations::clean_topic(&state, &form.topic)
        .await?
        .map_err(|m| errors.add("topic", m));
    let (Ok(name), Ok(email), Ok(topic), true) = (name, email, topic, errors.is_empty()) else {
        if wants_json(&headers) {
            let fields: std::collections::BTreeMap<&str, &str> =
                ["name", "email", "birth_year", "topic"]
                    .into_iter()
                    .filter(|f| errors.has(f))
                    .map(|f| (f, errors.get(f)))
                    .collect();
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({ "errors": fields })),
            )
                .into_response());
        }
        let topics = crate::support::settings::load(&state.db).await?.products;
        let body = ChatPage {
            page: page.titled("Live chat"),
            form,
            errors,
            resume: None,
            retention_days: super::RETENTION_DAYS,
            agents_online: *state.chat.agents_online().borrow(),
            topics,
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    };
    let origin = conversations::clean_page(&form.page);
    let c = conversations::start(
        &state,
        &name,
        email.as_ref(),
        origin.as_deref(),
        topic.as_deref(),
    )
    .await?;
    crate::analytics::goal(&state, "chat_started");
    let token = conversations::token(&state, &c);
    if wants_json(&headers) {
        return Ok(
            Json(serde_json::json!({ "conversation": c.id(), "token": token })).into_response(),
        );
    }
    Ok(Redirect::to(&format!(
        "/chat?c={}&t={}",
        c.id(),
        percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC)
    ))
    .into_response())
}

/// One line of the console's lists.
pub struct Row {
    pub id: i64,
    pub status: String,
    pub name: String,
    pub email: String,
    /// Confirmed by its owner; an unverified email may be anyone's.
    pub email_verified: bool,
    pub agent: String,
    /// Last activity (epoch ms).
    pub updated: i64,
    pub ticket: String,
    /// The team the chat is routed to, by name (blank: none).
    pub team: String,
    pub topic: String,
    /// Under a found chat: its matching words, HTML-escaped and marked.
    pub snippet: String,
}

impl Row {
    fn of(c: &Conversation, names: &HashMap<i64, String>, teams: &[Team]) -> Row {
        Row {
            id: c.id(),
            status: c.row.status.clone(),
            name: c.name.clone(),
            email: c.email.clone(),
            email_verified: c.email_verified(),
            agent: c
                .row
                .agent_id
                .and_then(|a| names.get(&a).cloned())
                .unwrap_or_default(),
            updated: c.row.updated_at,
            ticket: c.row.ticket_reference.clone().unwrap_or_default(),
            team: team_name(c.row.team_id, teams),
            topic: c.row.topic.clone().unwrap_or_default(),
            snippet: String::new(),
        }
    }
}

fn team_name(team: Option<i64>, teams: &[Team]) -> String {
    team.map(|t| {
        teams
            .iter()
            .find(|x| x.id == t)
            .map_or("a deleted team".to_string(), |x| x.name.clone())
    })
    .unwrap_or_default()
}

#[derive(askama::Template)]
#[template(path = "chat/console.html")]
struct ConsolePage {
    page: Page,
    q: String,
    /// `mine`: only chats of the agent's teams; else every chat.
    teams: String,
    /// Whether the agent belongs to any team.
    in_a_team: bool,
    /// The agent's team ids, space-separated, for the live list of "My teams".
    my_teams: String,
    /// Why the search could not run (no searchable word).
    problem: String,
    open: Vec<Row>,
    recent: Vec<Row>,
    canned: Vec<crate::support::CannedReply>,
    agents: Vec<(i64, String)>,
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Deserialize, Default)]
pub struct ConsoleQuery {
    #[serde(default)]
    q: String,
    /// `mine` or `all`.
    #[serde(default)]
    teams: String,
}

/// Conversations in the console's list of all (or found) ones; only these
/// are decrypted.
const LIST_LIMIT: i64 = 100;
/// Longer console searches are refused (as the global search does).
const MAX_QUERY_CHARS: usize = 200;

/// `GET /admin/chat`: the live console (waiting and active chats, updated
/// by the socket) and the list of recent ones, searchable through the
/// chats' word index (`?q=`) and narrowed to the agent's teams
/// (`?teams=mine`), without JavaScript.
pub async fn show_console(
    Staff(user, _): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<ConsoleQuery>,
) -> AppResult<Response> {
    let names = conversations::staff_names(&state).await?;
    let teams = automations::teams(&state).await?;
    let my_teams = automations::teams_of(&state, user.id).await?;
    let mine = query.teams == "mine";
    let team_filter = mine.then(|| my_teams.clone());
    let mut open = vec![];
    let filter = db::ListFilter {
        statuses: &["waiting", "active"],
        terms: vec![],
        teams: team_filter.clone(),
    };
    for row in db::list(&state.db, &filter, 200).await? {
        if let Some(c) = conversations::decrypt(&state, row)? {
            open.push(Row::of(&c, &names, &teams));
        }
    }
    let q = query.q.split_whitespace().collect::<Vec<_>>().join(" ");
    let terms = super::search::query(&state.keyring, &q);
    let mut problem = String::new();
    let mut recent = vec![];
    if q.chars().count() > MAX_QUERY_CHARS {
        problem = "That search is too long: use at most 200 characters.".into();
    } else if !q.is_empty() && terms.is_empty() {
        problem =
            "Search for words of two letters or more (very common words like “the” are left out)."
                .into();
    } else {
        let filter = db::ListFilter {
            statuses: &["all"],
            terms,
            teams: team_filter,
        };
        for row in db::list(&state.db, &filter, LIST_LIMIT).await? {
            let Some(c) = conversations::decrypt(&state, row)? else {
                continue;
            };
            let mut row = Row::of(&c, &names, &teams);
            if !q.is_empty() {
                row.snippet = super::search::snippet(&state, &c, &q).await?;
            }
            recent.push(row);
        }
    }
    let status = if problem.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_with(
        status,
        &ConsolePage {
            page: page.titled("Live chat"),
            q,
            teams: if mine { "mine".into() } else { "all".into() },
            in_a_team: !my_teams.is_empty(),
            my_teams: my_teams
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            problem,
            open,
            recent,
            canned: crate::support::canned_replies(&state.db).await?,
            agents: agents(&state).await?,
        },
    )
}

pub struct Line {
    pub seq: i64,
    pub from: String,
    pub name: String,
    pub body: String,
    pub at: i64,
    pub hit: bool,
}

#[derive(askama::Template)]
#[template(path = "chat/history.html")]
struct HistoryPage {
    page: Page,
    c: Row,
    page_url: String,
    q: String,
    lines: Vec<Line>,
    hits: usize,
    earlier_chats: Vec<(i64, String, i64)>,
    earlier_tickets: Vec<(i64, String, String, i64)>,
    agents: Vec<(i64, String)>,
    /// Teams it can be moved to: `(id, name, routed to it)`.
    teams: Vec<(i64, String, bool)>,
    /// Routed to no team.
    no_team: bool,
    notice: String,
}

async fn load(state: &AppState, id: i64) -> AppResult<Conversation> {
    conversations::load(state, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// `GET /admin/chat/{conversation}`: the whole conversation, searchable,
/// with the visitor's context; every view is audited.
pub async fn show_conversation(
    Staff(user, _): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Query(query): Query<SearchQuery>,
) -> AppResult<Response> {
    let c = load(&state, id).await?;
    conversations::audit_view(&state, &user, id).await?;
    history_page(&state, page, StatusCode::OK, c, &query.q, String::new()).await
}

async fn history_page(
    state: &AppState,
    page: Page,
    status: StatusCode,
    c: Conversation,
    q: &str,
    notice: String,
) -> AppResult<Response> {
    let names = conversations::staff_names(state).await?;
    let needle = q.trim().to_lowercase();
    let lines: Vec<Line> = conversations::history(state, &c, 0, i64::MAX, &names)
        .await?
        .into_iter()
        .filter_map(|f| match f {
            ServerFrame::Message {
                seq,
                from,
                name,
                body,
                at,
                ..
            } => Some(Line {
                seq,
                hit: !needle.is_empty() && body.to_lowercase().contains(&needle),
                from,
                name,
                body,
                at,
            }),
            _ => None,
        })
        .collect();
    let context = conversations::visitor_context(state, &c).await?;
    let agents = agents(state).await?;
    let teams = automations::teams(state).await?;
    let row = Row::of(&c, &names, &teams);
    let body = HistoryPage {
        page: page.titled(format!("Chat with {}", c.name)),
        c: row,
        page_url: c.page.clone(),
        q: q.to_string(),
        hits: lines.iter().filter(|l| l.hit).count(),
        lines,
        earlier_chats: context.chats,
        earlier_tickets: context.tickets,
        agents,
        teams: teams
            .into_iter()
            .map(|t| (t.id, t.name, c.row.team_id == Some(t.id)))
            .collect(),
        no_team: c.row.team_id.is_none(),
        notice,
    };
    render_with(status, &body)
}

/// Agents and admins a chat can be handed to: `(id, name)`.
async fn agents(state: &AppState) -> AppResult<Vec<(i64, String)>> {
    Ok(crate::staff::db::active_agents(&state.db).await?)
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
}

/// `POST /admin/chat/{conversation}/reply`: answering without the live
/// console (no JavaScript); the visitor sees it live all the same.
pub async fn reply(
    Staff(user, _): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<ReplyForm>,
) -> AppResult<Response> {
    let c = load(&state, id).await?;
    let body = match conversations::clean_body(&form.body) {
        Ok(b) => b,
        Err(m) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return history_page(&state, page, status, c, "", m.to_string()).await;
        }
    };
    if c.row.status == "waiting" {
        let _ = conversations::accept(&state, &user, id).await?;
    }
    if conversations::post(&state, &c, "agent", Some(&user), &body, None)
        .await?
        .is_none()
    {
        let closed = "This chat is closed.".into();
        return history_page(&state, page, StatusCode::CONFLICT, c, "", closed).await;
    }
    Ok(Redirect::to(&format!("/admin/chat/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: String,
    #[serde(default)]
    to: String,
}

/// `POST /admin/chat/{conversation}/action`: accept, transfer or close.
pub async fn act(
    Staff(user, _): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<ActionForm>,
) -> AppResult<Response> {
    let outcome = match form.action.as_str() {
        "accept" => conversations::accept(&state, &user, id).await?,
        "close" => conversations::close(&state, &user, id).await?,
        "transfer" => match form.to.parse::<i64>() {
            Ok(to) => conversations::transfer(&state, &user, id, to).await?,
            Err(_) => Err(Refused::Conflict("Choose an agent to transfer to.")),
        },
        _ => return Err(AppError::BadRequest("unknown action".into())),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/admin/chat/{id}")).into_response()),
        Err(Refused::NotFound) => Err(AppError::NotFound),
        Err(Refused::Conflict(m)) => {
            let c = load(&state, id).await?;
            history_page(&state, page, StatusCode::CONFLICT, c, "", m.to_string()).await
        }
    }
}

#[derive(Deserialize)]
pub struct TeamForm {
    #[serde(default)]
    team: String,
}

/// `POST /admin/chat/{conversation}/team`: moves the chat to another team
/// (or to none); audited. A team that does not exist changes nothing.
pub async fn move_to_team(
    Staff(user, _): Staff<Agent>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<TeamForm>,
) -> AppResult<Response> {
    let c = load(&state, id).await?;
    let teams = automations::teams(&state).await?;
    let team = match form.team.trim() {
        "" | "none" => None,
        other => match other
            .parse::<i64>()
            .ok()
            .and_then(|t| teams.iter().find(|x| x.id == t))
        {
            Some(t) => Some((t.id, t.name.as_str())),
            None => {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                let m = "Please choose one of the teams.".to_string();
                return history_page(&state, page, status, c, "", m).await;
            }
        },
    };
    match conversations::route(&state, &user, id, team).await? {
        Ok(()) => Ok(Redirect::to(&format!("/admin/chat/{id}")).into_response()),
        Err(_) => Err(AppError::NotFound),
    }
}

#[derive(askama::Template)]
#[template(path = "chat/verify.html")]
struct VerifyPage {
    page: Page,
    name: String,
    done: bool,
}

/// The conversation behind an email-confirmation link: 404 when forged or
/// gone, 410 when expired.
async fn verifiable(state: &AppState, token: &str) -> AppResult<Conversation> {
    match conversations::check_verify_email_token(state, token, now_ms()) {
        None => Err(AppError::NotFound),
        Some(Err(())) => Err(AppError::Gone),
        Some(Ok(id)) => load(state, id).await,
    }
}

/// `GET /chat/verify/{token}`: asks, with a button, so a mail scanner
/// opening the link confirms nothing.
pub async fn show_verify_email(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let c = verifiable(&state, &token).await?;
    render(&VerifyPage {
        page: page.titled("Confirm your email address"),
        name: c.name.clone(),
        done: c.email_verified(),
    })
}

/// `POST /chat/verify/{token}`: the visitor confirms the address is theirs.
pub async fn verify_email(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let c = verifiable(&state, &token).await?;
    if super::db::verify_email(&state.db, c.id(), now_ms()).await? {
        state
            .chat
            .publish(super::hub::Event::Changed {
                conversation: c.id(),
            })
            .await?;
    }
    render(&VerifyPage {
        page: page.titled("Address confirmed"),
        name: c.name.clone(),
        done: true,
    })
}
