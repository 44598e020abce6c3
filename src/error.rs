//! The one error type of the web layer. Handlers return `AppError`; it turns
//! into a bare response carrying an [`ErrorPage`] extension, and
//! `platform::http::render_error_page`, called from the site middleware
//! (`app::middleware::site`), renders that as the site's error page (and
//! logs internal errors once), so the person never sees internal details.
//! [`AppError::Answered`] is the exception: a page already made, sent as it is.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// Not signed in: staff pages redirect to the login page.
    #[error("sign-in required")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid or missing form token")]
    Csrf,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// A link that expired or was already used.
    #[error("gone")]
    Gone,
    #[error("too many requests")]
    TooManyRequests,
    /// The database cannot be reached right now (restart, failover).
    #[error("service unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Internal(anyhow::Error),
    /// A complete answer made before the handler could finish (the age
    /// gate's kind refusal), so `?` can end a handler with it; sent as it
    /// is, not as the error page.
    #[error("answered early with {}", .0.status())]
    Answered(Box<Response>),
}

/// What the error page shows; the internal cause is kept for the log only.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    pub internal: Option<Arc<anyhow::Error>>,
}

impl ErrorPage {
    pub fn for_status(status: StatusCode) -> ErrorPage {
        let (title, message) = match status {
            StatusCode::NOT_FOUND => (
                "Page not found",
                "We could not find that page. It may have moved; try the home page or search.",
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "Not allowed",
                "That page does not accept this kind of request.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "Too large",
                "What you sent is larger than we accept. Please send something smaller.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("Unsupported format", "We cannot read that format.")
            }
            StatusCode::TOO_MANY_REQUESTS => (
                "Slow down",
                "Too many requests from your address in a short time. Please wait a minute and try again.",
            ),
            StatusCode::FORBIDDEN => ("Not allowed", "You do not have access to this page."),
            StatusCode::GONE => (
                "This link no longer works",
                "This link has expired or has already been used. You can ask for a new one on the my-data page.",
            ),
            StatusCode::REQUEST_TIMEOUT => ("Timed out", "That took too long. Please try again."),
            StatusCode::SERVICE_UNAVAILABLE => (
                "Back in a moment",
                "We cannot reach our database for a moment. Nothing was saved from this request; please try again in a few seconds.",
            ),
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => (
                "Something is not right",
                "We could not understand that request.",
            ),
            _ => (
                "Something went wrong",
                "Something went wrong on our side. Nothing you sent was lost; please try again in a moment.",
            ),
        };
        ErrorPage {
            status,
            title,
            message: message.to_string(),
            internal: None,
        }
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::Gone => StatusCode::GONE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Answered(response) => response.status(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Answered(response) = self {
            return *response;
        }
        let status = self.status();
        if matches!(self, AppError::Unauthorized) {
            return axum::response::Redirect::to("/admin/login").into_response();
        }
        let mut page = ErrorPage::for_status(status);
        match self {
            AppError::BadRequest(m)
            | AppError::Unprocessable(m)
            | AppError::UnsupportedMediaType(m) => page.message = m,
            AppError::Csrf => {
                page.title = "Form expired";
                page.message = "This form has expired or did not come from our site. Go back, reload the page and send it again.".into();
            }
            AppError::Internal(e) | AppError::Unavailable(e) => page.internal = Some(Arc::new(e)),
            _ => {}
        }
        let mut response = status.into_response();
        response.extensions_mut().insert(page);
        response
    }
}

/// The database is down, restarting or out of space, as opposed to a bug.
fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        // PostgreSQL: class 57 (shutdown, restart) and 53 (disk full, out of memory);
        // SQLite: 13 (SQLITE_FULL) and 5 (SQLITE_BUSY beyond the timeout).
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("57") || c.starts_with("53") || c == "13" || c == "5"),
        _ => false,
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        let unreachable = e
            .chain()
            .any(|c| c.downcast_ref::<sqlx::Error>().is_some_and(is_unreachable));
        if unreachable {
            AppError::Unavailable(e)
        } else {
            AppError::Internal(e)
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        anyhow::Error::new(e).context("database").into()
    }
}

pub type AppResult<T> = Result<T, AppError>;
