//! The blueprint: its typed model, the parse stage and the validate stage.
//!
//! [`load`] runs both stages and is what every command uses: it either returns a blueprint
//! that passed every check (with any warnings) or every error found in the file.

pub mod field_type;
pub mod model;
pub mod parse;
pub mod paths;
mod reader;
pub mod reserved;
pub mod saga_shape;
pub mod validate;
pub mod values;

pub use model::*;

use crate::diagnostics::Diagnostics;

/// A blueprint that passed validation, and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub blueprint: Blueprint,
    pub warnings: Diagnostics,
}

/// Parses and validates `source`. On failure, returns every finding (errors and warnings).
pub fn load(source: &str) -> Result<Loaded, Diagnostics> {
    let (bp, mut diags) = parse::parse(source);
    let Some(bp) = bp else { return Err(diags) };
    diags.extend(validate::validate(&bp));
    diags.sort();
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(Loaded {
            blueprint: bp,
            warnings: diags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = include_str!("../../../blueprints/shop.toml");

    #[test]
    fn shop_is_valid_with_one_coverage_warning() {
        let loaded = load(SHOP).unwrap_or_else(|d| panic!("{}", d.render("shop.toml", SHOP)));
        let bp = &loaded.blueprint;
        assert_eq!(bp.system.name.value, "shop");
        assert_eq!(bp.services.len(), 7);
        assert_eq!(bp.events.len(), 13);
        let ports: Vec<u16> = bp.services.iter().map(|s| s.port.value).collect();
        assert_eq!(ports, vec![8101, 8102, 8103, 8104, 8105, 8106, 8107]);
        let orders = bp.service("orders").unwrap();
        let fields: Vec<&str> = orders.entities[0]
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            fields,
            vec!["customer-id", "total", "status", "reason"],
            "source order is kept"
        );
        let w: Vec<&str> = loaded.warnings.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            w,
            vec![
                "no event in `from` of view `OrderSummary` has a field `status`; user code must fill it"
            ]
        );
    }

    #[test]
    fn all_errors_of_a_file_are_reported_at_once() {
        let src = "[system]\nname = \"Shop\"\nnmae = 1\n[[services]]\nname = \"a\"\nstyle = \"crud\"\nport = 99999\n";
        let d = load(src).unwrap_err();
        let msgs: Vec<&str> = d.errors().map(|d| d.message.as_str()).collect();
        assert!(
            msgs.contains(&"system name `Shop` must be kebab-case"),
            "{msgs:?}"
        );
        assert!(msgs.contains(&"unknown key `nmae` in [system]"), "{msgs:?}");
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("`port` in [[services]] `a` must be between")),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"crud service `a` declares no entities"),
            "{msgs:?}"
        );
    }

    #[test]
    fn bff_ports_start_after_the_highest_service_port() {
        let src = "[system]\nname = \"s\"\n[[services]]\nname = \"a\"\nstyle = \"worker\"\nport = 8760\n[[bffs]]\nname = \"b\"\n[[bffs]]\nname = \"c\"\n";
        let (bp, d) = parse::parse(src);
        assert!(!d.has_errors(), "{}", d.render("s.toml", src));
        let ports: Vec<u16> = bp.unwrap().bffs.iter().map(|b| b.port.value).collect();
        assert_eq!(ports, [8762, 8763], "8761 is the registry's");
        let explicit = src.replace("name = \"b\"\n", "name = \"b\"\nport = 8763\n");
        let bp = parse::parse(&explicit).0.unwrap();
        let ports: Vec<u16> = bp.bffs.iter().map(|b| b.port.value).collect();
        assert_eq!(ports, [8763, 8762], "explicit ports are kept and skipped");
        let none = "[system]\nname = \"s\"\n[[bffs]]\nname = \"b\"\n";
        let bp = parse::parse(none).0.unwrap();
        assert_eq!(bp.bffs[0].port.value, parse::FIRST_SERVICE_PORT);
    }

    #[test]
    fn no_prefix_of_the_shop_panics() {
        // Every truncation of a real blueprint is a plausible half-written file.
        for end in (0..SHOP.len()).filter(|i| SHOP.is_char_boundary(*i)) {
            let _ = load(&SHOP[..end]);
        }
    }
}
