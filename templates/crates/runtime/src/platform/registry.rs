//! The service registry: the server side (`platform/registry` runs [`routes`] and
//! [`evict_expired`]) and the shared instance model.
//!
//! Instances register with their address, version, metadata and health, then heartbeat every
//! `heartbeat` interval; one that misses 3 heartbeats is evicted. Every change bumps a global
//! `index`; `GET /registry/watch?index=N` is a long poll that answers as soon as the index
//! passes `N` (or after `wait_ms`), so clients learn changes within one round trip.
//!
//! | route | does |
//! |---|---|
//! | `POST /registry/instances` | register (or refresh) an instance |
//! | `PUT /registry/instances/{service}/{id}` | heartbeat, with an optional health; 404 = register again |
//! | `DELETE /registry/instances/{service}/{id}` | deregister |
//! | `GET /registry/services` | every service with its instances, and the index |
//! | `GET /registry/services/{service}` | one service's instances |
//! | `GET /registry/watch?index=N&wait_ms=M` | the snapshot once the index is past `N` |
//!
//! In a system with `[auth]`, writes (register, heartbeat, deregister) need the bearer token of
//! a service identity, and an instance may be written only by its own service (or an admin):
//! a rogue registration of `auth` gets 401 or 403, never traffic.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::ApiError;

/// Health an instance reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    #[default]
    Up,
    Down,
}

/// One running instance of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub service: String,
    /// Unique per process (a uuid by default).
    pub id: String,
    /// `host:port` other processes reach it at.
    pub address: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub health: Health,
}

/// Every registered instance by service, and the change index it reflects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub index: u64,
    pub services: BTreeMap<String, Vec<Instance>>,
}

impl Snapshot {
    /// The instances of `service` that report `up`.
    pub fn healthy(&self, service: &str) -> Vec<&Instance> {
        self.services
            .get(service)
            .map(|v| v.iter().filter(|i| i.health == Health::Up).collect())
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct HeartbeatBody {
    #[serde(default)]
    pub health: Option<Health>,
}

struct Entry {
    instance: Instance,
    last_seen: Instant,
}

/// The registry's state: instances, the change index, and the heartbeat interval.
pub struct Registry {
    services: Mutex<BTreeMap<String, BTreeMap<String, Entry>>>,
    index: watch::Sender<u64>,
    heartbeat: Duration,
}

impl Registry {
    pub fn new(heartbeat: Duration) -> Arc<Self> {
        Arc::new(Self {
            services: Mutex::new(BTreeMap::new()),
            index: watch::channel(0).0,
            heartbeat,
        })
    }

    fn changed(&self) {
        self.index.send_modify(|i| *i += 1);
        metrics::counter!("registry_changes_total").increment(1);
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, BTreeMap<String, Entry>>) -> R) -> R {
        let mut guard = self
            .services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    pub fn register(&self, instance: Instance) {
        let changed = self.with(|s| {
            let entry = Entry {
                instance: instance.clone(),
                last_seen: Instant::now(),
            };
            let old = s
                .entry(instance.service.clone())
                .or_default()
                .insert(instance.id.clone(), entry);
            old.is_none_or(|o| o.instance != instance)
        });
        if changed {
            tracing::info!(service = %instance.service, id = %instance.id, address = %instance.address, "instance registered");
            self.changed();
        }
    }

    /// Records a heartbeat; `false` when the instance is unknown (evicted or never registered).
    pub fn heartbeat(&self, service: &str, id: &str, health: Option<Health>) -> bool {
        let (known, changed) =
            self.with(|s| match s.get_mut(service).and_then(|m| m.get_mut(id)) {
                Some(e) => {
                    e.last_seen = Instant::now();
                    let changed = health.is_some_and(|h| h != e.instance.health);
                    if let Some(h) = health {
                        e.instance.health = h;
                    }
                    (true, changed)
                }
                None => (false, false),
            });
        if changed {
            self.changed();
        }
        known
    }

    pub fn deregister(&self, service: &str, id: &str) -> bool {
        let removed = self.with(|s| {
            let removed = s.get_mut(service).and_then(|m| m.remove(id)).is_some();
            if s.get(service).is_some_and(BTreeMap::is_empty) {
                s.remove(service);
            }
            removed
        });
        if removed {
            tracing::info!(%service, %id, "instance deregistered");
            self.changed();
        }
        removed
    }

    /// Removes instances silent for more than 3 heartbeat intervals; returns them.
    pub fn evict_expired(&self) -> Vec<Instance> {
        let limit = self.heartbeat * 3;
        let evicted = self.with(|s| {
            let mut out = Vec::new();
            for instances in s.values_mut() {
                instances.retain(|_, e| {
                    let keep = e.last_seen.elapsed() <= limit;
                    if !keep {
                        out.push(e.instance.clone());
                    }
                    keep
                });
            }
            s.retain(|_, m| !m.is_empty());
            out
        });
        for i in &evicted {
            tracing::warn!(service = %i.service, id = %i.id, address = %i.address, "instance evicted: 3 heartbeats missed");
            metrics::counter!("registry_evictions_total", "service" => i.service.clone())
                .increment(1);
        }
        if !evicted.is_empty() {
            self.changed();
        }
        evicted
    }

    pub fn snapshot(&self) -> Snapshot {
        let index = *self.index.borrow();
        let services = self.with(|s| {
            s.iter()
                .map(|(k, m)| (k.clone(), m.values().map(|e| e.instance.clone()).collect()))
                .collect()
        });
        Snapshot { index, services }
    }

    /// Waits until the index differs from `after` (or `wait` elapses) and returns the snapshot.
    pub async fn watch(&self, after: u64, wait: Duration) -> Snapshot {
        let mut rx = self.index.subscribe();
        // A client ahead of the index saw a registry that has since restarted: answer at once.
        let _ = tokio::time::timeout(wait, rx.wait_for(|i| *i != after)).await;
        self.snapshot()
    }
}

/// Runs until the process ends: evicts silent instances every half heartbeat interval.
pub async fn evict_expired(registry: Arc<Registry>) {
    let mut tick = tokio::time::interval(registry.heartbeat / 2);
    loop {
        tick.tick().await;
        registry.evict_expired();
    }
}

#[derive(Debug, Deserialize)]
struct WatchQuery {
    #[serde(default)]
    index: u64,
    #[serde(default = "default_wait")]
    wait_ms: u64,
}

fn default_wait() -> u64 {
    30_000
}

/// The registry's HTTP API. Registrations, heartbeats and lookups are the platform's chatter
/// ([`crate::service::telemetry::routine_prefix`]).
pub fn routes(registry: Arc<Registry>) -> Router {
    crate::service::telemetry::routine_prefix("/registry/");
    Router::new()
        .route("/registry/instances", post(register))
        .route(
            "/registry/instances/{service}/{id}",
            put(heartbeat).delete(deregister),
        )
        .route("/registry/services", get(all))
        .route("/registry/services/{service}", get(one))
        .route("/registry/watch", get(watch_changes))
        .with_state(registry)
}

/// A write for an instance of `service` is allowed only to that service's own identity (or an
/// operator); reads stay open to the system's network.
async fn may_write(headers: &HeaderMap, service: &str) -> Result<(), ApiError> {
    let caller = crate::security::auth::platform_caller(headers).await?;
    if caller.may_act_for(service) {
        Ok(())
    } else {
        metrics::counter!("registry_refused_writes_total").increment(1);
        tracing::warn!(?caller, %service, "refused a registry write for another service");
        Err(ApiError::Forbidden(format!(
            "only `{service}` itself registers instances of `{service}`"
        )))
    }
}

async fn register(
    State(r): State<Arc<Registry>>,
    headers: HeaderMap,
    Json(i): Json<Instance>,
) -> Result<StatusCode, ApiError> {
    may_write(&headers, &i.service).await?;
    if i.service.is_empty() || i.id.is_empty() || i.address.is_empty() {
        return Ok(StatusCode::UNPROCESSABLE_ENTITY);
    }
    r.register(i);
    Ok(StatusCode::CREATED)
}

async fn heartbeat(
    State(r): State<Arc<Registry>>,
    headers: HeaderMap,
    Path((service, id)): Path<(String, String)>,
    body: Option<Json<HeartbeatBody>>,
) -> Result<StatusCode, ApiError> {
    may_write(&headers, &service).await?;
    let health = body.and_then(|Json(b)| b.health);
    Ok(if r.heartbeat(&service, &id, health) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}

async fn deregister(
    State(r): State<Arc<Registry>>,
    headers: HeaderMap,
    Path((service, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    may_write(&headers, &service).await?;
    Ok(if r.deregister(&service, &id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    })
}

async fn all(State(r): State<Arc<Registry>>) -> Json<Snapshot> {
    Json(r.snapshot())
}

async fn one(State(r): State<Arc<Registry>>, Path(service): Path<String>) -> Json<Vec<Instance>> {
    Json(r.snapshot().services.remove(&service).unwrap_or_default())
}

async fn watch_changes(
    State(r): State<Arc<Registry>>,
    Query(q): Query<WatchQuery>,
) -> Json<Snapshot> {
    Json(
        r.watch(q.index, Duration::from_millis(q.wait_ms.min(60_000)))
            .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(service: &str, id: &str) -> Instance {
        Instance {
            service: service.into(),
            id: id.into(),
            address: format!("127.0.0.1:{}", 9000 + id.len()),
            version: "0.1.0".into(),
            metadata: BTreeMap::new(),
            health: Health::Up,
        }
    }

    #[tokio::test]
    async fn register_heartbeat_deregister_bump_the_index() {
        let r = Registry::new(Duration::from_secs(1));
        r.register(instance("orders", "a"));
        r.register(instance("orders", "b"));
        assert_eq!(r.snapshot().index, 2);
        r.register(instance("orders", "a"));
        assert_eq!(r.snapshot().index, 2, "a refresh is not a change");
        assert!(r.heartbeat("orders", "a", Some(Health::Down)));
        assert_eq!(r.snapshot().healthy("orders").len(), 1);
        assert!(!r.heartbeat("orders", "zz", None));
        assert!(r.deregister("orders", "a"));
        assert!(!r.deregister("orders", "a"));
        let s = r.snapshot();
        assert_eq!((s.index, s.services["orders"].len()), (4, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn silent_instances_are_evicted_after_three_intervals() {
        let r = Registry::new(Duration::from_millis(100));
        r.register(instance("orders", "a"));
        r.register(instance("orders", "b"));
        tokio::time::advance(Duration::from_millis(250)).await;
        assert!(r.heartbeat("orders", "b", None));
        assert!(r.evict_expired().is_empty(), "250 ms < 3 intervals");
        tokio::time::advance(Duration::from_millis(100)).await;
        let evicted = r.evict_expired();
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].id, "a");
        assert_eq!(r.snapshot().services["orders"].len(), 1);
    }

    #[tokio::test]
    async fn watch_answers_on_change() {
        let r = Registry::new(Duration::from_secs(1));
        let waiting = {
            let r = r.clone();
            tokio::spawn(async move { r.watch(0, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        r.register(instance("orders", "a"));
        let s = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("answered at once")
            .expect("task");
        assert_eq!(s.index, 1);
        let idle = r.watch(1, Duration::from_millis(30)).await;
        assert_eq!(idle.index, 1, "no change: answers after the wait");
    }
}
