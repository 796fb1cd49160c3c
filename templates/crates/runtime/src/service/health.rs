//! Health endpoints: `/health/live` answers while the process runs; `/health/ready` answers 200
//! only while the database (when the service has one) is reachable, else 503.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

pub async fn live() -> Json<Value> {
    Json(json!({ "status": "up" }))
}

/// Whether the database answers a query within 2 s: the readiness of a service with one, and
/// the health its registry heartbeats report.
pub async fn database_up(pool: &PgPool) -> bool {
    let query = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), query).await,
        Ok(Ok(_))
    )
}

/// Readiness of a service with a database.
pub async fn ready(State(pool): State<Option<PgPool>>) -> (StatusCode, Json<Value>) {
    let Some(pool) = pool else {
        return (
            StatusCode::OK,
            Json(json!({ "status": "up", "checks": {} })),
        );
    };
    match sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&pool)
        .await
    {
        Ok(_) => (
            StatusCode::OK,
            Json(json!({ "status": "up", "checks": { "database": "up" } })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "down", "checks": { "database": "down" } })),
            )
        }
    }
}
