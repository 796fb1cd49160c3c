//! Events: the broker and its adapters, the transactional outbox, idempotent consumers, a
//! process's messaging tasks and tables, and what is built on them: read models, event-sourced
//! aggregates and sagas.

pub mod broker;
pub mod consumer;
pub mod event_store;
pub mod outbox;
pub mod projection;
pub mod saga;
pub mod wiring;
