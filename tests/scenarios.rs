//! Blueprint changes of every kind (field, entity, service, saga step, event and consumer, BFF
//! composition, removals, broker), applied one after another to a workspace made from
//! `blueprints/library.toml`, each followed by `msa-gen generate` (the library call behind it),
//! `cargo build --workspace` and `cargo test --workspace`: after each, the workspace builds and
//! its tests pass. A line the user wrote in a file they own survives them all; a field added
//! gets a new migration that alters the table, a renamed one a migration that drops and adds
//! (with a warning), and no migration is ever edited.

use std::path::Path;

/// One change: a name, and the edit of the blueprint's text.
struct Scenario {
    name: &'static str,
    edit: fn(&str) -> String,
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the blueprint has no `{from}`");
    text.replacen(from, to, 1)
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "add a field",
        edit: |t| {
            replace(
                t,
                "  copies = \"i32\"\n",
                "  copies = \"i32\"\n  pages = \"i32?\"\n",
            )
        },
    },
    Scenario {
        name: "rename a field",
        edit: |t| replace(t, "  author = \"string\"\n", "  writer = \"string\"\n"),
    },
    Scenario {
        name: "add an entity",
        edit: |t| {
            replace(
                t,
                "  genres = \"list<string>\"\n",
                "  genres = \"list<string>\"\n  [[services.entities]]\n  name = \"Shelf\"\n  expose = { path = \"/shelves\", read = [], write = [\"librarian\"] }\n  [services.entities.fields]\n  label = \"string\"\n  floor = \"i32\"\n",
            )
        },
    },
    Scenario {
        name: "add a service",
        edit: |t| {
            replace(
                t,
                "[[sagas]]",
                "[[services]]\nname = \"rooms\"\n  [[services.entities]]\n  name = \"Room\"\n  expose = { path = \"/rooms\", read = [\"member\"], write = [\"librarian\"] }\n  [services.entities.fields]\n  name = \"string\"\n  seats = \"i32\"\n\n[[sagas]]",
            )
        },
    },
    Scenario {
        name: "add a saga step",
        edit: |t| {
            let t = replace(
                t,
                "[[services]]\nname = \"members\"",
                "[[events]]\nname = \"CopyHeld\"\n[events.fields]\nloan-id = \"uuid\"\nmember-id = \"uuid\"\n\n[[events]]\nname = \"NoCopyLeft\"\n[events.fields]\nloan-id = \"uuid\"\nmember-id = \"uuid\"\n\n[[services]]\nname = \"members\"",
            );
            let t = replace(
                &t,
                "name = \"books\"\n",
                "name = \"books\"\npublishes = [\"CopyHeld\", \"NoCopyLeft\"]\nconsumes = [\"LoanReserved\"]\n",
            );
            let t = replace(
                &t,
                "consumes = [\"LoanReserved\", \"LoanLimitExceeded\"]",
                "consumes = [\"LoanReserved\", \"LoanLimitExceeded\", \"CopyHeld\", \"NoCopyLeft\"]",
            );
            replace(
                &t,
                "  on-failure = \"LoanLimitExceeded\"\n",
                "  on-failure = \"LoanLimitExceeded\"\n  [[sagas.steps]]\n  service = \"books\"\n  action = \"hold-copy\"\n  on-success = \"CopyHeld\"\n  on-failure = \"NoCopyLeft\"\n",
            )
        },
    },
    Scenario {
        name: "add an event and a consumer",
        edit: |t| {
            let t = replace(
                t,
                "[[services]]\nname = \"members\"",
                "[[events]]\nname = \"BookCreated\"\n[events.fields]\nbook-id = \"uuid\"\ntitle = \"string\"\n\n[[services]]\nname = \"members\"",
            );
            let t = replace(
                &t,
                "publishes = [\"CopyHeld\", \"NoCopyLeft\"]",
                "publishes = [\"CopyHeld\", \"NoCopyLeft\", \"BookCreated\"]",
            );
            replace(
                &t,
                "consumes = [\"LoanApproved\"]",
                "consumes = [\"LoanApproved\", \"BookCreated\"]",
            )
        },
    },
    Scenario {
        name: "add a BFF composition",
        edit: |t| {
            format!(
                "{t}  [[bffs.compositions]]\n  path = \"/book-details/{{id}}\"\n  read = []\n  calls = [{{ service = \"books\", path = \"/books/{{id}}\" }}]\n"
            )
        },
    },
    Scenario {
        name: "remove an entity",
        edit: |t| {
            replace(
                t,
                "  [[services.entities]]\n  name = \"Shelf\"\n  expose = { path = \"/shelves\", read = [], write = [\"librarian\"] }\n  [services.entities.fields]\n  label = \"string\"\n  floor = \"i32\"\n",
                "",
            )
        },
    },
    Scenario {
        name: "remove a service",
        edit: |t| {
            replace(
                t,
                "[[services]]\nname = \"rooms\"\n  [[services.entities]]\n  name = \"Room\"\n  expose = { path = \"/rooms\", read = [\"member\"], write = [\"librarian\"] }\n  [services.entities.fields]\n  name = \"string\"\n  seats = \"i32\"\n\n",
                "",
            )
        },
    },
    Scenario {
        name: "change the broker",
        edit: |t| replace(t, "broker = \"rabbitmq\"", "broker = \"nats\""),
    },
];

fn migrations(ws: &Path, service: &str) -> Vec<(String, String)> {
    let dir = ws.join("services").join(service).join("migrations");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read_to_string(e.path()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn every_kind_of_blueprint_change_keeps_the_workspace_building_and_tested() {
    let original = std::fs::read_to_string(msa_gen_tests::repo().join("blueprints/library.toml"))
        .expect("library blueprint");
    let mut text = msa_gen_tests::with_version_of("scenarios", &original);
    let ws = msa_gen_tests::generated_from("scenarios", &original);
    msa_gen_tests::cargo(&ws, &["build", "--workspace"]);
    let mine = "// kept through every change: my own line";
    let logic = ws.join("services/books/src/logic/book.rs");
    let own = std::fs::read_to_string(&logic).expect("user-owned logic");
    std::fs::write(&logic, format!("{own}{mine}\n")).expect("edit");
    let mut applied = migrations(&ws, "books");
    for s in SCENARIOS {
        text = (s.edit)(&text);
        std::fs::write(ws.join("blueprint.toml"), &text).expect("blueprint");
        let changes = msa_gen::regenerate(&ws, &text)
            .unwrap_or_else(|e| panic!("{}: generation failed: {e}", s.name));
        let conflicts: Vec<&str> = changes
            .iter()
            .filter(|c| c.action == msa_gen::write::Action::Conflict)
            .map(|c| c.path.as_str())
            .collect();
        assert!(
            conflicts.is_empty(),
            "{}: conflicts in {conflicts:?}",
            s.name
        );
        eprintln!("scenario `{}`", s.name);
        msa_gen_tests::cargo(&ws, &["build", "--workspace"]);
        msa_gen_tests::cargo(&ws, &["test", "--workspace", "-q"]);
        let now = migrations(&ws, "books");
        for (name, sql) in &applied {
            let kept = now.iter().find(|(n, _)| n == name).map(|(_, s)| s);
            assert_eq!(kept, Some(sql), "{}: migration {name} was edited", s.name);
        }
        match s.name {
            "add a field" => {
                let (name, sql) = now.last().expect("a migration");
                assert!(
                    now.len() == applied.len() + 1 && sql.contains("ADD COLUMN \"pages\""),
                    "{name}: {sql}"
                );
            }
            "rename a field" => {
                let (name, sql) = now.last().expect("a migration");
                assert!(
                    sql.contains("DROP COLUMN \"author\"") && sql.contains("ADD COLUMN \"writer\""),
                    "{name}: {sql}"
                );
            }
            _ => {}
        }
        applied = now;
        let own = std::fs::read_to_string(&logic).expect("user file");
        assert!(own.contains(mine), "{}: the user's line is gone", s.name);
    }
    assert!(
        !ws.join("services/rooms/Cargo.toml").exists(),
        "a removed service is no longer built"
    );
}
