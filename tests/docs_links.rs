//! The documentation's links hold: every relative link in `README.md`, `docs/*.md` and
//! `bench/README.md` names a file of the repository, and every `#anchor` a heading of its page
//! (GitHub's slugs). Links to the web are not followed (no network here).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Pages to check: the README, every page of docs/ and the benchmarks' README.
fn pages() -> Vec<PathBuf> {
    let mut out = vec![repo().join("README.md"), repo().join("bench/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    out.extend(docs);
    out.retain(|p| p.exists());
    out
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings (outside code blocks), with GitHub's `-1`, `-2` suffixes.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        if let Some(h) = line.strip_prefix('#') {
            let s = slug(h.trim_start_matches('#'));
            let mut candidate = s.clone();
            let mut n = 0;
            while out.contains(&candidate) {
                n += 1;
                candidate = format!("{s}-{n}");
            }
            out.insert(candidate);
        }
    }
    out
}

/// Every `](target)` of a page outside code blocks and inline code.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop inline code spans.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((n + 1, after[..end].trim().to_string()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let pages = pages();
    assert!(pages.len() >= 10, "docs pages: {}", pages.len());
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read");
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("dir").join(file)
            };
            let where_ = format!(
                "{}:{line}: {target}",
                page.strip_prefix(repo()).unwrap_or(page).display()
            );
            if !resolved.exists() {
                broken.push(format!("{where_} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor
                && resolved.extension().is_some_and(|x| x == "md")
            {
                let target_text = std::fs::read_to_string(&resolved).expect("read");
                if !anchors(&target_text).contains(anchor) {
                    broken.push(format!("{where_} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 30, "only {checked} links checked");
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug(" Kubernetes (kustomize)"), "kubernetes-kustomize");
    assert_eq!(slug("CI/CD (`ci = \"github\"`)"), "cicd-ci--github");
    let page = "# A\n## B c\n```\n# not a heading\n```\n## B c\n";
    let found = anchors(page);
    assert!(found.contains("b-c") && found.contains("b-c-1") && !found.contains("not-a-heading"));
    assert_eq!(
        links("see [x](a.md#b) and `[y](z.md)`"),
        vec![(1, "a.md#b".to_string())]
    );
}
