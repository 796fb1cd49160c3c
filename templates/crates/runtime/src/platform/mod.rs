//! The shared processes of a system and what their clients need: the API gateway, the service
//! registry and discovery, the config server, the auth service and its session store, the
//! console, the web shell of a `web` BFF and the fragments services serve into it.

pub mod auth_server;
#[cfg(feature = "git")]
pub mod config_git;
pub mod config_server;
#[cfg(feature = "console")]
pub mod console;
pub mod discovery;
pub mod fragment;
pub mod gateway;
pub mod registry;
pub mod sessions;
pub mod web;
