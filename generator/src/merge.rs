//! Three-way line merge (diff3) of a generated file: the version msa-gen wrote last time (the
//! baseline), what is on disk now (yours), and what msa-gen renders now (the generator's).
//!
//! Changes of one side only are taken; identical changes on both sides are taken once; changes
//! of both sides that overlap or touch become a conflict, written with the standard markers
//! (`<<<<<<<`, `|||||||`, `=======`, `>>>>>>>`) so that no line of either side is ever lost.

use similar::{Algorithm, DiffOp, capture_diff_slices};

/// The outcome of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub text: String,
    /// Number of conflict regions written with markers.
    pub conflicts: usize,
}

/// Base lines `start..end` replaced by `lines`.
#[derive(Debug, Clone)]
struct Hunk<'a> {
    start: usize,
    end: usize,
    lines: Vec<&'a str>,
}

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn hunks<'a>(base: &[&'a str], other: &[&'a str]) -> Vec<Hunk<'a>> {
    capture_diff_slices(Algorithm::Myers, base, other)
        .into_iter()
        .filter_map(|op| match op {
            DiffOp::Equal { .. } => None,
            DiffOp::Delete {
                old_index, old_len, ..
            } => Some(Hunk {
                start: old_index,
                end: old_index + old_len,
                lines: Vec::new(),
            }),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => Some(Hunk {
                start: old_index,
                end: old_index,
                lines: other[new_index..new_index + new_len].to_vec(),
            }),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => Some(Hunk {
                start: old_index,
                end: old_index + old_len,
                lines: other[new_index..new_index + new_len].to_vec(),
            }),
        })
        .collect()
}

/// `base[start..end]` with `side`'s hunks (all inside the range) applied.
fn apply<'a>(base: &[&'a str], start: usize, end: usize, side: &[&Hunk<'a>]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut pos = start;
    for h in side {
        out.extend_from_slice(&base[pos..h.start]);
        out.extend_from_slice(&h.lines);
        pos = h.end;
    }
    out.extend_from_slice(&base[pos..end]);
    out
}

fn push_block(out: &mut String, block: &[&str]) {
    for l in block {
        out.push_str(l);
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Merges `yours` and `theirs`, both derived from `base`. `label` names the file in markers.
pub fn merge3(base: &str, yours: &str, theirs: &str, label: &str) -> Merged {
    if yours == theirs {
        return Merged {
            text: yours.to_string(),
            conflicts: 0,
        };
    }
    if yours == base {
        return Merged {
            text: theirs.to_string(),
            conflicts: 0,
        };
    }
    if theirs == base {
        return Merged {
            text: yours.to_string(),
            conflicts: 0,
        };
    }
    let b = lines(base);
    let y = lines(yours);
    let t = lines(theirs);
    // Tag each hunk with its side (false = yours, true = theirs) and sort by base position.
    let mut all: Vec<(bool, Hunk)> = hunks(&b, &y)
        .into_iter()
        .map(|h| (false, h))
        .chain(hunks(&b, &t).into_iter().map(|h| (true, h)))
        .collect();
    all.sort_by_key(|(side, h)| (h.start, h.end, *side));

    let mut out = String::with_capacity(yours.len().max(theirs.len()));
    let mut conflicts = 0;
    let mut pos = 0;
    let mut i = 0;
    while i < all.len() {
        // A region: hunks whose base ranges overlap or touch.
        let start = all[i].1.start;
        let mut end = all[i].1.end;
        let mut j = i + 1;
        while j < all.len() && all[j].1.start <= end {
            end = end.max(all[j].1.end);
            j += 1;
        }
        let region = &all[i..j];
        for l in &b[pos..start] {
            out.push_str(l);
        }
        let mine: Vec<&Hunk> = region.iter().filter(|(s, _)| !*s).map(|(_, h)| h).collect();
        let gens: Vec<&Hunk> = region.iter().filter(|(s, _)| *s).map(|(_, h)| h).collect();
        let y_block = apply(&b, start, end, &mine);
        let t_block = apply(&b, start, end, &gens);
        if gens.is_empty() || y_block == t_block {
            y_block.iter().for_each(|l| out.push_str(l));
        } else if mine.is_empty() {
            t_block.iter().for_each(|l| out.push_str(l));
        } else {
            conflicts += 1;
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{YOURS}{label}\n"));
            push_block(&mut out, &y_block);
            out.push_str("||||||| generated last time\n");
            push_block(&mut out, &b[start..end]);
            out.push_str("=======\n");
            push_block(&mut out, &t_block);
            out.push_str(GENERATED_NOW);
            out.push('\n');
        }
        pos = end;
        i = j;
    }
    for l in &b[pos..] {
        out.push_str(l);
    }
    Merged {
        text: out,
        conflicts,
    }
}

/// The line opening a conflict region (followed by the file's path) and the one closing it.
const YOURS: &str = "<<<<<<< yours: ";
const GENERATED_NOW: &str = ">>>>>>> generated now";

/// Conflict regions written by [`merge3`] that are still in `text`: a `<<<<<<< yours:` line
/// followed, later, by a `>>>>>>> generated now` line.
pub fn leftover_conflicts(text: &str) -> usize {
    let mut open = false;
    let mut count = 0;
    for line in text.lines() {
        if line.starts_with(YOURS) {
            open = true;
        } else if open && line == GENERATED_NOW {
            open = false;
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "a\nb\nc\nd\ne\n";

    #[test]
    fn one_sided_changes_are_taken() {
        assert_eq!(
            merge3(BASE, BASE, "a\nB\nc\nd\ne\n", "f").text,
            "a\nB\nc\nd\ne\n"
        );
        assert_eq!(
            merge3(BASE, "a\nb\nc\nd\ne\nmine\n", BASE, "f").text,
            "a\nb\nc\nd\ne\nmine\n"
        );
    }

    #[test]
    fn separate_changes_of_both_sides_merge_cleanly() {
        let m = merge3(BASE, "a\nmine\nb\nc\nd\ne\n", "a\nb\nc\nd\nE\n", "f");
        assert_eq!(
            m,
            Merged {
                text: "a\nmine\nb\nc\nd\nE\n".into(),
                conflicts: 0
            }
        );
    }

    #[test]
    fn identical_changes_are_taken_once() {
        let m = merge3(BASE, "a\nX\nc\nd\ne\n", "a\nX\nc\nd\ne\n", "f");
        assert_eq!(m.text, "a\nX\nc\nd\ne\n");
        let m = merge3(BASE, "a\nX\nc\nd\ne\nmine\n", "a\nX\nc\nd\ne\n", "f");
        assert_eq!((m.text.as_str(), m.conflicts), ("a\nX\nc\nd\ne\nmine\n", 0));
    }

    #[test]
    fn overlapping_changes_conflict_and_keep_both() {
        let m = merge3(BASE, "a\nmine\nc\nd\ne\n", "a\ntheirs\nc\nd\ne\n", "x.rs");
        assert_eq!(m.conflicts, 1);
        assert_eq!(
            m.text,
            "a\n<<<<<<< yours: x.rs\nmine\n||||||| generated last time\nb\n=======\ntheirs\n>>>>>>> generated now\nc\nd\ne\n"
        );
    }

    #[test]
    fn missing_final_newlines_do_not_glue_markers() {
        let m = merge3("a", "b", "c", "f");
        assert_eq!(m.conflicts, 1);
        assert!(
            m.text
                .contains("b\n||||||| generated last time\na\n=======\nc\n>>>>>>>"),
            "{}",
            m.text
        );
    }
}
