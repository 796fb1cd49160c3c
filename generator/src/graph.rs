//! `msa-gen graph`: a Mermaid flowchart of the system: clients, BFFs, gateway, services, the
//! broker and which events flow where, and synchronous calls. Deterministic for a blueprint.

use std::fmt::Write as _;

use crate::blueprint::{Blueprint, Broker, Style};
use crate::names::to_snake;

fn id(prefix: &str, name: &str) -> String {
    format!("{prefix}_{}", to_snake(name))
}

pub fn mermaid(bp: &Blueprint) -> String {
    let mut out = String::from("flowchart LR\n");
    let _ = writeln!(out, "  gateway[\"API gateway :{}\"]", bp.gateway.port.value);
    for b in &bp.bffs {
        let _ = writeln!(
            out,
            "  {}([\"{} client\"]) --> {}",
            id("client", &b.client),
            b.client,
            id("bff", &b.name.value)
        );
        let _ = writeln!(
            out,
            "  {}[\"{} :{}\"] --> gateway",
            id("bff", &b.name.value),
            b.name.value,
            b.port.value
        );
    }
    if bp.bffs.is_empty() {
        let _ = writeln!(out, "  client([\"client\"]) --> gateway");
    }
    for s in &bp.services {
        let shape = match s.style.value {
            Style::Crud => format!("[\"{} (crud) :{}\"]", s.name.value, s.port.value),
            Style::EventSourced => {
                format!("[[\"{} (event-sourced) :{}\"]]", s.name.value, s.port.value)
            }
            Style::ReadModel => format!("[/\"{} (read-model) :{}\"/]", s.name.value, s.port.value),
            Style::Worker => format!("([\"{} (worker)\"])", s.name.value),
        };
        let _ = writeln!(out, "  {}{shape}", id("svc", &s.name.value));
        let exposed = s
            .entities
            .iter()
            .filter_map(|e| e.expose.as_ref())
            .chain(s.aggregates.iter().filter_map(|a| a.expose.as_ref()))
            .chain(s.views.iter().filter_map(|v| v.expose.as_ref()))
            .map(|x| x.path.value.as_str())
            .collect::<Vec<_>>();
        if !exposed.is_empty() {
            let _ = writeln!(
                out,
                "  gateway -- \"{}\" --> {}",
                exposed.join(", "),
                id("svc", &s.name.value)
            );
        }
        if s.store.value == crate::blueprint::Store::Postgres {
            let _ = writeln!(
                out,
                "  {}[(\"{} db\")]",
                id("db", &s.name.value),
                s.name.value
            );
            let _ = writeln!(
                out,
                "  {} --- {}",
                id("svc", &s.name.value),
                id("db", &s.name.value)
            );
        }
        for c in &s.calls {
            let _ = writeln!(
                out,
                "  {} -. calls .-> {}",
                id("svc", &s.name.value),
                id("svc", &c.service.value)
            );
        }
    }
    if bp.platform.broker.value != Broker::None && !bp.events.is_empty() {
        let _ = writeln!(
            out,
            "  broker{{{{\"{} broker\"}}}}",
            bp.platform.broker.value.as_str()
        );
        for s in &bp.services {
            if !s.publishes.is_empty() {
                let names: Vec<&str> = s.publishes.iter().map(|e| e.value.as_str()).collect();
                let _ = writeln!(
                    out,
                    "  {} -- \"{}\" --> broker",
                    id("svc", &s.name.value),
                    names.join(", ")
                );
            }
            if !s.consumes.is_empty() {
                let names: Vec<&str> = s.consumes.iter().map(|e| e.value.as_str()).collect();
                let _ = writeln!(
                    out,
                    "  broker -- \"{}\" --> {}",
                    names.join(", "),
                    id("svc", &s.name.value)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn shop_graph_has_every_part() {
        let src = include_str!("../../blueprints/shop.toml");
        let bp = crate::blueprint::load(src).unwrap().blueprint;
        let g = super::mermaid(&bp);
        assert!(g.starts_with("flowchart LR\n"));
        for needle in [
            "bff_web_bff",
            "svc_order_history",
            "db_orders",
            "svc_orders -. calls .-> svc_products",
            "broker -- \"OrderApproved, OrderRejected, PaymentProcessed\" --> svc_notifications",
        ] {
            assert!(g.contains(needle), "missing {needle} in\n{g}");
        }
    }
}
