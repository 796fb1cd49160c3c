//! View models of backends for frontends (`[[bffs]]`): the routes passed through, and the
//! compositions with their typed calls.
//!
//! A composition call whose path is `<exposed path>/{…}` of an entity or view of its service is
//! typed with a tolerant reader of that entity (id, fields, version) or view (its fields); any
//! other path reads `serde_json::Value`. `{param}` is a parameter of the composition's own path;
//! `{service.field}` is a field of an earlier call's answer, so that call runs after it (the
//! others run in parallel).

use serde::Serialize;

use super::field::reader_fields;
use crate::blueprint::{Bff, Blueprint, Field};
use crate::names::{rust_ident, to_snake};

#[derive(Debug, Clone, Serialize)]
pub struct BffView {
    pub name: String,
    /// The processes declared as this BFF's callers (the gateway never calls a BFF as a
    /// service, so this is empty; kept for the same `AuthSpec` as services).
    pub callers: Vec<String>,
    /// The cargo package (`shop-web-bff`); its binary keeps the BFF's name.
    pub package: String,
    pub snake: String,
    pub client: String,
    pub port: u16,
    pub routes: Vec<PassView>,
    pub compositions: Vec<CompositionView>,
    /// The services the compositions call, with the types they read.
    pub called: Vec<CalledView>,
    /// (service, `service:port`) of every service it reaches, used without a registry.
    pub dns: Vec<(String, String)>,
    pub uses_decimal: bool,
    pub uses_date: bool,
    /// A `web` client: the composed front end (shell page and fragments).
    pub web: bool,
    /// One fragment per passed-through list (entities and views, not aggregates).
    pub fragments: Vec<FragmentView>,
    /// Some composition call is not `optional`: its failure fails the composition.
    pub required_calls: bool,
}

/// A fragment of the web shell: served by `service` (`GET /fragments/{name}`, from its list at
/// `path`), composed by every `web` BFF that passes `path` through.
#[derive(Debug, Clone, Serialize)]
pub struct FragmentView {
    pub name: String,
    pub title: String,
    pub service: String,
    pub port: u16,
    pub path: String,
    /// (JSON member, heading).
    pub columns: Vec<(String, String)>,
}

/// `order-history` → `Order history`.
fn heading(name: &str) -> String {
    let words = name.replace('-', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

fn fragment_view(bp: &Blueprint, prefix: &str) -> Option<FragmentView> {
    for s in &bp.services {
        let columns = |first: Vec<(String, String)>, fields: &[Field]| {
            first
                .into_iter()
                .chain(
                    fields
                        .iter()
                        .map(|f| (to_snake(&f.name.value), heading(&f.name.value))),
                )
                .take(5)
                .collect::<Vec<_>>()
        };
        let found = s
            .entities
            .iter()
            .find(|e| e.expose.as_ref().is_some_and(|x| x.path.value == prefix))
            .map(|e| columns(vec![("id".into(), "Id".into())], &e.fields))
            .or_else(|| {
                s.views
                    .iter()
                    .find(|v| v.expose.as_ref().is_some_and(|x| x.path.value == prefix))
                    .map(|v| {
                        let key: Vec<&Field> = v
                            .fields
                            .iter()
                            .filter(|f| f.name.value == v.key.value)
                            .collect();
                        let others: Vec<Field> = v
                            .fields
                            .iter()
                            .filter(|f| f.name.value != v.key.value)
                            .cloned()
                            .collect();
                        columns(
                            key.iter()
                                .map(|f| (to_snake(&f.name.value), heading(&f.name.value)))
                                .collect(),
                            &others,
                        )
                    })
            });
        if let Some(columns) = found {
            let name = prefix.trim_start_matches('/').replace('/', "-");
            return Some(FragmentView {
                title: heading(&name),
                name,
                service: s.name.value.clone(),
                port: s.port.value,
                path: prefix.to_string(),
                columns,
            });
        }
    }
    None
}

/// The fragments `service` serves: one per list of it that a `web` BFF passes through.
pub fn fragments_served_by(bp: &Blueprint, service: &str) -> Vec<FragmentView> {
    let mut out: Vec<FragmentView> = Vec::new();
    for b in bp.bffs.iter().filter(|b| b.client == "web") {
        for prefix in &b.routes {
            if let Some(f) = fragment_view(bp, &prefix.value)
                && f.service == service
                && !out.iter().any(|o| o.name == f.name)
            {
                out.push(f);
            }
        }
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct PassView {
    pub prefix: String,
    pub service: String,
    pub read: Vec<String>,
    pub write: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CalledView {
    pub service: String,
    pub snake: String,
    pub port: u16,
    pub types: Vec<TypeView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TypeView {
    pub name: String,
    /// Entities have `id` and `version`; views only their fields.
    pub entity: bool,
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompositionView {
    /// The axum path (`/order-details/{id}`).
    pub path: String,
    pub snake: String,
    pub params: Vec<String>,
    /// The handler's `Path` pattern and type: `id` and `String` for one parameter,
    /// `(a, b)` and `(String, String)` for several.
    pub path_pattern: String,
    pub path_type: String,
    pub read_roles: Vec<String>,
    /// Exactly one call runs first (its `tokio::join!` result is a one-tuple).
    pub one_first: bool,
    /// Calls that need no other call's answer (run together).
    pub first: Vec<CompositionCallView>,
    /// Calls that use an earlier call's answer (run after it).
    pub then: Vec<CompositionCallView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompositionCallView {
    /// Member of the answer (the service name).
    pub member: String,
    /// Rust variable.
    pub var: String,
    pub service_snake: String,
    /// `clients::orders::Order`, or `serde_json::Value`.
    pub rust_type: String,
    /// `format!` arguments: the literal and its expressions.
    pub format: String,
    pub args: Vec<String>,
    /// The earlier call this one needs (its variable).
    pub needs: Option<String>,
    /// A failure gives `null` and a warning; else it fails the whole composition.
    pub optional: bool,
}

/// The type a call of `path` on `service` reads: (Rust type, TypeView) if the path is the
/// "get one" of an exposed entity or view.
fn typed(bp: &Blueprint, service: &str, path: &str) -> Option<(String, TypeView)> {
    let svc = bp.service(service)?;
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| rest.starts_with('{') && rest.ends_with('}') && !rest.contains('/'))
    };
    let snake = to_snake(service);
    for e in &svc.entities {
        if let Some(x) = &e.expose
            && under(&x.path.value)
        {
            return Some((
                format!("clients::{snake}::{}", e.name.value),
                TypeView {
                    name: e.name.value.clone(),
                    entity: true,
                    fields: reader_fields(&e.fields),
                },
            ));
        }
    }
    for v in &svc.views {
        if let Some(x) = &v.expose
            && under(&x.path.value)
        {
            return Some((
                format!("clients::{snake}::{}", v.name.value),
                TypeView {
                    name: v.name.value.clone(),
                    entity: false,
                    fields: reader_fields(&v.fields),
                },
            ));
        }
    }
    None
}

fn call_view(
    bp: &Blueprint,
    service: &str,
    path: &str,
    params: &[String],
    called: &mut Vec<CalledView>,
) -> CompositionCallView {
    let mut format = String::new();
    let mut args = Vec::new();
    let mut needs = None;
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        format.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let inner = &rest[open + 1..open + close];
        format.push_str("{}");
        match inner.split_once('.') {
            Some((svc, field)) => {
                let var = to_snake(svc);
                args.push(format!("{var}.{}", rust_ident(&to_snake(field))));
                needs = Some(var);
            }
            None if params.iter().any(|p| p == inner) => args.push(to_snake(inner)),
            None => args.push(format!("\"{inner}\"")),
        }
        rest = &rest[open + close + 1..];
    }
    format.push_str(rest);
    let snake = to_snake(service);
    let port = bp.service(service).map_or(0, |s| s.port.value);
    let i = match called.iter().position(|c| c.service == service) {
        Some(i) => i,
        None => {
            called.push(CalledView {
                service: service.to_string(),
                snake: snake.clone(),
                port,
                types: Vec::new(),
            });
            called.len() - 1
        }
    };
    let rust_type = match typed(bp, service, path) {
        Some((rust, ty)) => {
            if !called[i].types.iter().any(|t| t.name == ty.name) {
                called[i].types.push(ty);
            }
            rust
        }
        None => "serde_json::Value".into(),
    };
    CompositionCallView {
        member: service.to_string(),
        var: snake.clone(),
        service_snake: snake,
        rust_type,
        format,
        args,
        needs,
        optional: false,
    }
}

/// One item as itself, several as a Rust tuple.
fn tuple(items: Vec<String>) -> String {
    if items.len() == 1 {
        items.concat()
    } else {
        format!("({})", items.join(", "))
    }
}

pub fn bff_view(b: &Bff, bp: &Blueprint) -> BffView {
    let mut routes = Vec::new();
    for prefix in &b.routes {
        let owner = bp.services.iter().find_map(|s| {
            s.entities
                .iter()
                .filter_map(|e| e.expose.as_ref())
                .chain(s.aggregates.iter().filter_map(|a| a.expose.as_ref()))
                .chain(s.views.iter().filter_map(|v| v.expose.as_ref()))
                .find(|x| x.path.value == prefix.value)
                .map(|x| (s, x))
        });
        if let Some((s, x)) = owner {
            routes.push(PassView {
                prefix: prefix.value.clone(),
                service: s.name.value.clone(),
                read: x.read.iter().map(|r| r.value.clone()).collect(),
                write: x.write.iter().map(|r| r.value.clone()).collect(),
            });
        }
    }
    let mut called: Vec<CalledView> = Vec::new();
    let compositions = b
        .compositions
        .iter()
        .map(|c| {
            let params: Vec<String> = c
                .path
                .value
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_string)
                .collect();
            let calls: Vec<CompositionCallView> = c
                .calls
                .iter()
                .map(|k| CompositionCallView {
                    optional: k.optional,
                    ..call_view(bp, &k.service.value, &k.path.value, &params, &mut called)
                })
                .collect();
            let (first, then): (Vec<_>, Vec<_>) =
                calls.into_iter().partition(|k| k.needs.is_none());
            CompositionView {
                snake: to_snake(
                    c.path
                        .value
                        .split('/')
                        .find(|s| !s.is_empty() && !s.starts_with('{'))
                        .unwrap_or("composition"),
                ),
                path: c.path.value.clone(),
                path_pattern: tuple(params.iter().map(|p| rust_ident(&to_snake(p))).collect()),
                path_type: tuple(params.iter().map(|_| "String".to_string()).collect()),
                params,
                read_roles: c.read.iter().map(|r| r.value.clone()).collect(),
                one_first: first.len() == 1,
                first,
                then,
            }
        })
        .collect();
    let mut dns: Vec<(String, String)> = routes
        .iter()
        .map(|r| r.service.as_str())
        .chain(called.iter().map(|c| c.service.as_str()))
        .filter_map(|name| bp.service(name))
        .map(|s| {
            (
                s.name.value.clone(),
                format!("{}:{}", s.name.value, s.port.value),
            )
        })
        .collect();
    dns.sort();
    dns.dedup();
    let types = || {
        called
            .iter()
            .flat_map(|c| c.types.iter())
            .flat_map(|t| t.fields.iter())
    };
    BffView {
        callers: Vec::new(),
        package: format!("{}-{}", bp.system.name.value, b.name.value),
        required_calls: b
            .compositions
            .iter()
            .flat_map(|c| &c.calls)
            .any(|k| !k.optional),
        web: b.client == "web",
        fragments: if b.client == "web" {
            routes
                .iter()
                .filter_map(|r| fragment_view(bp, &r.prefix))
                .collect()
        } else {
            Vec::new()
        },
        uses_decimal: types().any(|f| f.1.contains("rust_decimal")),
        uses_date: types().any(|f| f.1.contains("chrono")),
        dns,
        name: b.name.value.clone(),
        snake: to_snake(&b.name.value),
        client: b.client.clone(),
        port: b.port.value,
        routes,
        compositions,
        called,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_bff_composes_order_details() {
        let bp = crate::blueprint::load(include_str!("../../../../blueprints/shop.toml"))
            .expect("shop")
            .blueprint;
        let web = bff_view(&bp.bffs[0], &bp);
        assert_eq!(web.routes.len(), 4);
        let c = &web.compositions[0];
        assert_eq!(
            (c.snake.as_str(), c.params.as_slice()),
            ("order_details", &["id".to_string()][..])
        );
        let first: Vec<&str> = c.first.iter().map(|k| k.member.as_str()).collect();
        assert_eq!(first, ["orders", "order-history"]);
        let customers = &c.then[0];
        assert_eq!(customers.needs.as_deref(), Some("orders"));
        assert_eq!(customers.format, "/customers/{}");
        assert_eq!(customers.args, ["orders.customer_id"]);
        assert_eq!(customers.rust_type, "clients::customers::Customer");
        assert_eq!(c.first[1].rust_type, "clients::order_history::OrderSummary");
        assert_eq!(web.called.len(), 3);
        let names: Vec<&str> = web.fragments.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["products", "orders", "order-history"],
            "carts has no list"
        );
        assert_eq!(web.fragments[2].title, "Order history");
        assert_eq!(web.fragments[2].columns[0].0, "order_id");
    }
}
