//! HTTP hardening the site middleware (`app::middleware::site`) applies to
//! every request: the CSRF check, rate limits, the client's address,
//! security headers, and the rendering of every error response as the
//! site's error page.

use super::{context::Privacy, state::Platform, templates::Page};
use crate::{
    config::TrustedProxies,
    error::{AppError, ErrorPage},
};
use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, FromRequest, Request},
    http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header, request::Parts},
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::{net::IpAddr, net::SocketAddr, num::NonZeroU32};

pub const CSRF_COOKIE: &str = "oc_csrf";
/// The same cookie under https: the `__Host-` prefix makes browsers refuse
/// it unless it is Secure, host-only and for the whole site, so a sibling
/// subdomain or a plain-HTTP answer cannot plant a token of its choosing.
pub const CSRF_COOKIE_HTTPS: &str = "__Host-oc_csrf";

pub fn csrf_cookie_name(https: bool) -> &'static str {
    if https {
        CSRF_COOKIE_HTTPS
    } else {
        CSRF_COOKIE
    }
}

/// The `Set-Cookie` value that gives a browser this CSRF token.
pub fn csrf_cookie(token: &str, https: bool) -> Option<HeaderValue> {
    // The token is URL-safe base64: nothing in it needs quoting.
    let secure = if https { "; Secure" } else { "" };
    let cookie = [
        csrf_cookie_name(https),
        "=",
        token,
        "; HttpOnly; SameSite=Lax; Path=/",
        secure,
    ]
    .concat();
    HeaderValue::from_str(&cookie).ok()
}
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Paths that mail clients POST to: RFC 8058 one-click unsubscribe. They
/// carry their own authentication (a signed token in the URL), arrive
/// without cookies, and come from mail providers' shared addresses, so
/// neither the CSRF check nor the per-address limit applies; refusing one
/// would keep mailing someone who asked us to stop.
const MAIL_CLIENT_PREFIXES: &[&str] = &["/unsubscribe/"];

pub fn from_mail_client(path: &str) -> bool {
    MAIL_CLIENT_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// The JSON API: bearer tokens only, never cookies, so no CSRF token is
/// checked or set there, and its limit is per token (`RateLimits::check_api`).
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// The visitor's CSRF token, rendered into every form.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

/// Per-network limits on what costs us (a stored submission, a chat, an
/// Argon2 hash) and per-account limits on sign-in. IPv6 clients are keyed
/// by their /64, which one subscriber usually holds whole; the state is
/// pruned by [`RateLimits::prune`] so memory does not grow with each new
/// address seen.
/// Codes a staff account may try per minute at its second step.
pub const SECOND_STEPS_PER_MINUTE: u32 = 5;

pub struct RateLimits {
    public_posts: DefaultKeyedRateLimiter<IpAddr>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
    chat_starts: DefaultKeyedRateLimiter<IpAddr>,
    /// Sign-in attempts per account (its lower-cased email), however many
    /// addresses they come from.
    account_logins: DefaultKeyedRateLimiter<String>,
    /// API calls per token (its id).
    api_calls: DefaultKeyedRateLimiter<i64>,
    /// Second-step codes per staff account (its id): a guessed six-digit
    /// code needs the password first, then goes five a minute.
    second_steps: DefaultKeyedRateLimiter<i64>,
    /// What they hold against their budget (`rate_limits` in `/metrics`).
    meter: super::memory::CacheMeter,
    /// Calls since the size was last looked at.
    checks: std::sync::atomic::AtomicU32,
}

/// What one remembered client costs a limiter: its key, its state (one
/// `u64`) and the concurrent map's slot.
const LIMIT_ENTRY_BYTES: usize = 16 + 8 + 40;
/// The size is looked at once per this many limited calls.
const SIZE_CHECK_EVERY: u32 = 64;

/// The key a client is limited by: an IPv4 address, or an IPv6 /64.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

impl RateLimits {
    pub fn new(
        public_posts_per_minute: u32,
        logins_per_minute: u32,
        api_per_minute: u32,
    ) -> RateLimits {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        RateLimits {
            public_posts: RateLimiter::keyed(quota(public_posts_per_minute)),
            logins: RateLimiter::keyed(quota(logins_per_minute)),
            chat_starts: RateLimiter::keyed(quota(public_posts_per_minute)),
            account_logins: RateLimiter::keyed(quota(logins_per_minute)),
            api_calls: RateLimiter::keyed(quota(api_per_minute)),
            second_steps: RateLimiter::keyed(quota(SECOND_STEPS_PER_MINUTE)),
            meter: super::memory::CacheMeter::detached(4 << 20),
            checks: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Reports to `meter` and keeps within its budget.
    pub fn metered(mut self, meter: super::memory::CacheMeter) -> RateLimits {
        self.meter = meter;
        self
    }

    /// Every few calls: what the limiters hold; over the budget, what has
    /// recovered is forgotten at once rather than at the minute's pruning.
    /// A client still within its window is never forgotten: that would
    /// lift its limit. (An address costs about 64 bytes: the default 4 MiB
    /// is some 65,000 clients within one minute.)
    fn watch_size(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if !self
            .checks
            .fetch_add(1, Relaxed)
            .is_multiple_of(SIZE_CHECK_EVERY)
        {
            return;
        }
        if self.report() > self.meter.budget() {
            let before = self.tracked();
            self.prune();
            self.meter.evicted(before.saturating_sub(self.tracked()));
        }
    }

    /// Puts what the limiters hold in `/metrics`; returns the bytes.
    pub fn report(&self) -> usize {
        let entries = self.tracked();
        let bytes = entries * LIMIT_ENTRY_BYTES;
        self.meter.set(bytes, entries);
        bytes
    }

    pub fn check(&self, method: &Method, path: &str, ip: IpAddr) -> Result<(), AppError> {
        if method != Method::POST {
            return Ok(());
        }
        let limiter = if path == "/admin/login" || path.starts_with("/admin/login/") {
            &self.logins
        } else if path.starts_with("/admin") || from_mail_client(path) || is_api(path) {
            return Ok(()); // signed-in staff; signed mail-client links; per-token API limit
        } else {
            &self.public_posts
        };
        self.watch_size();
        limiter
            .check_key(&network_of(ip))
            .map_err(|_| AppError::TooManyRequests)
    }

    /// A new chat conversation from this client (a WebSocket `hello` is
    /// not a POST, so the form limit does not see it).
    pub fn check_chat_start(&self, ip: IpAddr) -> Result<(), AppError> {
        self.watch_size();
        self.chat_starts
            .check_key(&network_of(ip))
            .map_err(|_| AppError::TooManyRequests)
    }

    /// A sign-in attempt for this account, before its password is hashed.
    pub fn check_account_login(&self, email: &str) -> Result<(), AppError> {
        self.watch_size();
        self.account_logins
            .check_key(&email.trim().to_lowercase())
            .map_err(|_| AppError::TooManyRequests)
    }

    /// An API call with this token: `Err(seconds to wait)` over its limit.
    pub fn check_api(&self, token_id: i64) -> Result<(), u64> {
        self.api_calls.check_key(&token_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// A second-step code (or a first code at enrolment) for this account.
    pub fn check_second_step(&self, user_id: i64) -> Result<(), AppError> {
        self.second_steps
            .check_key(&user_id)
            .map_err(|_| AppError::TooManyRequests)
    }

    /// Forgets clients whose limits have fully recovered.
    pub fn prune(&self) {
        self.public_posts.retain_recent();
        self.logins.retain_recent();
        self.chat_starts.retain_recent();
        self.account_logins.retain_recent();
        self.api_calls.retain_recent();
        self.api_calls.shrink_to_fit();
        self.second_steps.retain_recent();
        self.public_posts.shrink_to_fit();
        self.logins.shrink_to_fit();
        self.chat_starts.shrink_to_fit();
        self.account_logins.shrink_to_fit();
        self.second_steps.shrink_to_fit();
        self.report();
    }

    /// How many clients and accounts are remembered.
    pub fn tracked(&self) -> usize {
        self.public_posts.len()
            + self.logins.len()
            + self.chat_starts.len()
            + self.account_logins.len()
            + self.api_calls.len()
            + self.second_steps.len()
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

/// What an error page needs of the request, kept while the request moves
/// on; turned into request parts only when the answer is an error.
pub struct ErrorContext {
    method: Method,
    pub uri: Uri,
    accept: Option<HeaderValue>,
    connect_info: Option<ConnectInfo<SocketAddr>>,
    pub privacy: Privacy,
    pub csrf: CsrfToken,
}

impl ErrorContext {
    pub fn of(request: &Request, privacy: Privacy, csrf: CsrfToken) -> ErrorContext {
        ErrorContext {
            method: request.method().clone(),
            uri: request.uri().clone(),
            accept: request.headers().get(header::ACCEPT).cloned(),
            connect_info: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .copied(),
            privacy,
            csrf,
        }
    }

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
pub async fn check_csrf(
    request: Request,
    expected: &str,
    limit: usize,
) -> Result<Request, AppError> {
    let path = request.uri().path();
    if !is_state_changing(request.method()) || from_mail_client(path) || is_api(path) {
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
pub fn render_error_page(state: &Platform, context: ErrorContext, response: Response) -> Response {
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

pub fn security_headers(state: &Platform, response: &mut Response) {
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

    #[test]
    fn an_ipv6_network_shares_one_limit_and_ipv4_keeps_its_own() {
        assert_eq!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:2:ffff:eeee:dddd:cccc"))
        );
        assert_ne!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(network_of(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
        assert_ne!(
            network_of(ip("198.51.100.7")),
            network_of(ip("198.51.100.8"))
        );

        let limits = RateLimits::new(2, 2, 2);
        let post = |addr: &str| limits.check(&Method::POST, "/contact", ip(addr));
        assert!(post("2001:db8:1:2::1").is_ok());
        assert!(post("2001:db8:1:2::2").is_ok());
        assert!(
            post("2001:db8:1:2::3").is_err(),
            "a rotated address in the same /64 is limited"
        );
        assert!(post("2001:db8:1:9::1").is_ok(), "another network is not");
    }

    #[test]
    fn limiters_report_their_size_and_never_forget_a_client_within_its_window() {
        use crate::platform::memory::CacheMeter;
        let meter = CacheMeter::detached(1024);
        let limits = RateLimits::new(1, 1, 1).metered(meter.clone());
        let post = |n: u32| {
            let addr = std::net::Ipv4Addr::from(0x0a00_0000 + n);
            limits.check(&Method::POST, "/contact", IpAddr::V4(addr))
        };
        for n in 0..200 {
            assert!(post(n).is_ok(), "client {n}'s first post");
        }
        assert_eq!(limits.report(), 200 * LIMIT_ENTRY_BYTES);
        assert_eq!(
            (meter.entries(), meter.bytes()),
            (200, 200 * LIMIT_ENTRY_BYTES)
        );
        // Over its budget, but every client is still within its minute:
        // forgetting one would give it a fresh allowance.
        for n in 0..200 {
            assert!(post(n).is_err(), "client {n}'s second post in the minute");
        }
        assert_eq!(limits.tracked(), 200);
    }

    #[test]
    fn sign_in_is_limited_per_account_whatever_the_address() {
        let limits = RateLimits::new(10, 3, 3);
        for _ in 0..3 {
            assert!(limits.check_account_login("Dana@Example.com").is_ok());
        }
        assert!(limits.check_account_login(" dana@example.com ").is_err());
        assert!(limits.check_account_login("lee@example.com").is_ok());
    }

    #[test]
    fn pruning_forgets_clients_whose_limits_recovered() {
        let limits = RateLimits::new(600, 600, 600);
        for n in 0..200u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            limits.check(&Method::POST, "/contact", addr).unwrap();
            limits.check_chat_start(addr).unwrap();
        }
        assert_eq!(limits.tracked(), 400);
        // 600 a minute: one request's cell is back after 100 ms.
        std::thread::sleep(std::time::Duration::from_millis(250));
        limits.prune();
        assert_eq!(limits.tracked(), 0);
    }
}
