//! Subscribers in the back office (admins): the list, CSV export, and CSV
//! import, which must name where the consent came from and never brings
//! back an address that unsubscribed or was erased.

use super::{TOPICS, db, topics_to_text};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        csv::Csv,
        forms::EmailAddress,
        now_ms,
        templates::{Page, format_time, render, render_with},
        webhooks,
    },
    privacy::{erasure, policy, subjects},
    staff::{
        Admin, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Multipart, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;

/// A subscriber with the sealed fields opened, for staff.
pub struct Listed {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub row: db::SubscriberRow,
}

/// Every subscriber we can still read (erased ones are gone), oldest first.
pub async fn open_all(state: &AppState) -> anyhow::Result<Vec<Listed>> {
    open_rows(state, db::all_subscribers(&state.db).await?).await
}

/// `rows` with their sealed fields opened; a row whose person was erased
/// meanwhile (no key) is left out.
pub async fn open_rows(
    state: &AppState,
    rows: Vec<db::SubscriberRow>,
) -> anyhow::Result<Vec<Listed>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.subject_id).collect();
    let keys = subjects::keys_of(&state.db, &state.keyring, &ids).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(key) = keys.get(&row.subject_id) else {
            continue;
        };
        let subject = subjects::Subject {
            id: row.subject_id,
            key: key.clone(),
        };
        let email = subject.open("newsletter_subscribers", "email", &row.email)?;
        let name = match &row.name {
            Some(n) => subject.open("newsletter_subscribers", "name", n)?,
            None => String::new(),
        };
        out.push(Listed {
            id: row.id,
            email,
            name,
            row,
        });
    }
    Ok(out)
}

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// What an import did, shown on the page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    pub already: usize,
    pub suppressed: usize,
    pub invalid: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "newsletter/admin_subscribers.html")]
struct ListPage {
    page: Page,
    q: String,
    counts: Vec<(String, i64)>,
    subscribers: Vec<Listed>,
    shown_of: usize,
    report: Option<ImportReport>,
    source: String,
    error: String,
}

impl ListPage {
    /// In the viewer's zone.
    fn time(&self, ms: &Option<i64>) -> String {
        ms.map(|ms| self.page.time(&ms)).unwrap_or_default()
    }
}

async fn list_page(
    state: &AppState,
    page: Page,
    q: String,
    report: Option<ImportReport>,
    source: String,
    error: String,
) -> anyhow::Result<ListPage> {
    let needle = q.trim().to_lowercase();
    let all = open_all(state).await?;
    let matching: Vec<Listed> = all
        .into_iter()
        .filter(|s| {
            needle.is_empty()
                || s.email.to_lowercase().contains(&needle)
                || s.name.to_lowercase().contains(&needle)
        })
        .collect();
    let shown_of = matching.len();
    Ok(ListPage {
        page: page.titled("Subscribers"),
        q,
        counts: db::subscriber_counts(&state.db).await?,
        subscribers: matching.into_iter().rev().take(200).collect(),
        shown_of,
        report,
        source,
        error,
    })
}

pub async fn list_subscribers(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    render(&list_page(&state, page, search.q, None, String::new(), String::new()).await?)
}

pub async fn export_csv(
    Staff(user, _): Staff<Admin>,
    State(state): State<AppState>,
) -> AppResult<Response> {
    let all = open_all(&state).await?;
    let mut out = Csv::new([
        "email",
        "name",
        "status",
        "topics",
        "subscribed_at",
        "confirmed_at",
        "consent_at",
        "consent_source",
        "consent_policy",
    ])?;
    for s in &all {
        let time = |ms: Option<i64>| ms.map(format_time).unwrap_or_default();
        out.row([
            s.email.as_str(),
            s.name.as_str(),
            s.row.status.as_str(),
            &s.row.topics.replace(',', ";"),
            &format_time(s.row.created_at),
            &time(s.row.confirmed_at),
            &format_time(s.row.consent_at),
            &s.row.consent_source,
            &s.row.consent_policy,
        ])?;
    }
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "export",
        "subscribers",
        all.len(),
        "CSV export",
    )
    .await?;
    tx.commit().await?;
    Ok(out.download("subscribers.csv")?)
}

/// One row to import.
pub struct ImportRow {
    pub line: usize,
    pub email: String,
    pub name: String,
    pub topics: String,
}

/// Reads `email[,name[,topics]]` CSV with a header row; topics separated by `;`.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<ImportRow>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| format!("The file is not readable CSV: {e}"))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let email_col =
        column("email").ok_or("The first line must name the columns, with one called “email”.")?;
    let name_col = column("name");
    let topics_col = column("topics");
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("Line {}: {e}", i + 2))?;
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").to_string();
        rows.push(ImportRow {
            line: i + 2,
            email: get(Some(email_col)),
            name: get(name_col),
            topics: get(topics_col),
        });
    }
    Ok(rows)
}

/// Imports rows as confirmed subscribers whose consent came from `source`.
/// Suppressed addresses (unsubscribed or erased) are skipped and counted,
/// addresses already subscribed are left as they are.
pub async fn import_rows(
    state: &AppState,
    rows: &[ImportRow],
    source: &str,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let now = now_ms();
    let policy = policy::generate(&state.site(), &state.registry.inventory).version;
    let consent_source = format!("import: {source}");
    for chunk in rows.chunks(1000) {
        let mut valid = Vec::with_capacity(chunk.len());
        for row in chunk {
            match row.email.parse::<EmailAddress>() {
                Ok(email) => {
                    let index = state
                        .keyring
                        .blind_index("email", &subjects::normalise_email(email.as_str()));
                    valid.push((row, email, index));
                }
                Err(_) => report
                    .invalid
                    .push(format!("line {}: {}", row.line, row.email)),
            }
        }
        let indexes: Vec<Vec<u8>> = valid.iter().map(|v| v.2.clone()).collect();
        let suppressed = erasure::suppressed_among(&state.db, &indexes).await?;
        let mut tx = state.db.begin().await?;
        let announced = webhooks::followed(&mut tx, "subscriber.confirmed").await?;
        for (row, email, index) in valid {
            if suppressed.contains(&index) {
                report.suppressed += 1;
                continue;
            }
            let subject = subjects::find_or_create(&mut tx, &state.keyring, email.as_str()).await?;
            if let Some((_, status)) = db::subscriber_by_subject(&mut tx, subject.id).await?
                && status == "confirmed"
            {
                report.already += 1;
                continue;
            }
            let chosen: Vec<String> = row
                .topics
                .split([';', '|'])
                .map(|t| t.trim().to_string())
                .collect();
            let mut topics = topics_to_text(&chosen);
            if topics.is_empty() {
                topics = TOPICS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(",");
            }
            let name = crate::platform::forms::text(&row.name, 100).ok().flatten();
            let table = "newsletter_subscribers";
            let id = db::upsert_subscriber(
                &mut tx,
                subject.id,
                &subject.seal(table, "email", email.as_str()),
                name.map(|n| subject.seal(table, "name", &n)).as_deref(),
                "confirmed",
                &topics,
                &db::Consent {
                    at: now,
                    source: &consent_source,
                    policy: &policy,
                    ip_hash: None,
                },
            )
            .await?;
            if announced {
                webhooks::enqueue(
                    &mut tx,
                    &state.keyring,
                    state.clock.now(),
                    webhooks::Event {
                        kind: "subscriber.confirmed",
                        subject: Some(&subject),
                        data: serde_json::json!({ "subscriber_id": id, "via": "import" }),
                        personal: serde_json::json!({ "email": email.as_str() }),
                    },
                )
                .await?;
            }
            report.added += 1;
        }
        tx.commit().await?;
    }
    Ok(report)
}

pub async fn import_csv(
    Staff(user, _): Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let mut source = String::new();
    let mut file: Option<Vec<u8>> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("The upload could not be read: {e}")))?
    {
        match field.name() {
            Some("source") => {
                source = field
                    .text()
                    .await
                    .map_err(|_| AppError::BadRequest("The source could not be read.".into()))?
            }
            Some("file") => {
                file = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|_| AppError::BadRequest("The file could not be read.".into()))?
                        .to_vec(),
                )
            }
            _ => {}
        }
    }
    let refuse = |page: Page, source: String, error: &str| {
        let state = state.clone();
        let error = error.to_string();
        async move {
            let body = list_page(&state, page, String::new(), None, source, error).await?;
            render_with(StatusCode::UNPROCESSABLE_ENTITY, &body)
        }
    };
    let source_text = match crate::platform::forms::text(&source, 300) {
        Ok(Some(s)) if s.chars().count() >= 5 => s,
        _ => {
            return refuse(
                page,
                source,
                "Say where these people agreed to receive the newsletter (for example “sign-up sheet at the 2026 trade fair”); we record it as their consent.",
            )
            .await;
        }
    };
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return refuse(page, source, "Choose a CSV file to import.").await;
    };
    let rows = match parse_csv(&bytes) {
        Ok(rows) => rows,
        Err(e) => return refuse(page, source, &e).await,
    };
    let report = import_rows(&state, &rows, &source_text).await?;
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "import",
        "subscribers",
        report.added,
        &format!(
            "source: {source_text}; added {}, already subscribed {}, suppressed {}, invalid {}",
            report.added,
            report.already,
            report.suppressed,
            report.invalid.len()
        ),
    )
    .await?;
    tx.commit().await?;
    render(
        &list_page(
            &state,
            page,
            String::new(),
            Some(report),
            String::new(),
            String::new(),
        )
        .await?,
    )
}

/// Subscribers whose address or name holds `q` (lower-cased), for the back
/// office's global search: the list's own matching, newest first.
pub async fn search(
    state: &AppState,
    q: &str,
    limit: usize,
) -> anyhow::Result<Vec<crate::platform::nav::SearchHit>> {
    Ok(open_all(state)
        .await?
        .into_iter()
        .rev()
        .filter(|s| s.email.to_lowercase().contains(q) || s.name.to_lowercase().contains(q))
        .take(limit)
        .map(|s| crate::platform::nav::SearchHit {
            detail: if s.name.is_empty() {
                s.row.status.clone()
            } else {
                format!("{} · {}", s.name, s.row.status)
            },
            href: format!(
                "/admin/subscribers?q={}",
                url::form_urlencoded::byte_serialize(s.email.as_bytes()).collect::<String>()
            ),
            title: s.email,
        })
        .collect())
}
