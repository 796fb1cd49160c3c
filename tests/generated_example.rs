//! `generated-example/` must be exactly what `msa-gen new blueprints/shop.toml` writes today.
//! To refresh it: `bash tests/refresh-example.sh`. This pins every file of the shop byte for
//! byte, and through `.msa-gen/manifest.json` the list of files and their ownership, so
//! `golden.rs` keeps snapshots only of the variants the example does not cover.

use std::collections::BTreeMap;
use std::path::Path;

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "target" || rel == "Cargo.lock" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn generated_example_is_current() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let fresh = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msa-gen"))
        .args(["new", "blueprints/shop.toml", "--out"])
        .arg(fresh.path().join("shop"))
        .current_dir(&repo)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = tree(&fresh.path().join("shop"));
    let have = tree(&repo.join("generated-example"));
    let mut problems = Vec::new();
    for (path, bytes) in &want {
        match have.get(path) {
            None => problems.push(format!("missing {path}")),
            Some(b) if b != bytes => problems.push(format!("stale {path}")),
            _ => {}
        }
    }
    for path in have.keys().filter(|p| !want.contains_key(*p)) {
        problems.push(format!("not generated any more: {path}"));
    }
    if !problems.is_empty() && std::env::var_os("MSA_GEN_BLESS").is_some_and(|v| v == "1") {
        bless(&repo.join("generated-example"), &want);
        eprintln!(
            "generated-example/ rewritten ({} files changed)",
            problems.len()
        );
        return;
    }
    assert!(
        problems.is_empty(),
        "generated-example/ is stale; refresh it with `MSA_GEN_BLESS=1 cargo test -p msa-gen --test generated_example` (or `bash tests/refresh-example.sh`):\n{}",
        problems.join("\n")
    );
}

/// Rewrites `dir` as `want`, keeping its `Cargo.lock` (msa-gen does not write one).
fn bless(dir: &Path, want: &BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap_or_default();
        if name == "Cargo.lock" || name == "target" {
            continue;
        }
        if path.is_dir() {
            std::fs::remove_dir_all(&path).expect("remove");
        } else {
            std::fs::remove_file(&path).expect("remove");
        }
    }
    for (rel, bytes) in want {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, bytes).expect("write");
    }
}
