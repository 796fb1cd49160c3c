//! Boots a whole system from its [`Manifest`]: the containers, then the processes in
//! dependency order (registry, config server, auth, services, BFFs, gateway), each kind waited
//! for before the next starts; then one user per role. Everything stops when the [`System`]
//! is dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::infra;
use crate::manifest::{Kind, Manifest};
use crate::process::{Instance, Launch};

/// How long a process may take to become ready (its first start runs migrations).
const READY: Duration = Duration::from_secs(120);
/// Heartbeat interval given to the registry and its clients: 3 missed beats evict.
pub const HEARTBEAT_MS: u64 = 500;
/// The first admin's password of a booted system.
pub const ADMIN_PASSWORD: &str = "e2e-admin-secret";

/// A running system.
pub struct System {
    pub manifest: Manifest,
    pub http: reqwest::Client,
    /// Where every process and (on failure) container writes its log.
    pub logs: PathBuf,
    // Fields drop in order: processes first, then the containers they use.
    pub instances: BTreeMap<String, Vec<Instance>>,
    pub postgres: Option<infra::Service>,
    pub broker: Option<infra::Service>,
    pub redis: Option<infra::Service>,
    /// Where the mailing workers send their mails.
    pub mail: Option<crate::mail::Sink>,
    /// Bearer token per role (`admin` is the first admin); empty without auth.
    pub tokens: BTreeMap<String, String>,
    purpose: Purpose,
}

/// What a system is booted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// The suite: test hooks on, a user per role signed in.
    Test,
    /// By hand (`msa-gen dev`): no test hooks, no users but the first admin.
    Dev,
}

impl System {
    /// Starts everything; `workspace` is the generated workspace's root (processes run there,
    /// so they find `config/`).
    pub async fn boot(manifest: Manifest, workspace: &Path, logs: PathBuf) -> Result<Self, String> {
        Self::boot_as(manifest, workspace, logs, Purpose::Test).await
    }

    /// Starts everything to be used by hand (`msa-gen dev`): without the test hooks and without
    /// the suite's users (the first admin only).
    pub async fn boot_dev(
        manifest: Manifest,
        workspace: &Path,
        logs: PathBuf,
    ) -> Result<Self, String> {
        Self::boot_as(manifest, workspace, logs, Purpose::Dev).await
    }

    async fn boot_as(
        manifest: Manifest,
        workspace: &Path,
        logs: PathBuf,
        purpose: Purpose,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(&logs).map_err(|e| format!("logs dir: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| e.to_string())?;
        let databases: Vec<String> = {
            let mut d: Vec<String> = manifest
                .processes
                .iter()
                .filter_map(|p| p.database.clone())
                .collect();
            d.sort();
            d.dedup();
            d
        };
        let postgres = if databases.is_empty() {
            None
        } else {
            Some(step("postgres", infra::postgres(&databases)).await?)
        };
        let broker = if manifest.broker != "none" && manifest.processes.iter().any(|p| p.broker) {
            Some(step(&manifest.broker, infra::broker(&manifest.broker)).await?)
        } else {
            None
        };
        let redis = if manifest.redis_sessions {
            Some(step("redis", infra::redis()).await?)
        } else {
            None
        };
        let mail = if manifest.processes.iter().any(|p| p.mails) {
            Some(crate::mail::Sink::start().await?)
        } else {
            None
        };
        let mut system = Self {
            http,
            logs,
            instances: BTreeMap::new(),
            postgres,
            broker,
            redis,
            mail,
            tokens: BTreeMap::new(),
            manifest,
            purpose,
        };
        system.start_processes(workspace).await?;
        if purpose == Purpose::Test && !system.manifest.roles.is_empty() {
            let started = Instant::now();
            system.sign_in_users().await?;
            println!(
                "e2e boot users ... ok ({} ms)",
                started.elapsed().as_millis()
            );
        }
        Ok(system)
    }

    async fn start_processes(&mut self, workspace: &Path) -> Result<(), String> {
        let bin = crate::process::bin_dir();
        // Every instance's port first: without a registry each process is told the others'
        // addresses (as Kubernetes Service names would give them).
        let mut ports: BTreeMap<String, Vec<u16>> = BTreeMap::new();
        for p in &self.manifest.processes {
            let n = p.replicas.clamp(1, 2);
            ports.insert(p.name.clone(), (0..n).map(|_| infra::free_port()).collect());
        }
        let url_of = |name: &str| {
            ports
                .get(name)
                .map(|p| format!("http://127.0.0.1:{}", p[0]))
        };
        // With an auth service, every process but the registry has a service identity: a fresh
        // secret per boot, given to the process and to the auth service, which provisions it.
        let secrets: BTreeMap<String, String> = if ports.contains_key("auth") {
            self.manifest
                .processes
                .iter()
                .filter(|p| p.kind != Kind::Registry)
                .map(|p| Ok((p.name.clone(), fresh_secret()?)))
                .collect::<Result<_, String>>()?
        } else {
            BTreeMap::new()
        };
        let mut kinds: Vec<Kind> = self.manifest.processes.iter().map(|p| p.kind).collect();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let started = Instant::now();
            let mut names = Vec::new();
            for p in self.manifest.processes.iter().filter(|p| p.kind == kind) {
                for (i, port) in ports[&p.name].iter().enumerate() {
                    let mut env = vec![
                        ("APP_HOST".to_string(), "127.0.0.1".to_string()),
                        ("APP_PORT".into(), port.to_string()),
                        ("APP_LOG_LEVEL".into(), "info".into()),
                        ("APP_HEARTBEAT_MS".into(), HEARTBEAT_MS.to_string()),
                    ];
                    if kind != Kind::Registry
                        && let Some(url) =
                            self.manifest.registry.then(|| url_of("registry")).flatten()
                    {
                        env.push(("REGISTRY_URL".into(), url));
                    }
                    // The auth service is the root of trust: it cannot prove who it is to the
                    // config server before it runs, so it reads no configuration from there.
                    // Nor does the console, which starts first to receive every span.
                    if !matches!(
                        kind,
                        Kind::Registry | Kind::ConfigServer | Kind::Auth | Kind::Console
                    ) && let Some(url) = self
                        .manifest
                        .config_server
                        .then(|| url_of("config-server"))
                        .flatten()
                    {
                        env.push(("CONFIG_URL".into(), url));
                    }
                    if let (Some(db), Some(pg)) = (&p.database, &self.postgres) {
                        env.push(("DATABASE_URL".into(), format!("{}/{db}", pg.url)));
                    }
                    if let (true, Some(b)) = (p.broker, &self.broker) {
                        env.push(("BROKER_URL".into(), b.url.clone()));
                    }
                    match url_of("auth") {
                        Some(url) if kind != Kind::Auth => env.push(("APP_AUTH_URL".into(), url)),
                        _ => {}
                    }
                    if kind == Kind::Auth {
                        env.push(("APP_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
                        for (name, secret) in &secrets {
                            env.push((client_secret_env(name), secret.clone()));
                        }
                    }
                    // Every span goes to the console (unless this environment names another
                    // collector); the console exports none itself.
                    if kind == Kind::Console {
                        env.push(("OTEL_SDK_DISABLED".into(), "true".into()));
                    } else if let (None, Some(url)) = (
                        std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT"),
                        url_of("console"),
                    ) {
                        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), url));
                    }
                    // The gateway's internal listener (metrics, admin) on a free port too.
                    if kind == Kind::Gateway {
                        env.push(("APP_MANAGEMENT_PORT".into(), infra::free_port().to_string()));
                    }
                    if let Some(secret) = secrets.get(&p.name) {
                        env.push(("APP_CLIENT_SECRET".into(), secret.clone()));
                    }
                    if let Some(r) = &self.redis
                        && matches!(kind, Kind::Auth | Kind::Gateway | Kind::Bff)
                    {
                        env.push(("APP_SESSIONS".into(), "redis".into()));
                        env.push(("APP_REDIS_URL".into(), r.url.clone()));
                    }
                    if kind == Kind::Service && self.purpose == Purpose::Test {
                        env.push(("APP_TEST_HOOKS".into(), "true".into()));
                    }
                    if let (true, Some(sink)) = (p.mails, &self.mail) {
                        env.push(("APP_MAIL_SENDER".into(), "smtp".into()));
                        env.push(("APP_SMTP_URL".into(), sink.url()));
                    }
                    if !self.manifest.registry {
                        for other in &self.manifest.processes {
                            if let Some(url) = url_of(&other.name) {
                                let key = format!(
                                    "APP_{}_URL",
                                    other.name.replace('-', "_").to_uppercase()
                                );
                                env.push((key, url));
                            }
                        }
                    }
                    let label = format!("{}-{i}", p.name);
                    let log = self.logs.join(format!("{label}.log"));
                    let _ = std::fs::remove_file(&log);
                    let launch = Launch {
                        binary: bin.join(&p.name),
                        args: Vec::new(),
                        workspace: workspace.to_path_buf(),
                        log: Some(log),
                        label,
                        port: *port,
                        env,
                    };
                    self.instances
                        .entry(p.name.clone())
                        .or_default()
                        .push(Instance::start(launch)?);
                }
                names.push(p.name.clone());
            }
            for name in &names {
                for instance in self.instances.get_mut(name).into_iter().flatten() {
                    instance.wait_ready(&self.http, READY).await?;
                }
            }
            println!(
                "e2e boot {} ... ok ({} ms)",
                names.join(", "),
                started.elapsed().as_millis()
            );
        }
        Ok(())
    }

    /// The first instance's URL of process `name`.
    pub fn url(&self, name: &str) -> Result<String, String> {
        self.instances
            .get(name)
            .and_then(|v| v.first())
            .map(Instance::url)
            .ok_or_else(|| format!("no process `{name}`"))
    }

    /// Where requests enter: the gateway.
    pub fn gateway(&self) -> Result<String, String> {
        self.url("gateway")
    }

    /// The token of a role, `None` for anonymous.
    pub fn token(&self, role: Option<&str>) -> Option<&str> {
        role.and_then(|r| self.tokens.get(r)).map(String::as_str)
    }

    async fn sign_in_users(&mut self) -> Result<(), String> {
        let gateway = self.gateway()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let admin = loop {
            // The first admin is created just after the auth service starts.
            match self.password_grant(&gateway, "admin", ADMIN_PASSWORD).await {
                Ok(t) => break t,
                Err(e) if Instant::now() > deadline => return Err(format!("admin sign-in: {e}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        for role in self.manifest.roles.clone() {
            if role == "admin" {
                continue;
            }
            let (user, password) = (format!("e2e-{role}"), format!("e2e-{role}-secret"));
            let r = self
                .http
                .post(format!("{gateway}/users"))
                .bearer_auth(&admin)
                .json(
                    &serde_json::json!({ "username": user, "password": password, "roles": [role] }),
                )
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("create user {user}: {}", r.status()));
            }
            let token = self.password_grant(&gateway, &user, &password).await?;
            self.tokens.insert(role, token);
        }
        self.tokens.insert("admin".into(), admin);
        Ok(())
    }

    async fn password_grant(
        &self,
        gateway: &str,
        user: &str,
        password: &str,
    ) -> Result<String, String> {
        let r = self
            .http
            .post(format!("{gateway}/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", user),
                ("password", password),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("token for {user}: {status} {body}"))
    }

    /// Saves every container's output next to the process logs.
    pub async fn save_container_logs(&self) {
        for c in [&self.postgres, &self.broker, &self.redis]
            .into_iter()
            .flatten()
        {
            c.save_logs(&self.logs).await;
        }
    }
}

async fn step<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let started = Instant::now();
    let out = f.await?;
    println!(
        "e2e boot {what} ... ok ({} ms)",
        started.elapsed().as_millis()
    );
    Ok(out)
}

/// The auth service's variable for the secret of process `name` (`APP_CLIENT_SECRET_ORDERS`).
pub fn client_secret_env(name: &str) -> String {
    format!(
        "APP_CLIENT_SECRET_{}",
        name.replace('-', "_").to_uppercase()
    )
}

/// 24 random bytes from the system, in hex: a process's client secret for one boot.
pub fn fresh_secret() -> Result<String, String> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("no randomness for a client secret: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
