//! The plan's typed model: what every generated file needs, decided in Rust from the blueprint.
//! Templates only place these values.
//!
//! Modules depend only downwards, in this order, so each is entered once: `field` and `text`
//! (leaves: types, and free text escaped per target) →
//! `entity`, `read_model`, `event`, `calls`, `aggregate`, `bff`, `saga` → `messaging` (uses the
//! sagas' handlers) → `service` (assembles one service) → `gateway` → `system` (assembles the
//! whole). No module here imports an emitter or the plan's file list.

pub mod aggregate;
pub mod bff;
pub mod calls;
pub mod entity;
pub mod event;
pub mod field;
pub mod gateway;
pub mod messaging;
pub mod read_model;
pub mod saga;
pub mod service;
pub mod system;
pub mod text;
pub mod wire;
