//! Structured logging and per-request trace ids.
//!
//! Logs are one JSON object per line on stdout. Every request runs in a span carrying its
//! `trace_id`: taken from an incoming W3C `traceparent` header when present, otherwise new. The
//! id is echoed in the `x-trace-id` response header so a client can quote it. The request's (or
//! the consumed event's) `traceparent` is the task's current trace context
//! ([`current_traceparent`]), which published events carry on.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The installed filter, while the settings decide the level (not `RUST_LOG`).
static LEVEL: std::sync::OnceLock<reload::Handle<EnvFilter, Registry>> = std::sync::OnceLock::new();

/// Installs the JSON subscriber. `level` is an `EnvFilter` directive (`info`, `orders=debug`);
/// `RUST_LOG` wins when set. Calling it twice is harmless. Returns whether this call installed
/// it.
pub fn init(level: &str) -> bool {
    let from_env = EnvFilter::try_from_default_env().ok();
    let env_decides = from_env.is_some();
    let (filter, handle) = reload::Layer::new(from_env.unwrap_or_else(|| EnvFilter::new(level)));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true);
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .try_init()
        .is_ok();
    if installed && !env_decides {
        let _ = LEVEL.set(handle);
    }
    installed
}

/// Changes the log level of a running process (the config server's `log-level`). Returns
/// `false` when `RUST_LOG` decides or no subscriber was installed by [`init`].
pub fn set_level(level: &str) -> bool {
    LEVEL
        .get()
        .is_some_and(|h| h.reload(EnvFilter::new(level)).is_ok())
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

/// A W3C `traceparent` continuing the current trace (a new span id), if there is one.
pub fn current_traceparent() -> Option<String> {
    TRACE_ID
        .try_with(|t| format!("00-{t}-{}-01", new_span_id()))
        .ok()
}

/// Runs `f` with the trace of `traceparent` as the current one (events published inside carry
/// it); without a valid one, `f` runs as it is.
pub async fn with_traceparent<F: std::future::Future>(
    traceparent: Option<String>,
    f: F,
) -> F::Output {
    match traceparent.as_deref().and_then(trace_id_from_traceparent) {
        Some(trace_id) => {
            let span = tracing::info_span!("event", trace_id = %trace_id);
            TRACE_ID.scope(trace_id, f.instrument(span)).await
        }
        None => f.await,
    }
}

/// Middleware: runs the request inside a span with its trace id and logs its outcome.
pub async fn trace_requests(req: Request, next: Next) -> Response {
    let trace_id = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id_from_traceparent)
        .unwrap_or_else(new_trace_id);
    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        method = %req.method(),
        path = %req.uri().path()
    );
    let header = HeaderValue::from_str(&trace_id).ok();
    let started = std::time::Instant::now();
    let mut response = TRACE_ID
        .scope(trace_id, next.run(req).instrument(span.clone()))
        .await;
    if !span.is_disabled() {
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
