//! Privacy by construction: the data inventory, per-subject keys, the
//! per-request privacy context and the generated policy.

pub mod age;
pub mod context;
pub mod erasure;
pub mod inventory;
pub mod policy;
pub mod subjects;

pub use context::Privacy;

use inventory::{Category, Field, Retention, Table};

pub const TABLES: &[Table] = &[
    Table {
        name: "suppressions",
        feature: "unsubscribing and erasure",
        subject_column: None,
        created_column: None,
        retention: Retention::Suppression,
        personal: &[Field {
            column: "email_index",
            label: "a keyed hash of an address that must never be written to again",
            category: Category::Identity,
            purpose: "to keep the promise that an unsubscribe or erasure is final",
            encrypted: false,
            shared_with: &[],
        }],
        other: &["reason", "created_at"],
    },
    Table {
        name: "erasure_log",
        feature: "unsubscribing and erasure",
        subject_column: None,
        created_column: None,
        retention: Retention::Suppression,
        personal: &[],
        other: &["id", "subject_id", "erased_at", "requested_via"],
    },
];

use crate::{
    AppState,
    error::AppResult,
    platform::templates::{Page, render},
};
use axum::{Router, response::Response, routing::get};

pub fn router() -> Router<AppState> {
    Router::new().route("/privacy", get(show_policy))
}

#[derive(askama::Template)]
#[template(path = "privacy/policy.html")]
struct PolicyPage {
    page: Page,
    body: String,
    version: String,
}

async fn show_policy(page: Page) -> AppResult<Response> {
    let policy = policy::generate(&page.site);
    let body = crate::platform::templates::markdown_to_html(&policy.markdown);
    render(&PolicyPage {
        page: page.titled("Privacy policy"),
        body,
        version: policy.version,
    })
}
