//! Prometheus metrics: requests by route and status, latency, outbox depth.

use crate::AppState;
use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
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
        Metrics {
            registry,
            requests,
            latency,
            outbox_depth,
        }
    }
}

/// A request being timed, counted under its route pattern (not its raw
/// path, so ids and slugs do not explode the label set).
pub struct RequestTimer {
    start: Instant,
    method: String,
    route: String,
}

impl RequestTimer {
    pub fn start(request: &Request) -> RequestTimer {
        RequestTimer {
            start: Instant::now(),
            method: request.method().as_str().to_owned(),
            route: request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", |p| p.as_str())
                .to_owned(),
        }
    }

    /// Records the request, and logs it at debug level.
    pub fn finish(self, metrics: &Metrics, response: &Response) {
        let elapsed = self.start.elapsed();
        tracing::debug!(
            method = %self.method,
            route = %self.route,
            status = response.status().as_u16(),
            ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
        metrics
            .latency
            .get_or_create(&RouteLabels {
                route: self.route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        metrics
            .requests
            .get_or_create(&RequestLabels {
                method: self.method,
                route: self.route,
                status: response.status().as_u16(),
            })
            .inc();
    }
}

pub async fn show_metrics(State(state): State<AppState>) -> Response {
    if let Ok(depth) = crate::platform::mail::depth(&state.db).await {
        state.metrics.outbox_depth.set(depth);
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
