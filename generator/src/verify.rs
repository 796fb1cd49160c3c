//! `msa-gen verify`: proves a workspace works. It builds every binary, then runs the
//! workspace's generated end-to-end suite (`tests/e2e`, ignored by a plain `cargo test`) and
//! follows its `e2e boot …` / `e2e check …` lines with a progress bar, then prints what passed,
//! what failed and where the logs are.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// One line of the suite's output, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Boot { what: String, ok: bool },
    Check { name: String, result: CheckResult },
    Summary(String),
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    Passed,
    Failed(String),
    Skipped(String),
}

/// Parses `e2e boot <what> ... ok`, `e2e check <name> ... ok (12 ms)`,
/// `e2e check <name> ... FAILED (12 ms): why`, `e2e check <name> ... skipped: why` and
/// `e2e summary: …`.
pub fn parse(line: &str) -> Line {
    if let Some(rest) = line.strip_prefix("e2e summary: ") {
        return Line::Summary(rest.to_string());
    }
    let Some((head, tail)) = line.split_once(" ... ") else {
        return Line::Other;
    };
    if let Some(what) = head.strip_prefix("e2e boot") {
        return Line::Boot {
            what: what.trim().to_string(),
            ok: tail.starts_with("ok"),
        };
    }
    let Some(name) = head.strip_prefix("e2e check ") else {
        return Line::Other;
    };
    let after_colon = |t: &str| {
        t.split_once(": ")
            .map_or(String::new(), |(_, r)| r.to_string())
    };
    let result = if tail.starts_with("ok") {
        CheckResult::Passed
    } else if tail.starts_with("skipped") {
        CheckResult::Skipped(after_colon(tail))
    } else {
        CheckResult::Failed(after_colon(tail))
    };
    Line::Check {
        name: name.to_string(),
        result,
    }
}

/// What the suite did.
#[derive(Debug, Default)]
pub struct Summary {
    pub passed: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<(String, String)>,
    pub boot_failed: bool,
    pub logs: Option<String>,
    pub build: Duration,
    pub run: Duration,
    /// Images built (`--images`), and how long the release build and packaging took.
    pub images: Vec<String>,
    pub images_time: Duration,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && !self.boot_failed && !self.passed.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "{0} is not a generated workspace (no tests/e2e/system.toml): run `msa-gen generate` first"
    )]
    NotAWorkspace(PathBuf),
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    #[error("`cargo build --workspace` failed:\n{0}")]
    Build(String),
    #[error("image {0}: {1}")]
    Image(String, String),
}

pub(crate) fn bar(message: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    pb.set_message(message.to_string());
    pb
}

/// Reads `stream` to its end on a thread: what a child wrote, for a failure report.
pub(crate) fn collect(
    stream: impl std::io::Read + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    })
}

/// Prints above the bar, or plainly when there is no terminal to draw it on.
fn say(pb: &ProgressBar, text: &str) {
    if pb.is_hidden() {
        println!("{text}");
    } else {
        pb.println(text);
    }
}

/// How to run cargo.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A target directory shared with other workspaces (`CARGO_TARGET_DIR`); `RUSTFLAGS` is
    /// then cleared too, so the shared artifacts' fingerprints stay the same.
    pub target_dir: Option<PathBuf>,
    /// Also build a release and package every binary into its image (the Dockerfiles'
    /// `prebuilt` stage; the runtime image from `MSA_IMAGE_RUNTIME` when set).
    pub images: bool,
}

impl Options {
    pub(crate) fn cargo(&self, dir: &Path) -> Command {
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.current_dir(dir);
        if let Some(t) = &self.target_dir {
            c.env("CARGO_TARGET_DIR", t).env_remove("RUSTFLAGS");
        }
        c
    }
}

/// Builds `dir` and runs its suite.
pub fn verify(dir: &Path) -> Result<Summary, VerifyError> {
    verify_with(dir, &Options::default())
}

/// [`verify`] with cargo options.
pub fn verify_with(dir: &Path, options: &Options) -> Result<Summary, VerifyError> {
    if !dir.join("tests/e2e/system.toml").is_file() {
        return Err(VerifyError::NotAWorkspace(dir.to_path_buf()));
    }
    let mut summary = Summary::default();

    let pb = bar("building the workspace (cargo build --workspace)");
    let started = Instant::now();
    let out = options
        .cargo(dir)
        .args(["build", "--workspace"])
        .output()
        .map_err(VerifyError::Cargo)?;
    summary.build = started.elapsed();
    pb.finish_and_clear();
    if !out.status.success() {
        return Err(VerifyError::Build(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    println!("built the workspace in {:.1}s", summary.build.as_secs_f64());
    if options.images {
        let started = Instant::now();
        summary.images = build_images(dir, options)?;
        summary.images_time = started.elapsed();
        println!(
            "built {} images in {:.1}s",
            summary.images.len(),
            summary.images_time.as_secs_f64()
        );
    }

    let pb = bar("booting the system");
    let started = Instant::now();
    let mut child = options
        .cargo(dir)
        .args([
            "test",
            "--manifest-path",
            "tests/e2e/Cargo.toml",
            "--",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(VerifyError::Cargo)?;
    // cargo's own messages and the panic go to stderr: keep them for a failure report.
    let stderr = child.stderr.take().map(collect);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            match parse(&line) {
                Line::Boot { what, ok } => {
                    if !ok {
                        summary.boot_failed = true;
                        say(&pb, &format!("✗ boot: {line}"));
                    } else {
                        pb.set_message(format!("booted {what}"));
                    }
                }
                Line::Check { name, result } => {
                    match &result {
                        CheckResult::Passed => {
                            say(&pb, &format!("✓ {name}"));
                            summary.passed.push(name.clone());
                        }
                        CheckResult::Failed(why) => {
                            say(&pb, &format!("✗ {name}: {why}"));
                            summary.failed.push((name.clone(), why.clone()));
                        }
                        CheckResult::Skipped(why) => {
                            say(&pb, &format!("- {name} (skipped: {why})"));
                            summary.skipped.push((name.clone(), why.clone()));
                        }
                    }
                    pb.set_message(format!(
                        "{} passed, {} failed — last: {name}",
                        summary.passed.len(),
                        summary.failed.len()
                    ));
                }
                Line::Summary(text) => {
                    summary.logs = text.split_once("logs in ").map(|(_, l)| l.to_string());
                }
                Line::Other => {}
            }
        }
    }
    let status = child.wait().map_err(VerifyError::Cargo)?;
    let errors = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    summary.run = started.elapsed();
    pb.finish_and_clear();
    if !status.success() && summary.failed.is_empty() {
        // The suite did not get to its checks (no Docker, a compile error): say why.
        summary.boot_failed = true;
        let tail: Vec<&str> = errors.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        println!("the suite failed before its checks:\n{}", tail.join("\n"));
    }
    Ok(summary)
}

/// Builds a release and packages each binary crate with its Dockerfile's `prebuilt` stage
/// (the binary copied into the build context's `target/release/`, as CI does).
fn build_images(dir: &Path, options: &Options) -> Result<Vec<String>, VerifyError> {
    let pb = bar("building a release for the images (cargo build --release --workspace)");
    let out = options
        .cargo(dir)
        .args(["build", "--release", "--workspace"])
        .output()
        .map_err(VerifyError::Cargo)?;
    pb.finish_and_clear();
    if !out.status.success() {
        return Err(VerifyError::Build(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let target = match &options.target_dir {
        Some(t) => t.clone(),
        None => target_directory(dir, options)?,
    };
    let system = std::fs::read_to_string(dir.join("tests/e2e/system.toml"))
        .ok()
        .and_then(|t| toml::from_str::<toml::Table>(&t).ok())
        .and_then(|t| t.get("system")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "system".into());
    let mut dockerfiles: Vec<PathBuf> = ["platform", "services", "bffs"]
        .iter()
        .filter_map(|group| std::fs::read_dir(dir.join(group)).ok())
        .flatten()
        .flatten()
        .map(|e| e.path().join("Dockerfile"))
        .filter(|p| p.is_file())
        .collect();
    dockerfiles.sort();
    let release = dir.join("target/release");
    std::fs::create_dir_all(&release)
        .map_err(|e| VerifyError::Image("target".into(), e.to_string()))?;
    let mut built = Vec::new();
    for dockerfile in dockerfiles {
        let name = dockerfile
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pb = bar(&format!("packaging {name}"));
        let binary = target.join("release").join(&name);
        let in_context = release.join(&name);
        if binary != in_context {
            std::fs::copy(&binary, &in_context).map_err(|e| {
                VerifyError::Image(name.clone(), format!("{}: {e}", binary.display()))
            })?;
        }
        let tag = format!("{system}-{name}:verify");
        let mut docker = Command::new("docker");
        docker.args(["build", "-q", "--target", "prebuilt", "-t", &tag, "-f"]);
        docker.arg(&dockerfile);
        if let Ok(runtime) = std::env::var("MSA_IMAGE_RUNTIME") {
            docker.args(["--build-arg", &format!("RUNTIME_IMAGE={runtime}")]);
        }
        let out = docker
            .arg(dir)
            .output()
            .map_err(|e| VerifyError::Image(name.clone(), format!("cannot run docker: {e}")))?;
        pb.finish_and_clear();
        if !out.status.success() {
            return Err(VerifyError::Image(
                name,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        println!("image {tag}");
        built.push(tag);
    }
    Ok(built)
}

/// The target directory cargo uses for `dir`.
fn target_directory(dir: &Path, options: &Options) -> Result<PathBuf, VerifyError> {
    let out = options
        .cargo(dir)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(VerifyError::Cargo)?;
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v["target_directory"].as_str().map(PathBuf::from))
        .ok_or_else(|| VerifyError::Build("cargo metadata gave no target directory".into()))
}

/// The closing report.
pub fn print(summary: &Summary) {
    println!(
        "\n{}: {} passed, {} failed, {} skipped (build {:.1}s, suite {:.1}s)",
        if summary.ok() {
            "verified"
        } else {
            "NOT verified"
        },
        summary.passed.len(),
        summary.failed.len(),
        summary.skipped.len(),
        summary.build.as_secs_f64(),
        summary.run.as_secs_f64()
    );
    for (name, why) in &summary.failed {
        println!("  failed: {name}\n          {why}");
    }
    for (name, why) in &summary.skipped {
        println!("  skipped: {name} ({why})");
    }
    if let Some(logs) = &summary.logs {
        println!("logs of every process: {logs}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_the_suite_parse() {
        assert_eq!(
            parse("e2e check crud Order ... ok (120 ms)"),
            Line::Check {
                name: "crud Order".into(),
                result: CheckResult::Passed
            }
        );
        assert_eq!(
            parse(
                "e2e check saga checkout succeeds ... FAILED (45001 ms): saga checkout still `pending`"
            ),
            Line::Check {
                name: "saga checkout succeeds".into(),
                result: CheckResult::Failed("saga checkout still `pending`".into())
            }
        );
        assert_eq!(
            parse("e2e check fault: broker restarted ... skipped: no events"),
            Line::Check {
                name: "fault: broker restarted".into(),
                result: CheckResult::Skipped("no events".into())
            }
        );
        assert_eq!(
            parse("e2e boot ... FAILED: start postgres"),
            Line::Boot {
                what: String::new(),
                ok: false
            }
        );
        assert_eq!(parse("running 1 test"), Line::Other);
        assert_eq!(
            parse("e2e summary: 3 passed, 0 failed, 0 skipped; logs in /tmp/x"),
            Line::Summary("3 passed, 0 failed, 0 skipped; logs in /tmp/x".into())
        );
    }

    #[test]
    fn nothing_passed_is_not_verified() {
        assert!(!Summary::default().ok());
        let s = Summary {
            passed: vec!["a".into()],
            ..Summary::default()
        };
        assert!(s.ok());
    }
}
