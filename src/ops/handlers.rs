//! /admin/integrity: what the integrity scan found, and a button to scan now.

use super::{
    db::{self, FindingRow, ScanRow},
    integrity::{self, Rule},
};
use crate::{
    AppState,
    error::AppResult,
    platform::templates::{Page, render},
    staff::{
        Admin, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Query, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// A finding as the page shows it.
struct FindingView {
    kind: String,
    item_id: String,
    what: &'static str,
    detail: String,
    /// Epoch ms; the page shows them in the viewer's zone.
    first_seen: i64,
    last_seen: i64,
    resolved: Option<i64>,
}

impl From<FindingRow> for FindingView {
    fn from(row: FindingRow) -> FindingView {
        FindingView {
            what: Rule::parse(&row.rule).map_or("unknown", Rule::label),
            kind: row.kind,
            item_id: row.item_id,
            detail: row.detail,
            first_seen: row.first_seen_at,
            last_seen: row.last_seen_at,
            resolved: row.resolved_at,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "ops/integrity.html")]
struct IntegrityPage {
    page: Page,
    q: String,
    open: Vec<FindingView>,
    resolved: Vec<FindingView>,
    last_scan: Option<ScanRow>,
    blocklist: String,
}

pub async fn show_integrity(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Query(search): Query<Search>,
) -> AppResult<Response> {
    render(&IntegrityPage {
        page: page.titled("Integrity"),
        open: db::list_open(&state.db, &search.q)
            .await?
            .into_iter()
            .map(FindingView::from)
            .collect(),
        resolved: db::list_resolved(&state.db, 20)
            .await?
            .into_iter()
            .map(FindingView::from)
            .collect(),
        last_scan: db::last_scan(&state.db).await?,
        blocklist: state.config.scan_blocklist.join(", "),
        q: search.q,
    })
}

pub async fn start_scan(
    Staff(user, _): Staff<Admin>,
    State(state): State<AppState>,
) -> AppResult<Response> {
    let report = integrity::scan(&state, "admin").await?;
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "integrity_scan",
        "integrity_scan",
        report.scan_id,
        &format!("{} items, {} findings", report.items, report.findings.len()),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/integrity").into_response())
}
