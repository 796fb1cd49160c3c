//! Token checks inside each service (defence in depth: the gateway checks too). A generated
//! service of a system with `[auth]` verifies the bearer JWT of every request to its own
//! routes against the auth service's JWKS (`auth-url`, default the local auth service) and the
//! route's roles for the method: 401 / 403 as problem documents. Health, metrics and docs stay
//! open; the admin endpoints need the role `admin`.
//!
//! **Service identities** ([`crate::security::identity`]): a token with a `svc` claim names a
//! process of the system. A service accepts one only from the processes the blueprint declares
//! as its callers (`calls`, saga owners of its steps, BFF compositions and pass-through routes,
//! the gateway): as the bearer (a call on the service's own behalf, which the declaration
//! authorizes whatever the route's roles), or in [`SERVICE_TOKEN_HEADER`] next to a user's
//! token (a call on the user's behalf: the user's roles apply). Any other process gets 403.
//! Handlers read both from the request's [`Caller`] extension.
//!
//! `auth-url = "none"` turns the checks off (a warning is logged at start): for running one
//! service alone in development, never in production.

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;

use crate::security::jwt::Verifier;

use crate::security::identity::SERVICE_TOKEN_HEADER;
use crate::security::jwt::Claims;

static VERIFIER: OnceLock<Option<Arc<Verifier>>> = OnceLock::new();
/// The processes the blueprint declares as callers of this one.
static CALLERS: OnceLock<&'static [&'static str]> = OnceLock::new();
/// How long this process trusts the auth service's keys before fetching them again
/// (`jwks-max-age-ms`, default [`crate::security::jwt::KEYS_MAX_AGE`]).
static KEYS_MAX_AGE: OnceLock<std::time::Duration> = OnceLock::new();

/// Who made a request, as its tokens prove: a request extension on every checked route.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The signed-in user (or a client that is not a process of the system).
    pub user: Option<Claims>,
    /// The calling process of the system, by its service identity.
    pub service: Option<String>,
}

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
        .with_max_age(
            KEYS_MAX_AGE
                .get()
                .copied()
                .unwrap_or(crate::security::jwt::KEYS_MAX_AGE),
        )
}

/// Sets up the checks for tokens of `audience` (the system), once per process; `callers` are
/// the processes that may call this one with their service identity.
pub fn configure(
    settings: &crate::service::config::Settings,
    audience: &str,
    default_url: &str,
    callers: &'static [&'static str],
) {
    let _ = CALLERS.set(callers);
    if let Some(ms) = settings
        .int("jwks_max_age_ms")
        .and_then(|v| u64::try_from(v).ok())
    {
        let _ = KEYS_MAX_AGE.set(std::time::Duration::from_millis(ms.max(100)));
    }
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
    let caller = match identify(verifier, request.headers()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let declared = CALLERS.get().copied().unwrap_or_default();
    if let Err(e) = authorize(&caller, roles, request.method(), declared) {
        return e.into_response();
    }
    let mut request = request;
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller of a request: its bearer token and the service token beside it, both verified.
async fn identify(
    verifier: &Verifier,
    headers: &http::HeaderMap,
) -> Result<Caller, crate::ApiError> {
    let unauthorized = |m: String| crate::ApiError::Unauthorized(m);
    let token = crate::security::jwt::bearer(headers)
        .ok_or_else(|| unauthorized("a bearer token is required".into()))?;
    let claims = verifier
        .verify(token)
        .await
        .map_err(|e| unauthorized(e.to_string()))?;
    if let Some(service) = claims.svc.clone() {
        return Ok(Caller {
            user: None,
            service: Some(service),
        });
    }
    let service = match headers.get(SERVICE_TOKEN_HEADER) {
        None => None,
        Some(v) => {
            let token = v
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    unauthorized(format!("{SERVICE_TOKEN_HEADER} is not a bearer token"))
                })?;
            let service = verifier
                .verify(token)
                .await
                .map_err(|e| unauthorized(format!("{SERVICE_TOKEN_HEADER}: {e}")))?;
            Some(service.svc.ok_or_else(|| {
                unauthorized(format!("{SERVICE_TOKEN_HEADER} is not a service identity"))
            })?)
        }
    };
    Ok(Caller {
        user: Some(claims),
        service,
    })
}

/// Whether `caller` may use a route of `roles` with `method`: a calling process must be
/// declared; a user needs one of the roles; a process on its own behalf is authorized by the
/// declaration.
fn authorize(
    caller: &Caller,
    roles: Roles,
    method: &Method,
    declared: &[&str],
) -> Result<(), crate::ApiError> {
    if let Some(service) = &caller.service
        && !declared.contains(&service.as_str())
    {
        return Err(crate::ApiError::Forbidden(format!(
            "the blueprint declares no call from `{service}` to this service"
        )));
    }
    let Some(user) = &caller.user else {
        return Ok(());
    };
    let allowed = if matches!(*method, Method::GET | Method::HEAD) {
        roles.read
    } else {
        roles.write
    };
    if !allowed.is_empty() && !user.roles.iter().any(|r| allowed.contains(&r.as_str())) {
        return Err(crate::ApiError::Forbidden(format!(
            "needs one of the roles {allowed:?}"
        )));
    }
    Ok(())
}

/// Who calls one of the platform's own endpoints (registry writes, the config server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformCaller {
    /// This process checks no tokens: a system without `[auth]`, or `auth-url = "none"`.
    Unchecked,
    /// A process of the system, by its service identity.
    Service(String),
    /// A user with the role `admin`: an operator.
    Operator,
}

impl PlatformCaller {
    /// Whether the caller may act for process `name`: itself, an operator, or anyone when
    /// nothing is checked.
    pub fn may_act_for(&self, name: &str) -> bool {
        match self {
            Self::Unchecked | Self::Operator => true,
            Self::Service(s) => s == name,
        }
    }
}

/// The caller of a platform endpoint, by the request's bearer token: 401 without a valid
/// token; 403 for a token that is neither a service identity nor an admin's.
pub async fn platform_caller(headers: &http::HeaderMap) -> Result<PlatformCaller, crate::ApiError> {
    let verifier = match VERIFIER.get() {
        Some(Some(v)) => v,
        Some(None) => return Ok(PlatformCaller::Unchecked),
        None => {
            return Err(crate::ApiError::Unauthorized(
                "token checks are not configured".into(),
            ));
        }
    };
    let token = crate::security::jwt::bearer(headers)
        .ok_or_else(|| crate::ApiError::Unauthorized("a service token is required".into()))?;
    let claims = verifier
        .verify(token)
        .await
        .map_err(|e| crate::ApiError::Unauthorized(e.to_string()))?;
    match claims.svc {
        Some(s) => Ok(PlatformCaller::Service(s)),
        None if claims.roles.iter().any(|r| r == "admin") => Ok(PlatformCaller::Operator),
        None => Err(crate::ApiError::Forbidden(
            "a service identity is required".into(),
        )),
    }
}

/// Puts `router` behind [`require`] with `roles`.
pub fn protect<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    roles: Roles,
) -> axum::Router<S> {
    router.route_layer(axum::middleware::from_fn_with_state(roles, require))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::jwt::{Jwks, Signer, now_secs};

    fn token(signer: &Signer, roles: &[&str], svc: Option<&str>) -> String {
        signer.sign(&Claims {
            sub: svc.unwrap_or("u1").into(),
            iss: "shop-auth".into(),
            aud: "shop".into(),
            exp: now_secs() + 60,
            iat: now_secs(),
            nbf: None,
            jti: "j".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            name: None,
            svc: svc.map(str::to_string),
        })
    }

    fn headers(bearer: &str, service: Option<&str>) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {bearer}").parse().unwrap(),
        );
        if let Some(s) = service {
            h.insert(SERVICE_TOKEN_HEADER, format!("Bearer {s}").parse().unwrap());
        }
        h
    }

    const ROLES: Roles = Roles {
        read: &["customer"],
        write: &["admin"],
    };

    #[tokio::test]
    async fn only_declared_callers_get_in_and_a_user_keeps_their_roles() {
        let signer = Signer::from_seed("k1", &[3u8; 32]);
        let verifier = Verifier::fixed(
            Jwks {
                keys: vec![signer.jwk()],
            },
            "shop",
        );
        let declared: &[&str] = &["orders"];
        let check = |h: http::HeaderMap, method: Method| {
            let verifier = &verifier;
            async move {
                let caller = identify(verifier, &h).await?;
                authorize(&caller, ROLES, &method, declared).map(|()| caller)
            }
        };
        let orders = token(&signer, &[], Some("orders"));
        let notifications = token(&signer, &[], Some("notifications"));
        let carol = token(&signer, &["customer"], None);
        // A declared process on its own behalf: in, whatever the route's roles.
        let c = check(headers(&orders, None), Method::POST).await.unwrap();
        assert_eq!(c.service.as_deref(), Some("orders"));
        assert!(c.user.is_none());
        // An undeclared one: 403, alone or beside a user.
        let e = check(headers(&notifications, None), Method::GET)
            .await
            .unwrap_err();
        assert!(matches!(e, crate::ApiError::Forbidden(_)), "{e:?}");
        let e = check(headers(&carol, Some(&notifications)), Method::GET)
            .await
            .unwrap_err();
        assert!(matches!(e, crate::ApiError::Forbidden(_)), "{e:?}");
        // For a user: both seen, and the user's roles apply.
        let c = check(headers(&carol, Some(&orders)), Method::GET)
            .await
            .unwrap();
        assert_eq!(c.service.as_deref(), Some("orders"));
        assert_eq!(c.user.map(|u| u.sub).as_deref(), Some("u1"));
        let e = check(headers(&carol, Some(&orders)), Method::POST)
            .await
            .unwrap_err();
        assert!(matches!(e, crate::ApiError::Forbidden(_)), "{e:?}");
        // A user's token is no service identity; a forged one is refused.
        let e = check(headers(&carol, Some(&carol)), Method::GET)
            .await
            .unwrap_err();
        assert!(matches!(e, crate::ApiError::Unauthorized(_)), "{e:?}");
        let forged = token(&Signer::from_seed("k1", &[4u8; 32]), &[], Some("orders"));
        let e = check(headers(&forged, None), Method::GET)
            .await
            .unwrap_err();
        assert!(matches!(e, crate::ApiError::Unauthorized(_)), "{e:?}");
    }

    #[test]
    fn platform_callers_act_only_for_themselves() {
        assert!(PlatformCaller::Service("orders".into()).may_act_for("orders"));
        assert!(!PlatformCaller::Service("orders".into()).may_act_for("auth"));
        assert!(PlatformCaller::Operator.may_act_for("auth"));
        assert!(PlatformCaller::Unchecked.may_act_for("auth"));
    }
}
