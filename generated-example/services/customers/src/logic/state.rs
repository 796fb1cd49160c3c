//! The state of the `customers` service's business logic. This file is yours: msa-gen
//! writes it once and never touches it again.
//!
//! Add what your hooks need to [`Logic`] (a client, a cache, a setting) and build it in
//! [`Logic::new`], which runs once at start; every hook receives `&Logic`.

/// The service's business logic; the hooks of each entity are implemented for it in
/// `logic/<entity>.rs`.
#[derive(Debug, Clone, Default)]
pub struct Logic {}

impl Logic {
    /// Builds the logic at start, from the service's settings and its database pool.
    pub fn new(ctx: &runtime::Context, db: &sqlx::PgPool) -> Self {
        let _ = (ctx, db);
        Self::default()
    }
}
