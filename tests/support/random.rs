//! Random valid blueprints over the whole format, from a seed: 1–12 services of every style,
//! entities with every field type, events, consumers, calls from every style, read models,
//! event-sourced aggregates, sagas of both styles with triggers and steps that follow no naming
//! convention, BFFs with compositions, and every platform option. The same seed always gives
//! the same text, so a failing case is its seed (and the text is kept as a regression
//! blueprint).
//!
//! The generator builds a system that `check` must accept by construction: every event has
//! one publisher, consumers consume published events, calls go to earlier services only (no
//! cycle), view keys are in every source event, roles exist. Anything `check` refuses is a bug
//! in either this generator or the validator, and the tests say which.

use std::fmt::Write as _;

use msa_gen::names::{to_kebab, to_pascal};

/// A small deterministic generator (SplitMix64), so cases depend on nothing but the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
        }
    }

    /// True with `percent` % probability.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A random subset of `items`, in their order.
    pub fn subset<T: Clone>(&mut self, items: &[T], percent: u64) -> Vec<T> {
        items
            .iter()
            .filter(|_| self.chance(percent))
            .cloned()
            .collect()
    }
}

const SERVICE_NAMES: [&str; 12] = [
    "accounts",
    "billing",
    "catalog",
    "delivery",
    "fleet",
    "grades",
    "hotels",
    "inventory",
    "journal",
    "kiosk",
    "ledger",
    "mailer",
];
const NOUNS: [&str; 24] = [
    "Account", "Invoice", "Parcel", "Ticket", "Room", "Booking", "Review", "Vehicle", "Course",
    "Member", "Shelf", "Coupon", "Batch", "Route", "Seat", "Device", "Report", "Voucher", "Basket",
    "Claim", "Lesson", "Permit", "Quote", "Tariff",
];
const FIELD_NAMES: [&str; 18] = [
    "name",
    "title",
    "amount",
    "quantity",
    "note",
    "code",
    "starts-on",
    "due-at",
    "flag",
    "tags",
    "score",
    "ratio",
    "payload",
    "kind",
    "label",
    "rank",
    "type",
    "owner-id",
];
const SCALARS: [&str; 11] = [
    "string", "text", "bool", "i32", "i64", "f64", "decimal", "uuid", "date", "datetime", "json",
];
const VERBS: [&str; 10] = [
    "reserve", "charge", "notify", "ship", "allocate", "approve", "schedule", "grade", "book",
    "register",
];

/// A field: kebab name and blueprint type.
#[derive(Clone, Debug)]
struct Field {
    name: String,
    ty: String,
}

#[derive(Clone, Debug)]
struct Event {
    name: String,
    fields: Vec<Field>,
    publisher: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Style {
    Crud,
    EventSourced,
    ReadModel,
    Worker,
}

#[derive(Clone, Debug)]
struct Entity {
    name: String,
    fields: Vec<Field>,
    /// `(path, read roles, write roles)`.
    expose: Option<(String, Vec<String>, Vec<String>)>,
}

#[derive(Clone, Debug)]
struct View {
    name: String,
    key: String,
    from: Vec<String>,
    fields: Vec<Field>,
    expose: Option<(String, Vec<String>)>,
}

#[derive(Clone, Debug)]
struct Aggregate {
    name: String,
    commands: Vec<(String, String)>,
    expose: Option<(String, Vec<String>, Vec<String>)>,
}

#[derive(Clone, Debug)]
struct Call {
    service: usize,
    extras: String,
}

#[derive(Clone, Debug)]
struct Service {
    name: String,
    style: Style,
    postgres: bool,
    entities: Vec<Entity>,
    views: Vec<View>,
    aggregates: Vec<Aggregate>,
    publishes: Vec<String>,
    consumes: Vec<String>,
    calls: Vec<Call>,
}

/// The blueprint of seed `seed` with `services` services (1–12).
pub fn blueprint(seed: u64, services: usize) -> String {
    let mut r = Rng::new(seed);
    let n = services.clamp(1, SERVICE_NAMES.len());
    let auth = r.chance(70);
    let roles: Vec<String> = if auth {
        vec!["admin".into(), "user".into()]
    } else {
        Vec::new()
    };
    let mut nouns: Vec<&str> = NOUNS.to_vec();
    let mut noun = |r: &mut Rng| -> String {
        let i = r.below(nouns.len());
        nouns.swap_remove(i).to_string()
    };
    let mut events: Vec<Event> = Vec::new();
    let mut svcs: Vec<Service> = Vec::new();
    for (i, name) in SERVICE_NAMES.iter().take(n).enumerate() {
        let style = if i == 0 {
            Style::Crud
        } else {
            match r.below(100) {
                0..=39 => Style::Crud,
                40..=54 => Style::EventSourced,
                55..=74 => Style::ReadModel,
                _ => Style::Worker,
            }
        };
        // A read model needs an event to read; a worker needs one to consume.
        let style = if matches!(style, Style::ReadModel | Style::Worker) && events.is_empty() {
            Style::Crud
        } else {
            style
        };
        let mut s = Service {
            name: (*name).to_string(),
            postgres: style != Style::Worker || r.chance(40),
            style: style.clone(),
            entities: Vec::new(),
            views: Vec::new(),
            aggregates: Vec::new(),
            publishes: Vec::new(),
            consumes: Vec::new(),
            calls: Vec::new(),
        };
        match style {
            Style::Crud => {
                for _ in 0..=r.below(2) {
                    let name = noun(&mut r);
                    let e = entity(&mut r, name, &roles);
                    // Events the generated CRUD code publishes, and one of the user's.
                    let own_id = Field {
                        name: format!("{}-id", to_kebab(&e.name)),
                        ty: "uuid".into(),
                    };
                    for suffix in ["Created", "Updated", "Deleted", "Flagged"] {
                        if r.chance(35) {
                            let mut fields = vec![own_id.clone()];
                            fields.extend(r.subset(&e.fields, 50));
                            events.push(Event {
                                name: format!("{}{suffix}", e.name),
                                fields,
                                publisher: i,
                            });
                            s.publishes.push(format!("{}{suffix}", e.name));
                        }
                    }
                    s.entities.push(e);
                }
            }
            Style::EventSourced => {
                let a = noun(&mut r);
                let id = Field {
                    name: format!("{}-id", to_kebab(&a)),
                    ty: "uuid".into(),
                };
                let item = Field {
                    name: "item-id".into(),
                    ty: "uuid".into(),
                };
                let qty = Field {
                    name: "quantity".into(),
                    ty: "i32".into(),
                };
                let mut opened = vec![id.clone()];
                opened.extend(fields(&mut r, 3));
                let mut shapes: Vec<(String, String, Vec<Field>)> =
                    vec![("open".into(), format!("{a}Opened"), opened)];
                if r.chance(60) {
                    shapes.push((
                        "add-item".into(),
                        format!("{a}ItemAdded"),
                        vec![id.clone(), item.clone(), qty.clone()],
                    ));
                    if r.chance(50) {
                        shapes.push((
                            "remove-item".into(),
                            format!("{a}ItemRemoved"),
                            vec![id.clone(), item.clone()],
                        ));
                    }
                    if r.chance(50) {
                        shapes.push((
                            "update-quantity".into(),
                            format!("{a}QuantityUpdated"),
                            vec![id.clone(), item, qty],
                        ));
                    }
                }
                for verb in ["close", "archive"] {
                    if r.chance(50) {
                        let mut f = vec![id.clone()];
                        f.extend(fields(&mut r, 1));
                        shapes.push((verb.into(), format!("{a}{}", to_pascal(verb)), f));
                    }
                }
                let mut commands = Vec::new();
                for (cmd, ev, f) in shapes {
                    events.push(Event {
                        name: ev.clone(),
                        fields: f,
                        publisher: i,
                    });
                    if r.chance(50) {
                        s.publishes.push(ev.clone());
                    }
                    commands.push((cmd, ev));
                }
                let expose = r.chance(80).then(|| {
                    (
                        format!("/{}s", to_kebab(&a)),
                        r.subset(&roles, 50),
                        r.subset(&roles, 50),
                    )
                });
                s.aggregates.push(Aggregate {
                    name: a,
                    commands,
                    expose,
                });
            }
            Style::ReadModel => {
                // Key: a uuid field of a published event; sources: every event with it.
                let e = r.pick(&events).clone();
                let key = e
                    .fields
                    .iter()
                    .find(|f| f.ty == "uuid")
                    .cloned()
                    .unwrap_or(Field {
                        name: "ref-id".into(),
                        ty: "uuid".into(),
                    });
                let from: Vec<String> = events
                    .iter()
                    .filter(|ev| {
                        ev.fields
                            .iter()
                            .any(|f| f.name == key.name && f.ty == key.ty)
                    })
                    .filter(|ev| ev.name == e.name || r.chance(50))
                    .map(|ev| ev.name.clone())
                    .collect();
                let mut vfields = vec![key.clone()];
                for f in e.fields.iter().filter(|f| f.name != key.name) {
                    if r.chance(60) {
                        vfields.push(f.clone());
                    }
                }
                let name = format!("{}Summary", noun(&mut r));
                let expose = r
                    .chance(80)
                    .then(|| (format!("/{}", to_kebab(&name)), r.subset(&roles, 50)));
                s.consumes = from.clone();
                s.views.push(View {
                    name,
                    key: key.name,
                    from,
                    fields: vfields,
                    expose,
                });
            }
            Style::Worker => {
                for ev in r.subset(&events, 30) {
                    s.consumes.push(ev.name);
                }
                if s.consumes.is_empty() {
                    s.consumes.push(r.pick(&events).name.clone());
                }
                if s.postgres && r.chance(50) {
                    let ev = format!("{}Noted", to_pascal(name));
                    events.push(Event {
                        name: ev.clone(),
                        fields: vec![Field {
                            name: "ref-id".into(),
                            ty: "uuid".into(),
                        }],
                        publisher: i,
                    });
                    s.publishes.push(ev);
                }
            }
        }
        // Consumers of other services' events.
        if matches!(style, Style::Crud | Style::EventSourced) && s.postgres {
            for ev in events.iter().filter(|e| e.publisher != i) {
                if r.chance(15) && !s.consumes.contains(&ev.name) {
                    s.consumes.push(ev.name.clone());
                }
            }
        }
        // Calls to earlier CRUD services, from every style.
        for (j, callee) in svcs.iter().enumerate() {
            if callee.style == Style::Crud && r.chance(25) {
                let mut extras = String::new();
                if r.chance(50) {
                    let _ = write!(extras, "timeout = \"{}ms\"\n  ", 200 + r.below(3000));
                }
                if r.chance(50) {
                    let _ = write!(extras, "retries = {}\n  ", r.below(4));
                }
                if r.chance(50) {
                    let fallback = r.pick(&["error", "cached", "default"]);
                    let _ = write!(extras, "fallback = \"{fallback}\"\n  ");
                }
                if r.chance(40) {
                    let _ = write!(
                        extras,
                        "breaker = {{ failure-rate = 0.{}, window = {}, open-for = \"{}s\" }}\n  ",
                        1 + r.below(9),
                        4 + r.below(40),
                        1 + r.below(60)
                    );
                }
                s.calls.push(Call { service: j, extras });
            }
        }
        svcs.push(s);
    }
    let sagas = sagas(&mut r, &mut svcs, &mut events);
    let mut out = String::new();
    platform(&mut r, &mut out, seed, auth);
    for e in &events {
        let _ = writeln!(out, "\n[[events]]\nname = \"{}\"", e.name);
        if r.chance(15) {
            let _ = writeln!(out, "version = 2");
        }
        let _ = writeln!(out, "[events.fields]");
        for f in &e.fields {
            let _ = writeln!(out, "{} = \"{}\"", f.name, f.ty);
        }
    }
    for s in &svcs {
        service(&mut r, &mut out, s, &svcs);
    }
    out.push_str(&sagas);
    bffs(&mut r, &mut out, &svcs, &roles);
    out
}

fn field_type(r: &mut Rng) -> String {
    let base = match r.below(10) {
        0 => "enum(low, mid, high)".to_string(),
        1 => format!(
            "list<{}>",
            r.pick(&["string", "i32", "uuid", "enum(red, blue)"])
        ),
        _ => (*r.pick(&SCALARS)).to_string(),
    };
    if !base.starts_with("list") && r.chance(25) {
        format!("{base}?")
    } else {
        base
    }
}

/// Up to `most` fields with distinct names.
fn fields(r: &mut Rng, most: usize) -> Vec<Field> {
    let mut names: Vec<&str> = FIELD_NAMES.to_vec();
    (0..=r.below(most))
        .map(|_| {
            let i = r.below(names.len());
            Field {
                name: names.swap_remove(i).to_string(),
                ty: field_type(r),
            }
        })
        .collect()
}

fn entity(r: &mut Rng, name: String, roles: &[String]) -> Entity {
    let mut fields = fields(r, 6);
    if r.chance(30) {
        fields.push(Field {
            name: "status".into(),
            ty: "enum(open, done, failed)".into(),
        });
    }
    let expose = r.chance(80).then(|| {
        let base = to_kebab(&name);
        let path = match r.below(4) {
            0 => format!("/v1/{base}s"),
            1 => format!("/{}s", {
                // camelCase, as real APIs write it
                let p = to_pascal(&base);
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            }),
            _ => format!("/{base}s"),
        };
        (path, r.subset(roles, 50), r.subset(roles, 50))
    });
    Entity {
        name,
        fields,
        expose,
    }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

fn platform(r: &mut Rng, out: &mut String, seed: u64, auth: bool) {
    let broker = r.pick(&["nats", "rabbitmq", "kafka"]);
    let istio = r.chance(15);
    let discovery = if istio || r.chance(30) {
        "kubernetes"
    } else {
        "registry"
    };
    let _ = writeln!(
        out,
        "[system]\nname = \"random-{}\"\nversion = \"0.1.0\"\ndescription = \"Random system {seed}\"\n",
        seed % 1000
    );
    let _ = writeln!(
        out,
        "[platform]\nbroker = \"{broker}\"\ndiscovery = \"{discovery}\""
    );
    let _ = writeln!(out, "config = \"{}\"", r.pick(&["server", "kubernetes"]));
    let _ = writeln!(out, "tracing = \"{}\"", r.pick(&["otlp", "none"]));
    let _ = writeln!(out, "ci = \"{}\"", r.pick(&["github", "gitlab", "none"]));
    let deploy = r.pick(&[
        "[\"compose\", \"kubernetes\"]",
        "[\"compose\"]",
        "[\"kubernetes\"]",
        "[]",
    ]);
    let _ = writeln!(out, "deploy = {deploy}");
    let _ = writeln!(out, "mesh = \"{}\"", if istio { "istio" } else { "none" });
    if auth {
        let _ = writeln!(
            out,
            "\n[auth]\nroles = [\"admin\", \"user\"]\nsessions = \"{}\"",
            r.pick(&["jwt", "redis"])
        );
    }
    let _ = writeln!(
        out,
        "\n[gateway]\nport = 8080\ntimeout = \"{}s\"",
        1 + r.below(9)
    );
    if r.chance(50) {
        let _ = writeln!(out, "rate-limit = {{ per-second = 50, burst = 100 }}");
    }
    if r.chance(50) {
        let _ = writeln!(out, "cors = [\"http://localhost:3000\"]");
    }
}

fn expose(path: &str, read: &[String], write: Option<&[String]>) -> String {
    match write {
        Some(w) => format!(
            "expose = {{ path = \"{path}\", read = {}, write = {} }}",
            list(read),
            list(w)
        ),
        None => format!("expose = {{ path = \"{path}\", read = {} }}", list(read)),
    }
}

fn service(r: &mut Rng, out: &mut String, s: &Service, all: &[Service]) {
    let style = match s.style {
        Style::Crud => "crud",
        Style::EventSourced => "event-sourced",
        Style::ReadModel => "read-model",
        Style::Worker => "worker",
    };
    let _ = writeln!(
        out,
        "\n[[services]]\nname = \"{}\"\nstyle = \"{style}\"",
        s.name
    );
    if s.style == Style::Worker {
        let _ = writeln!(
            out,
            "store = \"{}\"",
            if s.postgres { "postgres" } else { "none" }
        );
    }
    if r.chance(20) {
        let _ = writeln!(out, "replicas = {}", 1 + r.below(3));
    }
    if !s.publishes.is_empty() {
        let _ = writeln!(out, "publishes = {}", list(&s.publishes));
    }
    if !s.consumes.is_empty() {
        let _ = writeln!(out, "consumes = {}", list(&s.consumes));
    }
    for e in &s.entities {
        let _ = writeln!(out, "  [[services.entities]]\n  name = \"{}\"", e.name);
        if let Some((path, read, write)) = &e.expose {
            let _ = writeln!(out, "  {}", expose(path, read, Some(write)));
        }
        let _ = writeln!(out, "  [services.entities.fields]");
        for f in &e.fields {
            let _ = writeln!(out, "  {} = \"{}\"", f.name, f.ty);
        }
    }
    for a in &s.aggregates {
        let _ = writeln!(out, "  [[services.aggregates]]\n  name = \"{}\"", a.name);
        if let Some((path, read, write)) = &a.expose {
            let _ = writeln!(out, "  {}", expose(path, read, Some(write)));
        }
        let _ = writeln!(out, "  [services.aggregates.commands]");
        for (c, e) in &a.commands {
            let _ = writeln!(out, "  {c} = \"{e}\"");
        }
    }
    for v in &s.views {
        let _ = writeln!(
            out,
            "  [[services.views]]\n  name = \"{}\"\n  key = \"{}\"\n  from = {}",
            v.name,
            v.key,
            list(&v.from)
        );
        if let Some((path, read)) = &v.expose {
            let _ = writeln!(out, "  {}", expose(path, read, None));
        }
        let _ = writeln!(out, "  [services.views.fields]");
        for f in &v.fields {
            let _ = writeln!(out, "  {} = \"{}\"", f.name, f.ty);
        }
    }
    for c in &s.calls {
        let _ = writeln!(
            out,
            "  [[services.calls]]\n  service = \"{}\"\n  {}",
            all[c.service].name, c.extras
        );
    }
}

/// Sagas over services with a database: orchestrations with any action names, and
/// choreographies whose trigger and step events are their own (no `<Entity>Created`).
fn sagas(r: &mut Rng, svcs: &mut [Service], events: &mut Vec<Event>) -> String {
    let mut out = String::new();
    let stateful: Vec<usize> = (0..svcs.len())
        .filter(|&i| svcs[i].postgres && svcs[i].style != Style::ReadModel)
        .collect();
    if stateful.len() < 2 {
        return out;
    }
    for k in 0..r.below(3) {
        let owner = *r.pick(&stateful);
        let others: Vec<usize> = stateful.iter().copied().filter(|&i| i != owner).collect();
        let steps: Vec<usize> = (0..=r.below(2)).map(|_| *r.pick(&others)).collect();
        let name = format!("{}-flow-{k}", r.pick(&VERBS));
        let saga_id = "flow-id".to_string();
        let id = Field {
            name: saga_id,
            ty: "uuid".into(),
        };
        let orchestration = r.chance(50);
        let _ = writeln!(
            out,
            "\n[[sagas]]\nname = \"{name}\"\nstyle = \"{}\"\nowner = \"{}\"\ntimeout = \"{}s\"",
            if orchestration {
                "orchestration"
            } else {
                "choreography"
            },
            svcs[owner].name,
            5 + r.below(60)
        );
        // Choreography: the owner starts it with its own event; each step reacts to the event
        // before it and answers with its own.
        let mut previous = format!("{}Started{k}", to_pascal(&name));
        if !orchestration {
            events.push(Event {
                name: previous.clone(),
                fields: vec![id.clone()],
                publisher: owner,
            });
            svcs[owner].publishes.push(previous.clone());
        }
        for (n, &svc) in steps.iter().enumerate() {
            let action = format!("{}-{n}", r.pick(&VERBS));
            let _ = writeln!(
                out,
                "  [[sagas.steps]]\n  service = \"{}\"\n  action = \"{action}\"",
                svcs[svc].name
            );
            if r.chance(60) {
                let _ = writeln!(out, "  compensation = \"undo-{action}\"");
            }
            if orchestration {
                continue;
            }
            let done = format!("{}Done{k}{n}", to_pascal(&action));
            let failed = format!("{}Failed{k}{n}", to_pascal(&action));
            let _ = writeln!(out, "  on-success = \"{done}\"");
            let with_failure = r.chance(60);
            if with_failure {
                let _ = writeln!(out, "  on-failure = \"{failed}\"");
            }
            for (ev, on) in [(done.clone(), true), (failed, with_failure)] {
                if !on {
                    continue;
                }
                events.push(Event {
                    name: ev.clone(),
                    fields: vec![id.clone()],
                    publisher: svc,
                });
                svcs[svc].publishes.push(ev.clone());
                if !svcs[owner].consumes.contains(&ev) {
                    svcs[owner].consumes.push(ev);
                }
            }
            if !svcs[svc].consumes.contains(&previous) {
                svcs[svc].consumes.push(previous.clone());
            }
            previous = done;
        }
    }
    out
}

fn bffs(r: &mut Rng, out: &mut String, svcs: &[Service], roles: &[String]) {
    let exposed: Vec<(String, &Service)> = svcs
        .iter()
        .flat_map(|s| {
            s.entities
                .iter()
                .filter_map(|e| e.expose.as_ref().map(|x| x.0.clone()))
                .chain(
                    s.aggregates
                        .iter()
                        .filter_map(|a| a.expose.as_ref().map(|x| x.0.clone())),
                )
                .chain(
                    s.views
                        .iter()
                        .filter_map(|v| v.expose.as_ref().map(|x| x.0.clone())),
                )
                .map(move |p| (p, s))
        })
        .collect();
    let entities: Vec<(String, &Service)> = svcs
        .iter()
        .flat_map(|s| {
            s.entities
                .iter()
                .filter_map(|e| e.expose.as_ref().map(|x| x.0.clone()))
                .map(move |p| (p, s))
        })
        .collect();
    for (b, client) in [("web-bff", "web"), ("mobile-bff", "mobile")] {
        if !r.chance(40) {
            continue;
        }
        let routes: Vec<String> = exposed
            .iter()
            .filter(|_| r.chance(60))
            .map(|(p, _)| p.clone())
            .collect();
        let _ = writeln!(
            out,
            "\n[[bffs]]\nname = \"{b}\"\nclient = \"{client}\"\nroutes = {}",
            list(&routes)
        );
        if entities.is_empty() || !r.chance(70) {
            continue;
        }
        let first = r.below(entities.len());
        let mut calls = vec![format!(
            "{{ service = \"{}\", path = \"{}/{{id}}\" }}",
            entities[first].1.name, entities[first].0
        )];
        if let Some((p, s)) = entities
            .iter()
            .find(|(_, s)| s.name != entities[first].1.name)
        {
            calls.push(format!(
                "{{ service = \"{}\", path = \"{p}/{{id}}\", optional = true }}",
                s.name
            ));
        }
        let _ = writeln!(
            out,
            "  [[bffs.compositions]]\n  path = \"/details/{{id}}\"\n  read = {}\n  calls = [{}]",
            list(&r.subset(roles, 50)),
            calls.join(", ")
        );
    }
}
