//! Shared helpers of the end-to-end tests: where the repository and the shared target
//! directory are, generating a workspace once per test process, running cargo in it, and
//! starting its binaries. Containers, images (from env vars whose defaults are the official
//! images), free ports and process handling are the e2e kit's (`templates/crates/e2e-kit`),
//! the same code every generated workspace's suite runs.

pub mod browser;
pub mod processes;
pub mod random;
pub mod sagas;

pub use e2e_kit::infra::free_port;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo root")
}

/// One target directory for every generated workspace, so dependencies build once.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from)
}

/// Runs `cargo ARGS` in `dir` with the shared target directory and returns how it ended.
pub fn cargo_output(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo")
}

/// Runs `cargo ARGS` in `dir` with the shared target directory; panics with its output on failure.
pub fn cargo(dir: &Path, args: &[&str]) -> String {
    let started = std::time::Instant::now();
    let out = cargo_output(dir, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`cargo {}` failed in {}:\n{text}",
        args.join(" "),
        dir.display()
    );
    eprintln!(
        "cargo {} in {}: {:.1}s",
        args.join(" "),
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    text
}

/// Generates `blueprints/NAME.toml` into a fixed folder under the target directory (fixed, so
/// cargo's fingerprints stay valid between runs), once per process, and returns it.
pub fn generated(name: &'static str) -> PathBuf {
    static DIRS: OnceLock<std::sync::Mutex<std::collections::BTreeMap<&'static str, PathBuf>>> =
        OnceLock::new();
    let dirs = DIRS.get_or_init(Default::default);
    let mut dirs = dirs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = dirs.get(name) {
        return d.clone();
    }
    let text = std::fs::read_to_string(repo().join("blueprints").join(format!("{name}.toml")))
        .expect("blueprint");
    let dir = write_fresh(name, &text);
    dirs.insert(name, dir.clone());
    dir
}

/// Generates `text` (a blueprint) into the fixed folder `.msa-gen-tests/<name>` and returns it;
/// unlike [`generated`], each call writes it again.
pub fn generated_from(name: &str, text: &str) -> PathBuf {
    write_fresh(name, text)
}

/// Where the test workspaces live: `.msa-gen-tests/` in the repository, outside the target
/// directory on purpose. Cargo records the sources of a crate inside the target directory
/// relative to it, so two workspaces there whose crates hash alike (the same e2e-kit, the same
/// contracts) would check each other's files and miss changes; outside it, each is checked
/// against its own.
pub fn workspaces_dir() -> PathBuf {
    repo().join(".msa-gen-tests")
}

/// Makes `.msa-gen-tests/<name>` exactly a fresh generation of `text` (plus the
/// repository's lock file), rewriting only files whose bytes differ: unchanged files keep their
/// modification times, so cargo does not rebuild what did not change between test binaries.
fn write_fresh(name: &str, text: &str) -> PathBuf {
    write_as_given(name, &with_version_of(name, text))
}

/// Makes `.msa-gen-tests/<name>` exactly a fresh generation of `text` as a user would have it:
/// its `[system] version` unchanged (see [`with_version_of`] for why tests change it).
pub fn write_as_given(name: &str, text: &str) -> PathBuf {
    let files = msa_gen::generate_in_memory(text).expect("generation");
    let root = workspaces_dir();
    let dir = root.join(name);
    let fresh = root.join(format!("{name}.fresh"));
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh).expect("clean");
    }
    msa_gen::write::apply(&fresh, &files, text.as_bytes()).expect("write");
    std::fs::copy(repo().join("Cargo.lock"), fresh.join("Cargo.lock")).expect("lock file");
    sync_tree(&fresh, &dir, Path::new(""));
    std::fs::remove_dir_all(&fresh).expect("clean");
    dir
}

/// `text` with `[system] version` set to one derived from `name`. The version is part of every
/// workspace crate's identity, so crates of two test workspaces built into the shared target
/// directory never share artifacts: cargo hashes a path crate by its path *relative to its
/// workspace*, so `crates/contracts` of the shop and of minimal would otherwise be the same
/// unit, and cargo (comparing mtimes, which the sync keeps) would link one workspace's build
/// into the other.
pub fn with_version_of(name: &str, text: &str) -> String {
    let n = name
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 100_000;
    let mut out = String::new();
    let mut in_system = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_system = trimmed.starts_with("[system]");
        }
        if in_system && trimmed.starts_with("version") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if in_system && trimmed.starts_with("[system]") {
            out.push_str(&format!("version = \"0.0.{n}\"\n"));
        }
    }
    out
}

/// Copies `from` onto `to` file by file (only differing bytes), and deletes what `from` lacks,
/// except build outputs the tests keep there (`bin/`, `target/`, logs).
fn sync_tree(from: &Path, to: &Path, rel: &Path) {
    let (src, dst) = (from.join(rel), to.join(rel));
    std::fs::create_dir_all(&dst).expect("mkdir");
    let mut wanted = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&src).expect("read dir").flatten() {
        let name = entry.file_name();
        wanted.insert(name.clone());
        let child = rel.join(&name);
        if entry.path().is_dir() {
            sync_tree(from, to, &child);
        } else {
            let bytes = std::fs::read(entry.path()).expect("read");
            if std::fs::read(to.join(&child)).ok().as_deref() != Some(bytes.as_slice()) {
                std::fs::write(to.join(&child), bytes).expect("write");
            }
        }
    }
    let keep = |n: &str| {
        rel.as_os_str().is_empty() && (n == "bin" || n == "target" || n.ends_with(".log"))
    };
    for entry in std::fs::read_dir(&dst).expect("read dir").flatten() {
        let name = entry.file_name();
        if wanted.contains(&name) || keep(&name.to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).expect("remove dir");
        } else {
            std::fs::remove_file(&path).expect("remove file");
        }
    }
}

/// Generates the shop on `broker` into `.msa-gen-tests/shop-<broker>`, builds `packages`,
/// and copies their binaries to its `bin/` (a later build of another variant would replace
/// them in the shared target directory). The whole workspace is built, so every test asks
/// cargo for the same feature set and no test's build undoes another's; calls are serialised,
/// as tests of one binary run in parallel on the same directory.
pub fn shop(broker: &str, packages: &[&str]) -> PathBuf {
    shop_in(Profile::Debug, broker, packages)
}

/// [`shop`] built with `profile` (the events bench runs the sagas on release binaries).
pub fn shop_in(profile: Profile, broker: &str, packages: &[&str]) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("blueprints/shop.toml"))
        .expect("shop blueprint")
        .replace("broker = \"nats\"", &format!("broker = \"{broker}\""));
    let label = match profile {
        Profile::Debug => format!("shop-{broker}"),
        // Its own folder and `bin/`: a bench beside a test run replaces none of its binaries.
        Profile::Release => format!("shop-{broker}-release"),
    };
    built_in(profile, &label, &text, packages)
}

/// The cargo profile test workspaces are built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// What the tests run: quick to build.
    Debug,
    /// What the benches measure.
    Release,
}

impl Profile {
    /// The profile's folder in the target directory.
    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// The workspace generated from `text` under `label`, built, with the binaries of `packages`
/// copied to its `bin/` (the shared target dir's binaries are named for services, which other
/// systems share).
pub fn built(label: &str, text: &str, packages: &[&str]) -> PathBuf {
    built_in(Profile::Debug, label, text, packages)
}

/// [`built`] with `profile`.
pub fn built_in(profile: Profile, label: &str, text: &str, packages: &[&str]) -> PathBuf {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ws = generated_from(label, text);
    match profile {
        Profile::Debug => cargo(&ws, &["build", "--workspace"]),
        Profile::Release => cargo(&ws, &["build", "--workspace", "--release"]),
    };
    let bin = ws.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    for name in packages {
        // Copied beside, then renamed over: another test may be running the old binary, and
        // writing into a running executable fails (ETXTBSY) where replacing it does not.
        let fresh = bin.join(format!(".{name}.new"));
        std::fs::copy(target_dir().join(profile.dir()).join(name), &fresh).expect("copy binary");
        std::fs::rename(&fresh, bin.join(name)).expect("replace binary");
    }
    ws
}

/// Every `$ref` of an OpenAPI document that does not resolve to a component.
pub fn dangling_refs(doc: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, doc: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                    let target = r
                        .strip_prefix("#/")
                        .and_then(|p| p.split('/').try_fold(doc, |acc, seg| acc.get(seg)));
                    if target.is_none() {
                        out.push(r.clone());
                    }
                }
                map.values().for_each(|x| walk(x, doc, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|x| walk(x, doc, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, doc, &mut out);
    out
}
