//! Answering surveys, with plain forms.
//!
//! One response per visitor is enforced without a tracking cookie, by two
//! signed tokens that identify nobody:
//!
//! - each form carries a **signed per-survey token** (survey id and a random
//!   nonce, signed by the server); the response stores only a hash of the
//!   nonce (`marker`, unique per survey), so the same form cannot be sent
//!   twice (double click, back and resend, replay);
//! - after answering, the browser gets the necessary cookie `oc_surveys`:
//!   the signed list of survey numbers it answered, nothing else. A survey
//!   in that list shows "already answered" instead of the form.
//!
//! A response that gives an email address is also unique per person and
//! survey (through the data subject). Anonymous responses cannot be tied
//! to a person; whoever clears their cookies can answer again, the price
//! of not tracking anyone.

use super::{Kind, Question, Status, Survey, db};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        forms::{EmailAddress, FieldErrors, Form, text},
        now_ms, random_token,
        templates::{Page, render, render_with},
        token_hash,
    },
    privacy::{
        age::{self, AgeGate},
        subjects,
    },
};
use anyhow::Context;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use std::collections::HashMap;

pub const ANSWERED_COOKIE: &str = "oc_surveys";
const ANSWERED_PURPOSE: &str = "surveys-answered";
const FORM_PURPOSE: &str = "survey-form";
/// Surveys remembered in the cookie; the oldest drop out first.
const REMEMBERED: usize = 50;
const COOKIE_DAYS: i64 = 365;

/// Survey ids this browser answered, from the signed cookie (an unsigned or
/// unreadable cookie counts as none).
pub fn answered(headers: &HeaderMap, state: &AppState) -> Vec<i64> {
    let jar = CookieJar::from_headers(headers);
    jar.get(ANSWERED_COOKIE)
        .and_then(|c| state.keyring.verify(ANSWERED_PURPOSE, c.value()))
        .and_then(|data| data.strip_prefix("s1-"))
        .map(|ids| ids.split('_').filter_map(|i| i.parse().ok()).collect())
        .unwrap_or_default()
}

fn answered_cookie(state: &AppState, mut ids: Vec<i64>, survey_id: i64) -> String {
    ids.retain(|i| *i != survey_id);
    ids.push(survey_id);
    let skip = ids.len().saturating_sub(REMEMBERED);
    let data: Vec<String> = ids[skip..].iter().map(i64::to_string).collect();
    let cookie = Cookie::build((
        ANSWERED_COOKIE,
        state
            .keyring
            .sign(ANSWERED_PURPOSE, &format!("s1-{}", data.join("_"))),
    ))
    .path("/surveys")
    .http_only(true)
    .same_site(SameSite::Lax)
    .secure(state.config.is_https())
    .build();
    format!("{cookie}; Max-Age={}", COOKIE_DAYS * 86_400)
}

fn form_token(state: &AppState, survey_id: i64) -> String {
    state
        .keyring
        .sign(FORM_PURPOSE, &format!("{survey_id}-{}", random_token(16)))
}

/// The nonce of a form token made for this survey.
fn token_nonce<'a>(state: &AppState, survey_id: i64, token: &'a str) -> Option<&'a str> {
    let data = state.keyring.verify(FORM_PURPOSE, token)?;
    let (id, nonce) = data.split_once('-')?;
    (id.parse::<i64>().ok()? == survey_id && !nonce.is_empty()).then_some(nonce)
}

pub struct SurveyItem {
    pub slug: String,
    pub title: String,
    pub intro: String,
    pub closes_at: Option<i64>,
    pub answered: bool,
    /// Counted from the survey's questions, never written in its intro.
    pub questions: usize,
}

#[derive(askama::Template)]
#[template(path = "surveys/list.html")]
struct ListPage {
    page: Page,
    surveys: Vec<SurveyItem>,
}

pub async fn list_surveys(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
) -> AppResult<Response> {
    let done = answered(&headers, &state);
    let mut surveys = Vec::new();
    for s in db::open_surveys(&state.db, now_ms()).await? {
        surveys.push(SurveyItem {
            answered: done.contains(&s.id),
            questions: db::questions(&state.db, s.id).await?.len(),
            slug: s.slug,
            title: s.title,
            intro: s.intro,
            closes_at: s.closes_at.map(|c| c - 1),
        });
    }
    render(&ListPage {
        page: page.titled("Surveys"),
        surveys,
    })
}

pub struct ChoiceView {
    pub value: i64,
    pub label: String,
    pub checked: bool,
}

pub struct QuestionView {
    pub id: i64,
    pub number: usize,
    pub kind: &'static str,
    pub prompt: String,
    pub required: bool,
    pub choices: Vec<ChoiceView>,
    pub text: String,
    pub max: usize,
    pub error: String,
}

#[derive(Default)]
pub struct ContactForm {
    pub name: String,
    pub email: String,
    pub birth_year: String,
}

#[derive(askama::Template)]
#[template(path = "surveys/answer.html")]
struct AnswerPage {
    page: Page,
    survey: Survey,
    questions: Vec<QuestionView>,
    form: ContactForm,
    errors: FieldErrors,
    token: String,
    message: String,
}

#[derive(askama::Template)]
#[template(path = "surveys/done.html")]
struct DonePage {
    page: Page,
    title: String,
    message: String,
}

fn done_page(page: Page, status: StatusCode, title: &str, message: &str) -> AppResult<Response> {
    let body = DonePage {
        page: page.titled(title.to_string()),
        title: title.to_string(),
        message: message.to_string(),
    };
    render_with(status, &body)
}

/// What the visitor typed, by field name (a field may repeat: checkboxes).
type Typed = HashMap<String, Vec<String>>;

fn views(
    questions: &[Question],
    typed: &Typed,
    errors: &HashMap<i64, String>,
) -> Vec<QuestionView> {
    questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let given = typed.get(&format!("q{}", q.id));
            let chosen =
                |v: i64| given.is_some_and(|g| g.iter().any(|x| x.trim() == v.to_string()));
            QuestionView {
                id: q.id,
                number: i + 1,
                kind: q.kind.as_str(),
                prompt: q.prompt.clone(),
                required: q.required,
                choices: q
                    .choices()
                    .into_iter()
                    .map(|(value, label)| ChoiceView {
                        checked: chosen(value),
                        value,
                        label,
                    })
                    .collect(),
                text: given
                    .filter(|_| q.kind.is_text())
                    .and_then(|g| g.first().cloned())
                    .unwrap_or_default(),
                max: q.kind.max_chars(),
                error: errors.get(&q.id).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// A survey that may be answered now, or the page saying why not.
async fn answerable(
    state: &AppState,
    page: &Page,
    slug: &str,
) -> AppResult<Result<Survey, Response>> {
    let survey = db::survey_by_slug(&state.db, slug)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(match survey.status(now_ms()) {
        Status::Open => Ok(survey),
        Status::Closed => Err(done_page(
            page.clone(),
            StatusCode::GONE,
            &survey.title,
            "This survey is closed. Thank you for your interest.",
        )?),
        Status::Draft | Status::Scheduled => return Err(AppError::NotFound),
    })
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    thanks: Option<String>,
}

pub async fn show_survey(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Query(query): Query<ShowQuery>,
) -> AppResult<Response> {
    let survey = match answerable(&state, &page, &slug).await? {
        Ok(s) => s,
        Err(closed) => return Ok(closed),
    };
    if answered(&headers, &state).contains(&survey.id) {
        let message = if query.thanks.is_some() {
            "Thank you: your answers are saved."
        } else {
            "You have already answered this survey. Thank you!"
        };
        return done_page(page, StatusCode::OK, &survey.title, message);
    }
    let questions = db::questions(&state.db, survey.id).await?;
    render(&AnswerPage {
        page: page.titled(survey.title.clone()),
        token: form_token(&state, survey.id),
        questions: views(&questions, &Typed::new(), &HashMap::new()),
        survey,
        form: ContactForm::default(),
        errors: FieldErrors::default(),
        message: String::new(),
    })
}

/// One question's answer, checked: choice values and at most one text.
struct Answer {
    question_id: i64,
    choices: Vec<i64>,
    text: Option<String>,
}

fn read_answers(questions: &[Question], typed: &Typed) -> (Vec<Answer>, HashMap<i64, String>) {
    let mut answers = vec![];
    let mut errors = HashMap::new();
    for q in questions {
        let given: Vec<&str> = typed
            .get(&format!("q{}", q.id))
            .map(|v| {
                v.iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let mut answer = Answer {
            question_id: q.id,
            choices: vec![],
            text: None,
        };
        if q.kind.is_text() {
            match given.first().map(|t| text(t, q.kind.max_chars())) {
                Some(Ok(t)) => answer.text = t,
                Some(Err(m)) => {
                    errors.insert(q.id, m);
                }
                None => {}
            }
        } else {
            let valid: Vec<i64> = q.choices().into_iter().map(|(v, _)| v).collect();
            for g in &given {
                match g.parse::<i64>() {
                    Ok(v) if valid.contains(&v) && !answer.choices.contains(&v) => {
                        answer.choices.push(v)
                    }
                    _ => {
                        errors.insert(q.id, "Please choose one of the answers shown.".into());
                    }
                }
            }
            if q.kind != Kind::Multiple && answer.choices.len() > 1 {
                errors.insert(q.id, "Please choose only one answer.".into());
            }
        }
        let empty = answer.choices.is_empty() && answer.text.is_none();
        if q.required && empty && !errors.contains_key(&q.id) {
            errors.insert(q.id, "Please answer this question.".into());
        }
        if !empty {
            answers.push(answer);
        }
    }
    (answers, errors)
}

pub async fn answer_survey(
    State(state): State<AppState>,
    page: Page,
    gate: AgeGate,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let survey = match answerable(&state, &page, &slug).await? {
        Ok(s) => s,
        Err(closed) => return Ok(closed),
    };
    let mut typed = Typed::new();
    for (k, v) in pairs {
        typed.entry(k).or_default().push(v);
    }
    let field = |name: &str| {
        typed
            .get(name)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let form = ContactForm {
        name: field("name"),
        email: field("email"),
        birth_year: field(age::FIELD),
    };
    let mut errors = FieldErrors::default();
    gate.check_remembered()?;
    if survey.collect_contact
        && let Some(m) = gate.check_form(age::SURVEYS, &form.birth_year)?
    {
        errors.add(age::FIELD, m);
    }
    let done = answered(&headers, &state);
    if done.contains(&survey.id) {
        return done_page(
            page,
            StatusCode::CONFLICT,
            &survey.title,
            "You have already answered this survey. Thank you!",
        );
    }
    let questions = db::questions(&state.db, survey.id).await?;
    let (answers, question_errors) = read_answers(&questions, &typed);
    let token = field("token");
    let nonce = token_nonce(&state, survey.id, &token).map(str::to_string);
    let (name, email) = if survey.collect_contact {
        contact(&form, &mut errors)
    } else {
        (None, None)
    };
    let message = if nonce.is_none() {
        "This form has expired. Please check your answers and send them again."
    } else if !errors.is_empty() || !question_errors.is_empty() {
        "Some answers need another look: see the notes below."
    } else {
        ""
    };
    let Some(nonce) = nonce.filter(|_| message.is_empty()) else {
        let body = AnswerPage {
            page: page.titled(survey.title.clone()),
            token: form_token(&state, survey.id),
            questions: views(&questions, &typed, &question_errors),
            survey,
            form,
            errors,
            message: message.into(),
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    };
    let saved = save(&state, &survey, &nonce, name, email, &answers).await?;
    if !saved {
        return done_page(
            page,
            StatusCode::CONFLICT,
            &survey.title,
            "This survey was already answered with this form or this email address. Thank you!",
        );
    }
    let mut response = Redirect::to(&format!("/surveys/{}?thanks=1", survey.slug)).into_response();
    if let Ok(v) = HeaderValue::from_str(&answered_cookie(&state, done, survey.id)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// The optional contact fields: both empty, or an email (with a name if given).
fn contact(form: &ContactForm, errors: &mut FieldErrors) -> (Option<String>, Option<EmailAddress>) {
    let name = match text(&form.name, 200) {
        Ok(n) => n,
        Err(m) => {
            errors.add("name", m);
            None
        }
    };
    let email = if form.email.trim().is_empty() {
        None
    } else {
        match form.email.parse::<EmailAddress>() {
            Ok(e) => Some(e),
            Err(m) => {
                errors.add("email", m);
                None
            }
        }
    };
    if name.is_some() && email.is_none() && !errors.has("email") {
        errors.add(
            "email",
            "Please add your email address too, or leave both empty to answer anonymously.",
        );
    }
    (name, email)
}

/// Stores a response and its answers in one transaction; false when this
/// form or this person already answered.
async fn save(
    state: &AppState,
    survey: &Survey,
    nonce: &str,
    name: Option<String>,
    email: Option<EmailAddress>,
    answers: &[Answer],
) -> anyhow::Result<bool> {
    let mut tx = state.db.begin().await?;
    let subject = match &email {
        Some(e) => Some(subjects::find_or_create(&mut tx, &state.keyring, e.as_str()).await?),
        None => None,
    };
    let seal = |table: &str, column: &str, value: &str| match &subject {
        Some(s) => s.seal(table, column, value),
        None => state
            .keyring
            .system_key()
            .encrypt_str(&crate::privacy::inventory::context(table, column), value),
    };
    let response = db::NewResponse {
        survey_id: survey.id,
        marker: token_hash(nonce),
        subject_id: subject.as_ref().map(|s| s.id),
        name: name.as_deref().map(|n| seal("survey_responses", "name", n)),
        email: email
            .as_ref()
            .map(|e| seal("survey_responses", "email", e.as_str())),
    };
    let Some(response_id) = db::insert_response(&mut tx, &response).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    for a in answers {
        for choice in &a.choices {
            db::insert_answer(
                &mut tx,
                response_id,
                a.question_id,
                response.subject_id,
                Some(*choice),
                None,
            )
            .await?;
        }
        if let Some(t) = &a.text {
            let sealed = seal("survey_answers", "text_value", t);
            db::insert_answer(
                &mut tx,
                response_id,
                a.question_id,
                response.subject_id,
                None,
                Some(sealed),
            )
            .await?;
        }
    }
    crate::platform::webhooks::enqueue(
        &mut tx,
        &state.keyring,
        state.clock.now(),
        crate::platform::webhooks::Event {
            kind: "survey.response",
            subject: subject.as_ref(),
            data: serde_json::json!({
                "survey_id": survey.id,
                "response_id": response_id,
                "questions_answered": answers.len(),
            }),
            personal: serde_json::json!({
                "respondent": { "name": name, "email": email.as_ref().map(|e| e.as_str()) },
            }),
        },
    )
    .await?;
    tx.commit().await.context("saving survey response")?;
    Ok(true)
}

/// A survey a person answered with their contact details, as their account shows it.
pub struct GivenAnswers {
    pub title: String,
    pub submitted_at: i64,
    /// `(question, answer)` in the survey's order.
    pub answers: Vec<(String, String)>,
}

/// The surveys a person answered under their name, with what they answered.
pub async fn answers_of_subject(
    state: &AppState,
    subject: &crate::privacy::subjects::Subject,
) -> anyhow::Result<Vec<GivenAnswers>> {
    let mut out = vec![];
    for (response, survey_id, submitted_at) in
        db::responses_of_subject(&state.db, subject.id).await?
    {
        let Some(survey) = db::survey(&state.db, survey_id).await? else {
            continue;
        };
        let questions = db::questions(&state.db, survey_id).await?;
        let given = db::answers_of_response(&state.db, response).await?;
        let mut answers = vec![];
        for q in &questions {
            let mut values = vec![];
            for (_, choice, text) in given.iter().filter(|(id, _, _)| *id == q.id) {
                if let Some(c) = choice {
                    values.push(q.label_of(*c));
                }
                if let Some(sealed) = text {
                    values.push(subject.open("survey_answers", "text_value", sealed)?);
                }
            }
            if !values.is_empty() {
                answers.push((q.prompt.clone(), values.join("; ")));
            }
        }
        out.push(GivenAnswers {
            title: survey.title,
            submitted_at,
            answers,
        });
    }
    Ok(out)
}
