//! Sagas: the durable state of each saga instance at its owner, the step records of its
//! participants, the timeout sweeper, metrics, and the admin view of a saga's history.
//!
//! Tables (created with the messaging tables, see [`crate::messaging::ensure_schema`]):
//! - `msa_sagas` (owner): one row per saga instance — name, id (the owner's entity id), status
//!   (`running`, `completed`, `compensating`, `compensated`, `timed-out`), current step, data,
//!   deadline, correlation id and trace context of the request that started it;
//! - `msa_saga_log` (owner): every transition, in order — the history `GET /admin/sagas/...` shows;
//! - `msa_saga_steps` (participants): one row per (saga, id, action) — `done` with the data its
//!   compensation needs, `refused`, or `compensated`. The row is the participant's idempotency
//!   record: a repeated command or event finds it and has no second effect, and a compensation
//!   that arrives before its action leaves a `compensated` row, so the late action is skipped.
//!
//! Invariants: a saga instance moves out of `running` exactly once ([`finish`] is a
//! compare-and-set), so a late success after a timeout changes nothing; everything a step does
//! commits in the same transaction as its step record and the events it publishes (outbox).

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

/// The tables, run by `messaging::ensure_schema`.
pub(crate) const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS msa_sagas (
    saga TEXT NOT NULL,
    id UUID NOT NULL,
    status TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    data JSONB NOT NULL DEFAULT '{}',
    reason TEXT,
    deadline TIMESTAMPTZ NOT NULL,
    correlation_id UUID NOT NULL,
    trace_context TEXT,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (saga, id)
);
CREATE INDEX IF NOT EXISTS msa_sagas_running ON msa_sagas (deadline) WHERE status IN ('running', 'compensating');
CREATE TABLE IF NOT EXISTS msa_saga_log (
    seq BIGSERIAL PRIMARY KEY,
    saga TEXT NOT NULL,
    id UUID NOT NULL,
    entry TEXT NOT NULL,
    detail JSONB NOT NULL DEFAULT '{}',
    at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS msa_saga_log_instance ON msa_saga_log (saga, id, seq);
CREATE TABLE IF NOT EXISTS msa_saga_steps (
    saga TEXT NOT NULL,
    id UUID NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    data JSONB NOT NULL DEFAULT '{}',
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (saga, id, action)
)
";

/// Where a saga instance ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Completed,
    Compensated,
    TimedOut,
}

impl End {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Compensated => "compensated",
            Self::TimedOut => "timed-out",
        }
    }
}

/// What a participant's action decided: done (publish the step's `on-success` event) or
/// refused (publish its `on-failure` event).
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome<S, F> {
    Done(S),
    Refused(F),
}

/// A running saga instance as its owner stores it.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Instance {
    pub saga: String,
    pub id: uuid::Uuid,
    pub status: String,
    pub step: i32,
    pub data: serde_json::Value,
    pub reason: Option<String>,
    pub deadline: chrono::DateTime<chrono::Utc>,
    pub correlation_id: uuid::Uuid,
    pub trace_context: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

static TIMEOUT_OVERRIDE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();

/// Reads the setting `saga-timeout-ms`, which overrides the blueprint's timeout of every saga
/// the process owns (operations tuning, tests); called once at start.
pub fn configure(settings: &crate::config::Settings) {
    let v = settings
        .int("saga_timeout_ms")
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Duration::from_millis);
    let _ = TIMEOUT_OVERRIDE.set(v);
    if let Some(ms) = settings
        .int("event_ack_wait_ms")
        .and_then(|v| u64::try_from(v).ok())
    {
        let _ = ACK_WAIT.set(Duration::from_millis(ms.max(100)));
    }
}

/// The timeout of a saga: the blueprint's, unless `saga-timeout-ms` overrides it.
pub fn timeout(blueprint: Duration) -> Duration {
    TIMEOUT_OVERRIDE
        .get()
        .copied()
        .flatten()
        .unwrap_or(blueprint)
}

/// Appends an entry to the instance's history.
pub async fn log(
    conn: &mut PgConnection,
    saga: &str,
    id: uuid::Uuid,
    entry: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO msa_saga_log (saga, id, entry, detail) VALUES ($1, $2, $3, $4)")
        .bind(saga)
        .bind(id)
        .bind(entry)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}

/// Starts instance `id` of `saga` (in the caller's transaction); `false` if it exists already.
pub async fn start(
    conn: &mut PgConnection,
    saga: &str,
    id: uuid::Uuid,
    timeout: Duration,
    data: serde_json::Value,
    correlation_id: uuid::Uuid,
) -> Result<bool, sqlx::Error> {
    let started = sqlx::query(
        "INSERT INTO msa_sagas (saga, id, status, data, deadline, correlation_id, trace_context) \
         VALUES ($1, $2, 'running', $3, now() + make_interval(secs => $4), $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(saga)
    .bind(id)
    .bind(&data)
    .bind(self::timeout(timeout).as_secs_f64())
    .bind(correlation_id)
    .bind(crate::telemetry::current_traceparent())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if started {
        log(conn, saga, id, "started", data).await?;
        metrics::counter!("sagas_started_total", "saga" => saga.to_string()).increment(1);
    }
    Ok(started)
}

/// The instance, locked for this transaction.
pub async fn lock(
    conn: &mut PgConnection,
    saga: &str,
    id: uuid::Uuid,
) -> Result<Option<Instance>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM msa_sagas WHERE saga = $1 AND id = $2 FOR UPDATE")
        .bind(saga)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Moves a running (or compensating) instance to step `step` with `data`, logging `entry`.
pub async fn advance(
    conn: &mut PgConnection,
    saga: &str,
    id: uuid::Uuid,
    status: &str,
    step: i32,
    data: &serde_json::Value,
    entry: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE msa_sagas SET status = $3, step = $4, data = $5, updated_at = now() \
         WHERE saga = $1 AND id = $2",
    )
    .bind(saga)
    .bind(id)
    .bind(status)
    .bind(step)
    .bind(data)
    .execute(&mut *conn)
    .await?;
    log(
        conn,
        saga,
        id,
        entry,
        serde_json::json!({ "step": step, "status": status }),
    )
    .await
}

/// Ends a running or compensating instance; `false` when it had ended already (a late reply).
pub async fn finish(
    conn: &mut PgConnection,
    saga: &str,
    id: uuid::Uuid,
    end: End,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE msa_sagas SET status = $3, reason = $4, updated_at = now() \
         WHERE saga = $1 AND id = $2 AND status IN ('running', 'compensating')",
    )
    .bind(saga)
    .bind(id)
    .bind(end.as_str())
    .bind(reason)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if done {
        log(
            conn,
            saga,
            id,
            end.as_str(),
            serde_json::json!({ "reason": reason }),
        )
        .await?;
        let name = match end {
            End::Completed => "sagas_completed_total",
            End::Compensated => "sagas_compensated_total",
            End::TimedOut => "sagas_timed_out_total",
        };
        metrics::counter!(name, "saga" => saga.to_string()).increment(1);
    }
    Ok(done)
}

/// Running instances of `saga` past their deadline, locked (others skip them), at most `limit`.
pub async fn overdue(
    conn: &mut PgConnection,
    saga: &str,
    limit: i64,
) -> Result<Vec<Instance>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM msa_sagas WHERE saga = $1 AND status = 'running' AND deadline < now() \
         ORDER BY deadline LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(saga)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Instances of `saga` that have not ended (to resume after a restart), oldest first.
pub async fn unfinished(pool: &PgPool, saga: &str) -> Result<Vec<Instance>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM msa_sagas WHERE saga = $1 AND status IN ('running', 'compensating') \
         ORDER BY started_at",
    )
    .bind(saga)
    .fetch_all(pool)
    .await
}

/// A participant's record of one step of one saga instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepRecord {
    /// Not seen before: the caller runs the action.
    New,
    /// Seen before, with this status (`done`, `refused`, `compensated`): no second effect.
    Seen(String),
}

/// Whether the participant has seen (saga, id, action) before, locking the record if so.
pub async fn step_record(
    conn: &mut PgConnection,
    saga: &str,
    id: uuid::Uuid,
    action: &str,
) -> Result<StepRecord, sqlx::Error> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM msa_saga_steps WHERE saga = $1 AND id = $2 AND action = $3 FOR UPDATE",
    )
    .bind(saga)
    .bind(id)
    .bind(action)
    .fetch_optional(conn)
    .await?;
    Ok(status.map_or(StepRecord::New, StepRecord::Seen))
}

/// Records the outcome of an action (`done` with the data its compensation needs, or
/// `refused`). A concurrent first record of the same step fails the transaction (primary key),
/// which the consumer retries, and then finds this record.
pub async fn record_step(
    conn: &mut PgConnection,
    saga: &str,
    id: uuid::Uuid,
    action: &str,
    status: &str,
    data: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO msa_saga_steps (saga, id, action, status, data) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(saga)
    .bind(id)
    .bind(action)
    .bind(status)
    .bind(data)
    .execute(conn)
    .await?;
    metrics::counter!("saga_steps_total", "saga" => saga.to_string(), "action" => action.to_string(), "status" => status.to_string())
        .increment(1);
    Ok(())
}

/// Marks the action compensated and returns the data it recorded when it had been `done`
/// (the caller undoes it); `None` when there is nothing to undo. Leaves a `compensated` record
/// in any case, so an action arriving after its compensation is skipped.
pub async fn take_for_compensation(
    conn: &mut PgConnection,
    saga: &str,
    id: uuid::Uuid,
    action: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let before: Option<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT status, data FROM msa_saga_steps WHERE saga = $1 AND id = $2 AND action = $3 FOR UPDATE",
    )
    .bind(saga)
    .bind(id)
    .bind(action)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO msa_saga_steps (saga, id, action, status) VALUES ($1, $2, $3, 'compensated') \
         ON CONFLICT (saga, id, action) DO UPDATE SET status = 'compensated', at = now()",
    )
    .bind(saga)
    .bind(id)
    .bind(action)
    .execute(&mut *conn)
    .await?;
    Ok(match before {
        Some((status, data)) if status == "done" => {
            metrics::counter!("saga_compensations_total", "saga" => saga.to_string(), "action" => action.to_string())
                .increment(1);
            Some(data)
        }
        _ => None,
    })
}

/// After a start, deadlines are enforced only after this grace: replies that reached the broker
/// while the owner was down, and those in flight when it stopped (redelivered after the broker's
/// acknowledgement wait, `event-ack-wait-ms`, default 30 s), are taken in first, so a restart
/// does not time out finished work.
pub fn start_grace() -> Duration {
    ACK_WAIT.get().copied().unwrap_or(Duration::from_secs(30)) + Duration::from_secs(2)
}

static ACK_WAIT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

/// Every `every` (after [`start_grace`]), hands the overdue instances of `saga` to `expire` (in
/// one transaction per batch, instances locked so replicas share the work).
pub fn sweep<F>(pool: PgPool, saga: &'static str, every: Duration, expire: F)
where
    F: for<'c> Fn(
            &'c mut PgConnection,
            Instance,
        ) -> crate::broker::BoxFuture<'c, Result<(), crate::ApiError>>
        + Send
        + Sync
        + 'static,
{
    tokio::spawn(async move {
        tokio::time::sleep(start_grace()).await;
        loop {
            tokio::time::sleep(every).await;
            let result: Result<usize, crate::ApiError> = async {
                let mut tx = pool.begin().await?;
                let due = overdue(&mut tx, saga, 100).await?;
                let n = due.len();
                for instance in due {
                    let trace = instance.trace_context.clone();
                    crate::telemetry::with_traceparent(trace, expire(&mut tx, instance)).await?;
                }
                tx.commit().await?;
                Ok(n)
            }
            .await;
            match result {
                Ok(0) => {}
                Ok(n) => tracing::info!(saga, expired = n, "saga deadlines passed"),
                Err(e) => tracing::warn!(saga, error = %e, "saga sweep failed; next round retries"),
            }
        }
    });
}

#[derive(Debug, Deserialize)]
struct ListParams {
    status: Option<String>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct LogEntry {
    entry: String,
    detail: serde_json::Value,
    at: chrono::DateTime<chrono::Utc>,
}

/// `GET /admin/sagas?status=` (the latest 100 instances) and `GET /admin/sagas/{saga}/{id}`
/// (one instance with its history).
pub fn admin_routes(pool: PgPool) -> Router {
    Router::new()
        .route("/admin/sagas", get(list))
        .route("/admin/sagas/{saga}/{id}", get(one))
        .with_state(pool)
}

async fn list(
    State(pool): State<PgPool>,
    Query(p): Query<ListParams>,
) -> Result<Json<Vec<Instance>>, crate::ApiError> {
    Ok(Json(
        sqlx::query_as(
            "SELECT * FROM msa_sagas WHERE ($1::text IS NULL OR status = $1) \
             ORDER BY started_at DESC LIMIT 100",
        )
        .bind(p.status)
        .fetch_all(&pool)
        .await?,
    ))
}

async fn one(
    State(pool): State<PgPool>,
    Path((saga, id)): Path<(String, uuid::Uuid)>,
) -> Result<Json<serde_json::Value>, crate::ApiError> {
    let instance: Option<Instance> =
        sqlx::query_as("SELECT * FROM msa_sagas WHERE saga = $1 AND id = $2")
            .bind(&saga)
            .bind(id)
            .fetch_optional(&pool)
            .await?;
    let Some(instance) = instance else {
        return Err(crate::ApiError::NotFound(format!("saga {saga} {id}")));
    };
    let history: Vec<LogEntry> = sqlx::query_as(
        "SELECT entry, detail, at FROM msa_saga_log WHERE saga = $1 AND id = $2 ORDER BY seq",
    )
    .bind(&saga)
    .bind(id)
    .fetch_all(&pool)
    .await?;
    Ok(Json(
        serde_json::json!({ "instance": instance, "history": history }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_have_their_names() {
        assert_eq!(End::TimedOut.as_str(), "timed-out");
        assert_eq!(End::Completed.as_str(), "completed");
        assert_eq!(End::Compensated.as_str(), "compensated");
    }

    #[test]
    fn schema_statements_split_cleanly() {
        let statements: Vec<&str> = SCHEMA
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(statements.len(), 5);
        assert!(statements.iter().all(|s| s.starts_with("CREATE")));
    }
}
