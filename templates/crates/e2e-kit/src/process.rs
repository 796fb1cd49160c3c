//! One running instance of a workspace binary: started with its settings in the environment,
//! its output in a log file, waited for until `/health/ready` answers, signalled (paused,
//! stopped gracefully), and killed when dropped (also when a check panics).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How to start an instance.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    /// Command-line arguments; workspace binaries take none (their settings come from `env`).
    pub args: Vec<String>,
    pub workspace: PathBuf,
    /// `<name>-<n>`: the log file's name.
    pub label: String,
    pub port: u16,
    pub env: Vec<(String, String)>,
    /// The file its stdout and stderr are appended to (a line per start); `None`: stdout is
    /// dropped and stderr is the caller's own (a test shows the process's errors inline).
    pub log: Option<PathBuf>,
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

    /// Sends it `signal` as `kill` takes it: `-TERM` asks for a graceful shutdown, `-STOP`
    /// and `-CONT` freeze and resume it, `-KILL` is a crash the instance does not reap (see
    /// [`kill`](Self::kill)).
    pub fn signal(&self, signal: &str) -> Result<(), String> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| format!("{} is not running", self.launch.label))?;
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .map_err(|e| format!("kill {signal} {}: {e}", self.launch.label))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill {signal} {}: {status}", self.launch.label))
        }
    }

    /// Its exit status once it has exited; `None` while it runs, and after [`kill`](Self::kill).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
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
            if let Some(status) = self.exit_status() {
                return Err(format!(
                    "{} exited with {status}{}",
                    self.launch.label,
                    self.see_log()
                ));
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status() == reqwest::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not ready in {within:?}{}",
                    self.launch.label,
                    self.see_log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// `; see <log file>`, or nothing when the output is not kept in a file.
    fn see_log(&self) -> String {
        self.launch
            .log
            .as_ref()
            .map(|log| format!("; see {}", log.display()))
            .unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(launch: &Launch) -> Result<Child, String> {
    let (stdout, stderr) = match &launch.log {
        Some(path) => {
            use std::io::Write;
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("log file {}: {e}", path.display()))?;
            let _ = writeln!(log, "---- start {} on port {}", launch.label, launch.port);
            let err = log
                .try_clone()
                .map_err(|e| format!("log file {}: {e}", path.display()))?;
            (Stdio::from(log), Stdio::from(err))
        }
        None => (Stdio::null(), Stdio::inherit()),
    };
    Command::new(&launch.binary)
        .args(&launch.args)
        .current_dir(&launch.workspace)
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(stdout)
        .stderr(stderr)
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
