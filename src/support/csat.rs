//! Satisfaction after a ticket is solved (CSAT): one rating request per
//! ticket, ever, mailed when staff first solve it; five links, each opening
//! a page with that rating chosen and a button (a mail scanner following
//! the links records nothing); only the POST records. A second POST on the
//! same link changes the rating: a ticket keeps one rating, the latest.

use super::{
    db::{self, InboxFilter},
    settings,
    tickets::Ticket,
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        csv::Csv,
        db::Tx,
        forms::{Form, text},
        mail::{self, EmailTemplate, Recipient},
        now_ms, random_token,
        templates::{Page, format_time, render, render_with},
        token_hash,
    },
    privacy::{
        erasure,
        inventory::{Category, Column, Field, ROW_ID, Retention, SUBJECT_ID, Shown, Table},
        subjects::{self, Subject},
    },
    staff::{Agent, Staff},
};
use axum::{
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use chrono::Datelike;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// How long the links of a rating request work.
pub const VALID_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
pub const MAX_COMMENT_CHARS: usize = 2000;

/// The five ratings and how a person reads them.
pub const SCORES: [(i64, &str); 5] = [
    (1, "Very unsatisfied"),
    (2, "Unsatisfied"),
    (3, "Neither"),
    (4, "Satisfied"),
    (5, "Very satisfied"),
];

pub fn score_label(score: i64) -> &'static str {
    SCORES
        .iter()
        .find(|(s, _)| *s == score)
        .map_or("", |(_, l)| l)
}

pub const TABLES: &[Table] = &[Table {
    name: "csat_ratings",
    feature: "satisfaction ratings after a support request",
    title: "Your ratings of our help",
    summary: "Rated {rating} of 5 · {rated_at}",
    subject_column: Some("subject_id"),
    created_column: Some("created_at"),
    retention: Retention::UntilErased,
    personal: &[
        Field {
            column: "rating",
            label: "how satisfied you said you were with our answer to a support request (1 to 5)",
            category: Category::Message,
            purpose: "to learn how well we help, per month and per agent",
            encrypted: false,
            shared_with: &[],
        },
        Field {
            column: "comment",
            label: "the comment you added to a satisfaction rating",
            category: Category::Message,
            purpose: "to learn how well we help, per month and per agent",
            encrypted: true,
            shared_with: &[],
        },
    ],
    other: &[
        "id",
        "ticket_id",
        "subject_id",
        "agent_id",
        "token_hash",
        "created_at",
        "expires_at",
        "rated_at",
    ],
    columns: &[
        Column::new("id", "Number", Shown::Internal, ROW_ID),
        Column::new(
            "ticket_id",
            "Support request",
            Shown::Internal,
            "Our number of the support request the rating is about.",
        ),
        Column::new("subject_id", "Your record", Shown::Internal, SUBJECT_ID),
        Column::new(
            "agent_id",
            "Answered by",
            Shown::Internal,
            "Our number of the staff member who answered, for figures per agent.",
        ),
        Column::new(
            "rating",
            "Rating",
            Shown::Number,
            "How satisfied you said you were, from 1 (not at all) to 5 (very).",
        ),
        Column::new(
            "comment",
            "Comment",
            Shown::Paragraphs,
            "What you added to your rating.",
        ),
        Column::new(
            "token_hash",
            "Link fingerprint",
            Shown::Internal,
            "A one-way fingerprint of the rating link we mailed you.",
        ),
        Column::new(
            "created_at",
            "Asked",
            Shown::DateTime,
            "When we asked for your rating.",
        ),
        Column::new(
            "expires_at",
            "Link expires",
            Shown::DateTime,
            "When the rating link stops working.",
        ),
        Column::new(
            "rated_at",
            "Rated",
            Shown::DateTime,
            "When you rated our help.",
        ),
    ],
}];

crate::email_template!(pub struct CsatMail { name: String, reference: String, title: String, company: String, links: Vec<(i64, &'static str, String)> }
    subject "email/csat_request/subject.txt",
    text "email/csat_request/body.txt",
    html "email/csat_request/body.html",
);

/// Called in the transaction that solves a ticket (a status change, a
/// reply that solves, a bulk change): mails the rating request, unless
/// ratings are off, the ticket had one already (ever), its requester gave
/// no address or must not be written to. Whether a request was made; the
/// caller wakes the mail worker after its commit.
pub async fn request_on_solve(
    state: &AppState,
    tx: &mut Tx,
    ticket: &Ticket,
    subject: &Subject,
    agent_id: Option<i64>,
) -> anyhow::Result<bool> {
    if !settings::load(&state.db).await?.csat_enabled || ticket.email.trim().is_empty() {
        return Ok(false);
    }
    if erasure::is_suppressed(state, &ticket.email).await? {
        return Ok(false);
    }
    let token = random_token(32);
    let now = now_ms();
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO csat_ratings (ticket_id, subject_id, agent_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) DO NOTHING RETURNING id",
    )
    .bind(ticket.id)
    .bind(subject.id)
    .bind(agent_id)
    .bind(token_hash(&token))
    .bind(now)
    .bind(now + VALID_DAYS * DAY_MS)
    .fetch_optional(&mut **tx)
    .await?;
    if inserted.is_none() {
        return Ok(false);
    }
    let base = state.config.base_url.join(&format!("csat/{token}"))?;
    let links = SCORES
        .iter()
        .map(|(score, label)| (*score, *label, format!("{base}?score={score}")))
        .collect();
    let site = state.site();
    let mail = CsatMail {
        name: ticket.name.clone(),
        reference: ticket.reference.clone(),
        title: ticket.title.clone(),
        company: site.company_name.clone(),
        links,
    };
    mail::enqueue(
        tx,
        &state.keyring,
        &site,
        Recipient::Subject(subject),
        "csat-request",
        &format!("csat-request:{}", ticket.id),
        &mail.to_mail(&ticket.email)?,
    )
    .await?;
    Ok(true)
}

/// A ticket's rating request as staff see it.
pub struct CsatView {
    pub requested_at: i64,
    pub rating: Option<i64>,
    pub comment: String,
    pub rated_at: Option<i64>,
}

impl CsatView {
    pub fn label(&self) -> &'static str {
        self.rating.map_or("", score_label)
    }
}

type RatingRow = (i64, Option<i64>, Option<Vec<u8>>, Option<i64>);

/// The rating request of a ticket, if one was sent.
pub async fn for_ticket(
    state: &AppState,
    ticket_id: i64,
    subject: &Subject,
) -> anyhow::Result<Option<CsatView>> {
    let row: Option<RatingRow> = sqlx::query_as(
        "SELECT created_at, rating, comment, rated_at FROM csat_ratings WHERE ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.map(|(requested_at, rating, comment, rated_at)| {
        Ok(CsatView {
            requested_at,
            rating,
            comment: comment
                .map(|c| subject.open("csat_ratings", "comment", &c))
                .transpose()?
                .unwrap_or_default(),
            rated_at,
        })
    })
    .transpose()
}

/// The ratings given on `tickets` (each with its requester, whose key
/// opens the comment), by ticket id; tickets not rated are absent. One
/// query for a page of tickets.
pub async fn ratings_of(
    state: &AppState,
    tickets: &[(i64, &Subject)],
) -> anyhow::Result<HashMap<i64, CsatView>> {
    if tickets.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT ticket_id, created_at, rating, comment, rated_at FROM csat_ratings \
         WHERE rating IS NOT NULL AND ticket_id IN ({})",
        crate::platform::db::placeholders(1, tickets.len())
    );
    let mut q = sqlx::query_as::<_, (i64, i64, Option<i64>, Option<Vec<u8>>, Option<i64>)>(
        crate::platform::db::trusted_sql(sql),
    )
    .persistent(false);
    for (id, _) in tickets {
        q = q.bind(*id);
    }
    let subjects: HashMap<i64, &Subject> = tickets.iter().copied().collect();
    let mut out = HashMap::new();
    for (ticket_id, requested_at, rating, comment, rated_at) in q.fetch_all(&state.db.pool).await? {
        let Some(subject) = subjects.get(&ticket_id) else {
            continue;
        };
        let comment = comment
            .map(|c| subject.open("csat_ratings", "comment", &c))
            .transpose()?
            .unwrap_or_default();
        out.insert(
            ticket_id,
            CsatView {
                requested_at,
                rating,
                comment,
                rated_at,
            },
        );
    }
    Ok(out)
}

/// One line of the dashboard's summary: a month or an agent.
pub struct SummaryRow {
    pub label: String,
    pub count: i64,
    pub average: String,
    /// Share of 4 and 5 ratings, in percent (the usual CSAT score).
    pub satisfied: i64,
}

fn summary_row(label: String, ratings: &[i64]) -> SummaryRow {
    let count = ratings.len() as i64;
    let sum: i64 = ratings.iter().sum();
    let good = ratings.iter().filter(|r| **r >= 4).count() as i64;
    SummaryRow {
        label,
        count,
        average: if count == 0 {
            "—".into()
        } else {
            format!("{:.1}", sum as f64 / count as f64)
        },
        satisfied: if count == 0 { 0 } else { good * 100 / count },
    }
}

/// Ratings overall, per month (the last twelve with ratings) and per agent
/// (the assignee when the ticket was solved).
pub struct CsatSummary {
    pub enabled: bool,
    pub requested: i64,
    pub overall: SummaryRow,
    pub months: Vec<SummaryRow>,
    pub agents: Vec<SummaryRow>,
}

/// The dashboard's figures (a small company's volume: computed in memory).
pub async fn summary(state: &AppState) -> anyhow::Result<CsatSummary> {
    let requested: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM csat_ratings")
        .fetch_one(&state.db.pool)
        .await?;
    let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT rating, rated_at, agent_id FROM csat_ratings \
         WHERE rating IS NOT NULL AND rated_at IS NOT NULL ORDER BY rated_at",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let names: HashMap<i64, String> = crate::staff::db::list_users(&state.db, "")
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect();
    let mut months: BTreeMap<(i32, u32), Vec<i64>> = BTreeMap::new();
    let mut agents: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (rating, at, agent) in &rows {
        if let Some(t) = chrono::DateTime::from_timestamp_millis(*at) {
            months
                .entry((t.year(), t.month()))
                .or_default()
                .push(*rating);
        }
        let name = agent
            .and_then(|id| names.get(&id).cloned())
            .unwrap_or_else(|| "Unassigned".into());
        agents.entry(name).or_default().push(*rating);
    }
    let all: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let month_rows = months
        .iter()
        .rev()
        .take(12)
        .map(|((y, m), r)| {
            let label = chrono::NaiveDate::from_ymd_opt(*y, *m, 1)
                .map(|d| d.format("%B %Y").to_string())
                .unwrap_or_default();
            summary_row(label, r)
        })
        .collect();
    Ok(CsatSummary {
        enabled: settings::load(&state.db).await?.csat_enabled,
        requested,
        overall: summary_row("All ratings".into(), &all),
        months: month_rows,
        agents: agents
            .into_iter()
            .map(|(name, r)| summary_row(name, &r))
            .collect(),
    })
}

/// The request behind a link, checked.
struct Found {
    id: i64,
    reference: String,
    rating: Option<i64>,
    comment: String,
    subject: Subject,
}

async fn find(state: &AppState, token: &str) -> AppResult<Found> {
    type Row = (i64, i64, i64, Option<i64>, Option<Vec<u8>>, Option<String>);
    if token.len() > 100 {
        return Err(AppError::NotFound);
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT c.id, c.subject_id, c.expires_at, c.rating, c.comment, t.reference \
         FROM csat_ratings c LEFT JOIN tickets t ON t.id = c.ticket_id WHERE c.token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&state.db.pool)
    .await?;
    let (id, subject_id, expires_at, rating, comment, reference) = row.ok_or(AppError::NotFound)?;
    let key = subjects::key(&state.db, &state.keyring, subject_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if expires_at < now_ms() {
        return Err(AppError::Gone);
    }
    let subject = Subject {
        id: subject_id,
        key,
    };
    let comment = comment
        .map(|c| subject.open("csat_ratings", "comment", &c))
        .transpose()?
        .unwrap_or_default();
    Ok(Found {
        id,
        reference: reference.unwrap_or_default(),
        rating,
        comment,
        subject,
    })
}

#[derive(askama::Template)]
#[template(path = "support/csat_rate.html")]
struct RatePage {
    page: Page,
    token: String,
    reference: String,
    scores: [(i64, &'static str); 5],
    chosen: i64,
    comment: String,
    /// Rated before this page was shown (the choice shown is the stored one).
    rated: bool,
    done: bool,
    error: String,
    max_comment: usize,
}

impl RatePage {
    fn chosen_label(&self) -> String {
        score_label(self.chosen).to_lowercase()
    }
}

#[derive(Deserialize, Default)]
pub struct RateQuery {
    #[serde(default)]
    score: String,
    #[serde(default)]
    done: String,
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// GET: the page with the rating from the link chosen; records nothing.
pub async fn show_rating(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
    Query(q): Query<RateQuery>,
) -> AppResult<Response> {
    let found = find(&state, &token).await?;
    let from_link = q.score.parse::<i64>().ok().filter(|s| (1..=5).contains(s));
    let done = q.done == "1" && found.rating.is_some();
    let body = RatePage {
        page: page.titled(if done {
            "Thank you for your rating"
        } else {
            "How did we do?"
        }),
        token,
        reference: found.reference,
        scores: SCORES,
        chosen: from_link.or(found.rating).unwrap_or(0),
        comment: found.comment,
        rated: found.rating.is_some(),
        done,
        error: String::new(),
        max_comment: MAX_COMMENT_CHARS,
    };
    Ok(no_store(render(&body)?))
}

#[derive(Deserialize)]
pub struct RateForm {
    #[serde(default)]
    score: String,
    #[serde(default)]
    comment: String,
}

/// POST: records the rating (a second POST replaces the first: one rating
/// per ticket), then shows the thanks.
pub async fn record_rating(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
    Form(form): Form<RateForm>,
) -> AppResult<Response> {
    let found = find(&state, &token).await?;
    let score = form
        .score
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|s| (1..=5).contains(s));
    let comment = text(&form.comment, MAX_COMMENT_CHARS);
    let error = match (&score, &comment) {
        (None, _) => "Please choose a rating from 1 to 5.".to_string(),
        (_, Err(m)) => m.clone(),
        _ => String::new(),
    };
    let (Some(score), Ok(comment)) = (score, comment) else {
        let body = RatePage {
            page: page.titled("How did we do?"),
            token,
            reference: found.reference,
            scores: SCORES,
            chosen: 0,
            comment: form.comment,
            rated: found.rating.is_some(),
            done: false,
            error,
            max_comment: MAX_COMMENT_CHARS,
        };
        return Ok(no_store(render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &body,
        )?));
    };
    let sealed = comment
        .as_deref()
        .map(|c| found.subject.seal("csat_ratings", "comment", c));
    sqlx::query("UPDATE csat_ratings SET rating = $1, comment = $2, rated_at = $3 WHERE id = $4")
        .bind(score)
        .bind(sealed)
        .bind(now_ms())
        .bind(found.id)
        .execute(&state.db.pool)
        .await?;
    Ok(Redirect::to(&format!("/csat/{token}?done=1")).into_response())
}

/// Every ticket with its rating, as CSV for a spreadsheet.
pub async fn export_csv(_: Staff<Agent>, State(state): State<AppState>) -> AppResult<Response> {
    let filter = InboxFilter {
        status: "all".into(),
        ..InboxFilter::default()
    };
    let names: HashMap<i64, String> = crate::staff::db::list_users(&state.db, "")
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect();
    type RatingCells = (i64, Option<i64>, Option<Vec<u8>>, Option<i64>);
    let ratings: Vec<RatingCells> =
        sqlx::query_as("SELECT ticket_id, rating, comment, rated_at FROM csat_ratings")
            .fetch_all(&state.db.pool)
            .await?;
    let ratings: HashMap<i64, _> = ratings
        .into_iter()
        .map(|(t, r, c, at)| (t, (r, c, at)))
        .collect();
    let mut out = Csv::new([
        "reference",
        "created_at",
        "status",
        "product",
        "title",
        "assignee",
        "satisfaction",
        "satisfaction_label",
        "satisfaction_comment",
        "rated_at",
    ])?;
    for row in db::list(&state.db, &filter, 100_000).await? {
        let Some((ticket, subject)) = Ticket::open(&state, row)? else {
            continue;
        };
        let (rating, comment, rated_at) = match ratings.get(&ticket.id) {
            Some((r, c, at)) => (
                *r,
                c.as_deref()
                    .map(|c| subject.open("csat_ratings", "comment", c))
                    .transpose()?
                    .unwrap_or_default(),
                *at,
            ),
            None => (None, String::new(), None),
        };
        out.row([
            ticket.reference.clone(),
            format_time(ticket.created_at),
            ticket.status.clone(),
            ticket.product.clone(),
            ticket.title.clone(),
            ticket
                .assignee_id
                .and_then(|id| names.get(&id).cloned())
                .unwrap_or_default(),
            rating.map(|r| r.to_string()).unwrap_or_default(),
            rating.map(score_label).unwrap_or_default().to_string(),
            comment,
            rated_at.map(format_time).unwrap_or_default(),
        ])?;
    }
    Ok(out.download("tickets.csv")?)
}
