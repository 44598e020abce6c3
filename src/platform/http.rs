//! HTTP hardening applied once, to every route: privacy signals, the CSRF
//! token, rate limits, security headers, and the rendering of every error
//! response as the site's error page.

use crate::{
    AppState,
    config::TrustedProxies,
    error::{AppError, ErrorPage},
    platform::{metrics::RequestTimer, random_token, templates::Page},
    privacy::Privacy,
};
use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, FromRequest, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::{net::IpAddr, net::SocketAddr, num::NonZeroU32};

pub const CSRF_COOKIE: &str = "oc_csrf";
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Paths that mail clients POST to: RFC 8058 one-click unsubscribe. They
/// carry their own authentication (a signed token in the URL), arrive
/// without cookies, and come from mail providers' shared addresses, so
/// neither the CSRF check nor the per-address limit applies; refusing one
/// would keep mailing someone who asked us to stop.
const MAIL_CLIENT_PREFIXES: &[&str] = &["/unsubscribe/"];

fn from_mail_client(path: &str) -> bool {
    MAIL_CLIENT_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// The visitor's CSRF token, rendered into every form.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

pub struct RateLimits {
    public_posts: DefaultKeyedRateLimiter<IpAddr>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimits {
    pub fn new(public_posts_per_minute: u32, logins_per_minute: u32) -> RateLimits {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        RateLimits {
            public_posts: RateLimiter::keyed(quota(public_posts_per_minute)),
            logins: RateLimiter::keyed(quota(logins_per_minute)),
        }
    }

    fn check(&self, method: &Method, path: &str, ip: IpAddr) -> Result<(), AppError> {
        if method != Method::POST {
            return Ok(());
        }
        let limiter = if path == "/admin/login" {
            &self.logins
        } else if path.starts_with("/admin") || from_mail_client(path) {
            return Ok(()); // signed-in staff; signed mail-client links
        } else {
            &self.public_posts
        };
        limiter
            .check_key(&ip)
            .map_err(|_| AppError::TooManyRequests)
    }
}

/// The client's address: the socket peer or, when the peer is a trusted
/// proxy, the nearest address in `X-Forwarded-For` that is not one of our
/// proxies (addresses further left are the client's own claim, so forgeable).
pub fn client_ip(
    parts_headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !trusted.contains(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = parts_headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|v| v.trim().parse().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !trusted.contains(**ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

/// The scheme the client used, as told by a trusted proxy's
/// `X-Forwarded-Proto`; `None` from anyone else.
pub fn forwarded_proto<'h>(
    headers: &'h axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
    trusted: &TrustedProxies,
) -> Option<&'h str> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    if !trusted.contains(peer) {
        return None;
    }
    headers
        .get("x-forwarded-proto")?
        .to_str()
        .ok()?
        .split(',')
        .next()
        .map(str::trim)
}

/// The site middleware, the one of ours: privacy signals, CSRF, rate
/// limits, then metrics, analytics and the third-party tag's CSP around the
/// request, then error pages and security headers. One layer rather than
/// one per concern: each `from_fn` layer clones and boxes everything inside
/// it on every request. It wraps the router rather than each route, so a
/// cached page is answered without routing (see [`answer`]).
pub async fn site(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let jar = CookieJar::from_headers(request.headers());
    let mut privacy = Privacy::from_headers(request.headers());
    privacy.child = crate::privacy::age::remembered_child(
        jar.get(crate::privacy::age::AGE_COOKIE).map(|c| c.value()),
        &state.keyring,
    );
    privacy.consent = crate::consent::Consent::from_headers(request.headers(), &state.keyring);
    let existing = jar
        .get(CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 32);
    let fresh_cookie = existing.is_none();
    let csrf = existing.unwrap_or_else(|| random_token(32));
    let error_context = ErrorContext {
        method: request.method().clone(),
        uri: request.uri().clone(),
        accept: request.headers().get(header::ACCEPT).cloned(),
        connect_info: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .copied(),
        privacy: privacy.clone(),
        csrf: CsrfToken(csrf.clone()),
    };
    request.extensions_mut().insert(privacy);
    request.extensions_mut().insert(CsrfToken(csrf.clone()));

    let ip = client_ip(
        request.headers(),
        request.extensions(),
        &state.config.trust_proxy,
    );
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
    let response = match state
        .rate_limits
        .check(request.method(), request.uri().path(), ip)
    {
        Err(e) => e.into_response(),
        Ok(()) => match check_csrf(request, &csrf, state.config.body_limit).await {
            Ok(request) => {
                let timer = RequestTimer::start(&request);
                let privacy = &error_context.privacy;
                let token = &error_context.csrf.0;
                let mut response = crate::analytics::count(&state, request, |request| {
                    answer(&state, request, next, privacy, token)
                })
                .await;
                crate::consent::tags::widen_csp(&state, &error_context.privacy, &mut response);
                timer.finish(&state.metrics, &response);
                response
            }
            Err(e) => e.into_response(),
        },
    };

    let mut response = render_error_page(&state, error_context, response);
    if fresh_cookie {
        // The token is URL-safe base64: nothing in it needs quoting.
        let secure = if state.config.is_https() {
            "; Secure"
        } else {
            ""
        };
        let cookie = [
            CSRF_COOKIE,
            "=",
            &csrf,
            "; HttpOnly; SameSite=Lax; Path=/",
            secure,
        ]
        .concat();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    security_headers(&state, &mut response);
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
        None => next.run(Request::from_parts(parts, body)).await,
    }
}

/// What an error page needs of the request, kept while the request moves
/// on; turned into request parts only when the answer is an error.
struct ErrorContext {
    method: Method,
    uri: Uri,
    accept: Option<HeaderValue>,
    connect_info: Option<ConnectInfo<SocketAddr>>,
    privacy: Privacy,
    csrf: CsrfToken,
}

impl ErrorContext {
    fn into_parts(self) -> Parts {
        let mut builder = Request::builder().method(self.method).uri(self.uri);
        if let (Some(h), Some(accept)) = (builder.headers_mut(), self.accept) {
            h.insert(header::ACCEPT, accept);
        }
        let (mut parts, _) = builder.body(()).expect("valid request parts").into_parts();
        parts.extensions.insert(self.privacy);
        parts.extensions.insert(self.csrf);
        if let Some(connect_info) = self.connect_info {
            parts.extensions.insert(connect_info);
        }
        parts
    }
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Checks the CSRF token of a state-changing request (header, urlencoded
/// field or multipart field) against the cookie; the body is buffered and
/// handed on unchanged.
async fn check_csrf(request: Request, expected: &str, limit: usize) -> Result<Request, AppError> {
    let path = request.uri().path();
    if !is_state_changing(request.method()) || from_mail_client(path) {
        return Ok(request);
    }
    let matches =
        |given: &str| subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into();
    if let Some(given) = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return if matches(given) {
            Ok(request)
        } else {
            Err(AppError::Csrf)
        };
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| AppError::PayloadTooLarge)?;
    let given = if content_type.starts_with("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned())
    } else if content_type.starts_with("multipart/form-data") {
        multipart_field(&parts, bytes.clone(), CSRF_FIELD).await
    } else {
        None
    };
    match given {
        Some(given) if matches(&given) => Ok(Request::from_parts(parts, Body::from(bytes))),
        _ => Err(AppError::Csrf),
    }
}

async fn multipart_field(parts: &Parts, bytes: Bytes, name: &str) -> Option<String> {
    let mut copy = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    copy.headers_mut()?.extend(parts.headers.clone());
    let copy = copy.body(Body::from(bytes)).ok()?;
    // The body is already within the site's limit; without this, the
    // extractor's own 2 MB default refuses larger uploads as a bad token.
    let extract = tower::service_fn(|req: Request| async move {
        Ok::<_, std::convert::Infallible>(axum::extract::Multipart::from_request(req, &()).await)
    });
    let mut multipart = tower::ServiceExt::oneshot(
        tower::Layer::layer(&axum::extract::DefaultBodyLimit::disable(), extract),
        copy,
    )
    .await
    .ok()?
    .ok()?;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// Turns any error response (ours, axum's rejections, 404, 405, 413, 408…)
/// into the site's error page, logging internal errors once.
fn render_error_page(state: &AppState, context: ErrorContext, response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let parts = &context.into_parts();
    let page = match response.extensions().get::<ErrorPage>() {
        Some(page) => page.clone(),
        None => {
            let is_html = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
            let is_json = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            if is_html || is_json {
                return response;
            }
            ErrorPage::for_status(status)
        }
    };
    if let Some(internal) = &page.internal {
        tracing::error!(error = ?internal, path = %super::paths::redact_tokens(parts.uri.path()), "request failed");
    }
    let template = ErrorTemplate {
        page: Page::new(state, parts).titled(page.title),
        status: status.as_u16(),
        message: page.message.clone(),
    };
    let body = askama::Template::render(&template).unwrap_or_else(|_| page.message.clone());
    let mut out = (status, axum::response::Html(body)).into_response();
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(v) = response.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        out.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    out
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorTemplate {
    page: Page,
    status: u16,
    message: String,
}

/// The headers every response carries unless a handler set its own; made
/// once, since checking a header value costs a pass over its bytes.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 6] = [
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; \
             form-action 'self'; frame-ancestors 'none'",
        ),
    ),
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), \
             interest-cohort=(), browsing-topics=()",
        ),
    ),
];

const HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000; includeSubDomains");

fn security_headers(state: &AppState, response: &mut Response) {
    let h = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.entry(name).or_insert(value);
    }
    if state.config.is_https() {
        h.entry(header::STRICT_TRANSPORT_SECURITY).or_insert(HSTS);
    }
}

/// tower-http's compression for a request that accepts an encoding; one
/// that names none (scripts, load testers, some proxies) is answered as it
/// is, with the `Vary` a compressed answer carries, and without the
/// compressing wrapper's per-request cost (a large body type moved through
/// every layer, and its checks).
#[derive(Clone, Copy)]
pub struct CompressWhenAskedLayer;

impl<S: Clone> tower::Layer<S> for CompressWhenAskedLayer {
    type Service = CompressWhenAsked<S>;

    fn layer(&self, inner: S) -> CompressWhenAsked<S> {
        CompressWhenAsked {
            compressing: tower_http::compression::Compression::new(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub struct CompressWhenAsked<S> {
    plain: S,
    compressing: tower_http::compression::Compression<S>,
}

impl<S> tower::Service<Request> for CompressWhenAsked<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Negotiated<
        S::Future,
        <tower_http::compression::Compression<S> as tower::Service<Request>>::Future,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        std::task::ready!(self.plain.poll_ready(cx))?;
        self.compressing.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.headers().contains_key(header::ACCEPT_ENCODING) {
            Negotiated::Compressed {
                inner: self.compressing.call(request),
            }
        } else {
            Negotiated::Plain {
                inner: self.plain.call(request),
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = NegotiatedProj]
    pub enum Negotiated<P, C> {
        Plain { #[pin] inner: P },
        Compressed { #[pin] inner: C },
    }
}

impl<P, C, B, E> Future for Negotiated<P, C>
where
    P: Future<Output = Result<Response, E>>,
    C: Future<Output = Result<axum::http::Response<B>, E>>,
    axum::http::Response<B>: IntoResponse,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::{Poll, ready};
        match self.project() {
            NegotiatedProj::Plain { inner } => {
                let mut response = ready!(inner.poll(cx))?;
                response
                    .headers_mut()
                    .append(header::VARY, HeaderValue::from_static("accept-encoding"));
                Poll::Ready(Ok(response))
            }
            NegotiatedProj::Compressed { inner } => {
                Poll::Ready(ready!(inner.poll(cx)).map(IntoResponse::into_response))
            }
        }
    }
}

/// Fallback for unknown routes.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Extensions, HeaderMap};

    fn from(peer: &str, xff: &[&str]) -> (HeaderMap, Extensions) {
        let mut headers = HeaderMap::new();
        for v in xff {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        let mut ext = Extensions::new();
        ext.insert(ConnectInfo::<SocketAddr>(
            format!("{peer}:4000").parse().unwrap(),
        ));
        (headers, ext)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        let (h, e) = from("203.0.113.9", &["198.51.100.1"]);
        assert_eq!(client_ip(&h, &e, &proxies), ip("203.0.113.9"));
        let (h, e) = from("127.0.0.1", &["198.51.100.1"]);
        assert_eq!(client_ip(&h, &e, &proxies), ip("198.51.100.1"));
        assert_eq!(
            client_ip(&h, &e, &TrustedProxies::default()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_forged_leftmost_address_does_not_win_over_the_nearest_untrusted_hop() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        // The client sent "1.2.3.4" itself; our proxies appended the rest.
        let (h, e) = from("127.0.0.1", &["1.2.3.4, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(client_ip(&h, &e, &proxies), ip("198.51.100.7"));
        let (h, e) = from("127.0.0.1", &["10.0.0.6, 10.0.0.5"]);
        assert_eq!(client_ip(&h, &e, &proxies), ip("10.0.0.6"));
        let (h, e) = from("127.0.0.1", &["not-an-ip"]);
        assert_eq!(client_ip(&h, &e, &proxies), ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_proto_is_ignored_from_strangers() {
        let proxies = TrustedProxies::loopback();
        let (mut h, e) = from("127.0.0.1", &[]);
        h.insert("x-forwarded-proto", "http".parse().unwrap());
        assert_eq!(forwarded_proto(&h, &e, &proxies), Some("http"));
        let (_, stranger) = from("203.0.113.9", &[]);
        assert_eq!(forwarded_proto(&h, &stranger, &proxies), None);
    }
}
