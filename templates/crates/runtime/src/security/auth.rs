//! Token checks inside each service (defence in depth: the gateway checks too). A generated
//! service of a system with `[auth]` verifies the bearer JWT of every request to its own
//! routes against the auth service's JWKS (`auth-url`, default the local auth service) and the
//! route's roles for the method: 401 / 403 as problem documents. Health, metrics and docs stay
//! open; the admin endpoints need the role `admin`.
//!
//! `auth-url = "none"` turns the checks off (a warning is logged at start): for running one
//! service alone in development, never in production.

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;

use crate::security::jwt::Verifier;

static VERIFIER: OnceLock<Option<Arc<Verifier>>> = OnceLock::new();

/// The roles a group of routes needs; an empty list = any signed-in caller.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub read: &'static [&'static str],
    pub write: &'static [&'static str],
}

/// Only the role `admin`, for the runtime's admin endpoints.
pub const ADMIN: Roles = Roles {
    read: &["admin"],
    write: &["admin"],
};

/// The auth service's base URL: the `auth-url` setting, else `default_url`.
pub fn auth_url(settings: &crate::service::config::Settings, default_url: &str) -> String {
    settings
        .text("auth_url")
        .unwrap_or(default_url)
        .trim_end_matches('/')
        .to_string()
}

/// Checks tokens the system's auth service at `url` issued for `audience` (the system): its
/// JWKS, and `iss` = `<audience>-auth`.
pub fn verifier(url: &str, audience: &str) -> Verifier {
    Verifier::remote(&format!("{url}/.well-known/jwks.json"), audience)
        .with_issuer(&format!("{audience}-auth"))
}

/// Sets up the checks for tokens of `audience` (the system), once per process.
pub fn configure(settings: &crate::service::config::Settings, audience: &str, default_url: &str) {
    let url = auth_url(settings, default_url);
    let verifier = if url == "none" {
        tracing::warn!("auth-url = \"none\": this service accepts requests without tokens");
        None
    } else {
        Some(Arc::new(verifier(&url, audience)))
    };
    let _ = VERIFIER.set(verifier);
}

/// A system without `[auth]`: routes are open (the server calls this at start).
pub fn configure_open() {
    let _ = VERIFIER.set(None);
}

/// Middleware: the bearer token must verify and carry one of the roles for the method.
pub async fn require(State(roles): State<Roles>, request: Request, next: Next) -> Response {
    let verifier = match VERIFIER.get() {
        Some(Some(v)) => v,
        Some(None) => return next.run(request).await,
        // Never configured: fail closed.
        None => {
            return crate::ApiError::Unauthorized("token checks are not configured".into())
                .into_response();
        }
    };
    let Some(token) = crate::security::jwt::bearer(request.headers()) else {
        return crate::ApiError::Unauthorized("a bearer token is required".into()).into_response();
    };
    let claims = match verifier.verify(token).await {
        Ok(c) => c,
        Err(e) => return crate::ApiError::Unauthorized(e.to_string()).into_response(),
    };
    let allowed = if matches!(*request.method(), Method::GET | Method::HEAD) {
        roles.read
    } else {
        roles.write
    };
    if !allowed.is_empty() && !claims.roles.iter().any(|r| allowed.contains(&r.as_str())) {
        return crate::ApiError::Forbidden(format!("needs one of the roles {allowed:?}"))
            .into_response();
    }
    next.run(request).await
}

/// Puts `router` behind [`require`] with `roles`.
pub fn protect<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    roles: Roles,
) -> axum::Router<S> {
    router.route_layer(axum::middleware::from_fn_with_state(roles, require))
}
