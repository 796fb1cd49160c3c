//! The Cart aggregate of `carts`. This file is yours: msa-gen wrote
//! it once and will never overwrite it.
//!
//! - [`Cart`] is the state, rebuilt from the events (and stored in snapshots:
//!   keep it serialisable; a snapshot that no longer reads is ignored and the events replayed).
//! - `apply_*` change the state for an event that happened. They cannot fail.
//! - `decide_*` accept a command (`Ok`) or refuse it with a reason (`Err`, answered 422),
//!   looking at the current state only. An accepted command records its event.
//!
//! The defaults follow the command names: `create` (create), `add-item` (add), `remove-item` (remove), `change-quantity` (change), `check-out` (status).
//! The status refuses no command until the cart is closed (the blueprint's
//! `closed-by`, see `open`).

use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::model::*;

/// The state of a Cart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cart {
    /// `created` once created, then the verb of the last status command
    /// (for example `checked-out`).
    pub status: String,
    pub customer_id: Option<uuid::Uuid>,
    pub items: Vec<Item>,
}

/// One of a Cart's items, keyed by `product_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    pub product_id: uuid::Uuid,
    pub quantity: i32,
}

/// The blueprint's lifecycle (`closed-by`): once a Cart is `checked-out`,
/// every command is refused.
fn open(state: &Cart) -> Result<(), String> {
    match state.status.as_str() {
        "checked-out" => Err(format!("the cart is {}", state.status)),
        _ => Ok(()),
    }
}

/// Accepts or refuses `create`.
pub fn decide_create(state: &Cart, body: &CartCreate) -> Result<(), String> {
    let _ = (state, body);
    Ok(())
}

/// The state after `CartCreated`.
pub fn apply_cart_created(state: &mut Cart, event: &contracts::CartCreated) {
    state.status = "created".into();
    state.customer_id = Some(event.customer_id);
}

/// Accepts or refuses `add-item`.
pub fn decide_add_item(state: &Cart, body: &CartAddItem) -> Result<(), String> {
    open(state)?;
    if state.items.iter().any(|i| i.product_id == body.product_id) {
        return Err(format!(
            "{} is already there; change it instead",
            body.product_id
        ));
    }
    Ok(())
}

/// The state after `ItemAdded`.
pub fn apply_item_added(state: &mut Cart, event: &contracts::ItemAdded) {
    state.items.push(Item {
        product_id: event.product_id,
        quantity: event.quantity,
    });
}

/// Accepts or refuses `remove-item`.
pub fn decide_remove_item(state: &Cart, body: &CartRemoveItem) -> Result<(), String> {
    open(state)?;
    if !state.items.iter().any(|i| i.product_id == body.product_id) {
        return Err(format!("{} is not there", body.product_id));
    }
    Ok(())
}

/// The state after `ItemRemoved`.
pub fn apply_item_removed(state: &mut Cart, event: &contracts::ItemRemoved) {
    state.items.retain(|i| i.product_id != event.product_id);
}

/// Accepts or refuses `change-quantity`.
pub fn decide_change_quantity(state: &Cart, body: &CartChangeQuantity) -> Result<(), String> {
    open(state)?;
    if !state.items.iter().any(|i| i.product_id == body.product_id) {
        return Err(format!("{} is not there", body.product_id));
    }
    Ok(())
}

/// The state after `QuantityChanged`.
pub fn apply_quantity_changed(state: &mut Cart, event: &contracts::QuantityChanged) {
    if let Some(item) = state
        .items
        .iter_mut()
        .find(|i| i.product_id == event.product_id)
    {
        item.quantity = event.quantity;
    }
}

/// Accepts or refuses `check-out`.
pub fn decide_check_out(state: &Cart, body: &CartCheckOut) -> Result<(), String> {
    let _ = body;
    open(state)
}

/// The state after `CartCheckedOut`.
pub fn apply_cart_checked_out(state: &mut Cart, event: &contracts::CartCheckedOut) {
    let _ = event;
    state.status = "checked-out".into();
}
