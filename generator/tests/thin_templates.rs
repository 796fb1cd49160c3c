//! Templates compute nothing: every decision is made in the typed plan model. A template may
//! loop (`for`) over lists of the model, branch (`if`) on its booleans and values, alias a value
//! (`set x = a.b`) and interpolate. This test reads every `templates/**/*.tera` and fails on
//! comparisons in `if`/`elif`, on `break`/`continue`, on computed `set`s and on filters — each
//! reported as `file:line: tag`.

use std::path::{Path, PathBuf};

fn tera_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read templates") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            tera_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "tera") {
            out.push(path);
        }
    }
}

/// The tags (`{% … %}`) and expressions (`{{ … }}`) of a template outside `{% raw %}` blocks,
/// each with its line number and its inner text.
fn tags(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut line = 1;
    let mut raw = false;
    while let Some(start) = rest.find(['{']) {
        let after = &rest[start..];
        let close = if after.starts_with("{%") {
            "%}"
        } else if after.starts_with("{{") {
            "}}"
        } else {
            line += rest[..=start].matches('\n').count();
            rest = &rest[start + 1..];
            continue;
        };
        line += rest[..start].matches('\n').count();
        let Some(end) = after.find(close) else { break };
        let inner = after[2..end].trim_matches(|c: char| c == '-' || c.is_whitespace());
        let word = inner.split_whitespace().next().unwrap_or_default();
        if close == "%}" && word == "raw" {
            raw = true;
        } else if close == "%}" && word == "endraw" {
            raw = false;
        } else if !raw {
            out.push((line, inner.to_string()));
        }
        line += after[..end].matches('\n').count();
        rest = &after[end + 2..];
    }
    out
}

/// The text of a tag with its string literals blanked out, so `"a|b"` is no filter.
fn without_strings(tag: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in tag.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

/// Why `tag` computes, if it does.
fn computes(tag: &str) -> Option<&'static str> {
    let code = without_strings(tag);
    let word = code.split_whitespace().next().unwrap_or_default();
    let plain_path = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    };
    if matches!(word, "if" | "elif")
        && ["==", "!=", "<", ">", " in "]
            .iter()
            .any(|op| code.contains(op))
    {
        return Some("a comparison in a branch (give the model a boolean)");
    }
    if matches!(word, "break" | "continue") {
        return Some("a search in a loop (give the model the found value)");
    }
    if word == "set" {
        let value = code.split_once('=').map_or("", |(_, v)| v.trim());
        if !plain_path(value) {
            return Some("a computed set (compute it in the model)");
        }
    }
    if code.contains('|') && !code.contains("||") {
        return Some("a filter (give the model the value as the template prints it)");
    }
    None
}

#[test]
fn templates_compute_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
    let mut files = Vec::new();
    tera_files(&dir, &mut files);
    files.sort();
    assert!(files.len() > 50, "found only {} templates", files.len());
    let mut found = Vec::new();
    let mut seen = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read template");
        for (line, tag) in tags(&text) {
            seen += 1;
            if let Some(why) = computes(&tag) {
                let rel = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
                found.push(format!("{rel}:{line}: `{tag}`: {why}"));
            }
        }
    }
    assert!(seen > 1000, "the scan saw only {seen} tags");
    assert!(
        found.is_empty(),
        "{} template tags compute:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_each_kind_of_computation() {
    let text = "{% if a == \"x\" %}\n{{ b | lower }}\n{% break %}{% set c = d | length %}\n{% if ok %}{{ e.f }}{% set g = h.i %}{% raw %}{{ x | y }}{% endraw %}";
    let hits: Vec<(usize, &str)> = tags(text)
        .iter()
        .filter_map(|(l, t)| computes(t).map(|_| (*l, "hit")))
        .collect();
    assert_eq!(
        hits.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [1, 2, 3, 3]
    );
    assert!(computes("if a.flag and not b").is_none());
    assert!(computes("x.y").is_none());
}
