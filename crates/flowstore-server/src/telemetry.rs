//! Request metrics (through the `metrics` facade) and request logs (through `tracing`).
//!
//! Logs and metric labels name the route template (`/states/{key}`), never the
//! key, the value or a token.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter: requests, labelled `method`, `route`, `status`.
pub const REQUESTS_TOTAL: &str = "flowstore_http_requests_total";
/// Histogram (seconds): request latency, labelled `method`, `route`.
pub const REQUEST_DURATION: &str = "flowstore_http_request_duration_seconds";

const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The process-wide Prometheus handle, installed as the global `metrics` recorder
/// by the first caller; `None` when another recorder was installed first.
pub(crate) fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_string()), &BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot install the Prometheus recorder; /metrics is off");
                    None
                }
            }
        })
        .clone()
}

const METHODS: [&str; 8] = [
    "GET", "PUT", "DELETE", "POST", "HEAD", "OPTIONS", "PATCH", "other",
];
/// Indexed by [`route_label`]: a new route goes at the end, with its own
/// index there (the order is the labels', never the router's).
const ROUTES: [&str; 15] = [
    "/states/{key}",
    "/states",
    "/healthz",
    "/metrics",
    "/openapi.yaml",
    "other",
    "/batch/get",
    "/batch/set",
    "/batch/delete",
    "/delete-prefix",
    "/admin/acknowledge-data-loss",
    "/console",
    "/flows/{flowId}/summary",
    "/flows/{flowId}/instances",
    "/flows",
];
const STATUSES: [&str; 17] = [
    "200", "204", "400", "401", "404", "405", "412", "413", "500", "501", "503", "504", "1xx",
    "2xx", "3xx", "4xx", "5xx",
];

/// A request's method, as an index into the label table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MethodLabel(usize);

/// A request's route template, as an index into the label table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RouteLabel(usize);

impl RouteLabel {
    fn as_str(self) -> &'static str {
        ROUTES[self.0]
    }
}

impl MethodLabel {
    fn as_str(self) -> &'static str {
        METHODS[self.0]
    }
}

pub(crate) fn method_label(method: &Method) -> MethodLabel {
    MethodLabel(match *method {
        Method::GET => 0,
        Method::PUT => 1,
        Method::DELETE => 2,
        Method::POST => 3,
        Method::HEAD => 4,
        Method::OPTIONS => 5,
        Method::PATCH => 6,
        _ => 7,
    })
}

/// The route template of a path, with bounded cardinality.
pub(crate) fn route_label(path: &str) -> RouteLabel {
    RouteLabel(match path {
        "/states" => 1,
        "/healthz" => 2,
        "/metrics" => 3,
        "/openapi.yaml" => 4,
        "/batch/get" => 6,
        "/batch/set" => 7,
        "/batch/delete" => 8,
        "/delete-prefix" => 9,
        "/admin/acknowledge-data-loss" => 10,
        "/flows" => 14,
        _ if path.starts_with("/states/") => 0,
        _ if path == "/console" || path.starts_with("/console/") => 11,
        _ if path.starts_with("/flows/") && path.ends_with("/summary") => 12,
        _ if path.starts_with("/flows/") && path.ends_with("/instances") => 13,
        _ => 5,
    })
}

/// The common statuses exactly, the rest by class.
#[allow(clippy::match_overlapping_arm)]
fn status_index(status: StatusCode) -> usize {
    match status.as_u16() {
        200 => 0,
        204 => 1,
        400 => 2,
        401 => 3,
        404 => 4,
        405 => 5,
        412 => 6,
        413 => 7,
        500 => 8,
        501 => 9,
        503 => 10,
        504 => 11,
        100..=199 => 12,
        200..=299 => 13,
        300..=399 => 14,
        400..=499 => 15,
        _ => 16,
    }
}

/// Metric handles, registered once per label combination and then reused, so a
/// request costs two atomic updates instead of two registry look-ups.
struct Handles {
    counters: Vec<OnceLock<Counter>>,
    histograms: Vec<OnceLock<Histogram>>,
}

fn handles() -> &'static Handles {
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    HANDLES.get_or_init(|| Handles {
        counters: (0..METHODS.len() * ROUTES.len() * STATUSES.len())
            .map(|_| OnceLock::new())
            .collect(),
        histograms: (0..METHODS.len() * ROUTES.len())
            .map(|_| OnceLock::new())
            .collect(),
    })
}

/// Counts and times one request, and logs it: at `debug` normally, at `warn` for
/// a 5xx answer (a single line per request would dominate the cost of a fast
/// store at `info`). Fields: method, route, status, latency in microseconds.
pub(crate) fn record(
    method: MethodLabel,
    route: RouteLabel,
    status: StatusCode,
    elapsed: Duration,
) {
    let handles = handles();
    let status_at = status_index(status);
    let pair = method.0 * ROUTES.len() + route.0;
    let (method, route) = (method.as_str(), route.as_str());
    handles.counters[pair * STATUSES.len() + status_at]
        .get_or_init(|| {
            metrics::counter!(REQUESTS_TOTAL, "method" => method, "route" => route, "status" => STATUSES[status_at])
        })
        .increment(1);
    handles.histograms[pair]
        .get_or_init(|| metrics::histogram!(REQUEST_DURATION, "method" => method, "route" => route))
        .record(elapsed.as_secs_f64());
    let latency_us = elapsed.as_micros() as u64;
    if status.is_server_error() {
        tracing::warn!(target: "flowstore_server::access", method, route, status = status.as_u16(), latency_us, "request");
    } else {
        tracing::debug!(target: "flowstore_server::access", method, route, status = status.as_u16(), latency_us, "request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route is counted under its own label.
    #[test]
    fn route_labels_match_their_routes() {
        assert_eq!(route_label("/console/console.js").as_str(), "/console");
        assert_eq!(
            route_label("/flows/a/summary").as_str(),
            "/flows/{flowId}/summary"
        );
        assert_eq!(
            route_label("/flows/a/instances").as_str(),
            "/flows/{flowId}/instances"
        );
        assert_eq!(route_label("/flows/").as_str(), "other");
        for (index, route) in ROUTES.iter().enumerate() {
            if route.contains('{') || *route == "other" {
                continue;
            }
            assert_eq!(route_label(route), RouteLabel(index), "{route}");
        }
    }
}
