//! The Postgres pool: connects with retries while the database starts, then runs the
//! service's embedded migrations (each service owns its database; nothing else migrates it).

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::resilience::backoff::Backoff;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database_url configured (set DATABASE_URL or APP_DATABASE_URL)")]
    NoUrl,
    #[error("database unreachable after {waited_secs}s: {source}")]
    Unreachable {
        waited_secs: u64,
        source: sqlx::Error,
    },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connects, retrying with backoff for up to `wait_secs`.
pub async fn connect(url: &str, pool_size: u32, wait_secs: u64) -> Result<PgPool, DbError> {
    let started = std::time::Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(source) if started.elapsed().as_secs() >= wait_secs => {
                return Err(DbError::Unreachable {
                    waited_secs: wait_secs,
                    source,
                });
            }
            Err(e) => {
                let wait = backoff.next_delay();
                tracing::info!(error = %e, retry_in_ms = wait.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Applies every pending migration of `migrator`.
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> Result<(), DbError> {
    migrator.run(pool).await?;
    Ok(())
}
