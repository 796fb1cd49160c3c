//! The console (feature `console`): the local stand-in for the dashboards the seed names
//! (Zipkin's traces, the log search). Every process exports its spans and logs to it over OTLP
//! HTTP/protobuf; it keeps them in memory, bounded ([`store`]), and serves pages for people.
//!
//! | route | does |
//! |---|---|
//! | `POST /v1/traces`, `POST /v1/logs` | OTLP/HTTP protobuf receivers (what `OTEL_EXPORTER_OTLP_ENDPOINT` points at) |
//! | `GET /` | the newest traces: where each started, the processes it touched, its spans, duration and errors |
//! | `GET /traces/{id}` | one trace's waterfall across processes and broker hops, with each span's log lines |
//! | `GET /logs?process=&level=&trace=&text=` | the processes' log lines, searchable |
//! | `GET /sagas`, `GET /sagas/{owner}/{saga}/{id}` | every owner's saga instances (its `/admin/sagas`, with the admin's token), one with its step history and a link to its trace |
//! | `GET /system` | the architecture diagram ([`diagram`]); the registry's instances with their health; request rate, errors and p95 per process and route, and the gateway's breakers, scraped live ([`live`]) |
//! | `GET /sign-in`, `POST /sign-in` | sign in with the auth service (the pages need the role `admin`) |
//!
//! With `[auth]` every page needs an admin's token (the `msa_console` cookie the sign-in sets,
//! or a bearer token); the receiver stays open to the system's network, as a collector's is.

pub mod diagram;
pub mod live;
pub mod sagas;
pub mod store;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode, header};
use prost::Message;

use crate::platform::web::escape;
use crate::security::jwt::Verifier;
use store::{LogFilter, LogLine, LogRecord, SpanRecord, Store, depths};

/// Log lines shown on one page at most.
const MAX_LINES: usize = 500;

/// The cookie holding the signed-in admin's token.
pub const COOKIE: &str = "msa_console";

/// What the generated `platform/console` tells the runtime.
pub struct ConsoleConfig {
    pub title: String,
    /// Checks the admins' tokens; `None` for a system without `[auth]` (open pages).
    pub auth: Option<Arc<Verifier>>,
    /// The auth service's base URL, for signing in.
    pub auth_url: Option<String>,
    /// The registry to follow for the live view; `None` without one.
    pub registry_url: Option<String>,
    /// The system's processes as the blueprint declares them.
    pub topology: &'static [Node],
}

/// One process of the blueprint: who calls it, what it publishes and consumes.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    pub name: &'static str,
    pub callers: &'static [&'static str],
    pub publishes: &'static [&'static str],
    pub consumes: &'static [&'static str],
}

struct Console {
    title: String,
    store: Store,
    auth: Option<Arc<Verifier>>,
    auth_url: Option<String>,
    http: crate::service::http_client::HttpClient,
    live: Option<live::Live>,
    topology: &'static [Node],
}

/// The console's routes.
pub fn routes(config: ConsoleConfig) -> Router {
    let console = Arc::new(Console {
        title: config.title,
        store: Store::new(),
        auth: config.auth,
        auth_url: config.auth_url,
        http: crate::service::http_client::HttpClient::new(),
        live: config.registry_url.as_deref().map(live::Live::start),
        topology: config.topology,
    });
    Router::new()
        .route("/v1/traces", post(receive_traces))
        .route("/v1/logs", post(receive_logs))
        .route("/", get(traces_page))
        .route("/traces/{id}", get(trace_page))
        .route("/logs", get(logs_page))
        .route("/system", get(system_page))
        .route("/sagas", get(sagas_page))
        .route("/sagas/{service}/{saga}/{id}", get(saga_page))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .with_state(console)
}

async fn receive_traces(State(c): State<Arc<Console>>, body: Bytes) -> Response {
    received(
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body)
            .map(|request| c.store.ingest(request)),
    )
}

async fn receive_logs(State(c): State<Arc<Console>>, body: Bytes) -> Response {
    received(
        opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest::decode(body)
            .map(|request| c.store.ingest_logs(request)),
    )
}

/// The answer to an OTLP export: an empty response message once kept, 400 for a body that is
/// not OTLP protobuf.
fn received(kept: Result<usize, prost::DecodeError>) -> Response {
    match kept {
        Ok(_) => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::<u8>::new(),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("not OTLP protobuf: {e}")).into_response(),
    }
}

/// The caller's token: the bearer, else the console's cookie.
fn token(headers: &HeaderMap) -> Option<&str> {
    crate::security::jwt::bearer(headers).or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
    })
}

/// `Ok` for an admin (or anyone without `[auth]`); else the page to show instead.
async fn admin(c: &Console, headers: &HeaderMap) -> Result<(), Response> {
    let Some(verifier) = &c.auth else {
        return Ok(());
    };
    let to_sign_in = (StatusCode::SEE_OTHER, [(header::LOCATION, "/sign-in")]).into_response();
    let Some(token) = token(headers) else {
        return Err(to_sign_in);
    };
    match verifier.verify(token).await {
        Ok(claims) if claims.roles.iter().any(|r| r == "admin") => Ok(()),
        Ok(_) => Err((StatusCode::FORBIDDEN, "the console needs the role admin").into_response()),
        Err(_) => Err(to_sign_in),
    }
}

fn page(c: &Console, title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} · {system} console</title>
<style>
body{{font:14px system-ui,sans-serif;margin:0;color:#222}} header{{background:#1d3557;color:#fff;padding:10px 16px}}
header a{{color:#fff;margin-right:16px;text-decoration:none}} main{{padding:16px}}
table{{border-collapse:collapse;width:100%}} td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}
.bar{{position:relative;height:14px;background:#eef}} .bar span{{position:absolute;top:0;height:14px;background:#457b9d}}
.error{{color:#c1121f}} .kind{{color:#666;font-size:12px}} code{{font-size:12px}} .scroll{{overflow-x:auto}}
</style></head><body><header><strong>{system} console</strong> &nbsp; <a href="/system">system</a><a href="/">traces</a><a href="/sagas">sagas</a><a href="/logs">logs</a></header>
<main><h1>{title}</h1>{body}</main></body></html>"#,
        title = escape(title),
        system = escape(&c.title),
    ))
}

fn millis(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e6)
}

async fn traces_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Err(r) = admin(&c, &headers).await {
        return r;
    }
    let mut rows = String::new();
    for t in c.store.recent(200) {
        rows.push_str(&format!(
            "<tr><td><a href=\"/traces/{id}\"><code>{id}</code></a></td><td>{root}</td><td>{processes}</td><td>{spans}</td><td>{ms} ms</td><td class=\"error\">{errors}</td></tr>",
            id = escape(&t.trace_id),
            root = escape(&t.root),
            processes = escape(&t.processes.iter().cloned().collect::<Vec<_>>().join(", ")),
            spans = t.spans,
            ms = millis(t.duration_ns),
            errors = if t.errors > 0 { t.errors.to_string() } else { String::new() },
        ));
    }
    let body = format!(
        "<p>{} spans kept. Newest first; the page refreshes every 5 s.</p><table><tr><th>trace</th><th>started at</th><th>processes</th><th>spans</th><th>duration</th><th>errors</th></tr>{rows}</table><script>setTimeout(()=>location.reload(),5000)</script>",
        c.store.len()
    );
    page(&c, "Traces", &body).into_response()
}

/// A log line's fields, `key=value` and escaped.
fn fields(log: &LogRecord) -> String {
    log.fields
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The waterfall of one trace: a row per span, indented by depth, its bar placed on the
/// trace's time line, the log lines written in it (`logs`, of this trace) under it.
pub fn waterfall(spans: &[SpanRecord], logs: &[LogLine]) -> String {
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(start);
    let total = end.saturating_sub(start).max(1) as f64;
    let mut rows = String::new();
    for (s, depth) in spans.iter().zip(depths(spans)) {
        let left = (s.start_ns.saturating_sub(start)) as f64 / total * 100.0;
        let width = ((s.end_ns.saturating_sub(s.start_ns)) as f64 / total * 100.0).max(0.5);
        let logs: String = logs
            .iter()
            .filter(|l| l.span_id == s.span_id)
            .map(|l| {
                format!(
                    "<div><code>{} {} {}</code></div>",
                    escape(&l.log.level),
                    escape(&l.log.message),
                    fields(&l.log)
                )
            })
            .collect();
        rows.push_str(&format!(
            "<tr class=\"span\" data-process=\"{process}\"><td style=\"padding-left:{indent}px\"{error}>{name} <span class=\"kind\">{kind}</span>{logs}</td><td>{process}</td><td>{ms} ms</td><td style=\"width:40%\"><div class=\"bar\"><span style=\"left:{left:.2}%;width:{width:.2}%\"></span></div></td></tr>",
            indent = 8 + depth * 16,
            error = if s.error { " class=\"error\"" } else { "" },
            name = escape(&s.name),
            kind = s.kind,
            process = escape(&s.process),
            ms = millis(s.end_ns.saturating_sub(s.start_ns)),
        ));
    }
    format!(
        "<table><tr><th>span</th><th>process</th><th>duration</th><th>time line</th></tr>{rows}</table>"
    )
}

async fn trace_page(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = admin(&c, &headers).await {
        return r;
    }
    match c.store.trace(&id) {
        Some(spans) => {
            let mut logs = c.store.logs(
                &LogFilter {
                    trace: id.clone(),
                    ..LogFilter::default()
                },
                MAX_LINES,
            );
            logs.reverse();
            let processes: std::collections::BTreeSet<&str> =
                spans.iter().map(|s| s.process.as_str()).collect();
            let body = format!(
                "<p>{} spans from {} processes: {}. <a href=\"/logs?trace={}\">Its logs</a>.</p>{}",
                spans.len(),
                processes.len(),
                escape(&processes.into_iter().collect::<Vec<_>>().join(", ")),
                escape(&id),
                waterfall(&spans, &logs)
            );
            page(&c, &format!("Trace {id}"), &body).into_response()
        }
        None => (StatusCode::NOT_FOUND, page(&c, "No such trace", "")).into_response(),
    }
}

async fn logs_page(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(filter): Query<LogFilter>,
) -> Response {
    if let Err(r) = admin(&c, &headers).await {
        return r;
    }
    let mut rows = String::new();
    for l in c.store.logs(&filter, MAX_LINES) {
        let trace = if l.trace_id.is_empty() {
            String::new()
        } else {
            format!(
                "<a href=\"/traces/{trace}\"><code>{trace}</code></a>",
                trace = escape(&l.trace_id)
            )
        };
        rows.push_str(&format!(
            "<tr><td>{process}</td><td>{level}</td><td>{message} <code>{fields}</code></td><td>{span}</td><td>{trace}</td></tr>",
            process = escape(&l.process),
            level = escape(&l.log.level),
            message = escape(&l.log.message),
            fields = fields(&l.log),
            span = escape(&l.span),
        ));
    }
    let input = |name: &str, value: &str| {
        format!(
            "<label>{name} <input name=\"{name}\" value=\"{}\"></label> ",
            escape(value)
        )
    };
    let body = format!(
        "<form>{}{}{}{}<button>search</button></form><table><tr><th>process</th><th>level</th><th>message</th><th>span</th><th>trace</th></tr>{rows}</table>",
        input("process", &filter.process),
        input("level", &filter.level),
        input("trace", &filter.trace),
        input("text", &filter.text),
    );
    page(&c, "Logs", &body).into_response()
}

async fn system_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Err(r) = admin(&c, &headers).await {
        return r;
    }
    let Some(live) = &c.live else {
        let body = format!(
            "<div class=\"scroll\">{}</div><p>No registry to follow: the live view needs `discovery = \"registry\"`.</p>",
            diagram::svg(c.topology, &|_| None)
        );
        return page(&c, "System", &body).into_response();
    };
    let view = live.view();
    let drawing = diagram::svg(c.topology, &|name| {
        let all = view.registry.services.get(name).map_or(0, Vec::len);
        // The registry does not register itself; every other process does.
        (all > 0 || name != "registry").then(|| (view.registry.healthy(name).len(), all))
    });
    let mut map = String::new();
    for n in c.topology {
        let up = view.registry.healthy(n.name).len();
        let all = view.registry.services.get(n.name).map_or(0, Vec::len);
        map.push_str(&format!(
            "<tr class=\"node\" data-process=\"{name}\" data-up=\"{up}\"><td>{name}</td><td class=\"{class}\">{up} of {all} up</td><td>{callers}</td><td>{publishes}</td><td>{consumes}</td></tr>",
            name = escape(n.name),
            class = if up == 0 && all > 0 { "error" } else { "" },
            callers = escape(&n.callers.join(", ")),
            publishes = escape(&n.publishes.join(", ")),
            consumes = escape(&n.consumes.join(", ")),
        ));
    }
    let mut instances = String::new();
    for (service, list) in &view.registry.services {
        for i in list {
            instances.push_str(&format!(
                "<tr data-service=\"{service}\"><td>{service}</td><td><code>{address}</code></td><td>{version}</td><td class=\"{class}\">{health:?}</td></tr>",
                service = escape(service),
                address = escape(&i.address),
                version = escape(&i.version),
                class = if i.health == crate::platform::registry::Health::Up { "" } else { "error" },
                health = i.health,
            ));
        }
    }
    let mut routes = String::new();
    for r in &view.routes {
        routes.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{:.1}</td><td class=\"{}\">{:.1}</td><td>{}</td></tr>",
            escape(&r.process),
            escape(&r.route),
            r.per_second,
            if r.errors_per_second > 0.0 { "error" } else { "" },
            r.errors_per_second,
            r.p95_ms.map_or_else(|| "–".to_string(), |p| format!("≤ {p} ms")),
        ));
    }
    let mut breakers = String::new();
    for b in &view.breakers {
        breakers.push_str(&format!(
            "<tr class=\"breaker\" data-service=\"{s}\" data-state=\"{state}\"><td>{s}</td><td class=\"{class}\">{state}</td></tr>",
            s = escape(&b.service),
            state = b.state,
            class = if b.state == "closed" { "" } else { "error" },
        ));
    }
    let mut messaging = String::new();
    for m in &view.messaging {
        messaging.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{:.1} s</td><td>{}</td><td>{}</td></tr>",
            escape(&m.process),
            m.outbox_pending,
            if m.dead_letters > 0.0 { "error" } else { "" },
            m.dead_letters,
            m.lag_seconds,
            m.sagas_started,
            m.compensations,
        ));
    }
    let unreachable = if view.unreachable.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"error\">No metrics from: {}</p>",
            escape(&view.unreachable.join(", "))
        )
    };
    let body = format!(
        "{unreachable}<h2>Topology</h2><div class=\"scroll\">{drawing}</div><table><tr><th>process</th><th>instances</th><th>called by</th><th>publishes</th><th>consumes</th></tr>{map}</table>\
         <h2>Instances</h2><table><tr><th>process</th><th>address</th><th>version</th><th>health</th></tr>{instances}</table>\
         <h2>Requests (last {every} s)</h2><table><tr><th>process</th><th>route</th><th>per s</th><th>errors per s</th><th>p95</th></tr>{routes}</table>\
         <h2>Gateway breakers</h2><table><tr><th>service</th><th>state</th></tr>{breakers}</table>\
         <h2>Messaging</h2><table><tr><th>process</th><th>outbox backlog</th><th>dead letters</th><th>read-model lag</th><th>sagas started</th><th>compensations</th></tr>{messaging}</table>\
         <script>setTimeout(()=>location.reload(),{refresh})</script>",
        every = live::EVERY.as_secs(),
        refresh = live::EVERY.as_millis(),
    );
    page(&c, "System", &body).into_response()
}

async fn sagas_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Err(r) = admin(&c, &headers).await {
        return r;
    }
    let Some(live) = &c.live else {
        return page(
            &c,
            "Sagas",
            "<p>No registry to follow: the saga owners are found through it.</p>",
        )
        .into_response();
    };
    let owned = sagas::instances(
        &c.http,
        &live.view().registry,
        token(&headers).unwrap_or_default(),
    )
    .await;
    page(&c, "Sagas", &sagas::list_html(&owned)).into_response()
}

async fn saga_page(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path((service, saga, id)): Path<(String, String, String)>,
) -> Response {
    if let Err(r) = admin(&c, &headers).await {
        return r;
    }
    let answer = match &c.live {
        Some(live) => {
            sagas::instance(
                &c.http,
                &live.view().registry,
                token(&headers).unwrap_or_default(),
                &service,
                &saga,
                &id,
            )
            .await
        }
        None => None,
    };
    match answer {
        Some(a) => {
            page(&c, &format!("Saga {saga} {id}"), &sagas::instance_html(&a)).into_response()
        }
        None => (StatusCode::NOT_FOUND, page(&c, "No such saga instance", "")).into_response(),
    }
}

async fn sign_in_page(State(c): State<Arc<Console>>) -> Html<String> {
    page(
        &c,
        "Sign in",
        "<form method=\"post\" action=\"/sign-in\"><label>user <input id=\"username\" name=\"username\"></label> <label>password <input id=\"password\" type=\"password\" name=\"password\"></label> <button id=\"sign-in\">sign in</button></form>",
    )
}

#[derive(serde::Deserialize)]
struct SignIn {
    username: String,
    password: String,
}

async fn sign_in(State(c): State<Arc<Console>>, body: Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<SignIn>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "username and password are required",
        )
            .into_response();
    };
    let Some(url) = &c.auth_url else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    };
    let token = crate::platform::web::password_grant(&c.http, url, &form.username, &form.password)
        .await
        .ok()
        .flatten();
    match token {
        Some(t) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (
                    header::SET_COOKIE,
                    format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Secure"),
                ),
            ],
        )
            .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            page(
                &c,
                "Sign in",
                "<p class=\"error\">wrong user name or password</p>",
            ),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    fn console() -> Router {
        routes(ConsoleConfig {
            title: "shop".into(),
            auth: None,
            auth_url: None,
            registry_url: None,
            topology: &[],
        })
    }

    async fn call(app: &Router, request: http::Request<axum::body::Body>) -> (StatusCode, String) {
        let r = app.clone().oneshot(request).await.unwrap();
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn received_spans_and_logs_show_as_a_trace_list_a_waterfall_and_a_log_search() {
        let app = console();
        let export = store::tests::export(
            "orders",
            &[
                (7, 1, 0, "POST /orders", 0, 1_000_000),
                (7, 2, 1, "publish shop.OrderCreated", 100_000, 200_000),
            ],
        );
        let (status, _) = call(
            &app,
            http::Request::post("/v1/traces")
                .header(header::CONTENT_TYPE, "application/x-protobuf")
                .body(axum::body::Body::from(export.encode_to_vec()))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let logs = store::tests::log_export(
            "orders",
            &[
                (7, 2, "INFO", "published shop.OrderCreated", 150_000),
                (0, 0, "WARN", "broker slow", 10),
            ],
        );
        let (status, _) = call(
            &app,
            http::Request::post("/v1/logs")
                .header(header::CONTENT_TYPE, "application/x-protobuf")
                .body(axum::body::Body::from(logs.encode_to_vec()))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let get = |uri: &str| {
            http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let trace = "07".repeat(16);
        let (_, list) = call(&app, get("/")).await;
        assert!(
            list.contains(&trace) && list.contains("orders: POST /orders"),
            "{list}"
        );
        let (_, waterfall) = call(&app, get(&format!("/traces/{trace}"))).await;
        assert!(waterfall.contains("publish shop.OrderCreated"));
        assert!(
            waterfall.contains("padding-left:24px"),
            "the child is indented"
        );
        assert!(
            waterfall.contains("info published shop.OrderCreated status=200"),
            "the span's log line under it: {waterfall}"
        );
        let (_, logs) = call(&app, get("/logs?text=publish")).await;
        assert!(
            logs.contains("published shop.OrderCreated")
                && logs.contains("<td>publish shop.OrderCreated</td>")
                && !logs.contains("broker slow"),
            "{logs}"
        );
        let (_, warnings) = call(&app, get("/logs?level=warn")).await;
        assert!(warnings.contains("broker slow"), "{warnings}");
        let (status, _) = call(
            &app,
            http::Request::post("/v1/traces")
                .body(axum::body::Body::from("<html>"))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn without_a_registry_the_system_page_still_draws_the_topology() {
        let app = routes(ConsoleConfig {
            title: "shop".into(),
            auth: None,
            auth_url: None,
            registry_url: None,
            topology: &[
                Node {
                    name: "gateway",
                    callers: &[],
                    publishes: &[],
                    consumes: &[],
                },
                Node {
                    name: "orders",
                    callers: &["gateway"],
                    publishes: &[],
                    consumes: &[],
                },
            ],
        });
        let (status, system) = call(
            &app,
            http::Request::get("/system")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            system.contains("<g class=\"node unknown\" data-process=\"orders\"")
                && system.contains("data-from=\"gateway\" data-to=\"orders\"")
                && system.contains("No registry to follow"),
            "{system}"
        );
    }

    #[tokio::test]
    async fn with_auth_the_pages_need_an_admin() {
        let signer = crate::security::jwt::Signer::from_seed("k", &[5u8; 32]);
        let verifier = Verifier::fixed(
            crate::security::jwt::Jwks {
                keys: vec![signer.jwk()],
            },
            "shop",
        );
        let app = routes(ConsoleConfig {
            title: "shop".into(),
            auth: Some(Arc::new(verifier)),
            auth_url: Some("http://127.0.0.1:1".into()),
            registry_url: None,
            topology: &[],
        });
        let token = |roles: &[&str]| {
            signer.sign(&crate::security::jwt::Claims {
                sub: "u".into(),
                iss: "shop-auth".into(),
                aud: "shop".into(),
                exp: crate::security::jwt::now_secs() + 60,
                iat: crate::security::jwt::now_secs(),
                nbf: None,
                jti: "j".into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                name: None,
                svc: None,
            })
        };
        let get = |cookie: Option<String>| {
            let mut r = http::Request::get("/logs");
            if let Some(c) = cookie {
                r = r.header(header::COOKIE, format!("{COOKIE}={c}"));
            }
            r.body(axum::body::Body::empty()).unwrap()
        };
        assert_eq!(call(&app, get(None)).await.0, StatusCode::SEE_OTHER);
        assert_eq!(
            call(&app, get(Some(token(&["customer"])))).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            call(&app, get(Some(token(&["admin"])))).await.0,
            StatusCode::OK
        );
    }
}
