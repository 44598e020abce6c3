//! `/account`: one place where a visitor, signed in by a link mailed to
//! them (`privacy::account`), finds everything they did with us: their
//! support requests (read and answer them), chats, orders, newsletter
//! subscription, survey answers, cookie choices, their data and their
//! signed-in browsers. A feature composing the others' public functions;
//! every look-up is by the signed-in person's subject, so another
//! person's request, chat or order answers 404 like one that does not exist.

use crate::{
    AppState,
    chat::conversations::{self as chat, AccountChatLine},
    consent::{self, OwnChoice},
    error::{AppError, AppResult},
    newsletter::public::{self as newsletter, Subscription},
    platform::{
        forms::{EmailAddress, FieldErrors, Form, text},
        templates::{Page, render, render_with},
    },
    privacy::{
        account::{self, AccountSession, LinkProblem, MaybeAccount, SessionView},
        age::AgeGate,
        mydata,
    },
    shop::{self, OwnOrder},
    support::{
        intake,
        tickets::{self, Message, Ticket},
    },
    surveys::public::{self as surveys, GivenAnswers},
};
use axum::{
    Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(show_account).post(request_link))
        .route("/account/sign-in/{token}", get(show_sign_in).post(sign_in))
        .route(
            "/account/tickets/{reference}",
            get(show_ticket).post(answer_ticket),
        )
        .route("/account/chats/{id}", get(show_chat))
        .route("/account/orders/{reference}", get(show_order))
        .route("/account/sessions", get(show_sessions))
        .route("/account/sessions/{id}/end", post(end_session))
        .route("/account/sign-out", post(sign_out))
        .route("/account/sign-out-everywhere", post(sign_out_everywhere))
        .route("/account/my-data", post(open_my_data))
}

/// Answers with the page, never cached (it is one person's).
fn private(response: Response) -> Response {
    account::private_response(response, &[])
}

/// Where a signed-out visitor asking for an account page goes.
fn to_sign_in() -> Response {
    Redirect::to("/account").into_response()
}

#[derive(Deserialize, Default)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

#[derive(askama::Template)]
#[template(path = "account/start.html")]
struct StartPage {
    page: Page,
    form: EmailForm,
    errors: FieldErrors,
    sent_to: String,
    ended: bool,
}

/// A person's requests as the overview lists them.
struct TicketItem {
    reference: String,
    title: String,
    status: String,
    updated_at: i64,
}

#[derive(askama::Template)]
#[template(path = "account/overview.html")]
struct OverviewPage {
    page: Page,
    email: String,
    tickets: Vec<TicketItem>,
    chats: Vec<ChatItem>,
    orders: Vec<OwnOrder>,
    subscription: Option<Subscription>,
    surveys: Vec<GivenAnswers>,
    cookie_choices: Vec<OwnChoice>,
    sessions: usize,
    notice: String,
}

struct ChatItem {
    id: i64,
    status: String,
    created_at: i64,
    messages: i64,
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    done: String,
}

fn notice(done: &str) -> String {
    match done {
        "signed-in" => "You are signed in. Welcome back!",
        "ended" => "That session is ended: the browser using it is signed out.",
        "everywhere" => "Every other browser is signed out. This one stays signed in.",
        _ => "",
    }
    .into()
}

pub async fn show_account(
    State(state): State<AppState>,
    page: Page,
    account: MaybeAccount,
    Query(q): Query<NoticeQuery>,
) -> AppResult<Response> {
    let Some(session) = account.0 else {
        return Ok(private(render(&StartPage {
            page: page.titled("Your account"),
            form: EmailForm::default(),
            errors: FieldErrors::default(),
            sent_to: String::new(),
            ended: q.done == "signed-out",
        })?));
    };
    let subject = &session.subject;
    // Signed in by their link in this browser: its cookie choices are theirs
    // (as when they open their data).
    mydata::link_browser(&state, subject, &page.privacy).await?;
    let cookie_choices = consent::choices_of(&state, subject.id, &page.privacy.consent).await?;
    let tickets = tickets::of_subject(&state, subject.id)
        .await?
        .into_iter()
        .filter(|t| t.merged_into.is_none())
        .map(|t| TicketItem {
            reference: t.reference,
            title: t.title,
            status: t.status,
            updated_at: t.updated_at,
        })
        .collect();
    let chats = chat::confirmed_of_subject(&state, subject.id)
        .await?
        .into_iter()
        .map(|c| ChatItem {
            id: c.id(),
            status: c.row.status.clone(),
            created_at: c.row.created_at,
            messages: c.row.last_seq,
        })
        .collect();
    let body = OverviewPage {
        page: page.titled("Your account"),
        tickets,
        chats,
        orders: shop::orders_of_subject(&state, subject).await?,
        subscription: newsletter::subscription_of(&state, subject.id).await?,
        surveys: surveys::answers_of_subject(&state, subject).await?,
        cookie_choices,
        sessions: account::sessions(&state.db, &session).await?.len(),
        notice: notice(&q.done),
        email: session.email,
    };
    Ok(private(render(&body)?))
}

pub async fn request_link(
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<EmailForm>,
) -> AppResult<Response> {
    let email = match form.email.parse::<EmailAddress>() {
        Ok(e) => e,
        Err(m) => {
            let mut errors = FieldErrors::default();
            errors.add("email", m);
            let body = StartPage {
                page: page.titled("Your account"),
                form,
                errors,
                sent_to: String::new(),
                ended: false,
            };
            return Ok(private(render_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                &body,
            )?));
        }
    };
    // The same answer whether or not we know the address.
    account::request_link(&state, &email).await?;
    Ok(private(render(&StartPage {
        page: page.titled("Check your email"),
        form: EmailForm::default(),
        errors: FieldErrors::default(),
        sent_to: email.to_string(),
        ended: false,
    })?))
}

#[derive(askama::Template)]
#[template(path = "account/sign_in.html")]
struct SignInPage {
    page: Page,
    token: String,
    email: String,
    problem: String,
}

fn link_problem(page: Page, problem: &LinkProblem) -> AppResult<Response> {
    let status = match problem {
        LinkProblem::Unknown => StatusCode::NOT_FOUND,
        _ => StatusCode::GONE,
    };
    let body = SignInPage {
        page: page.titled("This sign-in link does not work"),
        token: String::new(),
        email: String::new(),
        problem: problem.message().into(),
    };
    Ok(private(render_with(status, &body)?))
}

/// GET of the mailed link: claims it for this browser and shows a button;
/// signs no one in (mail scanners follow links).
pub async fn show_sign_in(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let opened = match account::open_link(&state, &headers, &token).await? {
        Ok(opened) => opened,
        Err(problem) => return link_problem(page, &problem),
    };
    let body = SignInPage {
        page: page.titled("Sign in to your account"),
        token,
        email: opened.email.clone(),
        problem: String::new(),
    };
    let cookies: Vec<String> = opened.set_cookie.into_iter().collect();
    Ok(account::private_response(render(&body)?, &cookies))
}

pub async fn sign_in(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let opened = match account::open_link(&state, &headers, &token).await? {
        Ok(opened) => opened,
        Err(problem) => return link_problem(page, &problem),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(cookie) = account::sign_in(&state, &opened, user_agent).await? else {
        return link_problem(page, &LinkProblem::Used);
    };
    let mut cookies = vec![cookie];
    cookies.extend(opened.set_cookie);
    Ok(account::private_response(
        Redirect::to("/account?done=signed-in").into_response(),
        &cookies,
    ))
}

#[derive(askama::Template)]
#[template(path = "account/ticket.html")]
struct TicketPage {
    page: Page,
    ticket: Ticket,
    messages: Vec<Message>,
    body: String,
    error: String,
    sent: bool,
    max_details: usize,
}

#[derive(Deserialize, Default)]
pub struct SentQuery {
    #[serde(default)]
    sent: String,
}

/// The person's ticket by reference: 404 when it is not theirs.
async fn own_ticket(
    state: &AppState,
    session: &AccountSession,
    reference: &str,
) -> AppResult<Result<(Ticket, crate::privacy::subjects::Subject), Response>> {
    let (ticket, subject) = tickets::of_subject_by_reference(state, session.subject.id, reference)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Some(target) = ticket.merged_into
        && let Some(reference) = tickets::reference_of(state, target).await?
    {
        return Ok(Err(
            Redirect::to(&format!("/account/tickets/{reference}")).into_response()
        ));
    }
    Ok(Ok((ticket, subject)))
}

async fn ticket_page(
    state: &AppState,
    page: Page,
    ticket: Ticket,
    subject: &crate::privacy::subjects::Subject,
    body: String,
    error: String,
    sent: bool,
) -> AppResult<Response> {
    let names = crate::support::public::staff_names(state).await?;
    let company = state.site().company_name.clone();
    let name_of = |id: Option<i64>| {
        id.and_then(|id| names.get(&id).cloned())
            .unwrap_or_else(|| company.clone())
    };
    let messages = tickets::conversation(state, &ticket, subject, false, &name_of).await?;
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = TicketPage {
        page: page.titled(format!("Request {}", ticket.reference)),
        ticket,
        messages,
        body,
        error,
        sent,
        max_details: intake::MAX_DETAILS_CHARS,
    };
    Ok(private(render_with(status, &body)?))
}

pub async fn show_ticket(
    State(state): State<AppState>,
    page: Page,
    account: MaybeAccount,
    Path(reference): Path<String>,
    Query(q): Query<SentQuery>,
) -> AppResult<Response> {
    let Some(session) = account.0 else {
        return Ok(to_sign_in());
    };
    let (ticket, subject) = match own_ticket(&state, &session, &reference).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    ticket_page(
        &state,
        page,
        ticket,
        &subject,
        String::new(),
        String::new(),
        q.sent == "1",
    )
    .await
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    body: String,
}

/// The person's answer: lands on the ticket as the requester's message,
/// exactly as one sent from the ticket's conversation link.
pub async fn answer_ticket(
    State(state): State<AppState>,
    page: Page,
    gate: AgeGate,
    account: MaybeAccount,
    Path(reference): Path<String>,
    Form(form): Form<AnswerForm>,
) -> AppResult<Response> {
    gate.check_remembered()?;
    let Some(session) = account.0 else {
        return Ok(to_sign_in());
    };
    let (ticket, subject) = match own_ticket(&state, &session, &reference).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let problem = if ticket.status == "closed" {
        Err("This request is closed. Please send a new one from the contact page.".to_string())
    } else {
        match text(&form.body, intake::MAX_DETAILS_CHARS) {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err("Please write your answer first.".to_string()),
            Err(e) => Err(e),
        }
    };
    match problem {
        Ok(body) => {
            tickets::visitor_reply(&state, &ticket, &subject, &body).await?;
            Ok(
                Redirect::to(&format!("/account/tickets/{}?sent=1", ticket.reference))
                    .into_response(),
            )
        }
        Err(error) => ticket_page(&state, page, ticket, &subject, form.body, error, false).await,
    }
}

#[derive(askama::Template)]
#[template(path = "account/chat.html")]
struct ChatPage {
    page: Page,
    started_at: i64,
    status: String,
    lines: Vec<AccountChatLine>,
}

pub async fn show_chat(
    State(state): State<AppState>,
    page: Page,
    account: MaybeAccount,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let Some(session) = account.0 else {
        return Ok(to_sign_in());
    };
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let conversation = chat::confirmed_of_subject(&state, session.subject.id)
        .await?
        .into_iter()
        .find(|c| c.id() == id)
        .ok_or(AppError::NotFound)?;
    let body = ChatPage {
        page: page.titled("Your chat"),
        started_at: conversation.row.created_at,
        status: conversation.row.status.clone(),
        lines: chat::transcript_lines(&state, &conversation).await?,
    };
    Ok(private(render(&body)?))
}

#[derive(askama::Template)]
#[template(path = "account/order.html")]
struct OrderPage {
    page: Page,
    order: OwnOrder,
}

pub async fn show_order(
    State(state): State<AppState>,
    page: Page,
    account: MaybeAccount,
    Path(reference): Path<String>,
) -> AppResult<Response> {
    let Some(session) = account.0 else {
        return Ok(to_sign_in());
    };
    let order = shop::orders_of_subject(&state, &session.subject)
        .await?
        .into_iter()
        .find(|o| o.reference.eq_ignore_ascii_case(reference.trim()))
        .ok_or(AppError::NotFound)?;
    let body = OrderPage {
        page: page.titled(format!("Order {}", order.reference)),
        order,
    };
    Ok(private(render(&body)?))
}

#[derive(askama::Template)]
#[template(path = "account/sessions.html")]
struct SessionsPage {
    page: Page,
    sessions: Vec<SessionView>,
    notice: String,
}

pub async fn show_sessions(
    State(state): State<AppState>,
    page: Page,
    account: MaybeAccount,
    Query(q): Query<NoticeQuery>,
) -> AppResult<Response> {
    let Some(session) = account.0 else {
        return Ok(to_sign_in());
    };
    let body = SessionsPage {
        page: page.titled("Signed-in browsers"),
        sessions: account::sessions(&state.db, &session).await?,
        notice: notice(&q.done),
    };
    Ok(private(render(&body)?))
}

fn signed_out(state: &AppState, to: &str) -> Response {
    let cookie = account::session_cookie(state, "", 0);
    account::private_response(Redirect::to(to).into_response(), &[cookie])
}

/// Ends one of the person's sessions (this one signs this browser out).
pub async fn end_session(
    State(state): State<AppState>,
    account: MaybeAccount,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let Some(session) = account.0 else {
        return Ok(to_sign_in());
    };
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    if !account::end_session(&state.db, session.subject.id, id).await? {
        return Err(AppError::NotFound);
    }
    if id == session.id {
        return Ok(signed_out(&state, "/account?done=signed-out"));
    }
    Ok(Redirect::to("/account/sessions?done=ended").into_response())
}

pub async fn sign_out(State(state): State<AppState>, account: MaybeAccount) -> AppResult<Response> {
    if let Some(session) = account.0 {
        account::end_session(&state.db, session.subject.id, session.id).await?;
    }
    Ok(signed_out(&state, "/account?done=signed-out"))
}

/// Signs out every browser of the person, this one included.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    account: MaybeAccount,
) -> AppResult<Response> {
    if let Some(session) = account.0 {
        account::end_all(&state.db, session.subject.id).await?;
    }
    Ok(signed_out(&state, "/account?done=signed-out"))
}

#[derive(Deserialize)]
pub struct MyDataForm {
    #[serde(default)]
    what: String,
}

/// The existing my-data flows, opened for the signed-in person without
/// another mail: see everything, download it, or erase it.
pub async fn open_my_data(
    State(state): State<AppState>,
    account: MaybeAccount,
    Form(form): Form<MyDataForm>,
) -> AppResult<Response> {
    let Some(session) = account.0 else {
        return Ok(to_sign_in());
    };
    let suffix = match form.what.as_str() {
        "see" => "",
        "export" => "/export.json",
        "erase" => "/delete",
        _ => {
            return Err(AppError::Unprocessable(
                "Choose to see, download or erase your data.".into(),
            ));
        }
    };
    let path = mydata::open_for_account(&state, &session.subject, &session.email).await?;
    Ok(private(
        Redirect::to(&format!("{path}{suffix}")).into_response(),
    ))
}
