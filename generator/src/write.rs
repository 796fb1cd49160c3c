//! Stage 5, write: rendered files → the workspace on disk, and the comparison behind
//! `msa-gen plan`.
//!
//! Rules: a generated file is rewritten when its bytes differ; a user-owned file (and the
//! blueprint) is written only when absent; a file generated last time but no longer planned is
//! deleted if it is unchanged since, and kept (and reported) if someone edited it. What was
//! generated is recorded in `.msa-gen/manifest.json` (paths, ownership, SHA-256), with no
//! timestamps, so the same blueprint always yields the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::Ownership;
use crate::render::RenderedFile;

pub const MANIFEST: &str = ".msa-gen/manifest.json";

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

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Create,
    Update,
    Unchanged,
    /// User-owned and present: left alone.
    KeepUser,
    Delete,
    /// No longer generated, but edited since: kept.
    KeepEdited,
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::KeepUser => "keep (user-owned)",
            Action::Delete => "delete",
            Action::KeepEdited => "keep (edited, no longer generated)",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub path: String,
    pub action: Action,
    /// What is on disk now (for diffs).
    pub old: Option<Vec<u8>>,
    /// What generation would write.
    pub new: Option<Vec<u8>>,
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

pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, WriteError> {
    let path = dir.join(MANIFEST);
    let Some(bytes) = read_optional(&path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| WriteError::Manifest {
            path,
            message: e.to_string(),
        })
}

/// What writing `files` into `dir` would do, file by file, sorted by path.
pub fn changes(dir: &Path, files: &[RenderedFile]) -> Result<Vec<Change>, WriteError> {
    let mut out = Vec::new();
    for f in files {
        let old = read_optional(&dir.join(&f.path))?;
        let action = match (&old, f.ownership) {
            (None, _) => Action::Create,
            (Some(_), Ownership::User | Ownership::Input) => Action::KeepUser,
            (Some(o), Ownership::Generated) if *o == f.bytes => Action::Unchanged,
            (Some(_), Ownership::Generated) => Action::Update,
        };
        out.push(Change {
            path: f.path.clone(),
            action,
            old,
            new: Some(f.bytes.clone()),
        });
    }
    if let Some(m) = read_manifest(dir)? {
        for (path, entry) in &m.files {
            if entry.ownership != Ownership::Generated || files.iter().any(|f| &f.path == path) {
                continue;
            }
            let Some(old) = read_optional(&dir.join(path))? else {
                continue;
            };
            let action = if sha256(&old) == entry.sha256 {
                Action::Delete
            } else {
                Action::KeepEdited
            };
            out.push(Change {
                path: path.clone(),
                action,
                old: Some(old),
                new: None,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Applies `changes` to `dir` and records the manifest. Returns the changes applied.
pub fn apply(
    dir: &Path,
    files: &[RenderedFile],
    blueprint: &[u8],
) -> Result<Vec<Change>, WriteError> {
    let changes = changes(dir, files)?;
    for c in &changes {
        let path = dir.join(&c.path);
        match (c.action, &c.new) {
            (Action::Create | Action::Update, Some(bytes)) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                std::fs::write(&path, bytes).map_err(io(&path))?;
            }
            (Action::Delete, _) => {
                std::fs::remove_file(&path).map_err(io(&path))?;
                remove_empty_parents(dir, &path);
            }
            _ => {}
        }
    }
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
    let path = dir.join(MANIFEST);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| WriteError::Manifest {
        path: path.clone(),
        message: e.to_string(),
    })?;
    json.push(b'\n');
    std::fs::write(&path, json).map_err(io(&path))?;
    Ok(changes)
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

    #[test]
    fn user_files_are_never_overwritten_and_stale_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let v1 = vec![
            file("gen.rs", Ownership::Generated, "v1"),
            file("user.rs", Ownership::User, "hooks v1"),
            file("old.rs", Ownership::Generated, "old"),
        ];
        apply(d, &v1, b"bp").unwrap();
        std::fs::write(d.join("user.rs"), "my code").unwrap();
        let v2 = vec![
            file("gen.rs", Ownership::Generated, "v2"),
            file("user.rs", Ownership::User, "hooks v2"),
        ];
        let actions: Vec<(String, Action)> = changes(d, &v2)
            .unwrap()
            .into_iter()
            .map(|c| (c.path, c.action))
            .collect();
        assert_eq!(
            actions,
            vec![
                ("gen.rs".into(), Action::Update),
                ("old.rs".into(), Action::Delete),
                ("user.rs".into(), Action::KeepUser)
            ]
        );
        apply(d, &v2, b"bp").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("user.rs")).unwrap(),
            "my code"
        );
        assert_eq!(std::fs::read_to_string(d.join("gen.rs")).unwrap(), "v2");
        assert!(!d.join("old.rs").exists());
    }

    #[test]
    fn edited_files_that_are_no_longer_generated_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        apply(d, &[file("x/old.rs", Ownership::Generated, "old")], b"bp").unwrap();
        std::fs::write(d.join("x/old.rs"), "edited").unwrap();
        let c = apply(d, &[], b"bp").unwrap();
        assert_eq!(c[0].action, Action::KeepEdited);
        assert!(d.join("x/old.rs").exists());
    }
}
