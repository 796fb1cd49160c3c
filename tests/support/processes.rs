//! Containers and processes of the end-to-end tests: Postgres (waited for until it answers a
//! query), a message broker on a fixed host port, Redis, and a guard that kills a spawned service process when a test ends or panics.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::image;

/// The e2e kit's Kafka (one KRaft node), the same file the generator and the kit compile.
#[path = "../../templates/crates/e2e-kit/src/kafka.rs"]
mod kafka;

/// A spawned process, killed when dropped.
pub struct Process(pub Child);

impl Process {
    /// Sends `signal` (`-TERM`, `-KILL`, `-STOP`, `-CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Postgres (`MSA_IMAGE_POSTGRES`, default the official image) with database `db` and
/// returns it with its host port, once it answers queries.
pub async fn postgres(db: &str) -> (ContainerAsync<GenericImage>, u16) {
    let (name, tag) = image("MSA_IMAGE_POSTGRES", "postgres:16-alpine");
    let pg = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_env_var("POSTGRES_PASSWORD", "postgres")
        .with_env_var("POSTGRES_DB", db)
        .start()
        .await
        .expect("start postgres (set MSA_IMAGE_POSTGRES to a local image when offline)");
    let port = pg.get_host_port_ipv4(5432).await.expect("mapped port");
    let url = format!("postgres://postgres:postgres@127.0.0.1:{port}/{db}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Only the final server listens on TCP (the init server uses the socket), so one
        // successful query means the database is up for good.
        if let Ok(pool) = sqlx::PgPool::connect(&url).await
            && sqlx::query("SELECT 1").execute(&pool).await.is_ok()
        {
            return (pg, port);
        }
        assert!(
            Instant::now() < deadline,
            "postgres did not accept connections in 60s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts a broker, `nats` (`MSA_IMAGE_NATS`, JetStream on), `rabbitmq`
/// (`MSA_IMAGE_RABBITMQ`) or `kafka` (`MSA_IMAGE_KAFKA`, a single KRaft node; locally a
/// Kafka-protocol broker, tansu, packaged by `tests/images/provision.sh`), on a fixed host port so a restart keeps its address; returns it with
/// its URL.
pub async fn broker(kind: &str) -> (ContainerAsync<GenericImage>, String) {
    let port = crate::free_port();
    let (request, url) = match kind {
        "nats" => {
            let (name, tag) = image("MSA_IMAGE_NATS", "nats:2");
            let img = GenericImage::new(name, tag)
                .with_wait_for(WaitFor::message_on_stderr("Server is ready"))
                .with_mapped_port(port, 4222.tcp());
            // The local image starts JetStream itself; the official one needs the flags.
            let img = if std::env::var("MSA_IMAGE_NATS").is_err() {
                img.with_cmd(["-js", "-sd", "/data"])
            } else {
                img
            };
            (img, format!("nats://127.0.0.1:{port}"))
        }
        "kafka" => {
            let (name, tag) = image("MSA_IMAGE_KAFKA", kafka::KAFKA_IMAGE);
            let env = kafka::kraft_env(&format!("127.0.0.1:{port}"));
            let img = env.into_iter().fold(
                GenericImage::new(name, tag)
                    .with_wait_for(WaitFor::Nothing)
                    .with_mapped_port(port, 9092.tcp()),
                |img, (k, v)| img.with_env_var(k, v),
            );
            (img, format!("kafka://127.0.0.1:{port}"))
        }
        _ => {
            let (name, tag) = image("MSA_IMAGE_RABBITMQ", "rabbitmq:3");
            let img = GenericImage::new(name, tag)
                .with_wait_for(WaitFor::message_on_stdout("completed with"))
                .with_mapped_port(port, 5672.tcp());
            (img, format!("amqp://guest:guest@127.0.0.1:{port}/%2f"))
        }
    };
    let container = request
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .unwrap_or_else(|e| panic!("start {kind}: {e}"));
    if kind == "kafka" {
        wait_for_port(port).await;
    }
    (container, url)
}

/// Starts Redis (`MSA_IMAGE_REDIS`, default the official image); returns it with its URL.
pub async fn redis() -> (ContainerAsync<GenericImage>, String) {
    let (name, tag) = image("MSA_IMAGE_REDIS", "redis:7");
    let container = GenericImage::new(name, tag)
        .with_exposed_port(6379.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await
        .expect("start redis (set MSA_IMAGE_REDIS to a local image when offline)");
    let port = container
        .get_host_port_ipv4(6379)
        .await
        .expect("mapped port");
    (container, format!("redis://127.0.0.1:{port}"))
}

/// Starts the binary `bin/<name>` of workspace `ws` with its database, broker and port, with
/// token checks off (`APP_AUTH_URL=none`): the tests using it exercise events, not auth.
pub fn spawn(ws: &Path, name: &str, port: u16, db: &str, broker: &str) -> Process {
    spawn_with(
        ws,
        name,
        port,
        db,
        broker,
        &[("APP_AUTH_URL", "none".into())],
    )
}

/// [`spawn`] with extra environment variables.
pub fn spawn_with(
    ws: &Path,
    name: &str,
    port: u16,
    db: &str,
    broker: &str,
    env: &[(&str, String)],
) -> Process {
    Process(
        Command::new(ws.join("bin").join(name))
            .current_dir(ws)
            .env("DATABASE_URL", db)
            .env("BROKER_URL", broker)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("APP_PORT", port.to_string())
            .env("APP_HOST", "127.0.0.1")
            .env("APP_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}")),
    )
}

/// Waits until the process listening on `port` answers `/health/ready` (60 s at most).
pub async fn wait_ready(http: &reqwest::Client, port: u16, p: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = p.0.try_wait() {
            panic!("service on {port} exited early with {status}");
        }
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
            && r.status() == reqwest::StatusCode::OK
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "service on {port} not ready in 60s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Prometheus text of the process listening on `port`.
pub async fn metrics(http: &reqwest::Client, port: u16) -> String {
    http.get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// Waits (up to 2 minutes) until `port` on the loopback interface accepts connections.
pub async fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on port {port} after 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
