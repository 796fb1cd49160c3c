//! A request fuzzer against the running shop (issue 22, item 5): every process booted by the
//! generated end-to-end kit on real containers, then a bounded, seeded run of random methods,
//! paths, query strings, headers and bodies, through the gateway and directly at each service.
//! No answer may be a 500, and no process log may show a panic.
//!
//! `MSA_FUZZ_REQUESTS` sets the number of requests (default 600, sized for CI) and
//! `MSA_FUZZ_SEED` the seed; `bench/fuzz-requests.sh` runs a longer one.

use std::time::Duration;

use e2e_kit::{Manifest, System};
use msa_gen_tests::random::Rng;

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];

/// Path segments that have broken servers: ids of every shape, encodings, wide and control
/// characters, traversal, very long ones.
const SEGMENTS: &[&str] = &[
    "00000000-0000-4000-8000-000000000000",
    "not-a-uuid",
    "%00",
    "%ff%fe",
    "%E2%82%AC",
    "..",
    "%2e%2e",
    "%2F",
    "é",
    "💥",
    "-1",
    "99999999999999999999999",
    "{id}",
    "admin",
    "history",
    "checkout",
    "",
];

/// Query values and bodies' leaf values of every kind.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1e309",
    "NaN",
    "abc",
    "%00",
    "%C3%A9",
    "true",
    "null",
    "2026-02-30",
    "00000000-0000-4000-8000-000000000000",
    "ä%20b",
];

fn json_leaf(r: &mut Rng) -> serde_json::Value {
    match r.below(9) {
        0 => serde_json::Value::Null,
        1 => serde_json::json!(r.chance(50)),
        2 => serde_json::json!(i64::MIN),
        3 => serde_json::json!(1e300),
        4 => serde_json::json!("\u{0}nul"),
        5 => serde_json::json!("x".repeat(300)),
        6 => serde_json::json!(uuid_like(r)),
        7 => serde_json::json!("-12.5"),
        _ => serde_json::json!([]),
    }
}

fn uuid_like(r: &mut Rng) -> String {
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        r.below(1 << 30),
        r.below(1 << 30)
    )
}

/// A body: JSON shaped like an entity (the manifest's sample, some fields replaced), random
/// JSON, or bytes that are no JSON at all.
fn body(r: &mut Rng, samples: &[serde_json::Value]) -> (Option<&'static str>, Vec<u8>) {
    match r.below(6) {
        0 => (None, Vec::new()),
        1 => (Some("application/json"), b"{\"a\": [1, 2".to_vec()),
        2 => (Some("application/json"), vec![0xff, 0xfe, b'{', 0]),
        3 => (Some("text/plain"), b"hello".to_vec()),
        _ => {
            let mut v = samples
                .get(r.below(samples.len().max(1)))
                .cloned()
                .unwrap_or_else(|| serde_json::json!({}));
            if let Some(map) = v.as_object_mut() {
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    if r.chance(40) {
                        map.insert(k, json_leaf(r));
                    }
                }
                if r.chance(30) {
                    map.insert("unexpected".into(), json_leaf(r));
                }
            }
            (
                Some("application/json"),
                serde_json::to_vec(&v).unwrap_or_default(),
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_get_no_500_and_no_panic() {
    let probe = msa_gen_tests::shop("nats", &[]);
    let manifest_text =
        std::fs::read_to_string(probe.join("tests/e2e/system.toml")).expect("manifest");
    let manifest: Manifest = toml::from_str(&manifest_text).expect("manifest parses");
    let names: Vec<&str> = manifest.processes.iter().map(|p| p.name.as_str()).collect();
    let ws = msa_gen_tests::shop("nats", &names);
    let logs = ws.join("target/fuzz-logs");
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("E2E_BIN_DIR", ws.join("bin")) };
    let sys = System::boot(manifest.clone(), &ws, logs.clone())
        .await
        .expect("boot");

    let requests: usize = std::env::var("MSA_FUZZ_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let seed: u64 = std::env::var("MSA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_261_204);
    let mut prefixes: Vec<String> = manifest.routes.iter().map(|x| x.path.clone()).collect();
    prefixes.extend(manifest.entities.iter().map(|e| e.path.clone()));
    prefixes.extend(
        [
            "/oauth/token",
            "/users",
            "/.well-known/jwks.json",
            "/admin/sagas",
            "/admin/dead-letters",
            "/docs",
            "/openapi.json",
            "/health/ready",
            "/metrics",
            "/registry/instances",
            "/config/orders",
        ]
        .map(String::from),
    );
    let samples: Vec<serde_json::Value> = manifest
        .entities
        .iter()
        .filter_map(|e| serde_json::from_str(&e.create).ok())
        .collect();
    let mut targets = vec![sys.gateway().expect("gateway")];
    targets.extend(
        manifest
            .processes
            .iter()
            .filter(|p| p.name != "gateway")
            .filter_map(|p| sys.url(&p.name).ok()),
    );
    let admin = sys.token(Some("admin")).map(str::to_string);
    let plan = Plan {
        targets,
        prefixes,
        samples,
        token: admin,
        requests,
        seed,
    };
    let failures = fuzz(&plan).await;
    drop(sys);
    let panics = panics_in(&logs);
    eprintln!(
        "fuzz: {requests} requests over {} targets, seed {seed}: {} failures, {} panics",
        plan.targets.len(),
        failures.len(),
        panics.len()
    );
    assert!(
        failures.is_empty() && panics.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        panics.join("\n")
    );
}

/// What to fuzz: where, which paths, sample bodies, a token for a quarter of the requests.
struct Plan {
    targets: Vec<String>,
    prefixes: Vec<String>,
    samples: Vec<serde_json::Value>,
    token: Option<String>,
    requests: usize,
    seed: u64,
}

/// Sends `plan.requests` random requests; returns each 500 and each request left unanswered.
async fn fuzz(plan: &Plan) -> Vec<String> {
    let Plan {
        targets,
        prefixes,
        samples,
        token: admin,
        requests,
        seed,
    } = plan;
    let mut r = Rng::new(*seed);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let mut failures = Vec::new();
    for i in 0..*requests {
        let target = r.pick(targets).clone();
        let method = *r.pick(METHODS);
        let mut path = r.pick(prefixes).clone();
        for _ in 0..r.below(3) {
            path.push('/');
            let segment: &&str = r.pick(SEGMENTS);
            path.push_str(segment);
        }
        if r.chance(50) {
            let pairs: Vec<String> = (0..=r.below(3))
                .map(|_| {
                    let key = *r.pick(&[
                        "page",
                        "size",
                        "name",
                        "status",
                        "total",
                        "customer_id",
                        "sort",
                        "%00",
                        "q",
                    ]);
                    format!("{key}={}", r.pick(VALUES))
                })
                .collect();
            path = format!("{path}?{}", pairs.join("&"));
        }
        let url = format!("{target}{path}");
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            continue;
        };
        let mut req = http.request(method.clone(), &url);
        let (content_type, bytes) = body(&mut r, samples);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        match r.below(4) {
            0 => {}
            1 => req = req.header("authorization", "Bearer not.a.token"),
            2 => req = req.header("authorization", "Bearer"),
            _ => {
                if let Some(t) = &admin {
                    req = req.bearer_auth(t);
                }
            }
        }
        if r.chance(20) {
            req = req
                .header("traceparent", "00-zz-yy-01")
                .header("x-forwarded-for", "1.2.3.4, ::1, junk");
        }
        let sent = req.body(bytes).send().await;
        match sent {
            Ok(resp) if resp.status() == reqwest::StatusCode::INTERNAL_SERVER_ERROR => {
                let text = resp.text().await.unwrap_or_default();
                failures.push(format!("#{i} {method} {url}: 500 {text}"));
            }
            Ok(_) => {}
            Err(e) if e.is_timeout() => {
                failures.push(format!("#{i} {method} {url}: no answer in 15 s"))
            }
            // A refused URL (the client cannot send it) is no server failure.
            Err(_) => {}
        }
    }
    failures
}

/// Every log line of a panic in the files of `logs`.
fn panics_in(logs: &std::path::Path) -> Vec<String> {
    let mut panics = Vec::new();
    for entry in std::fs::read_dir(logs).expect("logs").flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("panicked")) {
            panics.push(format!("{}: {line}", entry.path().display()));
        }
    }
    panics
}

/// The fuzzer can fail: against a server that answers 500 to one malformed id, and a log with
/// a panic, it reports both.
#[tokio::test]
async fn the_fuzzer_reports_a_500_and_a_panic() {
    let app = axum::Router::new().route(
        "/orders/{id}",
        axum::routing::any(
            |axum::extract::Path(id): axum::extract::Path<String>| async move {
                if id == "not-a-uuid" {
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom")
                } else {
                    (axum::http::StatusCode::NOT_FOUND, "")
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let plan = Plan {
        targets: vec![url],
        prefixes: vec!["/orders".into()],
        samples: Vec::new(),
        token: None,
        requests: 200,
        seed: 7,
    };
    let failures = fuzz(&plan).await;
    assert!(
        failures
            .iter()
            .any(|f| f.contains("/orders/not-a-uuid") && f.contains("500")),
        "{failures:?}"
    );
    let logs = tempfile::tempdir().expect("tmp");
    std::fs::write(logs.path().join("a.log"), "ok\n").expect("write");
    std::fs::write(
        logs.path().join("b.log"),
        "thread 'tokio-runtime-worker' panicked at src/x.rs:1:1\n",
    )
    .expect("write");
    assert_eq!(panics_in(logs.path()).len(), 1);
}
