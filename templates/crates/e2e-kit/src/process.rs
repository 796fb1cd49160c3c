//! One running instance of a workspace binary: started with its settings in the environment,
//! its output in a log file, waited for until `/health/ready` answers, and killed when
//! dropped (also when a check panics).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start an instance.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    pub workspace: PathBuf,
    /// `<name>-<n>`: the log file's name.
    pub label: String,
    pub port: u16,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

/// A running instance.
pub struct Instance {
    pub launch: Launch,
    child: Option<Child>,
}

impl Instance {
    /// Starts it; the log file gets a line per start so restarts can be told apart.
    pub fn start(launch: Launch) -> Result<Self, String> {
        let child = spawn(&launch)?;
        Ok(Self {
            launch,
            child: Some(child),
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.launch.port)
    }

    /// Kills it at once (SIGKILL: no deregistration, like a crash).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again with the same settings and port.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.child = Some(spawn(&self.launch)?);
        Ok(())
    }

    /// Waits until `/health/ready` answers 200; an exit is an error at once.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        within: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let url = format!("{}/health/ready", self.url());
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!(
                    "{} exited with {status}; see {}",
                    self.launch.label,
                    self.launch.log.display()
                ));
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status() == reqwest::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not ready in {within:?}; see {}",
                    self.launch.label,
                    self.launch.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(launch: &Launch) -> Result<Child, String> {
    use std::io::Write;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&launch.log)
        .map_err(|e| format!("log file {}: {e}", launch.log.display()))?;
    let _ = writeln!(log, "---- start {} on port {}", launch.label, launch.port);
    let err = log
        .try_clone()
        .map_err(|e| format!("log file {}: {e}", launch.log.display()))?;
    Command::new(&launch.binary)
        .current_dir(&launch.workspace)
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| {
            format!(
                "start {} ({}): {e}; build the workspace first (`cargo build --workspace`)",
                launch.label,
                launch.binary.display()
            )
        })
}

/// Where the workspace's binaries are: `E2E_BIN_DIR`, else the profile directory this test
/// binary runs from (`<target>/debug/deps/..`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("E2E_BIN_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/debug"))
}
