//! Handles `OrderApproved` in `notifications`. This file is yours: msa-gen wrote it
//! once and will never overwrite it.
//!
//! `notifications` has no database: the handler runs outside any transaction, and a
//! redelivery is recognised by the event id for as long as the process runs. Return
//! `HandlerError::Retry` for a transient failure (retried with backoff, then dead-lettered) and
//! `HandlerError::Poison` for an event that can never succeed (dead-lettered at once).
//!
//! By default it renders the event as a mail and sends it with the configured sender
//! (`mail-sender`: `log` by default, or `smtp`), to `mail-to`. Replace `render` with your own
//! wording and look up the real recipient.

use contracts::{Envelope, OrderApproved};
use runtime::messaging::consumer::HandlerError;
use runtime::service::mail::Mail;

pub async fn handle(event: Envelope<OrderApproved>) -> Result<(), HandlerError> {
    tracing::info!(
        event_id = %event.event_id,
        correlation_id = %event.correlation_id,
        payload = ?event.payload,
        "OrderApproved received"
    );
    runtime::service::mail::send(&render(&event)).await?;
    Ok(())
}

/// The mail this event sends.
fn render(event: &Envelope<OrderApproved>) -> Mail {
    let details = serde_json::to_string_pretty(&event.payload).unwrap_or_default();
    Mail {
        to: runtime::service::mail::recipient(),
        subject: format!(
            "OrderApproved {}",
            event
                .aggregate_id
                .map(|id| id.to_string())
                .unwrap_or_default()
        ),
        body: format!(
            "OrderApproved happened at {}.\n\n{details}\n",
            event.occurred_at
        ),
    }
}
