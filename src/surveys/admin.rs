//! The survey builder and aggregate results, for editors; the personal
//! answers (names, emails, free text), for admins only, each read audited.

use super::{Kind, Question, Survey, db, results};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        db::is_unique_violation,
        forms::{FieldErrors, Form, checked, text},
        now_ms,
        templates::{Page, render, render_with},
    },
    staff::{
        Admin, Editor, Role, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use chrono::NaiveDate;
use serde::Deserialize;

const DAY_MS: i64 = 86_400_000;
const MAX_OPTIONS: usize = 20;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub struct SurveyRow {
    pub id: i64,
    pub title: String,
    pub slug: String,
    pub status: &'static str,
    pub responses: i64,
}

#[derive(askama::Template)]
#[template(path = "surveys/admin_list.html")]
struct ListPage {
    page: Page,
    q: String,
    surveys: Vec<SurveyRow>,
}

pub async fn list_surveys(
    _: Staff<Editor>,
    State(state): State<AppState>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    let now = now_ms();
    let surveys = db::list_surveys(&state.db, search.q.trim())
        .await?
        .into_iter()
        .map(|(s, responses)| SurveyRow {
            status: s.status(now).label(),
            id: s.id,
            title: s.title,
            slug: s.slug,
            responses,
        })
        .collect();
    render(&ListPage {
        page: page.titled("Surveys"),
        q: search.q,
        surveys,
    })
}

#[derive(Deserialize, Default)]
pub struct SurveyForm {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub intro: String,
    /// `YYYY-MM-DD`; empty keeps the survey a draft.
    #[serde(default)]
    pub opens: String,
    /// `YYYY-MM-DD`, the last day answers are taken; empty: no end.
    #[serde(default)]
    pub closes: String,
    #[serde(default)]
    pub collect_contact: Option<String>,
}

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

impl SurveyForm {
    fn from_survey(s: &Survey) -> SurveyForm {
        SurveyForm {
            title: s.title.clone(),
            slug: s.slug.clone(),
            intro: s.intro.clone(),
            opens: s.opens_at.map(date).unwrap_or_default(),
            closes: s.closes_at.map(|c| date(c - DAY_MS)).unwrap_or_default(),
            collect_contact: s.collect_contact.then(|| "1".into()),
        }
    }
}

struct ValidSurvey {
    title: String,
    slug: String,
    intro: String,
    opens_at: Option<i64>,
    closes_at: Option<i64>,
    collect_contact: bool,
}

impl ValidSurvey {
    fn fields(&self) -> db::SurveyFields<'_> {
        db::SurveyFields {
            slug: &self.slug,
            title: &self.title,
            intro: &self.intro,
            opens_at: self.opens_at,
            closes_at: self.closes_at,
            collect_contact: self.collect_contact,
        }
    }
}

/// Lower-case letters, digits and dashes, from a title.
fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(80).collect()
}

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 80
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

fn parse_day(raw: &str) -> Result<Option<i64>, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc().timestamp_millis()))
        .ok_or("Please enter a date like 2026-12-31.")
}

fn validate_survey(form: &SurveyForm) -> Result<ValidSurvey, FieldErrors> {
    let mut errors = FieldErrors::default();
    let title = match text(&form.title, 200) {
        Ok(Some(t)) => t,
        Ok(None) => {
            errors.add("title", "Please give the survey a title.");
            String::new()
        }
        Err(m) => {
            errors.add("title", m);
            String::new()
        }
    };
    let slug = match form.slug.trim() {
        "" => slugify(&title),
        s => s.to_string(),
    };
    if !title.is_empty() && !valid_slug(&slug) {
        errors.add(
            "slug",
            "Use lower-case letters, digits and dashes, like customer-satisfaction.",
        );
    }
    let intro = text(&form.intro, 2000).unwrap_or_else(|m| {
        errors.add("intro", m);
        None
    });
    let opens_at = parse_day(&form.opens).unwrap_or_else(|m| {
        errors.add("opens", m);
        None
    });
    // The closing date is the last day answers are taken.
    let closes_at = parse_day(&form.closes)
        .unwrap_or_else(|m| {
            errors.add("closes", m);
            None
        })
        .map(|c| c + DAY_MS);
    if let (Some(o), Some(c)) = (opens_at, closes_at)
        && c <= o
    {
        errors.add(
            "closes",
            "The closing date must not be before the opening date.",
        );
    }
    if closes_at.is_some() && opens_at.is_none() && !errors.has("closes") {
        errors.add(
            "opens",
            "Set an opening date too, or leave both empty for a draft.",
        );
    }
    errors.into_result()?;
    Ok(ValidSurvey {
        title,
        slug,
        intro: intro.unwrap_or_default(),
        opens_at,
        closes_at,
        collect_contact: checked(&form.collect_contact),
    })
}

#[derive(askama::Template)]
#[template(path = "surveys/admin_new.html")]
struct NewPage {
    page: Page,
    form: SurveyForm,
    errors: FieldErrors,
}

pub async fn new_survey(_: Staff<Editor>, page: Page) -> AppResult<Response> {
    render(&NewPage {
        page: page.titled("New survey"),
        form: SurveyForm::default(),
        errors: FieldErrors::default(),
    })
}

fn slug_taken() -> FieldErrors {
    let mut errors = FieldErrors::default();
    errors.add("slug", "Another survey already uses this address.");
    errors
}

pub async fn create_survey(
    Staff(user, ..): Staff<Editor>,
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<SurveyForm>,
) -> AppResult<Response> {
    let refuse = |page: Page, form: SurveyForm, errors: FieldErrors| -> AppResult<Response> {
        let body = NewPage {
            page: page.titled("New survey"),
            form,
            errors,
        };
        render_with(StatusCode::UNPROCESSABLE_ENTITY, &body)
    };
    let valid = match validate_survey(&form) {
        Ok(v) => v,
        Err(errors) => return refuse(page, form, errors),
    };
    let mut tx = state.db.begin().await?;
    let id = match db::insert_survey(&mut tx, &valid.fields()).await {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => return refuse(page, form, slug_taken()),
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "create",
        "survey",
        id,
        &valid.title,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/surveys/{id}")).into_response())
}

pub struct QuestionRow {
    pub id: i64,
    pub number: usize,
    pub kind: &'static str,
    pub has_options: bool,
    pub prompt: String,
    pub options: String,
    pub required: bool,
    pub first: bool,
    pub last: bool,
    pub error: String,
}

#[derive(Deserialize, Default)]
pub struct QuestionForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub prompt: String,
    /// One option per line (choice questions only).
    #[serde(default)]
    pub options: String,
    #[serde(default)]
    pub required: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "surveys/admin_edit.html")]
struct EditorPage {
    page: Page,
    survey: Survey,
    status: &'static str,
    form: SurveyForm,
    errors: FieldErrors,
    questions: Vec<QuestionRow>,
    question: QuestionForm,
    question_errors: FieldErrors,
    locked: bool,
    kinds: [Kind; 6],
    results: results::Results,
    /// Whether the viewer may read the personal answers (admins).
    personal: bool,
    notice: String,
}

/// What the editor page shows besides the survey itself.
#[derive(Default)]
struct EditorState {
    form: Option<SurveyForm>,
    errors: FieldErrors,
    question: QuestionForm,
    question_errors: FieldErrors,
    /// An edit of an existing question that was refused, and why.
    question_error: Option<(i64, String)>,
    notice: String,
}

async fn editor(state: &AppState, page: Page, id: i64, view: EditorState) -> AppResult<Response> {
    let survey = db::survey(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let questions = db::questions(&state.db, id).await?;
    let results = results::compute(state, &survey, &questions).await?;
    let failed = !view.errors.is_empty()
        || !view.question_errors.is_empty()
        || view.question_error.is_some();
    let count = questions.len();
    let rows = questions
        .into_iter()
        .enumerate()
        .map(|(i, q)| QuestionRow {
            error: match &view.question_error {
                Some((qid, m)) if *qid == q.id => m.clone(),
                _ => String::new(),
            },
            id: q.id,
            number: i + 1,
            kind: q.kind.label(),
            has_options: q.kind.has_options(),
            prompt: q.prompt,
            options: q.options.join("\n"),
            required: q.required,
            first: i == 0,
            last: i + 1 == count,
        })
        .collect();
    let personal = page.staff.as_ref().is_some_and(|s| s.role == Role::Admin);
    let body = EditorPage {
        page: page.titled(format!("Survey: {}", survey.title)),
        status: survey.status(now_ms()).label(),
        form: view
            .form
            .unwrap_or_else(|| SurveyForm::from_survey(&survey)),
        errors: view.errors,
        questions: rows,
        question: view.question,
        question_errors: view.question_errors,
        locked: results.responses > 0,
        kinds: Kind::ALL,
        results,
        personal,
        notice: view.notice,
        survey,
    };
    let status = if failed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render_with(status, &body)
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn edit_survey(
    _: Staff<Editor>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Query(query): Query<SavedQuery>,
) -> AppResult<Response> {
    let notice = if query.saved.is_some() {
        "Saved.".into()
    } else {
        String::new()
    };
    let view = EditorState {
        question: QuestionForm {
            kind: "single".into(),
            ..QuestionForm::default()
        },
        notice,
        ..EditorState::default()
    };
    editor(&state, page, id, view).await
}

fn saved(id: i64) -> Response {
    Redirect::to(&format!("/admin/surveys/{id}?saved=1")).into_response()
}

pub async fn update_survey(
    Staff(user, ..): Staff<Editor>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<SurveyForm>,
) -> AppResult<Response> {
    let valid = match validate_survey(&form) {
        Ok(v) => v,
        Err(errors) => {
            let view = EditorState {
                form: Some(form),
                errors,
                ..EditorState::default()
            };
            return editor(&state, page, id, view).await;
        }
    };
    let mut tx = state.db.begin().await?;
    match db::update_survey(&mut tx, id, &valid.fields()).await {
        Ok(true) => {}
        Ok(false) => return Err(AppError::NotFound),
        Err(e) if is_unique_violation(&e) => {
            let view = EditorState {
                form: Some(form),
                errors: slug_taken(),
                ..EditorState::default()
            };
            return editor(&state, page, id, view).await;
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "update",
        "survey",
        id,
        &valid.title,
    )
    .await?;
    tx.commit().await?;
    Ok(saved(id))
}

/// Options typed one per line: trimmed, no blanks, no repeats.
fn parse_options(kind: Kind, raw: &str) -> Result<Vec<String>, String> {
    if !kind.has_options() {
        return Ok(vec![]);
    }
    let mut options: Vec<String> = vec![];
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let option = text(line, 200)?.unwrap_or_default();
        if !options.contains(&option) {
            options.push(option);
        }
    }
    if options.len() < 2 || options.len() > MAX_OPTIONS {
        return Err(format!(
            "Write between 2 and {MAX_OPTIONS} different options, one per line."
        ));
    }
    Ok(options)
}

fn parse_prompt(raw: &str) -> Result<String, String> {
    match text(raw, 500)? {
        Some(p) => Ok(p),
        None => Err("Please write the question.".into()),
    }
}

const LOCKED: &str = "This survey has responses, so its questions can no longer be added, removed or given other options (the results would stop making sense). You can still reword them, change whether they are required and reorder them.";

async fn survey_or_404(state: &AppState, id: i64) -> AppResult<Survey> {
    db::survey(&state.db, id).await?.ok_or(AppError::NotFound)
}

pub async fn add_question(
    Staff(user, ..): Staff<Editor>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<QuestionForm>,
) -> AppResult<Response> {
    survey_or_404(&state, id).await?;
    let mut errors = FieldErrors::default();
    if db::response_count(&state.db, id).await? > 0 {
        errors.add("kind", LOCKED);
    }
    let kind = Kind::parse(&form.kind);
    if kind.is_none() {
        errors.add("kind", "Please choose a kind of question.");
    }
    let prompt = parse_prompt(&form.prompt).unwrap_or_else(|m| {
        errors.add("prompt", m);
        String::new()
    });
    let options = parse_options(kind.unwrap_or(Kind::Short), &form.options).unwrap_or_else(|m| {
        errors.add("options", m);
        vec![]
    });
    let (Some(kind), true) = (kind, errors.is_empty()) else {
        let view = EditorState {
            question: form,
            question_errors: errors,
            ..EditorState::default()
        };
        return editor(&state, page, id, view).await;
    };
    let mut tx = state.db.begin().await?;
    let qid = db::insert_question(
        &mut tx,
        id,
        kind,
        &prompt,
        &options,
        checked(&form.required),
    )
    .await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "add-question",
        "survey",
        id,
        &format!("{qid}: {prompt}"),
    )
    .await?;
    tx.commit().await?;
    Ok(saved(id))
}

async fn question_of(
    state: &AppState,
    survey: i64,
    question: i64,
) -> AppResult<(Vec<Question>, Question)> {
    let questions = db::questions(&state.db, survey).await?;
    let q = questions
        .iter()
        .find(|q| q.id == question)
        .cloned()
        .ok_or(AppError::NotFound)?;
    Ok((questions, q))
}

pub async fn update_question(
    Staff(user, ..): Staff<Editor>,
    State(state): State<AppState>,
    page: Page,
    Path((id, question)): Path<(i64, i64)>,
    Form(form): Form<QuestionForm>,
) -> AppResult<Response> {
    let (_, q) = question_of(&state, id, question).await?;
    let locked = db::response_count(&state.db, id).await? > 0;
    let parsed = parse_prompt(&form.prompt).and_then(|prompt| {
        let options = parse_options(q.kind, &form.options)?;
        if locked && options != q.options {
            return Err(LOCKED.to_string());
        }
        Ok((prompt, options))
    });
    let (prompt, options) = match parsed {
        Ok(v) => v,
        Err(m) => {
            let view = EditorState {
                question_error: Some((question, m)),
                ..EditorState::default()
            };
            return editor(&state, page, id, view).await;
        }
    };
    let mut tx = state.db.begin().await?;
    db::update_question(
        &mut tx,
        question,
        &prompt,
        &options,
        checked(&form.required),
    )
    .await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "update-question",
        "survey",
        id,
        &format!("{question}: {prompt}"),
    )
    .await?;
    tx.commit().await?;
    Ok(saved(id))
}

#[derive(Deserialize)]
pub struct MoveForm {
    direction: String,
}

pub async fn move_question(
    Staff(user, ..): Staff<Editor>,
    State(state): State<AppState>,
    Path((id, question)): Path<(i64, i64)>,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    let (questions, _) = question_of(&state, id, question).await?;
    let at = questions
        .iter()
        .position(|q| q.id == question)
        .ok_or(AppError::NotFound)?;
    let other = match form.direction.as_str() {
        "up" => at.checked_sub(1),
        "down" => Some(at + 1).filter(|i| *i < questions.len()),
        _ => return Err(AppError::BadRequest("Move a question up or down.".into())),
    };
    if let Some(other) = other {
        let mut tx = state.db.begin().await?;
        // Positions are renumbered 1..n, so earlier gaps or ties cannot stall a move.
        let mut order: Vec<i64> = questions.iter().map(|q| q.id).collect();
        order.swap(at, other);
        for (i, qid) in order.iter().enumerate() {
            db::set_position(&mut tx, *qid, i as i64 + 1).await?;
        }
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "move-question",
            "survey",
            id,
            &format!("{question} {}", form.direction),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(saved(id))
}

pub async fn delete_question(
    Staff(user, ..): Staff<Editor>,
    State(state): State<AppState>,
    page: Page,
    Path((id, question)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let (_, q) = question_of(&state, id, question).await?;
    if db::response_count(&state.db, id).await? > 0 {
        let view = EditorState {
            question_error: Some((question, LOCKED.into())),
            ..EditorState::default()
        };
        return editor(&state, page, id, view).await;
    }
    let mut tx = state.db.begin().await?;
    db::delete_question(&mut tx, question).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "delete-question",
        "survey",
        id,
        &format!("{question}: {}", q.prompt),
    )
    .await?;
    tx.commit().await?;
    Ok(saved(id))
}

/// The personal answers of a survey, read by an admin: recorded in the
/// audit log as `action` before they are shown.
async fn read_personal(
    state: &AppState,
    user: &crate::staff::StaffUser,
    id: i64,
    action: &str,
) -> AppResult<(Survey, results::Personal)> {
    let survey = survey_or_404(state, id).await?;
    let questions = db::questions(&state.db, id).await?;
    let personal = results::personal(state, &survey, &questions).await?;
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Actor::Staff(user),
        action,
        "survey",
        id,
        &format!("{} ({} responses)", survey.title, personal.rows.len()),
    )
    .await?;
    tx.commit().await?;
    Ok((survey, personal))
}

#[derive(askama::Template)]
#[template(path = "surveys/admin_answers.html")]
struct AnswersPage {
    page: Page,
    survey: Survey,
    answers: results::Personal,
}

/// Every response with its contact details and free text, for admins.
pub async fn show_answers(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let (survey, answers) = read_personal(&state, &user, id, "view-answers").await?;
    render(&AnswersPage {
        page: page.titled(format!("Answers: {}", survey.title)),
        survey,
        answers,
    })
}

/// Every response as CSV, for admins.
pub async fn export_csv(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let (survey, answers) = read_personal(&state, &user, id, "export-csv").await?;
    Ok(answers
        .csv()?
        .download(&format!("survey-{}.csv", survey.slug))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_dates_are_parsed() {
        assert_eq!(slugify("How are we doing? (2026)"), "how-are-we-doing-2026");
        assert!(valid_slug("customer-satisfaction"));
        assert!(!valid_slug("-x") && !valid_slug("A b"));
        assert_eq!(parse_day(""), Ok(None));
        assert_eq!(parse_day("1970-01-02"), Ok(Some(DAY_MS)));
        assert!(parse_day("31/12/2026").is_err());
        assert!(parse_options(Kind::Single, "Yes\n\n Yes \nYes").is_err());
        assert_eq!(
            parse_options(Kind::Multiple, " A \nB\nA").unwrap(),
            vec!["A".to_string(), "B".to_string()]
        );
        assert_eq!(parse_options(Kind::Nps, "ignored"), Ok(vec![]));
    }
}
