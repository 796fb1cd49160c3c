//! The registry client every service and the gateway use: [`Registration`] keeps an instance
//! registered (register at start, heartbeat, register again after an eviction, deregister on
//! graceful shutdown) and [`Watcher`] keeps a live [`Snapshot`] of the registry through its
//! long-poll watch. Both keep retrying while the registry is away and never stop the process.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::{Method, StatusCode};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::platform::registry::{Health, HeartbeatBody, Instance, Snapshot};
use crate::service::http_client::{HttpClient, HttpError};

const CALL: Duration = Duration::from_secs(3);

/// Rotates `items` so each call starts one further along (`next` counts the calls): round
/// robin over a service's instances.
pub fn round_robin<T>(items: &mut [T], next: &std::sync::atomic::AtomicUsize) {
    if items.len() > 1 {
        let start = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        items.rotate_left(start % items.len());
    }
}

/// This process's service identity as the bearer: the registry accepts writes for an instance
/// only from the process it names.
async fn identified() -> Vec<(http::HeaderName, String)> {
    crate::security::identity::call_headers(None).await
}

/// Talks to one registry.
#[derive(Clone, Debug)]
pub struct RegistryClient {
    base: String,
    http: HttpClient,
}

impl RegistryClient {
    /// `base` as `http://host:port`.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: HttpClient::new(),
        }
    }

    pub async fn register(&self, instance: &Instance) -> Result<(), HttpError> {
        let body = serde_json::to_value(instance).unwrap_or_default();
        let url = format!("{}/registry/instances", self.base);
        let (status, _) = self
            .http
            .json_with::<serde_json::Value>(
                Method::POST,
                &url,
                Some(&body),
                CALL,
                identified().await,
            )
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(HttpError::Failed {
                url,
                message: format!("registry answered {status}"),
            })
        }
    }

    /// `Ok(false)` when the registry does not know the instance (it must register again).
    pub async fn heartbeat(&self, instance: &Instance) -> Result<bool, HttpError> {
        let url = self.instance_url(instance);
        let body = serde_json::to_value(HeartbeatBody {
            health: Some(instance.health),
        })
        .unwrap_or_default();
        let (status, _) = self
            .http
            .json_with::<serde_json::Value>(
                Method::PUT,
                &url,
                Some(&body),
                CALL,
                identified().await,
            )
            .await?;
        match status {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            s => Err(HttpError::Failed {
                url,
                message: format!("registry answered {s}"),
            }),
        }
    }

    pub async fn deregister(&self, instance: &Instance) -> Result<(), HttpError> {
        let url = self.instance_url(instance);
        self.http
            .json_with::<serde_json::Value>(Method::DELETE, &url, None, CALL, identified().await)
            .await
            .map(|_| ())
    }

    /// The registry's snapshot once its index is past `after`, or after `wait`.
    pub async fn watch(&self, after: u64, wait: Duration) -> Result<Snapshot, HttpError> {
        let url = format!(
            "{}/registry/watch?index={after}&wait_ms={}",
            self.base,
            wait.as_millis()
        );
        let (status, snapshot) = self
            .http
            .json::<Snapshot>(Method::GET, &url, None, wait + CALL)
            .await?;
        snapshot.ok_or(HttpError::Failed {
            url,
            message: format!("registry answered {status}"),
        })
    }

    fn instance_url(&self, i: &Instance) -> String {
        format!("{}/registry/instances/{}/{}", self.base, i.service, i.id)
    }
}

/// Keeps one instance registered until [`Registration::shutdown`].
pub struct Registration {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    client: RegistryClient,
    instance: Instance,
}

impl Registration {
    /// Registers `instance` and heartbeats every `heartbeat`. With `database`, each heartbeat
    /// reports the instance `Down` while the database does not answer (and `Up` again after),
    /// so clients and the gateway route around it.
    pub fn start(
        client: RegistryClient,
        instance: Instance,
        heartbeat: Duration,
        database: Option<sqlx::PgPool>,
    ) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        // The database is probed by its own task, so a slow probe never delays a heartbeat
        // (three missed ones and the registry evicts the instance).
        let (health_tx, health) = watch::channel(instance.health);
        if let Some(pool) = database {
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                while !*stopped.borrow() {
                    let now = if crate::service::health::database_up(&pool).await {
                        Health::Up
                    } else {
                        Health::Down
                    };
                    health_tx.send_if_modified(|h| std::mem::replace(h, now) != now);
                    tokio::select! {
                        () = tokio::time::sleep(heartbeat) => {}
                        _ = stopped.changed() => {}
                    }
                }
            });
        }
        let task = {
            let client = client.clone();
            let mut instance = instance.clone();
            tokio::spawn(async move {
                let mut registered = false;
                let mut warned = false;
                while !*stopped.borrow() {
                    let now = *health.borrow();
                    if now != instance.health {
                        tracing::warn!(service = %instance.service, health = ?now, "health reported to the registry changed");
                        instance.health = now;
                    }
                    let result = if registered {
                        client.heartbeat(&instance).await
                    } else {
                        client.register(&instance).await.map(|()| true)
                    };
                    match result {
                        Ok(true) => {
                            if !registered || warned {
                                tracing::info!(service = %instance.service, id = %instance.id, address = %instance.address, "registered with the registry");
                            }
                            registered = true;
                            warned = false;
                        }
                        Ok(false) => {
                            tracing::warn!(service = %instance.service, "the registry forgot this instance; registering again");
                            registered = false;
                            continue;
                        }
                        Err(e) => {
                            if !warned {
                                tracing::warn!(error = %e, "registry unreachable; retrying");
                            }
                            warned = true;
                            registered = false;
                        }
                    }
                    tokio::select! {
                        () = tokio::time::sleep(heartbeat) => {}
                        _ = stopped.changed() => {}
                    }
                }
            })
        };
        Self {
            stop,
            task,
            client,
            instance,
        }
    }

    /// Stops heartbeating and deregisters, so traffic moves away before the process exits.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        match self.client.deregister(&self.instance).await {
            Ok(()) => tracing::info!(service = %self.instance.service, "deregistered"),
            Err(e) => tracing::warn!(error = %e, "could not deregister"),
        }
    }
}

/// A live copy of the registry, refreshed by long polling.
#[derive(Clone)]
pub struct Watcher {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
}

impl Watcher {
    /// Starts following the registry in the background.
    pub fn start(client: RegistryClient) -> Self {
        let snapshot = Arc::new(RwLock::new(Arc::new(Snapshot::default())));
        let shared = snapshot.clone();
        tokio::spawn(async move {
            let mut index = 0;
            let mut warned = false;
            loop {
                match client.watch(index, Duration::from_secs(25)).await {
                    Ok(s) => {
                        if s.index < index {
                            tracing::warn!("the registry restarted; following its new index");
                        }
                        index = s.index;
                        warned = false;
                        if let Ok(mut guard) = shared.write() {
                            *guard = Arc::new(s);
                        }
                    }
                    Err(e) => {
                        if !warned {
                            tracing::warn!(error = %e, "registry watch failed; retrying");
                        }
                        warned = true;
                        index = 0;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Self { snapshot }
    }

    /// A watcher over a fixed snapshot (tests, static setups).
    pub fn fixed(snapshot: Snapshot) -> Self {
        Self {
            snapshot: Arc::new(RwLock::new(Arc::new(snapshot))),
        }
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshot.read().map(|g| g.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_starts_one_further_each_call() {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let starts: Vec<u8> = (0..4)
            .map(|_| {
                let mut v = [1u8, 2, 3];
                round_robin(&mut v, &next);
                v[0]
            })
            .collect();
        assert_eq!(starts, [1, 2, 3, 1]);
        let mut one = [7u8];
        round_robin(&mut one, &next);
        assert_eq!(one, [7]);
    }

    /// A registry over real HTTP; an instance whose database does not answer is registered
    /// `down` (so no client routes to it), one without a database `up`.
    #[tokio::test]
    async fn heartbeats_report_the_databases_health() {
        // A system without `[auth]`: registry writes need no identity.
        crate::security::auth::configure_open();
        let registry = crate::platform::registry::Registry::new(Duration::from_secs(5));
        let app = crate::platform::registry::routes(registry.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        // Nothing listens on port 1: every query fails at once.
        let dead = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(300))
            .connect_lazy("postgres://postgres:postgres@127.0.0.1:1/none")
            .expect("lazy pool");
        let instance = |id: &str| Instance {
            service: "orders".into(),
            id: id.into(),
            address: format!("127.0.0.1:{}", 9100 + id.len()),
            version: "0.1.0".into(),
            metadata: std::collections::BTreeMap::new(),
            health: Health::Up,
        };
        let sick = Registration::start(
            RegistryClient::new(&base),
            instance("sick"),
            Duration::from_millis(100),
            Some(dead),
        );
        let fine = Registration::start(
            RegistryClient::new(&base),
            instance("fine-one"),
            Duration::from_millis(100),
            None,
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let s = registry.snapshot();
            let all = s.services.get("orders").map_or(0, Vec::len);
            let healthy: Vec<&str> = s.healthy("orders").iter().map(|i| i.id.as_str()).collect();
            if all == 2 && healthy == ["fine-one"] {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{all} registered, healthy: {healthy:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sick.shutdown().await;
        fine.shutdown().await;
    }
}
