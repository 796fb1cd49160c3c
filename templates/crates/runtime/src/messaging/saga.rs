//! Sagas: the durable state of each saga instance at its owner, the step records of its
//! participants, the timeout sweeper, metrics, and the admin view of a saga's history.
//!
//! Tables (created with the messaging tables, see [`crate::messaging::wiring::ensure_schema`]):
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

/// The tables, run by `wiring::ensure_schema`.
pub(crate) const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS msa_sagas (
    saga TEXT NOT NULL,
    id UUID NOT NULL,
    status TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    data JSONB NOT NULL DEFAULT '{}',
    reason TEXT,
    timed_out BOOLEAN NOT NULL DEFAULT false,
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
    pub timed_out: bool,
    pub deadline: chrono::DateTime<chrono::Utc>,
    pub correlation_id: uuid::Uuid,
    pub trace_context: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

static TIMEOUT_OVERRIDE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();

/// Reads the setting `saga-timeout-ms`, which overrides the blueprint's timeout of every saga
/// the process owns (operations tuning, tests); called once at start.
pub fn configure(settings: &crate::service::config::Settings) {
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
    .bind(crate::service::telemetry::current_traceparent())
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

/// The steps of an orchestration saga, as its owner runs them.
#[derive(Debug, Clone, Copy)]
pub struct Definition {
    pub name: &'static str,
    pub steps: &'static [StepDef],
}

#[derive(Debug, Clone, Copy)]
pub struct StepDef {
    pub action: &'static str,
    pub compensation: Option<&'static str>,
}

/// What the owner of an orchestration does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send `action` (a step's action or compensation) to the participant of step `step`.
    Send { step: usize, action: &'static str },
    /// The instance ended (the entity moves to its final status).
    Finish { end: End, reason: Option<String> },
    /// Nothing to do (a duplicate or late reply).
    Nothing,
}

impl Definition {
    /// The next compensation at or below step `from` (in reverse order), or the end.
    fn compensate_from(&self, from: Option<usize>, reason: &str, timed_out: bool) -> (i32, Next) {
        let mut k = from;
        while let Some(i) = k {
            if let Some(c) = self.steps[i].compensation {
                return (i as i32, Next::Send { step: i, action: c });
            }
            k = i.checked_sub(1);
        }
        let end = if timed_out {
            End::TimedOut
        } else {
            End::Compensated
        };
        (
            -1,
            Next::Finish {
                end,
                reason: Some(reason.to_string()),
            },
        )
    }

    /// The pure transition on a reply: the instance's status, step, failure reason and timeout
    /// flag, and the reply → the new (status, step) and what to do.
    #[allow(clippy::too_many_arguments)]
    pub fn transition(
        &self,
        status: &str,
        step: usize,
        stored_reason: Option<&str>,
        timed_out: bool,
        action: &str,
        ok: bool,
        reason: Option<&str>,
    ) -> (String, i32, Next) {
        let Some(current) = self.steps.get(step) else {
            return (status.to_string(), step as i32, Next::Nothing);
        };
        let stored_reason = stored_reason.unwrap_or("failed");
        match status {
            "running" if action == current.action => {
                if ok {
                    if step + 1 < self.steps.len() {
                        let next = step + 1;
                        (
                            "running".into(),
                            next as i32,
                            Next::Send {
                                step: next,
                                action: self.steps[next].action,
                            },
                        )
                    } else {
                        (
                            "running".into(),
                            step as i32,
                            Next::Finish {
                                end: End::Completed,
                                reason: None,
                            },
                        )
                    }
                } else {
                    let reason = reason.unwrap_or("refused");
                    let (s, n) = self.compensate_from(step.checked_sub(1), reason, false);
                    ("compensating".into(), s, n)
                }
            }
            "compensating" if current.compensation == Some(action) => {
                let (s, n) = self.compensate_from(step.checked_sub(1), stored_reason, timed_out);
                ("compensating".into(), s, n)
            }
            _ => (status.to_string(), step as i32, Next::Nothing),
        }
    }

    /// The pure transition of a running instance whose deadline passed: the current step is
    /// compensated too (its participant may act late; its compensation then blocks or undoes it).
    pub fn expire(&self, step: usize) -> (i32, Next) {
        self.compensate_from(
            Some(step.min(self.steps.len().saturating_sub(1))),
            "timed out",
            true,
        )
    }
}

/// Starts an orchestration instance at step 0; returns the first command to send.
#[tracing::instrument(name = "saga start", skip_all, fields(otel.name = %format_args!("saga {} start", def.name), saga = def.name, saga_id = %id))]
pub async fn orchestrate(
    conn: &mut PgConnection,
    def: &Definition,
    id: uuid::Uuid,
    timeout: Duration,
    data: serde_json::Value,
    correlation_id: uuid::Uuid,
) -> Result<Next, sqlx::Error> {
    if !start(conn, def.name, id, timeout, data, correlation_id).await? {
        return Ok(Next::Nothing);
    }
    Ok(match def.steps.first() {
        Some(s) => Next::Send {
            step: 0,
            action: s.action,
        },
        None => Next::Finish {
            end: End::Completed,
            reason: None,
        },
    })
}

/// Applies a participant's reply to the (locked) instance and returns what to do next.
#[tracing::instrument(name = "saga reply", skip_all, fields(otel.name = %format_args!("saga {} reply {action}", def.name), saga = def.name, saga_id = %id, ok))]
pub async fn on_reply(
    conn: &mut PgConnection,
    def: &Definition,
    id: uuid::Uuid,
    action: &str,
    ok: bool,
    reason: Option<&str>,
) -> Result<Next, sqlx::Error> {
    let Some(instance) = lock(conn, def.name, id).await? else {
        return Ok(Next::Nothing);
    };
    let step = usize::try_from(instance.step).unwrap_or(0);
    let (status, new_step, next) = def.transition(
        &instance.status,
        step,
        instance.reason.as_deref(),
        instance.timed_out,
        action,
        ok,
        reason,
    );
    log(
        conn,
        def.name,
        id,
        &format!("reply {action}"),
        serde_json::json!({ "ok": ok, "reason": reason }),
    )
    .await?;
    record_transition(conn, def, &instance, &status, new_step, reason, &next).await?;
    Ok(next)
}

/// Expires a running instance past its deadline; returns the first compensation to send.
pub async fn expire(
    conn: &mut PgConnection,
    def: &Definition,
    instance: &Instance,
) -> Result<Next, sqlx::Error> {
    let step = usize::try_from(instance.step).unwrap_or(0);
    let (new_step, next) = def.expire(step);
    sqlx::query("UPDATE msa_sagas SET timed_out = true WHERE saga = $1 AND id = $2")
        .bind(def.name)
        .bind(instance.id)
        .execute(&mut *conn)
        .await?;
    record_transition(
        conn,
        def,
        instance,
        "compensating",
        new_step,
        Some("timed out"),
        &next,
    )
    .await?;
    Ok(next)
}

async fn record_transition(
    conn: &mut PgConnection,
    def: &Definition,
    instance: &Instance,
    status: &str,
    step: i32,
    reason: Option<&str>,
    next: &Next,
) -> Result<(), sqlx::Error> {
    if status == "compensating" && instance.reason.is_none() {
        sqlx::query("UPDATE msa_sagas SET reason = $3 WHERE saga = $1 AND id = $2")
            .bind(def.name)
            .bind(instance.id)
            .bind(reason.unwrap_or("failed"))
            .execute(&mut *conn)
            .await?;
    }
    if let Next::Send { step: s, action } = next {
        let data = instance.data.clone();
        advance(
            conn,
            def.name,
            instance.id,
            status,
            i32::try_from(*s).unwrap_or(step),
            &data,
            &format!("send {action}"),
        )
        .await?;
    }
    Ok(())
}

/// The command to send again to resume an unfinished instance after a restart.
pub fn resume(def: &Definition, instance: &Instance) -> Next {
    let step = usize::try_from(instance.step).unwrap_or(0);
    match (instance.status.as_str(), def.steps.get(step)) {
        ("running", Some(s)) => Next::Send {
            step,
            action: s.action,
        },
        (
            "compensating",
            Some(StepDef {
                compensation: Some(c),
                ..
            }),
        ) => Next::Send { step, action: c },
        _ => Next::Nothing,
    }
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
#[tracing::instrument(name = "saga step", skip_all, fields(otel.name = %format_args!("saga {saga} step {action}"), saga, saga_id = %id, status))]
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
        ) -> crate::messaging::broker::BoxFuture<'c, Result<(), crate::ApiError>>
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
                    crate::service::telemetry::with_traceparent(trace, expire(&mut tx, instance))
                        .await?;
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

    const CHECKOUT: Definition = Definition {
        name: "checkout",
        steps: &[
            StepDef {
                action: "reserve-credit",
                compensation: Some("release-credit"),
            },
            StepDef {
                action: "log",
                compensation: None,
            },
            StepDef {
                action: "charge",
                compensation: Some("refund"),
            },
            StepDef {
                action: "ship",
                compensation: None,
            },
        ],
    };

    fn send(step: usize, action: &'static str) -> Next {
        Next::Send { step, action }
    }

    #[test]
    fn replies_move_forward_then_finish() {
        let t = |step, action, ok| {
            CHECKOUT
                .transition("running", step, None, false, action, ok, None)
                .2
        };
        assert_eq!(t(0, "reserve-credit", true), send(1, "log"));
        assert_eq!(t(2, "charge", true), send(3, "ship"));
        assert_eq!(
            t(3, "ship", true),
            Next::Finish {
                end: End::Completed,
                reason: None
            }
        );
        // A reply for another step (late, duplicate) changes nothing.
        assert_eq!(t(2, "reserve-credit", true), Next::Nothing);
    }

    #[test]
    fn a_refusal_compensates_completed_steps_in_reverse_order() {
        let d = Some("card declined");
        let (status, step, next) = CHECKOUT.transition("running", 3, None, false, "ship", false, d);
        assert_eq!(
            (status.as_str(), step, next),
            ("compensating", 2, send(2, "refund"))
        );
        // `log` has no compensation: from `refund` straight to `release-credit`.
        let (_, step, next) =
            CHECKOUT.transition("compensating", 2, d, false, "refund", true, None);
        assert_eq!((step, next), (0, send(0, "release-credit")));
        let (_, _, next) =
            CHECKOUT.transition("compensating", 0, d, false, "release-credit", true, None);
        assert_eq!(
            next,
            Next::Finish {
                end: End::Compensated,
                reason: Some("card declined".into())
            }
        );
        // The first step refused: nothing to undo.
        let (_, _, next) = CHECKOUT.transition(
            "running",
            0,
            None,
            false,
            "reserve-credit",
            false,
            Some("no credit"),
        );
        assert_eq!(
            next,
            Next::Finish {
                end: End::Compensated,
                reason: Some("no credit".into())
            }
        );
    }

    #[test]
    fn a_timeout_compensates_the_current_step_too() {
        assert_eq!(CHECKOUT.expire(2).1, send(2, "refund"));
        assert_eq!(CHECKOUT.expire(1).1, send(0, "release-credit"));
        let (_, _, next) = CHECKOUT.transition(
            "compensating",
            0,
            Some("timed out"),
            true,
            "release-credit",
            true,
            None,
        );
        assert_eq!(
            next,
            Next::Finish {
                end: End::TimedOut,
                reason: Some("timed out".into())
            }
        );
    }

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
