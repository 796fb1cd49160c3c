//! The `cargo generate` template (`templates/cargo-generate/`), exported from the example
//! blueprints so there is one source of truth: the template holds a blueprint with
//! placeholders and a post hook that runs `msa-gen generate .` on it, so the workspace that
//! `cargo generate` makes is exactly what `msa-gen new` makes for the same blueprint.
//!
//! ```sh
//! cargo install --path generator      # msa-gen on PATH, for the hook
//! cargo generate --path templates/cargo-generate --name acme-shop --allow-commands \
//!     --define example=shop --define broker=rabbitmq --define discovery=registry --define sessions=jwt
//! ```
//! `msa-gen template templates/cargo-generate` rewrites the template; a test checks it is current.

/// The template's files, (relative path, content), from the shop and minimal blueprints.
pub fn files(shop: &str, minimal: &str) -> Vec<(&'static str, String)> {
    let shop = shop
        .replacen("name = \"shop\"", "name = \"{{project-name}}\"", 1)
        .replacen("broker = \"nats\"", "broker = \"{{broker}}\"", 1)
        .replacen(
            "discovery = \"registry\"",
            "discovery = \"{{discovery}}\"",
            1,
        )
        .replacen("sessions = \"jwt\"", "sessions = \"{{sessions}}\"", 1);
    let minimal = minimal.replacen("name = \"minimal\"", "name = \"{{project-name}}\"", 1);
    let blueprint =
        format!("{{% if example == \"shop\" %}}{shop}{{% else %}}{minimal}{{% endif %}}");
    vec![
        ("cargo-generate.toml", CONFIG.to_string()),
        ("generate.rhai", HOOK.to_string()),
        ("blueprint.toml", blueprint),
    ]
}

const CONFIG: &str = r#"# The msa-gen template for `cargo generate`, exported by `msa-gen template` from
# blueprints/shop.toml and blueprints/minimal.toml: do not edit by hand.
# Needs `msa-gen` on PATH (`cargo install --path generator`) and `--allow-commands` (the post
# hook runs `msa-gen generate .`).
[template]
cargo_generate_version = ">=0.23.0"

[placeholders]
example = { type = "string", prompt = "Which example system?", choices = ["shop", "minimal"], default = "shop" }
broker = { type = "string", prompt = "Message broker (shop)?", choices = ["nats", "rabbitmq", "kafka"], default = "nats" }
discovery = { type = "string", prompt = "Service discovery (shop)?", choices = ["registry", "kubernetes"], default = "registry" }
sessions = { type = "string", prompt = "Sessions (shop)?", choices = ["jwt", "redis"], default = "jwt" }

[hooks]
post = ["generate.rhai"]
"#;

const HOOK: &str = r#"// Turns the blueprint into the workspace: the same files `msa-gen new` writes.
let out = system::command("msa-gen", ["generate", "."]);
print(out);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_replace_the_choices() {
        let shop = include_str!("../../blueprints/shop.toml");
        let minimal = include_str!("../../blueprints/minimal.toml");
        let files = files(shop, minimal);
        let bp = &files[2].1;
        for p in [
            "{{project-name}}",
            "{{broker}}",
            "{{discovery}}",
            "{{sessions}}",
        ] {
            assert!(bp.contains(p), "{p}");
        }
        assert!(bp.starts_with("{% if example == \"shop\" %}"));
        assert_eq!(bp.matches("{{project-name}}").count(), 2);
    }
}
