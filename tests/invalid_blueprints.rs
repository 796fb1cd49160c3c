//! Every file in `tests/invalid/` holds one defect and says, on its first line, the error it
//! must produce: `# expect: LINE:COL: MESSAGE` (and optionally `# hint: TEXT` on the second).
//! The test loads each one and asserts exactly that error, at exactly that place, and no other.

use std::path::Path;

use msa_gen::blueprint;

struct Expectation {
    line: usize,
    col: usize,
    message: String,
    hint: Option<String>,
}

fn expectation(text: &str, file: &str) -> Expectation {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let rest = first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{file}: first line must be `# expect: LINE:COL: MESSAGE`"));
    let mut parts = rest.splitn(3, ':');
    let line = parts
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("{file}: bad line"));
    let col = parts
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("{file}: bad column"));
    let message = parts
        .next()
        .unwrap_or_else(|| panic!("{file}: no message"))
        .trim()
        .to_string();
    let hint = lines
        .next()
        .and_then(|l| l.strip_prefix("# hint: "))
        .map(|h| h.trim().to_string());
    Expectation {
        line,
        col,
        message,
        hint,
    }
}

#[test]
fn each_invalid_blueprint_reports_its_one_defect_where_it_is() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/invalid")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "at least 40 invalid blueprints, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(path).expect("read");
        let want = expectation(&text, &name);
        let diags = match blueprint::load(&text) {
            Ok(_) => {
                failures.push(format!("{name}: accepted, expected `{}`", want.message));
                continue;
            }
            Err(d) => d,
        };
        let errors: Vec<_> = diags.errors().collect();
        let rendered = diags.render(&name, &text);
        if errors.len() != 1 {
            failures.push(format!(
                "{name}: expected exactly 1 error, got {}:\n{rendered}",
                errors.len()
            ));
            continue;
        }
        let e = errors[0];
        let (line, col) = e.line_col(&text);
        if (line, col) != (want.line, want.col) || e.message != want.message {
            failures.push(format!(
                "{name}: expected {}:{}: {}\n  got {line}:{col}: {}",
                want.line, want.col, want.message, e.message
            ));
        }
        if let Some(h) = &want.hint
            && e.hint.as_deref() != Some(h.as_str())
        {
            failures.push(format!("{name}: expected hint `{h}`, got {:?}", e.hint));
        }
        // The rendering shows file, position, the source line and a caret.
        assert!(
            rendered.contains(&format!("--> {name}:{line}:{col}")),
            "{rendered}"
        );
        assert!(
            rendered.contains(" | ") && rendered.contains('^'),
            "{rendered}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} invalid blueprints misbehave:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn arbitrary_bytes_never_panic_the_parser() {
    // A cheap deterministic fuzz: the shop blueprint with every byte position mangled in turn.
    let shop = include_str!("../blueprints/shop.toml");
    let replacements = ["\"", "[", "]", "=", "\n", "{", "ß", "", "0", "-"];
    for (i, _) in shop.char_indices().step_by(7) {
        for r in &replacements {
            let mut s = String::with_capacity(shop.len() + 4);
            s.push_str(&shop[..i]);
            s.push_str(r);
            let next = shop[i..].chars().next().map_or(i, |c| i + c.len_utf8());
            s.push_str(&shop[next..]);
            if let Err(d) = blueprint::load(&s) {
                let _ = d.render("fuzz.toml", &s);
            }
        }
    }
}
