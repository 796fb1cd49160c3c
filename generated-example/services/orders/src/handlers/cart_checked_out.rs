//! Handles `CartCheckedOut` in `orders`. This file is yours: msa-gen wrote it
//! once and will never overwrite it.
//!
//! The handler runs inside the consumer's transaction, after the event id was recorded in the
//! inbox: whatever it writes through `conn` commits together with that record, so a
//! redelivered event never takes effect twice. Return `HandlerError::Retry` for a transient
//! failure (retried with backoff, then dead-lettered) and `HandlerError::Poison` for an event
//! that can never succeed (dead-lettered at once). Publish follow-up events with
//! `crate::events::publish(conn, …, Some(event.correlation_id))`.

use contracts::{CartCheckedOut, Envelope};
use runtime::messaging::consumer::HandlerError;

pub async fn handle(
    conn: &mut sqlx::PgConnection,
    event: Envelope<CartCheckedOut>,
) -> Result<(), HandlerError> {
    let _ = conn;
    tracing::info!(
        event_id = %event.event_id,
        correlation_id = %event.correlation_id,
        payload = ?event.payload,
        "CartCheckedOut received"
    );
    Ok(())
}
