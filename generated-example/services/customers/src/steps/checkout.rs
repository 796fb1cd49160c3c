//! The steps `customers` runs in saga `checkout` (orchestration). This file is
//! yours: msa-gen wrote it once and will never overwrite it.
//!
//! Each action runs inside the consumer's transaction, once per saga instance: whatever it
//! writes through `conn` commits together with its step record and the reply. Return
//! `Ok(Ok(()))` when done, `Ok(Err(reason))` to refuse (the owner compensates the steps done
//! before), `Err` to retry later. A compensation runs only if its action was done.

#[allow(unused_imports)]
use runtime::messaging::consumer::HandlerError;

/// `reserve-credit`.
/// Reserves `data.total` of the `customer` named by `data.customer_id` against
/// its `credit_limit`; refused when it would go over (or the row does not exist).
pub async fn reserve_credit(
    conn: &mut sqlx::PgConnection,
    data: &contracts::CheckoutData,
) -> Result<Result<(), String>, HandlerError> {
    let reserved = sqlx::query(
        "UPDATE \"customer\" SET \"credit_reserved\" = \"credit_reserved\" + $2, \
         \"version\" = \"version\" + 1, \"updated_at\" = now() \
         WHERE \"id\" = $1 AND \"credit_reserved\" + $2 <= \"credit_limit\"",
    )
    .bind(data.customer_id)
    .bind(data.total)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if reserved {
        Ok(Ok(()))
    } else {
        Ok(Err("credit limit exceeded".into()))
    }
}

/// `release-credit`: undoes `reserve-credit`.
pub async fn release_credit(
    conn: &mut sqlx::PgConnection,
    data: &contracts::CheckoutData,
) -> Result<(), HandlerError> {
    sqlx::query(
        "UPDATE \"customer\" SET \"credit_reserved\" = \"credit_reserved\" - $2, \
         \"version\" = \"version\" + 1, \"updated_at\" = now() WHERE \"id\" = $1",
    )
    .bind(data.customer_id)
    .bind(data.total)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
