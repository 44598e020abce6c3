//! The JSON API composed: each feature's `api::router()` under `/api/v1`,
//! the OpenAPI 3.1 document made from their handlers' types
//! (`/api/openapi.json`), and the page that renders it (`/api/docs`).

use super::AppState;
use crate::platform::{
    api::{ErrorBody, ValidationErrors, no_such_route},
    templates::{Page, render},
};
use crate::{error::AppResult, staff::tokens::Scope};
use axum::{
    Json, Router,
    response::{IntoResponse, Response},
    routing::{any, get},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(crate::support::api::router())
        .merge(crate::content::api::router())
        .merge(crate::analytics::api::router())
        .merge(crate::newsletter::api::router())
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(show_docs))
        .route("/api/{*rest}", any(no_such_route))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "officecomms API",
        description = "The helpdesk, articles, newsletter and traffic figures for programs. \
            Send a staff member's token as `Authorization: Bearer oc_…`; each route names the \
            scope it needs. Lists are paged with `?cursor=` and `next_cursor`.",
    ),
    // The refusals every route answers name these; utoipa collects only
    // the types a path names itself.
    components(schemas(ErrorBody, ValidationErrors)),
    modifiers(&BearerTokens)
)]
struct ApiDoc;

/// The bearer scheme, its scopes listed in its description.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("oc_ token")
            .description(Some(format!(
                "A token made at /admin/account, with some of the scopes {}.",
                scopes.join(", ")
            )))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The whole document: every feature's paths and the types they name.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::support::api::Doc::openapi());
    doc.merge(crate::content::api::Doc::openapi());
    doc.merge(crate::analytics::api::Doc::openapi());
    doc.merge(crate::newsletter::api::Doc::openapi());
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc
}

async fn openapi_json() -> Response {
    Json(openapi()).into_response()
}

#[derive(askama::Template)]
#[template(path = "api/docs.html")]
struct DocsPage {
    page: Page,
}

async fn show_docs(page: Page) -> AppResult<Response> {
    render(&DocsPage {
        page: page.titled("API reference"),
    })
}
