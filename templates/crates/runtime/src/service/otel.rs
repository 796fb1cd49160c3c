//! OpenTelemetry export (feature `otlp`, which a blueprint with `[platform] tracing = "otlp"`
//! turns on): every `tracing` span of the process becomes an OpenTelemetry span
//! (`tracing-opentelemetry`), batched and sent over OTLP HTTP/protobuf (`opentelemetry-otlp`)
//! to `OTEL_EXPORTER_OTLP_ENDPOINT`, else the `otlp-endpoint` setting, else
//! `http://localhost:4318`. `otlp-endpoint = "none"` or `OTEL_SDK_DISABLED=true` turns export
//! off.
//!
//! Export never blocks or fails a request: a finished span goes into a bounded queue
//! ([`QUEUE`]) and a Tokio task sends batches of it. When the queue is full or the collector
//! does not answer, spans are dropped and counted in `otel_spans_dropped_total`;
//! `otel_spans_exported_total` counts those that arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
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

/// Spans queued and not yet exported or dropped, shared by the processor and the exporter.
#[derive(Debug, Default)]
struct Queued(AtomicUsize);

/// Wraps the batch processor: refuses (and counts) a span when [`QUEUE`] spans wait already,
/// so no drop goes uncounted.
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
        if self.queued.0.fetch_add(1, Ordering::Relaxed) >= QUEUE {
            self.queued.0.fetch_sub(1, Ordering::Relaxed);
            metrics::counter!("otel_spans_dropped_total").increment(1);
            return;
        }
        self.inner.on_end(span);
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

/// Wraps the OTLP exporter: counts what arrived and what was lost.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    queued: Arc<Queued>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        let result = self.inner.export(batch).await;
        self.queued.0.fetch_sub(n, Ordering::Relaxed);
        let counter = if result.is_ok() {
            "otel_spans_exported_total"
        } else {
            "otel_spans_dropped_total"
        };
        metrics::counter!(counter).increment(n as u64);
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
    let queued = Arc::new(Queued::default());
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
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service.to_string())
                .build(),
        )
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

    /// A collector on a free port: every span it receives, decoded.
    async fn collector() -> (
        String,
        Arc<std::sync::Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>,
    ) {
        let spans = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    let request = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body)
                        .expect("OTLP protobuf");
                    let mut sink = sink.lock().unwrap();
                    for r in request.resource_spans {
                        for s in r.scope_spans {
                            sink.extend(s.spans);
                        }
                    }
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, spans)
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_reach_the_collector_as_children_of_the_remote_caller() {
        let (url, spans) = collector().await;
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
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while spans.lock().unwrap().len() < 2 {
            assert!(std::time::Instant::now() < deadline, "no spans arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
