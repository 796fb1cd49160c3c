//! Tokens and roles: EdDSA JWTs and the checks every service makes on its own routes.

pub mod auth;
pub mod identity;
pub mod jwt;
pub mod login_throttle;
