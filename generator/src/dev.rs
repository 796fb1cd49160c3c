//! `msa-gen dev [DIR]`: the whole system of a workspace running locally. Builds the workspace
//! (showing which crate compiles), then becomes the workspace's `<system>-dev` binary (the
//! end-to-end kit's boot, kept running: `crates/e2e-kit/src/dev.rs`), so Ctrl-C and SIGTERM
//! reach it directly and it removes what it started.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use crate::verify::{Options, bar, collect};

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("{0} is not a workspace made by msa-gen (no tests/e2e/system.toml)")]
    NotAWorkspace(PathBuf),
    #[error("cargo: {0}")]
    Cargo(std::io::Error),
    #[error("the workspace does not build:\n{0}")]
    Build(String),
    #[error("the build made no `{0}` binary")]
    NoBinary(String),
    #[error("cannot start {0}: {1}")]
    Start(PathBuf, std::io::Error),
}

/// The system name `tests/e2e/system.toml` declares.
fn system_name(dir: &Path) -> Result<String, DevError> {
    let path = dir.join("tests/e2e/system.toml");
    let text =
        std::fs::read_to_string(&path).map_err(|_| DevError::NotAWorkspace(dir.to_path_buf()))?;
    let value: toml::Value =
        toml::from_str(&text).map_err(|_| DevError::NotAWorkspace(dir.to_path_buf()))?;
    value
        .get("system")
        .and_then(toml::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| DevError::NotAWorkspace(dir.to_path_buf()))
}

/// Builds the workspace and returns the path of its `<system>-dev` binary.
pub fn build(dir: &Path, options: &Options) -> Result<PathBuf, DevError> {
    let dev = format!("{}-dev", system_name(dir)?);
    let pb = bar("building the workspace (cargo build --workspace)");
    let started = Instant::now();
    let mut child = options
        .cargo(dir)
        .args([
            "build",
            "--workspace",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(DevError::Cargo)?;
    let stderr = child.stderr.take().map(collect);
    let mut binary = None;
    let mut compiled = 0usize;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" {
                continue;
            }
            compiled += 1;
            let name = msg["target"]["name"].as_str().unwrap_or_default();
            pb.set_message(format!("building: {compiled} crates ready, last {name}"));
            if name == dev
                && let Some(exe) = msg["executable"].as_str()
            {
                binary = Some(PathBuf::from(exe));
            }
        }
    }
    let status = child.wait().map_err(DevError::Cargo)?;
    let errors = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    pb.finish_and_clear();
    if !status.success() {
        return Err(DevError::Build(errors));
    }
    println!(
        "built the workspace in {:.1}s ({compiled} crates)",
        started.elapsed().as_secs_f64()
    );
    binary.ok_or(DevError::NoBinary(dev))
}

/// Builds the workspace, then becomes its `<system>-dev` binary; returns only on failure.
pub fn run(dir: &Path, options: &Options) -> DevError {
    let binary = match build(dir, options) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let suite = dir.join("tests/e2e");
    let suite = suite.canonicalize().unwrap_or(suite);
    let error = std::process::Command::new(&binary)
        .arg(&suite)
        .current_dir(dir)
        .exec();
    DevError::Start(binary, error)
}
