//! Your own routes of the `carts` service, merged into its router beside the
//! generated ones (they get the same metrics, tracing and shutdown). This file is yours:
//! msa-gen writes it once and never touches it again.
//!
//! Protect a route as the generated ones are with `runtime::security::auth::protect(router, roles)`.

use axum::Router;
use sqlx::PgPool;

/// The routes you add. `db` is the service's pool.
pub fn router(db: PgPool) -> Router {
    let _ = db;
    Router::new()
}
