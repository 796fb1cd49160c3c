//! The platform's views: the API gateway's routes and limits, the auth service, and the
//! platform services on fixed ports.

use serde::Serialize;

use super::service::ServiceView;
use crate::blueprint::{Blueprint, Sp};

/// The auth service: its port, the roles it grants and the token lifetimes.
#[derive(Debug, Clone, Serialize)]
pub struct AuthView {
    pub port: u16,
    pub roles: Vec<String>,
    pub access_ttl_ms: u64,
    pub refresh_ttl_ms: u64,
    /// `sessions = "redis"`: opaque session tokens kept in Redis.
    pub redis_sessions: bool,
}

/// A platform service on a fixed port.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformServiceView {
    pub name: String,
    pub port: u16,
}

/// The API gateway: its routes and limits.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayView {
    pub port: u16,
    /// The internal listener of `/metrics` and `/admin/*`, never on the public port: the
    /// first port above the gateway's that no process of the blueprint uses.
    pub management_port: u16,
    pub timeout_ms: u64,
    pub rate_limit: Option<(u32, u32)>,
    pub cors: Vec<String>,
    pub routes: Vec<RouteView>,
    /// (service, `host:port`) for DNS discovery: the service's name and port.
    pub fixed: Vec<(String, String)>,
}

/// A path prefix routed to a service, with the roles of the blueprint's `expose`.
#[derive(Debug, Clone, Serialize)]
pub struct RouteView {
    pub prefix: String,
    pub service: String,
    pub read: Vec<String>,
    pub write: Vec<String>,
    pub public: bool,
}

/// The first port above the gateway's that no process of `bp` listens on.
fn management_port(bp: &Blueprint) -> u16 {
    free_port_from(bp, bp.gateway.port.value.saturating_add(1), &[])
}

/// `first`, or the first port above it, that no process of `bp` listens on, nor `taken`.
pub fn free_port_from(bp: &Blueprint, first: u16, taken: &[u16]) -> u16 {
    let used: Vec<u16> = bp
        .services
        .iter()
        .map(|s| s.port.value)
        .chain(bp.bffs.iter().map(|b| b.port.value))
        .chain(
            crate::blueprint::validate::PLATFORM_PORTS
                .iter()
                .map(|(_, p)| *p),
        )
        .chain(taken.iter().copied())
        .chain(std::iter::once(bp.gateway.port.value))
        .collect();
    (0..=u16::MAX)
        .map(|n| first.wrapping_add(n).max(1024))
        .find(|p| !used.contains(p))
        .unwrap_or(first)
}

/// The gateway's view of the generated services: every exposed entity and view, and the auth
/// service's endpoints (token and keys public, the rest signed in).
pub fn gateway_view(
    bp: &Blueprint,
    services: &[ServiceView],
    auth: Option<&AuthView>,
) -> GatewayView {
    let mut routes = Vec::new();
    let mut fixed: Vec<(String, String)> = Vec::new();
    if let Some(a) = auth {
        let admin = vec!["admin".to_string()];
        for (prefix, public, roles) in [
            ("/oauth", true, Vec::new()),
            ("/.well-known", true, Vec::new()),
            ("/userinfo", false, Vec::new()),
            ("/users", false, admin.clone()),
            // A signed-in user's own account (`POST /users/me/password`).
            ("/users/me", false, Vec::new()),
            ("/clients", false, admin.clone()),
        ] {
            routes.push(RouteView {
                prefix: prefix.into(),
                service: "auth".into(),
                read: roles.clone(),
                write: roles,
                public,
            });
        }
        fixed.push(("auth".into(), format!("auth:{}", a.port)));
    }
    for s in services {
        for e in s.entities.iter().filter(|e| e.exposed) {
            routes.push(RouteView {
                prefix: e.path.clone(),
                service: s.name.clone(),
                read: e.read_roles.clone(),
                write: e.write_roles.clone(),
                public: false,
            });
        }
        for v in s.views.iter().filter(|v| v.exposed) {
            routes.push(RouteView {
                prefix: v.path.clone(),
                service: s.name.clone(),
                read: v.read_roles.clone(),
                write: Vec::new(),
                public: false,
            });
        }
        // Event-sourced aggregates: their commands and state, with the expose's roles.
        let aggregates = bp
            .service(&s.name)
            .into_iter()
            .flat_map(|svc| svc.aggregates.iter())
            .filter_map(|a| a.expose.as_ref());
        for x in aggregates {
            let roles = |list: &[Sp<String>]| list.iter().map(|r| r.value.clone()).collect();
            routes.push(RouteView {
                prefix: x.path.value.clone(),
                service: s.name.clone(),
                read: roles(&x.read),
                write: roles(&x.write),
                public: false,
            });
        }
    }
    for b in &bp.bffs {
        routes.push(RouteView {
            prefix: format!("/{}", b.name.value),
            service: b.name.value.clone(),
            read: Vec::new(),
            write: Vec::new(),
            public: false,
        });
        fixed.push((
            b.name.value.clone(),
            format!("{}:{}", b.name.value, b.port.value),
        ));
    }
    routes.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    // Every service, routed or not: the gateway's configured routes may name any of them.
    fixed.extend(
        services
            .iter()
            .map(|s| (s.name.clone(), format!("{}:{}", s.name, s.port))),
    );
    fixed.sort();
    fixed.dedup();
    GatewayView {
        management_port: management_port(bp),
        port: bp.gateway.port.value,
        timeout_ms: bp.gateway.timeout.millis,
        rate_limit: bp
            .gateway
            .rate_limit
            .as_ref()
            .map(|r| (r.per_second, r.burst)),
        cors: bp.gateway.cors.iter().map(|c| c.value.clone()).collect(),
        routes,
        fixed,
    }
}
