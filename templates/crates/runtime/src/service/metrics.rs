//! Prometheus metrics: one recorder per process, request counters and latency histograms
//! labelled by method, matched route and status, rendered at `/metrics`.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the global recorder once and returns its handle. A process that cannot install it
/// (another recorder is already there) still gets a working, unregistered handle.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// A request counter and latency histogram of one label set.
#[derive(Clone)]
pub struct Series {
    pub requests: metrics::Counter,
    pub latency: metrics::Histogram,
}

/// Series by route, then by (method, status): built once per label set, so counting a request
/// allocates nothing (a metric key with labels costs allocations and a registry lookup).
/// The series of one route, by method and status.
type RouteSeries = Vec<(http::Method, u16, Series)>;

#[derive(Default)]
pub struct SeriesCache {
    by_route: RwLock<HashMap<String, RouteSeries>>,
}

impl SeriesCache {
    /// The series of (`route`, `method`, `status`), made with `make` the first time.
    pub fn get(
        &self,
        route: &str,
        method: &http::Method,
        status: u16,
        make: impl FnOnce() -> Series,
    ) -> Series {
        if let Ok(map) = self.by_route.read()
            && let Some(list) = map.get(route)
            && let Some((_, _, s)) = list.iter().find(|(m, st, _)| m == method && *st == status)
        {
            return s.clone();
        }
        let series = make();
        if let Ok(mut map) = self.by_route.write() {
            let list = map.entry(route.to_string()).or_default();
            if !list.iter().any(|(m, st, _)| m == method && *st == status) {
                list.push((method.clone(), status, series.clone()));
            }
        }
        series
    }
}

static HTTP_SERIES: OnceLock<SeriesCache> = OnceLock::new();

/// Middleware: counts requests and observes their latency.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    // `MatchedPath` is a shared string: cloning it allocates nothing.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let series = HTTP_SERIES
        .get_or_init(SeriesCache::default)
        .get(route, &method, status, || {
            let labels = [
                ("method", method.as_str().to_string()),
                ("route", route.to_string()),
                ("status", status.to_string()),
            ];
            Series {
                requests: metrics::counter!("http_requests_total", &labels),
                latency: metrics::histogram!("http_request_duration_seconds", &labels),
            }
        });
    series.requests.increment(1);
    series.latency.record(started.elapsed().as_secs_f64());
    response
}

/// The text exposition of every metric.
pub fn render() -> String {
    handle().render()
}
