//! Read models (CQRS): views kept up to date by projections of consumed events, and rebuilt from
//! scratch on demand.
//!
//! A read model's consumer appends every envelope it handles to `msa_journal`, in the same
//! transaction as the projection's effect (see [`crate::messaging::consumer`]): the journal is the
//! event stream exactly as this service applied it. [`rebuild`] replays it, in journal order, into
//! fresh copies of the view tables in the `msa_rebuild` schema (the same generated projection code
//! runs there, through `search_path`), then switches over in one transaction that holds the live
//! tables locked: it replays the events that arrived meanwhile, drops the old tables and moves the
//! new ones in. Readers and the live consumer wait for that short transaction and never see a
//! half-built view.
//!
//! The lag of each view (now − the applied event's `occurred_at`) is the gauge
//! `projection_lag_seconds{view}`.

use std::time::Instant;

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::messaging::consumer::{EnvelopeHeader, HandlerError, Handlers, Incoming};

/// The schema the rebuilt tables are built in before the switch.
pub const REBUILD_SCHEMA: &str = "msa_rebuild";

const BATCH: i64 = 500;

/// Records how far behind `view` is, from the `occurred_at` of the event just applied.
pub fn observe_lag(view: &'static str, seconds: f64) {
    metrics::gauge!("projection_lag_seconds", "view" => view).set(seconds.max(0.0));
    metrics::counter!("projection_events_total", "view" => view).increment(1);
}

/// The outcome of a rebuild.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rebuilt {
    /// Journal entries replayed.
    pub events: u64,
    /// The tables that were replaced.
    pub tables: Vec<String>,
    pub millis: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("a rebuild is already running")]
    Busy,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("journal entry {id} does not replay: {reason}")]
    Replay { id: i64, reason: String },
}

impl From<RebuildError> for crate::ApiError {
    fn from(e: RebuildError) -> Self {
        match e {
            RebuildError::Busy => Self::Conflict(e.to_string()),
            RebuildError::Db(d) => Self::from(d),
            RebuildError::Replay { .. } => Self::Internal(e.to_string()),
        }
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Rebuilds `tables` (the service's view tables) by replaying `consumer`'s journal through
/// `handlers`. One rebuild runs at a time per database; the live views stay readable until the
/// switch.
pub async fn rebuild(
    pool: &PgPool,
    consumer: &str,
    tables: &[&str],
    handlers: &Handlers,
) -> Result<Rebuilt, RebuildError> {
    let started = Instant::now();
    let mut lock = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('msa_rebuild'))")
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Err(RebuildError::Busy);
    }
    let result = rebuild_locked(pool, consumer, tables, handlers).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext('msa_rebuild'))")
        .execute(&mut *lock)
        .await;
    let events = result?;
    let rebuilt = Rebuilt {
        events,
        tables: tables.iter().map(|t| (*t).to_string()).collect(),
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    tracing::info!(events = rebuilt.events, millis = rebuilt.millis, tables = ?rebuilt.tables, "views rebuilt");
    Ok(rebuilt)
}

/// Journal position of a rebuild: the last id replayed and the ids below it not seen yet
/// (transactions that had not committed, or never will).
#[derive(Debug, Default)]
struct Position {
    last: i64,
    gaps: Vec<i64>,
}

impl Position {
    fn advance(&mut self, id: i64) {
        if id > self.last {
            self.gaps.extend(self.last + 1..id);
            self.last = id;
        } else {
            self.gaps.retain(|g| *g != id);
        }
    }
}

async fn rebuild_locked(
    pool: &PgPool,
    consumer: &str,
    tables: &[&str],
    handlers: &Handlers,
) -> Result<u64, RebuildError> {
    let live: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(pool)
        .await?;
    let rebuild = quote(REBUILD_SCHEMA);
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {rebuild} CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA {rebuild}"))
        .execute(&mut *tx)
        .await?;
    for t in tables {
        let t = quote(t);
        sqlx::query(&format!(
            "CREATE TABLE {rebuild}.{t} (LIKE {}.{t} INCLUDING ALL)",
            quote(&live)
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;

    let search_path = format!("SET LOCAL search_path TO {rebuild}, {}", quote(&live));
    let mut position = Position::default();
    let mut events = 0u64;
    loop {
        let mut tx = pool.begin().await?;
        sqlx::query(&search_path).execute(&mut *tx).await?;
        let rows = journal_after(&mut tx, consumer, position.last).await?;
        if rows.is_empty() {
            tx.commit().await?;
            break;
        }
        for (id, payload) in rows {
            replay_one(&mut tx, handlers, id, payload).await?;
            position.advance(id);
            events += 1;
        }
        tx.commit().await?;
    }

    // The switch: readers and the live consumer wait while the tail is replayed.
    let mut tx = pool.begin().await?;
    let live_tables: Vec<String> = tables
        .iter()
        .map(|t| format!("{}.{}", quote(&live), quote(t)))
        .collect();
    sqlx::query(&format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        live_tables.join(", ")
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&search_path).execute(&mut *tx).await?;
    let tail: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, payload::text FROM msa_journal WHERE consumer = $1 AND (id > $2 OR id = ANY($3)) \
         ORDER BY id",
    )
    .bind(consumer)
    .bind(position.last)
    .bind(&position.gaps)
    .fetch_all(&mut *tx)
    .await?;
    for (id, payload) in tail {
        replay_one(&mut tx, handlers, id, payload).await?;
        events += 1;
    }
    for (t, live_table) in tables.iter().zip(&live_tables) {
        sqlx::query(&format!("DROP TABLE {live_table}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "ALTER TABLE {rebuild}.{} SET SCHEMA {}",
            quote(t),
            quote(&live)
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(&format!("DROP SCHEMA {rebuild}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(events)
}

async fn journal_after(
    conn: &mut PgConnection,
    consumer: &str,
    after: i64,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, payload::text FROM msa_journal WHERE consumer = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(consumer)
    .bind(after)
    .bind(BATCH)
    .fetch_all(conn)
    .await
}

async fn replay_one(
    conn: &mut PgConnection,
    handlers: &Handlers,
    id: i64,
    payload: String,
) -> Result<(), RebuildError> {
    let header: EnvelopeHeader =
        serde_json::from_str(&payload).map_err(|e| RebuildError::Replay {
            id,
            reason: e.to_string(),
        })?;
    let incoming = Incoming {
        header,
        raw: payload.into_bytes(),
        attempt: 1,
    };
    match handlers.replay(conn, &incoming).await {
        Ok(_) => Ok(()),
        Err(HandlerError::Retry(reason) | HandlerError::Poison(reason)) => {
            Err(RebuildError::Replay { id, reason })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_tracks_gaps_until_seen() {
        let mut p = Position::default();
        p.advance(1);
        p.advance(2);
        p.advance(5);
        assert_eq!((p.last, p.gaps.clone()), (5, vec![3, 4]));
        p.advance(4);
        assert_eq!(p.gaps, vec![3]);
        p.advance(6);
        assert_eq!((p.last, p.gaps), (6, vec![3]));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("order_summary"), "\"order_summary\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
