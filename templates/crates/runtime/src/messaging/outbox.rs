//! The transactional outbox. Publishing an event means [`enqueue`]-ing it into the service's
//! `msa_outbox` table inside the transaction that changes the state, so the event exists if and
//! only if the change committed. The [`relay`] (a task of the service process) sends committed
//! rows to the broker in id order, waits for the broker's confirmation, then marks them
//! published. It survives crashes (unmarked rows are sent again; consumers deduplicate by event
//! id) and broker outages (rows wait, the relay retries with backoff).
//!
//! Several instances of a service may run: a transaction-scoped advisory lock lets one relay at a
//! time send, which keeps the order. Commits wake the relay at once (`NOTIFY msa_outbox`);
//! a poll every `poll` interval covers a lost notification.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::watch;

use crate::messaging::broker::{Broker, BrokerError, BrokerSource, Outgoing};
use crate::resilience::backoff::Backoff;

/// Advisory lock key of the relay (`'msa_outbox'` hashed by hand: any constant works, as each
/// service owns its database).
const RELAY_LOCK: i64 = 0x6d73_615f_6f75_7462;
/// Rows sent per round trip.
const BATCH: i64 = 2000;

/// Records `payload` for publication on `subject`, in the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    subject: &str,
    event_id: uuid::Uuid,
    event_type: &str,
    payload: &[u8],
) -> Result<(), sqlx::Error> {
    let text = std::str::from_utf8(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO msa_outbox (event_id, subject, event_type, payload) VALUES ($1, $2, $3, $4::jsonb)",
    )
    .bind(event_id)
    .bind(subject)
    .bind(event_type)
    .bind(text)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify('msa_outbox', '')")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How many rows wait to be published.
pub async fn pending(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM msa_outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// Sends one batch if this instance holds the relay lock. Returns how many rows were published.
pub async fn relay_once(pool: &PgPool, broker: &dyn Broker) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(RELAY_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT id, event_id, subject, payload::text AS payload FROM msa_outbox \
         WHERE published_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut batch = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.try_get::<i64, _>("id")?);
        batch.push(Outgoing {
            subject: row.try_get("subject")?,
            message_id: row.try_get::<uuid::Uuid, _>("event_id")?.to_string(),
            payload: row.try_get::<String, _>("payload")?.into_bytes(),
        });
    }
    // One producer span per message, a child of the operation that produced it (exported
    // with the feature `otlp`), open while the batch is published.
    #[cfg(feature = "otlp")]
    let _spans: Vec<tracing::Span> = batch
        .iter()
        .map(|m| {
            #[derive(serde::Deserialize)]
            struct Trace {
                trace_context: Option<String>,
            }
            let trace = serde_json::from_slice::<Trace>(&m.payload)
                .ok()
                .and_then(|t| t.trace_context);
            crate::service::telemetry::producer_span(&m.subject, trace.as_deref())
        })
        .collect();
    let (confirmed, failure) = match broker.publish(&batch).await {
        Ok(()) => (batch.len(), None),
        Err(BrokerError::Publish { confirmed, message }) => {
            (confirmed, Some(BrokerError::Publish { confirmed, message }))
        }
        Err(e) => (0, Some(e)),
    };
    if confirmed > 0 {
        sqlx::query("UPDATE msa_outbox SET published_at = now() WHERE id = ANY($1)")
            .bind(&ids[..confirmed])
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        metrics::counter!("outbox_published_total").increment(confirmed as u64);
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(confirmed),
    }
}

/// Deletes rows published more than `keep` ago.
pub async fn purge(pool: &PgPool, keep: Duration) -> Result<u64, sqlx::Error> {
    let secs = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
    let done = sqlx::query(
        "DELETE FROM msa_outbox WHERE published_at < now() - make_interval(secs => $1)",
    )
    .bind(secs as f64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Runs until `stop` turns true: publishes committed rows as they appear.
pub async fn relay(
    pool: PgPool,
    brokers: Arc<dyn BrokerSource>,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen("msa_outbox").await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "outbox: LISTEN failed; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "outbox: no listener connection; polling only");
            None
        }
    };
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut last_purge = std::time::Instant::now();
    while !*stop.borrow() {
        let sent = match brokers.get().await {
            Ok(broker) => relay_once(&pool, broker.as_ref()).await,
            Err(e) => Err(e.into()),
        };
        match sent {
            Ok(n) => {
                backoff.reset();
                if let Ok(p) = pending(&pool).await {
                    metrics::gauge!("outbox_pending").set(p as f64);
                }
                if n as i64 == BATCH {
                    continue;
                }
            }
            Err(e) => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "outbox: relay failed; rows stay until the broker confirms");
                if matches!(e, RelayError::Broker(_)) {
                    brokers.reset();
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        }
        if last_purge.elapsed() > Duration::from_secs(600) {
            last_purge = std::time::Instant::now();
            if let Err(e) = purge(&pool, Duration::from_secs(24 * 3600)).await {
                tracing::warn!(error = %e, "outbox: purge failed");
            }
        }
        let wake = async {
            match listener.as_mut() {
                Some(l) => {
                    if l.recv().await.is_err() {
                        tokio::time::sleep(poll).await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wake => {}
            () = tokio::time::sleep(poll) => {}
            _ = stop.changed() => {}
        }
    }
    tracing::info!("outbox: relay stopped");
}
