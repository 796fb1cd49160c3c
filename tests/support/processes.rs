//! The tests' conventions for starting the binaries of a test workspace as e2e-kit
//! [`Instance`]s: their settings in the environment, stdout dropped and stderr shown inline,
//! killed when a test ends or panics. Containers (Postgres, the brokers, Redis) are the kit's
//! own ([`e2e_kit::infra`]).

use std::path::Path;
use std::time::Duration;

use e2e_kit::process::{Instance, Launch};

/// How long a test process may take to answer `/health/ready`.
const READY: Duration = Duration::from_secs(60);

/// Starts the binary `bin/<name>` of workspace `ws` with its database, broker and port, with
/// token checks off (`APP_AUTH_URL=none`): the tests using it exercise events, not auth.
pub fn spawn(ws: &Path, name: &str, port: u16, db: &str, broker: &str) -> Instance {
    spawn_with(
        ws,
        name,
        port,
        db,
        broker,
        &[("APP_AUTH_URL", "none".into())],
    )
}

/// The client secret of process `name` in these tests.
pub fn test_secret(name: &str) -> String {
    format!("{name}-test-client-secret")
}

/// [`spawn`] with extra environment variables.
pub fn spawn_with(
    ws: &Path,
    name: &str,
    port: u16,
    db: &str,
    broker: &str,
    env: &[(&str, String)],
) -> Instance {
    Instance::start(launch(ws, name, port, db, broker, env)).unwrap_or_else(|e| panic!("{e}"))
}

/// What [`spawn_with`] starts, to be changed before (its log kept in a file, say).
pub fn launch(
    ws: &Path,
    name: &str,
    port: u16,
    db: &str,
    broker: &str,
    env: &[(&str, String)],
) -> Launch {
    let mut vars = vec![
        ("DATABASE_URL".to_string(), db.to_string()),
        ("BROKER_URL".into(), broker.into()),
    ];
    // Every process has its service identity; the auth service provisions those of every
    // process built into the workspace.
    vars.push(("APP_CLIENT_SECRET".into(), test_secret(name)));
    if name == "auth" {
        for other in std::fs::read_dir(ws.join("bin"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let other = other.file_name().to_string_lossy().into_owned();
            vars.push((
                e2e_kit::boot::client_secret_env(&other),
                test_secret(&other),
            ));
        }
    }
    // The gateway's internal listener (metrics, admin) on a port of its own.
    if name == "gateway" && !env.iter().any(|(k, _)| *k == "APP_MANAGEMENT_PORT") {
        vars.push(("APP_MANAGEMENT_PORT".into(), crate::free_port().to_string()));
    }
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
    vars.extend([
        ("APP_PORT".into(), port.to_string()),
        ("APP_HOST".into(), "127.0.0.1".into()),
        ("APP_LOG_LEVEL".into(), "warn".into()),
    ]);
    Launch {
        binary: ws.join("bin").join(name),
        args: Vec::new(),
        workspace: ws.to_path_buf(),
        label: name.to_string(),
        port,
        env: vars,
        log: None,
    }
}

/// The lines of the JSON log at `path` written at level `ERROR`.
pub fn error_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(r#""level":"ERROR""#))
        .map(str::to_string)
        .collect()
}

/// Waits until `p` answers `/health/ready` (60 s at most); panics if it exits first.
pub async fn wait_ready(http: &reqwest::Client, p: &mut Instance) {
    p.wait_ready(http, READY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The Prometheus text of the process listening on `port`.
pub async fn metrics(http: &reqwest::Client, port: u16) -> String {
    http.get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}
