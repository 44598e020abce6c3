//! The JSON API's plumbing, shared by every feature's `api.rs`: its error
//! (always a JSON body, never the HTML error page), the JSON extractor
//! whose rejections are that error, and cursor pagination. The bearer
//! token that opens it lives with the staff accounts (`staff::tokens`).

use super::forms::FieldErrors;
use crate::error::AppError;
use axum::{
    extract::{FromRequest, FromRequestParts, Request, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde::{Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;

/// What went wrong with an API call, as the caller is told it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid API token is required")]
    Unauthorized,
    #[error("this token lacks the scope {0}")]
    MissingScope(&'static str),
    #[error("not found")]
    NotFound,
    /// Field name to message; answered 422 as `{"errors": {…}}`.
    #[error("invalid fields")]
    Invalid(BTreeMap<String, String>),
    #[error("{1}")]
    Status(StatusCode, String),
    /// Seconds until the token may call again.
    #[error("too many requests")]
    TooManyRequests(u64),
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// The body of every error but 422.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: `unauthorized`, `forbidden`, `not_found`,
    /// `bad_request`, `too_many_requests`, `unavailable`, `internal`.
    pub error: String,
    /// What a person reading the log should know.
    pub message: String,
}

/// The body of a 422: a message for each field that was not accepted.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ValidationErrors {
    pub errors: BTreeMap<String, String>,
}

impl ApiError {
    /// A 422 for one field.
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(BTreeMap::from([(field.to_string(), message.into())]))
    }

    /// Turns a feature's refusal of a request (400, 422) into a 422 on
    /// `field`; anything else as [`From<AppError>`] does.
    pub fn on_field(field: &'static str) -> impl Fn(AppError) -> ApiError {
        move |e| match e {
            AppError::BadRequest(m) | AppError::Unprocessable(m) => ApiError::field(field, m),
            other => other.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::MissingScope(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Status(s, _) => *s,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> ApiError {
        ApiError::Invalid(
            errors
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let status = e.status();
        match e {
            AppError::NotFound => ApiError::NotFound,
            AppError::Unauthorized => ApiError::Unauthorized,
            AppError::Unprocessable(m) => ApiError::field("request", m),
            AppError::BadRequest(m) | AppError::UnsupportedMediaType(m) => {
                ApiError::Status(status, m)
            }
            AppError::TooManyRequests => ApiError::TooManyRequests(60),
            AppError::Internal(e) => ApiError::Internal(e),
            AppError::Unavailable(e) => {
                tracing::warn!(error = ?e, "API call: database unavailable");
                ApiError::Status(
                    status,
                    "The database cannot be reached right now; nothing was saved. Try again shortly."
                        .into(),
                )
            }
            other => ApiError::Status(status, other.to_string()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        AppError::from(e).into()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        AppError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::TooManyRequests(secs) => Some(*secs),
            _ => None,
        };
        let code = match status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_server_error() => "internal",
            _ => "bad_request",
        };
        let message = match &self {
            ApiError::Unauthorized => {
                "Send a valid, unexpired API token: Authorization: Bearer oc_…".to_string()
            }
            ApiError::MissingScope(scope) => format!("This token lacks the scope {scope}."),
            ApiError::NotFound => "No such object, or this token may not see it.".into(),
            ApiError::Status(_, m) => m.clone(),
            ApiError::TooManyRequests(secs) => {
                format!("Too many calls with this token; try again in {secs} s.")
            }
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "API call failed");
                "Something went wrong on our side; nothing was half-saved. Try again.".into()
            }
            ApiError::Invalid(_) => String::new(),
        };
        let mut response = match self {
            ApiError::Invalid(errors) => {
                (status, axum::Json(ValidationErrors { errors })).into_response()
            }
            _ => (
                status,
                axum::Json(ErrorBody {
                    error: code.into(),
                    message,
                }),
            )
                .into_response(),
        };
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"api\""),
            );
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON request body; a body that is not JSON of the expected shape is
/// a 400 (not JSON), 415 (not declared JSON) or 422 (wrong fields), each
/// as a JSON error.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::field("body", e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::Status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the body as Content-Type: application/json.".into(),
            )),
            Err(e) => Err(ApiError::Status(e.status(), e.body_text())),
        }
    }
}

/// Query parameters; ones that do not parse are a 422 naming the problem.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map(Query)
            .map_err(|e| ApiError::field("query", e.to_string()))
    }
}

/// An object's id in the path: one that is not a number names nothing (404).
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<i64>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) => Ok(Id(id)),
            Err(_) => Err(ApiError::NotFound),
        }
    }
}

/// Any other path under `/api/`: a JSON 404, not the site's page.
pub async fn no_such_route() -> ApiError {
    ApiError::Status(
        StatusCode::NOT_FOUND,
        "No such API route; see /api/openapi.json.".into(),
    )
}

/// A position in a list, opaque to callers: the sort key and id of the
/// last item a page held.
pub fn cursor(key: i64, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{key}.{id}"))
}

/// Reads a `?cursor=`; a cursor this API did not give is a 422.
pub fn parse_cursor(given: Option<&str>) -> ApiResult<Option<(i64, i64)>> {
    let Some(given) = given.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(given)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (key, id) = s.split_once('.')?;
            Some((key.parse().ok()?, id.parse().ok()?))
        })
        .map(Some)
        .ok_or_else(|| ApiError::field("cursor", "Not a cursor this API gave; start without one."))
}

/// Page sizes: `?limit=` from 1 to 100, 50 when not given.
pub fn page_size(limit: Option<i64>) -> ApiResult<i64> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=100) => Ok(n),
        Some(_) => Err(ApiError::field("limit", "Ask for 1 to 100 items.")),
    }
}

/// The refusals any API route may answer, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
// Never built: the document reads the shapes; `ApiError` makes the answers.
#[allow(dead_code)]
pub enum Refusals {
    /// No valid, unexpired token (`WWW-Authenticate: Bearer`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The token lacks the scope this route needs, or its owner's role no
    /// longer allows it.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such object, or the token may not see it.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// A field was not accepted: `{"errors": {field: message}}`.
    #[response(status = 422)]
    Invalid(ValidationErrors),
    /// Too many calls with this token; `Retry-After` says when to try again.
    #[response(status = 429)]
    TooManyRequests(ErrorBody),
}

/// A moment (epoch ms) as RFC 3339 in UTC, as the API gives every time.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut response = axum::Json(self.0).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
