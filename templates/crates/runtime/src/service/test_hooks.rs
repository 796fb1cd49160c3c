//! Switches for a system's generated end-to-end suite (`tests/e2e`), and nothing else.
//!
//! They exist only in debug builds (`cfg(debug_assertions)`: release builds, which the
//! Dockerfiles ship, compile them out) and only when the setting `test-hooks` is `true`
//! (`APP_TEST_HOOKS=true`; off by default). With both, a service answers:
//!
//! - `PUT /admin/test/fail-steps` with `["<saga>.<action>", …]`: those saga actions refuse
//!   (reason `failed by the test switch`), so the suite can walk a compensation path;
//! - `POST /admin/test/publish/{EventType}` with an event's JSON: the service publishes it
//!   through its outbox, as its own code would, so the suite can follow it to every consumer.

use std::collections::BTreeSet;
use std::sync::RwLock;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use sqlx::PgPool;

use crate::messaging::broker::BoxFuture;

/// Publishes one event, by type, from its JSON, in the given transaction (generated per
/// service from its `publishes`).
pub type Publish = for<'c> fn(
    &'c mut sqlx::PgConnection,
    &'c str,
    serde_json::Value,
) -> BoxFuture<'c, Result<(), String>>;

static FAILING: RwLock<BTreeSet<String>> = RwLock::new(BTreeSet::new());

/// What a refused step gives as its reason.
pub const REASON: &str = "failed by the test switch";

/// Whether the hooks are on: a debug build with the setting `test-hooks = true`.
pub fn enabled(settings: &crate::service::config::Settings) -> bool {
    cfg!(debug_assertions)
        && settings
            .extra
            .get("test_hooks")
            .and_then(toml::Value::as_bool)
            .unwrap_or(false)
}

/// Whether the test switch makes `action` of `saga` refuse. Always `false` in release builds.
pub fn step_fails(saga: &str, action: &str) -> bool {
    if !cfg!(debug_assertions) {
        return false;
    }
    FAILING
        .read()
        .map(|set| set.contains(&format!("{saga}.{action}")))
        .unwrap_or(false)
}

fn set_failing(steps: Vec<String>) {
    if let Ok(mut set) = FAILING.write() {
        *set = steps.into_iter().collect();
    }
}

/// The hooks' routes; `publish` with the service's database when it publishes events.
pub fn routes(publish: Option<(PgPool, Publish)>) -> Router {
    let router = Router::new().route(
        "/admin/test/fail-steps",
        put(|Json(steps): Json<Vec<String>>| async move {
            set_failing(steps);
            StatusCode::NO_CONTENT
        }),
    );
    match publish {
        Some(state) => router.merge(
            Router::new()
                .route("/admin/test/publish/{event_type}", post(publish_event))
                .with_state(state),
        ),
        None => router,
    }
}

async fn publish_event(
    State((pool, publish)): State<(PgPool, Publish)>,
    Path(event_type): Path<String>,
    Json(payload): Json<serde_json::Value>,
) -> (StatusCode, String) {
    let result = async {
        let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
        publish(&mut tx, &event_type, payload).await?;
        tx.commit().await.map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(()) => (StatusCode::ACCEPTED, String::new()),
        Err(e) => {
            tracing::warn!(%event_type, error = %e, "test publish refused");
            (StatusCode::UNPROCESSABLE_ENTITY, e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_names_saga_and_action() {
        set_failing(vec!["checkout.charge".into()]);
        assert_eq!(step_fails("checkout", "charge"), cfg!(debug_assertions));
        assert!(!step_fails("checkout", "reserve-credit"));
        assert!(!step_fails("other", "charge"));
        set_failing(Vec::new());
        assert!(!step_fails("checkout", "charge"));
    }

    #[test]
    fn hooks_are_off_unless_set() {
        let mut settings: crate::service::config::Settings =
            toml::Value::Table(toml::Table::from_iter([
                ("service".to_string(), toml::Value::String("s".into())),
                ("port".to_string(), toml::Value::Integer(1)),
            ]))
            .try_into()
            .unwrap();
        assert!(!enabled(&settings));
        settings
            .extra
            .insert("test_hooks".into(), toml::Value::Boolean(true));
        assert_eq!(enabled(&settings), cfg!(debug_assertions));
    }
}

#[cfg(test)]
mod env_tests {
    #[test]
    fn the_environment_turns_them_on() {
        let sources = crate::service::config::Sources {
            dir: std::path::PathBuf::from("/nonexistent"),
            env: [("APP_TEST_HOOKS".to_string(), "true".to_string())]
                .into_iter()
                .collect(),
        };
        let settings = crate::service::config::load("s", 1, &sources).unwrap();
        assert_eq!(super::enabled(&settings), cfg!(debug_assertions));
    }
}
