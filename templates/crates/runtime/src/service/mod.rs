//! One service process: its wiring, settings, logs, metrics, health, database, the shape of its
//! HTTP answers and documents, and the small clients every process has.

pub mod config;
pub mod db;
pub mod docs;
pub mod error;
pub mod health;
pub mod http_client;
pub mod json;
pub mod mail;
pub mod metrics;
#[cfg(feature = "otlp")]
pub mod otel;
pub mod paging;
pub mod server;
pub mod telemetry;
pub mod test_hooks;
pub mod text_enum;
