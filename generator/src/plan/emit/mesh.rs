//! The Istio service mesh (`mesh = "istio"`): what `deploy/k8s/base/istio.yaml` says about
//! every process, decided here from the blueprint so the template only places values.
//!
//! - identity: each process runs as its own ServiceAccount, so its mTLS principal names it;
//! - access (AuthorizationPolicy): the gateway is the edge and admits anyone; the platform
//!   services admit every identity of the mesh; every other process admits exactly the callers
//!   the blueprint declares (the same set as its NetworkPolicy), and nobody when there are none;
//! - routes (VirtualService): one route per declared caller with that caller's timeout and
//!   retries (`[[services.calls]]`, the gateway's `timeout`), matched on the caller's pod labels,
//!   and a default route;
//! - outlier detection (DestinationRule): an instance is ejected after as many consecutive
//!   5xx as the strictest caller's breaker tolerates, for that breaker's `open-for`.

use serde::Serialize;

use crate::plan::model::system::SystemView;

/// One process of the system as the mesh sees it.
#[derive(Debug, Clone, Serialize)]
pub struct MeshWorkload {
    pub name: String,
    pub port: u16,
    pub access: Access,
    /// Routes for declared callers, in caller order.
    pub routes: Vec<MeshRoute>,
    pub outlier: Outlier,
}

/// Who may call a process (its AuthorizationPolicy). Templates see `edge` and `system` as
/// booleans and `callers` as a list (empty unless `Callers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The entry point: any source, authenticated or not (the Ingress controller).
    Edge,
    /// A platform service: every workload of the mesh.
    System,
    /// Exactly these processes (empty: nobody).
    Callers(Vec<String>),
}

impl Serialize for Access {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let callers: &[String] = match self {
            Access::Callers(c) => c,
            _ => &[],
        };
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("edge", &(*self == Access::Edge))?;
        map.serialize_entry("system", &(*self == Access::System))?;
        map.serialize_entry("callers", callers)?;
        map.end()
    }
}

/// The route a caller's requests take to a process.
#[derive(Debug, Clone, Serialize)]
pub struct MeshRoute {
    /// The calling process (its `app.kubernetes.io/name` label).
    pub source: String,
    /// Istio duration (`2s`, `1500ms`).
    pub timeout: String,
    /// Further attempts after the first.
    pub attempts: u32,
    pub per_try_timeout: String,
    /// Envoy retry conditions.
    pub retry_on: String,
}

/// Outlier detection of a process's instances.
#[derive(Debug, Clone, Serialize)]
pub struct Outlier {
    pub consecutive_5xx: u32,
    pub base_ejection: String,
}

/// A process (platform service, service, BFF, gateway) with its port, whether it is a
/// platform service every process may call, and its declared callers.
pub struct Process<'a> {
    pub name: &'a str,
    pub port: u16,
    pub open: bool,
    pub callers: &'a [String],
}

/// Conditions under which a request never reached the application: safe to retry for any
/// method. Calls that declare retries also retry on 5xx (they are reads).
const CONNECTION_FAILURES: &str = "connect-failure,refused-stream,unavailable";
const CALL_RETRY_ON: &str = "5xx,connect-failure,refused-stream,unavailable";

/// Outlier detection of a process no service calls (a call without `breaker` has the
/// runtime's default breaker, and counts with it).
const DEFAULT_CONSECUTIVE_5XX: u32 = 5;
const DEFAULT_EJECTION_MS: u64 = 30_000;

/// The mesh's view of every process.
pub fn workloads(system: &SystemView, processes: &[Process<'_>]) -> Vec<MeshWorkload> {
    processes.iter().map(|p| workload(system, p)).collect()
}

fn workload(system: &SystemView, p: &Process<'_>) -> MeshWorkload {
    let access = if p.name == "gateway" {
        Access::Edge
    } else if p.open {
        Access::System
    } else {
        Access::Callers(p.callers.to_vec())
    };
    let mut routes = Vec::new();
    if system.gateway.routes.iter().any(|r| r.service == p.name) {
        routes.push(MeshRoute {
            source: "gateway".into(),
            timeout: duration(system.gateway.timeout_ms),
            attempts: 1,
            per_try_timeout: duration(system.gateway.timeout_ms),
            retry_on: CONNECTION_FAILURES.into(),
        });
    }
    let mut consecutive: Option<u32> = None;
    let mut ejection: Option<u64> = None;
    for s in &system.services {
        for c in s.calls.iter().filter(|c| c.service == p.name) {
            routes.push(MeshRoute {
                source: s.name.clone(),
                timeout: duration(c.timeout_ms * u64::from(c.retries + 1)),
                attempts: c.retries,
                per_try_timeout: duration(c.timeout_ms),
                retry_on: CALL_RETRY_ON.into(),
            });
            // The breaker opens once failure-rate × (its minimum calls) calls failed.
            // (`as` saturates; failure-rate ≤ 1 keeps it within min_calls anyway.)
            let tolerated = (c.failure_rate * f64::from(c.min_calls)).ceil().max(1.0) as u32;
            consecutive = Some(consecutive.map_or(tolerated, |x| x.min(tolerated)));
            ejection = Some(ejection.map_or(c.open_for_ms, |x| x.min(c.open_for_ms)));
        }
    }
    MeshWorkload {
        name: p.name.to_string(),
        port: p.port,
        access,
        routes,
        outlier: Outlier {
            consecutive_5xx: consecutive.unwrap_or(DEFAULT_CONSECUTIVE_5XX),
            base_ejection: duration(ejection.unwrap_or(DEFAULT_EJECTION_MS)),
        },
    }
}

/// An Istio duration: whole seconds as `Ns`, anything else in milliseconds.
fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_seconds_or_milliseconds() {
        assert_eq!(duration(2000), "2s");
        assert_eq!(duration(1500), "1500ms");
        assert_eq!(duration(0), "0s");
    }

    fn shop() -> SystemView {
        let text = include_str!("../../../../blueprints/shop.toml");
        let bp = crate::blueprint::load(text).expect("valid").blueprint;
        crate::plan::system_view(&bp)
    }

    #[test]
    fn callers_get_their_declared_timeouts_and_breakers_become_outlier_detection() {
        let system = shop();
        let callers = vec!["orders".to_string()];
        let w = workload(
            &system,
            &Process {
                name: "products",
                port: 8101,
                open: false,
                callers: &callers,
            },
        );
        assert_eq!(w.access, Access::Callers(callers.clone()));
        let call = system
            .services
            .iter()
            .find(|s| s.name == "orders")
            .and_then(|s| s.calls.iter().find(|c| c.service == "products"))
            .expect("orders calls products");
        let route = w
            .routes
            .iter()
            .find(|r| r.source == "orders")
            .expect("a route for orders");
        assert_eq!(route.attempts, call.retries);
        assert_eq!(route.per_try_timeout, duration(call.timeout_ms));
        let tolerated = (call.failure_rate * f64::from(call.min_calls)).ceil() as u32;
        assert_eq!(w.outlier.consecutive_5xx, tolerated.max(1));
        assert_eq!(w.outlier.base_ejection, duration(call.open_for_ms));
    }

    #[test]
    fn the_gateway_is_the_edge_and_platform_services_admit_the_system() {
        let system = shop();
        let gateway = workload(
            &system,
            &Process {
                name: "gateway",
                port: 8080,
                open: false,
                callers: &[],
            },
        );
        assert_eq!(gateway.access, Access::Edge);
        assert_eq!(gateway.outlier.consecutive_5xx, DEFAULT_CONSECUTIVE_5XX);
        let registry = workload(
            &system,
            &Process {
                name: "registry",
                port: 8761,
                open: true,
                callers: &[],
            },
        );
        assert_eq!(registry.access, Access::System);
        assert!(registry.routes.is_empty());
    }
}
