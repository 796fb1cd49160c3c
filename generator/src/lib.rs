//! msa-gen: turns one TOML blueprint of a microservice system into a working Cargo workspace.
//!
//! The pipeline, one module per stage:
//! [`blueprint::parse`] → [`blueprint::validate`] → [`plan`] → [`render`] → [`write`].
//! [`cli`] wires the stages to the commands; [`graph`] and [`schema`] are read-only views of a
//! blueprint and of the format.

pub mod blueprint;
pub mod diagnostics;
pub mod names;
