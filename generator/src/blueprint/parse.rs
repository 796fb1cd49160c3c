//! Stage 1, parse: blueprint text → [`Blueprint`], keeping spans and applying the defaults of
//! the v1 format. Reports TOML syntax errors, unknown keys, wrong value types, missing required
//! keys and malformed values (durations, field types, choices). Cross-references are checked
//! by [`super::validate`]. A value that is wrong is reported and replaced by its default so the
//! rest of the file is still read; nothing here panics on any input.

use toml::de::DeTable;

use super::field_type::FieldType;
use super::model::*;
use super::reader::Reader;
use super::values;
use crate::diagnostics::{Diagnostic, Diagnostics};

/// The first port handed to services without an explicit `port`.
pub const FIRST_SERVICE_PORT: u16 = 8101;

/// Parses `source`. Returns the blueprint (possibly partial) and every finding of this stage.
pub fn parse(source: &str) -> (Option<Blueprint>, Diagnostics) {
    let mut d = Diagnostics::default();
    let doc = match DeTable::parse_recoverable(source) {
        (doc, errors) if errors.is_empty() => doc,
        (_, errors) => {
            for e in errors {
                let span = e.span().unwrap_or(0..0);
                d.push(Diagnostic::error(
                    span,
                    format!("invalid TOML: {}", e.message().trim()),
                ));
            }
            return (None, d);
        }
    };
    let mut root = Reader::new(doc.get_ref(), 0..0, "the blueprint");
    let bp = read_blueprint(&mut root, &mut d);
    root.finish(&mut d);
    (Some(bp), d)
}

fn read_blueprint(root: &mut Reader<'_, '_>, d: &mut Diagnostics) -> Blueprint {
    let system = match root.table("system", "[system]", d) {
        Some(r) => read_system(r, d),
        None => {
            if !root.has("system") {
                d.error(0..0, "missing required section [system]");
            }
            System {
                name: Sp::new(String::new(), 0..0),
                version: Sp::new("0.1.0".into(), 0..0),
                description: None,
            }
        }
    };
    let platform = read_platform(root.table("platform", "[platform]", d), &system, d);
    let auth = root.table("auth", "[auth]", d).map(|r| read_auth(r, d));
    let gateway = read_gateway(root.table("gateway", "[gateway]", d), d);
    let events = root
        .tables("events", d)
        .into_iter()
        .map(|r| read_event(r, d))
        .collect();
    let mut services: Vec<Service> = root
        .tables("services", d)
        .into_iter()
        .map(|r| read_service(r, d))
        .collect();
    assign_ports(&mut services);
    let sagas = root
        .tables("sagas", d)
        .into_iter()
        .map(|r| read_saga(r, d))
        .collect();
    let mut bffs: Vec<Bff> = root
        .tables("bffs", d)
        .into_iter()
        .map(|r| read_bff(r, d))
        .collect();
    assign_bff_ports(&mut bffs, &services, gateway.port.value, d);
    Blueprint {
        system,
        platform,
        auth,
        gateway,
        events,
        services,
        sagas,
        bffs,
    }
}

/// Ports not given explicitly are assigned in order from 8101, skipping every explicit one.
fn assign_ports(services: &mut [Service]) {
    let taken: Vec<u16> = services
        .iter()
        .filter(|s| s.port.value != 0)
        .map(|s| s.port.value)
        .collect();
    let mut next = FIRST_SERVICE_PORT;
    for s in services.iter_mut().filter(|s| s.port.value == 0) {
        while taken.contains(&next) {
            next += 1;
        }
        s.port.value = next;
        next += 1;
    }
}

/// BFFs without an explicit `port` get the ports right after the highest service port, in
/// the order they are declared, skipping every port already taken: by a service, by a BFF's
/// explicit `port`, by the platform (registry, config server, auth) or by the gateway. So a
/// default port never clashes, and blueprints that give every port are unchanged.
fn assign_bff_ports(bffs: &mut [Bff], services: &[Service], gateway: u16, d: &mut Diagnostics) {
    let mut taken: Vec<u16> = services
        .iter()
        .map(|s| s.port.value)
        .chain(bffs.iter().map(|b| b.port.value))
        .chain(super::validate::PLATFORM_PORTS.iter().map(|(_, p)| *p))
        .chain([gateway])
        .filter(|p| *p != 0)
        .collect();
    let highest = services.iter().map(|s| s.port.value).max();
    let mut next = highest.map_or(u32::from(FIRST_SERVICE_PORT), |p| u32::from(p) + 1);
    for b in bffs.iter_mut().filter(|b| b.port.value == 0) {
        while u16::try_from(next).is_ok_and(|p| taken.contains(&p)) {
            next += 1;
        }
        match u16::try_from(next) {
            Ok(port) => {
                b.port.value = port;
                taken.push(port);
                next += 1;
            }
            Err(_) => d.push(
                Diagnostic::error(
                    b.name.span.clone(),
                    format!(
                        "no free port is left after the services' for bff `{}`",
                        b.name.value
                    ),
                )
                .with_hint("give it a `port`"),
            ),
        }
    }
}

fn name_or_blank(r: &mut Reader<'_, '_>, d: &mut Diagnostics) -> Sp<String> {
    r.required_string("name", d)
        .unwrap_or_else(|| Sp::new(String::new(), r.span.clone()))
}

fn label(r: &Reader<'_, '_>, section: &str, name: &Sp<String>) -> String {
    if name.value.is_empty() {
        r.context.clone()
    } else {
        format!("{section} `{}`", name.value)
    }
}

fn read_system(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> System {
    let name = name_or_blank(&mut r, d);
    let version = r
        .string("version", d)
        .unwrap_or_else(|| Sp::new("0.1.0".into(), r.span.clone()));
    shape(&version, "a version", values::version_problem, d);
    let description = r.string("description", d).map(|s| s.value);
    r.finish(d);
    System {
        name,
        version,
        description,
    }
}

/// Reports `value` as not being `what` when `problem` (one of [`values`]) finds fault with
/// its shape, with the problem as hint.
fn shape(value: &Sp<String>, what: &str, problem: fn(&str) -> Option<String>, d: &mut Diagnostics) {
    if let Some(hint) = problem(&value.value) {
        d.push(
            Diagnostic::error(
                value.span.clone(),
                format!("`{}` is not {what}", value.value),
            )
            .with_hint(hint),
        );
    }
}

fn read_platform(r: Option<Reader<'_, '_>>, system: &System, d: &mut Diagnostics) -> Platform {
    let default_registry = format!("localhost/{}", system.name.value);
    let Some(mut r) = r else {
        return Platform {
            broker: Sp::new(Broker::Nats, 0..0),
            discovery: Discovery::Registry,
            config: ConfigSource::Server,
            tracing: Tracing::Otlp,
            ci: Ci::Github,
            deploy: vec![
                Sp::new(DeployTarget::Compose, 0..0),
                Sp::new(DeployTarget::Kubernetes, 0..0),
            ],
            mesh: Sp::new(Mesh::None, 0..0),
            image_registry: default_registry,
        };
    };
    let span = r.span.clone();
    let broker = r
        .choice(
            "broker",
            &[
                ("nats", Broker::Nats),
                ("rabbitmq", Broker::Rabbitmq),
                ("kafka", Broker::Kafka),
                ("none", Broker::None),
            ],
            d,
        )
        .unwrap_or(Sp::new(Broker::Nats, span.clone()));
    let discovery = r
        .choice(
            "discovery",
            &[
                ("registry", Discovery::Registry),
                ("kubernetes", Discovery::Kubernetes),
            ],
            d,
        )
        .map_or(Discovery::Registry, |s| s.value);
    let config = r
        .choice(
            "config",
            &[
                ("server", ConfigSource::Server),
                ("kubernetes", ConfigSource::Kubernetes),
            ],
            d,
        )
        .map_or(ConfigSource::Server, |s| s.value);
    let tracing = r
        .choice(
            "tracing",
            &[("otlp", Tracing::Otlp), ("none", Tracing::None)],
            d,
        )
        .map_or(Tracing::Otlp, |s| s.value);
    let ci = r
        .choice(
            "ci",
            &[
                ("github", Ci::Github),
                ("gitlab", Ci::Gitlab),
                ("none", Ci::None),
            ],
            d,
        )
        .map_or(Ci::Github, |s| s.value);
    let deploy = match r.strings("deploy", d) {
        Some(list) => {
            let mut out = Vec::new();
            for item in list {
                match item.value.as_str() {
                    "compose" => out.push(Sp::new(DeployTarget::Compose, item.span)),
                    "kubernetes" => out.push(Sp::new(DeployTarget::Kubernetes, item.span)),
                    other => d.push(
                        Diagnostic::error(
                            item.span.clone(),
                            format!("`{other}` is not a deploy target"),
                        )
                        .with_hint(crate::diagnostics::suggestion(
                            other,
                            &["compose", "kubernetes"],
                        )),
                    ),
                }
            }
            out
        }
        None => vec![
            Sp::new(DeployTarget::Compose, span.clone()),
            Sp::new(DeployTarget::Kubernetes, span.clone()),
        ],
    };
    let mesh = r
        .choice("mesh", &[("none", Mesh::None), ("istio", Mesh::Istio)], d)
        .unwrap_or(Sp::new(Mesh::None, span.clone()));
    let image_registry = r.string("image-registry", d).map_or(default_registry, |s| {
        shape(&s, "an image registry", values::registry_problem, d);
        s.value
    });
    r.finish(d);
    Platform {
        broker,
        discovery,
        config,
        tracing,
        ci,
        deploy,
        mesh,
        image_registry,
    }
}

fn read_auth(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> Auth {
    let roles = r.strings("roles", d).unwrap_or_default();
    let access_token_ttl = r.duration("access-token-ttl", d).map_or(
        Duration {
            millis: 15 * 60_000,
        },
        |s| s.value,
    );
    let refresh_token_ttl = r.duration("refresh-token-ttl", d).map_or(
        Duration {
            millis: 7 * 86_400_000,
        },
        |s| s.value,
    );
    let sessions = r
        .choice(
            "sessions",
            &[("jwt", Sessions::Jwt), ("redis", Sessions::Redis)],
            d,
        )
        .map_or(Sessions::Jwt, |s| s.value);
    r.finish(d);
    Auth {
        roles,
        access_token_ttl,
        refresh_token_ttl,
        sessions,
    }
}

fn read_gateway(r: Option<Reader<'_, '_>>, d: &mut Diagnostics) -> Gateway {
    let default = Gateway {
        port: Sp::new(8080, 0..0),
        timeout: Duration { millis: 5_000 },
        rate_limit: None,
        cors: Vec::new(),
    };
    let Some(mut r) = r else { return default };
    let port = r
        .int("port", 1, 65535, d)
        .map_or(default.port.clone(), |p| Sp::new(p.value as u16, p.span));
    let timeout = r
        .duration("timeout", d)
        .map_or(default.timeout, |s| s.value);
    let rate_limit = r
        .table("rate-limit", "`rate-limit` of [gateway]", d)
        .map(|mut t| {
            let per_second = t
                .int("per-second", 1, 1_000_000, d)
                .map_or(100, |v| v.value as u32);
            if !t.has("per-second") {
                t.missing("per-second", d);
            }
            let burst = t
                .int("burst", 1, 1_000_000, d)
                .map_or(per_second, |v| v.value as u32);
            t.finish(d);
            RateLimit { per_second, burst }
        });
    let cors = r.strings("cors", d).unwrap_or_default();
    for origin in &cors {
        shape(origin, "a CORS origin", values::origin_problem, d);
    }
    r.finish(d);
    Gateway {
        port,
        timeout,
        rate_limit,
        cors,
    }
}

/// The `fields` table. A field with an invalid type is reported and left out.
fn read_fields(r: &mut Reader<'_, '_>, d: &mut Diagnostics) -> Vec<Field> {
    let mut out = Vec::new();
    let declared = r.string_map("fields", d).unwrap_or_default();
    for (name, ty) in declared {
        match FieldType::parse(&ty.value) {
            Ok(t) => out.push(Field {
                name,
                ty: Sp::new(t, ty.span),
            }),
            Err(e) => {
                let mut diag =
                    Diagnostic::error(ty.span, format!("field `{}`: {}", name.value, e.message));
                if let Some(h) = e.hint {
                    diag = diag.with_hint(h);
                }
                d.push(diag);
            }
        }
    }
    out
}

fn read_event(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> Event {
    let name = name_or_blank(&mut r, d);
    r.context = label(&r, "[[events]]", &name);
    let version = r
        .int("version", 1, 1_000_000, d)
        .map_or(Sp::new(1, r.span.clone()), |v| {
            Sp::new(v.value as u32, v.span)
        });
    let fields = read_fields(&mut r, d);
    r.finish(d);
    Event {
        name,
        version,
        fields,
    }
}

/// The required `path` of a table. A missing one is reported by the reader, an empty one here;
/// its shape is checked by [`super::validate`].
fn required_path(r: &mut Reader<'_, '_>, d: &mut Diagnostics) -> Sp<String> {
    match r.required_string("path", d) {
        Some(p) if p.value.is_empty() => {
            d.push(
                Diagnostic::error(p.span.clone(), format!("`path` in {} is empty", r.context))
                    .with_hint("write `/segment`, e.g. `/orders`"),
            );
            p
        }
        Some(p) => p,
        None => Sp::new(String::new(), r.span.clone()),
    }
}

fn read_expose(parent: &mut Reader<'_, '_>, d: &mut Diagnostics) -> Option<Expose> {
    let ctx = format!("`expose` of {}", parent.context);
    let mut r = parent.table("expose", ctx, d)?;
    let path = required_path(&mut r, d);
    let read = r.strings("read", d).unwrap_or_default();
    let write = r.strings("write", d).unwrap_or_default();
    r.finish(d);
    Some(Expose { path, read, write })
}

fn read_service(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> Service {
    let span = r.span.clone();
    let name = name_or_blank(&mut r, d);
    r.context = label(&r, "[[services]]", &name);
    let style = r
        .choice(
            "style",
            &[
                ("crud", Style::Crud),
                ("event-sourced", Style::EventSourced),
                ("read-model", Style::ReadModel),
                ("worker", Style::Worker),
            ],
            d,
        )
        .unwrap_or(Sp::new(Style::Crud, name.span.clone()));
    let default_store = if style.value == Style::Worker {
        Store::None
    } else {
        Store::Postgres
    };
    let store = r
        .choice(
            "store",
            &[("postgres", Store::Postgres), ("none", Store::None)],
            d,
        )
        .unwrap_or(Sp::new(default_store, style.span.clone()));
    let port = r
        .int("port", 1, 65535, d)
        .map_or(Sp::new(0, name.span.clone()), |p| {
            Sp::new(p.value as u16, p.span)
        });
    let replicas = r.int("replicas", 1, 1000, d).map_or(1, |v| v.value as u32);
    let resources = r
        .table("resources", format!("`resources` of {}", r.context), d)
        .map(|mut t| {
            let cpu = t.string("cpu", d);
            let memory = t.string("memory", d);
            if let Some(c) = &cpu
                && !is_k8s_cpu(&c.value)
            {
                d.push(
                    Diagnostic::error(
                        c.span.clone(),
                        format!("`{}` is not a CPU quantity", c.value),
                    )
                    .with_hint("write millicores like \"100m\" or cores like \"1\""),
                );
            }
            if let Some(m) = &memory
                && !is_k8s_memory(&m.value)
            {
                d.push(
                    Diagnostic::error(
                        m.span.clone(),
                        format!("`{}` is not a memory quantity", m.value),
                    )
                    .with_hint("write a size like \"64Mi\" or \"1Gi\""),
                );
            }
            t.finish(d);
            Resources { cpu, memory }
        });
    let autoscale = r
        .table("autoscale", format!("`autoscale` of {}", r.context), d)
        .map(|mut t| {
            let tspan = t.span.clone();
            let min = t
                .int("min", 1, 1000, d)
                .map_or(Sp::new(1, tspan.clone()), |v| {
                    Sp::new(v.value as u32, v.span)
                });
            let max = t
                .int("max", 1, 1000, d)
                .map_or(Sp::new(min.value.max(1), tspan.clone()), |v| {
                    Sp::new(v.value as u32, v.span)
                });
            if !t.has("max") {
                t.missing("max", d);
            }
            let cpu_percent = t
                .int("cpu-percent", 1, 100, d)
                .map_or(70, |v| v.value as u32);
            t.finish(d);
            Autoscale {
                min,
                max,
                cpu_percent,
            }
        });
    let publishes = r.strings("publishes", d).unwrap_or_default();
    let consumes = r.strings("consumes", d).unwrap_or_default();
    let entities = r
        .tables("entities", d)
        .into_iter()
        .map(|e| read_entity(e, d))
        .collect();
    let calls = r
        .tables("calls", d)
        .into_iter()
        .map(|c| read_call(c, d))
        .collect();
    let snapshot_every = r
        .int("snapshot-every", 1, 1_000_000, d)
        .map_or(Sp::new(100, span.clone()), |v| {
            Sp::new(v.value as u32, v.span)
        });
    let aggregates = r
        .tables("aggregates", d)
        .into_iter()
        .map(|a| read_aggregate(a, d))
        .collect();
    let views = r
        .tables("views", d)
        .into_iter()
        .map(|v| read_view(v, d))
        .collect();
    r.finish(d);
    Service {
        name,
        style,
        store,
        port,
        replicas,
        resources,
        autoscale,
        publishes,
        consumes,
        entities,
        calls,
        snapshot_every,
        aggregates,
        views,
        span,
    }
}

fn is_k8s_cpu(v: &str) -> bool {
    let digits = v.strip_suffix('m').unwrap_or(v);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.parse::<f64>().is_ok_and(|n| n > 0.0)
}

fn is_k8s_memory(v: &str) -> bool {
    let units = ["Ki", "Mi", "Gi", "Ti", "K", "M", "G", "T"];
    let digits = units.iter().find_map(|u| v.strip_suffix(u)).unwrap_or(v);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && digits.parse::<u64>().is_ok_and(|n| n > 0)
}

fn read_entity(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> Entity {
    let name = name_or_blank(&mut r, d);
    r.context = label(&r, "entity", &name);
    let expose = read_expose(&mut r, d);
    // Judged on what was declared: a field with a bad type is reported on its own.
    if !r.has("fields") || r.is_empty_table("fields") {
        d.error(
            name.span.clone(),
            format!("entity `{}` has no fields", name.value),
        );
    }
    let fields = read_fields(&mut r, d);
    r.finish(d);
    Entity {
        name,
        expose,
        fields,
    }
}

fn read_call(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> Call {
    let service = r
        .required_string("service", d)
        .unwrap_or_else(|| Sp::new(String::new(), r.span.clone()));
    let timeout = r
        .duration("timeout", d)
        .map_or(Duration { millis: 2_000 }, |s| s.value);
    let retries = r.int("retries", 0, 10, d).map_or(0, |v| v.value as u32);
    let breaker = r
        .table("breaker", format!("`breaker` of {}", r.context), d)
        .map(|mut t| {
            let failure_rate = t
                .number("failure-rate", 0.01, 1.0, d)
                .map_or(0.5, |v| v.value);
            let window = t.int("window", 1, 10_000, d).map_or(20, |v| v.value as u32);
            let open_for = t
                .duration("open-for", d)
                .map_or(Duration { millis: 10_000 }, |s| s.value);
            t.finish(d);
            Breaker {
                failure_rate,
                window,
                open_for,
            }
        });
    let fallback = r
        .choice(
            "fallback",
            &[
                ("error", Fallback::Error),
                ("cached", Fallback::Cached),
                ("default", Fallback::Default),
            ],
            d,
        )
        .map_or(Fallback::Error, |s| s.value);
    r.finish(d);
    Call {
        service,
        timeout,
        retries,
        breaker,
        fallback,
    }
}

fn read_aggregate(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> Aggregate {
    let name = name_or_blank(&mut r, d);
    r.context = label(&r, "aggregate", &name);
    let expose = read_expose(&mut r, d);
    let commands = r
        .string_map("commands", d)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, event)| Command { name, event })
        .collect::<Vec<_>>();
    if commands.is_empty() {
        d.error(
            r.span.clone(),
            format!("{} needs at least one command in `commands`", r.context),
        );
    }
    let closed_by = r.strings("closed-by", d).unwrap_or_default();
    r.finish(d);
    Aggregate {
        name,
        expose,
        commands,
        closed_by,
    }
}

fn read_view(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> View {
    let name = name_or_blank(&mut r, d);
    r.context = label(&r, "view", &name);
    let key = r
        .required_string("key", d)
        .unwrap_or_else(|| Sp::new(String::new(), r.span.clone()));
    let from = r.strings("from", d).unwrap_or_default();
    if from.is_empty() && !r.has("from") {
        r.missing("from", d);
    }
    let expose = read_expose(&mut r, d);
    let fields = read_fields(&mut r, d);
    r.finish(d);
    View {
        name,
        key,
        from,
        expose,
        fields,
    }
}

fn read_saga(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> Saga {
    let name = name_or_blank(&mut r, d);
    r.context = label(&r, "[[sagas]]", &name);
    let style = r
        .choice(
            "style",
            &[
                ("choreography", SagaStyle::Choreography),
                ("orchestration", SagaStyle::Orchestration),
            ],
            d,
        )
        .map_or(SagaStyle::Choreography, |s| s.value);
    let owner = r
        .required_string("owner", d)
        .unwrap_or_else(|| Sp::new(String::new(), r.span.clone()));
    let trigger = r.string("trigger", d);
    let timeout = r
        .duration("timeout", d)
        .map_or(Duration { millis: 30_000 }, |s| s.value);
    let steps: Vec<Step> = r
        .tables("steps", d)
        .into_iter()
        .map(|mut s| {
            let service = s
                .required_string("service", d)
                .unwrap_or_else(|| Sp::new(String::new(), s.span.clone()));
            let action = s
                .required_string("action", d)
                .unwrap_or_else(|| Sp::new(String::new(), s.span.clone()));
            let compensation = s.string("compensation", d);
            let on_success = s.string("on-success", d);
            let on_failure = s.string("on-failure", d);
            s.finish(d);
            Step {
                service,
                action,
                compensation,
                on_success,
                on_failure,
            }
        })
        .collect();
    if steps.is_empty() {
        d.error(
            r.span.clone(),
            format!("{} needs at least one [[sagas.steps]]", r.context),
        );
    }
    r.finish(d);
    Saga {
        name,
        style,
        owner,
        trigger,
        timeout,
        steps,
    }
}

fn read_bff(mut r: Reader<'_, '_>, d: &mut Diagnostics) -> Bff {
    let name = name_or_blank(&mut r, d);
    r.context = label(&r, "[[bffs]]", &name);
    let client = r.string("client", d).map_or_else(
        || "any".to_string(),
        |s| {
            shape(&s, "a client label", values::label_problem, d);
            s.value
        },
    );
    // Without `port` (0 here), one is assigned after the services' (`assign_bff_ports`).
    let port = r
        .int("port", 1, 65535, d)
        .map_or(Sp::new(0, name.span.clone()), |p| {
            Sp::new(p.value as u16, p.span)
        });
    let routes = r.strings("routes", d).unwrap_or_default();
    let compositions = r
        .tables("compositions", d)
        .into_iter()
        .map(|mut c| {
            let path = required_path(&mut c, d);
            let read = c.strings("read", d).unwrap_or_default();
            let calls: Vec<CompositionCall> = c
                .tables("calls", d)
                .into_iter()
                .map(|mut k| {
                    let service = k
                        .required_string("service", d)
                        .unwrap_or_else(|| Sp::new(String::new(), k.span.clone()));
                    let path = required_path(&mut k, d);
                    let optional = k.boolean("optional", d).unwrap_or(false);
                    k.finish(d);
                    CompositionCall {
                        service,
                        path,
                        optional,
                    }
                })
                .collect();
            if calls.is_empty() {
                d.error(
                    c.span.clone(),
                    format!("{} needs at least one entry in `calls`", c.context),
                );
            }
            c.finish(d);
            Composition { path, read, calls }
        })
        .collect();
    r.finish(d);
    Bff {
        name,
        client,
        port,
        routes,
        compositions,
    }
}
