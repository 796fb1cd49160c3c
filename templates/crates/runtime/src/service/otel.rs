//! OpenTelemetry export (feature `otlp`, which a blueprint with `[platform] tracing = "otlp"`
//! turns on): every `tracing` span of the process becomes an OpenTelemetry span
//! (`tracing-opentelemetry`) and every log line an OpenTelemetry log record carrying its trace
//! and span (`opentelemetry-appender-tracing`), batched and sent over OTLP HTTP/protobuf
//! (`opentelemetry-otlp`) to `OTEL_EXPORTER_OTLP_ENDPOINT`, else the `otlp-endpoint` setting,
//! else `http://localhost:4318`. `otlp-endpoint = "none"` or `OTEL_SDK_DISABLED=true` turns
//! export off.
//!
//! Export never blocks or fails a request: a finished span or a log record goes into a bounded
//! queue ([`QUEUE`] each) and a Tokio task sends batches of it. When a queue is full or the
//! collector does not answer, items are dropped and counted in `otel_spans_dropped_total` and
//! `otel_logs_dropped_total`; `otel_spans_exported_total` and `otel_logs_exported_total` count
//! those that arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::log_processor_with_async_runtime::BatchLogProcessor;
use opentelemetry_sdk::logs::{
    LogBatch, LogExporter, LogProcessor, SdkLogRecord, SdkLoggerProvider,
};
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, SdkTracerProvider, Span, SpanData, SpanExporter, SpanProcessor,
};

/// Spans waiting for export, at most; more are dropped (and counted).
pub const QUEUE: usize = 8192;
/// The longest a span waits before its batch is sent.
pub const DELAY: Duration = Duration::from_millis(500);
/// The longest one export may take.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where spans go: the standard variable, else the setting, else the OTLP default.
pub fn endpoint(settings: &crate::service::config::Settings) -> Option<String> {
    // The standard switch: `OTEL_SDK_DISABLED=true` exports nothing.
    if std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    let chosen = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| settings.text("otlp_endpoint").map(str::to_string))
        .unwrap_or_else(|| "http://localhost:4318".to_string());
    (chosen != "none").then(|| chosen.trim_end_matches('/').to_string())
}

/// What a queue holds; names the metrics counting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Spans,
    Logs,
}

impl Signal {
    fn dropped(self) -> &'static str {
        match self {
            Signal::Spans => "otel_spans_dropped_total",
            Signal::Logs => "otel_logs_dropped_total",
        }
    }

    fn exported(self) -> &'static str {
        match self {
            Signal::Spans => "otel_spans_exported_total",
            Signal::Logs => "otel_logs_exported_total",
        }
    }
}

/// Items queued and not yet exported or dropped, shared by the processor and the exporter.
#[derive(Debug)]
struct Queued {
    waiting: AtomicUsize,
    signal: Signal,
}

impl Queued {
    fn new(signal: Signal) -> Arc<Self> {
        Arc::new(Self {
            waiting: AtomicUsize::new(0),
            signal,
        })
    }

    /// Takes a place in the queue, or counts the item as dropped when [`QUEUE`] wait already.
    fn admit(&self) -> bool {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= QUEUE {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            metrics::counter!(self.signal.dropped()).increment(1);
            return false;
        }
        true
    }

    /// `n` items left the queue: they arrived (`ok`) or were lost.
    fn settle(&self, n: usize, ok: bool) {
        self.waiting.fetch_sub(n, Ordering::Relaxed);
        let counter = if ok {
            self.signal.exported()
        } else {
            self.signal.dropped()
        };
        metrics::counter!(counter).increment(n as u64);
    }
}

/// Wraps a batch processor: refuses (and counts) an item when [`QUEUE`] wait already, so no
/// drop goes uncounted.
#[derive(Debug)]
struct Bounded<P> {
    inner: P,
    queued: Arc<Queued>,
}

impl<P: SpanProcessor> SpanProcessor for Bounded<P> {
    fn on_start(&self, span: &mut Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.queued.admit() {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

impl<P: LogProcessor> LogProcessor for Bounded<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &opentelemetry::InstrumentationScope) {
        if self.queued.admit() {
            self.inner.emit(record, scope);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// Wraps an OTLP exporter: counts what arrived and what was lost.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    queued: Arc<Queued>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        let result = self.inner.export(batch).await;
        self.queued.settle(n, result.is_ok());
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Counted<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let n = batch.iter().count();
        let result = self.inner.export(batch).await;
        self.queued.settle(n, result.is_ok());
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// The resource every export of process `service` names.
fn resource(service: &str) -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_string())
        .build()
}

/// The providers exporting a process's spans and logs; [`Export::flush`] sends what waits.
#[derive(Debug, Clone)]
pub struct Export {
    pub traces: SdkTracerProvider,
    pub logs: SdkLoggerProvider,
}

impl Export {
    /// Sends the spans and logs still queued (at most [`EXPORT_TIMEOUT`] each).
    pub fn flush(&self) {
        let _ = self.traces.force_flush();
        let _ = self.logs.force_flush();
    }
}

/// The span and log export of process `service` to `endpoint` (`http://host:4318`). Must be
/// called inside the Tokio runtime (the batches are sent by tasks of it).
pub fn export(service: &str, endpoint: &str) -> Result<Export, String> {
    Ok(Export {
        traces: provider(service, endpoint)?,
        logs: logger_provider(service, endpoint)?,
    })
}

/// A tracer provider for process `service` exporting to `endpoint` (`http://host:4318`).
/// Must be called inside the Tokio runtime (the batches are sent by a task of it).
pub fn provider(service: &str, endpoint: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .with_timeout(EXPORT_TIMEOUT)
        .with_headers(std::collections::HashMap::new())
        .build()
        .map_err(|e| e.to_string())?;
    let queued = Queued::new(Signal::Spans);
    let batches = BatchSpanProcessor::builder(
        Counted {
            inner: exporter,
            queued: queued.clone(),
        },
        opentelemetry_sdk::runtime::Tokio,
    )
    .with_batch_config(
        BatchConfigBuilder::default()
            .with_max_queue_size(QUEUE)
            .with_scheduled_delay(DELAY)
            .build(),
    )
    .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(Bounded {
            inner: batches,
            queued,
        })
        .with_resource(resource(service))
        .build())
}

/// A logger provider for process `service` exporting log records to `endpoint`, each with
/// the trace and span it was written in. Must be called inside the Tokio runtime.
pub fn logger_provider(service: &str, endpoint: &str) -> Result<SdkLoggerProvider, String> {
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{endpoint}/v1/logs"))
        .with_timeout(EXPORT_TIMEOUT)
        .with_headers(std::collections::HashMap::new())
        .build()
        .map_err(|e| e.to_string())?;
    let queued = Queued::new(Signal::Logs);
    let batches = BatchLogProcessor::builder(
        Counted {
            inner: exporter,
            queued: queued.clone(),
        },
        opentelemetry_sdk::runtime::Tokio,
    )
    .with_batch_config(
        opentelemetry_sdk::logs::BatchConfigBuilder::default()
            .with_max_queue_size(QUEUE)
            .with_scheduled_delay(DELAY)
            .build(),
    )
    .build();
    Ok(SdkLoggerProvider::builder()
        .with_log_processor(Bounded {
            inner: batches,
            queued,
        })
        .with_resource(resource(service))
        .build())
}

/// The `tracing` layer turning spans into OpenTelemetry spans of `provider`.
pub fn layer<S>(
    provider: &SdkTracerProvider,
    service: &str,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_string()))
}

/// The `tracing` layer turning events (log lines) into OpenTelemetry log records of
/// `provider`, each carrying the trace and span of the exported span it was written in.
pub fn log_layer(
    provider: &SdkLoggerProvider,
) -> opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge<
    SdkLoggerProvider,
    opentelemetry_sdk::logs::SdkLogger,
> {
    opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(provider)
}

/// The W3C `traceparent` of `span`'s OpenTelemetry span (its trace, itself as the parent),
/// `None` when the span is not exported (no layer, or no span).
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// Makes the remote span of `traceparent` the parent of `span` (before it is entered).
pub fn set_remote_parent(span: &tracing::Span, traceparent: &str) {
    use opentelemetry::propagation::TextMapPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let carrier =
        std::collections::HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(parent);
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use tracing_subscriber::layer::SubscriberExt;

    type Received<T> = Arc<std::sync::Mutex<Vec<T>>>;

    /// A collector on a free port: every span and log record it receives, decoded.
    async fn collector() -> (
        String,
        Received<opentelemetry_proto::tonic::trace::v1::Span>,
        Received<opentelemetry_proto::tonic::logs::v1::LogRecord>,
    ) {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        let spans: Received<_> = Arc::default();
        let logs: Received<_> = Arc::default();
        let (span_sink, log_sink) = (spans.clone(), logs.clone());
        let app = axum::Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    span_sink.lock().unwrap().extend(
                        request
                            .resource_spans
                            .into_iter()
                            .flat_map(|r| r.scope_spans)
                            .flat_map(|s| s.spans),
                    );
                    async { "" }
                }),
            )
            .route(
                "/v1/logs",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let request = ExportLogsServiceRequest::decode(body).expect("OTLP protobuf");
                    log_sink.lock().unwrap().extend(
                        request
                            .resource_logs
                            .into_iter()
                            .flat_map(|r| r.scope_logs)
                            .flat_map(|s| s.log_records),
                    );
                    async { "" }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, spans, logs)
    }

    /// Waits up to 5 s for `received` to hold `n` items.
    async fn arrived<T>(received: &Received<T>, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while received.lock().unwrap().len() < n {
            assert!(std::time::Instant::now() < deadline, "nothing arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_reach_the_collector_as_children_of_the_remote_caller() {
        let (url, spans, _) = collector().await;
        let provider = provider("orders", &url).unwrap();
        let subscriber = tracing_subscriber::registry().with(layer(&provider, "orders"));
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let outgoing = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("GET /orders");
            set_remote_parent(&span, incoming);
            let _entered = span.enter();
            let child = tracing::info_span!("call products");
            traceparent_of(&child).expect("an exported span")
        });
        provider.force_flush().unwrap();
        arrived(&spans, 2).await;
        let got = spans.lock().unwrap().clone();
        let request = got.iter().find(|s| s.name == "GET /orders").unwrap();
        let call = got.iter().find(|s| s.name == "call products").unwrap();
        assert_eq!(hex(&request.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&request.parent_span_id), "00f067aa0ba902b7");
        assert_eq!(call.trace_id, request.trace_id);
        assert_eq!(call.parent_span_id, request.span_id);
        // What the call sends on names the call's span as the callee's parent.
        assert_eq!(
            outgoing,
            format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
                hex(&call.span_id)
            )
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn log_lines_reach_the_collector_with_the_trace_and_span_they_were_written_in() {
        let (url, spans, logs) = collector().await;
        let export = export("orders", &url).unwrap();
        let subscriber = tracing_subscriber::registry()
            .with(layer(&export.traces, "orders"))
            .with(log_layer(&export.logs));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("relay started");
            let _request = tracing::info_span!("GET /orders").entered();
            tracing::warn!(order = 7, "products slow");
        });
        export.flush();
        arrived(&spans, 1).await;
        arrived(&logs, 2).await;
        let span = spans.lock().unwrap()[0].clone();
        let logs = logs.lock().unwrap().clone();
        let body = |l: &opentelemetry_proto::tonic::logs::v1::LogRecord| match l
            .body
            .as_ref()
            .and_then(|b| b.value.as_ref())
        {
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
                s.clone()
            }
            other => format!("{other:?}"),
        };
        let slow = logs.iter().find(|l| body(l) == "products slow").unwrap();
        assert_eq!(slow.severity_text, "WARN");
        assert_eq!(slow.trace_id, span.trace_id);
        assert_eq!(slow.span_id, span.span_id);
        assert!(slow.attributes.iter().any(|a| a.key == "order"), "{slow:?}");
        let outside = logs.iter().find(|l| body(l) == "relay started").unwrap();
        assert!(outside.trace_id.is_empty(), "written outside any span");
    }

    #[test]
    fn a_full_log_queue_drops_and_counts() {
        let _ = crate::service::metrics::handle();
        let queued = Queued::new(Signal::Logs);
        assert!((0..QUEUE).all(|_| queued.admit()));
        assert!(!queued.admit(), "the queue is full");
        queued.settle(10, true);
        assert!(queued.admit(), "room again once a batch left");
        let text = crate::service::metrics::render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("otel_logs_dropped_total") && !l.ends_with(" 0")),
            "{text}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_collector_costs_only_dropped_spans() {
        let _ = crate::service::metrics::handle();
        let provider = provider("orders", "http://127.0.0.1:1").unwrap();
        let subscriber = tracing_subscriber::registry().with(layer(&provider, "orders"));
        let started = std::time::Instant::now();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..(QUEUE + 100) {
                let _s = tracing::info_span!("work").entered();
            }
        });
        // Finishing spans never waits for the network.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let _ = provider.force_flush();
        let dropped = |text: &str| {
            text.lines()
                .find(|l| l.starts_with("otel_spans_dropped_total"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // The queue's overflow at once, the rest when their export fails.
        while dropped(&crate::service::metrics::render()) < (QUEUE + 100) as f64 {
            assert!(
                std::time::Instant::now() < deadline,
                "{}",
                crate::service::metrics::render()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
