//! /my-data: a person sees, downloads, corrects and erases everything held
//! about their email, with no account. A single-use link, mailed to the
//! address, opens it; the first browser to open it keeps it for an hour.

use super::{
    db::{self, Request},
    erasure,
    inventory::{Category, Field, Inventory, Shown, Table},
    policy,
    readable::{self, Shape},
    subjects::{self, Subject},
};
use crate::{
    error::{AppError, AppResult},
    platform::{Platform, Privacy, state::Correction},
    platform::{
        forms::{EmailAddress, FieldErrors, Form, text},
        mail::{self, EmailTemplate, Recipient},
        now_ms, random_token, settings,
        templates::{Page, render, render_with},
        token_hash,
    },
    staff::audit::{self, Actor},
};
use anyhow::Context;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

pub const CLAIM_COOKIE: &str = "oc_mydata";
const LINK_VALID_MS: i64 = 24 * 3_600_000;
const SESSION_MS: i64 = 3_600_000;
pub const DUE_DAYS_SETTING: &str = "privacy_request_due_days";

crate::email_template!(pub struct LinkMail { company: String, link: String, hours: i64 }
    subject "email/my_data_link/subject.txt",
    text "email/my_data_link/body.txt",
    html "email/my_data_link/body.html",
);

crate::email_template!(pub struct ErasedMail { company: String, rows: u64 }
    subject "email/my_data_erased/subject.txt",
    text "email/my_data_erased/body.txt",
    html "email/my_data_erased/body.html",
);

#[derive(Deserialize, Default)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

#[derive(askama::Template)]
#[template(path = "privacy/my_data_start.html")]
struct StartPage {
    page: Page,
    form: EmailForm,
    errors: FieldErrors,
    sent_to: String,
}

pub async fn show_start(page: Page) -> AppResult<Response> {
    render(&StartPage {
        page: page.titled("See or erase my data"),
        form: EmailForm::default(),
        errors: FieldErrors::default(),
        sent_to: String::new(),
    })
}

/// Opens a request and mails its link, if we hold anything about the
/// address; says nothing either way. Returns the request id when one was made.
pub async fn open_request(
    state: &Platform,
    email: &EmailAddress,
    via: &str,
) -> anyhow::Result<Option<i64>> {
    let Some(subject) = subjects::find(&state.db, &state.keyring, email.as_str()).await? else {
        return Ok(None);
    };
    let token = random_token(32);
    let now = now_ms();
    let due_days: i64 = settings::get_raw(&state.db, DUE_DAYS_SETTING)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(45);
    let site = state.site();
    let link = state
        .config
        .base_url
        .join(&format!("my-data/{token}"))?
        .to_string();
    let mut tx = state.db.begin().await?;
    let id = db::insert_request(
        &mut tx,
        "access",
        via,
        subject.id,
        &token_hash(&token),
        now + due_days * 86_400_000,
        now + LINK_VALID_MS,
    )
    .await?;
    store_email(&mut tx, id, &subject, email.as_str()).await?;
    let mail = LinkMail {
        company: site.company_name.clone(),
        link,
        hours: LINK_VALID_MS / 3_600_000,
    };
    mail::enqueue(
        &mut tx,
        &state.keyring,
        &site,
        Recipient::Subject(&subject),
        "my-data-link",
        &format!("my-data-link:{id}"),
        &mail.to_mail(email.as_str())?,
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Some(id))
}

/// Opens a request for a person signed in to their account, who proved
/// their address already: no mail, the path of the my-data page it opens
/// (claimed, like a mailed link, by the first browser to follow it).
pub async fn open_for_account(
    state: &Platform,
    subject: &Subject,
    email: &str,
) -> anyhow::Result<String> {
    let token = random_token(32);
    let now = now_ms();
    let due_days: i64 = settings::get_raw(&state.db, DUE_DAYS_SETTING)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(45);
    let mut tx = state.db.begin().await?;
    let id = db::insert_request(
        &mut tx,
        "access",
        "account",
        subject.id,
        &token_hash(&token),
        now + due_days * 86_400_000,
        now + LINK_VALID_MS,
    )
    .await?;
    store_email(&mut tx, id, subject, email).await?;
    tx.commit().await?;
    Ok(format!("/my-data/{token}"))
}

async fn store_email(
    tx: &mut crate::platform::db::Tx,
    request_id: i64,
    subject: &Subject,
    email: &str,
) -> anyhow::Result<()> {
    let sealed = subject.seal("privacy_requests", "email", email);
    db::store_request_email(tx, request_id, &sealed).await?;
    Ok(())
}

pub async fn request_link(
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<EmailForm>,
) -> AppResult<Response> {
    let email = match form.email.parse::<EmailAddress>() {
        Ok(e) => e,
        Err(m) => {
            let mut errors = FieldErrors::default();
            errors.add("email", m);
            let body = StartPage {
                page: page.titled("See or erase my data"),
                form,
                errors,
                sent_to: String::new(),
            };
            return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
        }
    };
    open_request(&state, &email, "web").await?;
    render(&StartPage {
        page: page.titled("Check your email"),
        form: EmailForm::default(),
        errors: FieldErrors::default(),
        sent_to: email.to_string(),
    })
}

/// The request behind a link, checked: known, not expired, and opened by
/// this browser (the first to open it claims it).
struct Access {
    request: Request,
    subject: Option<Subject>,
    set_cookie: Option<String>,
}

async fn access(state: &Platform, headers: &HeaderMap, token: &str) -> Result<Access, AppError> {
    let request = db::request_by_token(&state.db, &token_hash(token))
        .await?
        .ok_or(AppError::NotFound)?;
    let now = now_ms();
    let jar = CookieJar::from_headers(headers);
    let mut set_cookie = None;
    match &request.claim_hash {
        None => {
            if request.expires_at < now || request.status == "completed" {
                return Err(AppError::Gone);
            }
            let secret = random_token(32);
            if !db::claim_request(&state.db, request.id, &token_hash(&secret)).await? {
                return Err(AppError::Gone);
            }
            let cookie = Cookie::build((CLAIM_COOKIE, secret))
                .path("/my-data")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.config.is_https())
                .build();
            set_cookie = Some(cookie.to_string());
        }
        Some(claim) => {
            let mine = jar
                .get(CLAIM_COOKIE)
                .is_some_and(|c| &token_hash(c.value()) == claim);
            let fresh = request.claimed_at.is_some_and(|t| t + SESSION_MS > now);
            if !mine || !fresh || request.status == "completed" {
                return Err(AppError::Gone);
            }
        }
    }
    let subject = match request.subject_id {
        Some(id) => subjects::key(&state.db, &state.keyring, id)
            .await?
            .map(|key| Subject { id, key }),
        None => None,
    };
    Ok(Access {
        request,
        subject,
        set_cookie,
    })
}

fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A field a person may correct: encrypted contact or identity data, in a
/// table that names its subject.
pub struct Correctable {
    pub table: &'static Table,
    pub subject_column: &'static str,
    pub field: &'static Field,
}

/// The declared field these names (from the form) point to, if a person may correct it.
pub fn correctable(inventory: &Inventory, table: &str, column: &str) -> Option<Correctable> {
    let table = inventory.table(table)?;
    let subject_column = table.subject_column?;
    let field = table.personal.iter().find(|f| {
        f.column == column
            && f.encrypted
            && matches!(f.category, Category::Contact | Category::Identity)
    })?;
    // A value derived from another (a phone number in international
    // format) is internal: it follows the field it comes from.
    let shown = table.columns.iter().find(|c| c.column == column)?;
    if shown.shown == Shown::Internal {
        return None;
    }
    Some(Correctable {
        table,
        subject_column,
        field,
    })
}

/// The person's data as cards, correction forms where allowed.
fn readable_groups(
    inventory: &Inventory,
    exports: &[erasure::TableExport],
    zone: chrono_tz::Tz,
) -> Vec<readable::Group> {
    readable::groups(inventory, exports, zone, |table, column| {
        correctable(inventory, table, column).is_some()
    })
}

#[derive(askama::Template)]
#[template(path = "privacy/my_data.html")]
struct MyDataPage {
    page: Page,
    token: String,
    groups: Vec<readable::Group>,
    notices: Vec<db::Incident>,
    corrected: bool,
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    corrected: Option<String>,
}

/// What the features do when a person proves who they are in this browser
/// (the consent feature links its cookie choices to them); the account
/// does it too, for a signed-in person.
pub async fn link_browser(
    state: &Platform,
    subject: &Subject,
    privacy: &Privacy,
) -> anyhow::Result<()> {
    for link in &state.registry.browser_links {
        link(state, subject, privacy).await?;
    }
    Ok(())
}

pub async fn show_data(
    State(state): State<Platform>,
    page: Page,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(query): Query<ShowQuery>,
) -> AppResult<Response> {
    let access = access(&state, &headers, &token).await?;
    if let Some(subject) = &access.subject {
        link_browser(&state, subject, &page.privacy).await?;
    }
    let (groups, notices) = match &access.subject {
        Some(subject) => (
            {
                let inventory = &state.registry.inventory;
                readable_groups(
                    inventory,
                    &erasure::export(&state.db, inventory, subject).await?,
                    page.site.time_zone,
                )
            },
            db::notices_for_subject(&state.db, subject.id).await?,
        ),
        None => (vec![], vec![]),
    };
    let body = render(&MyDataPage {
        page: page.titled("Your data"),
        token,
        groups,
        notices,
        corrected: query.corrected.is_some(),
    })?;
    Ok(with_cookie(body, access.set_cookie))
}

pub async fn export_json(
    State(state): State<Platform>,
    privacy: Privacy,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let access = access(&state, &headers, &token).await?;
    if let Some(subject) = &access.subject {
        link_browser(&state, subject, &privacy).await?;
    }
    let tables = match &access.subject {
        Some(subject) => erasure::export(&state.db, &state.registry.inventory, subject).await?,
        None => vec![],
    };
    let site = state.site();
    let document = serde_json::json!({
        "generated_at": chrono::Utc::now().to_rfc3339(),
        "controller": { "name": site.company_name, "address": site.postal_address, "email": site.contact_email },
        "policy_version": policy::generate(&site, &state.registry.inventory).version,
        "request": { "id": access.request.id, "created_at": access.request.created_at },
        "readme": EXPORT_README,
        "data": tables.iter().map(|t| explained(&state.registry.inventory, t, site.time_zone)).collect::<Vec<_>>(),
    });
    let body = serde_json::to_vec_pretty(&document).context("serialising export")?;
    let response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"my-data.json\""),
            ),
        ],
        body,
    )
        .into_response();
    Ok(with_cookie(response, access.set_cookie))
}

const EXPORT_README: &str = "Everything we hold about you, table by table. Each entry of `data` is one \
kind of record: `title` names it, `fields` says for each field what it is and why we keep it, `rows` holds \
every record as stored (times in milliseconds since 1 January 1970 UTC, amounts in cents, encrypted fields \
decrypted, files as hexadecimal) and `summaries` reads each row in one line, in the same order. Fields our \
page does not show (`\"shown\": \"internal\"`) are numbers and keys our systems use to link and protect your \
data; they are here so that nothing is held back.";

/// One table of the export with what its fields are, and each row in a
/// line (its dates the days in `zone`, the company's).
fn explained(
    inventory: &Inventory,
    export: &erasure::TableExport,
    zone: chrono_tz::Tz,
) -> serde_json::Value {
    let table = inventory.table(export.table);
    let fields: serde_json::Map<String, serde_json::Value> = table
        .into_iter()
        .flat_map(|t| t.columns.iter())
        .map(|c| {
            let label = if c.label.is_empty() {
                c.column.replace('_', " ")
            } else {
                c.label.to_string()
            };
            (
                c.column.to_string(),
                serde_json::json!({
                    "label": label,
                    "shown": format!("{:?}", c.shown).to_lowercase(),
                    "explanation": c.explanation,
                }),
            )
        })
        .collect();
    serde_json::json!({
        "table": export.table,
        "feature": export.feature,
        "title": table.map(|t| t.title),
        "fields": fields,
        "summaries": export
            .rows
            .iter()
            .map(|row| table.map(|t| readable::summary(t, row, zone)))
            .collect::<Vec<_>>(),
        "rows": export.rows,
    })
}

#[derive(Deserialize)]
pub struct CorrectionForm {
    table: String,
    id: i64,
    column: String,
    #[serde(default)]
    value: String,
}

pub async fn correct_field(
    State(state): State<Platform>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<CorrectionForm>,
) -> AppResult<Response> {
    let access = access(&state, &headers, &token).await?;
    let subject = access.subject.ok_or(AppError::Gone)?;
    let target = correctable(&state.registry.inventory, &form.table, &form.column)
        .ok_or_else(|| AppError::Unprocessable("That field cannot be corrected here.".into()))?;
    let value = corrected_value(&form.value, target.field)?;
    let (table, column) = (target.table.name, target.field.column);
    let sealed = subject.seal(table, column, &value);
    let mut tx = state.db.begin().await?;
    let corrected = db::correct_field(
        &mut tx,
        target.table,
        target.subject_column,
        column,
        form.id,
        subject.id,
        &sealed,
    )
    .await?;
    if !corrected {
        return Err(AppError::NotFound);
    }
    // What the features do about it (a newsletter address is used only
    // once its owner confirms it), in the same transaction.
    let change = Correction {
        subject: &subject,
        table,
        column,
        row_id: form.id,
        value: &value,
    };
    for corrected in &state.registry.corrections {
        corrected(&state, &mut tx, &change).await?;
    }
    let actor = Actor::System("data subject");
    audit::record(&mut tx, actor, "correct", table, form.id, column).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Redirect::to(&format!("/my-data/{token}?corrected=1")).into_response())
}

/// The new value as typed, if it may replace the field's.
fn corrected_value(typed: &str, field: &Field) -> AppResult<String> {
    let value = match text(typed, 500) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Err(AppError::Unprocessable(
                "A corrected value cannot be empty; to remove data, erase it.".into(),
            ));
        }
        Err(m) => return Err(AppError::Unprocessable(m)),
    };
    if field.column.contains("email") && value.parse::<EmailAddress>().is_err() {
        return Err(AppError::Unprocessable(
            "Please enter a valid email address.".into(),
        ));
    }
    Ok(value)
}

#[derive(askama::Template)]
#[template(path = "privacy/my_data_delete.html")]
struct DeletePage {
    page: Page,
    token: String,
    groups: Vec<readable::Group>,
    backup_days: u32,
    done: bool,
}

pub async fn confirm_delete(
    State(state): State<Platform>,
    page: Page,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let access = access(&state, &headers, &token).await?;
    let groups = match &access.subject {
        Some(subject) => {
            let inventory = &state.registry.inventory;
            readable_groups(
                inventory,
                &erasure::export(&state.db, inventory, subject).await?,
                page.site.time_zone,
            )
        }
        None => vec![],
    };
    let backup_days = page.site.backup_keep_days;
    let body = render(&DeletePage {
        page: page.titled("Erase my data"),
        token,
        groups,
        backup_days,
        done: false,
    })?;
    Ok(with_cookie(body, access.set_cookie))
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete_data(
    State(state): State<Platform>,
    page: Page,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<DeleteForm>,
) -> AppResult<Response> {
    if form.confirm != "yes" {
        return Err(AppError::Unprocessable(
            "Tick the box to confirm that everything should be erased.".into(),
        ));
    }
    let access = access(&state, &headers, &token).await?;
    let subject = access.subject.ok_or(AppError::Gone)?;
    let email = request_email(&state, access.request.id, &subject).await?;
    let site = state.site();
    let mut tx = state.db.begin().await?;
    let rows = erasure::erase(&mut tx, &state.registry.inventory, subject.id, "my-data").await?;
    // Services that received events about the person hear of the erasure
    // (by the `person_id` those events carried), nothing more.
    erasure::announce(&mut tx, &state, subject.id, "my-data").await?;
    db::complete_request(&mut tx, access.request.id, "erasure").await?;
    db::forget_request_email(&mut tx, access.request.id).await?;
    audit::record(
        &mut tx,
        Actor::System("data subject"),
        "erase",
        "subject",
        subject.id,
        &format!("{rows} rows"),
    )
    .await?;
    if let Some(email) = email {
        let mail = ErasedMail {
            company: site.company_name.clone(),
            rows,
        };
        mail::enqueue(
            &mut tx,
            &state.keyring,
            &site,
            Recipient::System,
            "erasure-confirmation",
            &format!("erasure-confirmation:{}", access.request.id),
            &mail.to_mail(&email)?,
        )
        .await?;
    }
    tx.commit().await?;
    erasure::append_log(
        &state.config.data_dir,
        &erasure::LogEntry {
            subject_id: subject.id,
            erased_at: now_ms(),
        },
    )?;
    // The erasure is committed: a file left behind is the operator's to
    // see (the retention sweeps it again), not a failure shown to the person.
    if let Err(e) = erasure::clear_traces(&state, subject.id).await {
        tracing::error!(error = ?e, subject_id = subject.id, "clearing an erasure's traces");
    }
    state.mail_wakeup.notify_one();
    let backup_days = page.site.backup_keep_days;
    render(&DeletePage {
        page: page.titled("Your data is erased"),
        token: String::new(),
        groups: vec![],
        backup_days,
        done: true,
    })
}

async fn request_email(
    state: &Platform,
    request_id: i64,
    subject: &Subject,
) -> anyhow::Result<Option<String>> {
    db::request_email(&state.db, request_id)
        .await?
        .map(|s| subject.open("privacy_requests", "email", &s))
        .transpose()
}
