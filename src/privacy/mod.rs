//! Privacy by construction: the data inventory, per-subject keys, the
//! per-request privacy context and the generated policy.

pub mod context;
pub mod inventory;
pub mod policy;
pub mod subjects;

pub use context::Privacy;

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
