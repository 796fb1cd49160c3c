//! rustfmt's output kept on disk between runs: formatting dominates a generation, and its
//! output depends only on the input file and rustfmt's version. One entry per formatted file,
//! named by the digest of (rustfmt version, input), holding the digest of the output and the
//! output, checked when read: a damaged entry is a miss, never wrong output.
//!
//! The cache lives in `$MSA_GEN_CACHE_DIR`, else `$XDG_CACHE_HOME/msa-gen`, else
//! `$HOME/.cache/msa-gen`; `MSA_GEN_CACHE_DIR=off` turns it off.

use std::path::PathBuf;

use crate::digest::sha256;

/// The cache of one rustfmt version.
pub struct DiskCache {
    dir: PathBuf,
    version: String,
}

fn base() -> Option<PathBuf> {
    match std::env::var_os("MSA_GEN_CACHE_DIR") {
        Some(v) if v == "off" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(|v| PathBuf::from(v).join("msa-gen"))
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache/msa-gen"))
            }),
    }
}

impl DiskCache {
    /// The cache for `rustfmt_version` (its `--version` line and the arguments it runs with),
    /// `None` when no cache folder can be named.
    pub fn open(rustfmt_version: &str) -> Option<Self> {
        Self::at(base()?, rustfmt_version)
    }

    /// The cache in `base`.
    pub fn at(base: PathBuf, rustfmt_version: &str) -> Option<Self> {
        Some(Self {
            dir: base.join("rustfmt"),
            version: rustfmt_version.to_string(),
        })
    }

    fn entry(&self, raw: &[u8]) -> PathBuf {
        let mut key = self.version.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(raw);
        let digest = sha256(&key);
        self.dir.join(&digest[..2]).join(&digest[2..])
    }

    /// rustfmt's output for `raw`, when kept and intact.
    pub fn get(&self, raw: &[u8]) -> Option<Vec<u8>> {
        let stored = std::fs::read(self.entry(raw)).ok()?;
        let (digest, formatted) = stored.split_at_checked(65)?;
        (digest[64] == b'\n' && digest[..64] == *sha256(formatted).as_bytes())
            .then(|| formatted.to_vec())
    }

    /// Keeps rustfmt's output for `raw`; a failure only means a later miss.
    pub fn put(&self, raw: &[u8], formatted: &[u8]) {
        let path = self.entry(raw);
        let Some(parent) = path.parent() else {
            return;
        };
        if std::fs::create_dir_all(parent).is_err() {
            return;
        }
        let mut stored = sha256(formatted).into_bytes();
        stored.push(b'\n');
        stored.extend_from_slice(formatted);
        // Written aside and renamed, so a reader never sees half an entry.
        let aside = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&aside, &stored).is_ok() && std::fs::rename(&aside, &path).is_err() {
            let _ = std::fs::remove_file(&aside);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_per_version_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = DiskCache::at(dir.path().to_path_buf(), "rustfmt 1.8.0").unwrap();
        let b = DiskCache::at(dir.path().to_path_buf(), "rustfmt 1.9.0").unwrap();
        assert_eq!(a.get(b"fn  x(){}"), None);
        a.put(b"fn  x(){}", b"fn x() {}\n");
        assert_eq!(a.get(b"fn  x(){}").as_deref(), Some(&b"fn x() {}\n"[..]));
        assert_eq!(b.get(b"fn  x(){}"), None, "another rustfmt formats anew");
        // A damaged entry is a miss.
        let path = a.entry(b"fn  x(){}");
        let mut stored = std::fs::read(&path).unwrap();
        let last = stored.len() - 2;
        stored[last] = b'X';
        std::fs::write(&path, &stored).unwrap();
        assert_eq!(a.get(b"fn  x(){}"), None);
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(a.get(b"fn  x(){}"), None);
    }
}
