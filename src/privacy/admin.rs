//! Staff side of data-subject requests: the list with due dates, and
//! requests opened on behalf of someone who asked by phone or letter.

use super::{db, mydata};
use crate::{
    error::AppResult,
    platform::Platform,
    platform::{
        forms::{EmailAddress, FieldErrors, Form},
        now_ms,
        templates::{Page, render_with},
    },
    staff::{
        Admin, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Query, State},
    response::Response,
};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

#[derive(Deserialize, Default)]
pub struct OnBehalfForm {
    #[serde(default)]
    email: String,
}

/// A request as the person answering it reads it.
pub struct RequestView {
    pub request: db::Request,
    /// What the person asked for, in words.
    pub asked: &'static str,
    pub via: &'static str,
    pub progress: &'static str,
    /// "2 business days left", "overdue by 1 business day"; empty once done.
    pub deadline: String,
    pub late: bool,
}

impl RequestView {
    fn of(
        request: db::Request,
        now: i64,
        zone: chrono_tz::Tz,
        extra_holidays: &[chrono::NaiveDate],
    ) -> RequestView {
        let done = request.completed_at.is_some();
        RequestView {
            asked: match request.kind.as_str() {
                "erasure" => "Erase their data",
                "correction" => "Correct their data",
                "export" => "A copy of their data",
                _ => "See, correct or erase their data",
            },
            via: match request.via.as_str() {
                "staff" => "Opened by staff for them",
                "web" => "Asked on the website",
                _ => "Other",
            },
            progress: match request.status.as_str() {
                "completed" => "Done",
                "verified" => "They opened the link",
                _ => "Link sent, not opened yet",
            },
            deadline: if done {
                String::new()
            } else {
                super::business_days::deadline_words(request.due_at, now, zone, extra_holidays)
            },
            late: !done && request.due_at < now,
            request,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "privacy/admin_requests.html")]
struct RequestsPage {
    page: Page,
    q: String,
    requests: Vec<RequestView>,
    form: OnBehalfForm,
    errors: FieldErrors,
    outcome: String,
}

async fn requests_page(
    state: &Platform,
    page: Page,
    q: String,
    form: OnBehalfForm,
    errors: FieldErrors,
    outcome: String,
) -> AppResult<Response> {
    let status = errors.status();
    let extra = super::business_days::parse_holidays(
        &crate::platform::settings::get_raw(&state.db, super::incidents::HOLIDAYS_SETTING)
            .await?
            .unwrap_or_default(),
    );
    let now = now_ms();
    let zone = state.site().time_zone;
    let requests = db::list_requests(&state.db, q.trim())
        .await?
        .into_iter()
        .map(|r| RequestView::of(r, now, zone, &extra))
        .collect();
    let body = RequestsPage {
        page: page.titled("Privacy requests"),
        q,
        requests,
        form,
        errors,
        outcome,
    };
    render_with(status, &body)
}

pub async fn list_requests(
    _: Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    requests_page(
        &state,
        page,
        search.q,
        OnBehalfForm::default(),
        FieldErrors::default(),
        String::new(),
    )
    .await
}

pub async fn open_on_behalf(
    Staff(user, ..): Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Form(form): Form<OnBehalfForm>,
) -> AppResult<Response> {
    let email = match form.email.parse::<EmailAddress>() {
        Ok(e) => e,
        Err(m) => {
            let mut errors = FieldErrors::default();
            errors.add("email", m);
            return requests_page(&state, page, String::new(), form, errors, String::new()).await;
        }
    };
    let outcome = match mydata::open_request(&state, &email, "staff").await? {
        Some(id) => {
            let mut tx = state.db.begin().await?;
            audit::record(
                &mut tx,
                Actor::Staff(&user),
                "open-on-behalf",
                "privacy_request",
                id,
                "",
            )
            .await?;
            tx.commit().await?;
            "Request opened: the person was sent a link to see, download or erase their data."
                .to_string()
        }
        None => "We hold nothing about this address: there is nothing to see or erase.".to_string(),
    };
    requests_page(
        &state,
        page,
        String::new(),
        OnBehalfForm::default(),
        FieldErrors::default(),
        outcome,
    )
    .await
}

#[derive(askama::Template)]
#[template(path = "privacy/admin_age.html")]
struct AgeQuestionPage {
    page: Page,
    /// `(form key, label, asks)`.
    forms: Vec<(&'static str, &'static str, bool)>,
    saved: bool,
}

fn age_question_page(page: Page, saved: bool) -> AppResult<Response> {
    let forms = super::age::FORMS
        .iter()
        .map(|(key, label)| (*key, *label, page.site.asks_age(key)))
        .collect();
    render_with(
        axum::http::StatusCode::OK,
        &AgeQuestionPage {
            page: page.titled("Age question"),
            forms,
            saved,
        },
    )
}

/// `GET /admin/privacy/age`: which forms ask the year of birth.
pub async fn show_age_question(_: Staff<Admin>, page: Page) -> AppResult<Response> {
    age_question_page(page, false)
}

/// `POST /admin/privacy/age`: a checkbox `ask` per form that asks; the
/// policy follows at once (it is generated from these settings). Audited.
pub async fn save_age_question(
    Staff(user, ..): Staff<Admin>,
    State(state): State<Platform>,
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let asked: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "ask")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut tx = state.db.begin().await?;
    let mut detail = Vec::new();
    for (key, _) in super::age::FORMS {
        let asks = asked.contains(key);
        crate::platform::settings::put(
            &mut tx,
            &format!("{}{key}", crate::platform::settings::AGE_QUESTION_PREFIX),
            if asks { "on" } else { "off" },
        )
        .await?;
        detail.push(format!("{key}={}", if asks { "asks" } else { "off" }));
    }
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "privacy.age_question",
        "settings",
        0,
        &detail.join(" "),
    )
    .await?;
    tx.commit().await?;
    state.reload_site().await?;
    let page = Page {
        site: state.site(),
        ..page
    };
    age_question_page(page, true)
}
