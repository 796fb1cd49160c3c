//! Two systems never share build artifacts. Every generated system has crates at the same
//! relative paths (`crates/runtime`, `crates/contracts`, `services/<name>`), often with the
//! same service names, and cargo tells path crates apart only by name, version and path
//! relative to the workspace, judging freshness by mtimes. So with one shared
//! `CARGO_TARGET_DIR`, a system whose files are older than another's last build would link the
//! other's crates. Packages are therefore named for their system (`alpha-notes`), binaries
//! keep the service's name.

use std::path::Path;
use std::process::Command;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn age(dir: &Path) {
    let status = Command::new("find")
        .arg(dir)
        .args(["-exec", "touch", "-h", "-d", "2020-01-01 00:00", "{}", "+"])
        .status()
        .expect("touch");
    assert!(status.success(), "could not age {}", dir.display());
}

#[test]
fn a_system_built_after_another_links_its_own_crates() {
    let minimal = std::fs::read_to_string(msa_gen_tests::repo().join("blueprints/minimal.toml"))
        .expect("minimal");
    let variant = |system: &str| {
        minimal
            .replace("name = \"minimal\"", &format!("name = \"{system}\""))
            .replace(
                "  title = \"string\"",
                &format!("  title = \"string\"\n  {system}-marker = \"string?\""),
            )
    };
    let alpha = msa_gen_tests::write_as_given("alpha", &variant("alpha"));
    let beta = msa_gen_tests::write_as_given("beta", &variant("beta"));
    // Beta's sources are older than alpha's build: without distinct packages, cargo would
    // take alpha's artifacts as beta's, fresh.
    age(&beta);
    msa_gen_tests::cargo(&alpha, &["build", "-p", "alpha-notes"]);
    msa_gen_tests::cargo(&beta, &["build", "-p", "beta-notes"]);
    let binary = std::fs::read(msa_gen_tests::target_dir().join("debug/notes")).expect("binary");
    assert!(
        contains(&binary, "beta_marker"),
        "beta's binary lacks beta's field"
    );
    assert!(
        !contains(&binary, "alpha_marker"),
        "beta's binary was linked from alpha's crates"
    );
}
