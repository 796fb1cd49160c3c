//! The `templates/` tree, embedded in the binary so `msa-gen` runs from anywhere.
//!
//! Files ending in `.tera` are templates; everything under `templates/crates/runtime/` is a
//! real crate of this repository, copied verbatim into each generated workspace.

use include_dir::{Dir, DirEntry, include_dir};

pub static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../templates");

/// Directories and files copied verbatim into the workspace at the same relative path.
pub const VERBATIM: &[&str] = &[
    "crates/runtime",
    "crates/e2e-kit",
    "crates/contracts/src/envelope.rs",
];

/// Every `.tera` template: (name relative to `templates/`, text).
pub fn templates() -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    walk(&TEMPLATES, &mut |path, bytes| {
        if path.ends_with(".tera")
            && let Ok(text) = std::str::from_utf8(bytes)
        {
            out.push((path.to_string(), text));
        }
    });
    out.sort();
    out
}

/// Every verbatim file: (workspace-relative path, bytes), sorted by path.
pub fn verbatim() -> Vec<(String, &'static [u8])> {
    let mut out = Vec::new();
    for path in VERBATIM {
        if let Some(d) = TEMPLATES.get_dir(path) {
            walk(d, &mut |p, bytes| out.push((p.to_string(), bytes)));
        } else if let Some(f) = TEMPLATES.get_file(path) {
            out.push((path.to_string(), f.contents()));
        }
    }
    out.sort();
    out
}

fn walk(dir: &Dir<'static>, f: &mut dyn FnMut(&str, &'static [u8])) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => walk(d, f),
            DirEntry::File(file) => {
                let path = file.path().to_string_lossy().replace('\\', "/");
                f(&path, file.contents());
            }
        }
    }
}
