//! Containers and processes of the end-to-end tests: Postgres (waited for until it answers a
//! query) and a guard that kills a spawned service process when a test ends or panics.

use std::process::Child;
use std::time::{Duration, Instant};

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::image;

/// A spawned process, killed when dropped.
pub struct Process(pub Child);

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
