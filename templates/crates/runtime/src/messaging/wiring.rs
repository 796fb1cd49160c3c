//! Event messaging of a service process: the runtime's own tables, one shared broker connection
//! (reconnected after failures), the outbox relay and the consumer as background tasks, and
//! the admin endpoints: dead letters, and the rebuild of a read model's views.
//!
//! The tables (`msa_outbox`, `msa_inbox`, `msa_journal`, `msa_dead_letters`, and the saga tables
//! of [`crate::messaging::saga`]) belong to the runtime, not to the
//! blueprint: [`ensure_schema`] creates them idempotently at start, so a service that gains
//! `publishes` or `consumes` in a later blueprint needs no hand-written migration.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::messaging::broker::{self, BoxFuture, Broker, BrokerConfig, BrokerError, BrokerSource};
use crate::messaging::consumer::{Consumer, Handlers, RecentIds, RetryPolicy};

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS msa_outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id UUID NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS msa_outbox_pending ON msa_outbox (id) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS msa_inbox (
    consumer TEXT NOT NULL,
    event_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE IF NOT EXISTS msa_journal (
    id BIGSERIAL PRIMARY KEY,
    consumer TEXT NOT NULL,
    event_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    payload JSONB NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS msa_journal_consumer ON msa_journal (consumer, id);
CREATE TABLE IF NOT EXISTS msa_dead_letters (
    id BIGSERIAL PRIMARY KEY,
    consumer TEXT NOT NULL,
    subject TEXT NOT NULL,
    event_id UUID,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
";

/// Creates the runtime's messaging tables if they are missing. Replicas starting together
/// take turns (an advisory lock): `CREATE TABLE IF NOT EXISTS` alone races in Postgres.
pub async fn ensure_schema(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('msa_messaging_schema'))")
        .execute(&mut *tx)
        .await?;
    // One statement per call: prepared statements cannot hold several.
    let all = SCHEMA
        .split(';')
        .chain(crate::messaging::saga::SCHEMA.split(';'));
    for statement in all.map(str::trim).filter(|s| !s.is_empty()) {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// One broker connection shared by the relay and the consumer, made on first use and again
/// after [`BrokerSource::reset`].
pub struct SharedBroker {
    config: BrokerConfig,
    current: tokio::sync::Mutex<Option<Arc<dyn Broker>>>,
    stale: AtomicBool,
}

impl SharedBroker {
    pub fn new(config: BrokerConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            current: tokio::sync::Mutex::new(None),
            stale: AtomicBool::new(false),
        })
    }
}

impl BrokerSource for SharedBroker {
    fn get(&self) -> BoxFuture<'_, Result<Arc<dyn Broker>, BrokerError>> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if self.stale.swap(false, Ordering::AcqRel) {
                *current = None;
            }
            if let Some(b) = current.as_ref() {
                return Ok(b.clone());
            }
            let b = broker::connect(&self.config).await?;
            tracing::info!(broker = b.kind(), url = %self.config.url, "connected to the broker");
            *current = Some(b.clone());
            Ok(b)
        })
    }
    fn reset(&self) {
        self.stale.store(true, Ordering::Release);
    }
}

/// What a service publishes and consumes.
pub struct MessagingSpec {
    pub broker: BrokerConfig,
    /// The service publishes events (runs the outbox relay).
    pub publishes: bool,
    /// Handlers of consumed events (the consumer group is the service name).
    pub handlers: Handlers,
    pub retry: RetryPolicy,
    /// The view tables of a read model: its consumer journals what it applies.
    pub views: &'static [&'static str],
}

/// The running messaging tasks of a process.
pub struct Messaging {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Messaging {
    /// Starts the relay (when the service publishes and has a database) and the consumer (when
    /// it has handlers).
    pub fn start(service: &str, pool: Option<&PgPool>, spec: MessagingSpec) -> Self {
        let (stop, stopped) = watch::channel(false);
        let brokers: Arc<dyn BrokerSource> = SharedBroker::new(spec.broker.clone());
        let mut tasks = Vec::new();
        if spec.publishes
            && let Some(pool) = pool
        {
            tasks.push(tokio::spawn(crate::messaging::outbox::relay(
                pool.clone(),
                brokers.clone(),
                Duration::from_millis(500),
                stopped.clone(),
            )));
        }
        if !spec.handlers.is_empty() {
            let subjects = spec
                .handlers
                .event_types()
                .map(|t| spec.broker.event_subject(t))
                .collect();
            let consumer = Consumer {
                group: service.to_string(),
                pool: pool.cloned(),
                handlers: spec.handlers,
                retry: spec.retry,
                journal: !spec.views.is_empty(),
                recent: Arc::new(std::sync::Mutex::new(RecentIds::new(100_000))),
            };
            tasks.push(tokio::spawn(consumer.run(brokers, subjects, stopped)));
        }
        Self { stop, tasks }
    }

    /// Stops the tasks and waits for the delivery in progress to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// A dead letter as listed by the admin endpoint.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub consumer: String,
    pub subject: String,
    pub event_id: Option<uuid::Uuid>,
    pub attempts: i32,
    pub reason: String,
    pub payload: String,
}

#[derive(Debug, Deserialize)]
pub struct DeadLetterQuery {
    #[serde(default)]
    pub after: i64,
}

/// `GET /admin/dead-letters?after=ID`: the oldest 100 dead letters after `after`.
pub fn admin_routes(pool: PgPool) -> Router {
    Router::new()
        .route("/admin/dead-letters", get(dead_letters))
        .with_state(pool)
}

#[derive(Clone)]
struct RebuildState {
    pool: PgPool,
    consumer: String,
    views: &'static [&'static str],
    handlers: Handlers,
}

/// `POST /admin/rebuild`: replays the journal into fresh view tables and switches over
/// (409 while another rebuild runs).
pub fn rebuild_routes(
    pool: PgPool,
    consumer: &str,
    views: &'static [&'static str],
    handlers: Handlers,
) -> Router {
    Router::new()
        .route("/admin/rebuild", post(rebuild))
        .with_state(RebuildState {
            pool,
            consumer: consumer.to_string(),
            views,
            handlers,
        })
}

async fn rebuild(
    State(s): State<RebuildState>,
) -> Result<Json<crate::messaging::projection::Rebuilt>, crate::ApiError> {
    Ok(Json(
        crate::messaging::projection::rebuild(&s.pool, &s.consumer, s.views, &s.handlers).await?,
    ))
}

async fn dead_letters(
    State(pool): State<PgPool>,
    Query(q): Query<DeadLetterQuery>,
) -> Result<Json<Vec<DeadLetter>>, crate::ApiError> {
    let rows = sqlx::query_as::<_, DeadLetter>(
        "SELECT id, consumer, subject, event_id, attempts, reason, payload FROM msa_dead_letters \
         WHERE id > $1 ORDER BY id LIMIT 100",
    )
    .bind(q.after)
    .fetch_all(&pool)
    .await?;
    Ok(Json(rows))
}
