//! The site middleware, the one of ours: it composes the platform's HTTP
//! hardening with what the features add to every request (the privacy
//! context they read, analytics counting, the cached-page answer, the
//! third-party tag's CSP). One layer rather than one per concern: each
//! `from_fn` layer clones and boxes everything inside it on every request.
//! It wraps the router rather than each route, so a cached page is
//! answered without routing (see [`answer`]).

use super::AppState;
use crate::{
    error::AppError,
    platform::{
        Privacy,
        http::{
            CsrfToken, ErrorContext, check_csrf, client_ip, csrf_cookie, csrf_cookie_name,
            forwarded_proto, is_api, render_error_page, security_headers,
        },
        metrics::RequestTimer,
        random_token,
    },
};
use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use futures_util::FutureExt;
use std::{panic::AssertUnwindSafe, time::Duration};

/// Privacy signals and the CSRF token first; then, timed and guarded
/// against panics as one, the rate limits, the CSRF check, metrics,
/// analytics, the cached answer or the router, and the tag's CSP; then
/// error pages and security headers for whatever came out.
pub async fn site(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let jar = CookieJar::from_headers(request.headers());
    let mut privacy = Privacy::from_headers(request.headers());
    privacy.child = crate::privacy::age::remembered_child(
        jar.get(crate::privacy::age::AGE_COOKIE).map(|c| c.value()),
        &state.keyring,
    );
    privacy.consent = crate::consent::Consent::from_headers(request.headers(), &state.keyring);
    let existing = jar
        .get(csrf_cookie_name(state.config.is_https()))
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 32);
    // The API takes no cookies, so it sets none either.
    let fresh_cookie = existing.is_none() && !is_api(request.uri().path());
    let csrf = existing.unwrap_or_else(|| random_token(32));
    let error_context = ErrorContext::of(&request, privacy.clone(), CsrfToken(csrf.clone()));
    request.extensions_mut().insert(privacy);
    request.extensions_mut().insert(CsrfToken(csrf.clone()));

    // A trusted proxy that took a plain-HTTP request for an https site:
    // send the browser to the https address before it sends anything else.
    if state.config.is_https()
        && forwarded_proto(
            request.headers(),
            request.extensions(),
            &state.config.trust_proxy,
        )
        .is_some_and(|p| p.eq_ignore_ascii_case("http"))
    {
        let mut target = state.config.base_url.clone();
        target.set_path(request.uri().path());
        target.set_query(request.uri().query());
        return (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, target.to_string())],
        )
            .into_response();
    }

    let timer = RequestTimer::start(&request);
    // Boxed: the request's future is moved several times on its way
    // through the layers, and copying it whole cost more than one allocation.
    let guarded =
        Box::pin(AssertUnwindSafe(guard(&state, request, next, &error_context)).catch_unwind());
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let response = match tokio::time::timeout(timeout, guarded).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => AppError::Internal(anyhow::anyhow!("a handler panicked")).into_response(),
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    };
    timer.finish(&state.metrics, &response);

    let mut response = render_error_page(&state, error_context, response);
    if fresh_cookie && let Some(v) = csrf_cookie(&csrf, state.config.is_https()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    security_headers(&state, &mut response);
    response
}

/// Everything that may wait on I/O or a handler: under the request
/// timeout and the panic guard.
async fn guard(state: &AppState, request: Request, next: Next, context: &ErrorContext) -> Response {
    let ip = client_ip(
        request.headers(),
        request.extensions(),
        &state.config.trust_proxy,
    );
    if let Err(e) = state
        .rate_limits
        .check(request.method(), request.uri().path(), ip)
    {
        return e.into_response();
    }
    let request = match check_csrf(request, &context.csrf.0, state.config.body_limit).await {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let privacy = &context.privacy;
    let token = &context.csrf.0;
    let mut response = crate::analytics::count(state, request, |request| {
        answer(state, request, next, privacy, token)
    })
    .await;
    crate::consent::tags::widen_csp(state, privacy, context.uri.path(), &mut response);
    response
}

/// A page rendered for everyone is answered from the cache, before routing
/// (`content::answer_shared`); anything else goes on to the router.
async fn answer(
    state: &AppState,
    request: Request,
    next: Next,
    privacy: &Privacy,
    token: &str,
) -> Response {
    let (parts, body) = request.into_parts();
    match crate::content::answer_shared(state, &parts, privacy, token).await {
        Some(page) => page,
        None => {
            let response = next.run(Request::from_parts(parts, body)).await;
            // Whatever the handler committed is on disk before anyone is
            // told it was received (one flush shared by concurrent answers).
            match state.db.synced().await {
                Ok(()) => response,
                Err(e) => AppError::Internal(e).into_response(),
            }
        }
    }
}
