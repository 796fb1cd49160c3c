//! The event store of event-sourced services: an append-only table of each aggregate's events
//! (`msa_events`: stream id, version, type, payload, metadata), snapshots (`msa_snapshots`), and
//! the load → decide → append cycle with optimistic concurrency.
//!
//! Invariants:
//! - Events are never updated or deleted; `(stream_id, version)` is the primary key, versions
//!   of a stream are 1, 2, 3, … without gaps.
//! - An append names the version it decided on. If another append got there first, the insert
//!   hits the primary key and the caller gets [`StoreError::Conflict`] (HTTP 409): never a lost
//!   update, never a silent retry with a stale decision.
//! - A snapshot is the state after version `v`, written in the same transaction as the append
//!   that reaches a multiple of `snapshot_every`. Loading starts at the latest snapshot and
//!   applies the events after it; the result equals a replay from version 1 (property-tested in
//!   the generated service).
//!
//! The tables are created by the service's generated first migration, so they follow the
//! service's schema history like its other tables.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{PgConnection, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone appended to the stream after the caller loaded it.
    #[error("stream {stream} changed: expected version {expected}, it is further")]
    Conflict { stream: uuid::Uuid, expected: i64 },
    /// An event or snapshot in the store that this code cannot read.
    #[error("stored event unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<StoreError> for crate::ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => crate::ApiError::Conflict(e.to_string()),
            StoreError::Corrupt(m) => crate::ApiError::Internal(m),
            StoreError::Db(e) => e.into(),
        }
    }
}

/// An aggregate's state, rebuilt from its events.
pub trait Aggregate: Default + Clone + Serialize + DeserializeOwned + Send + Sync {
    /// The events of this aggregate, one enum; it serialises as the event itself.
    type Event: Serialize + Clone + Send + Sync;
    /// The event's type name as stored (`ItemAdded`).
    fn event_type(event: &Self::Event) -> &'static str;
    /// Reads a stored event (the reverse of `(event_type, serde_json::to_value(payload))`).
    fn decode(event_type: &str, payload: serde_json::Value) -> Result<Self::Event, String>;
    /// The state after `event`. Must not fail: the event already happened.
    fn apply(&mut self, event: &Self::Event);
}

/// A stored event as the history shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Recorded {
    pub version: i64,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// An aggregate loaded from the store: its state and the version that state is at
/// (0 = no events yet).
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    pub state: A,
    pub version: i64,
}

/// The store of one service.
#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
    snapshot_every: i64,
}

impl EventStore {
    pub fn new(pool: PgPool, snapshot_every: u32) -> Self {
        Self {
            pool,
            snapshot_every: i64::from(snapshot_every.max(1)),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The aggregate from its latest snapshot and the events after it.
    pub async fn load<A: Aggregate>(
        &self,
        conn: &mut PgConnection,
        stream: uuid::Uuid,
    ) -> Result<Loaded<A>, StoreError> {
        let snapshot: Option<(i64, serde_json::Value)> =
            sqlx::query_as("SELECT version, state FROM msa_snapshots WHERE stream_id = $1")
                .bind(stream)
                .fetch_optional(&mut *conn)
                .await?;
        let (state, version) = match snapshot {
            Some((v, json)) => match serde_json::from_value::<A>(json) {
                Ok(state) => (state, v),
                // A snapshot of an older state shape: replay from the start instead.
                Err(e) => {
                    tracing::warn!(%stream, error = %e, "snapshot unreadable; replaying from zero");
                    (A::default(), 0)
                }
            },
            None => (A::default(), 0),
        };
        replay_after(conn, stream, state, version).await
    }

    /// The aggregate replayed from its first event, ignoring snapshots.
    pub async fn load_from_zero<A: Aggregate>(
        &self,
        conn: &mut PgConnection,
        stream: uuid::Uuid,
    ) -> Result<Loaded<A>, StoreError> {
        replay_after(conn, stream, A::default(), 0).await
    }

    /// Appends `events` after `loaded` (the state the caller decided on) in the caller's
    /// transaction, and snapshots when a multiple of `snapshot_every` is reached. Returns the
    /// new state and version.
    #[tracing::instrument(name = "command", skip_all, fields(otel.name = %format_args!("command {}", events.first().map_or("none", |(_, e)| A::event_type(e))), stream = %stream, events = events.len()))]
    pub async fn append<A: Aggregate>(
        &self,
        conn: &mut PgConnection,
        stream: uuid::Uuid,
        loaded: Loaded<A>,
        events: &[(uuid::Uuid, A::Event)],
        metadata: &serde_json::Value,
    ) -> Result<Loaded<A>, StoreError> {
        let expected = loaded.version;
        let mut state = loaded.state;
        let mut version = expected;
        for (event_id, event) in events {
            version += 1;
            let payload =
                serde_json::to_value(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let inserted = sqlx::query(
                "INSERT INTO msa_events (stream_id, version, event_id, event_type, payload, metadata) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (stream_id, version) DO NOTHING",
            )
            .bind(stream)
            .bind(version)
            .bind(event_id)
            .bind(A::event_type(event))
            .bind(payload)
            .bind(metadata)
            .execute(&mut *conn)
            .await?;
            if inserted.rows_affected() == 0 {
                metrics::counter!("event_store_conflicts_total").increment(1);
                return Err(StoreError::Conflict { stream, expected });
            }
            state.apply(event);
        }
        let crossed = version / self.snapshot_every > expected / self.snapshot_every;
        if crossed {
            let json =
                serde_json::to_value(&state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO msa_snapshots (stream_id, version, state) VALUES ($1, $2, $3) \
                 ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, \
                 state = EXCLUDED.state, taken_at = now() WHERE msa_snapshots.version < EXCLUDED.version",
            )
            .bind(stream)
            .bind(version)
            .bind(json)
            .execute(&mut *conn)
            .await?;
            metrics::counter!("event_store_snapshots_total").increment(1);
        }
        metrics::counter!("event_store_appended_total").increment(events.len() as u64);
        Ok(Loaded { state, version })
    }

    /// Every event of a stream, oldest first (the audit trail).
    pub async fn history(&self, stream: uuid::Uuid) -> Result<Vec<Recorded>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT version, event_id, event_type, payload, metadata, recorded_at \
             FROM msa_events WHERE stream_id = $1 ORDER BY version",
        )
        .bind(stream)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The version of the stream's latest snapshot, if any.
    pub async fn snapshot_version(&self, stream: uuid::Uuid) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT version FROM msa_snapshots WHERE stream_id = $1")
                .bind(stream)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

/// The version a command is based on, from `If-Match: "3"` (`None` without the header).
pub fn expected_version(headers: &http::HeaderMap) -> Result<Option<i64>, crate::ApiError> {
    let Some(v) = headers.get(http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| {
        crate::ApiError::Validation(vec![crate::FieldError::new(
            "if-match",
            "must be the quoted version of the aggregate, e.g. \"3\"",
        )])
    })
}

/// Refuses a command based on another version than the stored one (409).
pub fn check_expected(
    stream: uuid::Uuid,
    current: i64,
    expected: Option<i64>,
) -> Result<(), crate::ApiError> {
    match expected {
        Some(e) if e != current => Err(crate::ApiError::Conflict(format!(
            "{stream} is at version {current}, not {e}; read it again"
        ))),
        _ => Ok(()),
    }
}

/// The `ETag` of an aggregate at `version`.
pub fn etag(version: i64) -> http::HeaderValue {
    http::HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or(http::HeaderValue::from_static("\"0\""))
}

async fn replay_after<A: Aggregate>(
    conn: &mut PgConnection,
    stream: uuid::Uuid,
    mut state: A,
    mut version: i64,
) -> Result<Loaded<A>, StoreError> {
    let rows: Vec<(i64, String, serde_json::Value)> = sqlx::query_as(
        "SELECT version, event_type, payload FROM msa_events \
         WHERE stream_id = $1 AND version > $2 ORDER BY version",
    )
    .bind(stream)
    .bind(version)
    .fetch_all(&mut *conn)
    .await?;
    for (v, ty, payload) in rows {
        let event = A::decode(&ty, payload).map_err(StoreError::Corrupt)?;
        state.apply(&event);
        version = v;
    }
    Ok(Loaded { state, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
    struct Counter {
        total: i64,
    }

    impl Aggregate for Counter {
        type Event = i64;
        fn event_type(_: &i64) -> &'static str {
            "Added"
        }
        fn decode(_: &str, payload: serde_json::Value) -> Result<i64, String> {
            serde_json::from_value(payload).map_err(|e| e.to_string())
        }
        fn apply(&mut self, event: &i64) {
            self.total += event;
        }
    }

    #[test]
    fn if_match_gives_the_expected_version() {
        let mut h = http::HeaderMap::new();
        assert_eq!(expected_version(&h).unwrap(), None);
        h.insert(http::header::IF_MATCH, "W/\"7\"".parse().unwrap());
        assert_eq!(expected_version(&h).unwrap(), Some(7));
        h.insert(http::header::IF_MATCH, "\"x\"".parse().unwrap());
        assert!(expected_version(&h).is_err());
        assert!(check_expected(uuid::Uuid::nil(), 3, Some(2)).is_err());
        assert!(check_expected(uuid::Uuid::nil(), 3, Some(3)).is_ok());
        assert!(check_expected(uuid::Uuid::nil(), 3, None).is_ok());
        assert_eq!(etag(4), "\"4\"");
    }

    #[test]
    fn conflicts_are_api_conflicts() {
        let e: crate::ApiError = StoreError::Conflict {
            stream: uuid::Uuid::nil(),
            expected: 3,
        }
        .into();
        assert!(matches!(e, crate::ApiError::Conflict(_)));
    }

    #[test]
    fn stored_events_decode_back() {
        let mut c = Counter::default();
        let e = Counter::decode("Added", serde_json::to_value(5_i64).unwrap()).unwrap();
        c.apply(&e);
        assert_eq!(c.total, 5);
        assert!(Counter::decode("Added", serde_json::json!("x")).is_err());
    }
}
