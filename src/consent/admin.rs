//! /admin/consent: the ledger checked end to end, and its newest records.

use super::ledger::{self, Record, Verification};
use crate::{
    AppState,
    error::AppResult,
    platform::templates::{Page, render},
    staff::{Admin, Staff},
};
use axum::{extract::State, response::Response};

#[derive(askama::Template)]
#[template(path = "consent/admin.html")]
struct LedgerPage {
    page: Page,
    intact: bool,
    /// Records checked (all of them when intact).
    checked: i64,
    head: String,
    broken_id: i64,
    reason: String,
    records: Vec<Record>,
    tag: Option<String>,
}

pub async fn show_ledger(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
) -> AppResult<Response> {
    let verification = ledger::verify(&state.db).await?;
    let records = ledger::recent(&state.db, 100).await?;
    let tag = page.site.third_party.as_ref().map(|t| t.name.clone());
    let (intact, checked, head, broken_id, reason) = match verification {
        Verification::Intact { records, head } => (true, records, head, 0, String::new()),
        Verification::Broken {
            id,
            reason,
            checked,
        } => (false, checked, String::new(), id, reason),
    };
    render(&LedgerPage {
        page: page.titled("Consent ledger"),
        intact,
        checked,
        head,
        broken_id,
        reason,
        records,
        tag,
    })
}
