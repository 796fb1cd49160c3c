//! Synchronous calls: a typed client per called service with the blueprint's resilience policy.

use serde::Serialize;

use super::field::reader_fields;
use crate::blueprint::{Blueprint, Fallback, Service};
use crate::names::to_snake;

/// A client of a called service, with the blueprint's resilience policy.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    pub service: String,
    /// Rust module / function prefix (`products`).
    pub snake: String,
    pub port: u16,
    pub timeout_ms: u64,
    pub retries: u32,
    pub window: u32,
    /// Calls in the window before the failure rate counts (half the window).
    pub min_calls: u32,
    pub failure_rate: f64,
    pub open_for_ms: u64,
    /// `Error`, `Cached` or `Default` (the runtime's `Fallback`).
    pub fallback: Fallback,
    /// The runtime's `calls::Fallback` variant (`Cached`).
    pub fallback_variant: &'static str,
    /// The called service's exposed entities, read through typed functions.
    pub entities: Vec<CalledEntityView>,
}

/// An entity of a called service, as the caller reads it (enums as their wire strings, so a
/// new variant on the other side does not break the caller).
#[derive(Debug, Clone, Serialize)]
pub struct CalledEntityView {
    pub name: String,
    pub snake: String,
    pub path: String,
    /// (Rust identifier, Rust type) of each field.
    pub fields: Vec<(String, String)>,
}

pub fn call_views(s: &Service, bp: &Blueprint) -> Vec<CallView> {
    s.calls
        .iter()
        .filter_map(|c| {
            let callee = bp
                .services
                .iter()
                .find(|x| x.name.value == c.service.value)?;
            let breaker = c.breaker.clone().unwrap_or(crate::blueprint::Breaker {
                failure_rate: 0.5,
                window: 20,
                open_for: crate::blueprint::Duration { millis: 10_000 },
            });
            Some(CallView {
                service: callee.name.value.clone(),
                snake: to_snake(&callee.name.value),
                port: callee.port.value,
                timeout_ms: c.timeout.millis,
                retries: c.retries,
                window: breaker.window,
                min_calls: breaker.window.div_ceil(2).max(1),
                failure_rate: breaker.failure_rate,
                open_for_ms: breaker.open_for.millis,
                fallback: c.fallback,
                fallback_variant: match c.fallback {
                    Fallback::Error => "Error",
                    Fallback::Cached => "Cached",
                    Fallback::Default => "Default",
                },
                entities: callee
                    .entities
                    .iter()
                    .filter(|e| e.expose.is_some())
                    .map(|e| CalledEntityView {
                        name: e.name.value.clone(),
                        snake: to_snake(&e.name.value),
                        path: e
                            .expose
                            .as_ref()
                            .map_or_else(String::new, |x| x.path.value.clone()),
                        fields: reader_fields(&e.fields),
                    })
                    .collect(),
            })
        })
        .collect()
}
