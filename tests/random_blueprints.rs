//! Random blueprints over the whole format (`support/random.rs`), property-tested: `check`
//! accepts each, and the generated workspaces compile (nothing is left "not generated": the
//! plan has no such notion; what cannot be generated is refused by `check`).
//!
//! A failing case is kept: proptest keeps its seed, and the smallest failing blueprint is written
//! to `target/random-failures/last-failure.toml`; once fixed, it goes to
//! `tests/random-regressions/` under a name saying what it shows, and is checked there first.

use std::path::Path;

use msa_gen_tests::random;
use proptest::prelude::*;

/// Every problem of `text`: the errors of `check`, and the warnings `new` would print that
/// say something is left out.
fn problems(text: &str) -> Vec<String> {
    let loaded = match msa_gen::blueprint::load(text) {
        Ok(l) => l,
        Err(d) => return vec![d.render("random.toml", text)],
    };
    msa_gen::plan::plan(&loaded.blueprint, text, None)
        .warnings
        .into_iter()
        .filter(|w| w.contains("not generated"))
        .collect()
}

fn keep(text: &str, name: &str) {
    let dir = msa_gen_tests::target_dir().join("random-failures");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{name}.toml")), text);
}

#[test]
fn kept_regressions_still_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("random-regressions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let p = problems(&text);
        assert!(p.is_empty(), "{}: {p:#?}", path.display());
    }
}

/// The files every saga of `text` must have: its module in the owner and in every participant.
fn missing_saga_files(text: &str) -> Vec<String> {
    let Ok(loaded) = msa_gen::blueprint::load(text) else {
        return vec!["not accepted".into()];
    };
    let bp = &loaded.blueprint;
    let plan = msa_gen::plan::plan(bp, text, None);
    let mut missing = Vec::new();
    for saga in &bp.sagas {
        let module = msa_gen::names::to_snake(&saga.name.value);
        let services = std::iter::once(&saga.owner).chain(saga.steps.iter().map(|s| &s.service));
        for svc in services {
            let path = format!("services/{}/src/sagas/{module}.rs", svc.value);
            if !plan.files.iter().any(|f| f.path == path) {
                missing.push(path);
            }
        }
    }
    missing
}

/// Every saga of every blueprint in the repository, and of 64 random ones, is generated: in
/// its owner and in each participant.
#[test]
fn every_saga_is_generated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut texts: Vec<(String, String)> = Vec::new();
    for dir in ["blueprints", "tests/random-regressions"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("dir").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).expect("read");
                texts.push((path.display().to_string(), text));
            }
        }
    }
    for seed in 0..64 {
        texts.push((
            format!("seed {seed}"),
            random::blueprint(seed, 4 + seed as usize % 9),
        ));
    }
    let sagas: usize = texts
        .iter()
        .filter_map(|(_, t)| msa_gen::blueprint::load(t).ok())
        .map(|l| l.blueprint.sagas.len())
        .sum();
    assert!(
        sagas > 40,
        "only {sagas} sagas: the random blueprints changed"
    );
    for (label, text) in &texts {
        let missing = missing_saga_files(text);
        assert!(missing.is_empty(), "{label}: {missing:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_blueprints_are_accepted_and_generated(seed in any::<u64>(), size in 1usize..=12) {
        let text = random::blueprint(seed, size);
        let p = problems(&text);
        if !p.is_empty() {
            // Shrinking calls this again with smaller cases: the last one written is the
            // smallest failure. Keep it under a name that says what it shows.
            keep(&text, "last-failure");
        }
        prop_assert!(p.is_empty(), "seed {seed}, size {size}: {p:#?}\n{text}");
    }
}

/// Deletes the build artifacts of the system `text` describes from the shared target
/// directory: every crate of a system is its own (named for it), so a long run would otherwise
/// keep about half a gigabyte per system.
fn forget(text: &str) {
    let Ok(loaded) = msa_gen::blueprint::load(text) else {
        return;
    };
    let name = loaded.blueprint.system.name.value.clone();
    let prefixes = [format!("{name}-"), format!("{}_", name.replace('-', "_"))];
    let debug = msa_gen_tests::target_dir().join("debug");
    for dir in ["deps", ".fingerprint", "build", "incremental"] {
        let Ok(entries) = std::fs::read_dir(debug.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            if prefixes.iter().any(|p| file.starts_with(p.as_str())) {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
}

/// How many random systems the suite compiles (`MSA_RANDOM_SYSTEMS`; the bench script runs
/// more, see `bench/random-blueprints.sh`).
fn compiled_systems() -> u64 {
    std::env::var("MSA_RANDOM_SYSTEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// Seeds `0..n` (offset by `MSA_RANDOM_SEED`), each with 4–12 services: generated, formatted,
/// and checked by cargo with clippy's `-D warnings`, as users build them.
#[test]
fn random_workspaces_compile() {
    let base: u64 = std::env::var("MSA_RANDOM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut failed = Vec::new();
    let n = compiled_systems();
    // The kept regressions first (unless a bench run asks for other seeds), then the seeds.
    let mut cases: Vec<(String, String)> = Vec::new();
    if std::env::var_os("MSA_RANDOM_SEED").is_none() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("random-regressions");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("regression");
            cases.push((f.display().to_string(), text));
        }
    }
    for seed in base..base + n {
        let size = 4 + usize::try_from(seed % 9).unwrap_or(0);
        cases.push((
            format!("seed {seed} (size {size})"),
            random::blueprint(seed, size),
        ));
    }
    let total = cases.len();
    for (i, (label, text)) in cases.into_iter().enumerate() {
        if !problems(&text).is_empty() {
            failed.push(format!("{label}: not accepted or not generated"));
            continue;
        }
        let name = format!("random-{}", i % 4);
        let dir = msa_gen_tests::generated_from(&name, &text);
        let before = failed.len();
        for args in [
            &["fmt", "--all", "--check"][..],
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--offline",
                "--",
                "-D",
                "warnings",
            ][..],
        ] {
            let out = msa_gen_tests::cargo_output(&dir, args);
            if !out.status.success() {
                keep(&text, &format!("compile-{i}"));
                let err = String::from_utf8_lossy(&out.stderr);
                let first: Vec<&str> = err
                    .lines()
                    .filter(|l| {
                        l.starts_with("error") || l.starts_with("warning") || l.contains("-->")
                    })
                    .take(12)
                    .collect();
                failed.push(format!(
                    "{label}: `cargo {}`:\n{}",
                    args[0],
                    first.join("\n")
                ));
                break;
            }
        }
        let verdict = if failed.len() == before {
            "compiled"
        } else {
            "FAILED"
        };
        eprintln!("{label}: {verdict}");
        forget(&text);
    }
    eprintln!(
        "random systems: {} of {total} compiled",
        total - failed.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
