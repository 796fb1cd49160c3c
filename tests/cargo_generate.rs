//! The `cargo generate` entry point, with the real tool: `templates/cargo-generate` is what
//! `msa-gen template` exports today, and `cargo generate` with it (no prompts) makes the same
//! workspace as `msa-gen new` for the same choices, on which `msa-gen generate` changes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_committed_template_is_current() {
    let read = |name: &str| std::fs::read_to_string(repo().join("blueprints").join(name)).unwrap();
    for (name, content) in msa_gen::cargo_template::files(&read("shop.toml"), &read("minimal.toml"))
    {
        let path = repo().join("templates/cargo-generate").join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed,
            content,
            "{} is stale: run `msa-gen template templates/cargo-generate`",
            path.display()
        );
    }
}

/// Every file under `dir` (relative path → bytes), without `.git`.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == ".git" {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn cargo_generate_makes_the_same_workspace_as_msa_gen_new() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_msa-gen"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("cargo")
        .args(["generate", "--path"])
        .arg(repo().join("templates/cargo-generate"))
        .args([
            "--name",
            "acme-shop",
            "--define",
            "example=shop",
            "--define",
            "broker=rabbitmq",
            "--define",
            "discovery=kubernetes",
            "--define",
            "sessions=redis",
            "--silent",
            "--allow-commands",
            "--vcs",
            "none",
            "--destination",
        ])
        .arg(tmp.path())
        .env("PATH", &path)
        .output()
        .expect("cargo generate (install it: cargo +nightly install --locked cargo-generate)");
    assert!(
        out.status.success(),
        "cargo generate failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let made = tmp.path().join("acme-shop");
    let blueprint = std::fs::read_to_string(made.join("blueprint.toml")).expect("blueprint");
    for expected in [
        "name = \"acme-shop\"",
        "broker = \"rabbitmq\"",
        "discovery = \"kubernetes\"",
        "sessions = \"redis\"",
    ] {
        assert!(blueprint.contains(expected), "{expected} in\n{blueprint}");
    }
    assert!(
        !made.join("generate.rhai").exists(),
        "the hook is not left behind"
    );
    // The same files as `msa-gen new` with that blueprint.
    let bp = tmp.path().join("acme.toml");
    std::fs::write(&bp, &blueprint).unwrap();
    let fresh = tmp.path().join("fresh");
    let out = Command::new(&bin)
        .arg("new")
        .arg(&bp)
        .arg("--out")
        .arg(&fresh)
        .output()
        .expect("msa-gen new");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (tree(&made), tree(&fresh));
    let differ: Vec<&String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .collect();
    assert!(differ.is_empty(), "files differ: {differ:?}");
    assert!(a.contains_key("services/orders/src/main.rs"));
    // And `msa-gen generate` has nothing to do there.
    let out = Command::new(&bin)
        .arg("generate")
        .arg(&made)
        .output()
        .expect("msa-gen generate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 created, 0 updated, 0 merged, 0 deleted"),
        "{stdout}"
    );
}
