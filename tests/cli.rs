//! The `msa-gen` binary as a user runs it: exit codes, messages, and the new → edit →
//! plan → generate cycle on a real directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msa-gen"))
}

fn run(args: &[&str], cwd: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run msa-gen")
}

fn blueprint(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../blueprints")
        .join(name)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_explains_every_command() {
    let out = bin().arg("--help").output().expect("help");
    let help = text(&out.stdout);
    for cmd in ["new", "generate", "check", "plan", "graph", "schema"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(cmd)),
            "--help lacks {cmd}:\n{help}"
        );
    }
    let out = bin().args(["help", "plan"]).output().expect("help plan");
    assert!(text(&out.stdout).contains("--diff"));
}

#[test]
fn exit_codes_follow_the_contract() {
    let dir = tempfile::tempdir().expect("tmp");
    let ok = run(
        &["check", blueprint("shop.toml").to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("valid (7 services, 13 events)"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[system]\nname = \"x\"\nnmae = 1\n").unwrap();
    let out = run(&["check", "bad.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: unknown key `nmae` in [system]"),
        "{err}"
    );
    assert!(err.contains("--> bad.toml:3:1"), "{err}");
    assert!(err.contains("= hint: did you mean `name`?"), "{err}");

    assert_eq!(
        run(&["check", "missing.toml"], dir.path()).status.code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"], dir.path()).status.code(), Some(2));
    assert_eq!(
        run(&["generate", "nowhere"], dir.path()).status.code(),
        Some(2)
    );
}

#[test]
fn new_refuses_a_non_empty_directory() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let out = run(
        &[
            "new",
            blueprint("minimal.toml").to_str().unwrap(),
            "--out",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not empty"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn new_then_edit_then_generate_keeps_user_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(
        &["new", blueprint("minimal.toml").to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("not generated yet: "),
        "everything minimal asks for is generated:\n{}",
        text(&out.stdout)
    );
    let ws = dir.path().join("minimal");
    assert!(ws.join("services/notes/src/api.rs").exists());

    let plan = run(&["plan", "."], &ws);
    assert_eq!(
        text(&plan.stdout).trim(),
        "up to date: generate would change nothing"
    );

    // The user writes business logic, and edits the blueprint: a new field.
    let hooks = ws.join("services/notes/src/logic/note.rs");
    let mine =
        "// my business rules\nuse crate::model::NoteHooks;\nimpl NoteHooks for super::Logic {}\n";
    std::fs::write(&hooks, mine).unwrap();
    let bp = ws.join("blueprint.toml");
    let edited = std::fs::read_to_string(&bp).unwrap().replace(
        "  title = \"string\"\n",
        "  title = \"string\"\n  subtitle = \"string?\"\n",
    );
    std::fs::write(&bp, edited).unwrap();

    let plan = run(&["plan", ".", "--diff"], &ws);
    let shown = text(&plan.stdout);
    assert!(
        shown.contains("update services/notes/src/model.rs"),
        "{shown}"
    );
    assert!(
        shown.contains("+    pub subtitle: Option<String>,"),
        "{shown}"
    );
    assert!(
        !shown.contains("logic/note.rs"),
        "user files are not planned over:\n{shown}"
    );

    let gen_out = run(&["generate"], &ws);
    assert_eq!(gen_out.status.code(), Some(0), "{}", text(&gen_out.stderr));
    assert_eq!(
        std::fs::read_to_string(&hooks).unwrap(),
        mine,
        "user code survives"
    );
    assert!(
        std::fs::read_to_string(ws.join("services/notes/src/model.rs"))
            .unwrap()
            .contains("pub subtitle: Option<String>")
    );
    assert_eq!(
        text(&run(&["plan"], &ws).stdout).trim(),
        "up to date: generate would change nothing"
    );

    // An invalid edit changes nothing on disk.
    std::fs::write(&bp, "[system]\nname = \"Bad Name\"\n").unwrap();
    let before = std::fs::read(ws.join("services/notes/src/model.rs")).unwrap();
    assert_eq!(run(&["generate"], &ws).status.code(), Some(1));
    assert_eq!(
        std::fs::read(ws.join("services/notes/src/model.rs")).unwrap(),
        before
    );
}

#[test]
fn graph_prints_mermaid() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(
        &["graph", blueprint("shop.toml").to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0));
    let g = text(&out.stdout);
    assert!(
        g.starts_with("flowchart LR\n") && g.contains("svc_customers"),
        "{g}"
    );
}

#[test]
fn committed_schema_is_current() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(&["schema"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/blueprint.schema.json"),
    )
    .unwrap_or_default();
    assert!(
        text(&out.stdout) == committed,
        "docs/blueprint.schema.json is stale: run `cargo run -p msa-gen -- schema > docs/blueprint.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).expect("schema is JSON");
    let services = &schema["$defs"]["Service"]["properties"];
    for key in [
        "name",
        "style",
        "store",
        "port",
        "replicas",
        "publishes",
        "consumes",
        "entities",
        "calls",
        "snapshot-every",
        "aggregates",
        "views",
    ] {
        assert!(services.get(key).is_some(), "schema lacks services.{key}");
    }
}

#[test]
fn committed_keys_page_is_current() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(&["schema", "--markdown"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let page = text(&out.stdout);
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/blueprint-keys.md"),
    )
    .unwrap_or_default();
    assert!(
        page == committed,
        "docs/blueprint-keys.md is stale: run `cargo run -p msa-gen -- schema --markdown > docs/blueprint-keys.md`"
    );
    // Every section and key of the format is on the page, nested ones included.
    for needle in [
        "## `[platform]`",
        "## `[[services.entities]]`",
        "## `services.calls.breaker = { … }`",
        "| `failure-rate` | number |",
        "| `mesh` | `\"none\"` \\| `\"istio\"` |",
    ] {
        assert!(page.contains(needle), "keys page lacks {needle}");
    }
}

#[test]
fn edits_inside_generated_files_survive_and_overlaps_are_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    assert_eq!(
        run(
            &[
                "new",
                blueprint("minimal.toml").to_str().unwrap(),
                "--out",
                "ws"
            ],
            dir.path()
        )
        .status
        .code(),
        Some(0)
    );
    let ws = dir.path().join("ws");
    let model = ws.join("services/notes/src/model.rs");
    let original = std::fs::read_to_string(&model).unwrap();

    // An edit far from what the blueprint change touches: merged, no conflict.
    let mut edited = original.replacen(
        "use std::future::Future;\n",
        "use std::future::Future;\n// my note: keep this line\n",
        1,
    );
    // An edit exactly where the generator will change the file: the `title` field.
    edited = edited.replacen(
        "pub struct Note {\n    pub id: uuid::Uuid,\n    pub title: String,",
        "pub struct Note {\n    pub id: uuid::Uuid,\n    pub title: String, // mine",
        1,
    );
    assert_ne!(edited, original);
    std::fs::write(&model, &edited).unwrap();
    // Unchanged blueprint: the edit is kept, nothing to do.
    let plan = run(&["plan"], &ws);
    assert_eq!(
        text(&plan.stdout).trim(),
        "up to date: generate would change nothing"
    );

    let bp = ws.join("blueprint.toml");
    let changed = std::fs::read_to_string(&bp).unwrap().replace(
        "  title = \"string\"\n",
        "  title = \"string?\"\n  subtitle = \"string?\"\n",
    );
    std::fs::write(&bp, changed).unwrap();
    let dry = run(&["generate", "--dry-run"], &ws);
    assert!(
        text(&dry.stdout).contains("CONFLICT services/notes/src/model.rs"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(&model).unwrap(),
        edited,
        "a dry run writes nothing"
    );

    let out = run(&["generate"], &ws);
    assert_eq!(
        out.status.code(),
        Some(3),
        "conflicts exit with 3: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("services/notes/src/model.rs"),
        "{}",
        text(&out.stderr)
    );
    let merged = std::fs::read_to_string(&model).unwrap();
    assert!(
        merged.contains("// my note: keep this line"),
        "the distant edit is merged"
    );
    assert!(
        merged.contains("<<<<<<< yours: services/notes/src/model.rs")
            && merged.contains("pub title: String, // mine"),
        "{merged}"
    );
    assert!(
        merged.contains("pub subtitle: Option<String>"),
        "the generator's change is there too"
    );
}

#[test]
fn a_blueprint_change_adds_a_migration_and_never_edits_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(
        &[
            "new",
            blueprint("minimal.toml").to_str().unwrap(),
            "--out",
            "ws",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ws = dir.path().join("ws");
    let migrations = ws.join("services/notes/migrations");
    let first = std::fs::read_to_string(migrations.join("0001_init.sql")).expect("0001");
    let bp = ws.join("blueprint.toml");
    let original = std::fs::read_to_string(&bp).expect("blueprint");
    std::fs::write(
        &bp,
        original.replace(
            "  type = \"string?\"\n",
            "  type = \"string?\"\n  stars = \"i32\"\n",
        ),
    )
    .expect("edit");
    let out = run(&["generate", "ws"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let second = std::fs::read_to_string(migrations.join("0002_blueprint_change.sql"))
        .expect("a new migration");
    assert!(
        second.contains("ALTER TABLE \"note\" ADD COLUMN \"stars\" INTEGER NOT NULL DEFAULT 0;"),
        "{second}"
    );
    assert_eq!(
        std::fs::read_to_string(migrations.join("0001_init.sql")).expect("0001"),
        first,
        "the applied migration is untouched"
    );
    // Generating again changes nothing.
    let out = run(&["generate", "ws"], dir.path());
    assert!(
        text(&out.stdout).contains("0 created, 0 updated"),
        "{}",
        text(&out.stdout)
    );
    // Taking the field out again: a third migration drops it, with a warning.
    std::fs::write(&bp, &original).expect("edit back");
    let out = run(&["generate", "ws"], dir.path());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("warning: notes: column `note.stars` is dropped"),
        "{stdout}"
    );
    let third = std::fs::read_to_string(migrations.join("0003_blueprint_change.sql"))
        .expect("third migration");
    assert!(third.contains("DROP COLUMN \"stars\""), "{third}");
    assert!(migrations.join("0002_blueprint_change.sql").exists());
}

/// Paths as real APIs write them (versions, nesting, camelCase) and BFFs without `port`.
const REAL_API_PATHS: &str = r#"[system]
name = "clinic"

[auth]
roles = ["vet", "owner"]

[gateway]
port = 8104

[[services]]
name = "owners"
  [[services.entities]]
  name = "Owner"
  expose = { path = "/v1/owners", read = ["vet"], write = ["vet"] }
  [services.entities.fields]
  full-name = "string"

  [[services.entities]]
  name = "Pet"
  expose = { path = "/v1/owners/pets", read = ["vet", "owner"], write = ["vet"] }
  [services.entities.fields]
  owner-id = "uuid"
  name = "string"

[[services]]
name = "payments"
  [[services.entities]]
  name = "PaymentAuth"
  expose = { path = "/paymentAuth", read = ["vet"], write = ["vet"] }
  [services.entities.fields]
  amount = "decimal"

[[bffs]]
name = "vet-bff"
client = "web"
routes = ["/v1/owners", "/v1/owners/pets", "/paymentAuth"]
  [[bffs.compositions]]
  path = "/petDetails/{pet-id}"
  read = ["vet"]
  calls = [
    { service = "owners", path = "/v1/owners/pets/{pet-id}" },
    { service = "payments", path = "/paymentAuth/{owners.owner-id}", optional = true },
  ]

[[bffs]]
name = "mobile-bff"
port = 8103
routes = ["/v1/owners/pets"]

[[bffs]]
name = "partner-bff"
routes = ["/paymentAuth"]
"#;

#[test]
fn real_api_paths_and_bffs_without_port_are_checked_and_generated() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("clinic.toml"), REAL_API_PATHS).expect("write");
    let check = run(&["check", "clinic.toml"], dir.path());
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert!(
        !text(&check.stderr).contains("warning"),
        "{}",
        text(&check.stderr)
    );

    let out = run(&["new", "clinic.toml", "--out", "ws"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("not generated"),
        "{}",
        text(&out.stdout)
    );
    let ws = dir.path().join("ws");
    let read = |path: &str| std::fs::read_to_string(ws.join(path)).expect(path);
    let gateway = read("platform/gateway/src/main.rs");
    for prefix in ["/v1/owners", "/v1/owners/pets", "/paymentAuth", "/vet-bff"] {
        assert!(
            gateway.contains(&format!("prefix: \"{prefix}\"")),
            "the gateway routes {prefix}"
        );
    }
    let api = read("services/owners/src/api.rs");
    assert!(api.contains("\"/v1/owners/pets/{id}\","), "{api}");
    let compositions = read("bffs/vet-bff/src/compositions.rs");
    assert!(compositions.contains("\"/petDetails/{pet-id}\""));
    assert!(compositions.contains("async fn pet_details("));
    // BFF ports follow the services' (8101, 8102), skipping mobile-bff's and the gateway's.
    for (bff, port) in [
        ("vet-bff", 8105),
        ("mobile-bff", 8103),
        ("partner-bff", 8106),
    ] {
        let main = read(&format!("bffs/{bff}/src/main.rs"));
        assert!(
            main.contains(&format!("default_port: {port},")),
            "{bff} listens on {port}"
        );
    }
}
