//! The steps `customers` runs in saga `place-order`. This file is yours: msa-gen
//! wrote it once and will never overwrite it.
//!
//! Each action runs inside the consumer's transaction, after the saga plumbing made sure it
//! runs once per saga instance: whatever it writes through `conn` commits together with its
//! step record and the event it returns (published through the outbox). Return
//! `StepOutcome::Done(event)` or `StepOutcome::Refused(event)`; an `Err` is retried (then
//! dead-lettered). A compensation runs only if its action was done, and at most once.

#[allow(unused_imports)]
use runtime::messaging::consumer::HandlerError;
use runtime::messaging::saga::StepOutcome;

/// `reserve-credit` on `OrderCreated`.
/// Reserves `trigger.total` of the `customer` named by `trigger.customer_id`
/// against its `credit_limit`; refused when it would go over (or the row does not exist).
pub async fn reserve_credit(
    conn: &mut sqlx::PgConnection,
    trigger: &contracts::OrderCreated,
) -> Result<StepOutcome<contracts::CreditReserved, contracts::CreditLimitExceeded>, HandlerError> {
    let reserved = sqlx::query(
        "UPDATE \"customer\" SET \"credit_reserved\" = \"credit_reserved\" + $2, \
         \"version\" = \"version\" + 1, \"updated_at\" = now() \
         WHERE \"id\" = $1 AND \"credit_reserved\" + $2 <= \"credit_limit\"",
    )
    .bind(trigger.customer_id)
    .bind(trigger.total)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !reserved {
        return Ok(StepOutcome::Refused(contracts::CreditLimitExceeded {
            order_id: trigger.order_id,
            customer_id: trigger.customer_id,
        }));
    }
    Ok(StepOutcome::Done(contracts::CreditReserved {
        order_id: trigger.order_id,
        customer_id: trigger.customer_id,
    }))
}

/// `release-credit`: undoes `reserve-credit` for the saga instance of `trigger`.
pub async fn release_credit(
    conn: &mut sqlx::PgConnection,
    trigger: &contracts::OrderCreated,
    correlation_id: uuid::Uuid,
) -> Result<(), HandlerError> {
    sqlx::query(
        "UPDATE \"customer\" SET \"credit_reserved\" = \"credit_reserved\" - $2, \
         \"version\" = \"version\" + 1, \"updated_at\" = now() WHERE \"id\" = $1",
    )
    .bind(trigger.customer_id)
    .bind(trigger.total)
    .execute(&mut *conn)
    .await?;
    let event = contracts::CreditReleased {
        order_id: trigger.order_id,
    };
    crate::events::publish(conn, event, Some(correlation_id)).await?;
    Ok(())
}
