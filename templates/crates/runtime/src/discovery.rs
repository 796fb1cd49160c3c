//! The registry client every service and the gateway use: [`Registration`] keeps an instance
//! registered (register at start, heartbeat, register again after an eviction, deregister on
//! graceful shutdown) and [`Watcher`] keeps a live [`Snapshot`] of the registry through its
//! long-poll watch. Both keep retrying while the registry is away and never stop the process.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::{Method, StatusCode};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http_client::{HttpClient, HttpError};
use crate::registry::{HeartbeatBody, Instance, Snapshot};

const CALL: Duration = Duration::from_secs(3);

/// Rotates `items` so each call starts one further along (`next` counts the calls): round
/// robin over a service's instances.
pub fn round_robin<T>(items: &mut [T], next: &std::sync::atomic::AtomicUsize) {
    if items.len() > 1 {
        let start = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        items.rotate_left(start % items.len());
    }
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
            .json::<serde_json::Value>(Method::POST, &url, Some(&body), CALL)
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
            .json::<serde_json::Value>(Method::PUT, &url, Some(&body), CALL)
            .await?;
        Ok(status != StatusCode::NOT_FOUND)
    }

    pub async fn deregister(&self, instance: &Instance) -> Result<(), HttpError> {
        let url = self.instance_url(instance);
        self.http
            .json::<serde_json::Value>(Method::DELETE, &url, None, CALL)
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
    pub fn start(client: RegistryClient, instance: Instance, heartbeat: Duration) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = {
            let client = client.clone();
            let instance = instance.clone();
            tokio::spawn(async move {
                let mut registered = false;
                let mut warned = false;
                while !*stopped.borrow() {
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
}
