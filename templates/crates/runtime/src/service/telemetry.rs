//! Structured logging and per-request trace ids.
//!
//! Logs are one JSON object per line on stdout. Every request runs in a span carrying its
//! `trace_id`: taken from an incoming W3C `traceparent` header when present, otherwise new. The
//! id is echoed in the `x-trace-id` response header so a client can quote it. The request's (or
//! the consumed event's) `traceparent` is the task's current trace context
//! ([`current_traceparent`]), which calls and published events carry on.
//!
//! With the feature `otlp` ([`crate::service::otel`]) the spans are exported too: the request
//! span is a child of the caller's (`traceparent`), and what the process sends on names its own
//! current span as the parent, so one trace holds every hop.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, reload};

/// Reloads the installed log filter, while the settings decide the level (not `RUST_LOG`).
type Reload = Box<dyn Fn(&str) -> bool + Send + Sync>;
static LEVEL: std::sync::OnceLock<Reload> = std::sync::OnceLock::new();

/// The exporting providers, flushed by [`shutdown`].
#[cfg(feature = "otlp")]
static EXPORT: std::sync::OnceLock<crate::service::otel::Export> = std::sync::OnceLock::new();

/// Installs the JSON subscriber for process `service`, and with the feature `otlp` the span
/// and log export its settings name ([`crate::service::otel::endpoint`]); call it inside the
/// Tokio runtime. Returns whether this call installed it.
pub fn init_process(settings: &crate::service::config::Settings, service: &str) -> bool {
    #[cfg(feature = "otlp")]
    if let Some(endpoint) = crate::service::otel::endpoint(settings) {
        match crate::service::otel::export(service, &endpoint) {
            Ok(export) => {
                let installed = init_exporting(&settings.log_level, &export, service);
                if installed {
                    let _ = EXPORT.set(export);
                    tracing::info!(%endpoint, "spans and logs exported over OTLP");
                }
                return installed;
            }
            Err(e) => eprintln!("OTLP export off: {e}"),
        }
    }
    let _ = service;
    init(&settings.log_level)
}

/// Sends the spans and logs still queued (at most a few seconds): call it when the process
/// ends.
pub fn shutdown() {
    #[cfg(feature = "otlp")]
    if let Some(export) = EXPORT.get() {
        export.flush();
    }
}

/// The log filter: `RUST_LOG` when set (then it decides), else `level`.
fn log_filter(level: &str) -> (EnvFilter, bool) {
    match EnvFilter::try_from_default_env() {
        Ok(f) => (f, true),
        Err(_) => (EnvFilter::new(level), false),
    }
}

fn json_logs<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
}

/// Installs the JSON subscriber. `level` is an `EnvFilter` directive (`info`, `orders=debug`);
/// `RUST_LOG` wins when set. Calling it twice is harmless. Returns whether this call installed
/// it.
pub fn init(level: &str) -> bool {
    let (filter, env_decides) = log_filter(level);
    let (filter, handle) = reload::Layer::new(filter);
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(json_logs())
        .try_init()
        .is_ok();
    if installed && !env_decides {
        let _ = LEVEL.set(Box::new(move |l| handle.reload(EnvFilter::new(l)).is_ok()));
    }
    installed
}

/// [`init`] with spans and logs exported. Spans at `info` or above are exported whatever the
/// log level; the log lines exported are those written to stdout (the log level decides). A
/// span carries only its `warn` and `error` events (an error marks the span failed): the
/// lines themselves travel as log records with their trace and span.
#[cfg(feature = "otlp")]
fn init_exporting(level: &str, export: &crate::service::otel::Export, service: &str) -> bool {
    use tracing_subscriber::Layer;
    // The stdout log and the exported log lines each filtered by the log level, both reloaded
    // when it changes.
    let (printed, env_decides) = log_filter(level);
    let (exported, _) = log_filter(level);
    let (printed, print_handle) = reload::Layer::new(printed);
    let (exported, export_handle) = reload::Layer::new(exported);
    // Dynamic (asked at every span and event, never cached per callsite): when every filter
    // caches `always` for a callsite, tracing-subscriber skips asking and reuses the answers
    // left by the last dynamic check (sqlx checks after every query), and the next request
    // span went unexported and unlogged (tokio-rs/tracing#2519).
    let spans_and_failures = tracing_subscriber::filter::dynamic_filter_fn(|m, _| {
        let most = if m.is_span() {
            tracing::Level::INFO
        } else {
            tracing::Level::WARN
        };
        *m.level() <= most
    });
    let installed = tracing_subscriber::registry()
        .with(crate::service::otel::layer(&export.traces, service).with_filter(spans_and_failures))
        .with(json_logs().with_filter(printed))
        .with(crate::service::otel::log_layer(&export.logs).with_filter(exported))
        .try_init()
        .is_ok();
    if installed && !env_decides {
        let _ = LEVEL.set(Box::new(move |l| {
            print_handle.reload(EnvFilter::new(l)).is_ok()
                && export_handle.reload(EnvFilter::new(l)).is_ok()
        }));
    }
    installed
}

/// Changes the log level of a running process (the config server's `log-level`). Returns
/// `false` when `RUST_LOG` decides or no subscriber was installed by [`init`].
pub fn set_level(level: &str) -> bool {
    LEVEL.get().is_some_and(|reload| reload(level))
}

/// The trace id of a `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if well formed.
pub fn trace_id_from_traceparent(value: &str) -> Option<String> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    match parts.as_slice() {
        [version, trace, span, flags]
            if version.len() == 2
                && trace.len() == 32
                && span.len() == 16
                && flags.len() == 2
                && trace.chars().all(|c| c.is_ascii_hexdigit())
                && *trace != "00000000000000000000000000000000" =>
        {
            Some(trace.to_ascii_lowercase())
        }
        _ => None,
    }
}

thread_local! {
    /// A xorshift generator per thread, seeded once from the OS: trace and span ids need to be
    /// unique, not secret, and a system call per id costs more than the rest of a request.
    static IDS: std::cell::Cell<u64> = std::cell::Cell::new({
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        u64::from_le_bytes(seed) | 1
    });
}

/// A random 64-bit number (never zero) from the thread's generator.
pub fn random_u64() -> u64 {
    IDS.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// A new random trace id (32 lowercase hex digits).
pub fn new_trace_id() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// A new random span id (16 lowercase hex digits), as in a `traceparent`.
pub fn new_span_id() -> String {
    format!("{:016x}", random_u64())
}

tokio::task_local! {
    /// The trace id of the request or event being handled, for what it calls and publishes.
    static TRACE_ID: String;
}

/// The trace id of the request or event being handled by this task, if any.
pub fn current_trace_id() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok()
}

/// A W3C `traceparent` continuing the current trace, if there is one: the current exported
/// span as the parent (feature `otlp`), else the trace with a new span id.
pub fn current_traceparent() -> Option<String> {
    #[cfg(feature = "otlp")]
    if let Some(tp) = crate::service::otel::traceparent_of(&tracing::Span::current()) {
        return Some(tp);
    }
    TRACE_ID
        .try_with(|t| format!("00-{t}-{}-01", new_span_id()))
        .ok()
}

/// The trace id of `span` when it is exported (feature `otlp`).
fn exported_trace_id(span: &tracing::Span) -> Option<String> {
    #[cfg(feature = "otlp")]
    return crate::service::otel::traceparent_of(span)
        .as_deref()
        .and_then(trace_id_from_traceparent);
    #[cfg(not(feature = "otlp"))]
    {
        let _ = span;
        None
    }
}

/// Makes the caller's span (`traceparent`) the parent of `span`, when spans are exported.
fn adopt_parent(span: &tracing::Span, traceparent: Option<&str>) {
    #[cfg(feature = "otlp")]
    if let Some(tp) = traceparent.filter(|tp| trace_id_from_traceparent(tp).is_some()) {
        crate::service::otel::set_remote_parent(span, tp);
    }
    #[cfg(not(feature = "otlp"))]
    let _ = (span, traceparent);
}

/// Runs `f` with the trace of `traceparent` as the current one (events published inside carry
/// it); without a valid one, `f` runs as it is.
pub async fn with_traceparent<F: std::future::Future>(
    traceparent: Option<String>,
    f: F,
) -> F::Output {
    let span = tracing::info_span!(
        "event",
        otel.kind = "consumer",
        trace_id = tracing::field::Empty
    );
    in_span(span, traceparent, f).await
}

/// Runs `f` in `span` (which declares an empty `trace_id` field), continuing the trace of
/// `traceparent`: the caller's span is its parent when spans are exported.
pub async fn in_span<F: std::future::Future>(
    span: tracing::Span,
    traceparent: Option<String>,
    f: F,
) -> F::Output {
    adopt_parent(&span, traceparent.as_deref());
    let trace_id = exported_trace_id(&span)
        .or_else(|| traceparent.as_deref().and_then(trace_id_from_traceparent));
    match trace_id {
        Some(trace_id) => {
            span.record("trace_id", trace_id.as_str());
            TRACE_ID.scope(trace_id, f.instrument(span)).await
        }
        None => f.instrument(span).await,
    }
}

/// A span for a call to `peer` (`operation` like `GET`), exported with the feature `otlp`;
/// without it, no span (nothing to pay on every call).
pub fn client_span(operation: &str, peer: &str) -> tracing::Span {
    #[cfg(feature = "otlp")]
    return tracing::info_span!(
        "call",
        otel.name = %format_args!("{operation} {peer}"),
        otel.kind = "client",
        peer.service = %peer,
    );
    #[cfg(not(feature = "otlp"))]
    {
        let _ = (operation, peer);
        tracing::Span::none()
    }
}

/// The span of a message put on the broker (`subject`), a child of the operation that
/// produced it (`traceparent`), exported with the feature `otlp`.
pub fn producer_span(subject: &str, traceparent: Option<&str>) -> tracing::Span {
    #[cfg(feature = "otlp")]
    {
        let span = tracing::info_span!(
            "publish",
            otel.name = %format_args!("publish {subject}"),
            otel.kind = "producer",
        );
        adopt_parent(&span, traceparent);
        span
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = (subject, traceparent);
        tracing::Span::none()
    }
}

/// The span of consuming `event` in consumer group `group`: [`with_traceparent`] named.
pub async fn consuming<F: std::future::Future>(
    event: &str,
    group: &str,
    traceparent: Option<String>,
    f: F,
) -> F::Output {
    let span = tracing::info_span!(
        "event",
        otel.name = %format_args!("consume {event}"),
        otel.kind = "consumer",
        consumer = %group,
        trace_id = tracing::field::Empty
    );
    in_span(span, traceparent, f).await
}

/// Where the routes of this process that the platform calls all the time start (registry
/// heartbeats and lookups, configuration polling), set by the platform process serving them.
static ROUTINE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Declares that every route of this process under `prefix` (`/registry/`) is platform
/// chatter: like probes and scrapes, it is traced at `debug`, so it neither crowds the exported
/// traces nor the logs at the default level. The first call in a process decides (a process
/// serves one platform role).
pub fn routine_prefix(prefix: &'static str) {
    let _ = ROUTINE.set(prefix);
}

/// Whether a request to `route` is chatter ([`routine`], with this process's
/// [`routine_prefix`]).
pub fn is_routine(route: &str) -> bool {
    routine(route, ROUTINE.get().copied())
}

/// Whether `route` is a probe (`/health/*`), a scrape (`/metrics`), a key fetch
/// (`/.well-known/jwks.json`) or under the process's routine `prefix`.
fn routine(route: &str, prefix: Option<&str>) -> bool {
    route.starts_with("/health/")
        || route == "/metrics"
        || route == "/.well-known/jwks.json"
        || prefix.is_some_and(|p| route.starts_with(p))
}

/// The span of one inbound request at `$level`.
macro_rules! request_span {
    ($level:expr, $req:expr, $route:expr) => {
        tracing::span!(
            $level,
            "request",
            otel.name = %format_args!("{} {}", $req.method(), $route),
            otel.kind = "server",
            trace_id = tracing::field::Empty,
            method = %$req.method(),
            path = %$req.uri().path(),
            http.response.status_code = tracing::field::Empty,
        )
    };
}

/// Middleware: runs the request inside a span with its trace id and logs its outcome; chatter
/// ([`is_routine`]) at `debug`.
pub async fn trace_requests(req: Request, next: Next) -> Response {
    let incoming = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| req.uri().path(), |m| m.as_str());
    let routine = is_routine(route);
    let span = if routine {
        request_span!(tracing::Level::DEBUG, req, route)
    } else {
        request_span!(tracing::Level::INFO, req, route)
    };
    adopt_parent(&span, incoming);
    let trace_id = exported_trace_id(&span)
        .or_else(|| incoming.and_then(trace_id_from_traceparent))
        .unwrap_or_else(new_trace_id);
    span.record("trace_id", trace_id.as_str());
    let header = HeaderValue::from_str(&trace_id).ok();
    let started = std::time::Instant::now();
    let mut response = TRACE_ID
        .scope(trace_id, next.run(req).instrument(span.clone()))
        .await;
    span.record("http.response.status_code", response.status().as_u16());
    if !routine && !span.is_disabled() {
        span.in_scope(|| {
            tracing::info!(
                status = response.status().as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "handled"
            );
        });
    }
    if let Some(v) = header {
        response.headers_mut().insert("x-trace-id", v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_changes_while_running() {
        if std::env::var_os("RUST_LOG").is_some() {
            assert!(!set_level("debug"), "RUST_LOG decides");
            return;
        }
        assert!(
            init("warn"),
            "the first init in this test binary installs the subscriber"
        );
        assert!(!tracing::enabled!(tracing::Level::INFO));
        assert!(set_level("debug"));
        assert!(tracing::enabled!(tracing::Level::DEBUG));
        assert!(set_level("warn"));
        assert!(!tracing::enabled!(tracing::Level::INFO));
    }

    #[test]
    fn probes_scrapes_and_declared_platform_routes_are_routine() {
        let registry = Some("/registry/");
        assert!(routine("/health/ready", None));
        assert!(routine("/metrics", None));
        assert!(routine("/.well-known/jwks.json", None));
        assert!(routine("/registry/instances/{service}/{id}", registry));
        assert!(
            !routine("/registry/instances/{service}/{id}", None),
            "only in the process that declared it"
        );
        assert!(!routine("/config/{service}/{profile}", registry));
        assert!(!routine("/orders/{id}", registry));
    }

    #[test]
    fn parses_traceparent() {
        let tp = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id_from_traceparent(tp).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_id_from_traceparent("00-0000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id_from_traceparent("garbage"), None);
        assert_eq!(new_trace_id().len(), 32);
        assert_ne!(new_trace_id(), new_trace_id());
        assert_eq!(new_span_id().len(), 16);
    }
}
