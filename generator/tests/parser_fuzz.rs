//! The blueprint parser and validator never panic (issue 22, item 5): arbitrary bytes, and
//! the repository's blueprints mutated at random (bytes deleted, lines doubled, characters
//! replaced by the ones TOML and the format care about), give a blueprint or located errors.
//! A mutated blueprint that is still valid is also planned, which must not panic either.

use proptest::prelude::*;

fn blueprints() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../blueprints");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .expect("blueprints")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| std::fs::read_to_string(e.path()).expect("read"))
        .collect();
    out.sort();
    out
}

/// Loads `text` the way `check` does, renders any findings, and plans what is valid.
fn survive(text: &str) {
    match msa_gen::blueprint::load(text) {
        Ok(loaded) => {
            let plan = msa_gen::plan::plan(&loaded.blueprint, text, None);
            assert!(!plan.files.is_empty());
        }
        Err(d) => {
            let rendered = d.render("fuzz.toml", text);
            assert!(!rendered.is_empty());
        }
    }
}

const SPICE: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "=",
    "\n",
    "{",
    "}",
    ",",
    "é",
    "\u{0}",
    "\\",
    "#",
    "-",
    "_",
    "0",
    "99999999999999999999",
    "enum(",
    "list<",
    "?",
    "/",
    "{id}",
    " ",
    "\t",
    "\r\n",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        survive(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_blueprints_do_not_panic(
        which in 0usize..16,
        edits in proptest::collection::vec((0usize..4, any::<usize>(), any::<usize>(), 0usize..64), 1..6),
    ) {
        let all = blueprints();
        let mut text: String = all[which % all.len()].clone();
        for (kind, at, len, spice) in edits {
            let chars: Vec<char> = text.chars().collect();
            if chars.is_empty() {
                break;
            }
            let at = at % chars.len();
            let end = (at + len % 40).min(chars.len());
            let piece = SPICE[spice % SPICE.len()];
            text = match kind {
                // Delete a run of characters.
                0 => chars[..at].iter().chain(&chars[end..]).collect(),
                // Insert a piece of syntax.
                1 => chars[..at].iter().collect::<String>() + piece + &chars[at..].iter().collect::<String>(),
                // Double a line.
                2 => {
                    let lines: Vec<&str> = text.lines().collect();
                    let i = at % lines.len().max(1);
                    let mut out: Vec<&str> = lines.clone();
                    if let Some(l) = lines.get(i) {
                        out.insert(i, l);
                    }
                    out.join("\n")
                }
                // Truncate.
                _ => chars[..at].iter().collect(),
            };
        }
        survive(&text);
    }
}
