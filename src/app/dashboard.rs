//! The back office's first page: figures from several features, so it is
//! composed here, above them.

use super::AppState;
use crate::{
    error::AppResult,
    platform::{
        mail,
        templates::{Page, render},
    },
    staff::{self, Staff},
};
use axum::{extract::State, response::Response};

#[derive(askama::Template)]
#[template(path = "app/dashboard.html")]
struct DashboardPage {
    page: Page,
    outbox_depth: i64,
    staff_count: i64,
    recent: Vec<staff::db::AuditEntry>,
    integrity_findings: i64,
    csat: crate::support::csat::CsatSummary,
}

pub async fn show_dashboard(
    _: Staff,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    render(&DashboardPage {
        page: page.titled("Dashboard"),
        outbox_depth: mail::depth(&state.db).await?,
        staff_count: staff::db::count_users(&state.db).await?,
        recent: staff::db::list_audit(&state.db, "", 10).await?,
        integrity_findings: crate::ops::open_findings(&state).await?,
        csat: crate::support::csat::summary(&state).await?,
    })
}
