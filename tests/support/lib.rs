//! Shared helpers of the end-to-end tests: where the repository and the shared target
//! directory are, generating a workspace once per test process, running cargo in it, and the
//! container images to use (from env vars whose defaults are the official images).

pub mod containers;

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

/// An image name from `var`, or the official `default`.
pub fn image(var: &str, default: &str) -> (String, String) {
    let full = std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string());
    match full.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (full, "latest".to_string()),
    }
}

/// Runs `cargo ARGS` in `dir` with the shared target directory; panics with its output on failure.
pub fn cargo(dir: &Path, args: &[&str]) -> String {
    let started = std::time::Instant::now();
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
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
    let files = msa_gen::generate_in_memory(&text).expect("generation");
    let dir = target_dir().join("msa-gen-tests").join(name);
    // Fresh tree each process, but keep the lock file so versions match the repository's.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean");
    }
    msa_gen::write::apply(&dir, &files, text.as_bytes()).expect("write");
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    dirs.insert(name, dir.clone());
    dir
}

/// Generates `text` (a blueprint) into a fixed folder named `name` under the target directory
/// and returns it; unlike [`generated`], each call writes it again.
pub fn generated_from(name: &str, text: &str) -> PathBuf {
    let files = msa_gen::generate_in_memory(text).expect("generation");
    let dir = target_dir().join("msa-gen-tests").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean");
    }
    msa_gen::write::apply(&dir, &files, text.as_bytes()).expect("write");
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    dir
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
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
