//! Layered configuration. Later layers override earlier ones, key by key:
//!
//! 1. defaults given by the generated `main.rs` (port, service name);
//! 2. `$CONFIG_DIR/<service>.toml` (default dir `config`), then `$CONFIG_DIR/<service>-<profile>.toml`
//!    where the profile is `$APP_PROFILE` (default `dev`);
//! 3. with `config-url` (`CONFIG_URL`): the service's configuration from the config server (see
//!    [`crate::platform::config_server`]), which also names the keys that may change while running;
//! 4. environment: `APP_<KEY>` for every key (`APP_DATABASE_URL`, `APP_PORT`), plus the
//!    conventional `DATABASE_URL`, `BROKER_URL`, `REGISTRY_URL`, `CONFIG_URL` and `PORT`.
//!
//! Secrets are given by reference only: a string value `env:NAME` is replaced by the
//! environment variable `NAME` of the process (an error when it is missing), so files and the
//! config server never hold them.
//!
//! Missing files are fine; a file that exists but does not parse is an error, never ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Settings every service has. Generated services may read extra keys through [`Settings::extra`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Settings {
    pub service: String,
    #[serde(default = "default_host")]
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub database_url: Option<String>,
    #[serde(default = "default_profile")]
    pub profile: String,
    #[serde(default = "default_log")]
    pub log_level: String,
    /// Seconds to keep retrying the database at start.
    #[serde(default = "default_db_wait")]
    pub database_wait_secs: u64,
    #[serde(default = "default_pool")]
    pub database_pool_size: u32,
    /// The message broker (`nats://…`, `amqp://…`); default: the broker on localhost.
    #[serde(default)]
    pub broker_url: Option<String>,
    /// Deliveries of a failing event before it is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub event_max_attempts: u32,
    /// The service registry (`http://host:port`); unset = no registration (Kubernetes DNS).
    #[serde(default)]
    pub registry_url: Option<String>,
    /// `host:port` others reach this instance at; default `127.0.0.1:<port>` when the host is a
    /// wildcard, else `<host>:<port>`.
    #[serde(default)]
    pub advertise_address: Option<String>,
    /// Heartbeat interval with the registry; 3 missed heartbeats evict the instance.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_ms: u64,
    /// The config server (`http://host:port`); unset = local files and env only.
    #[serde(default)]
    pub config_url: Option<String>,
    /// How often refreshable keys are fetched again from the config server.
    #[serde(default = "default_config_refresh")]
    pub config_refresh_ms: u64,
    /// Every key of the layers, for settings the runtime does not know.
    #[serde(skip)]
    pub extra: BTreeMap<String, toml::Value>,
}

fn default_host() -> String {
    "0.0.0.0".into()
}
fn default_profile() -> String {
    "dev".into()
}
fn default_log() -> String {
    "info".into()
}
fn default_db_wait() -> u64 {
    30
}
fn default_pool() -> u32 {
    10
}
fn default_max_attempts() -> u32 {
    5
}
fn default_heartbeat() -> u64 {
    2000
}
fn default_config_refresh() -> u64 {
    5000
}

impl Settings {
    /// A string setting the runtime does not type (`extra`), by its snake-case key.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(toml::Value::as_str)
    }

    /// An integer setting the runtime does not type (`extra`), by its snake-case key.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.extra.get(key).and_then(toml::Value::as_integer)
    }

    /// The address registered for this instance.
    pub fn advertised(&self) -> String {
        self.advertise_address.clone().unwrap_or_else(|| {
            let host = if self.host == "0.0.0.0" || self.host == "::" {
                "127.0.0.1"
            } else {
                self.host.as_str()
            };
            format!("{host}:{}", self.port)
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid TOML in {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error("setting `{key}` refers to the environment variable {var}, which is not set")]
    MissingSecret { key: String, var: String },
    #[error("config server: {0}")]
    Remote(String),
}

/// Where the layers come from; [`Sources::from_process`] for real runs, explicit in tests.
#[derive(Debug, Clone)]
pub struct Sources {
    pub dir: PathBuf,
    pub env: BTreeMap<String, String>,
}

impl Sources {
    pub fn from_process() -> Self {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let dir = env
            .get("CONFIG_DIR")
            .map_or_else(|| PathBuf::from("config"), PathBuf::from);
        Self { dir, env }
    }
}

fn read_layer(path: &Path, into: &mut BTreeMap<String, toml::Value>) -> Result<(), ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    for (k, v) in table {
        into.insert(k.replace('-', "_"), v);
    }
    Ok(())
}

/// Loads the settings of `service`, with `port` as the default port.
pub fn load(service: &str, port: u16, sources: &Sources) -> Result<Settings, ConfigError> {
    load_with(service, port, sources, None)
}

/// Replaces `env:NAME` string values by the variable's value.
fn resolve_secrets(
    map: &mut BTreeMap<String, toml::Value>,
    env: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (key, value) in map.iter_mut() {
        if let toml::Value::String(s) = value
            && let Some(var) = s.strip_prefix("env:")
        {
            let resolved = env.get(var).ok_or_else(|| ConfigError::MissingSecret {
                key: key.clone(),
                var: var.to_string(),
            })?;
            *value = toml::Value::String(resolved.clone());
        }
    }
    Ok(())
}

/// [`load`] with the config server's layer (`remote`, keys in snake case) between the files
/// and the environment.
pub fn load_with(
    service: &str,
    port: u16,
    sources: &Sources,
    remote: Option<&BTreeMap<String, toml::Value>>,
) -> Result<Settings, ConfigError> {
    let mut map: BTreeMap<String, toml::Value> = BTreeMap::new();
    map.insert("service".into(), toml::Value::String(service.into()));
    map.insert("port".into(), toml::Value::Integer(i64::from(port)));
    let profile = sources
        .env
        .get("APP_PROFILE")
        .cloned()
        .unwrap_or_else(default_profile);
    map.insert("profile".into(), toml::Value::String(profile.clone()));
    read_layer(&sources.dir.join(format!("{service}.toml")), &mut map)?;
    read_layer(
        &sources.dir.join(format!("{service}-{profile}.toml")),
        &mut map,
    )?;
    if let Some(remote) = remote {
        map.extend(remote.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for (alias, key) in [
        ("DATABASE_URL", "database_url"),
        ("BROKER_URL", "broker_url"),
        ("REGISTRY_URL", "registry_url"),
        ("CONFIG_URL", "config_url"),
        ("PORT", "port"),
    ] {
        if let Some(v) = sources.env.get(alias) {
            map.insert(key.into(), env_value(v));
        }
    }
    for (k, v) in &sources.env {
        if let Some(key) = k.strip_prefix("APP_") {
            map.insert(key.to_lowercase(), env_value(v));
        }
    }
    resolve_secrets(&mut map, &sources.env)?;
    let table: toml::Table = map.clone().into_iter().collect();
    let mut settings: Settings = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
    settings.extra = map;
    Ok(settings)
}

/// Environment values are strings; numbers and booleans are recognised so typed keys work.
fn env_value(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = v.parse::<f64>()
        && f.is_finite()
        && v.contains('.')
    {
        toml::Value::Float(f)
    } else if let Ok(b) = v.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_keep_their_types() {
        assert_eq!(env_value("42"), toml::Value::Integer(42));
        assert_eq!(env_value("0.4"), toml::Value::Float(0.4));
        assert_eq!(env_value("true"), toml::Value::Boolean(true));
        for text in ["inf", "NaN", "1e3", "v1.2.3", "0.0.0.0"] {
            assert_eq!(env_value(text), toml::Value::String(text.into()), "{text}");
        }
    }

    #[test]
    fn secrets_come_from_the_environment_only() {
        let dir = std::env::temp_dir().join(format!("rt-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("auth.toml"), "admin-password = \"env:ADMIN_PW\"\n").unwrap();
        let s = load("auth", 9000, &sources(&dir, &[("ADMIN_PW", "s3cret")])).unwrap();
        assert_eq!(s.extra["admin_password"].as_str(), Some("s3cret"));
        let err = load("auth", 9000, &sources(&dir, &[])).unwrap_err();
        assert!(matches!(err, ConfigError::MissingSecret { .. }), "{err}");
    }

    #[test]
    fn the_config_server_layer_sits_between_files_and_env() {
        let dir = std::env::temp_dir().join(format!("rt-remote-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("orders.toml"),
            "port = 9000\nlog-level = \"debug\"\n",
        )
        .unwrap();
        let remote: BTreeMap<String, toml::Value> = [
            ("log_level".to_string(), toml::Value::String("warn".into())),
            ("port".to_string(), toml::Value::Integer(9100)),
        ]
        .into();
        let s = load_with(
            "orders",
            8101,
            &sources(&dir, &[("PORT", "9200")]),
            Some(&remote),
        )
        .unwrap();
        assert_eq!((s.log_level.as_str(), s.port), ("warn", 9200));
    }

    fn sources(dir: &Path, env: &[(&str, &str)]) -> Sources {
        Sources {
            dir: dir.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn layers_override_in_order() {
        let dir = std::env::temp_dir().join(format!("rt-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("orders.toml"),
            "port = 9000\nlog-level = \"debug\"\ndatabase-url = \"postgres://file\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("orders-prod.toml"), "log-level = \"warn\"\n").unwrap();
        let s = load("orders", 8101, &sources(&dir, &[])).unwrap();
        assert_eq!(
            (s.port, s.log_level.as_str(), s.profile.as_str()),
            (9000, "debug", "dev")
        );
        let s = load(
            "orders",
            8101,
            &sources(
                &dir,
                &[("APP_PROFILE", "prod"), ("DATABASE_URL", "postgres://env")],
            ),
        )
        .unwrap();
        assert_eq!(s.log_level, "warn");
        assert_eq!(s.database_url.as_deref(), Some("postgres://env"));
        let s = load(
            "orders",
            8101,
            &sources(&dir, &[("APP_PORT", "7000"), ("PORT", "6000")]),
        )
        .unwrap();
        assert_eq!(s.port, 7000, "APP_ keys win over conventional names");
        std::fs::write(dir.join("orders.toml"), "port = [").unwrap();
        assert!(matches!(
            load("orders", 8101, &sources(&dir, &[])),
            Err(ConfigError::Parse { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_apply_without_files() {
        let s = load("payments", 8104, &sources(Path::new("/nonexistent"), &[])).unwrap();
        assert_eq!(
            (s.port, s.host.as_str(), s.database_url),
            (8104, "0.0.0.0", None)
        );
        assert!(matches!(
            load(
                "p",
                1,
                &sources(Path::new("/nonexistent"), &[("APP_PORT", "x")])
            ),
            Err(ConfigError::Invalid(_))
        ));
    }
}
