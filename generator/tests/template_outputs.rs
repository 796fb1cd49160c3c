//! Each template names, in its first line, the output path it renders
//! (`{#- output: services/{service}/src/api.rs -#}`), so `grep` leads from a generated file to
//! its template. The test plans the example blueprints and their platform variants and checks
//! that every file made from a template matches the path its template names, with each
//! `{placeholder}` standing for one path segment or part of one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn blueprints() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../blueprints");
    let shop = std::fs::read_to_string(dir.join("shop.toml")).expect("shop");
    let mut out: Vec<(String, String)> = ["shop", "library", "minimal"]
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(format!("{n}.toml"))).expect("blueprint");
            (n.to_string(), text)
        })
        .collect();
    for (name, from, to) in [
        ("kafka", "broker = \"nats\"", "broker = \"kafka\""),
        ("gitlab", "ci = \"github\"", "ci = \"gitlab\""),
        (
            "configmaps",
            "config = \"server\"",
            "config = \"kubernetes\"",
        ),
        (
            "istio",
            "mesh = \"none\"",
            "mesh = \"istio\"\ndiscovery = \"kubernetes\"",
        ),
    ] {
        let text = shop.replace(from, to);
        let text = if name == "istio" {
            text.replace("discovery = \"registry\"\n", "")
        } else {
            text
        };
        assert_ne!(text, shop, "variant {name} changes the shop");
        out.push((format!("shop-{name}"), text));
    }
    out
}

/// Every template that a plan of the example blueprints renders, with the paths it renders to.
fn rendered() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, text) in blueprints() {
        let bp = msa_gen::blueprint::load(&text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        for f in msa_gen::plan::plan(&bp.blueprint, &text, None).files {
            if let msa_gen::plan::Source::Template { name, .. } = &f.source {
                out.entry(name.clone()).or_default().insert(f.path.clone());
            }
        }
    }
    out
}

/// The output path a template names in its first line (after an `import`, if any).
fn declared(template: &str) -> Option<String> {
    let first = template.lines().next()?;
    let start = first.find("{# output: ")? + "{# output: ".len();
    let end = start + first[start..].find(" #}")?;
    Some(first[start..end].to_string())
}

/// Whether `path` is an instance of `pattern`, each `{name}` standing for one or more
/// characters other than `/`.
fn matches(pattern: &str, path: &str) -> bool {
    match pattern.find('{') {
        None => pattern == path,
        Some(open) => {
            let Some(close) = pattern[open..].find('}').map(|c| open + c) else {
                return false;
            };
            let (lit, rest) = (&pattern[..open], &pattern[close + 1..]);
            let Some(tail) = path.strip_prefix(lit) else {
                return false;
            };
            (1..=tail.len())
                .take_while(|&n| !tail[..n].contains('/'))
                .any(|n| matches(rest, &tail[n..]))
        }
    }
}

#[test]
fn each_template_names_the_path_it_renders() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
    let rendered = rendered();
    assert!(
        rendered.len() > 70,
        "only {} templates rendered",
        rendered.len()
    );
    let mut wrong = Vec::new();
    for (name, paths) in &rendered {
        let text = std::fs::read_to_string(dir.join(name)).expect("template");
        let Some(pattern) = declared(&text) else {
            wrong.push(format!("{name}: no `{{# output: … #}}` on its first line"));
            continue;
        };
        for p in paths.iter().filter(|p| !matches(&pattern, p)) {
            wrong.push(format!("{name}: renders {p}, but names {pattern}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn output_patterns_match_one_segment_per_placeholder() {
    assert!(matches(
        "services/{service}/src/api.rs",
        "services/orders/src/api.rs"
    ));
    assert!(matches("config/{bff}.toml", "config/web-bff.toml"));
    assert!(!matches(
        "services/{service}/src/api.rs",
        "services/a/b/src/api.rs"
    ));
    assert!(!matches(
        "services/{service}/src/api.rs",
        "services/orders/src/model.rs"
    ));
    assert_eq!(
        declared("{# output: README.md #}# Title").as_deref(),
        Some("README.md")
    );
}
