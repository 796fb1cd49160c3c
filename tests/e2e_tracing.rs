//! OpenTelemetry end to end (issue 21, item 1): the whole shop (`tracing = "otlp"`) booted by
//! its generated end-to-end kit on real containers, every process exporting over OTLP
//! HTTP/protobuf to a collector this test runs. The checkout saga is started through the
//! gateway; its trace must hold spans from the gateway, the owner, the broker hop (a
//! `publish` and a `consume` span) and a participant's saga step: at least 4 processes in one
//! trace, each span's parent in the same trace.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_kit::{Manifest, System};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// A received span: its process, name, trace, own and parent span ids (hex).
#[derive(Debug, Clone)]
struct Seen {
    process: String,
    name: String,
    trace: String,
    id: String,
    parent: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A collector on a free port, keeping every span it receives.
async fn collector() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return axum::http::StatusCode::BAD_REQUEST;
                };
                let mut sink = sink.lock().expect("lock");
                for r in request.resource_spans {
                    let process = r
                        .resource
                        .iter()
                        .flat_map(|res| &res.attributes)
                        .find(|a| a.key == "service.name")
                        .and_then(|a| a.value.as_ref())
                        .and_then(|v| match &v.value {
                            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    for s in r.scope_spans.into_iter().flat_map(|s| s.spans) {
                        sink.push(Seen {
                            process: process.clone(),
                            name: s.name,
                            trace: hex(&s.trace_id),
                            id: hex(&s.span_id),
                            parent: hex(&s.parent_span_id),
                        });
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_saga_across_processes_and_the_broker() {
    let (endpoint, seen) = collector().await;
    let probe = msa_gen_tests::shop("nats", &[]);
    let manifest: Manifest = toml::from_str(
        &std::fs::read_to_string(probe.join("tests/e2e/system.toml")).expect("manifest"),
    )
    .expect("manifest parses");
    let names: Vec<&str> = manifest.processes.iter().map(|p| p.name.as_str()).collect();
    let ws = msa_gen_tests::shop("nats", &names);
    // SAFETY: set before any thread of this test reads the environment; every process the kit
    // starts inherits it.
    unsafe {
        std::env::set_var("E2E_BIN_DIR", ws.join("bin"));
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
    }
    let sys = System::boot(manifest.clone(), &ws, ws.join("target/tracing-logs"))
        .await
        .expect("boot");
    let checkout = manifest
        .sagas
        .iter()
        .find(|s| s.name == "checkout")
        .expect("the checkout saga");
    let mut created = e2e_kit::checks::Created::new();
    e2e_kit::checks::saga_success(&sys, checkout, &mut created)
        .await
        .expect("checkout succeeds");

    // The spans arrive in batches (every 500 ms): wait for a trace that went everywhere.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (trace, spans) = loop {
        let all = seen.lock().expect("lock").clone();
        let mut by_trace: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
        for s in all {
            by_trace.entry(s.trace.clone()).or_default().push(s);
        }
        let best = by_trace.into_iter().find(|(_, spans)| {
            let processes: BTreeSet<&str> = spans.iter().map(|s| s.process.as_str()).collect();
            let has = |prefix: &str| spans.iter().any(|s| s.name.starts_with(prefix));
            processes.len() >= 4
                && processes.contains("gateway")
                && has("publish ")
                && has("consume ")
                && has("saga checkout step")
                && one_tree(spans)
        });
        if let Some(found) = best {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no trace covers the checkout: {:#?}",
            seen.lock()
                .expect("lock")
                .iter()
                .map(|s| format!("{} {} {}", s.trace, s.process, s.name))
                .collect::<BTreeSet<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "trace {trace}: {} spans from {:?}",
        spans.len(),
        spans
            .iter()
            .map(|s| s.process.as_str())
            .collect::<BTreeSet<_>>()
    );
    drop(sys);
}

/// Whether `spans` make one tree: one root, and every other span's parent among them.
fn one_tree(spans: &[Seen]) -> bool {
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.id.as_str()).collect();
    let roots = spans.iter().filter(|s| s.parent.is_empty()).count();
    roots == 1
        && spans
            .iter()
            .all(|s| s.parent.is_empty() || ids.contains(s.parent.as_str()))
}
