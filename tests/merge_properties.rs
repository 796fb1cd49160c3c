//! Properties of the 3-way merge behind regeneration, over 512 random cases each: a side that
//! did not change never wins over one that did, the same change on both sides is taken once,
//! and no line the user added is ever lost (kept as is, or inside conflict markers).

use msa_gen::merge::merge3;
use proptest::prelude::*;

/// A base text from a small alphabet, so random edits collide often.
fn base() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "d", "e"]), 0..24)
        .prop_map(|v| v.into_iter().map(str::to_string).collect())
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize),
    Replace(usize, String),
}

fn edits(tag: &'static str) -> impl Strategy<Value = Vec<Edit>> {
    let edit = (0usize..30, 0u32..1000, 0u8..3).prop_map(move |(at, n, kind)| match kind {
        0 => Edit::Insert(at, format!("{tag}{n}")),
        1 => Edit::Delete(at),
        _ => Edit::Replace(at, format!("{tag}{n}")),
    });
    prop::collection::vec(edit, 0..6)
}

fn apply(base: &[String], edits: &[Edit]) -> Vec<String> {
    let mut v = base.to_vec();
    for e in edits {
        match e {
            Edit::Insert(at, line) => {
                let at = (*at).min(v.len());
                v.insert(at, line.clone());
            }
            Edit::Delete(at) if !v.is_empty() => {
                let at = at % v.len();
                v.remove(at);
            }
            Edit::Replace(at, line) if !v.is_empty() => {
                let at = at % v.len();
                v[at] = line.clone();
            }
            _ => {}
        }
    }
    v
}

fn text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_unchanged_side_takes_the_other(b in base(), e in edits("g")) {
        let (b, t) = (text(&b), text(&apply(&b, &e)));
        let user_untouched = merge3(&b, &b, &t, "x");
        prop_assert_eq!((user_untouched.text.as_str(), user_untouched.conflicts), (t.as_str(), 0));
        let generator_unchanged = merge3(&b, &t, &b, "x");
        prop_assert_eq!((generator_unchanged.text.as_str(), generator_unchanged.conflicts), (t.as_str(), 0));
    }

    #[test]
    fn the_same_change_on_both_sides_is_taken_once(b in base(), e in edits("s")) {
        let (b, x) = (text(&b), text(&apply(&b, &e)));
        let m = merge3(&b, &x, &x, "x");
        prop_assert_eq!((m.text.as_str(), m.conflicts), (x.as_str(), 0));
    }

    #[test]
    fn no_line_the_user_added_is_lost(b in base(), mine in edits("u"), theirs in edits("g")) {
        let yours = apply(&b, &mine);
        let generated = apply(&b, &theirs);
        let m = merge3(&text(&b), &text(&yours), &text(&generated), "x");
        let out: Vec<&str> = m.text.lines().collect();
        for line in yours.iter().filter(|l| l.starts_with('u')) {
            let want = yours.iter().filter(|l| *l == line).count();
            let got = out.iter().filter(|l| **l == line.as_str()).count();
            prop_assert!(got >= want, "`{}` lost:\n{}", line, m.text);
        }
        if m.conflicts == 0 {
            prop_assert!(!m.text.contains("<<<<<<<"));
        } else {
            prop_assert!(m.text.contains("<<<<<<<") && m.text.contains(">>>>>>>"));
        }
    }
}
