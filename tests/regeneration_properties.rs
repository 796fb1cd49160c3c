//! Properties of regeneration over random histories (500 cases, in two halves): a workspace is created from a
//! small blueprint, then random blueprint changes (add or remove a service, an entity, a field;
//! rename a field) are interleaved with random user edits (a line added to a file the user
//! owns, or inside a generated file), each change followed by a regeneration. After every
//! regeneration:
//!
//! - no line the user added is lost: it is still in its file (merged, kept, or inside conflict
//!   markers that the regeneration reported);
//! - regenerating again without a blueprint change writes nothing (byte for byte);
//! - at the end, every generated file the user never edited is exactly what a fresh `new` of
//!   the final blueprint writes (migrations aside: a workspace keeps its history, `new` starts
//!   one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use msa_gen::write::Action;
use proptest::prelude::*;

const SERVICES: &[&str] = &["alpha", "beta", "gamma", "delta"];
const ENTITIES: &[&str] = &["Item", "Note", "Tag"];
const FIELDS: &[(&str, &str)] = &[
    ("title", "string"),
    ("count", "i32"),
    ("price", "decimal?"),
    ("done", "bool"),
    ("due", "date?"),
    ("label", "enum(red, green)"),
    ("owner-id", "uuid"),
];

/// The blueprint, as a model the changes act on.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    /// service → entity → fields (indexes into FIELDS, in order).
    services: BTreeMap<&'static str, BTreeMap<&'static str, Vec<usize>>>,
}

impl Model {
    fn start() -> Self {
        let mut services = BTreeMap::new();
        services.insert(SERVICES[0], BTreeMap::from([(ENTITIES[0], vec![0, 1])]));
        Self { services }
    }

    fn text(&self) -> String {
        let mut t = String::from(
            "[system]\nname = \"props\"\n\n[platform]\nbroker = \"none\"\ndeploy = [\"compose\"]\n",
        );
        for (s, entities) in &self.services {
            t.push_str(&format!("\n[[services]]\nname = \"{s}\"\n"));
            for (e, fields) in entities {
                let path = format!("/{s}-{}s", e.to_lowercase());
                t.push_str(&format!(
                    "  [[services.entities]]\n  name = \"{e}\"\n  expose = {{ path = \"{path}\" }}\n  [services.entities.fields]\n"
                ));
                for f in fields {
                    let (name, ty) = FIELDS[*f];
                    t.push_str(&format!("  {name} = \"{ty}\"\n"));
                }
            }
        }
        t
    }

    fn apply(&mut self, c: &Change) {
        let nth = |n: usize, len: usize| n % len.max(1);
        match *c {
            Change::AddService(n) => {
                let name = SERVICES[nth(n, SERVICES.len())];
                self.services
                    .entry(name)
                    .or_insert_with(|| BTreeMap::from([(ENTITIES[0], vec![0])]));
            }
            Change::RemoveService(n) if self.services.len() > 1 => {
                let key = *self
                    .services
                    .keys()
                    .nth(nth(n, self.services.len()))
                    .unwrap();
                self.services.remove(key);
            }
            Change::AddEntity(s, e) => {
                let key = *self
                    .services
                    .keys()
                    .nth(nth(s, self.services.len()))
                    .unwrap();
                let name = ENTITIES[nth(e, ENTITIES.len())];
                self.services
                    .get_mut(key)
                    .unwrap()
                    .entry(name)
                    .or_insert_with(|| vec![0]);
            }
            Change::RemoveEntity(s, e) => {
                let key = *self
                    .services
                    .keys()
                    .nth(nth(s, self.services.len()))
                    .unwrap();
                let entities = self.services.get_mut(key).unwrap();
                if entities.len() > 1 {
                    let name = *entities.keys().nth(nth(e, entities.len())).unwrap();
                    entities.remove(name);
                }
            }
            Change::AddField(s, e, f) | Change::RenameField(s, e, f) => {
                let key = *self
                    .services
                    .keys()
                    .nth(nth(s, self.services.len()))
                    .unwrap();
                let entities = self.services.get_mut(key).unwrap();
                let name = *entities.keys().nth(nth(e, entities.len())).unwrap();
                let fields = entities.get_mut(name).unwrap();
                let f = nth(f, FIELDS.len());
                if fields.contains(&f) {
                    return;
                }
                if matches!(c, Change::RenameField(..)) && fields.len() > 1 {
                    fields.remove(0);
                }
                fields.push(f);
            }
            Change::RemoveField(s, e, f) => {
                let key = *self
                    .services
                    .keys()
                    .nth(nth(s, self.services.len()))
                    .unwrap();
                let entities = self.services.get_mut(key).unwrap();
                let name = *entities.keys().nth(nth(e, entities.len())).unwrap();
                let fields = entities.get_mut(name).unwrap();
                if fields.len() > 1 {
                    let i = nth(f, fields.len());
                    fields.remove(i);
                }
            }
            Change::RemoveService(_) => {}
        }
    }
}

#[derive(Debug, Clone)]
enum Change {
    AddService(usize),
    RemoveService(usize),
    AddEntity(usize, usize),
    RemoveEntity(usize, usize),
    AddField(usize, usize, usize),
    RemoveField(usize, usize, usize),
    RenameField(usize, usize, usize),
}

#[derive(Debug, Clone)]
enum Step {
    Change(Change),
    /// A line added to a file: (which file, at which line, into a generated file or not).
    Edit(usize, usize, bool),
}

fn step() -> impl Strategy<Value = Step> {
    let i = || 0usize..16;
    prop_oneof![
        i().prop_map(|n| Step::Change(Change::AddService(n))),
        i().prop_map(|n| Step::Change(Change::RemoveService(n))),
        (i(), i()).prop_map(|(s, e)| Step::Change(Change::AddEntity(s, e))),
        (i(), i()).prop_map(|(s, e)| Step::Change(Change::RemoveEntity(s, e))),
        (i(), i(), i()).prop_map(|(s, e, f)| Step::Change(Change::AddField(s, e, f))),
        (i(), i(), i()).prop_map(|(s, e, f)| Step::Change(Change::RemoveField(s, e, f))),
        (i(), i(), i()).prop_map(|(s, e, f)| Step::Change(Change::RenameField(s, e, f))),
        (0usize..1000, 0usize..1000, any::<bool>()).prop_map(|(f, l, g)| Step::Edit(f, l, g)),
        (0usize..1000, 0usize..1000, any::<bool>()).prop_map(|(f, l, g)| Step::Edit(f, l, g)),
    ]
}

/// Every file of the workspace (relative path → bytes), the generator's bookkeeping aside.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn generated(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).contains("@generated by msa-gen")
}

/// Source files a user would edit: Rust and TOML files, generated or not (`generated`).
fn editable(files: &BTreeMap<String, Vec<u8>>, want_generated: bool) -> Vec<String> {
    files
        .iter()
        .filter(|(p, b)| {
            (p.ends_with(".rs") || p.ends_with(".sql"))
                && !p.starts_with(".msa-gen")
                && generated(b) == want_generated
        })
        .map(|(p, _)| p.clone())
        .collect()
}

fn regenerate(dir: &Path, model: &Model) -> Vec<msa_gen::write::Change> {
    let text = model.text();
    std::fs::write(dir.join("blueprint.toml"), &text).unwrap();
    msa_gen::regenerate(dir, &text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn check_history(steps: &[Step]) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("ws");
    std::fs::create_dir_all(&dir).unwrap();
    let mut model = Model::start();
    regenerate(&dir, &model);
    // (file, line) the user added; lines are unique, so presence is enough.
    let mut added: Vec<(String, String)> = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Edit(f, l, into_generated) => {
                let files = snapshot(&dir);
                let candidates = editable(&files, *into_generated);
                if candidates.is_empty() {
                    continue;
                }
                let path = &candidates[f % candidates.len()];
                let text = String::from_utf8_lossy(&files[path]).into_owned();
                let mut lines: Vec<&str> = text.lines().collect();
                let comment = if path.ends_with(".sql") { "--" } else { "//" };
                let line = format!("{comment} user edit {n}");
                let at = l % (lines.len() + 1);
                lines.insert(at, &line);
                std::fs::write(dir.join(path), lines.join("\n") + "\n").unwrap();
                added.push((path.clone(), line));
            }
            Step::Change(c) => {
                model.apply(c);
                let changes = regenerate(&dir, &model);
                for (path, line) in &added {
                    let now = std::fs::read_to_string(dir.join(path)).unwrap_or_default();
                    let reported = changes
                        .iter()
                        .any(|c| &c.path == path && c.action == Action::Conflict);
                    prop_assert!(
                        now.contains(line.as_str()),
                        "`{line}` lost from {path} after {c:?} (conflict reported: {reported})"
                    );
                    if now.contains("<<<<<<<") {
                        prop_assert!(reported, "{path} has conflict markers nobody reported");
                    }
                }
                // Nothing changed: nothing is written.
                let before = snapshot(&dir);
                regenerate(&dir, &model);
                prop_assert!(
                    before == snapshot(&dir),
                    "a second generation changed bytes"
                );
            }
        }
    }
    // Untouched generated files are what a fresh `new` writes.
    let fresh_dir = tmp.path().join("fresh");
    std::fs::create_dir_all(&fresh_dir).unwrap();
    regenerate(&fresh_dir, &model);
    let (ours, fresh) = (snapshot(&dir), snapshot(&fresh_dir));
    for (path, bytes) in &fresh {
        if !generated(bytes) || path.contains("/migrations/") || path.starts_with(".msa-gen") {
            continue;
        }
        if added.iter().any(|(p, _)| p == path) {
            continue;
        }
        prop_assert!(
            ours.get(path) == Some(bytes),
            "{path} differs from a fresh generation of the final blueprint"
        );
    }
    for (path, bytes) in &ours {
        if generated(bytes)
            && !fresh.contains_key(path)
            && !path.contains("/migrations/")
            && !path.starts_with(".msa-gen")
        {
            prop_assert!(
                added.iter().any(|(p, _)| p == path),
                "{path} is no longer generated and was not edited, yet it is still there"
            );
        }
    }
    Ok(())
}

// 500 cases in two halves of 250, which the test harness runs on two threads.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(250))]

    #[test]
    fn histories_of_changes_and_edits_lose_nothing(steps in prop::collection::vec(step(), 1..6)) {
        check_history(&steps)?;
    }

    #[test]
    fn more_histories_of_changes_and_edits_lose_nothing(steps in prop::collection::vec(step(), 1..6)) {
        check_history(&steps)?;
    }
}
