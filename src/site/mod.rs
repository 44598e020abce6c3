//! The site shell: home page, health check, crawler files.

use crate::{
    AppState,
    error::AppResult,
    platform::templates::{Page, render},
};
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(show_home))
        .route("/healthz", get(check_health))
}

#[derive(askama::Template)]
#[template(path = "site/home.html")]
struct HomePage {
    page: Page,
}

async fn show_home(page: Page) -> AppResult<Response> {
    render(&HomePage { page })
}

/// 200 when the database answers, 503 otherwise.
async fn check_health(State(state): State<AppState>) -> Response {
    match sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(&state.db.pool)
        .await
    {
        Ok(_) => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"ok","database":"ok"}"#,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"status":"error","database":"unreachable"}"#,
            )
                .into_response()
        }
    }
}

/// The demo company, officecomms.com, for a first start.
pub async fn seed_demo(db: &crate::platform::db::Db) -> anyhow::Result<()> {
    let demo = crate::platform::settings::SiteSettings::demo();
    let mut tx = db.begin().await?;
    for (key, _) in crate::platform::settings::FIELDS {
        crate::platform::settings::put(&mut tx, key, demo.get(key)).await?;
    }
    tx.commit().await?;
    Ok(())
}
