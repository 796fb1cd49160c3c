//! The service process: settings, logging, database, the generated router plus the standard
//! endpoints (health, metrics, docs), and graceful shutdown on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use axum::routing::get;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::service::config::{self, Settings, Sources};

/// What a generated `main.rs` tells the runtime about its service.
pub struct ServiceSpec {
    pub name: &'static str,
    /// The version registered with the registry (the system's version).
    pub version: &'static str,
    pub default_port: u16,
    /// With a port: `/metrics` and `/admin/*` are served only on this internal listener (the
    /// setting `management-port` moves it), never on the public one (the gateway).
    pub management_port: Option<u16>,
    /// The OpenAPI document of the service's own routes.
    pub openapi: serde_json::Value,
    /// With `[auth]`: the service checks tokens on its routes (see [`crate::security::auth`]).
    pub auth: Option<AuthSpec>,
    /// Events the service publishes and consumes, when it has any.
    pub messaging: Option<Messages>,
}

/// How a service checks the tokens of its callers.
#[derive(Debug, Clone, Copy)]
pub struct AuthSpec {
    /// The tokens' audience: the system name.
    pub audience: &'static str,
    /// The auth service's URL when no `auth-url` setting names one.
    pub default_url: &'static str,
    /// The processes the blueprint declares as this one's callers: the only ones whose service
    /// identity it accepts.
    pub callers: &'static [&'static str],
    /// Where this process's own service identity comes from.
    pub identity: IdentitySource,
}

/// Where a process's service identity ([`crate::security::identity`]) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// None: the process calls nothing that checks it (the registry).
    None,
    /// Client credentials (`client-secret`) exchanged at the auth service.
    ClientCredentials,
    /// The auth service itself: the same exchange, with itself.
    Issuer,
}

/// What a generated `main.rs` tells the runtime about the service's events.
pub struct Messages {
    pub broker: crate::messaging::broker::BrokerKind,
    /// The system name, prefix of every broker destination.
    pub system: &'static str,
    /// Every (consumer group, event type) of the system.
    pub topology: &'static [(&'static str, &'static str)],
    /// The service publishes through the outbox.
    pub publishes: bool,
    /// Handlers of the events the service consumes.
    pub handlers: crate::messaging::consumer::Handlers,
    /// The view tables of a read model (journaled, rebuildable); empty otherwise.
    pub views: &'static [&'static str],
    /// Publishes a published event from its JSON: the end-to-end suite's hook
    /// ([`crate::service::test_hooks`], debug builds only).
    pub test_publish: Option<crate::service::test_hooks::Publish>,
}

impl Messages {
    fn default_url(&self) -> &'static str {
        self.broker.local_url()
    }
}

/// Everything a generated router needs at start.
#[derive(Clone)]
pub struct Context {
    pub settings: Settings,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Db(#[from] crate::service::db::DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("cannot prepare the messaging tables: {0}")]
    Messaging(sqlx::Error),
    #[error(transparent)]
    Mail(#[from] crate::service::mail::MailError),
    #[error(transparent)]
    Sessions(#[from] crate::platform::sessions::SessionError),
    #[error("event handlers run in database transactions, but the service has no database")]
    NoDatabase,
}

/// Adds the standard endpoints and middleware around a service's own routes.
pub fn standard_routes(own: Router, db: Option<PgPool>, openapi: serde_json::Value) -> Router {
    with_standard_routes(own, db, openapi, true)
}

/// The internal listener's routes: health, `/metrics` and `admin` (the `/admin/*` endpoints).
pub fn management_routes(admin: Router, db: Option<PgPool>) -> Router {
    let _ = crate::service::metrics::handle();
    admin
        .route("/health/live", get(crate::service::health::live))
        .route(
            "/health/ready",
            get(crate::service::health::ready).with_state(db),
        )
        .route(
            "/metrics",
            get(|| async { crate::service::metrics::render() }),
        )
}

/// [`standard_routes`], with `/metrics` only when `metrics` (else it is on the internal
/// listener).
fn with_standard_routes(
    own: Router,
    db: Option<PgPool>,
    openapi: serde_json::Value,
    metrics: bool,
) -> Router {
    let _ = crate::service::metrics::handle();
    let health = Router::new()
        .route("/health/live", get(crate::service::health::live))
        .route("/health/ready", get(crate::service::health::ready))
        .with_state(db);
    // A `null` document means the service's own router serves `/openapi.json` (the gateway
    // merges its services' documents).
    let own = if openapi.is_null() {
        own
    } else {
        own.route(
            "/openapi.json",
            get(crate::service::docs::openapi_handler(openapi)),
        )
    };
    let own = if metrics {
        own.route(
            "/metrics",
            get(|| async { crate::service::metrics::render() }),
        )
    } else {
        own
    };
    own.merge(health)
        .route("/docs", get(crate::service::docs::page))
        .layer(axum::middleware::from_fn(crate::service::metrics::track))
        .layer(axum::middleware::from_fn(
            crate::service::telemetry::trace_requests,
        ))
}

/// Runs a service without a database until SIGTERM / Ctrl-C. `router` builds its own routes.
pub async fn run(spec: ServiceSpec, router: impl FnOnce(Context) -> Router) -> ExitCode {
    if let Some(code) = health_check(&spec).await {
        return code;
    }
    exit(start(spec, None, |ctx, _| router(ctx)).await)
}

/// `<binary> --health-check`: asks the running instance's `/health/ready` (on the configured
/// port, on this host) and exits 0 when it is ready, 1 otherwise. Container health checks use
/// it, as the runtime image has no shell and no curl. `None` without the argument.
pub async fn health_check(spec: &ServiceSpec) -> Option<ExitCode> {
    if std::env::args().nth(1).as_deref() != Some("--health-check") {
        return None;
    }
    let port = config::load(spec.name, spec.default_port, &Sources::from_process())
        .map_or(spec.default_port, |s| s.port);
    let client = crate::service::http_client::HttpClient::new();
    let ready = client
        .json::<serde_json::Value>(
            http::Method::GET,
            &format!("http://127.0.0.1:{port}/health/ready"),
            None,
            std::time::Duration::from_secs(3),
        )
        .await
        .is_ok_and(|(status, _)| status.is_success());
    Some(if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs a service that owns a database: connects (with retries), applies `migrator`, then
/// serves until SIGTERM / Ctrl-C. `router` builds its own routes from the pool.
pub async fn run_with_db(
    spec: ServiceSpec,
    migrator: &'static Migrator,
    router: impl FnOnce(Context, PgPool) -> Router,
) -> ExitCode {
    if let Some(code) = health_check(&spec).await {
        return code;
    }
    exit(
        start(spec, Some(migrator), |ctx, db| match db {
            Some(db) => router(ctx, db),
            None => Router::new(),
        })
        .await,
    )
}

fn exit(result: Result<(), StartError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "service failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn start(
    spec: ServiceSpec,
    migrator: Option<&'static Migrator>,
    router: impl FnOnce(Context, Option<PgPool>) -> Router,
) -> Result<(), StartError> {
    let sources = Sources::from_process();
    let mut settings = config::load(spec.name, spec.default_port, &sources)?;
    crate::service::telemetry::init_process(&settings, spec.name);
    // The identity first: the config server and the registry want it.
    if let Some(auth) = spec.auth {
        let url = match auth.identity {
            IdentitySource::None => None,
            IdentitySource::Issuer => Some(format!("http://127.0.0.1:{}", settings.port)),
            IdentitySource::ClientCredentials => {
                Some(crate::security::auth::auth_url(&settings, auth.default_url))
            }
        };
        if let Some(url) = url.filter(|u| u != "none") {
            crate::security::identity::configure(&settings, spec.name, &url);
        }
    }
    let mut remote = None;
    if spec
        .auth
        .is_some_and(|a| a.identity == IdentitySource::Issuer)
        && settings.config_url.take().is_some()
    {
        tracing::warn!(
            "config-url ignored: the auth service is the root of trust and cannot prove who it is to the config server before it runs; give it its settings locally"
        );
    }
    if let Some(url) = settings.config_url.clone() {
        let fetched = crate::platform::config_server::fetch(
            &url,
            spec.name,
            &settings.profile,
            std::time::Duration::from_secs(settings.database_wait_secs),
        )
        .await?;
        settings = config::load_with(
            spec.name,
            spec.default_port,
            &sources,
            Some(&fetched.layer()),
        )?;
        // Logging started with the local level; the config server's applies from here on.
        crate::service::telemetry::set_level(&settings.log_level);
        tracing::info!(%url, version = %fetched.version, "configuration loaded from the config server");
        remote = Some((url, fetched));
    }
    crate::service::mail::configure(&settings)?;
    crate::platform::sessions::configure(&settings)?;
    crate::messaging::saga::configure(&settings);
    let db = match migrator {
        Some(migrator) => {
            let url = settings
                .database_url
                .as_deref()
                .ok_or(crate::service::db::DbError::NoUrl)?;
            let pool = crate::service::db::connect(
                url,
                settings.database_pool_size,
                settings.database_wait_secs,
            )
            .await?;
            crate::service::db::migrate(&pool, migrator).await?;
            tracing::info!("database ready, migrations applied");
            Some(pool)
        }
        None => None,
    };
    let addr = format!("{}:{}", settings.host, settings.port);
    match spec.auth {
        Some(AuthSpec {
            audience,
            default_url,
            callers,
            ..
        }) => {
            crate::security::auth::configure(&settings, audience, default_url, callers);
        }
        None => crate::security::auth::configure_open(),
    }
    let ctx = Context {
        settings: settings.clone(),
    };
    // The runtime's messaging tables come before the service's own code: what it starts at once
    // (unfinished sagas resumed, timeouts swept) reads them.
    if spec.messaging.is_some()
        && let Some(pool) = db.as_ref()
    {
        crate::messaging::wiring::ensure_schema(pool)
            .await
            .map_err(StartError::Messaging)?;
    }
    let mut own = router(ctx, db.clone());
    let management_port = spec.management_port.map(|default| {
        settings
            .int("management_port")
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(default)
    });
    let mut admin = Router::new();
    if let Some((url, fetched)) = remote {
        crate::platform::config_server::follow(
            url,
            fetched,
            std::time::Duration::from_millis(settings.config_refresh_ms.max(100)),
        );
        admin = admin.merge(crate::security::auth::protect(
            crate::platform::config_server::admin_routes(),
            crate::security::auth::ADMIN,
        ));
    }
    // The internal listener, when the process has one: its admin endpoints and metrics move
    // there, off the public port.
    if let Some(port) = management_port {
        let addr = format!("{}:{port}", settings.host);
        let listener = bind(&addr).await?;
        let app = management_routes(std::mem::take(&mut admin), db.clone());
        tracing::info!(%addr, "management listener (metrics, admin)");
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "management listener failed");
            }
        });
    }
    own = own.merge(admin);
    if crate::service::test_hooks::enabled(&settings) {
        let publish = spec
            .messaging
            .as_ref()
            .and_then(|m| m.test_publish)
            .zip(db.clone())
            .map(|(f, pool)| (pool, f));
        own = own.merge(crate::service::test_hooks::routes(publish));
        tracing::warn!("test hooks are on (APP_TEST_HOOKS): never in production");
    }
    let mut messaging = None;
    if let Some(m) = spec.messaging {
        if let Some(pool) = db.as_ref() {
            own = own.merge(crate::security::auth::protect(
                crate::messaging::wiring::admin_routes(pool.clone())
                    .merge(crate::messaging::saga::admin_routes(pool.clone())),
                crate::security::auth::ADMIN,
            ));
            if !m.views.is_empty() {
                own = own.merge(crate::security::auth::protect(
                    crate::messaging::wiring::rebuild_routes(
                        pool.clone(),
                        spec.name,
                        m.views,
                        m.handlers.clone(),
                    ),
                    crate::security::auth::ADMIN,
                ));
            }
        } else if m.handlers.needs_database() {
            return Err(StartError::NoDatabase);
        }
        let url = settings
            .broker_url
            .clone()
            .unwrap_or_else(|| m.default_url().to_string());
        let topology = m
            .topology
            .iter()
            .map(|(g, e)| ((*g).to_string(), (*e).to_string()))
            .collect();
        let mut config =
            crate::messaging::broker::BrokerConfig::new(m.broker, &url, m.system, topology);
        if let Some(ms) = settings
            .int("event_ack_wait_ms")
            .and_then(|v| u64::try_from(v).ok())
        {
            config.ack_wait = std::time::Duration::from_millis(ms.max(100));
        }
        if let Some(n) = settings
            .int("event_partitions")
            .and_then(|v| i32::try_from(v).ok())
        {
            config.partitions = n.max(1);
        }
        if let Some(n) = settings
            .int("event_replication")
            .and_then(|v| i32::try_from(v).ok())
        {
            config.replication = n.max(1);
        }
        messaging = Some(crate::messaging::wiring::Messaging::start(
            spec.name,
            db.as_ref(),
            crate::messaging::wiring::MessagingSpec {
                broker: config,
                publishes: m.publishes,
                handlers: m.handlers,
                retry: crate::messaging::consumer::RetryPolicy {
                    max_attempts: settings.event_max_attempts,
                    ..Default::default()
                },
                views: m.views,
            },
        ));
    }
    let app = with_standard_routes(own, db.clone(), spec.openapi, management_port.is_none());
    let listener = bind(&addr).await?;
    let local: SocketAddr = listener.local_addr().map_err(StartError::Serve)?;
    tracing::info!(service = spec.name, %local, profile = %settings.profile, "listening");
    let registration = settings.registry_url.as_deref().map(|url| {
        crate::platform::discovery::Registration::start(
            crate::platform::discovery::RegistryClient::new(url),
            crate::platform::registry::Instance {
                service: spec.name.to_string(),
                id: uuid::Uuid::new_v4().to_string(),
                address: settings.advertised(),
                version: spec.version.to_string(),
                metadata: std::collections::BTreeMap::from_iter(
                    std::iter::once(("profile".to_string(), settings.profile.clone())).chain(
                        // Where its metrics are, when they are off the public port.
                        management_port.map(|port| {
                            let advertised = settings.advertised();
                            let host = advertised
                                .rsplit_once(':')
                                .map_or(advertised.as_str(), |(h, _)| h);
                            ("metrics".to_string(), format!("{host}:{port}"))
                        }),
                    ),
                ),
                health: crate::platform::registry::Health::Up,
            },
            std::time::Duration::from_millis(settings.heartbeat_ms.max(100)),
            db.clone(),
        )
    });
    // Deregister first, so clients move away while in-flight requests drain.
    let (deregistered_tx, deregistered_rx) = tokio::sync::oneshot::channel::<()>();
    let drain = async move {
        shutdown_signal().await;
        if let Some(r) = registration {
            r.shutdown().await;
        }
        let _ = deregistered_tx.send(());
    };
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(drain)
    .await
    .map_err(StartError::Serve)?;
    let _ = deregistered_rx.await;
    if let Some(m) = messaging {
        m.shutdown().await;
    }
    tracing::info!(service = spec.name, "stopped");
    crate::service::telemetry::shutdown();
    Ok(())
}

async fn bind(addr: &str) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Resolves on SIGTERM (Unix) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; draining requests");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn get_status(app: Router, uri: &str) -> (StatusCode, String) {
        let r = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let trace = r
            .headers()
            .get("x-trace-id")
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert!(
            trace.is_some_and(|t| t.len() == 32),
            "every response carries a trace id"
        );
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn standard_endpoints_answer() {
        let app = standard_routes(Router::new(), None, serde_json::json!({"openapi": "3.1.0"}));
        assert_eq!(
            get_status(app.clone(), "/health/live").await.0,
            StatusCode::OK
        );
        assert_eq!(
            get_status(app.clone(), "/health/ready").await.0,
            StatusCode::OK
        );
        let (s, body) = get_status(app.clone(), "/openapi.json").await;
        assert_eq!(
            (s, body.as_str()),
            (StatusCode::OK, r#"{"openapi":"3.1.0"}"#)
        );
        assert!(
            get_status(app.clone(), "/docs")
                .await
                .1
                .contains("openapi.json")
        );
        let _ = get_status(app.clone(), "/health/live").await;
        let (s, metrics) = get_status(app, "/metrics").await;
        assert_eq!(s, StatusCode::OK);
        assert!(metrics.contains("http_requests_total"), "{metrics}");
    }

    #[tokio::test]
    async fn ready_is_503_when_database_is_down() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(200))
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let app = standard_routes(Router::new(), Some(pool), serde_json::Value::Null);
        assert_eq!(
            get_status(app, "/health/ready").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
