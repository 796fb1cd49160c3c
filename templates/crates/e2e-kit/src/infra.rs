//! The containers a system needs: Postgres (one server, a database per process), the broker
//! and Redis. Image names come from env vars whose defaults are the official images
//! (`MSA_IMAGE_POSTGRES`, `MSA_IMAGE_NATS`, `MSA_IMAGE_RABBITMQ`, `MSA_IMAGE_KAFKA`,
//! `MSA_IMAGE_REDIS`). Each is
//! mapped to a fixed free host port, so a restarted container keeps its address. Containers
//! are removed when dropped, also when a check panics.

use std::path::Path;
use std::time::{Duration, Instant};

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// An image name from `var`, or the official `default`, split into name and tag.
pub fn image(var: &str, default: &str) -> (String, String) {
    let full = std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string());
    match full.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (full, "latest".to_string()),
    }
}

/// Where [`free_port`] picks: below the kernel's ephemeral range (32768–60999 by default),
/// whose ports outgoing connections take as their source ports.
const PORTS: std::ops::Range<u16> = 12_000..32_000;

/// A free TCP port on the loopback interface, for a process started later. Chosen at random
/// below the ephemeral range: a port the kernel hands out (`bind(0)`) can be taken, before the
/// process binds it, as the source port of any outgoing connection on the machine, which made
/// a process fail to start now and then when several systems ran at once. A port is handed out
/// once per test binary: two systems booting at once in its threads each draw ports before
/// their processes bind them, and a port free when drawn twice made the later process fail
/// ("address in use").
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let _ = STATE.compare_exchange(0, seed | 1, Ordering::Relaxed, Ordering::Relaxed);
    let span = u64::from(PORTS.end - PORTS.start);
    for _ in 0..1000 {
        // xorshift, under the lock of the ports given.
        let mut x = STATE.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        STATE.store(x, Ordering::Relaxed);
        let port = PORTS.start + (x % span) as u16;
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A running container with the URL processes use to reach it.
pub struct Service {
    pub name: &'static str,
    pub container: ContainerAsync<GenericImage>,
    pub url: String,
}

impl Service {
    /// Stops the container (its data stays) and starts it again on the same port.
    pub async fn restart(&self) -> Result<(), String> {
        self.stop().await?;
        self.start().await
    }

    pub async fn stop(&self) -> Result<(), String> {
        self.container
            .stop()
            .await
            .map_err(|e| format!("stop {}: {e}", self.name))
    }

    pub async fn start(&self) -> Result<(), String> {
        self.container
            .start()
            .await
            .map_err(|e| format!("start {}: {e}", self.name))
    }

    /// Writes the container's output to `dir/<name>.log`.
    pub async fn save_logs(&self, dir: &Path) {
        let out = self.container.stdout_to_vec().await.unwrap_or_default();
        let err = self.container.stderr_to_vec().await.unwrap_or_default();
        let _ = std::fs::write(dir.join(format!("{}.log", self.name)), [out, err].concat());
    }
}

/// Starts Postgres and creates `databases` in it; returns it once it answers queries.
pub async fn postgres(databases: &[String]) -> Result<Service, String> {
    let (name, tag) = image("MSA_IMAGE_POSTGRES", "postgres:16-alpine");
    let port = free_port();
    let container = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_mapped_port(port, 5432.tcp())
        .with_env_var("POSTGRES_PASSWORD", "postgres")
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .map_err(|e| format!("start postgres (set MSA_IMAGE_POSTGRES when offline): {e}"))?;
    let url = format!("postgres://postgres:postgres@127.0.0.1:{port}");
    let pool = connect(&format!("{url}/postgres"), Duration::from_secs(60)).await?;
    for db in databases {
        sqlx::query(&format!("CREATE DATABASE \"{db}\""))
            .execute(&pool)
            .await
            .map_err(|e| format!("create database {db}: {e}"))?;
    }
    pool.close().await;
    Ok(Service {
        name: "postgres",
        container,
        url,
    })
}

/// Connects to `url`, retrying until one query succeeds (only the final server listens on
/// TCP, so one answer means the database is up for good).
pub async fn connect(url: &str, within: Duration) -> Result<sqlx::PgPool, String> {
    let deadline = Instant::now() + within;
    loop {
        let last = match sqlx::PgPool::connect(url).await {
            Ok(pool) => match sqlx::query("SELECT 1").execute(&pool).await {
                Ok(_) => return Ok(pool),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(format!("postgres did not answer in {within:?}: {last}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until `port` on the loopback interface accepts connections.
pub async fn wait_for_port(port: u16, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err(format!("nothing listens on port {port} after {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Starts the broker: `nats` (JetStream), `rabbitmq` or `kafka` (KRaft; `MSA_IMAGE_KAFKA` may
/// name any Kafka-protocol broker image that reads `KAFKA_ADVERTISED_LISTENERS`).
pub async fn broker(kind: &str) -> Result<Service, String> {
    let port = free_port();
    let (request, url, name) = match kind {
        "nats" => {
            let (image_name, tag) = image("MSA_IMAGE_NATS", "nats:2");
            let img = GenericImage::new(image_name, tag)
                .with_wait_for(WaitFor::message_on_stderr("Server is ready"))
                .with_mapped_port(port, 4222.tcp());
            // The official image needs the flags; a local image given by env starts JetStream
            // itself.
            let img = if std::env::var("MSA_IMAGE_NATS").is_err() {
                img.with_cmd(["-js", "-sd", "/data"])
            } else {
                img
            };
            (img, format!("nats://127.0.0.1:{port}"), "nats")
        }
        "rabbitmq" => {
            let (image_name, tag) = image("MSA_IMAGE_RABBITMQ", "rabbitmq:3");
            let img = GenericImage::new(image_name, tag)
                .with_wait_for(WaitFor::message_on_stdout("completed with"))
                .with_mapped_port(port, 5672.tcp());
            (
                img,
                format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
                "rabbitmq",
            )
        }
        "kafka" => {
            let (image_name, tag) = image("MSA_IMAGE_KAFKA", crate::kafka::KAFKA_IMAGE);
            let img = crate::kafka::kraft_env(&format!("127.0.0.1:{port}"))
                .into_iter()
                .fold(
                    GenericImage::new(image_name, tag)
                        .with_wait_for(WaitFor::Nothing)
                        .with_mapped_port(port, 9092.tcp()),
                    |img, (k, v)| img.with_env_var(k, v),
                );
            (img, format!("kafka://127.0.0.1:{port}"), "kafka")
        }
        other => return Err(format!("no broker `{other}` in the kit")),
    };
    let container = request
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .map_err(|e| format!("start {kind}: {e}"))?;
    if kind == "kafka" {
        wait_for_port(port, Duration::from_secs(120)).await?;
    }
    Ok(Service {
        name,
        container,
        url,
    })
}

/// Starts Redis.
pub async fn redis() -> Result<Service, String> {
    let (name, tag) = image("MSA_IMAGE_REDIS", "redis:7");
    let port = free_port();
    let container = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
        .with_mapped_port(port, 6379.tcp())
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await
        .map_err(|e| format!("start redis (set MSA_IMAGE_REDIS when offline): {e}"))?;
    Ok(Service {
        name: "redis",
        container,
        url: format!("redis://127.0.0.1:{port}"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_never_given_twice() {
        // Two threads drawing at once, as two systems booting in one test binary do.
        let draw = || (0..1000).map(|_| super::free_port()).collect::<Vec<u16>>();
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(draw);
            let b = s.spawn(draw);
            (a.join().unwrap(), b.join().unwrap())
        });
        let distinct: std::collections::BTreeSet<u16> = a.iter().chain(&b).copied().collect();
        assert_eq!(distinct.len(), 2000, "a port given twice");
        assert!(distinct.iter().all(|p| super::PORTS.contains(p)));
    }
}
