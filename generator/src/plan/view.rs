//! Typed view models handed to the templates. Every decision about names, Rust types and SQL
//! types is made here, in Rust, so templates only place values and never compute them.

use serde::Serialize;

use crate::blueprint::{
    Blueprint, Broker, Entity, Event, Field, FieldType, Kind, Service, Sp, Store, Style, View,
};
use crate::names::{rust_ident, to_kebab, to_pascal, to_snake};

#[derive(Debug, Clone, Serialize)]
pub struct VariantView {
    /// As written in the blueprint and on the wire (`pending`).
    pub wire: String,
    /// Rust variant (`Pending`).
    pub pascal: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnumView {
    /// Rust type name (`OrderStatus`).
    pub name: String,
    pub variants: Vec<VariantView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    /// Blueprint name (`customer-id`).
    pub name: String,
    /// JSON member and SQL column (`customer_id`).
    pub snake: String,
    /// Rust identifier (`customer_id`, `r#type`).
    pub ident: String,
    /// Full Rust type, `Option<…>` included.
    pub rust_type: String,
    /// Rust type without `Option`.
    pub rust_base: String,
    /// Rust type to name in a utoipa `value_type` (lists and JSON need one), or empty.
    pub schema_type: String,
    /// SQL column type.
    pub sql_type: String,
    /// `NOT NULL` unless optional.
    pub optional: bool,
    /// Stored as JSONB and decoded with `#[sqlx(json)]` (lists).
    pub json_column: bool,
    /// Can be used as an equality filter on list endpoints.
    pub filterable: bool,
    /// Strings are limited to 255 characters.
    pub max_len: Option<u32>,
    /// Must be a finite number.
    pub finite: bool,
    /// A `CHECK` constraint for enums (or lists of enums), empty otherwise.
    pub check: String,
    /// The Rust type is `Copy`: bound and compared by value.
    pub copy: bool,
    /// A uuid field named `*-id`: indexed, as it is usually looked up by.
    pub indexed: bool,
    /// Example value (JSON) for tests and docs.
    pub example: String,
    /// The blueprint type, for comments and docs.
    pub blueprint_type: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntityView {
    pub name: String,
    pub snake: String,
    pub kebab: String,
    /// Postgres table (`order`), always quoted in SQL.
    pub table: String,
    pub path: String,
    pub exposed: bool,
    pub read_roles: Vec<String>,
    pub write_roles: Vec<String>,
    pub fields: Vec<FieldView>,
    pub enums: Vec<EnumView>,
    /// Some field has a built-in check (string length, finite number).
    pub has_checks: bool,
    /// Some field can filter the list endpoint.
    pub has_filters: bool,
    /// `INSERT … RETURNING *` with `$1` = id and the fields in order.
    pub insert_sql: String,
    /// `UPDATE … RETURNING *` with `$1` = id, the fields, then the expected version.
    pub update_sql: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub snake: String,
    pub pascal: String,
    pub style: String,
    pub port: u16,
    pub has_db: bool,
    pub database: String,
    pub publishes: Vec<String>,
    pub consumes: Vec<String>,
    pub entities: Vec<EntityView>,
    /// Views of a read model.
    pub views: Vec<ViewView>,
    pub uses_decimal: bool,
    pub uses_date: bool,
    /// Events through the outbox and consumers; `None` when the service has none (or this
    /// version does not generate them for its style or broker).
    pub messaging: Option<MessagingView>,
    /// Clients of the services it calls synchronously.
    pub calls: Vec<CallView>,
    /// Aggregates of an event-sourced service.
    pub aggregates: Vec<super::aggregate::AggregateView>,
    /// Choreography sagas it owns or takes part in.
    pub sagas: Vec<super::saga::SagaFileView>,
    /// It runs steps of a saga (has `steps/`).
    pub saga_steps: bool,
    /// It owns a saga.
    pub saga_owner: bool,
    /// Orchestration sagas it owns.
    pub orchestrations: Vec<super::orchestration::OrchestrationView>,
    /// Orchestration sagas it takes part in.
    pub participations: Vec<super::orchestration::ParticipantView>,
    /// Events between two snapshots of an aggregate.
    pub snapshot_every: u32,
}

/// A client of a called service, with the blueprint's resilience policy.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    pub service: String,
    /// Rust module / function prefix (`products`).
    pub snake: String,
    pub port: u16,
    pub timeout_ms: u64,
    pub retries: u32,
    pub window: u32,
    /// Calls in the window before the failure rate counts (half the window).
    pub min_calls: u32,
    pub failure_rate: f64,
    pub open_for_ms: u64,
    /// `Error`, `Cached` or `Default` (the runtime's `Fallback`).
    pub fallback: String,
    /// The called service's exposed entities, read through typed functions.
    pub entities: Vec<CalledEntityView>,
}

/// An entity of a called service, as the caller reads it (enums as their wire strings, so a
/// new variant on the other side does not break the caller).
#[derive(Debug, Clone, Serialize)]
pub struct CalledEntityView {
    pub name: String,
    pub snake: String,
    pub path: String,
    /// (Rust identifier, Rust type) of each field.
    pub fields: Vec<(String, String)>,
}

/// How a service publishes and consumes events.
#[derive(Debug, Clone, Serialize)]
pub struct MessagingView {
    /// The runtime feature and broker kind: `nats` or `rabbitmq`.
    pub broker: String,
    pub publishes: Vec<String>,
    pub handlers: Vec<HandlerView>,
    /// Consumed events handled by user modules in `handlers/` (not by projections).
    pub user_handlers: Vec<HandlerView>,
    /// Events published by the generated CRUD code itself.
    pub auto: Vec<AutoPublishView>,
    /// Handlers run in a database transaction with inbox dedup; otherwise (a worker without a
    /// database) they run plain, deduplicated in memory.
    pub in_tx: bool,
    /// Tables of a read model's views (journaled for rebuilds).
    pub view_tables: Vec<String>,
    /// A worker: its default handlers render and send a mail.
    pub mails: bool,
}

/// A consumed event and the code that handles it.
#[derive(Debug, Clone, Serialize)]
pub struct HandlerView {
    pub event: String,
    /// Module of the handler (`credit_reserved`).
    pub module: String,
    /// Views this event feeds (snake names); empty for a user handler.
    pub projects: Vec<String>,
    /// Saga functions it runs (`place_order::reserve_credit`), in `sagas/`; empty for a user
    /// handler.
    pub sagas: Vec<String>,
}

/// A read-model view: a table kept by projections of events, with a query API.
#[derive(Debug, Clone, Serialize)]
pub struct ViewView {
    pub name: String,
    pub snake: String,
    pub table: String,
    pub path: String,
    pub exposed: bool,
    pub read_roles: Vec<String>,
    /// The key field (also in `fields`).
    pub key: FieldView,
    pub fields: Vec<FieldView>,
    pub enums: Vec<EnumView>,
    pub has_filters: bool,
    pub sources: Vec<ProjectionView>,
    /// `INSERT … ON CONFLICT DO NOTHING`: `$1..$n` are the fields in order.
    pub insert_sql: String,
    /// `UPDATE … WHERE key = $1`: `$2..` the other fields in order.
    pub update_sql: String,
    /// Fields other than the key, in order.
    pub others: Vec<FieldView>,
}

/// How one event feeds one view.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectionView {
    pub event: String,
    /// `order_created`.
    pub module: String,
    /// The event field holding the view's key (Rust identifier).
    pub key_field: String,
    pub copies: Vec<CopyView>,
}

/// A same-named field copied from an event into a view.
#[derive(Debug, Clone, Serialize)]
pub struct CopyView {
    pub field: String,
    /// `direct` (same type), `wrap` (into an optional view field) or `if_some` (from an
    /// optional event field into an optional view field, only when present).
    pub mode: String,
    pub copy: bool,
}

/// `OrderCreated` published on `create` of `Order`, each event field taken from the entity.
#[derive(Debug, Clone, Serialize)]
pub struct AutoPublishView {
    pub entity: String,
    /// `create`, `update` or `delete`.
    pub on: String,
    pub event: String,
    pub assignments: Vec<AssignView>,
    /// Sagas (snake) whose instance starts when this event is published.
    pub starts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssignView {
    /// Event field (Rust identifier).
    pub field: String,
    /// Entity field it is copied from (Rust identifier, `id` for `<entity>-id`).
    pub from: String,
    /// Copied by value (`Copy` types) or cloned.
    pub copy: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub name: String,
    pub kebab: String,
    pub version: u32,
    pub fields: Vec<FieldView>,
    pub enums: Vec<EnumView>,
    /// The first uuid field, used as the envelope's aggregate id.
    pub aggregate_id: Option<String>,
    pub publisher: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemView {
    pub name: String,
    pub snake: String,
    pub version: String,
    pub description: String,
    pub services: Vec<ServiceView>,
    pub events: Vec<EventView>,
    pub broker: String,
    pub image_registry: String,
    pub graph: String,
    /// Orchestration sagas: their data, command and reply types live in `contracts`.
    pub orchestrations: Vec<super::orchestration::OrchestrationView>,
    /// Backends for frontends.
    pub bffs: Vec<super::bff::BffView>,
    pub not_generated: Vec<String>,
    /// Every (consumer group, event type) served by generated consumers.
    pub topology: Vec<(String, String)>,
    /// The service registry, with `discovery = "registry"`.
    pub registry: Option<PlatformServiceView>,
    pub gateway: GatewayView,
    /// The auth service, when the blueprint has `[auth]`.
    pub auth: Option<AuthView>,
    /// The config server, with `config = "server"`.
    pub config_server: Option<PlatformServiceView>,
}

/// The auth service: its port, the roles it grants and the token lifetimes.
#[derive(Debug, Clone, Serialize)]
pub struct AuthView {
    pub port: u16,
    pub roles: Vec<String>,
    pub access_ttl_ms: u64,
    pub refresh_ttl_ms: u64,
    /// `sessions = "redis"`: opaque session tokens kept in Redis.
    pub redis_sessions: bool,
}

/// A platform service on a fixed port.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformServiceView {
    pub name: String,
    pub port: u16,
}

/// The API gateway: its routes and limits.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayView {
    pub port: u16,
    pub timeout_ms: u64,
    pub rate_limit: Option<(u32, u32)>,
    pub cors: Vec<String>,
    pub routes: Vec<RouteView>,
    /// (service, `host:port`) for DNS discovery: the service's name and port.
    pub fixed: Vec<(String, String)>,
}

/// A path prefix routed to a service, with the roles of the blueprint's `expose`.
#[derive(Debug, Clone, Serialize)]
pub struct RouteView {
    pub prefix: String,
    pub service: String,
    pub read: Vec<String>,
    pub write: Vec<String>,
    pub public: bool,
}

/// The gateway's view of the generated services: every exposed entity and view, and the auth
/// service's endpoints (token and keys public, the rest signed in).
pub fn gateway_view(
    bp: &Blueprint,
    services: &[ServiceView],
    auth: Option<&AuthView>,
) -> GatewayView {
    let mut routes = Vec::new();
    let mut fixed: Vec<(String, String)> = Vec::new();
    if let Some(a) = auth {
        let admin = vec!["admin".to_string()];
        for (prefix, public, roles) in [
            ("/oauth", true, Vec::new()),
            ("/.well-known", true, Vec::new()),
            ("/userinfo", false, Vec::new()),
            ("/users", false, admin.clone()),
            ("/clients", false, admin.clone()),
        ] {
            routes.push(RouteView {
                prefix: prefix.into(),
                service: "auth".into(),
                read: roles.clone(),
                write: roles,
                public,
            });
        }
        fixed.push(("auth".into(), format!("auth:{}", a.port)));
    }
    for s in services {
        for e in s.entities.iter().filter(|e| e.exposed) {
            routes.push(RouteView {
                prefix: e.path.clone(),
                service: s.name.clone(),
                read: e.read_roles.clone(),
                write: e.write_roles.clone(),
                public: false,
            });
        }
        for v in s.views.iter().filter(|v| v.exposed) {
            routes.push(RouteView {
                prefix: v.path.clone(),
                service: s.name.clone(),
                read: v.read_roles.clone(),
                write: Vec::new(),
                public: false,
            });
        }
        // Event-sourced aggregates: their commands and state, with the expose's roles.
        let aggregates = bp
            .service(&s.name)
            .into_iter()
            .flat_map(|svc| svc.aggregates.iter())
            .filter_map(|a| a.expose.as_ref());
        for x in aggregates {
            let roles = |list: &[Sp<String>]| list.iter().map(|r| r.value.clone()).collect();
            routes.push(RouteView {
                prefix: x.path.value.clone(),
                service: s.name.clone(),
                read: roles(&x.read),
                write: roles(&x.write),
                public: false,
            });
        }
    }
    for b in &bp.bffs {
        routes.push(RouteView {
            prefix: format!("/{}", b.name.value),
            service: b.name.value.clone(),
            read: Vec::new(),
            write: Vec::new(),
            public: false,
        });
        fixed.push((
            b.name.value.clone(),
            format!("{}:{}", b.name.value, b.port.value),
        ));
    }
    routes.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    // Every service, routed or not: the gateway's configured routes may name any of them.
    fixed.extend(
        services
            .iter()
            .map(|s| (s.name.clone(), format!("{}:{}", s.name, s.port))),
    );
    fixed.sort();
    fixed.dedup();
    GatewayView {
        port: bp.gateway.port.value,
        timeout_ms: bp.gateway.timeout.millis,
        rate_limit: bp
            .gateway
            .rate_limit
            .as_ref()
            .map(|r| (r.per_second, r.burst)),
        cors: bp.gateway.cors.iter().map(|c| c.value.clone()).collect(),
        routes,
        fixed,
    }
}

fn rust_of(kind: &Kind, owner: &str, field: &str) -> String {
    match kind {
        Kind::String | Kind::Text => "String".into(),
        Kind::Bool => "bool".into(),
        Kind::I32 => "i32".into(),
        Kind::I64 => "i64".into(),
        Kind::F64 => "f64".into(),
        Kind::Decimal => "rust_decimal::Decimal".into(),
        Kind::Uuid => "uuid::Uuid".into(),
        Kind::Date => "chrono::NaiveDate".into(),
        Kind::Datetime => "chrono::DateTime<chrono::Utc>".into(),
        Kind::Json => "serde_json::Value".into(),
        Kind::Enum(_) => enum_name(owner, field),
        Kind::List(inner) => format!("Vec<{}>", rust_of(inner, owner, field)),
    }
}

/// `Order` + `status` → `OrderStatus`.
pub fn enum_name(owner: &str, field: &str) -> String {
    format!("{}{}", to_pascal(owner), to_pascal(field))
}

fn sql_of(kind: &Kind) -> &'static str {
    match kind {
        Kind::String | Kind::Text | Kind::Enum(_) => "TEXT",
        Kind::Bool => "BOOLEAN",
        Kind::I32 => "INTEGER",
        Kind::I64 => "BIGINT",
        Kind::F64 => "DOUBLE PRECISION",
        Kind::Decimal => "NUMERIC",
        Kind::Uuid => "UUID",
        Kind::Date => "DATE",
        Kind::Datetime => "TIMESTAMPTZ",
        Kind::Json | Kind::List(_) => "JSONB",
    }
}

fn example_of(kind: &Kind, n: usize) -> String {
    match kind {
        Kind::String | Kind::Text => format!("\"example {n}\""),
        Kind::Bool => "true".into(),
        Kind::I32 | Kind::I64 => format!("{}", n + 1),
        Kind::F64 => format!("{}.5", n + 1),
        Kind::Decimal => format!("\"{}.25\"", n + 10),
        Kind::Uuid => format!("\"00000000-0000-4000-8000-{:012}\"", n + 1),
        Kind::Date => "\"2026-01-31\"".into(),
        Kind::Datetime => "\"2026-01-31T12:00:00Z\"".into(),
        Kind::Json => "{\"key\": \"value\"}".into(),
        Kind::Enum(v) => format!("\"{}\"", v.first().map_or("", String::as_str)),
        Kind::List(inner) => format!("[{}]", example_of(inner, n)),
    }
}

pub fn field_view(f: &Field, owner: &str, n: usize) -> FieldView {
    let FieldType { kind, optional } = &f.ty.value;
    let snake = to_snake(&f.name.value);
    let base = rust_of(kind, owner, &f.name.value);
    let rust_type = if *optional {
        format!("Option<{base}>")
    } else {
        base.clone()
    };
    // utoipa needs a stand-in for JSON values; everything else it derives itself.
    let schema_type = match kind {
        Kind::Json => "Object".to_string(),
        Kind::List(inner) if matches!(inner.as_ref(), Kind::Json) => "Vec<Object>".to_string(),
        _ => String::new(),
    };
    let column = format!("\"{snake}\"");
    let check = match kind {
        Kind::Enum(v) => {
            let list = v
                .iter()
                .map(|x| format!("'{x}'"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("CHECK ({column} IN ({list}))")
        }
        _ => String::new(),
    };
    FieldView {
        name: f.name.value.clone(),
        ident: rust_ident(&snake),
        snake,
        rust_type,
        rust_base: base,
        schema_type,
        sql_type: sql_of(kind).into(),
        optional: *optional,
        json_column: matches!(kind, Kind::List(_)),
        filterable: !matches!(kind, Kind::Json | Kind::List(_) | Kind::F64 | Kind::Text),
        max_len: matches!(kind, Kind::String).then_some(255),
        finite: matches!(kind, Kind::F64),
        check,
        copy: !matches!(kind, Kind::String | Kind::Text | Kind::Json | Kind::List(_)),
        indexed: matches!(kind, Kind::Uuid) && f.name.value.ends_with("-id"),
        example: example_of(kind, n),
        blueprint_type: f.ty.value.to_string(),
    }
}

fn enums_of(fields: &[Field], owner: &str) -> Vec<EnumView> {
    fields
        .iter()
        .filter_map(|f| {
            let variants = match &f.ty.value.kind {
                Kind::Enum(v) => v,
                Kind::List(inner) => match inner.as_ref() {
                    Kind::Enum(v) => v,
                    _ => return None,
                },
                _ => return None,
            };
            Some(EnumView {
                name: enum_name(owner, &f.name.value),
                variants: variants
                    .iter()
                    .map(|v| VariantView {
                        wire: v.clone(),
                        pascal: to_pascal(v),
                    })
                    .collect(),
            })
        })
        .collect()
}

fn entity_view(e: &Entity) -> EntityView {
    let name = e.name.value.clone();
    let fields: Vec<FieldView> = e
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_view(f, &name, i))
        .collect();
    let table = to_snake(&name);
    let cols: Vec<String> = fields.iter().map(|f| format!("\"{}\"", f.snake)).collect();
    let insert_sql = format!(
        "INSERT INTO \"{table}\" (\"id\", {}) VALUES ($1, {}) RETURNING *",
        cols.join(", "),
        (0..cols.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let update_sql = format!(
        "UPDATE \"{table}\" SET {}, \"version\" = \"version\" + 1, \"updated_at\" = now() WHERE \"id\" = $1 AND \"version\" = ${} RETURNING *",
        cols.iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 2))
            .collect::<Vec<_>>()
            .join(", "),
        cols.len() + 2
    );
    EntityView {
        has_checks: fields.iter().any(|f| f.max_len.is_some() || f.finite),
        has_filters: fields.iter().any(|f| f.filterable),
        insert_sql,
        update_sql,
        snake: to_snake(&name),
        kebab: to_kebab(&name),
        table,
        path: e
            .expose
            .as_ref()
            .map_or_else(|| format!("/{}", to_kebab(&name)), |x| x.path.value.clone()),
        exposed: e.expose.is_some(),
        read_roles: e
            .expose
            .iter()
            .flat_map(|x| x.read.iter().map(|r| r.value.clone()))
            .collect(),
        write_roles: e
            .expose
            .iter()
            .flat_map(|x| x.write.iter().map(|r| r.value.clone()))
            .collect(),
        fields,
        enums: enums_of(&e.fields, &name),
        name,
    }
}

fn kinds(f: &Field) -> Vec<&Kind> {
    match &f.ty.value.kind {
        Kind::List(inner) => vec![&f.ty.value.kind, inner.as_ref()],
        k => vec![k],
    }
}

/// Whether `s` publishes or consumes any event.
pub fn has_events(s: &Service) -> bool {
    !s.publishes.is_empty() || !s.consumes.is_empty()
}

/// Whether this version generates event messaging for `s`: a CRUD service or read model with a
/// database, or a worker, on a broker the runtime has an adapter for, that publishes or
/// consumes.
pub fn has_messaging(s: &Service, bp: &Blueprint) -> bool {
    let style_ok = match s.style.value {
        Style::Crud | Style::ReadModel => s.store.value == Store::Postgres,
        Style::Worker => s.store.value == Store::Postgres || !s.consumes.is_empty(),
        Style::EventSourced => s.store.value == Store::Postgres,
    };
    bp.platform.broker.value != Broker::None && style_ok && has_events(s)
}

/// Whether the service publishes events it has no outbox for (a worker without a database).
pub fn publishes_without_outbox(s: &Service, bp: &Blueprint) -> bool {
    has_messaging(s, bp) && s.store.value != Store::Postgres && !s.publishes.is_empty()
}

/// The events of `entity` named `<Entity>Created|Updated|Deleted` that `s` publishes and whose
/// every field the entity holds with the same type (`<entity>-id` is its id).
fn auto_publish(s: &Service, e: &Entity, bp: &Blueprint) -> Vec<AutoPublishView> {
    let own_id = format!("{}-id", to_kebab(&e.name.value));
    let mut out = Vec::new();
    for (suffix, on) in [
        ("Created", "create"),
        ("Updated", "update"),
        ("Deleted", "delete"),
    ] {
        let name = format!("{}{suffix}", e.name.value);
        if !s.publishes.iter().any(|p| p.value == name) {
            continue;
        }
        let Some(event) = bp.events.iter().find(|ev| ev.name.value == name) else {
            continue;
        };
        let uuid = FieldType {
            kind: Kind::Uuid,
            optional: false,
        };
        let assignments: Option<Vec<AssignView>> = event
            .fields
            .iter()
            .map(|f| {
                let field = rust_ident(&to_snake(&f.name.value));
                if f.name.value == own_id && f.ty.value == uuid {
                    return Some(AssignView {
                        field,
                        from: "id".into(),
                        copy: true,
                    });
                }
                let source = e.fields.iter().find(|x| x.name.value == f.name.value)?;
                let plain = !matches!(f.ty.value.kind, Kind::Enum(_))
                    && !matches!(&f.ty.value.kind, Kind::List(i) if matches!(i.as_ref(), Kind::Enum(_)));
                (source.ty.value == f.ty.value && plain).then(|| AssignView {
                    from: field.clone(),
                    field,
                    copy: field_view(f, &name, 0).copy,
                })
            })
            .collect();
        if let Some(assignments) = assignments {
            out.push(AutoPublishView {
                entity: e.name.value.clone(),
                on: on.into(),
                event: name,
                assignments,
                starts: Vec::new(),
            });
        }
    }
    out
}

fn messaging_view(
    s: &Service,
    bp: &Blueprint,
    saga_calls: &[super::saga::SagaCall],
) -> Option<MessagingView> {
    if !has_messaging(s, bp) {
        return None;
    }
    let in_tx = s.store.value == Store::Postgres;
    let handlers: Vec<HandlerView> = s
        .consumes
        .iter()
        .map(|c| HandlerView {
            event: c.value.clone(),
            module: to_snake(&c.value),
            projects: s
                .views
                .iter()
                .filter(|v| v.from.iter().any(|f| f.value == c.value))
                .map(|v| to_snake(&v.name.value))
                .collect(),
            sagas: saga_calls
                .iter()
                .filter(|x| x.event == c.value)
                .map(|x| x.path.clone())
                .collect(),
        })
        .collect();
    Some(MessagingView {
        broker: bp.platform.broker.value.as_str().to_string(),
        publishes: if in_tx {
            s.publishes.iter().map(|p| p.value.clone()).collect()
        } else {
            Vec::new()
        },
        user_handlers: handlers
            .iter()
            .filter(|h| h.projects.is_empty() && h.sagas.is_empty())
            .cloned()
            .collect(),
        handlers,
        in_tx,
        view_tables: s.views.iter().map(|v| to_snake(&v.name.value)).collect(),
        mails: s.style.value == Style::Worker,
        auto: s
            .entities
            .iter()
            .flat_map(|e| auto_publish(s, e, bp))
            .collect(),
    })
}

/// How the event field `ef` is copied into the view field `vf`, if it can be.
fn copy_mode(ef: &Field, vf: &Field) -> Option<&'static str> {
    let (e, v) = (&ef.ty.value, &vf.ty.value);
    let plain = |k: &Kind| {
        !matches!(k, Kind::Enum(_))
            && !matches!(k, Kind::List(i) if matches!(i.as_ref(), Kind::Enum(_)))
    };
    if e.kind != v.kind || !plain(&e.kind) {
        return None;
    }
    match (e.optional, v.optional) {
        (false, false) => Some("direct"),
        (false, true) => Some("wrap"),
        (true, true) => Some("if_some"),
        (true, false) => None,
    }
}

fn view_view(v: &View, bp: &Blueprint) -> Option<ViewView> {
    let name = v.name.value.clone();
    let table = to_snake(&name);
    let fields: Vec<FieldView> = v
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_view(f, &name, i))
        .collect();
    let key_field = v.fields.iter().find(|f| f.name.value == v.key.value)?;
    let key = field_view(key_field, &name, 0);
    let others: Vec<FieldView> = fields
        .iter()
        .filter(|f| f.name != key.name)
        .cloned()
        .collect();
    let sources = v
        .from
        .iter()
        .filter_map(|f| bp.events.iter().find(|e| e.name.value == f.value))
        .filter_map(|e| {
            let ek = e.fields.iter().find(|f| f.name.value == v.key.value)?;
            (ek.ty.value == key_field.ty.value).then_some(())?;
            Some(ProjectionView {
                event: e.name.value.clone(),
                module: to_snake(&e.name.value),
                key_field: rust_ident(&to_snake(&ek.name.value)),
                copies: v
                    .fields
                    .iter()
                    .filter(|vf| vf.name.value != v.key.value)
                    .filter_map(|vf| {
                        let ef = e.fields.iter().find(|f| f.name.value == vf.name.value)?;
                        Some(CopyView {
                            field: rust_ident(&to_snake(&vf.name.value)),
                            mode: copy_mode(ef, vf)?.to_string(),
                            copy: field_view(ef, &name, 0).copy,
                        })
                    })
                    .collect(),
            })
        })
        .collect();
    let cols: Vec<String> = fields.iter().map(|f| format!("\"{}\"", f.snake)).collect();
    let insert_sql = format!(
        "INSERT INTO \"{table}\" ({}) VALUES ({}) ON CONFLICT (\"{}\") DO NOTHING",
        cols.join(", "),
        (1..=cols.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", "),
        key.snake
    );
    let update_sql = format!(
        "UPDATE \"{table}\" SET {}\"updated_at\" = now() WHERE \"{}\" = $1",
        others
            .iter()
            .enumerate()
            .map(|(i, f)| format!("\"{}\" = ${}, ", f.snake, i + 2))
            .collect::<String>(),
        key.snake
    );
    Some(ViewView {
        snake: table.clone(),
        path: v
            .expose
            .as_ref()
            .map_or_else(|| format!("/{}", to_kebab(&name)), |x| x.path.value.clone()),
        exposed: v.expose.is_some(),
        read_roles: v
            .expose
            .iter()
            .flat_map(|x| x.read.iter().map(|r| r.value.clone()))
            .collect(),
        has_filters: fields.iter().any(|f| f.filterable),
        enums: enums_of(&v.fields, &name),
        key,
        fields,
        others,
        sources,
        insert_sql,
        update_sql,
        table,
        name,
    })
}

/// The tolerant-reader Rust type of a field read from another service.
/// (Rust identifier, tolerant reader type) of each field: what a client of the service reads.
pub(super) fn reader_fields(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| {
            let base = reader_type(&f.ty.value.kind);
            let ty = if f.ty.value.optional {
                format!("Option<{base}>")
            } else {
                base
            };
            (rust_ident(&to_snake(&f.name.value)), ty)
        })
        .collect()
}

fn reader_type(kind: &Kind) -> String {
    match kind {
        Kind::Enum(_) => "String".into(),
        Kind::List(inner) => format!("Vec<{}>", reader_type(inner)),
        other => rust_of(other, "", ""),
    }
}

fn call_views(s: &Service, bp: &Blueprint) -> Vec<CallView> {
    s.calls
        .iter()
        .filter_map(|c| {
            let callee = bp
                .services
                .iter()
                .find(|x| x.name.value == c.service.value)?;
            let breaker = c.breaker.clone().unwrap_or(crate::blueprint::Breaker {
                failure_rate: 0.5,
                window: 20,
                open_for: crate::blueprint::Duration { millis: 10_000 },
            });
            Some(CallView {
                service: callee.name.value.clone(),
                snake: to_snake(&callee.name.value),
                port: callee.port.value,
                timeout_ms: c.timeout.millis,
                retries: c.retries,
                window: breaker.window,
                min_calls: breaker.window.div_ceil(2).max(1),
                failure_rate: breaker.failure_rate,
                open_for_ms: breaker.open_for.millis,
                fallback: match c.fallback {
                    crate::blueprint::Fallback::Error => "Error",
                    crate::blueprint::Fallback::Cached => "Cached",
                    crate::blueprint::Fallback::Default => "Default",
                }
                .into(),
                entities: callee
                    .entities
                    .iter()
                    .filter(|e| e.expose.is_some())
                    .map(|e| CalledEntityView {
                        name: e.name.value.clone(),
                        snake: to_snake(&e.name.value),
                        path: e
                            .expose
                            .as_ref()
                            .map_or_else(String::new, |x| x.path.value.clone()),
                        fields: reader_fields(&e.fields),
                    })
                    .collect(),
            })
        })
        .collect()
}

pub fn service_view(s: &Service, bp: &Blueprint) -> ServiceView {
    let all_fields: Vec<&Field> = s
        .entities
        .iter()
        .flat_map(|e| e.fields.iter())
        .chain(s.views.iter().flat_map(|v| v.fields.iter()))
        .collect();
    let called: Vec<&Field> = s
        .calls
        .iter()
        .filter_map(|c| bp.services.iter().find(|x| x.name.value == c.service.value))
        .flat_map(|x| x.entities.iter().flat_map(|e| e.fields.iter()))
        .collect();
    let commanded = s
        .aggregates
        .iter()
        .flat_map(|a| a.commands.iter())
        .filter_map(|c| bp.events.iter().find(|e| e.name.value == c.event.value))
        .flat_map(|e| e.fields.iter());
    let all_fields: Vec<&Field> = all_fields
        .into_iter()
        .chain(called)
        .chain(commanded)
        .collect();
    let uses = |k: fn(&Kind) -> bool| all_fields.iter().any(|f| kinds(f).into_iter().any(k));
    let with_sagas = has_messaging(s, bp) && s.store.value == Store::Postgres;
    let sagas = if with_sagas {
        super::saga::saga_files(bp, s)
    } else {
        Vec::new()
    };
    let (orchestrations, participations) = if with_sagas {
        (
            super::orchestration::owned(bp, &s.name.value),
            super::orchestration::participates(bp, &s.name.value),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let saga_calls = super::saga::calls(&sagas);
    ServiceView {
        name: s.name.value.clone(),
        snake: to_snake(&s.name.value),
        pascal: to_pascal(&s.name.value),
        style: s.style.value.as_str().into(),
        port: s.port.value,
        has_db: s.store.value == Store::Postgres,
        database: to_snake(&s.name.value),
        publishes: s.publishes.iter().map(|p| p.value.clone()).collect(),
        consumes: s.consumes.iter().map(|p| p.value.clone()).collect(),
        entities: if s.style.value == Style::Crud {
            s.entities.iter().map(entity_view).collect()
        } else {
            Vec::new()
        },
        views: if s.style.value == Style::ReadModel {
            s.views.iter().filter_map(|v| view_view(v, bp)).collect()
        } else {
            Vec::new()
        },
        uses_decimal: uses(|k| matches!(k, Kind::Decimal)),
        uses_date: uses(|k| matches!(k, Kind::Date)),
        messaging: messaging_view(s, bp, &saga_calls).map(|mut m| {
            // Orchestration messages: commands out and replies in at the owner, the reverse
            // at participants.
            for o in &orchestrations {
                m.publishes
                    .extend(o.participants.iter().map(|p| p.command.clone()));
                m.handlers.push(HandlerView {
                    event: o.reply.clone(),
                    module: to_snake(&o.reply),
                    projects: Vec::new(),
                    sagas: vec![format!("{}::on_reply", o.snake)],
                });
            }
            for p in &participations {
                m.publishes.push(p.reply.clone());
                m.handlers.push(HandlerView {
                    event: p.command.clone(),
                    module: to_snake(&p.command),
                    projects: Vec::new(),
                    sagas: vec![format!("{}::on_command", p.snake)],
                });
            }
            for a in &mut m.auto {
                a.starts = sagas
                    .iter()
                    .filter(|g| {
                        g.owner
                            .as_ref()
                            .is_some_and(|o| o.trigger == a.event && o.entity == a.entity)
                    })
                    .map(|g| g.snake.clone())
                    .collect();
            }
            m
        }),
        saga_steps: sagas.iter().any(|g| !g.steps.is_empty()) || !participations.is_empty(),
        saga_owner: sagas.iter().any(|g| g.owner.is_some()) || !orchestrations.is_empty(),
        orchestrations,
        participations,
        sagas,
        calls: call_views(s, bp),
        aggregates: if s.style.value == Style::EventSourced {
            let publishes: Vec<String> = s.publishes.iter().map(|p| p.value.clone()).collect();
            s.aggregates
                .iter()
                .map(|a| super::aggregate::aggregate_view(a, &publishes, bp))
                .collect()
        } else {
            Vec::new()
        },
        snapshot_every: s.snapshot_every.value,
    }
}

pub fn event_view(e: &Event, bp: &Blueprint) -> EventView {
    let name = e.name.value.clone();
    let publisher = bp
        .services
        .iter()
        .find(|s| {
            s.publishes.iter().any(|p| p.value == name)
                || s.aggregates
                    .iter()
                    .any(|a| a.commands.iter().any(|c| c.event.value == name))
        })
        .map(|s| s.name.value.clone());
    EventView {
        kebab: to_kebab(&name),
        version: e.version.value,
        fields: e
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| field_view(f, &name, i))
            .collect(),
        enums: enums_of(&e.fields, &name),
        aggregate_id: e
            .fields
            .iter()
            .find(|f| {
                f.ty.value
                    == FieldType {
                        kind: Kind::Uuid,
                        optional: false,
                    }
            })
            .map(|f| rust_ident(&to_snake(&f.name.value))),
        publisher,
        name,
    }
}
