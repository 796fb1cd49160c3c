//! The config server (`platform/config-server`) and its client.
//!
//! The server serves `GET /config/{service}/{profile}` from a folder of plain TOML files (the
//! workspace's `config/`, kept in git): `<service>.toml`, overridden by
//! `<service>-<profile>.toml`, both over the files every service shares (`_shared.toml`,
//! `_shared-<profile>.toml`). The answer holds the values (keys in snake case), the keys that
//! may change while the service runs (the files' `refreshable = [...]`), and a version (a hash
//! of the values), so clients can tell when something changed. Secrets stay references
//! (`env:NAME`): the server passes them through and each service resolves its own.
//!
//! In a system with `[auth]`, a read needs the bearer token of a service identity, and a
//! process reads only its own configuration (an admin reads any).
//!
//! A service started with `config-url` loads this layer at start (see [`crate::service::config`])
//! and then polls every `config-refresh-ms`: new values of refreshable keys are applied at once and
//! are readable through [`value`] and `GET /admin/config`; other changed keys are logged as needing
//! a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::service::config::ConfigError;
use crate::service::http_client::HttpClient;

/// One service's configuration for one profile, as served.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteConfig {
    pub service: String,
    pub profile: String,
    pub values: BTreeMap<String, serde_json::Value>,
    pub refreshable: Vec<String>,
    pub version: String,
}

impl RemoteConfig {
    /// The values as a settings layer.
    pub fn layer(&self) -> BTreeMap<String, toml::Value> {
        self.values
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
            .collect()
    }
}

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    toml::Value::try_from(v).ok()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn read_table(path: &std::path::Path) -> Result<Option<toml::Table>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The files every process reads under its own (`_shared.toml`, `_shared-<profile>.toml`): no
/// service is named with `_`, so they never are another service's.
pub const SHARED: &str = "_shared";

/// Reads and merges the files of `service` for `profile` from `dir`: the shared files, then the
/// service's, each profile file over its base.
pub fn assemble(
    dir: &std::path::Path,
    service: &str,
    profile: &str,
) -> Result<Option<RemoteConfig>, String> {
    let base = read_table(&dir.join(format!("{service}.toml")))?;
    let over = read_table(&dir.join(format!("{service}-{profile}.toml")))?;
    if base.is_none() && over.is_none() {
        return Ok(None);
    }
    let shared = read_table(&dir.join(format!("{SHARED}.toml")))?;
    let shared_over = read_table(&dir.join(format!("{SHARED}-{profile}.toml")))?;
    let mut values: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut refreshable = Vec::new();
    for table in [shared, shared_over, base, over].into_iter().flatten() {
        for (k, v) in table {
            let key = k.replace('-', "_");
            if key == "refreshable" {
                refreshable = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(|s| s.replace('-', "_")))
                            .collect()
                    })
                    .unwrap_or_default();
                continue;
            }
            values.insert(key, serde_json::to_value(v).unwrap_or_default());
        }
    }
    let version =
        sha2::Sha256::digest(serde_json::to_vec(&(&values, &refreshable)).unwrap_or_default())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
    Ok(Some(RemoteConfig {
        service: service.to_string(),
        profile: profile.to_string(),
        values,
        refreshable,
        version,
    }))
}

/// The config server's routes, serving files from `dir`. Processes poll them: chatter
/// ([`crate::service::telemetry::routine_prefix`]).
pub fn routes(dir: PathBuf) -> Router {
    crate::service::telemetry::routine_prefix("/config/");
    Router::new()
        .route("/config/{service}/{profile}", get(serve))
        .with_state(Arc::new(dir))
}

async fn serve(
    State(dir): State<Arc<PathBuf>>,
    headers: http::HeaderMap,
    Path((service, profile)): Path<(String, String)>,
) -> Result<Json<RemoteConfig>, crate::ApiError> {
    // Each process reads its own files (and those shared by every process), nothing else.
    let caller = crate::security::auth::platform_caller(&headers).await?;
    if !caller.may_act_for(&service) {
        metrics::counter!("config_refused_reads_total").increment(1);
        tracing::warn!(?caller, %service, "refused a read of another service's configuration");
        return Err(crate::ApiError::Forbidden(format!(
            "only `{service}` reads the configuration of `{service}`"
        )));
    }
    // A profile has no `-`, so `<service>-<profile>.toml` never names another service's file.
    if !valid_name(&service) || !valid_name(&profile) || profile.contains('-') {
        return Err(crate::ApiError::BadRequest(
            "service is a lowercase name, profile lowercase letters and digits".into(),
        ));
    }
    match assemble(&dir, &service, &profile) {
        Ok(Some(c)) => Ok(Json(c)),
        Ok(None) => Err(crate::ApiError::NotFound(format!(
            "configuration of {service}"
        ))),
        Err(e) => Err(crate::ApiError::Internal(e)),
    }
}

/// Fetches the configuration of `service` for `profile`, retrying for up to `wait`.
pub async fn fetch(
    url: &str,
    service: &str,
    profile: &str,
    wait: Duration,
) -> Result<RemoteConfig, ConfigError> {
    let http = HttpClient::new();
    let target = format!("{}/config/{service}/{profile}", url.trim_end_matches('/'));
    let deadline = std::time::Instant::now() + wait;
    loop {
        let result = http
            .json_with::<RemoteConfig>(
                http::Method::GET,
                &target,
                None,
                Duration::from_secs(3),
                crate::security::identity::call_headers(None).await,
            )
            .await;
        match result {
            Ok((_, Some(c))) => return Ok(c),
            Ok((status, None)) if status == http::StatusCode::NOT_FOUND => {
                return Ok(RemoteConfig {
                    service: service.to_string(),
                    profile: profile.to_string(),
                    ..RemoteConfig::default()
                });
            }
            // The auth service may not have provisioned this identity yet: retried until `wait`.
            Ok((status, None))
                if status == http::StatusCode::UNAUTHORIZED
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok((status, None)) => {
                return Err(ConfigError::Remote(format!("{target} answered {status}")));
            }
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(ConfigError::Remote(e.to_string()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

struct Live {
    version: String,
    values: BTreeMap<String, serde_json::Value>,
}

static LIVE: OnceLock<RwLock<Live>> = OnceLock::new();

/// The current value of a refreshable key (snake case), from the config server.
pub fn value(key: &str) -> Option<serde_json::Value> {
    LIVE.get()?.read().ok()?.values.get(key).cloned()
}

/// The refreshable values and the version they come from.
pub fn snapshot() -> serde_json::Value {
    LIVE.get()
        .and_then(|l| {
            l.read()
                .ok()
                .map(|l| serde_json::json!({ "version": l.version, "values": l.values }))
        })
        .unwrap_or_else(|| serde_json::json!({ "version": null, "values": {} }))
}

fn refreshable_of(c: &RemoteConfig) -> BTreeMap<String, serde_json::Value> {
    c.values
        .iter()
        .filter(|(k, _)| c.refreshable.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Keeps the refreshable keys current by polling the config server every `every`.
pub fn follow(url: String, first: RemoteConfig, every: Duration) {
    let live = LIVE.get_or_init(|| {
        RwLock::new(Live {
            version: first.version.clone(),
            values: refreshable_of(&first),
        })
    });
    tokio::spawn(async move {
        let mut last = first;
        loop {
            tokio::time::sleep(every).await;
            let Ok(next) = fetch(&url, &last.service, &last.profile, Duration::ZERO).await else {
                continue;
            };
            // An empty answer (the file missing for a moment) changes nothing.
            if next.version == last.version || next.version.is_empty() {
                continue;
            }
            let restart: Vec<&String> = next
                .values
                .keys()
                .chain(last.values.keys())
                .filter(|k| {
                    !next.refreshable.contains(k) && next.values.get(*k) != last.values.get(*k)
                })
                .collect();
            if !restart.is_empty() {
                tracing::warn!(keys = ?restart, "configuration changed on the config server; these keys take effect after a restart");
            }
            if let Ok(mut l) = live.write() {
                l.version = next.version.clone();
                l.values = refreshable_of(&next);
            }
            let level = next.values.get("log_level");
            if next.refreshable.iter().any(|k| k == "log_level")
                && level != last.values.get("log_level")
                && let Some(level) = level.and_then(serde_json::Value::as_str)
                && crate::service::telemetry::set_level(level)
            {
                tracing::info!(%level, "log level changed");
            }
            tracing::info!(version = %next.version, "refreshable configuration applied");
            metrics::counter!("config_refreshes_total").increment(1);
            last = next;
        }
    });
}

/// `GET /admin/config`: the refreshable values in effect.
pub fn admin_routes() -> Router {
    Router::new().route("/admin/config", get(|| async { Json(snapshot()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_overrides_and_refreshable_keys_are_separate() {
        let dir = std::env::temp_dir().join(format!("rt-cfgsrv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("orders.toml"),
            "refreshable = [\"greeting\"]\ngreeting = \"hello\"\nlog-level = \"info\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("orders-prod.toml"), "greeting = \"bonjour\"\n").unwrap();
        std::fs::write(
            dir.join("_shared.toml"),
            "greeting = \"hi\"\nregion = \"eu\"\n",
        )
        .unwrap();
        let dev = assemble(&dir, "orders", "dev").unwrap().unwrap();
        let prod = assemble(&dir, "orders", "prod").unwrap().unwrap();
        assert_eq!(dev.values["greeting"], "hello");
        assert_eq!(prod.values["greeting"], "bonjour");
        assert_eq!(prod.values["log_level"], "info");
        assert_eq!(dev.values["region"], "eu", "shared by every service");
        assert_eq!(dev.refreshable, vec!["greeting"]);
        assert!(!dev.values.contains_key("refreshable"));
        assert_ne!(dev.version, prod.version);
        assert!(assemble(&dir, "nobody", "dev").unwrap().is_none());
        assert!(!valid_name("../etc") && valid_name("order-history"));
    }
}
