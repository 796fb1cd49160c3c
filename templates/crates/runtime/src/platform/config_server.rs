//! The config server (`platform/config-server`) and its client.
//!
//! The server serves `GET /config/{service}/{profile}` from plain TOML files: `<service>.toml`,
//! overridden by `<service>-<profile>.toml`, both over the files every service shares
//! (`_shared.toml`, `_shared-<profile>.toml`). The answer holds the values (keys in snake case),
//! the keys that may change while the service runs (the files' `refreshable = [...]`), and a
//! version (a hash of the values), so clients can tell when something changed. Secrets stay
//! references (`env:NAME`): the server passes them through and each service resolves its own.
//!
//! The files come from a [`Store`]:
//! - a folder (`serve-dir`, default the workspace's `config/`; in Kubernetes a mounted
//!   ConfigMap), read on every request;
//! - a Git repository (`git-repo`, a path or a URL; feature `git`), served by label: a branch,
//!   tag or commit, `git-label` (default `main`), per profile `git-label-<profile>`, or asked with
//!   `?label=`. The server follows each label's commit (polling every `git-refresh-ms`, and at
//!   `POST /config/refresh`, which needs a service identity or an admin). A commit whose files do
//!   not all parse is refused and the last good one stays served. Every answer names the commit
//!   (`revision`, and the `x-config-revision` header), and `config_server_revision{label,revision}`
//!   says which commit each label serves. Rolling back is moving the label.
//!
//! In a system with `[auth]`, a read needs the bearer token of a service identity, and a
//! process reads only its own configuration (an admin reads any).
//!
//! A service started with `config-url` loads this layer at start (see [`crate::service::config`])
//! and then polls every `config-refresh-ms`: new values of refreshable keys are applied at once and
//! are readable through [`value`] and `GET /admin/config`; other changed keys are logged and
//! listed there as needing a restart. `GET /admin/config` and `config_revision{revision}` name
//! the revision the service runs with.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
    /// The commit the values come from (a Git store only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The label that commit was served for (a Git store only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The response header naming the commit an answer comes from.
pub const REVISION_HEADER: &str = "x-config-revision";

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
    assemble_with(&|name| read_table(&dir.join(name)), service, profile)
}

/// [`assemble`] over any store: `file` gives a file's table by name (`orders.toml`), `None`
/// when there is no such file.
pub fn assemble_with(
    file: &dyn Fn(&str) -> Result<Option<toml::Table>, String>,
    service: &str,
    profile: &str,
) -> Result<Option<RemoteConfig>, String> {
    let base = file(&format!("{service}.toml"))?;
    let over = file(&format!("{service}-{profile}.toml"))?;
    if base.is_none() && over.is_none() {
        return Ok(None);
    }
    let shared = file(&format!("{SHARED}.toml"))?;
    let shared_over = file(&format!("{SHARED}-{profile}.toml"))?;
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
        revision: None,
        label: None,
    }))
}

/// Where the config server reads its files.
pub enum Store {
    /// A folder, read on every request: the workspace's `config/`, or a mounted ConfigMap.
    Folder(PathBuf),
    /// A Git repository, served by label.
    #[cfg(feature = "git")]
    Git(Arc<git::Served>),
}

impl Store {
    /// `git-repo` when set (and this build has the `git` feature), else the folder `serve-dir`
    /// (default `config`).
    pub fn from_settings(settings: &crate::service::config::Settings) -> Self {
        #[cfg(feature = "git")]
        if let Some(repo) = settings.text("git_repo").filter(|r| !r.is_empty()) {
            return Self::Git(Arc::new(git::Served::from_settings(repo, settings)));
        }
        #[cfg(not(feature = "git"))]
        if settings.text("git_repo").is_some_and(|r| !r.is_empty()) {
            tracing::error!(
                "`git-repo` is set, but this config server was built without the `git` feature; serving `serve-dir`"
            );
        }
        Self::Folder(settings.text("serve_dir").unwrap_or("config").into())
    }
}

#[cfg(feature = "git")]
pub mod git {
    //! Serving a Git store: the revision each label serves, kept current.

    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, Mutex, RwLock};
    use std::time::Duration;

    use crate::platform::config_git::{GitStore, Revision, short, valid_label};

    /// At most this many labels are served at once (those asked with `?label=` count).
    pub const MAX_LABELS: usize = 64;

    /// A Git store and the revision each label serves.
    pub struct Served {
        store: GitStore,
        /// The label of a profile without its own.
        pub default_label: String,
        /// `git-label-<profile>`: profile → label.
        pub profile_labels: BTreeMap<String, String>,
        /// How often the labels are followed.
        pub every: Duration,
        served: RwLock<BTreeMap<String, Arc<Revision>>>,
        /// label → the commit last refused for it (refused once, logged once).
        refused: Mutex<HashMap<String, String>>,
        /// One refresh at a time.
        refreshing: Mutex<()>,
    }

    impl Served {
        /// From the settings `git-label`, `git-label-<profile>`, `git-refresh-ms` and
        /// `git-cache` (where a URL is mirrored; default under the temporary folder).
        pub fn from_settings(repo: &str, settings: &crate::service::config::Settings) -> Self {
            let cache = settings
                .text("git_cache")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| {
                    let digest = crate::platform::auth_server::sha256_hex(repo);
                    std::env::temp_dir()
                        .join("msa-config-cache")
                        .join(digest.get(..16).unwrap_or(&digest))
                });
            let profile_labels = settings
                .extra
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.strip_prefix("git_label_")?.to_string(),
                        v.as_str()?.to_string(),
                    ))
                })
                .collect();
            Self::new(
                GitStore::new(repo, &cache),
                settings.text("git_label").unwrap_or("main").to_string(),
                profile_labels,
                Duration::from_millis(
                    settings
                        .int("git_refresh_ms")
                        .and_then(|v| u64::try_from(v).ok())
                        .unwrap_or(5000),
                ),
            )
        }

        pub fn new(
            store: GitStore,
            default_label: String,
            profile_labels: BTreeMap<String, String>,
            every: Duration,
        ) -> Self {
            Self {
                store,
                default_label,
                profile_labels,
                every,
                served: RwLock::new(BTreeMap::new()),
                refused: Mutex::new(HashMap::new()),
                refreshing: Mutex::new(()),
            }
        }

        /// The label a request reads: the one it asks for, else its profile's, else the default.
        pub fn label_for(&self, profile: &str, asked: Option<&str>) -> String {
            asked
                .or_else(|| self.profile_labels.get(profile).map(String::as_str))
                .unwrap_or(&self.default_label)
                .to_string()
        }

        /// The revision `label` serves now.
        pub fn current(&self, label: &str) -> Option<Arc<Revision>> {
            self.served.read().ok()?.get(label).cloned()
        }

        /// label → commit, for every served label.
        pub fn revisions(&self) -> BTreeMap<String, String> {
            self.served
                .read()
                .map(|s| {
                    s.iter()
                        .map(|(l, r)| (l.clone(), r.commit.clone()))
                        .collect()
                })
                .unwrap_or_default()
        }

        /// Fetches (a URL), then reads again every configured or served label whose commit moved.
        /// A revision that does not parse is refused: the label keeps its last good one.
        /// Blocking.
        pub fn refresh(&self) -> BTreeMap<String, String> {
            let Ok(_one) = self.refreshing.lock() else {
                return self.revisions();
            };
            if let Err(e) = self.store.fetch() {
                tracing::warn!(error = %e, "the configuration repository did not fetch; serving what was fetched before");
            }
            let mut labels: Vec<String> = self
                .served
                .read()
                .map(|s| s.keys().cloned().collect())
                .unwrap_or_default();
            labels.push(self.default_label.clone());
            labels.extend(self.profile_labels.values().cloned());
            labels.sort();
            labels.dedup();
            for label in labels {
                self.follow(&label);
            }
            self.revisions()
        }

        /// Serves `label` at its commit now, when that commit reads; the revision served.
        fn follow(&self, label: &str) -> Option<Arc<Revision>> {
            let current = self.current(label);
            let commit = match self.store.resolve(label) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(%label, error = %e, "a configuration label does not resolve");
                    return current;
                }
            };
            if current.as_ref().is_some_and(|r| r.commit == commit) {
                return current;
            }
            let refused = self.refused.lock().ok().and_then(|r| r.get(label).cloned());
            if refused.as_deref() == Some(commit.as_str()) {
                return current;
            }
            match self.store.read(&commit) {
                Ok(revision) => {
                    let revision = Arc::new(revision);
                    let Ok(mut served) = self.served.write() else {
                        return current;
                    };
                    if !served.contains_key(label) && served.len() >= MAX_LABELS {
                        tracing::warn!(%label, "too many configuration labels served; not serving another");
                        return None;
                    }
                    if let Some(old) = served.insert(label.to_string(), revision.clone()) {
                        metrics::gauge!("config_server_revision", "label" => label.to_string(), "revision" => old.commit.clone()).set(0.0);
                    }
                    metrics::gauge!("config_server_revision", "label" => label.to_string(), "revision" => commit.clone()).set(1.0);
                    tracing::info!(%label, from = current.as_ref().map(|r| short(&r.commit)), to = short(&commit), "serving a new configuration revision");
                    Some(revision)
                }
                Err(e) => {
                    metrics::counter!("config_rejected_revisions_total").increment(1);
                    tracing::error!(%label, commit = short(&commit), error = %e, "refused a configuration revision; the last good one stays served");
                    if let Ok(mut r) = self.refused.lock() {
                        r.insert(label.to_string(), commit);
                    }
                    current
                }
            }
        }

        /// The revision for `label`: the one served, else read now (a label first asked for).
        /// Blocking.
        pub fn revision(&self, label: &str) -> Result<Arc<Revision>, String> {
            if let Some(r) = self.current(label) {
                return Ok(r);
            }
            if !valid_label(label) {
                return Err(format!("`{label}` is not a branch, tag or commit name"));
            }
            self.follow(label)
                .ok_or_else(|| format!("no valid revision of `{label}`"))
        }
    }
}

/// The config server's routes, serving files from `store`. Processes poll them: chatter
/// ([`crate::service::telemetry::routine_prefix`]). A Git store is read once before the routes
/// serve, then followed in the background.
pub fn routes(store: Store) -> Router {
    crate::service::telemetry::routine_prefix("/config/");
    #[cfg(feature = "git")]
    if let Store::Git(served) = &store {
        let first = tokio::task::block_in_place(|| served.refresh());
        tracing::info!(revisions = ?first, "serving configuration from Git");
        let served = served.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(served.every).await;
                let s = served.clone();
                let _ = tokio::task::spawn_blocking(move || s.refresh()).await;
            }
        });
    }
    Router::new()
        .route("/config/{service}/{profile}", get(serve))
        .route("/config/refresh", post(refresh))
        .with_state(Arc::new(store))
}

#[derive(Deserialize)]
struct Asked {
    label: Option<String>,
}

/// `POST /config/refresh`: the store followed now (a Git hook calls it after a push). A
/// service identity or an admin only.
async fn refresh(
    State(store): State<Arc<Store>>,
    headers: http::HeaderMap,
) -> Result<Json<serde_json::Value>, crate::ApiError> {
    crate::security::auth::platform_caller(&headers).await?;
    match store.as_ref() {
        Store::Folder(_) => Ok(Json(serde_json::json!({ "revisions": {} }))),
        #[cfg(feature = "git")]
        Store::Git(served) => {
            let served = served.clone();
            let revisions = tokio::task::spawn_blocking(move || served.refresh())
                .await
                .map_err(|e| crate::ApiError::Internal(e.to_string()))?;
            Ok(Json(serde_json::json!({ "revisions": revisions })))
        }
    }
}

async fn serve(
    State(store): State<Arc<Store>>,
    headers: http::HeaderMap,
    Path((service, profile)): Path<(String, String)>,
    Query(asked): Query<Asked>,
) -> Result<Response, crate::ApiError> {
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
    let found = match store.as_ref() {
        Store::Folder(dir) => {
            if asked.label.is_some() {
                return Err(crate::ApiError::BadRequest(
                    "this config server serves a folder, which has no labels".into(),
                ));
            }
            assemble(dir, &service, &profile)
        }
        #[cfg(feature = "git")]
        Store::Git(served) => {
            let label = served.label_for(&profile, asked.label.as_deref());
            // A served label answers from memory; only a label first asked for reads Git.
            let revision = match served.current(&label) {
                Some(r) => r,
                None => {
                    let (s, l) = (served.clone(), label.clone());
                    tokio::task::spawn_blocking(move || s.revision(&l))
                        .await
                        .map_err(|e| crate::ApiError::Internal(e.to_string()))?
                        .map_err(crate::ApiError::Unavailable)?
                }
            };
            assemble_with(
                &|name| Ok(revision.files.get(name).cloned()),
                &service,
                &profile,
            )
            .map(|c| {
                c.map(|c| RemoteConfig {
                    revision: Some(revision.commit.clone()),
                    label: Some(label.clone()),
                    ..c
                })
            })
        }
    };
    match found {
        Ok(Some(c)) => {
            let mut r = Json(&c).into_response();
            if let Some(v) = c
                .revision
                .as_deref()
                .and_then(|v| http::HeaderValue::from_str(v).ok())
            {
                r.headers_mut().insert(REVISION_HEADER, v);
            }
            Ok(r)
        }
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
            // The auth service may not have provisioned this identity yet, or the config server
            // not read a good revision yet: retried until `wait`.
            Ok((status, None))
                if (status == http::StatusCode::UNAUTHORIZED
                    || status == http::StatusCode::SERVICE_UNAVAILABLE)
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
    /// The configuration last fetched: the one in effect for refreshable keys.
    current: RemoteConfig,
    /// Keys changed on the config server since start that only a restart applies.
    restart_needed: Vec<String>,
}

static LIVE: OnceLock<RwLock<Live>> = OnceLock::new();

/// The current value of a refreshable key (snake case), from the config server.
pub fn value(key: &str) -> Option<serde_json::Value> {
    let live = LIVE.get()?.read().ok()?;
    let c = &live.current;
    c.refreshable
        .iter()
        .any(|k| k == key)
        .then(|| c.values.get(key).cloned())
        .flatten()
}

/// The refreshable values, the version and revision they come from, and the keys waiting for a
/// restart.
pub fn snapshot() -> serde_json::Value {
    LIVE.get()
        .and_then(|l| {
            l.read().ok().map(|l| {
                let c = &l.current;
                serde_json::json!({
                    "version": c.version,
                    "revision": c.revision,
                    "label": c.label,
                    "values": refreshable_of(c),
                    "restart_needed": l.restart_needed,
                })
            })
        })
        .unwrap_or_else(|| {
            serde_json::json!({ "version": null, "revision": null, "label": null, "values": {}, "restart_needed": [] })
        })
}

fn refreshable_of(c: &RemoteConfig) -> BTreeMap<String, serde_json::Value> {
    c.values
        .iter()
        .filter(|(k, _)| c.refreshable.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The keys of `next` that differ from `started` (what the process runs with) and are not
/// refreshable: only a restart applies them. Sorted.
pub fn needing_restart(started: &RemoteConfig, next: &RemoteConfig) -> Vec<String> {
    let mut keys: Vec<String> = next
        .values
        .keys()
        .chain(started.values.keys())
        .filter(|k| !next.refreshable.contains(k) && next.values.get(*k) != started.values.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn revision_gauge(revision: Option<&str>, value: f64) {
    if let Some(r) = revision {
        metrics::gauge!("config_revision", "revision" => r.to_string()).set(value);
    }
}

/// Keeps the refreshable keys current by polling the config server every `every`.
pub fn follow(url: String, first: RemoteConfig, every: Duration) {
    revision_gauge(first.revision.as_deref(), 1.0);
    if let Some(revision) = &first.revision {
        tracing::info!(%revision, label = ?first.label, "configuration loaded from the config server");
    }
    let live = LIVE.get_or_init(|| {
        RwLock::new(Live {
            current: first.clone(),
            restart_needed: Vec::new(),
        })
    });
    tokio::spawn(async move {
        let started = first.clone();
        let mut last = first;
        loop {
            tokio::time::sleep(every).await;
            let Ok(next) = fetch(&url, &last.service, &last.profile, Duration::ZERO).await else {
                continue;
            };
            // An empty answer (the file missing for a moment) changes nothing.
            if (next.version == last.version && next.revision == last.revision)
                || next.version.is_empty()
            {
                continue;
            }
            let restart = needing_restart(&started, &next);
            let changed_restart = needing_restart(&last, &next);
            if !changed_restart.is_empty() {
                tracing::warn!(keys = ?changed_restart, "configuration changed on the config server; these keys take effect after a restart");
            }
            if next.revision != last.revision {
                revision_gauge(last.revision.as_deref(), 0.0);
                revision_gauge(next.revision.as_deref(), 1.0);
            }
            if let Ok(mut l) = live.write() {
                l.current = next.clone();
                l.restart_needed = restart;
            }
            let level = next.values.get("log_level");
            if next.refreshable.iter().any(|k| k == "log_level")
                && level != last.values.get("log_level")
                && let Some(level) = level.and_then(serde_json::Value::as_str)
                && crate::service::telemetry::set_level(level)
            {
                tracing::info!(%level, "log level changed");
            }
            if next.version != last.version {
                tracing::info!(version = %next.version, revision = ?next.revision, "refreshable configuration applied");
                metrics::counter!("config_refreshes_total").increment(1);
            }
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

    #[test]
    fn keys_needing_a_restart_are_those_changed_since_start_and_not_refreshable() {
        let at = |values: serde_json::Value| RemoteConfig {
            values: serde_json::from_value(values).unwrap(),
            refreshable: vec!["greeting".into()],
            ..RemoteConfig::default()
        };
        let started = at(serde_json::json!({ "greeting": "hi", "pool": 5, "gone": 1 }));
        let next = at(serde_json::json!({ "greeting": "yo", "pool": 6, "new": true }));
        assert_eq!(needing_restart(&started, &next), ["gone", "new", "pool"]);
        assert!(needing_restart(&started, &started).is_empty());
    }

    #[cfg(feature = "git")]
    #[test]
    fn a_git_store_follows_its_labels_refuses_bad_commits_and_rolls_back() {
        use crate::platform::config_git::GitStore;
        use crate::platform::config_git::tests::{commit, git, repo_with};
        let dir = repo_with(
            "served",
            &[(
                "orders.toml",
                "refreshable = [\"greeting\"]\ngreeting = \"hello\"\n",
            )],
        );
        let first = git(&dir, &["rev-parse", "HEAD"]);
        git(&dir, &["branch", "release"]);
        let served = git::Served::new(
            GitStore::new(dir.to_str().unwrap(), std::path::Path::new("/nonexistent")),
            "main".into(),
            [("prod".to_string(), "release".to_string())].into(),
            Duration::from_secs(5),
        );
        let greeting = |profile: &str| {
            let label = served.label_for(profile, None);
            let r = served.revision(&label).unwrap();
            let c = assemble_with(&|n| Ok(r.files.get(n).cloned()), "orders", profile)
                .unwrap()
                .unwrap();
            (
                c.values["greeting"].as_str().unwrap().to_string(),
                r.commit.clone(),
            )
        };
        assert_eq!(served.refresh().len(), 2, "main and release");
        assert_eq!(greeting("dev"), ("hello".into(), first.clone()));
        // A new commit on main reaches dev at the next refresh; prod stays on `release`.
        let second = commit(
            &dir,
            &[(
                "orders.toml",
                "refreshable = [\"greeting\"]\ngreeting = \"bonjour\"\n",
            )],
            "bonjour",
        );
        assert_eq!(greeting("dev").0, "hello", "not followed before a refresh");
        served.refresh();
        assert_eq!(greeting("dev"), ("bonjour".into(), second.clone()));
        assert_eq!(greeting("prod"), ("hello".into(), first.clone()));
        // A commit that does not parse is refused: the last good one stays served.
        commit(&dir, &[("orders.toml", "greeting = \n")], "broken");
        served.refresh();
        assert_eq!(greeting("dev"), ("bonjour".into(), second.clone()));
        // Rolling back is moving the label.
        git(&dir, &["reset", "-q", "--hard", &first]);
        served.refresh();
        assert_eq!(greeting("dev"), ("hello".into(), first.clone()));
        // A label asked for by name is read on demand, and must be a plain name.
        assert_eq!(served.revision(&second).unwrap().commit, second);
        assert!(served.revision("main@{1}").is_err());
        assert_eq!(served.label_for("dev", Some("v2")), "v2");
    }
}
