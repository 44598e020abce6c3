//! Visitor pages: the contact form, the "received" page with the ticket
//! reference, and the signed conversation page.

use super::{
    TicketRef, db,
    intake::{self, ContactForm, ContactInput, Refusal},
    settings::{self, SupportSettings},
    tickets::{self, Created, Message, Ticket},
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::ClientIp,
    platform::{
        forms::{FieldErrors, Form, text},
        now_ms,
        templates::{Page, render, render_with},
    },
    privacy::{account::MaybeAccount, age::AgeGate},
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(askama::Template)]
#[template(path = "support/contact.html")]
struct ContactPage {
    page: Page,
    form: ContactForm,
    errors: FieldErrors,
    /// Why the whole submission was refused, if it was.
    refusal: String,
    products: Vec<String>,
    /// Files were chosen but the form came back: they must be chosen again.
    reattach: bool,
    max_details: usize,
    /// The signed-in visitor's address: the request is theirs, no typing.
    account_email: String,
}

impl ContactPage {
    fn other_selected(&self) -> bool {
        self.form.product == intake::OTHER_PRODUCT
    }
}

fn contact_page(
    page: Page,
    mut form: ContactForm,
    errors: FieldErrors,
    refusal: String,
    settings: &SupportSettings,
    reattach: bool,
    account: &MaybeAccount,
) -> ContactPage {
    let account_email = account.email().unwrap_or_default().to_string();
    if !account_email.is_empty() {
        form.email = account_email.clone();
    }
    ContactPage {
        account_email,
        page: page.titled("Contact us"),
        form,
        errors,
        refusal,
        products: settings.products.clone(),
        reattach,
        max_details: intake::MAX_DETAILS_CHARS,
    }
}

pub async fn show_contact_form(
    State(state): State<AppState>,
    page: Page,
    account: MaybeAccount,
) -> AppResult<Response> {
    let settings = settings::load(&state.db).await?;
    let form = ContactForm {
        token: intake::new_token(&state.keyring, now_ms()),
        ..ContactForm::default()
    };
    render(&contact_page(
        page,
        form,
        FieldErrors::default(),
        String::new(),
        &settings,
        false,
        &account,
    ))
}

const FIELDS: &[&str] = &[
    "form",
    "name",
    "email",
    "phone",
    "product",
    "product_other",
    "subject",
    "details",
    "birth_year",
    "attachments",
    "attachments_size",
    "attachments_type",
];

pub async fn submit_query(
    State(state): State<AppState>,
    page: Page,
    gate: AgeGate,
    ClientIp(ip): ClientIp,
    account: MaybeAccount,
    mut input: ContactInput,
) -> AppResult<Response> {
    // Signed in: the request is the account's, whatever the field says.
    if let Some(email) = account.email() {
        input.form.email = email.to_string();
    }
    // The age question first: a child's answer keeps and sends nothing.
    let age_problem = gate.check_form(crate::privacy::age::CONTACT, &input.form.birth_year)?;
    let settings = settings::load(&state.db).await?;
    let now = now_ms();
    let reattach = !input.uploads.is_empty();
    let refuse = |page: Page, mut form: ContactForm, why: Refusal| -> AppResult<Response> {
        form.token = intake::new_token(&state.keyring, now);
        form.website.clear();
        let body = contact_page(
            page,
            form,
            FieldErrors::default(),
            why.message(&state.site().contact_email),
            &settings,
            reattach,
            &account,
        );
        render_with(why.status(), &body)
    };
    let nonce = match intake::check_stamp(&input.form, &state.keyring, now, &settings) {
        Ok(nonce) => nonce,
        Err(why) => return refuse(page, input.form, why),
    };
    // The same form again (a double click): show the ticket it already made.
    if let Some((_, Some(reference))) = db::ticket_by_nonce(&state.db, &nonce).await? {
        let reference: TicketRef = reference.parse()?;
        return Ok(Redirect::to(&tickets::received_path(&state, &reference)).into_response());
    }
    let ip_hash = state.keyring.blind_index("ip", &ip.to_string());
    let (hour, day) =
        db::count_intake(&state.db, &ip_hash, now - 3_600_000, now - 86_400_000).await?;
    if hour >= settings.per_ip_hour {
        return refuse(page, input.form, Refusal::HourLimit(hour));
    }
    if day >= settings.per_ip_day {
        return refuse(page, input.form, Refusal::DayLimit(day));
    }
    let new = match intake::validate(input, age_problem, &settings) {
        Ok(new) => new,
        Err(invalid) => {
            let intake::Invalid { form, errors } = *invalid;
            let status = intake::error_status(&errors, FIELDS);
            let body = contact_page(
                page,
                form,
                errors,
                String::new(),
                &settings,
                reattach,
                &account,
            );
            return render_with(status, &body);
        }
    };
    let reference = match tickets::create(&state, &new, &nonce, &ip_hash).await? {
        Created::New { reference, .. } => {
            crate::analytics::goal(&state, "query_sent");
            reference
        }
        Created::Existing { reference, .. } => reference,
    };
    Ok(Redirect::to(&tickets::received_path(&state, &reference)).into_response())
}

#[derive(askama::Template)]
#[template(path = "support/received.html")]
struct ReceivedPage {
    page: Page,
    reference: String,
}

pub async fn show_received(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let reference = tickets::verify_received(&state, &token).ok_or(AppError::NotFound)?;
    render(&ReceivedPage {
        page: page.titled(format!("Request {reference} received")),
        reference: reference.to_string(),
    })
}

#[derive(askama::Template)]
#[template(path = "support/invalid_link.html")]
struct InvalidLinkPage {
    page: Page,
}

fn invalid_link(page: Page) -> AppResult<Response> {
    let body = InvalidLinkPage {
        page: page.titled("Link not valid"),
    };
    render_with(StatusCode::NOT_FOUND, &body)
}

#[derive(askama::Template)]
#[template(path = "support/conversation.html")]
struct ConversationPage {
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

/// Staff display names by id, for "who answered you".
pub async fn staff_names(state: &AppState) -> AppResult<HashMap<i64, String>> {
    Ok(crate::staff::db::list_users(&state.db, "")
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect())
}

/// The ticket behind a conversation token, following merges.
enum Lookup {
    Found(Box<(Ticket, crate::privacy::subjects::Subject)>),
    MergedInto(String),
    /// A genuine link that was reissued or whose ticket closed long ago.
    Gone,
    Invalid,
}

async fn lookup(state: &AppState, token: &str) -> AppResult<Lookup> {
    let Some((id, nonce)) = tickets::verify_conversation(state, token) else {
        return Ok(Lookup::Invalid);
    };
    let Some(row) = db::ticket(&state.db, id).await? else {
        return Ok(Lookup::Invalid);
    };
    if !tickets::link_alive(&row, nonce, now_ms()) {
        return Ok(Lookup::Gone);
    }
    if let Some(target) = row.merged_into {
        let Some(target) = db::ticket(&state.db, target).await? else {
            return Ok(Lookup::Invalid);
        };
        return Ok(Lookup::MergedInto(tickets::conversation_path(
            state,
            target.id,
            &target.link_nonce,
        )));
    }
    Ok(match Ticket::open(state, row)? {
        Some(found) => Lookup::Found(Box::new(found)),
        None => Lookup::Invalid,
    })
}

#[derive(askama::Template)]
#[template(path = "support/gone_link.html")]
struct GoneLinkPage {
    page: Page,
    days: i64,
}

/// 410: the link was genuine but has been replaced or has expired.
fn gone_link(page: Page) -> AppResult<Response> {
    let body = render(&GoneLinkPage {
        page: page.titled("Link no longer works"),
        days: tickets::LINK_DAYS_AFTER_CLOSE,
    })?;
    Ok((StatusCode::GONE, body).into_response())
}

async fn conversation_page(
    state: &AppState,
    page: Page,
    ticket: Ticket,
    subject: &crate::privacy::subjects::Subject,
    body: String,
    error: String,
    sent: bool,
) -> AppResult<Response> {
    let names = staff_names(state).await?;
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
    let body = ConversationPage {
        page: page.titled(format!("Request {}", ticket.reference)),
        ticket,
        messages,
        body,
        error,
        sent,
        max_details: intake::MAX_DETAILS_CHARS,
    };
    render_with(status, &body)
}

pub async fn show_conversation(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
    Query(q): Query<SentQuery>,
) -> AppResult<Response> {
    match lookup(&state, &token).await? {
        Lookup::Invalid => invalid_link(page),
        Lookup::Gone => gone_link(page),
        Lookup::MergedInto(path) => Ok(Redirect::to(&path).into_response()),
        Lookup::Found(found) => {
            let (ticket, subject) = *found;
            conversation_page(
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
    }
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    body: String,
}

pub async fn answer_ticket(
    State(state): State<AppState>,
    page: Page,
    gate: AgeGate,
    Path(token): Path<String>,
    Form(form): Form<AnswerForm>,
) -> AppResult<Response> {
    gate.check_remembered()?;
    let (ticket, subject) = match lookup(&state, &token).await? {
        Lookup::Invalid => return invalid_link(page),
        Lookup::Gone => return gone_link(page),
        // Answer the ticket it was merged into.
        Lookup::MergedInto(path) => return Ok(Redirect::to(&path).into_response()),
        Lookup::Found(found) => *found,
    };
    if ticket.status == "closed" {
        let error = "This request is closed. Please send a new one from the contact page.";
        return conversation_page(
            &state,
            page,
            ticket,
            &subject,
            form.body,
            error.into(),
            false,
        )
        .await;
    }
    let body = match text(&form.body, intake::MAX_DETAILS_CHARS) {
        Ok(Some(body)) => body,
        Ok(None) => {
            let error = "Please write your answer first.";
            return conversation_page(
                &state,
                page,
                ticket,
                &subject,
                form.body,
                error.into(),
                false,
            )
            .await;
        }
        Err(error) => {
            return conversation_page(&state, page, ticket, &subject, form.body, error, false)
                .await;
        }
    };
    tickets::visitor_reply(&state, &ticket, &subject, &body).await?;
    Ok(Redirect::to(&format!(
        "{}?sent=1",
        tickets::conversation_path(&state, ticket.id, &ticket.link_nonce)
    ))
    .into_response())
}

/// A contact number corrected on /my-data: its international form, which
/// staff dial, is made again from the corrected one in the correction's
/// transaction (or cleared when it is not a valid number), so the two
/// never disagree. Registered as a [`crate::platform::state::CorrectionHook`].
pub fn phone_corrected<'a>(
    state: &'a crate::platform::Platform,
    tx: &'a mut crate::platform::db::Tx,
    change: &'a crate::platform::state::Correction<'a>,
) -> futures_util::future::BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        if change.table == "tickets" && change.column == "phone" {
            let region = settings::load(&state.db).await?.phone_region;
            let e164 = intake::to_e164(change.value, &region)
                .map(|n| change.subject.seal("tickets", "phone_e164", &n));
            db::set_phone_e164(tx, change.row_id, change.subject.id, e164).await?;
        }
        Ok(())
    })
}
