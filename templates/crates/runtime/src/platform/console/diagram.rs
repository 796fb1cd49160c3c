//! The console's architecture diagram: the blueprint's topology drawn as SVG. Processes sit in
//! rows by who calls whom (those nothing calls on top, each other one row below its lowest
//! caller, a process only events reach below its lowest publisher; those with neither calls nor
//! events, the platform's, in a last row), calls are
//! arrows, events dashed arrows named after what they carry, and each process is coloured by
//! how many of its instances are up.

use std::collections::{BTreeMap, BTreeSet};

use super::Node;
use crate::platform::web::escape;

/// A process's instances, `(up, registered)`; `None` when nothing says (no registry, or the
/// registry itself, which does not register).
pub type Health<'a> = &'a dyn Fn(&str) -> Option<(usize, usize)>;

const BOX_W: usize = 132;
const BOX_H: usize = 40;
const GAP_X: usize = 24;
const GAP_Y: usize = 64;
const MARGIN: usize = 16;

/// The rows of the diagram, top first, each in blueprint order.
pub fn rows(nodes: &[Node]) -> Vec<Vec<&'static str>> {
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name).collect();
    let callers_of = |n: &Node| -> Vec<&'static str> {
        n.callers
            .iter()
            .copied()
            .filter(|c| *c != n.name && names.contains(c))
            .collect()
    };
    let published: BTreeSet<&str> = nodes.iter().flat_map(|n| n.publishes).copied().collect();
    let consumed: BTreeSet<&str> = nodes.iter().flat_map(|n| n.consumes).copied().collect();
    let calling: BTreeSet<&str> = nodes.iter().flat_map(&callers_of).collect();
    let linked = |n: &Node| {
        !callers_of(n).is_empty()
            || calling.contains(n.name)
            || n.publishes.iter().any(|e| consumed.contains(e))
            || n.consumes.iter().any(|e| published.contains(e))
    };
    // The longest chain of callers above each process; a cycle stops growing at the count of
    // processes.
    let mut row: BTreeMap<&str, usize> = nodes.iter().map(|n| (n.name, 0)).collect();
    for _ in 0..nodes.len() {
        let mut changed = false;
        for n in nodes {
            let below = callers_of(n)
                .iter()
                .filter_map(|c| row.get(c))
                .map(|r| r + 1)
                .max()
                .unwrap_or(0)
                .min(nodes.len());
            if below > row[n.name] {
                row.insert(n.name, below);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // A process only events reach (a worker) sits below the lowest of its publishers.
    let by_calls = row.clone();
    for n in nodes {
        if !callers_of(n).is_empty() || calling.contains(n.name) {
            continue;
        }
        let below = nodes
            .iter()
            .filter(|p| p.name != n.name && p.publishes.iter().any(|e| n.consumes.contains(e)))
            .map(|p| by_calls[p.name] + 1)
            .max();
        if let Some(below) = below {
            row.insert(n.name, below);
        }
    }
    let mut out: BTreeMap<usize, Vec<&'static str>> = BTreeMap::new();
    let mut apart = Vec::new();
    for n in nodes {
        if linked(n) {
            out.entry(row[n.name]).or_default().push(n.name);
        } else {
            apart.push(n.name);
        }
    }
    let mut rows: Vec<Vec<&'static str>> = out.into_values().collect();
    if !apart.is_empty() {
        rows.push(apart);
    }
    rows
}

/// A box's top-left corner.
type At = (usize, usize);

fn centre((x, y): At) -> (f64, f64) {
    ((x + BOX_W / 2) as f64, (y + BOX_H / 2) as f64)
}

/// Where an arrow from box `a` to box `b` leaves and arrives: the facing sides.
fn ends(a: At, b: At) -> ((f64, f64), (f64, f64)) {
    let ((ax, ay), (bx, by)) = (centre(a), centre(b));
    let (w, h) = ((BOX_W / 2) as f64, (BOX_H / 2) as f64);
    if by > ay {
        ((ax, ay + h), (bx, by - h))
    } else if by < ay {
        ((ax, ay - h), (bx, by + h))
    } else if bx > ax {
        ((ax + w, ay), (bx - w, by))
    } else {
        ((ax - w, ay), (bx + w, by))
    }
}

/// The SVG of `nodes`, each coloured by `health`.
pub fn svg(nodes: &[Node], health: Health) -> String {
    let rows = rows(nodes);
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let width = 2 * MARGIN + widest * BOX_W + (widest - 1) * GAP_X;
    let height = 2 * MARGIN + rows.len() * BOX_H + rows.len().saturating_sub(1) * GAP_Y;
    let mut at: BTreeMap<&str, At> = BTreeMap::new();
    for (r, row) in rows.iter().enumerate() {
        let row_width = row.len() * BOX_W + row.len().saturating_sub(1) * GAP_X;
        let left = (width - row_width) / 2;
        for (i, name) in row.iter().enumerate() {
            at.insert(
                name,
                (left + i * (BOX_W + GAP_X), MARGIN + r * (BOX_H + GAP_Y)),
            );
        }
    }
    let mut edges = String::new();
    for n in nodes {
        for caller in n.callers {
            let (Some(&from), Some(&to)) = (at.get(caller), at.get(n.name)) else {
                continue;
            };
            if from == to {
                continue;
            }
            let ((x1, y1), (x2, y2)) = ends(from, to);
            edges.push_str(&format!(
                "<line class=\"call\" data-from=\"{f}\" data-to=\"{t}\" x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" marker-end=\"url(#call)\"><title>{f} calls {t}</title></line>",
                f = escape(caller),
                t = escape(n.name),
            ));
        }
    }
    // Events, one arrow per publisher and consumer, bent aside so calls stay visible.
    let mut carried: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for publisher in nodes {
        for consumer in nodes {
            for event in publisher.publishes {
                if consumer.consumes.contains(event) && publisher.name != consumer.name {
                    carried
                        .entry((publisher.name, consumer.name))
                        .or_default()
                        .push(event);
                }
            }
        }
    }
    for ((from, to), events) in &carried {
        let (Some(&a), Some(&b)) = (at.get(from), at.get(to)) else {
            continue;
        };
        let ((x1, y1), (x2, y2)) = ends(a, b);
        let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        let (dx, dy) = (x2 - x1, y2 - y1);
        let length = (dx * dx + dy * dy).sqrt().max(1.0);
        let (cx, cy) = (mx - dy / length * 28.0, my + dx / length * 28.0);
        edges.push_str(&format!(
            "<path class=\"event\" data-from=\"{f}\" data-to=\"{t}\" d=\"M{x1} {y1} Q{cx:.1} {cy:.1} {x2} {y2}\" marker-end=\"url(#event)\"><title>{f} → {t}: {list}</title></path>",
            f = escape(from),
            t = escape(to),
            list = escape(&events.join(", ")),
        ));
    }
    let mut boxes = String::new();
    for n in nodes {
        let Some(&(x, y)) = at.get(n.name) else {
            continue;
        };
        let (state, count, up) = match health(n.name) {
            Some((0, 0)) => ("down", "none registered".to_string(), 0),
            Some((0, all)) => ("down", format!("0 of {all} up"), 0),
            Some((up, all)) if up >= all => ("up", format!("{up} of {all} up"), up),
            Some((up, all)) => ("partial", format!("{up} of {all} up"), up),
            None => ("unknown", String::new(), 0),
        };
        boxes.push_str(&format!(
            "<g class=\"node {state}\" data-process=\"{name}\" data-up=\"{up}\"><rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\"/><text x=\"{tx}\" y=\"{ty}\">{name}</text><text class=\"count\" x=\"{tx}\" y=\"{cy}\">{count}</text></g>",
            name = escape(n.name),
            tx = x + BOX_W / 2,
            ty = y + 17,
            cy = y + 32,
        ));
    }
    format!(
        "<svg class=\"diagram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
<defs><marker id=\"call\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0 0L8 4L0 8z\" fill=\"#457b9d\"/></marker>\
<marker id=\"event\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0 0L8 4L0 8z\" fill=\"#e76f51\"/></marker></defs>\
<style>.call{{stroke:#457b9d;stroke-width:1.5}} .event{{stroke:#e76f51;stroke-width:1.5;stroke-dasharray:5 4;fill:none}} \
.node rect{{stroke:#1d3557;fill:#f1faee}} .node.up rect{{fill:#d8f3dc}} .node.partial rect{{fill:#ffe8a3}} .node.down rect{{fill:#ffccd5}} \
.node text{{text-anchor:middle;font:13px system-ui,sans-serif}} .node text.count{{font-size:11px;fill:#555}}</style>\
{edges}{boxes}</svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &[Node] = &[
        Node {
            name: "registry",
            callers: &[],
            publishes: &[],
            consumes: &[],
        },
        Node {
            name: "gateway",
            callers: &[],
            publishes: &[],
            consumes: &[],
        },
        Node {
            name: "auth",
            callers: &["gateway"],
            publishes: &[],
            consumes: &[],
        },
        Node {
            name: "orders",
            callers: &["gateway"],
            publishes: &["OrderCreated"],
            consumes: &["CreditReserved"],
        },
        Node {
            name: "customers",
            callers: &["gateway", "orders"],
            publishes: &["CreditReserved"],
            consumes: &["OrderCreated"],
        },
        Node {
            name: "notifications",
            callers: &[],
            publishes: &[],
            consumes: &["OrderCreated"],
        },
    ];

    #[test]
    fn rows_follow_calls_then_events_and_the_unlinked_go_last() {
        assert_eq!(
            rows(SHOP),
            vec![
                vec!["gateway"],
                vec!["auth", "orders"],
                vec!["customers", "notifications"],
                vec!["registry"],
            ]
        );
    }

    #[test]
    fn a_cycle_of_calls_still_ends() {
        let cycle = [
            Node {
                name: "a",
                callers: &["b"],
                publishes: &[],
                consumes: &[],
            },
            Node {
                name: "b",
                callers: &["a"],
                publishes: &[],
                consumes: &[],
            },
        ];
        let rows = rows(&cycle);
        assert_eq!(rows.iter().map(Vec::len).sum::<usize>(), 2);
    }

    #[test]
    fn every_process_call_and_event_is_drawn_with_its_health() {
        let health = |name: &str| match name {
            "orders" => Some((1, 2)),
            "customers" => Some((0, 1)),
            "auth" => Some((0, 0)),
            "registry" => None,
            _ => Some((1, 1)),
        };
        let svg = svg(SHOP, &health);
        assert_eq!(svg.matches("<g class=\"node").count(), SHOP.len());
        assert!(svg.contains("<g class=\"node partial\" data-process=\"orders\" data-up=\"1\">"));
        assert!(svg.contains("<g class=\"node down\" data-process=\"customers\" data-up=\"0\">"));
        assert!(svg.contains("<g class=\"node unknown\" data-process=\"registry\""));
        assert!(svg.contains(">1 of 2 up</text>"));
        assert!(
            svg.contains("<g class=\"node down\" data-process=\"auth\" data-up=\"0\">")
                && svg.contains(">none registered</text>"),
            "a process gone from the registry is down"
        );
        assert_eq!(svg.matches("<line class=\"call\"").count(), 4);
        assert!(svg.contains("data-from=\"orders\" data-to=\"customers\""));
        assert_eq!(svg.matches("<path class=\"event\"").count(), 3);
        assert!(svg.contains("<title>orders → customers: OrderCreated</title>"));
        // Same topology, same bytes.
        assert_eq!(svg, super::svg(SHOP, &health));
    }
}
