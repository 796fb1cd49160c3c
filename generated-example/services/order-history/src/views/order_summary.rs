//! Hooks of the `OrderSummary` view. This file is yours: msa-gen wrote it once and will
//! never overwrite it.
//!
//! Each hook runs after the fields the event shares with the view were copied into `row`
//! (`customer_id`, `total`, `status`, `payment_id` are the view's fields besides the key), and
//! before the row is saved. Set what no event field fills here, e.g. a status from the event
//! type. Hooks must be pure functions of the row and the event: a rebuild replays them.

use contracts::{Envelope, OrderApproved, OrderCreated, OrderRejected, PaymentProcessed};

use crate::model::OrderSummary;

/// `OrderCreated` was applied to `row` (copied: `customer_id`, `total`).
pub fn on_order_created(row: &mut OrderSummary, event: &Envelope<OrderCreated>) {
    let _ = (row, event);
}

/// `OrderApproved` was applied to `row` (copied: `customer_id`).
pub fn on_order_approved(row: &mut OrderSummary, event: &Envelope<OrderApproved>) {
    let _ = (row, event);
}

/// `OrderRejected` was applied to `row` (copied: `customer_id`).
pub fn on_order_rejected(row: &mut OrderSummary, event: &Envelope<OrderRejected>) {
    let _ = (row, event);
}

/// `PaymentProcessed` was applied to `row` (copied: `payment_id`).
pub fn on_payment_processed(row: &mut OrderSummary, event: &Envelope<PaymentProcessed>) {
    let _ = (row, event);
}
