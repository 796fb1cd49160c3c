//! Stage 5, write: rendered files → the workspace on disk, merging with what is there, and the
//! comparison behind `msa-gen plan`.
//!
//! The workspace keeps, in `.msa-gen/`, the manifest (generator version, blueprint hash, every
//! file's ownership and SHA-256) and a content-addressed store of every file exactly as msa-gen
//! rendered it last time (`objects/<sha256>`): the baseline of the next 3-way merge.
//!
//! | file | on disk | what happens |
//! |---|---|---|
//! | generated | absent | created |
//! | generated | as rendered last time | replaced by the new rendering |
//! | generated | edited, generator's version unchanged | kept as edited |
//! | generated | edited, generator's version changed | 3-way merge; overlapping edits become conflict markers |
//! | user-owned, blueprint | absent | created |
//! | user-owned | present | never touched; a changed scaffold goes to `.msa-gen/proposed/` |
//! | no longer planned | unchanged since written | deleted |
//! | no longer planned | edited, or user-owned | kept and reported |
//!
//! No timestamps are recorded, so the same blueprint always yields the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::Ownership;
use crate::render::RenderedFile;

pub const MANIFEST: &str = ".msa-gen/manifest.json";
pub const OBJECTS: &str = ".msa-gen/objects";
pub const PROPOSED: &str = ".msa-gen/proposed";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestEntry {
    pub ownership: Ownership,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub generator: String,
    pub blueprint_sha256: String,
    pub files: BTreeMap<String, ManifestEntry>,
}

impl<'de> Deserialize<'de> for Ownership {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "generated" => Ok(Ownership::Generated),
            "user" => Ok(Ownership::User),
            "input" => Ok(Ownership::Input),
            other => Err(serde::de::Error::custom(format!(
                "unknown ownership `{other}`"
            ))),
        }
    }
}

pub use crate::digest::sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Create,
    /// Untouched since last time: replaced by the new rendering.
    Update,
    Unchanged,
    /// User-owned (or the blueprint) and present: left alone.
    KeepUser,
    /// User-owned and present, and the scaffold changed: the new one is offered beside it.
    Propose,
    /// Edited by the user; the generator's version did not change: kept as edited.
    KeepEdit,
    /// Edited by the user and changed by the generator, without overlap: merged.
    Merge,
    /// Edited by the user and changed by the generator in the same place: conflict markers.
    Conflict,
    /// No longer planned and unchanged since written: removed.
    Delete,
    /// No longer planned, but edited (or user-owned): kept.
    KeepOrphan,
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::KeepUser => "keep (yours)",
            Action::Propose => "propose",
            Action::KeepEdit => "keep (your edit)",
            Action::Merge => "merge",
            Action::Conflict => "CONFLICT",
            Action::Delete => "delete",
            Action::KeepOrphan => "keep (no longer generated)",
        }
    }

    /// Whether `plan` lists it (everything that is not a no-op).
    pub fn is_change(self) -> bool {
        !matches!(
            self,
            Action::Unchanged | Action::KeepUser | Action::KeepEdit
        )
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub path: String,
    pub action: Action,
    /// What is on disk now (for diffs).
    pub old: Option<Vec<u8>>,
    /// What will be on disk (or, for [`Action::Propose`], what is offered).
    pub new: Option<Vec<u8>>,
    /// Conflict regions, for [`Action::Conflict`].
    pub conflicts: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid manifest: {message}")]
    Manifest { path: PathBuf, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, WriteError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, bytes).map_err(io(path))
}

/// Writes every file: each folder made once, then the files on a few threads (creating files
/// is most of a generation's time left on a 2-core machine).
fn write_files(files: &[(PathBuf, &[u8])]) -> Result<(), WriteError> {
    let folders: std::collections::BTreeSet<&Path> =
        files.iter().filter_map(|(p, _)| p.parent()).collect();
    for folder in folders {
        std::fs::create_dir_all(folder).map_err(io(folder))?;
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 4);
    let chunk = files.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .try_for_each(|(path, bytes)| std::fs::write(path, bytes).map_err(io(path)))
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join().unwrap_or_else(|_| {
                Err(WriteError::Io {
                    path: PathBuf::new(),
                    source: std::io::Error::other("a writer thread panicked"),
                })
            })
        })
    })
}

pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, WriteError> {
    let path = dir.join(MANIFEST);
    let Some(bytes) = read_optional(&path)? else {
        return Ok(None);
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| WriteError::Manifest {
        path: path.clone(),
        message: e.to_string(),
    })?;
    // A cloned workspace is not trusted: every path must stay inside it (a generated entry is
    // deleted when the plan drops it), and every hash must name an object.
    for (file, entry) in &manifest.files {
        let inside = !file.is_empty()
            && Path::new(file)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return Err(WriteError::Manifest {
                path,
                message: format!("`{file}` is not a relative path inside the workspace"),
            });
        }
        let hash = entry.sha256.len() == 64 && entry.sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !hash {
            return Err(WriteError::Manifest {
                path,
                message: format!("`{file}` has no SHA-256 (`{}`)", entry.sha256),
            });
        }
    }
    Ok(Some(manifest))
}

/// The last rendering of `path`, from the object store.
fn baseline(
    dir: &Path,
    manifest: Option<&Manifest>,
    path: &str,
) -> Result<Option<Vec<u8>>, WriteError> {
    match manifest.and_then(|m| m.files.get(path)) {
        Some(entry) => read_optional(&dir.join(OBJECTS).join(&entry.sha256)),
        None => Ok(None),
    }
}

fn decide(dir: &Path, manifest: Option<&Manifest>, f: &RenderedFile) -> Result<Change, WriteError> {
    let old = read_optional(&dir.join(&f.path))?;
    let base = baseline(dir, manifest, &f.path)?;
    let recorded = manifest
        .and_then(|m| m.files.get(&f.path))
        .map(|e| e.sha256.as_str());
    let change = |action, new: Option<Vec<u8>>, conflicts| Change {
        path: f.path.clone(),
        action,
        old: old.clone(),
        new,
        conflicts,
    };
    let Some(disk) = &old else {
        return Ok(change(Action::Create, Some(f.bytes.clone()), 0));
    };
    if f.ownership != Ownership::Generated {
        let scaffold_changed = match &base {
            Some(b) => *b != f.bytes,
            None => recorded.is_some_and(|h| h != sha256(&f.bytes)),
        };
        // A proposal not yet taken stays on offer until the scaffold changes again.
        let still_offered = read_optional(&dir.join(PROPOSED).join(&f.path))?.as_deref()
            == Some(f.bytes.as_slice());
        let action = if f.ownership == Ownership::User
            && (scaffold_changed || still_offered)
            && *disk != f.bytes
        {
            Action::Propose
        } else {
            Action::KeepUser
        };
        return Ok(change(action, Some(f.bytes.clone()), 0));
    }
    if *disk == f.bytes {
        return Ok(change(Action::Unchanged, Some(f.bytes.clone()), 0));
    }
    let untouched = match &base {
        Some(b) => b == disk,
        None => recorded == Some(sha256(disk).as_str()),
    };
    if untouched {
        return Ok(change(Action::Update, Some(f.bytes.clone()), 0));
    }
    // Markers of an earlier conflict that were never resolved: still a conflict, whatever the
    // generator does now (a resolution that keeps a marker is reported again).
    let leftover = crate::merge::leftover_conflicts(&String::from_utf8_lossy(disk));
    if base.as_ref() == Some(&f.bytes) {
        if leftover > 0 {
            return Ok(change(Action::Conflict, Some(disk.clone()), leftover));
        }
        return Ok(change(Action::KeepEdit, Some(disk.clone()), 0));
    }
    let base_text = base
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let merged = crate::merge::merge3(
        &base_text,
        &String::from_utf8_lossy(disk),
        &String::from_utf8_lossy(&f.bytes),
        &f.path,
    );
    let conflicts = merged.conflicts + leftover;
    let action = if conflicts == 0 {
        Action::Merge
    } else {
        Action::Conflict
    };
    Ok(change(action, Some(merged.text.into_bytes()), conflicts))
}

/// What writing `files` into `dir` would do, file by file, sorted by path.
pub fn changes(dir: &Path, files: &[RenderedFile]) -> Result<Vec<Change>, WriteError> {
    let manifest = read_manifest(dir)?;
    let mut out = Vec::new();
    for f in files {
        out.push(decide(dir, manifest.as_ref(), f)?);
    }
    if let Some(m) = &manifest {
        for (path, entry) in &m.files {
            if files.iter().any(|f| &f.path == path) {
                continue;
            }
            let Some(disk) = read_optional(&dir.join(path))? else {
                continue;
            };
            let unchanged =
                entry.ownership == Ownership::Generated && sha256(&disk) == entry.sha256;
            let action = if unchanged {
                Action::Delete
            } else {
                Action::KeepOrphan
            };
            out.push(Change {
                path: path.clone(),
                action,
                old: Some(disk),
                new: None,
                conflicts: 0,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Applies the changes to `dir` and records the new baseline. Returns the changes applied.
pub fn apply(
    dir: &Path,
    files: &[RenderedFile],
    blueprint: &[u8],
) -> Result<Vec<Change>, WriteError> {
    let changes = changes(dir, files)?;
    let proposed_dir = dir.join(PROPOSED);
    if proposed_dir.exists() {
        std::fs::remove_dir_all(&proposed_dir).map_err(io(&proposed_dir))?;
    }
    let mut writes: Vec<(PathBuf, &[u8])> = Vec::new();
    for c in &changes {
        let path = dir.join(&c.path);
        match (c.action, &c.new) {
            (Action::Create | Action::Update | Action::Merge | Action::Conflict, Some(bytes)) => {
                writes.push((path, bytes));
            }
            (Action::Propose, Some(bytes)) => writes.push((proposed_dir.join(&c.path), bytes)),
            (Action::Delete, _) => {
                std::fs::remove_file(&path).map_err(io(&path))?;
                remove_empty_parents(dir, &path);
            }
            _ => {}
        }
    }
    write_files(&writes)?;
    let manifest = Manifest {
        generator: format!("msa-gen {}", env!("CARGO_PKG_VERSION")),
        blueprint_sha256: sha256(blueprint),
        files: files
            .iter()
            .map(|f| {
                (
                    f.path.clone(),
                    ManifestEntry {
                        ownership: f.ownership,
                        sha256: sha256(&f.bytes),
                    },
                )
            })
            .collect(),
    };
    store_objects(dir, files)?;
    let path = dir.join(MANIFEST);
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| WriteError::Manifest {
        path: path.clone(),
        message: e.to_string(),
    })?;
    json.push(b'\n');
    write_file(&path, &json)?;
    Ok(changes)
}

/// Writes the baseline of every file and removes objects no file refers to any more.
fn store_objects(dir: &Path, files: &[RenderedFile]) -> Result<(), WriteError> {
    let objects = dir.join(OBJECTS);
    std::fs::create_dir_all(&objects).map_err(io(&objects))?;
    let mut keep = std::collections::BTreeSet::new();
    let mut missing: Vec<(PathBuf, &[u8])> = Vec::new();
    for f in files {
        let hash = sha256(&f.bytes);
        let path = objects.join(&hash);
        if keep.insert(hash) && !path.exists() {
            missing.push((path, &f.bytes));
        }
    }
    write_files(&missing)?;
    for entry in std::fs::read_dir(&objects).map_err(io(&objects))? {
        let entry = entry.map_err(io(&objects))?;
        if !keep.contains(entry.file_name().to_string_lossy().as_ref()) {
            std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
        }
    }
    Ok(())
}

fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, ownership: Ownership, text: &str) -> RenderedFile {
        RenderedFile {
            path: path.into(),
            ownership,
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn actions(d: &Path, files: &[RenderedFile]) -> Vec<(String, Action)> {
        changes(d, files)
            .unwrap()
            .into_iter()
            .map(|c| (c.path, c.action))
            .collect()
    }

    fn read(d: &Path, p: &str) -> String {
        std::fs::read_to_string(d.join(p)).unwrap()
    }

    #[test]
    fn a_manifest_path_outside_the_workspace_is_refused_and_nothing_is_deleted() {
        let outer = tempfile::tempdir().unwrap();
        let d = outer.path().join("ws");
        let v1 = vec![file("gen.rs", Ownership::Generated, "v1\n")];
        apply(&d, &v1, b"bp").unwrap();
        // A hostile clone marks a file outside the workspace as generated, with its hash:
        // generate would delete it as dropped from the plan.
        let victim = outer.path().join("victim.txt");
        std::fs::write(&victim, "keep me\n").unwrap();
        for bad in ["../victim.txt", victim.to_str().unwrap()] {
            let mut m: Manifest =
                serde_json::from_slice(&std::fs::read(d.join(MANIFEST)).unwrap()).unwrap();
            m.files.retain(|k, _| k == "gen.rs");
            m.files.insert(
                bad.into(),
                ManifestEntry {
                    ownership: Ownership::Generated,
                    sha256: sha256(b"keep me\n"),
                },
            );
            std::fs::write(d.join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
            let e = apply(&d, &v1, b"bp").unwrap_err();
            assert!(e.to_string().contains("not a relative path"), "{e}");
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
        }
        let mut m: Manifest =
            serde_json::from_slice(&std::fs::read(d.join(MANIFEST)).unwrap()).unwrap();
        m.files.retain(|k, _| k == "gen.rs");
        m.files.get_mut("gen.rs").unwrap().sha256 = "../../victim".into();
        std::fs::write(d.join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(
            apply(&d, &v1, b"bp")
                .unwrap_err()
                .to_string()
                .contains("SHA-256")
        );
    }

    #[test]
    fn user_files_are_never_overwritten_and_stale_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let v1 = vec![
            file("gen.rs", Ownership::Generated, "v1\n"),
            file("user.rs", Ownership::User, "hooks v1\n"),
            file("old.rs", Ownership::Generated, "old\n"),
        ];
        apply(d, &v1, b"bp").unwrap();
        std::fs::write(d.join("user.rs"), "my code\n").unwrap();
        let v2 = vec![
            file("gen.rs", Ownership::Generated, "v2\n"),
            file("user.rs", Ownership::User, "hooks v2\n"),
        ];
        assert_eq!(
            actions(d, &v2),
            vec![
                ("gen.rs".into(), Action::Update),
                ("old.rs".into(), Action::Delete),
                ("user.rs".into(), Action::Propose)
            ]
        );
        apply(d, &v2, b"bp").unwrap();
        assert_eq!(read(d, "user.rs"), "my code\n");
        assert_eq!(read(d, ".msa-gen/proposed/user.rs"), "hooks v2\n");
        assert_eq!(read(d, "gen.rs"), "v2\n");
        assert!(!d.join("old.rs").exists());
        // Nothing changed: a byte-for-byte no-op, and the proposal stays offered.
        assert!(
            changes(d, &v2)
                .unwrap()
                .iter()
                .all(|c| !c.action.is_change() || c.action == Action::Propose)
        );
        apply(d, &v2, b"bp").unwrap();
        assert_eq!(read(d, ".msa-gen/proposed/user.rs"), "hooks v2\n");
        // Taken (the user's file is now the scaffold): the offer goes.
        std::fs::write(d.join("user.rs"), "hooks v2\n").unwrap();
        apply(d, &v2, b"bp").unwrap();
        assert!(!d.join(".msa-gen/proposed/user.rs").exists());
    }

    #[test]
    fn edits_inside_generated_files_are_merged_or_marked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        apply(
            d,
            &[file("g.rs", Ownership::Generated, "a\nb\nc\nd\n")],
            b"bp",
        )
        .unwrap();
        std::fs::write(d.join("g.rs"), "a\nmine\nb\nc\nd\n").unwrap();
        // Generator unchanged: the edit stays.
        assert_eq!(
            actions(d, &[file("g.rs", Ownership::Generated, "a\nb\nc\nd\n")]),
            vec![("g.rs".into(), Action::KeepEdit)]
        );
        // Generator changes elsewhere: merged.
        apply(
            d,
            &[file("g.rs", Ownership::Generated, "a\nb\nc\nD\n")],
            b"bp",
        )
        .unwrap();
        assert_eq!(read(d, "g.rs"), "a\nmine\nb\nc\nD\n");
        // Generator changes the same place: conflict markers, both versions kept.
        let c = apply(
            d,
            &[file("g.rs", Ownership::Generated, "a\ntheirs\nb\nc\nD\n")],
            b"bp",
        )
        .unwrap();
        assert_eq!((c[0].action, c[0].conflicts), (Action::Conflict, 1));
        let text = read(d, "g.rs");
        assert!(
            text.contains("<<<<<<< yours: g.rs\nmine\n")
                && text.contains("=======\ntheirs\n>>>>>>> generated now\n"),
            "{text}"
        );
        // Generated again without resolving: still a conflict, the file as the user left it.
        let again = apply(
            d,
            &[file("g.rs", Ownership::Generated, "a\ntheirs\nb\nc\nD\n")],
            b"bp",
        )
        .unwrap();
        assert_eq!((again[0].action, again[0].conflicts), (Action::Conflict, 1));
        assert_eq!(read(d, "g.rs"), text);
        // Resolved (markers gone): the user's resolution is kept.
        std::fs::write(d.join("g.rs"), "a\nmine\ntheirs\nb\nc\nD\n").unwrap();
        let resolved = apply(
            d,
            &[file("g.rs", Ownership::Generated, "a\ntheirs\nb\nc\nD\n")],
            b"bp",
        )
        .unwrap();
        assert_eq!(resolved[0].action, Action::KeepEdit);
    }

    #[test]
    fn edited_files_that_are_no_longer_generated_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        apply(d, &[file("x/old.rs", Ownership::Generated, "old")], b"bp").unwrap();
        std::fs::write(d.join("x/old.rs"), "edited").unwrap();
        let c = apply(d, &[], b"bp").unwrap();
        assert_eq!(c[0].action, Action::KeepOrphan);
        assert!(d.join("x/old.rs").exists());
        assert_eq!(
            std::fs::read_dir(d.join(OBJECTS)).unwrap().count(),
            0,
            "unreferenced baselines are removed"
        );
    }
}
