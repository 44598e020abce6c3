//! Prometheus metrics: requests by route and status, latency, outbox depth.

use super::{context::ClientIp, memory::CacheMeter, state::Platform};
use crate::{config::Config, error::AppError};
use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, Method, header},
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use std::{
    net::IpAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    outbox_depth: Gauge,
    cache_bytes: Family<CacheLabels, Gauge>,
    cache_entries: Family<CacheLabels, Gauge>,
    cache_budget: Family<CacheLabels, Gauge>,
    cache_evictions: Family<CacheLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("officecomms");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        let outbox_depth = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "outbox_depth",
            "Mails waiting in the outbox",
            outbox_depth.clone(),
        );
        let cache_bytes = Family::<CacheLabels, Gauge>::default();
        let cache_entries = Family::<CacheLabels, Gauge>::default();
        let cache_budget = Family::<CacheLabels, Gauge>::default();
        let cache_evictions = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_bytes",
            "Bytes an in-process cache holds (estimated heap size of its entries)",
            cache_bytes.clone(),
        );
        registry.register(
            "cache_entries",
            "Entries an in-process cache holds",
            cache_entries.clone(),
        );
        registry.register(
            "cache_budget_bytes",
            "Most bytes an in-process cache may hold before it evicts",
            cache_budget.clone(),
        );
        registry.register(
            "cache_evictions",
            "Entries dropped to keep a cache within its budget",
            cache_evictions.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            outbox_depth,
            cache_bytes,
            cache_entries,
            cache_budget,
            cache_evictions,
        }
    }
}

/// A request being timed, counted under its route pattern (not its raw
/// path, so ids and slugs do not explode the label set). The site
/// middleware runs before routing, so the pattern comes back on the
/// response ([`RouteOnResponse`]).
pub struct RequestTimer {
    start: Instant,
    method: Method,
}

impl RequestTimer {
    pub fn start(request: &Request) -> RequestTimer {
        RequestTimer {
            start: Instant::now(),
            method: request.method().clone(),
        }
    }

    /// Records the request, and logs it at debug level.
    pub fn finish(self, metrics: &Metrics, response: &Response) {
        let elapsed = self.start.elapsed();
        let route = response
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |p| p.as_str());
        let status = response.status().as_u16();
        tracing::debug!(
            method = %self.method,
            route,
            status,
            ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
        metrics
            .latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
        metrics
            .requests
            .get_or_create(&RequestLabels {
                method: self.method.as_str().to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
    }
}

/// Puts the route pattern a request matched on its response, for
/// [`RequestTimer::finish`]; applied to every route.
#[derive(Clone, Copy)]
pub struct RouteOnResponseLayer;

impl<S> tower::Layer<S> for RouteOnResponseLayer {
    type Service = RouteOnResponse<S>;

    fn layer(&self, inner: S) -> RouteOnResponse<S> {
        RouteOnResponse(inner)
    }
}

#[derive(Clone)]
pub struct RouteOnResponse<S>(S);

impl<S, B> tower::Service<axum::http::Request<B>> for RouteOnResponse<S>
where
    S: tower::Service<axum::http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = WithRoute<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        WithRoute {
            route: request.extensions().get::<MatchedPath>().cloned(),
            inner: self.0.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct WithRoute<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for WithRoute<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(route) = this.route.take() {
            response.extensions_mut().insert(route);
        }
        Poll::Ready(Ok(response))
    }
}

/// The figures, from memory (a scrape never queries the database), for
/// loopback and trusted addresses, or anyone with the metrics token.
pub async fn show_metrics(
    State(state): State<Platform>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
) -> Response {
    if !may_scrape(&state.config, client, &headers) {
        return AppError::Forbidden.into_response();
    }
    let mut body = String::new();
    if encode(&mut body, &state.metrics.registry).is_err() {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Whether `client` may read the metrics: from this machine or a trusted
/// address, or with the configured bearer token (compared in constant time).
fn may_scrape(config: &Config, client: IpAddr, headers: &HeaderMap) -> bool {
    if client.is_loopback() || config.trust_proxy.contains(client) {
        return true;
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&config.metrics_token, given) {
        (Some(token), Some(given)) => {
            subtle::ConstantTimeEq::ct_eq(token.as_bytes(), given.as_bytes()).into()
        }
        _ => false,
    }
}

impl Metrics {
    /// The meter of the cache `name` (`cache="name"` in `/metrics`), with
    /// its budget in bytes.
    pub fn cache(&self, name: &'static str, budget: usize) -> CacheMeter {
        let labels = CacheLabels { cache: name };
        self.cache_budget
            .get_or_create(&labels)
            .set(i64::try_from(budget).unwrap_or(i64::MAX));
        CacheMeter::new(
            self.cache_bytes.get_or_create(&labels).clone(),
            self.cache_entries.get_or_create(&labels).clone(),
            self.cache_evictions.get_or_create(&labels).clone(),
            budget,
        )
    }

    /// Mails waiting, as the outbox worker last counted them.
    pub fn set_outbox_depth(&self, depth: i64) {
        self.outbox_depth.set(depth);
    }
}
