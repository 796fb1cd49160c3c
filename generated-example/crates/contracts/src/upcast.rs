//! Upcasting of older event versions. This file is yours: msa-gen wrote it once and will never
//! overwrite it.
//!
//! When you raise an event's `version` in the blueprint, consumers may still receive envelopes
//! of the older version (from an outbox not yet drained, or a service not yet redeployed).
//! `Envelope::decode` calls [`step`] once per version, oldest first, to turn a payload of
//! version `from` into one of version `from + 1`. Fields added as optional (`?`) need nothing:
//! they decode as `None` from an older payload. For anything else, add an arm, e.g.
//!
//! ```ignore
//! ("OrderCreated", 1) => {
//!     let mut payload = payload;
//!     payload["currency"] = serde_json::json!("EUR");
//!     Ok(payload)
//! }
//! ```

/// Turns a payload of `event_type` at version `from` into version `from + 1`.
pub fn step(
    event_type: &str,
    from: u32,
    payload: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let _ = (event_type, from);
    Ok(payload)
}
