//! Generated workspaces are real Rust: `cargo fmt --check`, `cargo clippy --all-targets
//! -- -D warnings` and `cargo test` pass on the shop (the committed `generated-example/`) and
//! on the minimal blueprint (generated fresh, every field type).

use msa_gen_tests::{cargo, generated, repo};

fn passes_every_check(dir: &std::path::Path) {
    cargo(dir, &["fmt", "--all", "--check"]);
    cargo(
        dir,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    );
    let out = cargo(dir, &["test", "--workspace"]);
    assert!(out.contains("test result: ok"), "{out}");
}

#[test]
fn shop_workspace_formats_lints_and_tests_clean() {
    passes_every_check(&repo().join("generated-example"));
}

#[test]
fn minimal_workspace_formats_lints_and_tests_clean() {
    passes_every_check(&generated("minimal"));
}
