//! The API gateway: one entry point that routes each request by path prefix to a service,
//! chosen from the registry's healthy instances (or a DNS name under Kubernetes), round robin.
//!
//! Per request: CORS (`tower-http`'s `CorsLayer`, preflights answered here: `cors.rs`), the
//! bearer JWT checked against the auth service's JWKS and the route's roles for the method
//! (401 / 403), a token-bucket rate limit per client identity (the token's subject, else the
//! client's socket address, also for refused tokens; 429 with `Retry-After`), the upstream's
//! circuit breaker (503 at once while open: the fallback; it counts each request's final
//! outcome, after the retry), a timeout per route (504), one retry on another instance (the
//! same one when it is the only one, except after a timeout) when the request never reached an
//! upstream or is idempotent, `x-request-id`, `x-forwarded-for` and W3C `traceparent`
//! propagation, and metrics: `gateway_requests_total{route,status}`,
//! `gateway_request_duration_seconds{route}`, `gateway_upstream_errors_total{service,kind}`,
//! `gateway_breaker_state{service}`. Routes come from the blueprint, plus the gateway's
//! configured `routes`, which change at run time through the config server ([`routes`]);
//! upstream instances change at run time through the registry watch, both without restart.

pub mod client_ip;
mod cors;
pub mod docs;
pub mod routes;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

use crate::platform::discovery::Watcher;
use crate::resilience::breaker::{Breaker, BreakerConfig, BreakerState};
use crate::resilience::rate_limit::RateLimiter;
use crate::service::http_client::{HttpClient, HttpError};

/// Largest request body the gateway buffers (it keeps it to retry on another instance).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// The largest body of a caller without a token (a public route, a login): 400 slow uploads to
/// `/oauth` held about 3 GiB with the signed-in limit.
pub const ANONYMOUS_MAX_BODY: usize = 256 * 1024;

/// How long a request body may take to arrive (a slow upload holds memory and a connection).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests in flight at most by default (`max-in-flight`); more are answered 503 at once, so
/// a flood costs bounded memory instead of queueing.
pub const MAX_IN_FLIGHT: usize = 1024;

/// A route of the blueprint: requests under `prefix` go to `service`.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub prefix: &'static str,
    pub service: &'static str,
    /// Roles allowed to read (`GET`, `HEAD`); empty = any signed-in user.
    pub read: &'static [&'static str],
    /// Roles allowed to write; empty = any signed-in user.
    pub write: &'static [&'static str],
    /// Reachable without a token (the token endpoint, the JWKS).
    pub public: bool,
}

/// Where the instances of a service are found.
#[derive(Clone)]
pub enum Upstreams {
    /// Healthy instances from the registry.
    Registry(Watcher),
    /// One address per service (Kubernetes Service DNS names, or fixed addresses).
    Fixed(BTreeMap<String, String>),
}

impl Upstreams {
    /// The registry at the setting `registry-url` when there is one, else `dns`: each service's
    /// fixed address (a Kubernetes Service name and port), which the setting `<service>-url`
    /// (`APP_ORDERS_URL=http://10.0.0.5:8103`) replaces, as it does for call clients.
    pub fn from_settings(
        settings: &crate::service::config::Settings,
        dns: &[(&str, &str)],
    ) -> Self {
        match settings.registry_url.as_deref() {
            Some(url) => Self::Registry(Watcher::start(
                crate::platform::discovery::RegistryClient::new(url),
            )),
            None => Self::Fixed(
                dns.iter()
                    .map(|(s, a)| {
                        let key = format!("{}_url", s.replace('-', "_"));
                        let address = settings.text(&key).map_or(*a, |url| {
                            let url = url.trim_end_matches('/');
                            url.split_once("://").map_or(url, |(_, rest)| rest)
                        });
                        ((*s).to_string(), address.to_string())
                    })
                    .collect(),
            ),
        }
    }

    fn addresses(&self, service: &str) -> Vec<String> {
        match self {
            Self::Registry(w) => w
                .current()
                .healthy(service)
                .into_iter()
                .map(|i| i.address.clone())
                .collect(),
            Self::Fixed(m) => m.get(service).cloned().into_iter().collect(),
        }
    }
}

/// Everything the gateway needs.
pub struct GatewayConfig {
    /// Title of the merged API document (`<system> API`).
    pub title: String,
    pub routes: Vec<Route>,
    /// Every service of the system: what configured routes may name (each gets a breaker).
    pub services: Vec<&'static str>,
    /// The `routes` of the gateway's settings at start ([`routes`]); [`Self::with_settings`]
    /// reads them.
    pub configured_routes: Option<serde_json::Value>,
    pub upstreams: Upstreams,
    pub timeout: Duration,
    /// (per second, burst) per client identity.
    pub rate_limit: Option<(u32, u32)>,
    /// Origins allowed by CORS (`[gateway].cors`, `*` = any); empty = no CORS headers.
    pub cors: Vec<String>,
    pub breaker: BreakerConfig,
    /// JWT checks against the auth service's keys; `None` = an open system (no `[auth]`).
    pub auth: Option<Arc<crate::security::jwt::Verifier>>,
    /// The central session store (`sessions = "redis"`): opaque tokens are looked up there and
    /// the JWT behind them is forwarded. `None` = tokens are JWTs.
    pub sessions: Option<Arc<dyn crate::platform::sessions::Sessions>>,
    /// Proxies whose `X-Forwarded-For` names the client (`trusted-proxies`, [`client_ip`]).
    pub trusted_proxies: Vec<client_ip::Cidr>,
    /// Requests in flight at most (`max-in-flight`, default [`MAX_IN_FLIGHT`]).
    pub max_in_flight: usize,
}

impl GatewayConfig {
    /// Applies the settings that tune the blueprint's values without regenerating:
    /// `timeout-ms`, `rate-limit-per-second`, `rate-limit-burst`, `breaker-window`,
    /// `breaker-min-calls`, `breaker-failure-rate`, `breaker-open-ms`, `trusted-proxies`,
    /// `max-in-flight`.
    #[must_use]
    pub fn with_settings(mut self, settings: &crate::service::config::Settings) -> Self {
        let int = |k: &str| settings.int(k).and_then(|v| u64::try_from(v).ok());
        if let Some(ms) = int("timeout_ms") {
            self.timeout = Duration::from_millis(ms);
        }
        let (per_second, burst) = self.rate_limit.unwrap_or((0, 0));
        let per_second = int("rate_limit_per_second").map_or(per_second, |v| v as u32);
        let burst = int("rate_limit_burst").map_or(burst, |v| v as u32);
        if per_second > 0 {
            self.rate_limit = Some((per_second, burst.max(1)));
        }
        if let Some(v) = int("breaker_window") {
            self.breaker.window = v as usize;
        }
        if let Some(v) = int("breaker_min_calls") {
            self.breaker.min_calls = v as usize;
        }
        if let Some(v) = settings
            .extra
            .get("breaker_failure_rate")
            .and_then(toml::Value::as_float)
        {
            self.breaker.failure_rate = v;
        }
        if let Some(ms) = int("breaker_open_ms") {
            self.breaker.open_for = Duration::from_millis(ms);
        }
        if let Some(n) = int("max_in_flight") {
            self.max_in_flight = usize::try_from(n).unwrap_or(MAX_IN_FLIGHT).max(1);
        }
        if let Some(list) = settings.text("trusted_proxies") {
            self.trusted_proxies = client_ip::parse_list(list);
        }
        if let Some(routes) = settings.extra.get("routes") {
            match serde_json::to_value(routes) {
                Ok(v) => self.configured_routes = Some(v),
                Err(e) => tracing::warn!(error = %e, "configured routes unreadable"),
            }
        }
        self
    }
}

pub(crate) struct Gateway {
    /// The system's name, the title of the merged API document.
    title: String,
    docs: docs::Cache,
    routes: Arc<routes::RouteTable>,
    upstreams: Upstreams,
    timeout: Duration,
    limiter: Option<RateLimiter>,
    cors: cors::Cors,
    breakers: BTreeMap<&'static str, Breaker>,
    next: BTreeMap<&'static str, AtomicUsize>,
    http: HttpClient,
    auth: Option<Arc<crate::security::jwt::Verifier>>,
    sessions: Option<Arc<dyn crate::platform::sessions::Sessions>>,
    trusted_proxies: Vec<client_ip::Cidr>,
    in_flight: tokio::sync::Semaphore,
    series: std::sync::RwLock<
        std::collections::HashMap<(&'static str, u16), crate::service::metrics::Series>,
    >,
}

/// The gateway's router: every path goes through the proxy.
pub fn router(config: GatewayConfig) -> Router {
    let mut services: Vec<&'static str> = config.services;
    services.extend(config.routes.iter().map(|r| r.service));
    services.sort_unstable();
    services.dedup();
    // Longest prefix first, so `/orders/archive` wins over `/orders`.
    let routes = Arc::new(routes::RouteTable::new(config.routes, services.clone()));
    if let Some(configured) = &config.configured_routes {
        routes.apply(configured);
    }
    routes.follow(Duration::from_secs(1));
    let gw = Gateway {
        title: config.title,
        docs: docs::Cache::default(),
        breakers: services
            .iter()
            .map(|s| (*s, Breaker::new(config.breaker)))
            .collect(),
        next: services.iter().map(|s| (*s, AtomicUsize::new(0))).collect(),
        routes,
        upstreams: config.upstreams,
        timeout: config.timeout,
        limiter: config
            .rate_limit
            .map(|(per_second, burst)| RateLimiter::new(per_second, burst)),
        cors: cors::Cors::new(&config.cors),
        http: HttpClient::new(),
        auth: config.auth,
        sessions: config.sessions,
        trusted_proxies: config.trusted_proxies,
        in_flight: tokio::sync::Semaphore::new(config.max_in_flight.max(1)),
        series: std::sync::RwLock::default(),
    };
    let gw = Arc::new(gw);
    Router::new()
        .route(
            "/openapi.json",
            axum::routing::get(docs::merged).with_state(gw.clone()),
        )
        .fallback(proxy)
        .with_state(gw)
}

fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail.into(),
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn retry_after(mut r: Response, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Whether `path` is `prefix` or below it.
pub fn matches(prefix: &str, path: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        h.remove(name);
    }
}

impl Gateway {
    fn route(&self, path: &str) -> Option<Route> {
        self.routes
            .current()
            .iter()
            .find(|r| matches(r.prefix, path))
            .copied()
    }

    /// The rate-limit identity of a caller without a verified token: its address, read from
    /// `X-Forwarded-For` only behind a trusted proxy ([`client_ip`]).
    fn identity(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
        client_ip::client_ip(peer, headers, &self.trusted_proxies)
            .map_or_else(|| "anonymous".into(), |ip| format!("ip:{ip}"))
    }

    /// The service's healthy addresses, starting at its round-robin position.
    fn candidates(&self, service: &str) -> Vec<String> {
        let mut all = self.upstreams.addresses(service);
        if let Some(next) = self.next.get(service) {
            crate::platform::discovery::round_robin(&mut all, next);
        }
        all
    }

    /// The request counter (by route and status) and latency histogram (by route) of a
    /// request, made once per label set.
    fn series(&self, route: &'static str, status: u16) -> crate::service::metrics::Series {
        if let Ok(map) = self.series.read()
            && let Some(s) = map.get(&(route, status))
        {
            return s.clone();
        }
        let s = crate::service::metrics::Series {
            requests: metrics::counter!("gateway_requests_total", "route" => route, "status" => status.to_string()),
            latency: metrics::histogram!("gateway_request_duration_seconds", "route" => route),
        };
        if let Ok(mut map) = self.series.write() {
            map.insert((route, status), s.clone());
        }
        s
    }

    fn record(&self, service: &'static str, ok: bool) {
        if let Some(b) = self.breakers.get(service) {
            let state = b.record(ok);
            metrics::gauge!("gateway_breaker_state", "service" => service).set(state.gauge());
        }
    }
}

struct Outgoing<'a> {
    method: &'a Method,
    path_and_query: &'a str,
    body: &'a Bytes,
}

enum Attempt {
    Answered(Response),
    /// Never reached an upstream: safe to try another for any method.
    NotSent(String),
    /// Sent, but failed or timed out: retry only an idempotent request.
    Failed(StatusCode, String),
}

impl Gateway {
    async fn attempt(
        &self,
        service: &'static str,
        address: &str,
        out: &Outgoing<'_>,
        headers: HeaderMap,
    ) -> Attempt {
        use tracing::Instrument;
        let span = crate::service::telemetry::client_span(out.method.as_str(), service);
        self.attempt_in_span(service, address, out, headers)
            .instrument(span)
            .await
    }

    async fn attempt_in_span(
        &self,
        service: &'static str,
        address: &str,
        out: &Outgoing<'_>,
        headers: HeaderMap,
    ) -> Attempt {
        // The upstream's span is a child of this attempt's (when spans are exported).
        #[cfg(feature = "otlp")]
        let headers = {
            let mut headers = headers;
            if let Some(v) = crate::service::telemetry::current_traceparent()
                .and_then(|tp| HeaderValue::from_str(&tp).ok())
            {
                headers.insert(HeaderName::from_static("traceparent"), v);
            }
            headers
        };
        let uri = format!("http://{address}{}", out.path_and_query);
        let mut builder = http::Request::builder().method(out.method.clone()).uri(uri);
        if let Some(h) = builder.headers_mut() {
            *h = headers;
        }
        let request = match builder.body(Body::from(out.body.clone())) {
            Ok(r) => r,
            Err(e) => return Attempt::Failed(StatusCode::BAD_REQUEST, e.to_string()),
        };
        match self.http.send(request, self.timeout).await {
            Ok(response) => {
                let status = response.status();
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let response = Response::from_parts(parts, Body::new(body));
                if status.is_server_error() {
                    metrics::counter!("gateway_upstream_errors_total", "service" => service, "kind" => "status")
                        .increment(1);
                    if idempotent(out.method)
                        && matches!(
                            status,
                            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE
                        )
                    {
                        return Attempt::Failed(status, format!("{service} answered {status}"));
                    }
                }
                Attempt::Answered(response)
            }
            Err(e) => {
                let kind = match &e {
                    HttpError::Connect { .. } => "connect",
                    HttpError::Timeout { .. } => "timeout",
                    _ => "io",
                };
                metrics::counter!("gateway_upstream_errors_total", "service" => service, "kind" => kind)
                    .increment(1);
                tracing::warn!(%service, %address, error = %e, "upstream call failed");
                match e {
                    HttpError::Connect { message, .. } => Attempt::NotSent(message),
                    HttpError::Timeout { .. } => Attempt::Failed(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!(
                            "{service} did not answer within {} ms",
                            self.timeout.as_millis()
                        ),
                    ),
                    other => Attempt::Failed(StatusCode::BAD_GATEWAY, other.to_string()),
                }
            }
        }
    }
}

async fn proxy(State(gw): State<Arc<Gateway>>, request: Request) -> Response {
    let started = Instant::now();
    let Ok(_permit) = gw.in_flight.try_acquire() else {
        metrics::counter!("gateway_shed_total").increment(1);
        return retry_after(
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the gateway is at capacity; try again",
            ),
            Duration::from_secs(1),
        );
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (route_label, response) = gw
        .cors
        .serve(request, |request| handle(&gw, peer, request))
        .await;
    let series = gw.series(route_label, response.status().as_u16());
    series.requests.increment(1);
    series.latency.record(started.elapsed().as_secs_f64());
    response
}

async fn handle(
    gw: &Gateway,
    peer: Option<SocketAddr>,
    request: Request,
) -> (&'static str, Response) {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path();
    let Some(route) = gw.route(path) else {
        return (
            "unrouted",
            problem(StatusCode::NOT_FOUND, format!("no route for {path}")),
        );
    };
    let limited = |identity: &str| {
        let wait = gw.limiter.as_ref()?.check(identity).err()?;
        Some(retry_after(
            problem(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit exceeded; slow down",
            ),
            wait,
        ))
    };
    let subject = match authorize(gw, &route, &parts.method, &parts.headers).await {
        Ok(s) => s,
        Err(r) => {
            // Refused callers are limited by address, so a flood of bad tokens is throttled.
            let r = limited(&gw.identity(peer, &parts.headers)).unwrap_or(r);
            return (route.prefix, r);
        }
    };
    let identity = match &subject {
        Some(caller) => format!("sub:{}", caller.sub),
        None => gw.identity(peer, &parts.headers),
    };
    if let Some(r) = limited(&identity) {
        return (route.prefix, r);
    }
    let limit = if subject.is_some() {
        MAX_BODY
    } else {
        ANONYMOUS_MAX_BODY
    };
    let body =
        match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => {
                return (
                    route.prefix,
                    problem(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("request body over {limit} bytes"),
                    ),
                );
            }
            Err(_) => {
                return (
                    route.prefix,
                    problem(StatusCode::REQUEST_TIMEOUT, "request body too slow"),
                );
            }
        };
    if let Some(b) = gw.breakers.get(route.service)
        && let Err(wait) = b.admit()
    {
        metrics::gauge!("gateway_breaker_state", "service" => route.service)
            .set(BreakerState::Open.gauge());
        return (
            route.prefix,
            retry_after(
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "{} is unavailable (circuit open); try again later",
                        route.service
                    ),
                ),
                wait,
            ),
        );
    }
    // From here every admitted request records exactly one outcome, or, when the client goes
    // away and this future is dropped, gives its permission back (a half-open breaker would
    // otherwise wait for it forever).
    let mut outcome = Outcome {
        gw,
        service: route.service,
        recorded: false,
    };
    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    forward_headers(&mut headers, peer);
    if let Some(jwt) = subject.and_then(|c| c.session_jwt) {
        // The service sees the JWT behind the session, never the session token.
        match HeaderValue::from_str(&format!("Bearer {jwt}")) {
            Ok(v) => {
                headers.insert(header::AUTHORIZATION, v);
            }
            Err(_) => {
                outcome.record(false);
                return (
                    route.prefix,
                    problem(StatusCode::BAD_GATEWAY, "session holds a malformed token"),
                );
            }
        }
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or(path, http::uri::PathAndQuery::as_str);
    let out = Outgoing {
        method: &parts.method,
        path_and_query,
        body: &body,
    };
    let candidates = gw.candidates(route.service);
    if candidates.is_empty() {
        outcome.record(false);
        return (
            route.prefix,
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no healthy instance of {}", route.service),
            ),
        );
    }
    let mut last = (StatusCode::BAD_GATEWAY, String::new());
    // Two tries: the next instance, or the same one when it is the only one (a pooled
    // connection the upstream closed under us fails once, then a fresh one works).
    let single = candidates.len() == 1;
    let tries = [candidates.first(), candidates.get(1).or(candidates.first())];
    let mut headers = headers;
    for (i, address) in tries.into_iter().flatten().enumerate() {
        let h = if i == 0 {
            headers.clone()
        } else {
            std::mem::take(&mut headers)
        };
        match gw.attempt(route.service, address, &out, h).await {
            Attempt::Answered(r) => {
                outcome.record(!crate::resilience::breaker::is_failure(r.status().as_u16()));
                return (route.prefix, r);
            }
            Attempt::NotSent(m) => last = (StatusCode::BAD_GATEWAY, m),
            Attempt::Failed(status, m) => {
                // A timeout is not retried on the instance that timed out.
                let stop =
                    !idempotent(&parts.method) || (single && status == StatusCode::GATEWAY_TIMEOUT);
                last = (status, m);
                if stop {
                    break;
                }
            }
        }
        if i == 0 {
            tracing::info!(service = route.service, "retrying the request once");
        }
    }
    outcome.record(false);
    (route.prefix, problem(last.0, last.1))
}

/// Records an admitted request's outcome with its breaker once; gives the permission back when
/// dropped unrecorded (the client went away).
struct Outcome<'a> {
    gw: &'a Gateway,
    service: &'static str,
    recorded: bool,
}

impl Outcome<'_> {
    fn record(&mut self, ok: bool) {
        if !self.recorded {
            self.recorded = true;
            self.gw.record(self.service, ok);
        }
    }
}

impl Drop for Outcome<'_> {
    /// The client went away before an outcome: the upstream is not to blame, but a half-open
    /// probe slot must not stay taken.
    fn drop(&mut self) {
        if !self.recorded
            && let Some(b) = self.gw.breakers.get(self.service)
        {
            b.release();
        }
    }
}

/// A signed-in caller.
struct Caller {
    sub: String,
    /// The JWT to forward in place of the caller's session token.
    session_jwt: Option<String>,
}

/// Checks the bearer token and the route's roles: `Ok(Some(caller))` for a signed-in caller,
/// `Ok(None)` when no check applies, else the 401 or 403 answer.
async fn authorize(
    gw: &Gateway,
    route: &Route,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Option<Caller>, Response> {
    let Some(verifier) = &gw.auth else {
        return Ok(None);
    };
    if route.public {
        return Ok(None);
    }
    let unauthorized = |detail: String| {
        metrics::counter!("gateway_auth_refused_total", "status" => "401").increment(1);
        let mut r = problem(StatusCode::UNAUTHORIZED, detail);
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    };
    let token = crate::security::jwt::bearer(headers)
        .ok_or_else(|| unauthorized("a bearer token is required".into()))?;
    let mut session_jwt = None;
    if let Some(sessions) = &gw.sessions
        && crate::platform::sessions::is_session_token(token)
    {
        // No cache here: a revoked session is refused from the next request on.
        match sessions.lookup(token).await {
            Ok(Some(jwt)) => session_jwt = Some(jwt),
            Ok(None) => return Err(unauthorized("unknown or ended session".into())),
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                return Err(problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the session store is unavailable; try again later",
                ));
            }
        }
    }
    let claims = verifier
        .verify(session_jwt.as_deref().unwrap_or(token))
        .await
        .map_err(|e| unauthorized(e.to_string()))?;
    let allowed = if matches!(*method, Method::GET | Method::HEAD) {
        route.read
    } else {
        route.write
    };
    if !allowed.is_empty() && !claims.roles.iter().any(|r| allowed.contains(&r.as_str())) {
        metrics::counter!("gateway_auth_refused_total", "status" => "403").increment(1);
        return Err(problem(
            StatusCode::FORBIDDEN,
            format!(
                "{method} {} needs one of the roles {allowed:?}",
                route.prefix
            ),
        ));
    }
    Ok(Some(Caller {
        sub: claims.sub,
        session_jwt,
    }))
}

fn forward_headers(headers: &mut HeaderMap, peer: Option<SocketAddr>) {
    // The request's trace (from its `traceparent`, or the one the gateway started) continues
    // upstream; the request id is the trace id unless the client sent one.
    let trace_id = crate::service::telemetry::current_trace_id()
        .unwrap_or_else(crate::service::telemetry::new_trace_id);
    if !headers.contains_key("traceparent") {
        let tp = format!(
            "00-{trace_id}-{}-01",
            crate::service::telemetry::new_span_id()
        );
        if let Ok(v) = HeaderValue::from_str(&tp) {
            headers.insert(HeaderName::from_static("traceparent"), v);
        }
    }
    if !headers.contains_key("x-request-id")
        && let Ok(v) = HeaderValue::try_from(trace_id)
    {
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
    if let Some(p) = peer {
        let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prev) => format!("{prev}, {}", p.ip()),
            None => p.ip().to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An open gateway (no auth, no rate limit, no CORS) with one public route to `prefix`'s
    /// service, named like the prefix.
    fn config(prefix: &'static str, upstreams: Upstreams) -> GatewayConfig {
        GatewayConfig {
            title: "t".into(),
            routes: vec![Route {
                prefix,
                service: prefix.trim_start_matches('/'),
                read: &[],
                write: &[],
                public: true,
            }],
            upstreams,
            timeout: Duration::from_secs(5),
            rate_limit: None,
            cors: Vec::new(),
            breaker: BreakerConfig::default(),
            auth: None,
            sessions: None,
            trusted_proxies: Vec::new(),
            max_in_flight: MAX_IN_FLIGHT,
            services: Vec::new(),
            configured_routes: None,
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(matches("/orders", "/orders"));
        assert!(matches("/orders", "/orders/1"));
        assert!(!matches("/orders", "/orders-archive"));
        assert!(!matches("/orders", "/order"));
    }

    /// Attack (issue 22): one request's 500 (bad input the upstream could not store) was
    /// counted against the breaker, so a few of them shut the route for everyone. Only
    /// unavailability counts now; and an anonymous body over the small limit is refused.
    #[tokio::test]
    async fn server_errors_do_not_open_the_breaker_and_anonymous_bodies_are_small() {
        use tower::ServiceExt;
        let upstream = Router::new().route(
            "/auth",
            axum::routing::post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, upstream).await });
        let mut config = config(
            "/auth",
            Upstreams::Fixed([("auth".to_string(), addr.to_string())].into()),
        );
        config.breaker = BreakerConfig {
            window: 4,
            min_calls: 2,
            failure_rate: 0.5,
            open_for: Duration::from_secs(30),
            half_open_probes: 1,
        };
        let app = router(config);
        let post = |size: usize| {
            Request::post("/auth")
                .body(Body::from(vec![b'x'; size]))
                .unwrap()
        };
        for _ in 0..10 {
            let r = app.clone().oneshot(post(10)).await.unwrap();
            assert_eq!(
                r.status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "passed on, not 503"
            );
        }
        let r = app
            .clone()
            .oneshot(post(ANONYMOUS_MAX_BODY + 1))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    /// Attack (issue 22): requests beyond the in-flight cap are shed with 503 at once instead of
    /// queueing (400 slow uploads held about 3 GiB).
    #[tokio::test]
    async fn requests_beyond_the_in_flight_cap_are_shed() {
        use tower::ServiceExt;
        let slow = Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "late"
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, slow).await });
        let mut config = config(
            "/slow",
            Upstreams::Fixed([("slow".to_string(), addr.to_string())].into()),
        );
        config.max_in_flight = 1;
        let app = router(config);
        let get = || Request::get("/slow").body(Body::empty()).unwrap();
        let first = tokio::spawn(app.clone().oneshot(get()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = app.clone().oneshot(get()).await.unwrap();
        assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(second.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        let third = app.oneshot(get()).await.unwrap();
        assert_eq!(third.status(), StatusCode::OK, "the permit came back");
    }

    /// A request the client abandons still counts: without the drop guard, abandoned requests
    /// recorded nothing and could wedge a half-open breaker for good.
    #[tokio::test]
    async fn an_abandoned_request_is_not_a_failure_and_frees_its_probe() {
        use tower::ServiceExt;
        let slow = Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "late"
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, slow).await });
        let mut config = config(
            "/slow",
            Upstreams::Fixed([("slow".to_string(), addr.to_string())].into()),
        );
        config.breaker = BreakerConfig {
            window: 1,
            min_calls: 1,
            failure_rate: 0.5,
            open_for: Duration::from_secs(30),
            half_open_probes: 1,
        };
        let app = router(config);
        let get = || Request::get("/slow").body(Body::empty()).unwrap();
        let abandoned =
            tokio::time::timeout(Duration::from_millis(50), app.clone().oneshot(get())).await;
        assert!(abandoned.is_err(), "the client gave up");
        let r = app.clone().oneshot(get()).await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "an abandoned call is no failure"
        );
        // A half-open breaker whose only probe is abandoned admits the next one.
        let breaker = Breaker::new(BreakerConfig {
            window: 1,
            min_calls: 1,
            failure_rate: 0.5,
            open_for: Duration::ZERO,
            half_open_probes: 1,
        });
        breaker.record(false);
        assert!(breaker.admit().is_ok(), "half-open: the probe");
        assert!(breaker.admit().is_err(), "one probe at a time");
        breaker.release();
        assert!(
            breaker.admit().is_ok(),
            "the abandoned probe's slot is free again"
        );
    }

    /// CORS by `tower-http`: a preflight for `PATCH` with a custom header is answered for an
    /// origin of the list (the requested method and headers allowed, no credentials) and
    /// refused for any other; answers carry `Access-Control-Allow-Origin` only for a listed
    /// origin; `*` allows every origin; without origins every preflight is refused.
    #[tokio::test]
    async fn preflights_allow_the_requested_method_and_headers_for_allowed_origins_only() {
        use tower::ServiceExt;
        let gateway = |cors: &[&str]| {
            let mut config = config("/orders", Upstreams::Fixed(BTreeMap::new()));
            config.cors = cors.iter().map(|c| (*c).to_string()).collect();
            router(config)
        };
        let preflight = |origin: &str| {
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/orders/7")
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PATCH")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "content-type, x-tenant",
                )
                .body(Body::empty())
                .unwrap()
        };
        let allowed = "https://shop.example";
        let app = gateway(&[allowed, "https://admin.example"]);

        let r = app.clone().oneshot(preflight(allowed)).await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let h = r.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], allowed);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "PATCH");
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "content-type, x-tenant"
        );
        assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
        assert!(h[header::VARY].to_str().unwrap().contains("origin"));

        let r = app
            .clone()
            .oneshot(preflight("https://evil.example"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            !r.headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );

        // An answer (here the 404 of an unrouted path) names only an allowed origin.
        let get = |origin: &str| {
            Request::get("/nowhere")
                .header(header::ORIGIN, origin)
                .body(Body::empty())
                .unwrap()
        };
        let r = app.clone().oneshot(get(allowed)).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], allowed);
        let r = app
            .clone()
            .oneshot(get("https://evil.example"))
            .await
            .unwrap();
        assert!(
            !r.headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );

        // An OPTIONS request that is no preflight is forwarded (no instance here: 503).
        let options = Request::builder()
            .method(Method::OPTIONS)
            .uri("/orders")
            .header(header::ORIGIN, allowed)
            .body(Body::empty())
            .unwrap();
        let r = app.clone().oneshot(options).await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);

        let any = gateway(&["*"]);
        let r = any
            .oneshot(preflight("https://evil.example"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://evil.example"
        );

        let none = gateway(&[]);
        let r = none.oneshot(preflight(allowed)).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn only_safe_methods_are_idempotent() {
        assert!(idempotent(&Method::GET) && idempotent(&Method::PUT));
        assert!(!idempotent(&Method::POST) && !idempotent(&Method::PATCH));
    }
}
