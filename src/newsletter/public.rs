//! Visitor pages: subscribing (double opt-in), confirming, choosing topics
//! and unsubscribing, none of which needs an account.

use super::{
    CONFIRM_DAYS, ConfirmToken, TOPICS, check_confirm_token, check_link_token, confirm_token, db,
    link_token, topics_from_text, topics_to_text,
};
use crate::{
    AppState,
    error::AppResult,
    platform::ClientIp,
    platform::{
        Platform,
        state::{Correction, Refusal},
    },
    platform::{
        forms::{EmailAddress, FieldErrors, Form, text},
        mail::{self, EmailTemplate, Recipient},
        now_ms,
        templates::{Page, render, render_with},
    },
    privacy::{
        age::{self, AgeGate},
        erasure, policy,
        subjects::{self, Subject},
    },
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use futures_util::future::BoxFuture;
use std::net::IpAddr;

crate::email_template!(pub struct ConfirmMail { company: String, name: String, topics: String, link: String, days: i64 }
    subject "email/newsletter_confirm/subject.txt",
    text "email/newsletter_confirm/body.txt",
    html "email/newsletter_confirm/body.html",
);

/// What the subscription form holds, as typed.
#[derive(Clone, Debug, Default)]
pub struct SubscribeForm {
    pub email: String,
    pub name: String,
    pub birth_year: String,
    pub topics: Vec<String>,
    /// Which form: "footer" or "page".
    pub source: String,
}

impl SubscribeForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> SubscribeForm {
        let mut form = SubscribeForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "email" => form.email = v,
                "name" => form.name = v,
                "birth_year" => form.birth_year = v,
                "topic" => form.topics.push(v),
                "source" => form.source = v,
                _ => {}
            }
        }
        form
    }

    pub fn has_topic(&self, key: &&str) -> bool {
        self.topics.iter().any(|t| t == key)
    }
}

#[derive(askama::Template)]
#[template(path = "newsletter/subscribe.html")]
struct SubscribePage {
    page: Page,
    form: SubscribeForm,
    errors: FieldErrors,
    topics: &'static [(&'static str, &'static str)],
}

pub async fn show_subscribe(page: Page) -> AppResult<Response> {
    render(&SubscribePage {
        page: page.titled("Newsletter"),
        form: SubscribeForm {
            source: "page".into(),
            ..SubscribeForm::default()
        },
        errors: FieldErrors::default(),
        topics: TOPICS,
    })
}

#[derive(askama::Template)]
#[template(path = "newsletter/check_email.html")]
struct CheckEmailPage {
    page: Page,
    email: String,
    days: i64,
}

pub async fn subscribe(
    State(state): State<AppState>,
    page: Page,
    gate: AgeGate,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut form = SubscribeForm::from_pairs(pairs);
    let mut errors = FieldErrors::default();
    // The age question is asked on the confirmation page, before anything
    // beyond the pending address is kept; a remembered child stops here.
    gate.check_remembered()?;
    let email = form
        .email
        .parse::<EmailAddress>()
        .map_err(|m| errors.add("email", m))
        .ok();
    let name = text(&form.name, 100)
        .map_err(|m| errors.add("name", m))
        .ok()
        .flatten();
    if form.source != "page" {
        // The footer form offers no choice: every topic, changeable later.
        form.source = "footer".into();
        if form.topics.is_empty() {
            form.topics = TOPICS.iter().map(|(k, _)| k.to_string()).collect();
        }
    }
    let topics = topics_to_text(&form.topics);
    if topics.is_empty() {
        errors.add("topics", "Please choose at least one topic.");
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        let body = SubscribePage {
            page: page.titled("Newsletter"),
            form,
            errors,
            topics: TOPICS,
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    };
    let source = if form.source == "page" {
        "the newsletter page"
    } else {
        "the newsletter form in the page footer"
    };
    request_subscription(&state, &email, name.as_deref(), &topics, source, ip).await?;
    render(&CheckEmailPage {
        page: page.titled("Check your email"),
        email: email.to_string(),
        days: CONFIRM_DAYS,
    })
}

/// Records a pending subscription with its consent and mails the
/// confirmation link, in one transaction. An address already confirmed
/// gets nothing (it already receives the newsletter).
pub async fn request_subscription(
    state: &AppState,
    email: &EmailAddress,
    name: Option<&str>,
    topics: &str,
    source: &str,
    ip: IpAddr,
) -> anyhow::Result<()> {
    let site = state.site();
    let now = now_ms();
    let policy = policy::generate(&site, &state.registry.inventory).version;
    let ip_hash = state.keyring.blind_index("ip", &ip.to_string());
    let mut tx = state.db.begin().await?;
    let subject = subjects::find_or_create(&mut tx, &state.keyring, email.as_str()).await?;
    if let Some((_, status)) = db::subscriber_by_subject(&mut tx, subject.id).await?
        && status == "confirmed"
    {
        return Ok(());
    }
    let table = "newsletter_subscribers";
    let id = db::upsert_subscriber(
        &mut tx,
        subject.id,
        &subject.seal(table, "email", email.as_str()),
        name.map(|n| subject.seal(table, "name", n)).as_deref(),
        "pending",
        topics,
        &db::Consent {
            at: now,
            source,
            policy: &policy,
            ip_hash: Some(&ip_hash),
        },
    )
    .await?;
    // The person asked for this mail just now: it is transactional, so it
    // also reaches an address that unsubscribed before and wants back in.
    enqueue_confirmation(
        state,
        &mut tx,
        &subject,
        id,
        email.as_str(),
        name,
        topics,
        now,
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// The double opt-in mail for subscription `id`, to `email`.
#[allow(clippy::too_many_arguments)]
async fn enqueue_confirmation(
    state: &Platform,
    tx: &mut crate::platform::db::Tx,
    subject: &Subject,
    id: i64,
    email: &str,
    name: Option<&str>,
    topics: &str,
    now: i64,
) -> anyhow::Result<()> {
    let site = state.site();
    let link = state
        .config
        .base_url
        .join(&format!(
            "newsletter/confirm/{}",
            confirm_token(&state.keyring, id, now)
        ))?
        .to_string();
    let mail = ConfirmMail {
        company: site.company_name.clone(),
        name: name.unwrap_or_default().to_string(),
        topics: topic_labels(topics),
        link,
        days: CONFIRM_DAYS,
    };
    mail::enqueue(
        tx,
        &state.keyring,
        &site,
        Recipient::Subject(subject),
        "newsletter-confirm",
        &format!("newsletter-confirm:{id}:{now}"),
        &mail.to_mail(email)?,
    )
    .await?;
    Ok(())
}

/// A person corrected their subscription's address (on /my-data): the new
/// address gets no campaign until its owner confirms it, by the double
/// opt-in mail sent to it, in the caller's transaction. Campaign mail still
/// waiting for the old address is cancelled. An address on the suppression
/// list is not mailed (its subscription stays unconfirmed).
/// Registered as a [`crate::platform::state::CorrectionHook`].
pub fn address_corrected<'a>(
    state: &'a Platform,
    tx: &'a mut crate::platform::db::Tx,
    change: &'a Correction<'a>,
) -> BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        if change.table == "newsletter_subscribers" && change.column == "email" {
            unconfirm_corrected(state, tx, change.subject, change.row_id, change.value).await?;
        }
        Ok(())
    })
}

async fn unconfirm_corrected(
    state: &Platform,
    tx: &mut crate::platform::db::Tx,
    subject: &Subject,
    subscriber_id: i64,
    email: &str,
) -> anyhow::Result<()> {
    let Some(row) = db::unconfirm(tx, subscriber_id).await? else {
        return Ok(());
    };
    mail::cancel_pending(tx, subject.id, super::runner::REASON_PREFIX).await?;
    if erasure::is_suppressed(state, email).await? {
        return Ok(());
    }
    let name = match &row.name {
        Some(sealed) => Some(subject.open("newsletter_subscribers", "name", sealed)?),
        None => None,
    };
    enqueue_confirmation(
        state,
        tx,
        subject,
        row.id,
        email,
        name.as_deref(),
        &row.topics,
        now_ms(),
    )
    .await
}

pub fn topic_labels(topics: &str) -> String {
    let keys = topics_from_text(topics);
    TOPICS
        .iter()
        .filter(|(k, _)| keys.iter().any(|t| t == k))
        .map(|(_, l)| l.to_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(askama::Template)]
#[template(path = "newsletter/link_problem.html")]
struct LinkProblemPage {
    page: Page,
    status: u16,
    heading: &'static str,
    message: &'static str,
}

fn link_problem(
    page: Page,
    status: StatusCode,
    heading: &'static str,
    message: &'static str,
) -> AppResult<Response> {
    let body = LinkProblemPage {
        page: page.titled(heading),
        status: status.as_u16(),
        heading,
        message,
    };
    render_with(status, &body)
}

fn forged(page: Page) -> AppResult<Response> {
    link_problem(
        page,
        StatusCode::BAD_REQUEST,
        "This link is not valid",
        "The link is incomplete or was changed. Please open the link from our email exactly as it is, or subscribe again below.",
    )
}

fn unknown(page: Page) -> AppResult<Response> {
    link_problem(
        page,
        StatusCode::NOT_FOUND,
        "We hold no subscription for this link",
        "The subscription it belonged to was erased. We will not write to that address about the newsletter; you can subscribe again below.",
    )
}

/// A subscriber and their subject key, from the database.
struct Found {
    row: db::SubscriberRow,
    subject: Subject,
    email: String,
}

async fn find(state: &AppState, id: i64) -> anyhow::Result<Option<Found>> {
    let Some(row) = db::subscriber(&state.db, id).await? else {
        return Ok(None);
    };
    let Some(key) = subjects::key(&state.db, &state.keyring, row.subject_id).await? else {
        return Ok(None);
    };
    let subject = Subject {
        id: row.subject_id,
        key,
    };
    let email = subject.open("newsletter_subscribers", "email", &row.email)?;
    Ok(Some(Found {
        row,
        subject,
        email,
    }))
}

#[derive(askama::Template)]
#[template(path = "newsletter/confirm.html")]
struct ConfirmPage {
    page: Page,
    email: String,
    token: String,
    done: bool,
    preferences: String,
    /// The age question (unless an admin switched it off for the newsletter).
    ask_age: bool,
    form: ConfirmForm,
    errors: FieldErrors,
}

/// The confirmation button's form: the year of birth, when asked.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    pub birth_year: String,
}

/// Checks a confirmation link and finds its subscriber, or answers with the page that says why not.
async fn confirmable(
    state: &AppState,
    page: Page,
    token: &str,
) -> AppResult<Result<(Found, Page), Response>> {
    let id = match check_confirm_token(&state.keyring, token, now_ms()) {
        ConfirmToken::Valid(id) => id,
        ConfirmToken::Forged => return Ok(Err(forged(page)?)),
        ConfirmToken::Expired => {
            return Ok(Err(link_problem(
                page,
                StatusCode::GONE,
                "This confirmation link has expired",
                "Confirmation links work for 7 days. Nothing was subscribed: please subscribe again below and use the new link.",
            )?));
        }
    };
    match find(state, id).await? {
        None => Ok(Err(unknown(page)?)),
        Some(found) if found.row.status == "unsubscribed" => Ok(Err(link_problem(
            page,
            StatusCode::GONE,
            "This confirmation link no longer works",
            "You unsubscribed after asking for it, so it cannot subscribe you again. If you want the newsletter, subscribe again below.",
        )?)),
        Some(found) => Ok(Ok((found, page))),
    }
}

/// What a link is used for: unsubscribing works with an expired link too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LinkUse {
    Preferences,
    Unsubscribe,
}

/// Checks a preferences or unsubscribe link and finds its subscriber (and
/// the campaign it came from, 0 for none), or answers with the page that
/// says why not.
async fn linked(
    state: &AppState,
    page: Page,
    token: &str,
    used_for: LinkUse,
) -> AppResult<Result<(Found, i64, Page), Response>> {
    let Some(link) = check_link_token(&state.keyring, token, now_ms()) else {
        return Ok(Err(forged(page)?));
    };
    if link.expired && used_for == LinkUse::Preferences {
        return Ok(Err(link_problem(
            page,
            StatusCode::GONE,
            "This link has expired",
            "For your privacy, a link to your newsletter settings works for a year. Use the link in our latest newsletter, or unsubscribe with this one: unsubscribing always works.",
        )?));
    }
    let (id, campaign) = (link.subscriber, link.campaign);
    match find(state, id).await? {
        None => Ok(Err(unknown(page)?)),
        Some(found) => Ok(Ok((found, campaign, page))),
    }
}

/// The confirmation page: a button, so a mail scanner opening the link does not subscribe anyone.
pub async fn show_confirm(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let (found, page) = match confirmable(&state, page, &token).await? {
        Ok(ok) => ok,
        Err(response) => return Ok(response),
    };
    let done = found.row.status == "confirmed";
    render(&ConfirmPage {
        ask_age: page.site.asks_age(age::NEWSLETTER),
        page: page.titled("Confirm your subscription"),
        email: found.email,
        token,
        done,
        preferences: preferences_path(&state, found.row.id),
        form: ConfirmForm::default(),
        errors: FieldErrors::default(),
    })
}

pub async fn confirm(
    State(state): State<AppState>,
    page: Page,
    gate: AgeGate,
    Path(token): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let (found, page) = match confirmable(&state, page, &token).await? {
        Ok(ok) => ok,
        Err(response) => return Ok(response),
    };
    if found.row.status == "pending" {
        let judged = match gate.check_form(age::NEWSLETTER, &form.birth_year) {
            Ok(judged) => judged,
            Err(refusal) => {
                // Possibly under 13: the pending address goes, nothing is kept.
                forget_pending(&state, &found).await?;
                return Err(refusal);
            }
        };
        if let Some(m) = judged {
            let mut errors = FieldErrors::default();
            errors.add(age::FIELD, m);
            let body = ConfirmPage {
                ask_age: true,
                page: page.titled("Confirm your subscription"),
                email: found.email,
                token,
                done: false,
                preferences: String::new(),
                form,
                errors,
            };
            return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
        }
    }
    let mut tx = state.db.begin().await?;
    let confirmed_now = db::confirm(&mut tx, found.row.id, now_ms()).await?;
    if confirmed_now {
        // Confirming from the mailbox is a new, proven consent: it lifts an
        // earlier unsubscribe (never an erasure's suppression).
        let index = state
            .keyring
            .blind_index("email", &subjects::normalise_email(&found.email));
        erasure::lift_suppression(&mut tx, &index, UNSUBSCRIBED).await?;
        crate::platform::webhooks::enqueue(
            &mut tx,
            &state.keyring,
            state.clock.now(),
            crate::platform::webhooks::Event {
                kind: "subscriber.confirmed",
                subject: Some(&found.subject),
                data: serde_json::json!({ "subscriber_id": found.row.id }),
                personal: serde_json::json!({ "email": found.email }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    if confirmed_now {
        crate::analytics::goal(&state, "newsletter_confirmed");
    }
    render(&ConfirmPage {
        page: page.titled("Subscription confirmed"),
        email: found.email,
        token,
        done: true,
        preferences: preferences_path(&state, found.row.id),
        ask_age: false,
        form,
        errors: FieldErrors::default(),
    })
}

/// A pending subscription answered as possibly under 13: the row and its
/// waiting mail go, and the subject's key too when it holds nothing else
/// (crypto-shredding the sent confirmation mail), as the policy promises.
async fn forget_pending(state: &AppState, found: &Found) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    if !db::delete_pending(&mut tx, found.row.id).await? {
        return Ok(());
    }
    mail::cancel_pending(&mut tx, found.subject.id, "newsletter-confirm").await?;
    tx.commit().await?;
    let held = erasure::export(&state.db, &state.registry.inventory, &found.subject).await?;
    if held
        .iter()
        .all(|t| matches!(t.table, "subjects" | "outbox"))
    {
        let mut tx = state.db.begin().await?;
        subjects::shred(&mut tx, found.subject.id).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The suppression reason of an unsubscribe.
pub const UNSUBSCRIBED: &str = "unsubscribed";

fn preferences_path(state: &AppState, subscriber_id: i64) -> String {
    format!(
        "/newsletter/preferences/{}",
        link_token(&state.keyring, subscriber_id, 0, now_ms())
    )
}

#[derive(askama::Template)]
#[template(path = "newsletter/preferences.html")]
struct PreferencesPage {
    page: Page,
    email: String,
    status: String,
    chosen: Vec<String>,
    topics: &'static [(&'static str, &'static str)],
    token: String,
    error: String,
    saved: bool,
}

impl PreferencesPage {
    fn new(page: Page, found: Found, chosen: Vec<String>, token: String) -> PreferencesPage {
        PreferencesPage {
            page: page.titled("Your newsletter choices"),
            email: found.email,
            status: found.row.status,
            chosen,
            topics: TOPICS,
            token,
            error: String::new(),
            saved: false,
        }
    }

    fn has_topic(&self, key: &&str) -> bool {
        self.chosen.iter().any(|t| t == key)
    }
}

pub async fn show_preferences(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let (found, _, page) = match linked(&state, page, &token, LinkUse::Preferences).await? {
        Ok(ok) => ok,
        Err(response) => return Ok(response),
    };
    let chosen = topics_from_text(&found.row.topics);
    render(&PreferencesPage::new(page, found, chosen, token))
}

pub async fn save_preferences(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (found, _, page) = match linked(&state, page, &token, LinkUse::Preferences).await? {
        Ok(ok) => ok,
        Err(response) => return Ok(response),
    };
    let chosen: Vec<String> = pairs
        .into_iter()
        .filter(|(k, _)| k == "topic")
        .map(|(_, v)| v)
        .collect();
    let topics = topics_to_text(&chosen);
    if topics.is_empty() {
        let body = PreferencesPage {
            error: "Please keep at least one topic, or unsubscribe from everything below.".into(),
            ..PreferencesPage::new(page, found, chosen, token)
        };
        return render_with(StatusCode::UNPROCESSABLE_ENTITY, &body);
    }
    let mut tx = state.db.begin().await?;
    db::set_topics(&mut tx, found.row.id, &topics).await?;
    tx.commit().await?;
    render(&PreferencesPage {
        saved: true,
        ..PreferencesPage::new(page, found, topics_from_text(&topics), token)
    })
}

#[derive(askama::Template)]
#[template(path = "newsletter/unsubscribe.html")]
struct UnsubscribePage {
    page: Page,
    email: String,
    token: String,
    done: bool,
}

pub async fn show_unsubscribe(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let (found, _, page) = match linked(&state, page, &token, LinkUse::Unsubscribe).await? {
        Ok(ok) => ok,
        Err(response) => return Ok(response),
    };
    let done = found.row.status == "unsubscribed";
    render(&UnsubscribePage {
        page: page.titled("Unsubscribe"),
        email: found.email,
        token,
        done,
    })
}

/// One-click unsubscribe (RFC 8058: a POST from the mail client with
/// `List-Unsubscribe=One-Click`) and the page's button alike.
pub async fn unsubscribe(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let (found, campaign, page) = match linked(&state, page, &token, LinkUse::Unsubscribe).await? {
        Ok(ok) => ok,
        Err(response) => return Ok(response),
    };
    unsubscribe_subscriber(&state, &found.row, &found.subject, &found.email, campaign).await?;
    render(&UnsubscribePage {
        page: page.titled("You are unsubscribed"),
        email: found.email,
        token,
        done: true,
    })
}

/// Takes a person off every marketing mail at once: the subscription ends,
/// the address joins the global suppression list, and campaign mail still
/// waiting in the outbox for them is cancelled, in one transaction.
pub async fn unsubscribe_subscriber(
    state: &AppState,
    row: &db::SubscriberRow,
    subject: &Subject,
    email: &str,
    campaign: i64,
) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let unsubscribed_now = db::unsubscribe(&mut tx, row.id, now_ms()).await?;
    if unsubscribed_now && campaign > 0 {
        db::count_unsubscribe(&mut tx, campaign).await?;
    }
    if unsubscribed_now {
        crate::platform::webhooks::enqueue(
            &mut tx,
            &state.keyring,
            state.clock.now(),
            crate::platform::webhooks::Event {
                kind: "subscriber.unsubscribed",
                subject: Some(subject),
                data: serde_json::json!({ "subscriber_id": row.id }),
                personal: serde_json::json!({ "email": email }),
            },
        )
        .await?;
    }
    let index = state
        .keyring
        .blind_index("email", &subjects::normalise_email(email));
    erasure::suppress_index(&mut tx, &index, UNSUBSCRIBED).await?;
    mail::cancel_pending(&mut tx, subject.id, super::runner::REASON_PREFIX).await?;
    tx.commit().await?;
    Ok(())
}

/// Marketing mail to a person bounced for good or drew a complaint: as a
/// one-click unsubscribe (the subscription ends, the address is suppressed,
/// waiting campaign mail is cancelled), counted in the campaign's figures;
/// in the caller's transaction. True when they were subscribed until now.
pub async fn stop_after_bounce(
    state: &Platform,
    tx: &mut crate::platform::db::Tx,
    subject_id: i64,
    campaign_id: Option<i64>,
) -> anyhow::Result<bool> {
    let changed = match db::subscriber_of_subject(&state.db, subject_id).await? {
        Some(row) => db::unsubscribe(tx, row.id, now_ms()).await?,
        None => false,
    };
    if let Some(campaign) = campaign_id.filter(|_| changed) {
        db::count_unsubscribe(tx, campaign).await?;
    }
    if let Some(index) = subjects::email_index(tx, subject_id).await? {
        erasure::suppress_index(tx, &index, UNSUBSCRIBED).await?;
    }
    mail::cancel_pending(tx, subject_id, super::runner::REASON_PREFIX).await?;
    Ok(changed)
}

/// A server refused a campaign mail's address for good: no more marketing
/// to it, as after a hard bounce. Registered as a
/// [`crate::platform::state::RefusalHook`].
pub fn recipient_refused<'a>(
    state: &'a Platform,
    tx: &'a mut crate::platform::db::Tx,
    refusal: &'a Refusal<'a>,
) -> BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        if let (Some(campaign), Some(subject_id)) =
            (campaign_of_reason(refusal.reason), refusal.subject_id)
        {
            stop_after_bounce(state, tx, subject_id, Some(campaign)).await?;
        }
        Ok(())
    })
}

/// The campaign a campaign mail's outbox reason names (`campaign:{id}`).
pub fn campaign_of_reason(reason: &str) -> Option<i64> {
    reason
        .strip_prefix(super::runner::REASON_PREFIX)?
        .parse()
        .ok()
}

/// A person's newsletter subscription as their account shows it.
pub struct Subscription {
    /// `pending`, `confirmed` or `unsubscribed`.
    pub status: String,
    pub topics: String,
    /// The signed preferences page, where topics change and one click unsubscribes.
    pub preferences: String,
}

pub async fn subscription_of(
    state: &AppState,
    subject_id: i64,
) -> anyhow::Result<Option<Subscription>> {
    Ok(db::subscriber_of_subject(&state.db, subject_id)
        .await?
        .map(|row| Subscription {
            status: row.status.clone(),
            topics: topic_labels(&row.topics),
            preferences: preferences_path(state, row.id),
        }))
}
