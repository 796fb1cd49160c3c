//! Idempotent consumers. Each delivery runs in one database transaction that first records the
//! event id in `msa_inbox` (primary key: consumer, event id) and then runs the handler: a
//! redelivered event finds its id already there and has no second effect. The delivery is
//! acknowledged only after the transaction commits. A read model also appends the envelope to
//! `msa_journal` in that transaction, so its views can be rebuilt (see
//! [`crate::messaging::projection`]).
//!
//! A service without a database (a worker with `store = "none"`) registers *plain* handlers:
//! they run outside any transaction and duplicates are caught by a bounded in-memory set of
//! recent event ids, so a redelivery within the process's lifetime has no second effect (the
//! broker's publisher dedup covers re-publication). Give the worker a database for the full
//! guarantee across restarts.
//!
//! Deliveries that arrive together (up to [`BATCH`]) are handled in order in **one** transaction
//! when every one of them is an envelope for an in-transaction handler: one commit instead of
//! one per event, which is what bounds a consumer's rate. They are acknowledged after that
//! commit. Their inbox rows are recorded with one statement. If that statement, a handler or
//! the commit fails, the transaction rolls back and each delivery is processed on its own, so
//! retries and dead letters are exactly those of a single delivery. Deliveries of different
//! lanes ([`Delivery::lane`]: Kafka's partitions) are handled at once, up to [`LANES`], each lane
//! in its order; NATS and RabbitMQ deliver on one lane.
//!
//! Failures: a handler that returns [`HandlerError::Retry`] is retried with exponential backoff
//! up to `max_attempts` deliveries; then, or at once for [`HandlerError::Poison`], an
//! undecodable envelope or an unknown event type, the message is dead-lettered: stored in
//! `msa_dead_letters` (listed at `GET /admin/dead-letters`), sent to the broker's dead-letter
//! destination, counted in `events_dead_lettered_total` and logged as an error. The stream keeps
//! flowing.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

use crate::messaging::broker::{BoxFuture, Broker, BrokerError, BrokerSource, Delivery, Outgoing};
use crate::resilience::backoff::Backoff;

/// Deliveries handled in one transaction at most.
pub const BATCH: usize = 64;

/// Lanes handled at once at most (see [`Delivery::lane`]): a Kafka consumer with several
/// partitions runs their batches in concurrent transactions, as instances of a scaled-out service
/// already do, while each partition keeps its order.
pub const LANES: usize = 4;

/// How long an event id stays in `msa_inbox`: a redelivery within this window has no second
/// effect. Far longer than any broker keeps redelivering (NATS and RabbitMQ redeliver within
/// minutes; Kafka after a restart, from the last committed offset).
pub const INBOX_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// Deletes the inbox rows of consumer `group` older than `keep`; returns how many.
pub async fn purge_inbox(pool: &PgPool, group: &str, keep: Duration) -> Result<u64, sqlx::Error> {
    let secs = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
    let done = sqlx::query(
        "DELETE FROM msa_inbox WHERE consumer = $1 \
         AND processed_at < now() - make_interval(secs => $2)",
    )
    .bind(group)
    .bind(secs as f64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The envelope fields the runtime reads; the generated code decodes the typed payload.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvelopeHeader {
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub version: u32,
    #[serde(default)]
    pub correlation_id: Option<uuid::Uuid>,
    #[serde(default)]
    pub trace_context: Option<String>,
}

/// A delivered event, as handed to a handler.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub header: EnvelopeHeader,
    /// The whole envelope as received (JSON).
    pub raw: Vec<u8>,
    pub attempt: u32,
}

impl Incoming {
    /// Decodes the whole envelope into the caller's type; a failure is poison, not a retry.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, HandlerError> {
        serde_json::from_slice(&self.raw).map_err(|e| {
            HandlerError::Poison(format!(
                "{} v{} does not decode: {e}",
                self.header.event_type, self.header.version
            ))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Transient: try again later (database busy, a called service down).
    #[error("{0}")]
    Retry(String),
    /// Permanent: this message can never succeed; dead-letter it now.
    #[error("{0}")]
    Poison(String),
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Retry(e.to_string())
    }
}

impl From<crate::ApiError> for HandlerError {
    fn from(e: crate::ApiError) -> Self {
        match e {
            crate::ApiError::Rejected(reason) | crate::ApiError::NotFound(reason) => {
                Self::Poison(reason)
            }
            other => Self::Retry(other.to_string()),
        }
    }
}

/// A handler: runs inside the consumer's transaction.
pub type Handler = Arc<
    dyn for<'c> Fn(&'c mut PgConnection, &'c Incoming) -> BoxFuture<'c, Result<(), HandlerError>>
        + Send
        + Sync,
>;

/// A handler of a service without a database: runs outside any transaction.
pub type PlainHandler =
    Arc<dyn for<'c> Fn(&'c Incoming) -> BoxFuture<'c, Result<(), HandlerError>> + Send + Sync>;

#[derive(Clone)]
enum Registered {
    InTransaction(Handler),
    Plain(PlainHandler),
}

/// The handlers of one consumer group, by event type.
#[derive(Clone, Default)]
pub struct Handlers {
    by_type: BTreeMap<String, Registered>,
}

impl Handlers {
    pub fn new() -> Self {
        Self::default()
    }
    /// Registers `handler` for `event_type`; it runs in the consumer's transaction.
    #[must_use]
    pub fn on(mut self, event_type: &str, handler: Handler) -> Self {
        self.by_type
            .insert(event_type.to_string(), Registered::InTransaction(handler));
        self
    }
    /// Registers a handler that needs no database (deduplicated in memory).
    #[must_use]
    pub fn on_plain(mut self, event_type: &str, handler: PlainHandler) -> Self {
        self.by_type
            .insert(event_type.to_string(), Registered::Plain(handler));
        self
    }
    /// Whether some handler runs in a database transaction.
    pub fn needs_database(&self) -> bool {
        self.by_type
            .values()
            .any(|h| matches!(h, Registered::InTransaction(_)))
    }
    /// Runs the handler of `incoming`'s type on `conn`, without inbox or journal: how a
    /// projection replays its journal. Plain handlers are not replayed.
    pub async fn replay(
        &self,
        conn: &mut PgConnection,
        incoming: &Incoming,
    ) -> Result<bool, HandlerError> {
        match self.by_type.get(&incoming.header.event_type) {
            Some(Registered::InTransaction(h)) => h(conn, incoming).await.map(|()| true),
            _ => Ok(false),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.by_type.keys().map(String::as_str)
    }
}

/// How a consumer retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Deliveries before a failing message is dead-lettered.
    pub max_attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Delay before delivery `attempt + 1`: doubled each time, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        Backoff::nth(self.first_delay, self.max_delay, attempt)
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Handled,
    Duplicate,
    Retried { attempt: u32 },
    DeadLettered { reason: String },
}

/// The most recent event ids a process has handled, for services without a database.
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    order: VecDeque<uuid::Uuid>,
    set: HashSet<uuid::Uuid>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }
    pub fn contains(&self, id: &uuid::Uuid) -> bool {
        self.set.contains(id)
    }
    /// Remembers `id`, forgetting the oldest one when full.
    pub fn insert(&mut self, id: uuid::Uuid) {
        if !self.set.insert(id) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
    }
}

/// A consumer group: a service's handlers over its database (when it has one) and the broker.
#[derive(Clone)]
pub struct Consumer {
    pub group: String,
    /// The service's database: inbox, journal, dead letters and in-transaction handlers.
    pub pool: Option<PgPool>,
    pub handlers: Handlers,
    pub retry: RetryPolicy,
    /// Append every handled envelope to `msa_journal` (read models, for rebuilds).
    pub journal: bool,
    /// Dedup of plain handlers.
    pub recent: Arc<Mutex<RecentIds>>,
}

impl Consumer {
    /// Handles one delivery completely: dedup, handler, commit, then settles it with the broker.
    pub async fn process(
        &self,
        broker: &dyn Broker,
        delivery: Delivery,
    ) -> Result<Outcome, BrokerError> {
        let outcome = self.apply(&delivery).await;
        let event_type = crate::messaging::broker::event_type_of(&delivery.subject).to_string();
        let outcome = match outcome {
            Applied::Done(o) => o,
            Applied::Retry(reason) if delivery.attempt < self.retry.max_attempts => {
                let attempt = delivery.attempt;
                tracing::warn!(consumer = %self.group, %event_type, attempt, error = %reason, "event handler failed; will retry");
                metrics::counter!("events_retried_total", "consumer" => self.group.clone(), "event_type" => event_type)
                    .increment(1);
                delivery.retry(self.retry.delay(attempt)).await?;
                return Ok(Outcome::Retried { attempt });
            }
            Applied::Retry(reason) | Applied::Poison(reason) => {
                if let Err(e) = self
                    .dead_letter(broker, &delivery, &event_type, &reason)
                    .await
                {
                    // Never dropped unsettled: it comes back and is dead-lettered then.
                    tracing::warn!(consumer = %self.group, error = %e, "dead-lettering failed; the delivery comes again");
                    let attempt = delivery.attempt;
                    delivery.retry(self.retry.delay(attempt)).await?;
                    return Ok(Outcome::Retried { attempt });
                }
                Outcome::DeadLettered { reason }
            }
        };
        delivery.ack().await?;
        Ok(outcome)
    }

    async fn apply(&self, delivery: &Delivery) -> Applied {
        let header: EnvelopeHeader = match serde_json::from_slice(&delivery.payload) {
            Ok(h) => h,
            Err(e) => return Applied::Poison(format!("not an event envelope: {e}")),
        };
        let Some(handler) = self.handlers.by_type.get(&header.event_type) else {
            return Applied::Poison(format!(
                "no handler for event type `{}` in `{}`",
                header.event_type, self.group
            ));
        };
        let incoming = Incoming {
            header,
            raw: delivery.payload.clone(),
            attempt: delivery.attempt,
        };
        let trace = incoming.header.trace_context.clone();
        let event = incoming.header.event_type.clone();
        let result = crate::service::telemetry::consuming(&event, &self.group, trace, async {
            match handler {
                Registered::InTransaction(h) => self.apply_in_tx(h, &incoming).await,
                Registered::Plain(h) => self.apply_plain(h, &incoming).await,
            }
        })
        .await;
        match result {
            Ok(o) => Applied::Done(o),
            Err(HandlerError::Retry(r)) => Applied::Retry(r),
            Err(HandlerError::Poison(r)) => Applied::Poison(r),
        }
    }

    fn seen(&self, id: &uuid::Uuid) -> bool {
        self.recent.lock().is_ok_and(|r| r.contains(id))
    }

    async fn apply_plain(
        &self,
        handler: &PlainHandler,
        incoming: &Incoming,
    ) -> Result<Outcome, HandlerError> {
        let id = incoming.header.event_id;
        if self.seen(&id) {
            return Ok(self.duplicate(incoming));
        }
        handler(incoming).await?;
        if let Ok(mut recent) = self.recent.lock() {
            recent.insert(id);
        }
        self.handled(incoming);
        Ok(Outcome::Handled)
    }

    fn duplicate(&self, incoming: &Incoming) -> Outcome {
        metrics::counter!("events_duplicates_total", "consumer" => self.group.clone()).increment(1);
        tracing::info!(consumer = %self.group, event_id = %incoming.header.event_id, "duplicate delivery ignored");
        Outcome::Duplicate
    }

    fn handled(&self, incoming: &Incoming) {
        metrics::counter!("events_handled_total", "consumer" => self.group.clone(), "event_type" => incoming.header.event_type.clone())
            .increment(1);
    }

    async fn apply_in_tx(
        &self,
        handler: &Handler,
        incoming: &Incoming,
    ) -> Result<Outcome, HandlerError> {
        let Some(pool) = &self.pool else {
            return Err(HandlerError::Poison(format!(
                "`{}` has no database for its in-transaction handler",
                self.group
            )));
        };
        let mut tx = pool.begin().await?;
        let outcome = self.record_and_handle(&mut tx, handler, incoming).await?;
        if outcome == Outcome::Handled {
            commit_checked(tx).await?;
            self.handled(incoming);
        } else {
            self.duplicate(incoming);
        }
        Ok(outcome)
    }

    /// In the caller's transaction: records the event id in the inbox, then (first time only)
    /// appends it to the journal and runs the handler. `Duplicate` when the id was there.
    async fn record_and_handle(
        &self,
        conn: &mut PgConnection,
        handler: &Handler,
        incoming: &Incoming,
    ) -> Result<Outcome, HandlerError> {
        let first = self
            .record_all(conn, [incoming])
            .await?
            .contains(&incoming.header.event_id);
        if !first {
            return Ok(Outcome::Duplicate);
        }
        self.handle_first(conn, handler, incoming).await?;
        Ok(Outcome::Handled)
    }

    /// Records the event ids of `incoming` in the inbox with one statement; returns those that
    /// were not there yet (an id twice in `incoming` is returned once: its first delivery counts).
    async fn record_all<'a>(
        &self,
        conn: &mut PgConnection,
        incoming: impl IntoIterator<Item = &'a Incoming>,
    ) -> Result<HashSet<uuid::Uuid>, sqlx::Error> {
        let (ids, types): (Vec<uuid::Uuid>, Vec<&str>) = incoming
            .into_iter()
            .map(|i| (i.header.event_id, i.header.event_type.as_str()))
            .unzip();
        let fresh: Vec<uuid::Uuid> = sqlx::query_scalar(
            "INSERT INTO msa_inbox (consumer, event_id, event_type) \
             SELECT $1, e.id, e.event_type FROM unnest($2::uuid[], $3::text[]) AS e(id, event_type) \
             ON CONFLICT DO NOTHING RETURNING event_id",
        )
        .bind(&self.group)
        .bind(&ids)
        .bind(&types)
        .fetch_all(&mut *conn)
        .await?;
        Ok(fresh.into_iter().collect())
    }

    /// The effect of an event seen for the first time, in the caller's transaction: appended
    /// to the journal (read models), then the handler.
    async fn handle_first(
        &self,
        conn: &mut PgConnection,
        handler: &Handler,
        incoming: &Incoming,
    ) -> Result<(), HandlerError> {
        if self.journal {
            sqlx::query(
                "INSERT INTO msa_journal (consumer, event_id, event_type, payload) \
                 VALUES ($1, $2, $3, $4::jsonb)",
            )
            .bind(&self.group)
            .bind(incoming.header.event_id)
            .bind(&incoming.header.event_type)
            .bind(String::from_utf8_lossy(&incoming.raw).as_ref())
            .execute(&mut *conn)
            .await?;
        }
        handler(conn, incoming).await
    }

    /// Handles deliveries that arrived together, in order, and settles each (see the module
    /// documentation). Errors settling a delivery are logged; it comes again.
    pub async fn process_all(&self, broker: &dyn Broker, batch: Vec<Delivery>) {
        if batch.len() > 1
            && let Some(done) = self.together(&batch).await
        {
            for (delivery, (incoming, outcome)) in batch.into_iter().zip(done) {
                if outcome == Outcome::Handled {
                    self.handled(&incoming);
                } else {
                    self.duplicate(&incoming);
                }
                if let Err(e) = delivery.ack().await {
                    tracing::warn!(consumer = %self.group, error = %e, "settling a delivery failed; it will be redelivered");
                }
            }
            return;
        }
        for delivery in batch {
            if let Err(e) = self.process(broker, delivery).await {
                tracing::warn!(consumer = %self.group, error = %e, "settling a delivery failed; it will be redelivered");
            }
        }
    }

    /// Handles the deliveries of one lane in order, [`BATCH`] at a time.
    async fn process_lane(&self, broker: &dyn Broker, mut lane: Vec<Delivery>) {
        while !lane.is_empty() {
            let rest = lane.split_off(lane.len().min(BATCH));
            self.process_all(broker, lane).await;
            lane = rest;
        }
    }

    /// Runs `batch` in one transaction; `None` (rolled back) when a delivery is not an envelope
    /// for an in-transaction handler, or when the inbox statement, a handler or the commit
    /// fails. Only new events get a consumer span; a duplicate in the batch is counted, not traced.
    async fn together(&self, batch: &[Delivery]) -> Option<Vec<(Incoming, Outcome)>> {
        let pool = self.pool.as_ref()?;
        let mut items = Vec::with_capacity(batch.len());
        for delivery in batch {
            let header: EnvelopeHeader = serde_json::from_slice(&delivery.payload).ok()?;
            let Some(Registered::InTransaction(handler)) =
                self.handlers.by_type.get(&header.event_type)
            else {
                return None;
            };
            let incoming = Incoming {
                header,
                raw: delivery.payload.clone(),
                attempt: delivery.attempt,
            };
            items.push((handler, incoming));
        }
        let mut tx = pool.begin().await.ok()?;
        // One statement for the whole batch's inbox rows: a round trip per event fewer.
        let mut fresh = match self.record_all(&mut tx, items.iter().map(|(_, i)| i)).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(consumer = %self.group, error = %e, "recording a batch in the inbox failed; handling its deliveries one by one");
                return None;
            }
        };
        let mut done = Vec::with_capacity(items.len());
        for (handler, incoming) in items {
            if !fresh.remove(&incoming.header.event_id) {
                done.push((incoming, Outcome::Duplicate));
                continue;
            }
            let trace = incoming.header.trace_context.clone();
            let event = incoming.header.event_type.clone();
            let handled = crate::service::telemetry::consuming(
                &event,
                &self.group,
                trace,
                self.handle_first(&mut tx, handler, &incoming),
            )
            .await;
            match handled {
                Ok(()) => done.push((incoming, Outcome::Handled)),
                Err(e) => {
                    tracing::debug!(consumer = %self.group, error = %e, "a handler of a batch failed; handling its deliveries one by one");
                    return None;
                }
            }
        }
        commit_checked(tx).await.ok()?;
        Some(done)
    }

    async fn dead_letter(
        &self,
        broker: &dyn Broker,
        delivery: &Delivery,
        event_type: &str,
        reason: &str,
    ) -> Result<(), BrokerError> {
        let event_id = serde_json::from_slice::<EnvelopeHeader>(&delivery.payload)
            .ok()
            .map(|h| h.event_id);
        tracing::error!(consumer = %self.group, %event_type, attempt = delivery.attempt, ?event_id, %reason, "event dead-lettered");
        metrics::counter!("events_dead_lettered_total", "consumer" => self.group.clone(), "event_type" => event_type.to_string())
            .increment(1);
        if let Some(pool) = &self.pool {
            let stored = sqlx::query(
                "INSERT INTO msa_dead_letters (consumer, subject, event_id, attempts, reason, payload) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&self.group)
            .bind(&delivery.subject)
            .bind(event_id)
            .bind(i32::try_from(delivery.attempt).unwrap_or(i32::MAX))
            .bind(reason)
            .bind(String::from_utf8_lossy(&delivery.payload).into_owned())
            .execute(pool)
            .await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, "dead letter not recorded in the database");
            }
        }
        let message = Outgoing {
            subject: delivery.subject.clone(),
            message_id: event_id
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), |id| id.to_string()),
            payload: delivery.payload.clone(),
        };
        broker.dead_letter(&self.group, &message).await
    }

    /// Runs until `stop` turns true: subscribes, handles deliveries (those that arrived together
    /// in one transaction per lane, the lanes at once), and subscribes again (with backoff) whenever the connection is lost.
    pub async fn run(
        self,
        brokers: Arc<dyn BrokerSource>,
        subjects: Vec<String>,
        mut stop: watch::Receiver<bool>,
    ) {
        let me = Arc::new(self);
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        if let Some(pool) = me.pool.clone() {
            tokio::spawn(purge_periodically(pool, me.group.clone(), stop.clone()));
        }
        while !*stop.borrow() {
            let subscribed = match brokers.get().await {
                Ok(broker) => match broker.subscribe(&me.group, &subjects).await {
                    Ok(sub) => Ok((broker, sub)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let (broker, mut sub) = match subscribed {
                Ok(s) => s,
                Err(e) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(consumer = %me.group, error = %e, retry_in_ms = wait.as_millis() as u64, "cannot subscribe yet");
                    brokers.reset();
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            };
            backoff.reset();
            tracing::info!(consumer = %me.group, subjects = ?subjects, broker = broker.kind(), "consuming");
            loop {
                let next = tokio::select! {
                    next = sub.next() => next,
                    _ = stop.changed() => None,
                };
                let Some(delivery) = next else { break };
                let mut ready = vec![delivery];
                while ready.len() < BATCH * LANES
                    && let Some(more) = sub.ready()
                {
                    ready.push(more);
                }
                let mut lanes = by_lane(ready, LANES);
                let last = lanes.pop().unwrap_or_default();
                let mut others = tokio::task::JoinSet::new();
                for lane in lanes {
                    let (me, broker) = (me.clone(), broker.clone());
                    others.spawn(async move { me.process_lane(broker.as_ref(), lane).await });
                }
                me.process_lane(broker.as_ref(), last).await;
                while let Some(done) = others.join_next().await {
                    if let Err(e) = done {
                        tracing::error!(consumer = %me.group, error = %e, "a lane of deliveries failed; they will be redelivered");
                    }
                }
            }
            if !*stop.borrow() {
                tracing::warn!(consumer = %me.group, "subscription ended; subscribing again");
                brokers.reset();
                tokio::time::sleep(backoff.current()).await;
            }
        }
        tracing::info!(consumer = %me.group, "consumer stopped");
    }
}

/// `ready` split into at most `lanes` groups by [`Delivery::lane`] (modulo `lanes`), each in the
/// order of arrival: what may be handled at once without reordering a lane.
fn by_lane(ready: Vec<Delivery>, lanes: usize) -> Vec<Vec<Delivery>> {
    let mut groups: Vec<(usize, Vec<Delivery>)> = Vec::new();
    for delivery in ready {
        let lane = delivery.lane as usize % lanes.max(1);
        match groups.iter_mut().find(|(l, _)| *l == lane) {
            Some((_, group)) => group.push(delivery),
            None => groups.push((lane, vec![delivery])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// Commits `tx`, or fails when a statement in it failed. Postgres answers `COMMIT` in an aborted
/// transaction with a rollback and no error, so a handler that swallowed a database error would
/// otherwise pass for committed: one statement first surfaces the abort.
async fn commit_checked(mut tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(&mut *tx).await?;
    tx.commit().await
}

/// Every 10 minutes until `stop`: the inbox rows of `group` older than [`INBOX_KEEP`] go.
async fn purge_periodically(pool: PgPool, group: String, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        match purge_inbox(&pool, &group, INBOX_KEEP).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(consumer = %group, rows = n, "old inbox rows purged"),
            Err(e) => tracing::warn!(consumer = %group, error = %e, "inbox purge failed"),
        }
    }
}

enum Applied {
    Done(Outcome),
    Retry(String),
    Poison(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::broker::Settle;

    struct Unsettled;

    impl Settle for Unsettled {
        fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), BrokerError>> {
            Box::pin(async { Ok(()) })
        }
        fn retry(self: Box<Self>, _: Duration) -> BoxFuture<'static, Result<(), BrokerError>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn on_lane(lane: u32, n: u8) -> Delivery {
        Delivery {
            subject: "s".into(),
            payload: vec![n],
            attempt: 1,
            lane,
            settle: Box::new(Unsettled),
        }
    }

    fn payloads(groups: &[Vec<Delivery>]) -> Vec<Vec<u8>> {
        groups
            .iter()
            .map(|g| g.iter().map(|d| d.payload[0]).collect())
            .collect()
    }

    #[test]
    fn lanes_keep_arrival_order_and_are_bounded() {
        let ready = || {
            [(0, 1), (1, 2), (0, 3), (5, 4), (2, 5), (1, 6)]
                .into_iter()
                .map(|(lane, n)| on_lane(lane, n))
                .collect::<Vec<_>>()
        };
        // Lane 5 shares a group with lane 1 when only 4 may run at once.
        assert_eq!(
            payloads(&by_lane(ready(), 4)),
            vec![vec![1, 3], vec![2, 4, 6], vec![5]]
        );
        assert_eq!(
            payloads(&by_lane(ready(), 1)),
            vec![vec![1, 2, 3, 4, 5, 6]],
            "one lane: everything in arrival order"
        );
        assert_eq!(payloads(&by_lane(ready(), 0)).len(), 1, "0 lanes is one");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(p.delay(1), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(200));
        assert_eq!(p.delay(4), Duration::from_millis(800));
        assert_eq!(p.delay(9), Duration::from_secs(1));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn recent_ids_forget_the_oldest() {
        let mut r = RecentIds::new(2);
        let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::new_v4()).collect();
        r.insert(ids[0]);
        r.insert(ids[1]);
        r.insert(ids[1]);
        assert!(r.contains(&ids[0]) && r.contains(&ids[1]));
        r.insert(ids[2]);
        assert!(!r.contains(&ids[0]), "the oldest is forgotten");
        assert!(r.contains(&ids[1]) && r.contains(&ids[2]));
    }

    #[test]
    fn api_errors_map_to_retry_or_poison() {
        assert!(matches!(
            HandlerError::from(crate::ApiError::Rejected("no".into())),
            HandlerError::Poison(_)
        ));
        assert!(matches!(
            HandlerError::from(crate::ApiError::Conflict("busy".into())),
            HandlerError::Retry(_)
        ));
    }
}
