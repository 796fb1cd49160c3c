//! This process's own identity: the client credentials the auth service provisioned for it
//! (client id = the process name, secret from the `client-secret` setting, given by reference
//! as `APP_CLIENT_SECRET` from the environment or a Kubernetes Secret), exchanged for a
//! `client_credentials` token that is cached and refreshed before it expires.
//!
//! The token goes with every call the process makes on its own behalf: registry writes, the
//! config server, and calls to other services started by events, sagas and workers (as the
//! bearer), or next to a user's token on calls made for a user ([`SERVICE_TOKEN_HEADER`]), so
//! the callee sees both. Without a secret the process has no identity and calls carry only
//! what they carried before.
//!
//! Getting a token never blocks a caller for long: one attempt of [`FETCH_TIMEOUT`], and a
//! failure is an error the caller reports (the registry client retries on its own schedule).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Method, Request, header};
use http_body_util::BodyExt;

use crate::service::http_client::HttpClient;

/// The header that carries the calling service's token when `Authorization` carries the user's.
pub const SERVICE_TOKEN_HEADER: &str = "x-service-token";

/// The longest a token request may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the auth service is unreachable: {0}")]
    Unreachable(String),
    #[error("the auth service refused this process's credentials ({0})")]
    Refused(u16),
    #[error("the auth service's answer does not decode: {0}")]
    Decode(String),
}

/// One process's client credentials and its cached token.
pub struct Identity {
    name: String,
    token_url: String,
    secret: String,
    http: HttpClient,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// When a token of `ttl` is fetched anew: at 3/4 of its life, so a cached token always has a
/// quarter of its lifetime left when it is sent.
pub fn refresh_after(ttl: Duration) -> Duration {
    ttl.mul_f64(0.75)
}

impl Identity {
    /// Process `name` with `secret`, getting tokens from the auth service at `auth_url`.
    pub fn new(name: &str, auth_url: &str, secret: &str) -> Self {
        Self {
            name: name.to_string(),
            token_url: format!("{}/oauth/token", auth_url.trim_end_matches('/')),
            secret: secret.to_string(),
            http: HttpClient::new(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The process name: the client id, and the `svc` claim of its tokens.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A valid token for this process: the cached one, or a new one from the auth service.
    pub async fn token(&self) -> Result<String, IdentityError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, fresh_until)) = cached.as_ref()
            && Instant::now() < *fresh_until
        {
            return Ok(token.clone());
        }
        let (token, ttl) = self.fetch().await?;
        *cached = Some((token.clone(), Instant::now() + refresh_after(ttl)));
        Ok(token)
    }

    async fn fetch(&self) -> Result<(String, Duration), IdentityError> {
        let form = serde_urlencoded::to_string([
            ("grant_type", "client_credentials"),
            ("client_id", self.name.as_str()),
            ("client_secret", self.secret.as_str()),
        ])
        .map_err(|e| IdentityError::Decode(e.to_string()))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(&self.token_url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .map_err(|e| IdentityError::Unreachable(e.to_string()))?;
        let response = self
            .http
            .send(request, FETCH_TIMEOUT)
            .await
            .map_err(|e| IdentityError::Unreachable(e.to_string()))?;
        let status = response.status();
        let body = tokio::time::timeout(FETCH_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| IdentityError::Unreachable("timed out reading the answer".into()))?
            .map_err(|e| IdentityError::Unreachable(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            return Err(IdentityError::Refused(status.as_u16()));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| IdentityError::Decode(e.to_string()))?;
        Ok((answer.access_token, Duration::from_secs(answer.expires_in)))
    }
}

static IDENTITY: OnceLock<Option<Arc<Identity>>> = OnceLock::new();

/// Sets this process's identity from the `client-secret` setting (once per process); none
/// without the setting.
pub fn configure(settings: &crate::service::config::Settings, name: &str, auth_url: &str) {
    let identity = settings
        .text("client_secret")
        .filter(|s| !s.is_empty())
        .map(|secret| Arc::new(Identity::new(name, auth_url, secret)));
    if identity.is_none() {
        tracing::warn!(
            "no client-secret: this process has no service identity (registry writes, the config server and protected services will refuse it)"
        );
    }
    let _ = IDENTITY.set(identity);
}

/// This process's identity, when it has one.
pub fn current() -> Option<Arc<Identity>> {
    IDENTITY.get().cloned().flatten()
}

/// A token of this process's identity, `None` without one or when the auth service cannot give
/// one now (logged; the callee then refuses the call, which the caller reports).
pub async fn token() -> Option<String> {
    let identity = current()?;
    match identity.token().await {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "no service token");
            metrics::counter!("identity_token_failures_total").increment(1);
            None
        }
    }
}

/// The headers that identify a call: with a user's `token`, the user as the bearer and this
/// process in [`SERVICE_TOKEN_HEADER`]; without one, this process as the bearer.
pub async fn call_headers(user: Option<&str>) -> Vec<(http::HeaderName, String)> {
    headers_for(user, token().await)
}

/// The headers of a call for `user`'s token and this process's `service` token.
fn headers_for(user: Option<&str>, service: Option<String>) -> Vec<(http::HeaderName, String)> {
    let mut out = Vec::new();
    match (user, service) {
        (Some(u), Some(s)) => {
            out.push((header::AUTHORIZATION, format!("Bearer {u}")));
            out.push((
                http::HeaderName::from_static(SERVICE_TOKEN_HEADER),
                format!("Bearer {s}"),
            ));
        }
        (Some(u), None) => out.push((header::AUTHORIZATION, format!("Bearer {u}"))),
        (None, Some(s)) => out.push((header::AUTHORIZATION, format!("Bearer {s}"))),
        (None, None) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A token endpoint that answers `ttl_secs` tokens numbered by request, for `svc`/`pw`.
    async fn token_server(ttl_secs: u64, hits: Arc<AtomicU32>) -> String {
        let app = axum::Router::new().route(
            "/oauth/token",
            axum::routing::post(move |body: String| {
                let hits = hits.clone();
                async move {
                    let n = hits.fetch_add(1, Ordering::SeqCst);
                    if body.contains("client_id=orders") && body.contains("client_secret=pw") {
                        (
                            http::StatusCode::OK,
                            format!(r#"{{"access_token":"t{n}","expires_in":{ttl_secs}}}"#),
                        )
                    } else {
                        (http::StatusCode::UNAUTHORIZED, String::new())
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn a_token_is_cached_until_three_quarters_of_its_life() {
        let hits = Arc::new(AtomicU32::new(0));
        let url = token_server(3600, hits.clone()).await;
        let id = Identity::new("orders", &url, "pw");
        assert_eq!(id.token().await.unwrap(), "t0");
        assert_eq!(id.token().await.unwrap(), "t0", "cached");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // A token of 0 s is stale at once: every call fetches anew.
        let hits = Arc::new(AtomicU32::new(0));
        let url = token_server(0, hits.clone()).await;
        let id = Identity::new("orders", &url, "pw");
        id.token().await.unwrap();
        id.token().await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2, "refreshed before expiry");
        assert_eq!(refresh_after(Duration::from_secs(900)).as_secs(), 675);
    }

    #[test]
    fn a_call_carries_the_user_as_bearer_and_the_service_beside() {
        let auth = |h: &[(http::HeaderName, String)], name: &str| {
            h.iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, v)| v.clone())
        };
        let both = headers_for(Some("u"), Some("s".into()));
        assert_eq!(auth(&both, "authorization").as_deref(), Some("Bearer u"));
        assert_eq!(
            auth(&both, SERVICE_TOKEN_HEADER).as_deref(),
            Some("Bearer s")
        );
        let own = headers_for(None, Some("s".into()));
        assert_eq!(auth(&own, "authorization").as_deref(), Some("Bearer s"));
        assert_eq!(auth(&own, SERVICE_TOKEN_HEADER), None);
        assert_eq!(headers_for(Some("u"), None).len(), 1);
        assert!(headers_for(None, None).is_empty());
    }

    #[tokio::test]
    async fn wrong_credentials_and_a_dead_auth_service_are_errors() {
        let url = token_server(60, Arc::new(AtomicU32::new(0))).await;
        let wrong = Identity::new("orders", &url, "guess");
        assert_eq!(wrong.token().await, Err(IdentityError::Refused(401)));
        let dead = Identity::new("orders", "http://127.0.0.1:1", "pw");
        assert!(matches!(
            dead.token().await,
            Err(IdentityError::Unreachable(_))
        ));
    }
}
