//! Synchronous calls to another service (`[[services.calls]]`): a client per called service
//! with the blueprint's timeout, retries, circuit breaker and fallback.
//!
//! - **timeout** per attempt; **retries** more attempts (GET only) with a short doubling pause,
//!   each on the next instance;
//! - **breaker** ([`crate::resilience::breaker`], Resilience4j semantics) over the calls' final
//!   outcomes: while open, calls fail at once and go straight to the fallback;
//! - **fallback**: `error` (the caller gets [`CallError`]), `cached` (the last good answer to the
//!   same path, else the error), `default` (the type's default value).
//!
//! Instances come from `<service>-url` (a fixed base URL), else the registry (`registry-url`),
//! else the DNS name `http://<service>:<port>`. The caller's bearer token is passed on
//! ([`ServiceClient::get`] takes it), so the called service checks the same identity, with
//! this process's service identity beside it ([`crate::security::identity::call_headers`]);
//! a call without a user's token carries the service identity alone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::platform::discovery::Watcher;
use crate::resilience::backoff::Backoff;
use crate::resilience::breaker::{Breaker, BreakerConfig};
use crate::service::http_client::HttpClient;

/// What a failed call turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Error,
    Cached,
    Default,
}

/// The blueprint's `[[services.calls]]` entry.
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    pub timeout: Duration,
    pub retries: u32,
    pub breaker: BreakerConfig,
    pub fallback: Fallback,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("{service} is unavailable (circuit open)")]
    Open { service: String },
    #[error("{service} failed: {message}")]
    Failed { service: String, message: String },
    #[error("{service} answered {status}")]
    Status { service: String, status: u16 },
    #[error("{service} answered with a body that does not decode: {message}")]
    Decode { service: String, message: String },
}

/// A called service's answer becomes the caller's: its 4xx keep their meaning (the caller's
/// token refused, an unknown id, a refused value), everything else is the callee being
/// unavailable (503).
impl From<CallError> for crate::ApiError {
    fn from(e: CallError) -> Self {
        let text = e.to_string();
        match e {
            CallError::Status { status: 400, .. } => Self::BadRequest(text),
            CallError::Status { status: 401, .. } => Self::Unauthorized(text),
            CallError::Status { status: 403, .. } => Self::Forbidden(text),
            CallError::Status { status: 404, .. } => Self::NotFound(text),
            CallError::Status { status: 409, .. } => Self::Conflict(text),
            CallError::Status { status: 422, .. } => Self::Rejected(text),
            _ => Self::Unavailable(text),
        }
    }
}

/// Where a called service's instances are.
#[derive(Clone)]
pub enum Target {
    /// A fixed base URL (`http://host:port`).
    Url(String),
    Registry(Watcher),
}

/// Last good responses kept for the `cached` fallback, at most (then they are all dropped).
const CACHED_RESPONSES: usize = 10_000;
/// The pause before the first retry; each next one doubles, up to [`RETRY_PAUSE_MAX`].
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// The longest pause, from the sixth retry on.
const RETRY_PAUSE_MAX: Duration = Duration::from_millis(1600);

/// Where the `cached` fallback keeps a response: per path **and caller**, so one caller never
/// gets the answer another caller's token was given.
fn cache_key(path: &str, token: Option<&str>) -> String {
    let caller = token.map_or_else(String::new, crate::platform::auth_server::sha256_hex);
    format!("{caller} {path}")
}

/// A client of one called service.
pub struct ServiceClient {
    service: &'static str,
    target: Target,
    policy: CallPolicy,
    http: HttpClient,
    breaker: Breaker,
    cache: Mutex<HashMap<String, Bytes>>,
    next: std::sync::atomic::AtomicUsize,
}

impl ServiceClient {
    pub fn new(service: &'static str, target: Target, policy: CallPolicy) -> Self {
        Self {
            service,
            target,
            breaker: Breaker::new(policy.breaker),
            policy,
            http: HttpClient::new(),
            cache: Mutex::new(HashMap::new()),
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The client of `service` as the settings say: `<service>-url`, else the registry, else
    /// the service's DNS name and `port`.
    pub fn from_settings(
        service: &'static str,
        port: u16,
        policy: CallPolicy,
        settings: &crate::service::config::Settings,
    ) -> Self {
        let key = format!("{}_url", service.replace('-', "_"));
        let target = match (settings.text(&key), settings.registry_url.as_deref()) {
            (Some(url), _) => Target::Url(url.trim_end_matches('/').to_string()),
            (None, Some(registry)) => Target::Registry(Watcher::start(
                crate::platform::discovery::RegistryClient::new(registry),
            )),
            (None, None) => Target::Url(format!("http://{service}:{port}")),
        };
        Self::new(service, target, policy)
    }

    fn bases(&self) -> Vec<String> {
        match &self.target {
            Target::Url(u) => vec![u.clone()],
            Target::Registry(w) => {
                let mut all: Vec<String> = w
                    .current()
                    .healthy(self.service)
                    .iter()
                    .map(|i| format!("http://{}", i.address))
                    .collect();
                crate::platform::discovery::round_robin(&mut all, &self.next);
                all
            }
        }
    }

    fn failed(&self, message: impl Into<String>) -> CallError {
        CallError::Failed {
            service: self.service.to_string(),
            message: message.into(),
        }
    }

    async fn attempt(
        &self,
        base: &str,
        path: &str,
        token: Option<&str>,
    ) -> Result<Bytes, CallError> {
        use tracing::Instrument;
        let span = crate::service::telemetry::client_span("GET", self.service);
        self.attempt_in_span(base, path, token)
            .instrument(span)
            .await
    }

    async fn attempt_in_span(
        &self,
        base: &str,
        path: &str,
        token: Option<&str>,
    ) -> Result<Bytes, CallError> {
        let mut builder = Request::builder()
            .method(Method::GET)
            .uri(format!("{base}{path}"));
        // The user's token as the bearer and this process's beside it; this process's alone
        // for calls started by events, sagas and workers.
        for (name, value) in crate::security::identity::call_headers(token).await {
            builder = builder.header(name, value);
        }
        // The caller's trace goes on: the called service logs the same trace id.
        if let Some(traceparent) = crate::service::telemetry::current_traceparent() {
            builder = builder.header("traceparent", traceparent);
        }
        let request = builder
            .body(Body::empty())
            .map_err(|e| self.failed(e.to_string()))?;
        let response = self
            .http
            .send(request, self.policy.timeout)
            .await
            .map_err(|e| self.failed(e.to_string()))?;
        let status = response.status();
        let body = tokio::time::timeout(self.policy.timeout, response.into_body().collect())
            .await
            .map_err(|_| self.failed("timed out reading the body"))?
            .map_err(|e| self.failed(e.to_string()))?
            .to_bytes();
        if status.is_success() {
            Ok(body)
        } else {
            Err(CallError::Status {
                service: self.service.to_string(),
                status: status.as_u16(),
            })
        }
    }

    /// `GET path` on the service, decoded as `T`, with the policy's retries, breaker and
    /// fallback. `token` is the caller's bearer token, passed on.
    pub async fn get<T: DeserializeOwned + Default>(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> Result<T, CallError> {
        let result = self.call(path, token).await;
        let bytes = match result {
            Ok(b) => b,
            Err(e) => return self.fallback(&cache_key(path, token), e),
        };
        serde_json::from_slice(&bytes).map_err(|e| CallError::Decode {
            service: self.service.to_string(),
            message: e.to_string(),
        })
    }

    /// `GET path` on the service, its body as it is (no fallback applies), with the policy's
    /// retries and breaker.
    pub async fn get_bytes(&self, path: &str, token: Option<&str>) -> Result<Bytes, CallError> {
        self.call(path, token).await
    }

    async fn call(&self, path: &str, token: Option<&str>) -> Result<Bytes, CallError> {
        // Dropped unrecorded (the caller gave up on this call), the permit gives its
        // permission back, so an abandoned half-open probe never blocks the breaker.
        let Ok(permit) = self.breaker.permit() else {
            metrics::counter!("calls_short_circuited_total", "service" => self.service)
                .increment(1);
            return Err(CallError::Open {
                service: self.service.to_string(),
            });
        };
        let bases = self.bases();
        if bases.is_empty() {
            permit.record(false);
            return Err(self.failed("no healthy instance"));
        }
        let mut last = self.failed("not attempted");
        for n in 0..=self.policy.retries {
            if n > 0 {
                tokio::time::sleep(Backoff::nth(RETRY_PAUSE, RETRY_PAUSE_MAX, n)).await;
            }
            let base = &bases[n as usize % bases.len()];
            match self.attempt(base, path, token).await {
                Ok(bytes) => {
                    permit.record(true);
                    if self.policy.fallback == Fallback::Cached
                        && let Ok(mut c) = self.cache.lock()
                    {
                        if c.len() >= CACHED_RESPONSES {
                            c.clear();
                        }
                        c.insert(cache_key(path, token), bytes.clone());
                    }
                    return Ok(bytes);
                }
                // A 4xx, or a 500, is the service's answer, not a failure of the service:
                // only unavailability counts (and is retried).
                Err(e @ CallError::Status { status, .. })
                    if !crate::resilience::breaker::is_failure(status) =>
                {
                    permit.record(true);
                    return Err(e);
                }
                Err(e) => last = e,
            }
        }
        permit.record(false);
        metrics::counter!("calls_failed_total", "service" => self.service).increment(1);
        Err(last)
    }

    /// `key`: [`cache_key`] of the failed call.
    fn fallback<T: DeserializeOwned + Default>(
        &self,
        key: &str,
        error: CallError,
    ) -> Result<T, CallError> {
        if matches!(error, CallError::Status { status, .. } if status < 500) {
            return Err(error);
        }
        match self.policy.fallback {
            Fallback::Error => Err(error),
            Fallback::Default => {
                tracing::warn!(service = self.service, %error, "call failed; answering the default");
                Ok(T::default())
            }
            Fallback::Cached => {
                let cached = self.cache.lock().ok().and_then(|c| c.get(key).cloned());
                match cached.and_then(|b| serde_json::from_slice(&b).ok()) {
                    Some(v) => {
                        tracing::warn!(service = self.service, %error, "call failed; answering the last good response");
                        Ok(v)
                    }
                    None => Err(error),
                }
            }
        }
    }

    /// Whether the breaker currently lets calls through.
    pub fn breaker_state(&self) -> crate::resilience::breaker::BreakerState {
        self.breaker.state()
    }
}

/// The status a failed call maps to for the caller's own answer.
pub fn status_of(e: &CallError) -> StatusCode {
    match e {
        CallError::Status { status, .. } => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn a_callees_4xx_keeps_its_meaning_for_the_caller() {
        use crate::ApiError;
        let status = |status: u16| {
            ApiError::from(CallError::Status {
                service: "products".into(),
                status,
            })
        };
        assert!(matches!(status(400), ApiError::BadRequest(_)));
        assert!(matches!(status(401), ApiError::Unauthorized(_)));
        assert!(matches!(status(403), ApiError::Forbidden(_)));
        assert!(matches!(status(404), ApiError::NotFound(_)));
        assert!(matches!(status(409), ApiError::Conflict(_)));
        assert!(matches!(status(422), ApiError::Rejected(_)));
        assert!(matches!(status(429), ApiError::Unavailable(_)));
        assert!(matches!(status(500), ApiError::Unavailable(_)));
        let open = CallError::Open {
            service: "products".into(),
        };
        assert!(matches!(ApiError::from(open), ApiError::Unavailable(_)));
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    struct Product {
        name: String,
    }

    /// A real HTTP server on a free port: `/p` answers `{"name":"tea"}` while `healthy` is set,
    /// else 503; counts requests.
    async fn server(healthy: Arc<std::sync::atomic::AtomicBool>, hits: Arc<AtomicU32>) -> String {
        let app = axum::Router::new().route(
            "/p",
            axum::routing::get(move || {
                let (healthy, hits) = (healthy.clone(), hits.clone());
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    if healthy.load(Ordering::SeqCst) {
                        (StatusCode::OK, r#"{"name":"tea"}"#)
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "")
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn policy(fallback: Fallback) -> CallPolicy {
        CallPolicy {
            timeout: Duration::from_millis(500),
            retries: 2,
            breaker: BreakerConfig {
                window: 4,
                min_calls: 2,
                failure_rate: 0.5,
                open_for: Duration::from_secs(60),
                half_open_probes: 1,
            },
            fallback,
        }
    }

    #[tokio::test]
    async fn retries_then_cached_fallback_then_open_breaker() {
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let hits = Arc::new(AtomicU32::new(0));
        let url = server(healthy.clone(), hits.clone()).await;
        let c = ServiceClient::new("products", Target::Url(url), policy(Fallback::Cached));
        let p: Product = c.get("/p", None).await.unwrap();
        assert_eq!(p.name, "tea");
        healthy.store(false, Ordering::SeqCst);
        let before = hits.load(Ordering::SeqCst);
        let cached: Product = c.get("/p", None).await.unwrap();
        assert_eq!(cached.name, "tea", "the last good answer");
        assert_eq!(
            hits.load(Ordering::SeqCst) - before,
            3,
            "1 attempt + 2 retries"
        );
        let _: Product = c.get("/p", None).await.unwrap();
        assert_eq!(
            c.breaker_state(),
            crate::resilience::breaker::BreakerState::Open
        );
        let before = hits.load(Ordering::SeqCst);
        let fast: Product = c.get("/p", None).await.unwrap();
        assert_eq!(fast.name, "tea");
        assert_eq!(hits.load(Ordering::SeqCst), before, "open: no call is made");
    }

    #[tokio::test]
    async fn a_cached_answer_goes_only_to_the_caller_it_was_given_to() {
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let hits = Arc::new(AtomicU32::new(0));
        let url = server(healthy.clone(), hits).await;
        let c = ServiceClient::new("products", Target::Url(url), policy(Fallback::Cached));
        let _: Product = c.get("/p", Some("token-of-ann")).await.unwrap();
        healthy.store(false, Ordering::SeqCst);
        let ann: Result<Product, _> = c.get("/p", Some("token-of-ann")).await;
        assert_eq!(
            ann.map(|p| p.name),
            Ok("tea".to_string()),
            "ann's own last answer"
        );
        let bob: Result<Product, _> = c.get("/p", Some("token-of-bob")).await;
        assert!(
            bob.is_err(),
            "bob never got an answer, so none is cached for him"
        );
    }

    #[tokio::test]
    async fn the_callers_trace_goes_with_the_call() {
        let seen = Arc::new(std::sync::Mutex::new(None::<String>));
        let record = seen.clone();
        let app = axum::Router::new().route(
            "/p",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let record = record.clone();
                async move {
                    *record.lock().unwrap() = headers
                        .get("traceparent")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    r#"{"name":"tea"}"#
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let c = ServiceClient::new("products", Target::Url(url), policy(Fallback::Error));
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let incoming = format!("00-{trace}-00f067aa0ba902b7-01");
        let _: Product =
            crate::service::telemetry::with_traceparent(Some(incoming), c.get("/p", None))
                .await
                .unwrap();
        let sent = seen
            .lock()
            .unwrap()
            .clone()
            .expect("a traceparent was sent");
        assert_eq!(
            crate::service::telemetry::trace_id_from_traceparent(&sent).as_deref(),
            Some(trace)
        );
        // Outside any trace, nothing is invented.
        let _: Product = c.get("/p", None).await.unwrap();
        assert_eq!(*seen.lock().unwrap(), None);
    }

    #[tokio::test]
    async fn default_and_error_fallbacks() {
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hits = Arc::new(AtomicU32::new(0));
        let url = server(healthy, hits).await;
        let d = ServiceClient::new(
            "products",
            Target::Url(url.clone()),
            policy(Fallback::Default),
        );
        assert_eq!(
            d.get::<Product>("/p", None).await.unwrap(),
            Product::default()
        );
        let e = ServiceClient::new("products", Target::Url(url), policy(Fallback::Error));
        assert!(matches!(
            e.get::<Product>("/p", None).await,
            Err(CallError::Status { status: 503, .. })
        ));
        let gone = ServiceClient::new(
            "products",
            Target::Url("http://127.0.0.1:1".into()),
            policy(Fallback::Error),
        );
        assert!(matches!(
            gone.get::<Product>("/p", None).await,
            Err(CallError::Failed { .. })
        ));
    }
}
