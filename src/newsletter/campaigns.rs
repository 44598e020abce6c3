//! Campaigns in the back office (admins): compose in Markdown with a
//! preview of both parts, send a test, schedule, send, pause and resume,
//! and the figures. Every action that sends goes through
//! [`compliance::prepare`]; a failed check comes back on the form (422).

use super::{
    TOPICS,
    compliance::{self, Addressee, Failure},
    db::{self, Campaign, Draft},
    runner::{self, draft_of},
    topics_from_text, topics_to_text,
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        db::Tx,
        forms::{EmailAddress, FieldErrors, Form, text},
        mail::{self, Recipient},
        now_ms, random_token,
        templates::{Page, render, render_with},
    },
    privacy::erasure,
    staff::{
        Admin, Staff, StaffUser,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

/// A campaign's figures, counted from the outbox.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    pub waiting: i64,
    pub held: i64,
    pub cancelled: i64,
    pub suppressed: i64,
    pub unsubscribed: i64,
}

pub async fn figures(state: &AppState, c: &Campaign) -> anyhow::Result<Figures> {
    let mut f = Figures {
        suppressed: c.suppressed,
        unsubscribed: c.unsubscribed,
        ..Figures::default()
    };
    for (status, n) in mail::counts(&state.db, &runner::reason(c.id)).await? {
        f.queued += n;
        match status.as_str() {
            "sent" => f.sent = n,
            "failed" => f.failed = n,
            "pending" => f.waiting = n,
            "held" => f.held = n,
            "cancelled" => f.cancelled = n,
            _ => {}
        }
    }
    Ok(f)
}

pub struct Row {
    pub campaign: Campaign,
    pub figures: Figures,
}

#[derive(askama::Template)]
#[template(path = "newsletter/admin_campaigns.html")]
struct ListPage {
    page: Page,
    rows: Vec<Row>,
}

pub async fn list_campaigns(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    let mut rows = Vec::new();
    for campaign in db::campaigns(&state.db).await? {
        let figures = figures(&state, &campaign).await?;
        rows.push(Row { campaign, figures });
    }
    render(&ListPage {
        page: page.titled("Campaigns"),
        rows,
    })
}

/// The campaign form as typed.
#[derive(Clone, Debug, Default)]
pub struct CampaignForm {
    pub subject: String,
    pub from_name: String,
    pub reply_to: String,
    pub body: String,
    pub topics: Vec<String>,
    pub commercial: bool,
    pub ad_label: String,
    pub test_to: String,
    pub send_at: String,
    /// The button pressed; `None` when the form named none we know.
    pub action: Option<Action>,
}

/// The buttons of the campaign form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Save,
    Test,
    Schedule,
    Send,
}

impl Action {
    fn parse(value: &str) -> Option<Action> {
        use serde::de::{IntoDeserializer, value::Error};
        Action::deserialize(IntoDeserializer::<Error>::into_deserializer(value)).ok()
    }
}

impl CampaignForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> CampaignForm {
        let mut f = CampaignForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "subject" => f.subject = v,
                "from_name" => f.from_name = v,
                "reply_to" => f.reply_to = v,
                "body" => f.body = v,
                "topic" => f.topics.push(v),
                "commercial" => f.commercial = !v.trim().is_empty(),
                "ad_label" => f.ad_label = v,
                "test_to" => f.test_to = v,
                "send_at" => f.send_at = v,
                "action" => f.action = Action::parse(&v),
                _ => {}
            }
        }
        f
    }

    /// The form as stored; a scheduled start shown in `zone`, the viewer's.
    fn of(c: &Campaign, zone: chrono_tz::Tz) -> CampaignForm {
        CampaignForm {
            send_at: c
                .scheduled_at
                .filter(|_| c.status == "scheduled")
                .map(|at| crate::platform::zones::input_in(at, zone))
                .unwrap_or_default(),
            subject: c.subject.clone(),
            from_name: c.from_name.clone(),
            reply_to: c.reply_to.clone(),
            body: c.body.clone(),
            topics: topics_from_text(&c.topics),
            commercial: c.commercial != 0,
            ad_label: c.ad_label.clone(),
            ..CampaignForm::default()
        }
    }

    pub fn has_topic(&self, key: &&str) -> bool {
        self.topics.iter().any(|t| t == key)
    }

    /// The draft, or the fields that are too long or unreadable.
    fn draft(&self) -> Result<Draft, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut field = |name: &'static str, value: &str, max: usize| -> String {
            match text(value, max) {
                Ok(v) => v.unwrap_or_default(),
                Err(m) => {
                    errors.add(name, m);
                    String::new()
                }
            }
        };
        let draft = Draft {
            subject: field("subject", &self.subject, 200),
            from_name: field("from_name", &self.from_name, 200),
            reply_to: field("reply_to", &self.reply_to, 254),
            body: field("body", &self.body, 100_000),
            topics: topics_to_text(&self.topics),
            commercial: self.commercial,
            ad_label: field("ad_label", &self.ad_label, 80),
        };
        errors.into_result().map(|_| draft)
    }
}

#[derive(askama::Template)]
#[template(path = "newsletter/admin_campaign.html")]
struct CampaignPage {
    page: Page,
    id: i64,
    status: String,
    editable: bool,
    form: CampaignForm,
    errors: FieldErrors,
    failures: Vec<Failure>,
    notice: String,
    figures: Figures,
    scheduled_at: Option<i64>,
    preview_text: String,
    preview_html: String,
    topics: &'static [(&'static str, &'static str)],
}

impl CampaignPage {
    fn new(page: Page, id: i64, status: &str, form: CampaignForm) -> CampaignPage {
        CampaignPage {
            page,
            id,
            status: status.to_string(),
            editable: matches!(status, "draft" | "scheduled"),
            form,
            errors: FieldErrors::default(),
            failures: vec![],
            notice: String::new(),
            figures: Figures::default(),
            scheduled_at: None,
            preview_text: String::new(),
            preview_html: String::new(),
            topics: TOPICS,
        }
    }
}

/// The text part and the HTML body as a sample subscriber would get them,
/// or why the campaign cannot be sent yet.
fn preview(state: &AppState, draft: &Draft, id: i64) -> (String, String, Vec<Failure>) {
    match compliance::prepare(draft, &state.site(), &state.config.base_url) {
        Ok(p) => {
            let (unsubscribe_url, preferences_url) =
                runner::links(state, 0, id).unwrap_or_default();
            match p.message_for(&Addressee {
                email: "subscriber@example.com",
                name: "",
                unsubscribe_url: &unsubscribe_url,
                preferences_url: &preferences_url,
            }) {
                Ok(m) => (
                    m.text,
                    crate::platform::templates::markdown_to_html(&draft.body),
                    vec![],
                ),
                Err(e) => (
                    String::new(),
                    String::new(),
                    vec![Failure {
                        field: "body",
                        message: e.to_string(),
                    }],
                ),
            }
        }
        Err(f) => (String::new(), String::new(), f),
    }
}

pub async fn new_campaign(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    let site = state.site();
    let form = CampaignForm {
        from_name: site.company_name.clone(),
        reply_to: site.contact_email.clone(),
        ad_label: "Advertisement".into(),
        ..CampaignForm::default()
    };
    render(&CampaignPage::new(
        page.titled("New campaign"),
        0,
        "draft",
        form,
    ))
}

pub async fn create_campaign(
    Staff(user, _): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = CampaignForm::from_pairs(pairs);
    let draft = match form.draft() {
        Ok(d) => d,
        Err(errors) => {
            let mut body = CampaignPage::new(page.titled("New campaign"), 0, "draft", form);
            body.errors = errors;
            return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
        }
    };
    let mut tx = state.db.begin().await?;
    let id = db::insert_campaign(&mut tx, &draft, Some(user.id), now_ms()).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "create",
        "campaign",
        id,
        &draft.subject,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/campaigns/{id}")).into_response())
}

#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    done: String,
}

fn notice_text(done: &str) -> &'static str {
    match done {
        "saved" => "Saved.",
        "tested" => "Test sent: it goes through the same checks and arrives in a moment.",
        "scheduled" => "Scheduled: it starts on its own at the time set.",
        "sending" => "Sending: the figures below grow as mail leaves.",
        "paused" => "Paused: mail not yet handed to the mail server is held.",
        "resumed" => "Resumed.",
        _ => "",
    }
}

pub async fn show_campaign(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Query(notice): Query<Notice>,
) -> AppResult<Response> {
    let campaign = db::campaign(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let draft = draft_of(&campaign);
    let (preview_text, preview_html, failures) = preview(&state, &draft, id);
    let zone = page.zone();
    let mut body = CampaignPage::new(
        page.titled(format!("Campaign: {}", campaign.subject)),
        id,
        &campaign.status,
        CampaignForm::of(&campaign, zone),
    );
    body.figures = figures(&state, &campaign).await?;
    body.scheduled_at = campaign.scheduled_at;
    body.preview_text = preview_text;
    body.preview_html = preview_html;
    body.failures = failures;
    body.notice = notice_text(&notice.done).to_string();
    render(&body)
}

/// Save, test, schedule or send, as the button pressed says. Each saves
/// the draft first, in the same transaction as what it does.
pub async fn act_on_campaign(
    Staff(user, _): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let campaign = db::campaign(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let form = CampaignForm::from_pairs(pairs);
    let (draft, step) = match check(&state, &campaign, &form, page.zone()).await? {
        Ok(checked) => checked,
        Err((errors, failures)) => return refuse(page, &campaign, form, errors, failures),
    };
    let mut tx = state.db.begin().await?;
    if !db::update_campaign(&mut tx, id, &draft, now_ms()).await? {
        let errors = one_error(
            "form",
            "This campaign has started meanwhile: it can no longer be changed.",
        );
        return refuse(page, &campaign, form, errors, vec![]);
    }
    let done = match step {
        Step::Save => save(&mut tx, &user, id, &draft).await?,
        Step::Test(to) => send_test(&state, &mut tx, &user, id, &draft, &to).await?,
        Step::Schedule(at) => schedule(&mut tx, &user, id, at, Action::Schedule).await?,
        Step::Send => {
            // Kept as typed, then the person confirms on a page of its own.
            save(&mut tx, &user, id, &draft).await?;
            tx.commit().await?;
            return Ok(Redirect::to(&format!("/admin/campaigns/{id}/send")).into_response());
        }
    };
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Redirect::to(&format!("/admin/campaigns/{id}?done={done}")).into_response())
}

#[derive(askama::Template)]
#[template(path = "newsletter/admin_send_confirm.html")]
struct SendConfirmPage {
    page: Page,
    id: i64,
    subject: String,
    recipients: i64,
}

impl SendConfirmPage {
    /// "1,204 subscribers", "1 subscriber".
    fn recipients_words(&self) -> String {
        let digits = self.recipients.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        let noun = if self.recipients == 1 {
            "subscriber"
        } else {
            "subscribers"
        };
        format!("{grouped} {noun}")
    }
}

/// `GET /admin/campaigns/{id}/send`: "Send to 1,204 subscribers?" with the
/// button that sends. Looking at it sends nothing.
pub async fn show_send_confirm(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let campaign = db::campaign(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !matches!(campaign.status.as_str(), "draft" | "scheduled") {
        return Ok(Redirect::to(&format!("/admin/campaigns/{id}")).into_response());
    }
    render(&SendConfirmPage {
        page: page.titled(format!("Send “{}”?", campaign.subject)),
        id,
        recipients: super::runner::recipient_count(&state, &campaign).await?,
        subject: campaign.subject,
    })
}

/// `POST /admin/campaigns/{id}/send`: the confirmed send, of the campaign
/// as saved, through the same checks as every send.
pub async fn confirm_send(
    Staff(user, _): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let campaign = db::campaign(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut form = CampaignForm::of(&campaign, page.zone());
    form.action = Some(Action::Send);
    if let Err((errors, failures)) = check(&state, &campaign, &form, page.zone()).await? {
        return refuse(page, &campaign, form, errors, failures);
    }
    let mut tx = state.db.begin().await?;
    let done = schedule(&mut tx, &user, id, now_ms(), Action::Send).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Redirect::to(&format!("/admin/campaigns/{id}?done={done}")).into_response())
}

/// What the pressed button asks for, with its own input read.
enum Step {
    Save,
    Test(EmailAddress),
    Schedule(i64),
    /// Asks first: the confirmation page sends.
    Send,
}

/// Why the form comes back: messages beside the fields, and the failed
/// sending checks named.
type Refusal = (FieldErrors, Vec<Failure>);

/// The draft and the step, or why not: the campaign must not have
/// started, the fields must be readable, whatever sends must pass the
/// sending checks, and the step's own input must make sense.
async fn check(
    state: &AppState,
    campaign: &Campaign,
    form: &CampaignForm,
    zone: chrono_tz::Tz,
) -> AppResult<Result<(Draft, Step), Refusal>> {
    let Some(action) = form.action else {
        return Ok(Err((one_error("form", "Unknown action."), vec![])));
    };
    if !matches!(campaign.status.as_str(), "draft" | "scheduled") {
        let errors = one_error(
            "form",
            "This campaign has started: it can no longer be changed.",
        );
        return Ok(Err((errors, vec![])));
    }
    let draft = match form.draft() {
        Ok(d) => d,
        Err(errors) => return Ok(Err((errors, vec![]))),
    };
    if action != Action::Save {
        // The one door: every send, test and schedule is checked here.
        if let Err(failures) = compliance::prepare(&draft, &state.site(), &state.config.base_url) {
            let mut errors = FieldErrors::default();
            for f in &failures {
                errors.add(f.field, f.message.clone());
            }
            return Ok(Err((errors, failures)));
        }
    }
    let step = match action {
        Action::Save => Ok(Step::Save),
        Action::Test => test_recipient(state, &form.test_to).await?.map(Step::Test),
        Action::Schedule => start_time(&form.send_at, now_ms(), zone).map(Step::Schedule),
        Action::Send => Ok(Step::Send),
    };
    Ok(step
        .map(|step| (draft, step))
        .map_err(|(field, message)| (one_error(field, message), vec![])))
}

fn one_error(field: &'static str, message: impl Into<String>) -> FieldErrors {
    let mut errors = FieldErrors::default();
    errors.add(field, message);
    errors
}

/// Where a test goes: a valid address that may still be written to.
async fn test_recipient(
    state: &AppState,
    typed: &str,
) -> AppResult<Result<EmailAddress, (&'static str, String)>> {
    Ok(match typed.parse::<EmailAddress>() {
        Ok(a) if erasure::is_suppressed(state, a.as_str()).await? => Err((
            "test_to",
            "This address unsubscribed or was erased: we do not write to it.".into(),
        )),
        Ok(a) => Ok(a),
        Err(m) => Err(("test_to", m.to_string())),
    })
}

/// When a scheduled campaign starts: a time in the future, typed in `zone`.
fn start_time(typed: &str, now: i64, zone: chrono_tz::Tz) -> Result<i64, (&'static str, String)> {
    match crate::platform::zones::parse_in(typed, zone) {
        Some(at) if at > now => Ok(at),
        Some(_) => Err(("send_at", "Choose a time in the future.".into())),
        None => Err((
            "send_at",
            format!(
                "Give a date and time, like 2026-12-01 09:00 ({}).",
                zone.name()
            ),
        )),
    }
}

/// The form again, with what was typed and why it was refused (422).
fn refuse(
    page: Page,
    campaign: &Campaign,
    form: CampaignForm,
    errors: FieldErrors,
    failures: Vec<Failure>,
) -> AppResult<Response> {
    let title = format!("Campaign: {}", campaign.subject);
    let mut body = CampaignPage::new(page.titled(title), campaign.id, &campaign.status, form);
    body.errors = errors;
    body.failures = failures;
    body.scheduled_at = campaign.scheduled_at;
    render_with(StatusCode::UNPROCESSABLE_ENTITY, &body)
}

async fn save(tx: &mut Tx, user: &StaffUser, id: i64, draft: &Draft) -> AppResult<&'static str> {
    audit::record(
        tx,
        Actor::Staff(user),
        "update",
        "campaign",
        id,
        &draft.subject,
    )
    .await?;
    Ok("saved")
}

/// The campaign as a subscriber would get it, to one address, marked
/// `[Test]`, through the outbox.
async fn send_test(
    state: &AppState,
    tx: &mut Tx,
    user: &StaffUser,
    id: i64,
    draft: &Draft,
    to: &EmailAddress,
) -> AppResult<&'static str> {
    let site = state.site();
    let prepared = compliance::prepare(draft, &site, &state.config.base_url)
        .map_err(|f| anyhow::anyhow!("checks failed after passing: {f:?}"))?;
    let (unsubscribe_url, preferences_url) = runner::links(state, 0, id)?;
    let mut mail = prepared.message_for(&Addressee {
        email: to.as_str(),
        name: "",
        unsubscribe_url: &unsubscribe_url,
        preferences_url: &preferences_url,
    })?;
    mail.subject = format!("[Test] {}", mail.subject);
    mail::enqueue(
        tx,
        &state.keyring,
        &site,
        Recipient::System,
        "campaign-test",
        &format!("campaign-test:{id}:{}", random_token(9)),
        &mail,
    )
    .await?;
    audit::record(tx, Actor::Staff(user), "test-send", "campaign", id, "").await?;
    Ok("tested")
}

/// Sets the campaign to start at `at` (now, for `Send`); the runner takes
/// it from there.
async fn schedule(
    tx: &mut Tx,
    user: &StaffUser,
    id: i64,
    at: i64,
    action: Action,
) -> AppResult<&'static str> {
    db::set_status(tx, id, &["draft", "scheduled"], "scheduled", Some(at)).await?;
    let (what, done) = if action == Action::Send {
        ("send", "sending")
    } else {
        ("schedule", "scheduled")
    };
    let when = crate::platform::templates::format_time(at);
    audit::record(tx, Actor::Staff(user), what, "campaign", id, &when).await?;
    Ok(done)
}

pub async fn pause_campaign(
    Staff(user, _): Staff<Admin>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    db::campaign(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let paused = db::set_status(&mut tx, id, &["sending", "scheduled"], "paused", None).await?;
    if paused {
        audit::record(&mut tx, Actor::Staff(&user), "pause", "campaign", id, "").await?;
    }
    tx.commit().await?;
    if paused {
        mail::hold(&state.db, &runner::reason(id)).await?;
    }
    Ok(Redirect::to(&format!("/admin/campaigns/{id}?done=paused")).into_response())
}

pub async fn resume_campaign(
    Staff(user, _): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let campaign = db::campaign(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if campaign.status != "paused" {
        return Ok(Redirect::to(&format!("/admin/campaigns/{id}")).into_response());
    }
    let draft = draft_of(&campaign);
    // Resuming sends: the same checks again.
    if let Err(failures) = compliance::prepare(&draft, &state.site(), &state.config.base_url) {
        let zone = page.zone();
        let mut body = CampaignPage::new(
            page.titled(format!("Campaign: {}", campaign.subject)),
            id,
            &campaign.status,
            CampaignForm::of(&campaign, zone),
        );
        body.figures = figures(&state, &campaign).await?;
        for f in &failures {
            body.errors.add(f.field, f.message.clone());
        }
        body.failures = failures;
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let mut tx = state.db.begin().await?;
    let resumed = db::set_status(&mut tx, id, &["paused"], "sending", None).await?;
    if resumed {
        audit::record(&mut tx, Actor::Staff(&user), "resume", "campaign", id, "").await?;
    }
    tx.commit().await?;
    if resumed {
        mail::unhold(&state.db, &runner::reason(id)).await?;
        state.mail_wakeup.notify_one();
    }
    Ok(Redirect::to(&format!("/admin/campaigns/{id}?done=resumed")).into_response())
}
