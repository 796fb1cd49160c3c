//! The generated end-to-end suite (`tests/e2e`): its manifest, derived from the blueprint —
//! the processes to boot and, for every exposed path, entity, aggregate, event, view, saga and
//! BFF composition, what to check and with which sample data and roles — plus the crate's
//! glue. The checks themselves, and who they sign in as (`access.rs`, from the roles written
//! here), are the verbatim `crates/e2e-kit`. Entities without `expose` are listed too, as
//! internal: checked on their service.
//!
//! Sample data follows the defaults of the generated user-owned code, so a fresh workspace
//! passes: aggregate commands in an order the default `decide_*` accept (create, add, change,
//! remove, other commands, then the first of `closed-by`), saga participants' `reserve-<x>`
//! entities created first with room (or none, for the failure path), positive amounts.

#[path = "../../../../templates/crates/e2e-kit/src/manifest.rs"]
pub mod manifest;

#[path = "../../../../templates/crates/e2e-kit/src/kafka.rs"]
pub mod kafka;

/// Who the suite signs in as for each check (the tests read the manifest through it).
#[cfg(test)]
#[path = "../../../../templates/crates/e2e-kit/src/access.rs"]
pub mod access;

use serde_json::{Value, json};

use self::manifest::{
    Aggregate, Command, Composition, Entity, EventFlow, Kind as ProcessKind, Manifest, Process,
    Route, Saga, Setup, View,
};
use crate::blueprint::{
    Blueprint, Discovery, Expose, Field, FieldType, Kind, SagaStyle, Sessions, saga_shape,
};
use crate::names::{to_kebab, to_pascal, to_snake};
use crate::plan::file::{Ownership, PlannedFile, Source, template};
use crate::plan::model::saga::orchestration;
use crate::plan::model::service::ServiceView;
use crate::plan::model::system::SystemView;

/// An id no entity has: probes a route of an aggregate (404 means it reached the service).
const UNKNOWN_ID: &str = "00000000-0000-4000-8000-000000000000";

/// The suite's crate: its manifest (`system.toml`), `Cargo.toml`, the one test, and the
/// `<system>-dev` binary of `msa-gen dev`.
pub fn files(files: &mut Vec<PlannedFile>, system: &SystemView, bp: &Blueprint) {
    let manifest = manifest(bp, system);
    let text = toml::to_string(&manifest).unwrap_or_default();
    files.push(PlannedFile {
        path: "tests/e2e/system.toml".into(),
        ownership: Ownership::Generated,
        source: Source::Text(format!(
            "# What the end-to-end suite boots and checks, derived from blueprint.toml.\n\n{text}"
        )),
    });
    for (path, name) in [
        ("tests/e2e/Cargo.toml", "tests/e2e/Cargo.toml.tera"),
        ("tests/e2e/tests/system.rs", "tests/e2e/system.rs.tera"),
        ("tests/e2e/dev.rs", "tests/e2e/dev.rs.tera"),
    ] {
        files.push(template(path, Ownership::Generated, name, system));
    }
}

/// The manifest of `bp`'s system; `system` is the plan's view of it.
pub fn manifest(bp: &Blueprint, system: &SystemView) -> Manifest {
    Manifest {
        system: bp.system.name.value.clone(),
        broker: system.broker.as_str().to_string(),
        registry: bp.platform.discovery == Discovery::Registry,
        config_server: system.config_server.is_some(),
        roles: bp
            .auth
            .as_ref()
            .map(|a| a.roles.iter().map(|r| r.value.clone()).collect())
            .unwrap_or_default(),
        redis_sessions: bp
            .auth
            .as_ref()
            .is_some_and(|a| a.sessions == Sessions::Redis),
        processes: processes(bp, system),
        routes: routes(bp),
        entities: entities(bp, &system.services),
        views: views(bp, system),
        aggregates: aggregates(bp),
        events: events(bp, &system.services),
        sagas: sagas(bp),
        compositions: compositions(bp),
    }
}

fn processes(bp: &Blueprint, system: &SystemView) -> Vec<Process> {
    let platform = |name: &str, kind, database: Option<&str>| Process {
        name: name.into(),
        kind,
        database: database.map(str::to_string),
        broker: false,
        replicas: 1,
        mails: false,
    };
    let mut out = vec![platform(&system.console.name, ProcessKind::Console, None)];
    if bp.platform.discovery == Discovery::Registry {
        out.push(platform("registry", ProcessKind::Registry, None));
    }
    if system.config_server.is_some() {
        out.push(platform("config-server", ProcessKind::ConfigServer, None));
    }
    if bp.auth.is_some() {
        out.push(platform("auth", ProcessKind::Auth, Some("auth")));
    }
    for s in &system.services {
        let replicas = bp.service(&s.name).map_or(1, |x| x.replicas.clamp(1, 2));
        out.push(Process {
            name: s.name.clone(),
            kind: ProcessKind::Service,
            database: s.has_db.then(|| s.database.clone()),
            broker: s.messaging.is_some(),
            replicas,
            mails: s.messaging.as_ref().is_some_and(|m| m.mails),
        });
    }
    for b in &bp.bffs {
        out.push(platform(&b.name.value, ProcessKind::Bff, None));
    }
    out.push(platform("gateway", ProcessKind::Gateway, None));
    out
}

fn roles(list: &[crate::blueprint::Sp<String>]) -> Vec<String> {
    list.iter().map(|r| r.value.clone()).collect()
}

/// Every exposed path through the gateway, and every path a BFF passes on.
fn routes(bp: &Blueprint) -> Vec<Route> {
    let mut out = Vec::new();
    for s in &bp.services {
        let exposed = s
            .entities
            .iter()
            .filter_map(|e| e.expose.as_ref().map(|x| (x, x.path.value.clone())))
            .chain(
                s.views
                    .iter()
                    .filter_map(|v| v.expose.as_ref().map(|x| (x, x.path.value.clone()))),
            )
            .chain(s.aggregates.iter().filter_map(|a| {
                a.expose
                    .as_ref()
                    .map(|x| (x, format!("{}/{UNKNOWN_ID}", x.path.value)))
            }));
        for (x, path) in exposed {
            out.push(Route {
                service: s.name.value.clone(),
                path,
                read: roles(&x.read),
                via: None,
            });
        }
    }
    for b in &bp.bffs {
        for r in &b.routes {
            if let Some(route) = out
                .iter()
                .find(|x| x.via.is_none() && x.path == r.value)
                .cloned()
            {
                out.push(Route {
                    via: Some(b.name.value.clone()),
                    ..route
                });
            }
        }
    }
    out
}

/// A sample JSON value of a field; `variant` 1 for a create, 2 for an update.
fn sample(name: &str, ty: &FieldType, variant: u8) -> Value {
    sample_kind(name, &ty.kind, variant)
}

fn sample_kind(name: &str, kind: &Kind, variant: u8) -> Value {
    match kind {
        Kind::String | Kind::Text => json!(format!("{} {variant}", name.replace('-', " "))),
        Kind::Bool => json!(variant == 1),
        Kind::I32 | Kind::I64 => json!(2 + i64::from(variant)),
        Kind::F64 => json!(1.5 * f64::from(variant)),
        Kind::Decimal => json!(format!("{}.50", 10 * u32::from(variant) + 2)),
        Kind::Uuid => json!(sample_uuid(name)),
        Kind::Date => json!(format!("2026-0{variant}-15")),
        Kind::Datetime => json!(format!("2026-0{variant}-15T10:30:00Z")),
        Kind::Json => json!({ "sample": variant }),
        Kind::Enum(values) => {
            let i = if variant == 1 { 0 } else { values.len() - 1 };
            json!(values.get(i).cloned().unwrap_or_default())
        }
        Kind::List(inner) => json!([sample_kind(name, inner, variant)]),
    }
}

/// The same id for the same field name everywhere (an item added, then changed, then removed).
fn sample_uuid(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        hash >> 32,
        (hash >> 16) & 0xffff,
        hash & 0xfff,
        (hash >> 4) & 0xfff,
        hash & 0xffff_ffff_ffff
    )
}

/// Fields whose value comes back exactly as sent.
fn comparable(kind: &Kind) -> bool {
    match kind {
        Kind::String
        | Kind::Text
        | Kind::Bool
        | Kind::I32
        | Kind::I64
        | Kind::Uuid
        | Kind::Enum(_) => true,
        Kind::List(inner) => comparable(inner),
        _ => false,
    }
}

fn body(fields: &[Field], variant: u8, skip: Option<&str>) -> serde_json::Map<String, Value> {
    fields
        .iter()
        .filter(|f| Some(f.name.value.as_str()) != skip)
        .map(|f| {
            (
                to_snake(&f.name.value),
                sample(&f.name.value, &f.ty.value, variant),
            )
        })
        .collect()
}

fn text(map: serde_json::Map<String, Value>) -> String {
    Value::Object(map).to_string()
}

/// Every entity of a CRUD service: an exposed one through the gateway with its roles, an
/// internal one on its service (where any signed-in user may use it).
fn entities(bp: &Blueprint, services: &[ServiceView]) -> Vec<Entity> {
    // A saga owner's status and reason are the saga's to change: a create starts one, which may
    // change them under the check.
    let saga_owned = |service: &str, field: &str| {
        bp.sagas.iter().any(|s| s.owner.value == service)
            && (field == "status" || field == "reason")
    };
    let mut out = Vec::new();
    for s in bp
        .services
        .iter()
        .filter(|s| s.style.value == crate::blueprint::Style::Crud)
    {
        let view = services.iter().find(|v| v.name == s.name.value);
        for e in &s.entities {
            // The path the service serves it at (the exposed one, or its own).
            let Some(path) = view
                .and_then(|v| v.entities.iter().find(|x| x.name == e.name.value))
                .map(|x| x.path.clone())
            else {
                continue;
            };
            let (read, write) = read_write(e.expose.as_ref());
            out.push(Entity {
                service: s.name.value.clone(),
                name: e.name.value.clone(),
                path,
                internal: e.expose.is_none(),
                create: text(body(&e.fields, 1, None)),
                update: text(body(&e.fields, 2, None)),
                compare: e
                    .fields
                    .iter()
                    .filter(|f| comparable(&f.ty.value.kind))
                    .filter(|f| !saga_owned(&s.name.value, &f.name.value))
                    .map(|f| to_snake(&f.name.value))
                    .collect(),
                read,
                write,
            });
        }
    }
    out
}

fn views(bp: &Blueprint, system: &SystemView) -> Vec<View> {
    let mut out = Vec::new();
    for s in &bp.services {
        if !system
            .services
            .iter()
            .any(|x| x.name == s.name.value && x.messaging.is_some())
        {
            continue;
        }
        for v in &s.views {
            let (Some(x), Some(first)) = (&v.expose, v.from.first()) else {
                continue;
            };
            out.push(View {
                service: s.name.value.clone(),
                name: v.name.value.clone(),
                path: x.path.value.clone(),
                key: to_snake(&v.key.value),
                created_by: first.value.clone(),
                read: roles(&x.read),
            });
        }
    }
    out
}

fn aggregates(bp: &Blueprint) -> Vec<Aggregate> {
    let mut out = Vec::new();
    for s in &bp.services {
        for a in &s.aggregates {
            let Some(x) = &a.expose else { continue };
            let own_id = format!("{}-id", to_kebab(&a.name.value));
            let rank = |name: &str| match name.split_once('-').map_or(name, |(verb, _)| verb) {
                "add" => 1,
                "change" => 2,
                "remove" => 3,
                _ => 4,
            };
            // After a command of `closed-by` every command is refused: one closes, last.
            let closing = |name: &str| a.closed_by.iter().any(|c| c.value == name);
            let first_closing = (1..a.commands.len()).find(|i| closing(&a.commands[*i].name.value));
            let mut commands: Vec<(usize, Command)> = a
                .commands
                .iter()
                .enumerate()
                .filter(|(i, c)| !closing(&c.name.value) || first_closing == Some(*i))
                .filter_map(|(i, c)| {
                    let event = bp.events.iter().find(|e| e.name.value == c.event.value)?;
                    let rank = match i {
                        0 => 0,
                        _ if closing(&c.name.value) => 5,
                        _ => rank(&c.name.value),
                    };
                    Some((
                        rank,
                        Command {
                            name: c.name.value.clone(),
                            body: text(body(&event.fields, 1, Some(&own_id))),
                        },
                    ))
                })
                .collect();
            commands.sort_by_key(|(rank, _)| *rank);
            out.push(Aggregate {
                service: s.name.value.clone(),
                name: a.name.value.clone(),
                path: x.path.value.clone(),
                commands: commands.into_iter().map(|(_, c)| c).collect(),
                read: roles(&x.read),
                write: roles(&x.write),
            });
        }
    }
    out
}

/// Every event with consumers, published by a service that has an outbox for it.
fn events(bp: &Blueprint, services: &[ServiceView]) -> Vec<EventFlow> {
    let outbox = |name: &str| {
        services
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.messaging.as_ref().map(|m| m.in_tx && s.has_db))
            .unwrap_or(false)
    };
    let mut out = Vec::new();
    for e in &bp.events {
        let publisher = bp
            .services
            .iter()
            .find(|s| s.publishes.iter().any(|p| p.value == e.name.value) && outbox(&s.name.value));
        let consumers: Vec<String> = bp
            .services
            .iter()
            .filter(|s| s.consumes.iter().any(|c| c.value == e.name.value))
            .filter(|s| {
                services
                    .iter()
                    .any(|x| x.name == s.name.value && x.messaging.is_some())
            })
            .map(|s| s.name.value.clone())
            .collect();
        if let (Some(p), false) = (publisher, consumers.is_empty()) {
            out.push(EventFlow {
                event: e.name.value.clone(),
                publisher: p.name.value.clone(),
                payload: text(body(&e.fields, 1, None)),
                consumers,
            });
        }
    }
    out
}

/// The `read` and `write` roles of an expose (none: internal).
fn read_write(x: Option<&Expose>) -> (Vec<String>, Vec<String>) {
    x.map(|x| (roles(&x.read), roles(&x.write)))
        .unwrap_or_default()
}

fn sagas(bp: &Blueprint) -> Vec<Saga> {
    let mut out = Vec::new();
    for saga in &bp.sagas {
        // Sagas that move an exposed owner entity through its statuses, started by creating it
        // (choreography on `<Entity>Created`, orchestration by its HTTP endpoint). Other sagas are
        // checked through their instances (`saga_runs`).
        let Some(owner) = bp.service(&saga.owner.value) else {
            continue;
        };
        let Some(entity) = saga_shape::status_entity(bp, saga).filter(|e| e.expose.is_some())
        else {
            continue;
        };
        let Some(statuses) = saga_shape::statuses(entity) else {
            continue;
        };
        let start = match saga.style {
            SagaStyle::Choreography => {
                let created = format!("{}Created", entity.name.value);
                let trigger = saga_shape::trigger(bp, saga);
                if trigger.is_none_or(|t| t.name.value != created)
                    || saga_shape::keyed(bp, saga).is_none()
                {
                    continue;
                }
                entity
                    .expose
                    .as_ref()
                    .map(|x| x.path.value.clone())
                    .unwrap_or_default()
            }
            SagaStyle::Orchestration => {
                let Some(path) = orchestration::view(bp, saga).and_then(|v| v.path) else {
                    continue;
                };
                if saga.trigger.is_some() {
                    continue;
                }
                path
            }
        };
        // Mailing workers that consume the success event the owner publishes.
        let success_event = format!("{}{}", entity.name.value, to_pascal(&statuses.success));
        let mailed_by = bp
            .services
            .iter()
            .filter(|s| {
                s.style.value == crate::blueprint::Style::Worker
                    && s.consumes.iter().any(|c| c.value == success_event)
                    && saga_shape::published_by(owner).contains(&success_event.as_str())
            })
            .map(|s| s.name.value.clone())
            .collect();
        let mut start_body = body(&entity.fields, 1, None);
        start_body.insert(statuses.field.clone(), json!(statuses.running));
        let setups = saga
            .steps
            .iter()
            .filter_map(|step| reserve_setup(bp, &step.service.value, &step.action.value, entity))
            .collect();
        // The last step refused compensates every step before it that has a compensation.
        let fail_step = (saga.style == SagaStyle::Orchestration)
            .then(|| {
                let last = saga.steps.last()?;
                saga.steps[..saga.steps.len() - 1]
                    .iter()
                    .any(|s| s.compensation.is_some())
                    .then(|| {
                        format!(
                            "{}.{}.{}",
                            last.service.value, saga.name.value, last.action.value
                        )
                    })
            })
            .flatten();
        let (read, write) = read_write(entity.expose.as_ref());
        out.push(Saga {
            name: saga.name.value.clone(),
            style: match saga.style {
                SagaStyle::Choreography => "choreography".into(),
                SagaStyle::Orchestration => "orchestration".into(),
            },
            owner: owner.name.value.clone(),
            start,
            body: text(start_body),
            entity: entity
                .expose
                .as_ref()
                .map(|x| x.path.value.clone())
                .unwrap_or_default(),
            running: statuses.running,
            success: statuses.success,
            failure: statuses.failure,
            setups,
            fail_step,
            read,
            write,
            status_field: statuses.field.clone(),
            mailed_by,
        });
    }
    out
}

/// For a `reserve-<x>` step: the participant's entity holding `<x>-limit` and `<x>-reserved`,
/// created with room (and, for the failure path, with none), its id given to the saga through
/// the owner entity's `<entity>-id`.
fn reserve_setup(
    bp: &Blueprint,
    service: &str,
    action: &str,
    owner_entity: &crate::blueprint::Entity,
) -> Option<Setup> {
    let thing = action.strip_prefix("reserve-")?;
    let (limit, reserved) = (format!("{thing}-limit"), format!("{thing}-reserved"));
    let svc = bp.service(service)?;
    let entity = svc.entities.iter().find(|e| {
        e.expose.is_some()
            && [&limit, &reserved].iter().all(|n| {
                e.fields
                    .iter()
                    .any(|f| &f.name.value == *n && f.ty.value.kind == Kind::Decimal)
            })
    })?;
    let into = format!("{}-id", to_kebab(&entity.name.value));
    owner_entity
        .fields
        .iter()
        .find(|f| f.name.value == into && f.ty.value.kind == Kind::Uuid)?;
    let (read, write) = read_write(entity.expose.as_ref());
    let with = |room: &str| {
        let mut b = body(&entity.fields, 1, None);
        b.insert(to_snake(&limit), json!(room));
        b.insert(to_snake(&reserved), json!("0"));
        text(b)
    };
    Some(Setup {
        path: entity.expose.as_ref()?.path.value.clone(),
        body: with("1000000.00"),
        refusing: Some(with("0.00")),
        into: to_snake(&into),
        read,
        write,
        reserved: Some(to_snake(&reserved)),
    })
}

/// Compositions whose path takes `{id}` of the first call's entity.
fn compositions(bp: &Blueprint) -> Vec<Composition> {
    let mut out = Vec::new();
    for b in &bp.bffs {
        for c in &b.compositions {
            let Some(first) = c.calls.first() else {
                continue;
            };
            let Some(prefix) = first.path.value.strip_suffix("/{id}") else {
                continue;
            };
            if !c.path.value.contains("{id}") {
                continue;
            }
            out.push(Composition {
                bff: b.name.value.clone(),
                path: c.path.value.clone(),
                entity: prefix.to_string(),
                read: roles(&c.read),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Manifest {
        manifest_of(include_str!("../../../../blueprints/shop.toml"))
    }

    fn manifest_of(text: &str) -> Manifest {
        let bp = crate::blueprint::load(text).expect("valid").blueprint;
        let plan = crate::plan::plan(&bp, "", None);
        let file = plan
            .files
            .iter()
            .find(|f| f.path == "tests/e2e/system.toml")
            .expect("manifest planned");
        let crate::plan::Source::Text(t) = &file.source else {
            panic!("manifest is text")
        };
        toml::from_str(t).expect("manifest parses back")
    }

    #[test]
    fn the_shop_manifest_names_every_part() {
        let m = shop();
        let names: Vec<&str> = m.processes.iter().map(|p| p.name.as_str()).collect();
        // The console first (it receives every span), the gateway last.
        assert_eq!(names[..2], ["console", "registry"]);
        assert_eq!(names.last(), Some(&"gateway"));
        assert!(names.contains(&"auth") && names.contains(&"web-bff"));
        let orders = m
            .processes
            .iter()
            .find(|p| p.name == "orders")
            .expect("orders");
        assert_eq!(
            (orders.replicas, orders.database.as_deref()),
            (2, Some("orders"))
        );
        let entities: Vec<&str> = m.entities.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(entities, ["Customer", "Product", "Order", "Payment"]);
        let cart = &m.aggregates[0];
        let commands: Vec<&str> = cart.commands.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            commands,
            [
                "create",
                "add-item",
                "change-quantity",
                "remove-item",
                "check-out"
            ]
        );
        let checkout = m
            .sagas
            .iter()
            .find(|s| s.name == "checkout")
            .expect("checkout");
        assert_eq!(checkout.start, "/orders/checkout");
        assert_eq!(
            checkout.fail_step.as_deref(),
            Some("payments.checkout.charge")
        );
        assert_eq!(checkout.setups[0].into, "customer_id");
        let place = m
            .sagas
            .iter()
            .find(|s| s.name == "place-order")
            .expect("place-order");
        assert_eq!(
            (place.start.as_str(), place.success.as_str()),
            ("/orders", "approved")
        );
        let created = m
            .events
            .iter()
            .find(|e| e.event == "OrderCreated")
            .expect("OrderCreated");
        assert_eq!(created.consumers, ["customers", "order-history"]);
        assert!(
            m.routes
                .iter()
                .any(|r| r.via.as_deref() == Some("mobile-bff") && r.path == "/orders")
        );
        assert_eq!(m.compositions[0].entity, "/orders");
    }

    #[test]
    fn samples_keep_ids_stable_and_values_valid() {
        assert_eq!(sample_uuid("product-id"), sample_uuid("product-id"));
        assert_ne!(sample_uuid("product-id"), sample_uuid("customer-id"));
        assert!(uuid_like(&sample_uuid("x")));
        let t = FieldType {
            kind: Kind::Decimal,
            optional: false,
        };
        assert_eq!(sample("total", &t, 1), json!("12.50"));
    }

    fn uuid_like(s: &str) -> bool {
        s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
    }

    /// A system with `[auth]` roles `roles` (none: no `[auth]`) and, in one CRUD service, an
    /// entity per `(name, expose)` (`None`: not exposed).
    fn shapes(roles: Option<&str>, entities: &[(&str, Option<&str>)]) -> Manifest {
        let mut text = String::from("[system]\nname = \"shapes\"\n[platform]\nbroker = \"none\"\n");
        if let Some(roles) = roles {
            text += &format!("[auth]\nroles = {roles}\n");
        }
        text += "[[services]]\nname = \"payments\"\n";
        for (name, expose) in entities {
            text += &format!("  [[services.entities]]\n  name = \"{name}\"\n");
            if let Some(x) = expose {
                text += &format!("  expose = {x}\n");
            }
            text += "  [services.entities.fields]\n  amount = \"decimal\"\n  note = \"string\"\n";
        }
        manifest_of(&text)
    }

    /// The entity `name` of `m`, and who the suite signs in as for it.
    fn users_of(m: &Manifest, name: &str) -> (Entity, access::Access) {
        let e = m
            .entities
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no entity {name}"))
            .clone();
        let who = access::access(&m.roles, &e.read, &e.write);
        (e, who)
    }

    fn who(writer: &str, reader: &str, refused: Option<&str>) -> access::Access {
        access::Access {
            writer: Some(writer.into()),
            reader: Some(reader.into()),
            refused: refused.map(str::to_string),
        }
    }

    #[test]
    fn identities_follow_every_expose_shape() {
        let m = shapes(
            Some(r#"["admin", "clerk", "customer"]"#),
            &[
                // write ⊂ read: one user does both.
                (
                    "Invoice",
                    Some(
                        r#"{ path = "/invoices", read = ["customer", "admin"], write = ["customer"] }"#,
                    ),
                ),
                // read ⊂ write: the writer that also reads, not the first writer.
                (
                    "Refund",
                    Some(
                        r#"{ path = "/refunds", read = ["clerk"], write = ["customer", "clerk"] }"#,
                    ),
                ),
                // Disjoint: a payment authorisation clerks write and only admins read.
                (
                    "PaymentAuth",
                    Some(r#"{ path = "/payment-auths", read = ["admin"], write = ["clerk"] }"#),
                ),
                // Empty read: any signed-in user reads, the writer reads back.
                (
                    "Receipt",
                    Some(r#"{ path = "/receipts", read = [], write = ["clerk"] }"#),
                ),
                // Nothing declared: any signed-in user, not the admin who holds every role.
                ("Voucher", Some(r#"{ path = "/vouchers" }"#)),
                // Not exposed: on the service, as any signed-in user.
                ("Ledger", None),
            ],
        );
        let (invoice, users) = users_of(&m, "Invoice");
        assert_eq!((invoice.read.len(), invoice.write.len()), (2, 1));
        assert_eq!(users, who("customer", "customer", None));
        assert_eq!(users_of(&m, "Refund").1, who("clerk", "clerk", None));
        let (auth, users) = users_of(&m, "PaymentAuth");
        assert_eq!(
            (auth.read, auth.write),
            (vec!["admin".into()], vec!["clerk".into()])
        );
        assert_eq!(users, who("clerk", "admin", Some("clerk")));
        assert_eq!(users_of(&m, "Receipt").1, who("clerk", "clerk", None));
        assert_eq!(users_of(&m, "Voucher").1, who("clerk", "clerk", None));
        let (ledger, users) = users_of(&m, "Ledger");
        assert!(ledger.internal && !auth.internal);
        assert_eq!(ledger.path, "/ledger");
        assert_eq!(users, who("clerk", "clerk", None));
        // Only exposed paths are routes of the gateway.
        let routes: Vec<&str> = m.routes.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            routes,
            [
                "/invoices",
                "/refunds",
                "/payment-auths",
                "/receipts",
                "/vouchers"
            ]
        );
    }

    #[test]
    fn without_auth_the_suite_uses_no_tokens() {
        let m = shapes(
            None,
            &[("Note", Some(r#"{ path = "/notes" }"#)), ("Ledger", None)],
        );
        assert!(m.roles.is_empty() && !m.processes.iter().any(|p| p.name == "auth"));
        for name in ["Note", "Ledger"] {
            assert_eq!(users_of(&m, name).1, access::Access::default());
        }
        assert!(users_of(&m, "Ledger").0.internal);
    }

    #[test]
    fn sagas_carry_the_roles_of_what_they_create_and_read() {
        let m = shop();
        let place = m
            .sagas
            .iter()
            .find(|s| s.name == "place-order")
            .expect("place-order");
        let users = access::access(&m.roles, &place.read, &place.write);
        assert_eq!(users, who("customer", "customer", None));
        let setup = &place.setups[0];
        assert_eq!(setup.write, ["admin"]);
        let users = access::access(&m.roles, &setup.read, &setup.write);
        assert_eq!(users, who("admin", "admin", None));
    }

    #[test]
    fn only_the_first_closing_command_runs_and_last() {
        // After `remove-item` (the first closing command) every command is refused, so the
        // suite ends with it and leaves `check-out` out.
        let text = include_str!("../../../../blueprints/shop.toml").replace(
            "closed-by = [\"check-out\"]",
            "closed-by = [\"remove-item\", \"check-out\"]",
        );
        let m = manifest_of(&text);
        let commands: Vec<&str> = m.aggregates[0]
            .commands
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            commands,
            ["create", "add-item", "change-quantity", "remove-item"]
        );
    }
}
