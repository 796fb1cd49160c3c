//! The config server's Git store (feature `git`): the configuration files as they are at a label
//! (a branch, a tag or a commit) of a Git repository, read with `gix`. The repository is a local
//! path, read in place, or a URL (`file://`, `ssh://`, `git://`), cloned bare into a cache
//! folder and fetched again on every refresh. Its root holds what the workspace's `config/`
//! holds: `<process>.toml`, `<process>-<profile>.toml`, `_shared*.toml`.
//!
//! A revision is read whole: every `*.toml` file at the root must parse, or the revision is
//! refused ([`GitStore::read`] names the file), so the server keeps serving the last good one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// The configuration files of one commit, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// The commit's full hexadecimal id.
    pub commit: String,
    /// File name (`orders.toml`) → its table.
    pub files: BTreeMap<String, toml::Table>,
}

/// Where the repository is.
#[derive(Debug, Clone)]
enum Location {
    /// A repository on this machine (bare, or with a work tree), read in place.
    Local(PathBuf),
    /// A remote repository, mirrored into `cache`.
    Remote { url: String, cache: PathBuf },
}

/// A Git repository of configuration files.
#[derive(Debug, Clone)]
pub struct GitStore {
    location: Location,
}

/// Whether `repo` names a remote repository (a URL, or `user@host:path`) rather than a path.
pub fn is_url(repo: &str) -> bool {
    repo.contains("://")
        || repo
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'))
}

/// A label is a branch, a tag or a commit id: letters, digits, `.`, `_`, `-` and `/`, not
/// starting with `-` or `.`, without `..`. Anything else (revision syntax such as `@{1}` or
/// `^`) is refused before it reaches Git.
pub fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 200
        && !label.starts_with(['-', '.', '/'])
        && !label.contains("..")
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

fn fail(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl GitStore {
    /// The store of `repo`: a path, or a URL mirrored into `cache` (created when missing).
    pub fn new(repo: &str, cache: &Path) -> Self {
        let location = if is_url(repo) {
            Location::Remote {
                url: repo.to_string(),
                cache: cache.to_path_buf(),
            }
        } else {
            Location::Local(PathBuf::from(repo))
        };
        Self { location }
    }

    /// Brings a remote repository's branches and tags up to date (cloning it the first time);
    /// nothing for a local one. Blocking: call it off the async runtime.
    pub fn fetch(&self) -> Result<(), String> {
        let Location::Remote { url, cache } = &self.location else {
            return Ok(());
        };
        let interrupt = AtomicBool::new(false);
        if !cache.join("HEAD").exists() {
            std::fs::create_dir_all(cache).map_err(|e| fail(&cache.display().to_string(), e))?;
            let mut clone = gix::prepare_clone_bare(url.as_str(), cache)
                .map_err(|e| fail(&format!("clone {url}"), e))?;
            clone
                .fetch_only(gix::progress::Discard, &interrupt)
                .map_err(|e| fail(&format!("clone {url}"), e))?;
            return Ok(());
        }
        let repo = gix::open(cache).map_err(|e| fail(&cache.display().to_string(), e))?;
        let remote = repo
            .remote_at(url.as_str())
            .and_then(|r| {
                r.with_refspecs(
                    ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                    gix::remote::Direction::Fetch,
                )
            })
            .map_err(|e| fail(&format!("remote {url}"), e))?;
        remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| fail(&format!("connect {url}"), e))?
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| fail(&format!("fetch {url}"), e))?
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| fail(&format!("fetch {url}"), e))?;
        Ok(())
    }

    fn open(&self) -> Result<gix::Repository, String> {
        let path = match &self.location {
            Location::Local(p) => p,
            Location::Remote { cache, .. } => cache,
        };
        gix::open(path).map_err(|e| fail(&path.display().to_string(), e))
    }

    /// The commit `label` points at now.
    pub fn resolve(&self, label: &str) -> Result<String, String> {
        let repo = self.open()?;
        Ok(commit_of(&repo, label)?.id.to_string())
    }

    /// The configuration files at `label`, every one parsed; the first file that is not valid
    /// TOML refuses the whole revision.
    pub fn read(&self, label: &str) -> Result<Revision, String> {
        let repo = self.open()?;
        let commit = commit_of(&repo, label)?;
        let id = commit.id.to_string();
        let tree = commit
            .tree()
            .map_err(|e| fail(&format!("the tree of {id}"), e))?;
        let mut files = BTreeMap::new();
        for entry in tree.iter() {
            let entry = entry.map_err(|e| fail(&format!("the tree of {id}"), e))?;
            let name = entry.filename().to_string();
            if !entry.mode().is_blob() || !name.ends_with(".toml") {
                continue;
            }
            let blob = entry
                .id()
                .object()
                .map_err(|e| fail(&format!("{name} at {id}"), e))?;
            let text = std::str::from_utf8(&blob.data)
                .map_err(|e| fail(&format!("{name} at {}", short(&id)), e))?;
            let table: toml::Table =
                toml::from_str(text).map_err(|e| fail(&format!("{name} at {}", short(&id)), e))?;
            files.insert(name, table);
        }
        Ok(Revision { commit: id, files })
    }
}

/// The first 12 digits of a commit id, for messages.
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn commit_of<'r>(repo: &'r gix::Repository, label: &str) -> Result<gix::Commit<'r>, String> {
    if !valid_label(label) {
        return Err(format!("`{label}` is not a branch, tag or commit name"));
    }
    // A label is a branch or tag of the repository, or of its `origin` (a clone with a work
    // tree keeps the remote's branches there).
    let id = repo
        .rev_parse_single(label)
        .or_else(|_| repo.rev_parse_single(format!("origin/{label}").as_str()))
        .map_err(|e| fail(&format!("label `{label}`"), e))?;
    id.object()
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| fail(&format!("label `{label}`"), e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Command;

    /// `git` in `dir` (the tests build real repositories with the Git command line).
    pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@e",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A repository in a fresh folder with `files` committed on `main`.
    pub(crate) fn repo_with(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rt-git-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q"]);
        commit(&dir, files, "first");
        dir
    }

    /// Writes `files` and commits them; the new commit's id.
    pub(crate) fn commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", message]);
        git(dir, &["rev-parse", "HEAD"])
    }

    #[test]
    fn labels_resolve_to_their_commits_files() {
        let dir = repo_with("labels", &[("orders.toml", "greeting = \"hello\"\n")]);
        let first = git(&dir, &["rev-parse", "HEAD"]);
        git(&dir, &["tag", "v1"]);
        let second = commit(&dir, &[("orders.toml", "greeting = \"hi\"\n")], "second");
        let store = GitStore::new(dir.to_str().unwrap(), Path::new("/nonexistent"));
        store.fetch().unwrap();
        let main = store.read("main").unwrap();
        assert_eq!(main.commit, second);
        assert_eq!(main.files["orders.toml"]["greeting"].as_str(), Some("hi"));
        let v1 = store.read("v1").unwrap();
        assert_eq!(v1.commit, first);
        assert_eq!(v1.files["orders.toml"]["greeting"].as_str(), Some("hello"));
        assert_eq!(store.read(&first).unwrap(), v1, "a commit id is a label");
        assert_eq!(store.resolve("main").unwrap(), second);
        assert!(store.read("nope").is_err());
        for bad in ["main@{1}", "main^", "-x", "../x", ""] {
            assert!(
                store.read(bad).unwrap_err().contains("not a branch"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_revision_with_invalid_toml_is_refused_naming_the_file() {
        let dir = repo_with("bad", &[("orders.toml", "a = 1\n")]);
        commit(&dir, &[("payments.toml", "a = \n")], "broken");
        let store = GitStore::new(dir.to_str().unwrap(), Path::new("/nonexistent"));
        let e = store.read("main").unwrap_err();
        assert!(e.starts_with("payments.toml at "), "{e}");
        assert!(store.read("main~1").is_err(), "revision syntax is refused");
    }

    #[test]
    fn a_url_is_cloned_then_fetched() {
        let dir = repo_with("remote", &[("orders.toml", "a = 1\n")]);
        let cache = std::env::temp_dir().join(format!("rt-git-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let url = format!("file://{}", dir.display());
        assert!(is_url(&url) && is_url("git@example.com:config.git"));
        assert!(!is_url("/srv/config") && !is_url("config"));
        let store = GitStore::new(&url, &cache);
        store.fetch().unwrap();
        let first = store.read("main").unwrap();
        assert_eq!(first.files["orders.toml"]["a"].as_integer(), Some(1));
        let next = commit(&dir, &[("orders.toml", "a = 2\n")], "next");
        assert_eq!(store.read("main").unwrap(), first, "not fetched yet");
        store.fetch().unwrap();
        let fetched = store.read("main").unwrap();
        assert_eq!(fetched.commit, next);
        assert_eq!(fetched.files["orders.toml"]["a"].as_integer(), Some(2));
        // A branch moved back (a rollback) is followed too: refspecs are forced.
        git(&dir, &["reset", "-q", "--hard", "HEAD~1"]);
        store.fetch().unwrap();
        assert_eq!(store.read("main").unwrap().commit, first.commit);
    }
}
