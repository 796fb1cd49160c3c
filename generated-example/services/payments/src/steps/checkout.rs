//! The steps `payments` runs in saga `checkout` (orchestration). This file is
//! yours: msa-gen wrote it once and will never overwrite it.
//!
//! Each action runs inside the consumer's transaction, once per saga instance: whatever it
//! writes through `conn` commits together with its step record and the reply. Return
//! `Ok(Ok(()))` when done, `Ok(Err(reason))` to refuse (the owner compensates the steps done
//! before), `Err` to retry later. A compensation runs only if its action was done.

#[allow(unused_imports)]
use runtime::messaging::consumer::HandlerError;

/// `charge`.
/// Refuses an amount (`data.total`) that is not positive; put the real work (a payment
/// provider, a shipment) here.
pub async fn charge(
    conn: &mut sqlx::PgConnection,
    data: &contracts::CheckoutData,
) -> Result<Result<(), String>, HandlerError> {
    let _ = &conn;
    if data.total <= rust_decimal::Decimal::ZERO {
        return Ok(Err(format!(
            "charge refused: amount {} is not positive",
            data.total
        )));
    }
    Ok(Ok(()))
}

/// `refund`: undoes `charge`.
pub async fn refund(
    conn: &mut sqlx::PgConnection,
    data: &contracts::CheckoutData,
) -> Result<(), HandlerError> {
    let _ = (&conn, data);
    tracing::info!(saga = "checkout", "`refund`: nothing to undo by default");
    Ok(())
}
