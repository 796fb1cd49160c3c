//! Stage 2, validate: the checks of the v1 spec's last section, made on the whole parsed
//! blueprint before anything is written. Every finding is collected; none stops the others.
//!
//! Owns: naming rules, duplicate names, unknown references (services, events, roles, fields,
//! paths), publish/consume consistency, cycles in `calls`, port clashes, paths exposed twice,
//! saga participants, read-model coverage (a warning), and style/store combinations; and what
//! would break the generated system: path shapes and built-in routes ([`super::paths`]), names
//! that generated code or Cargo cannot use ([`super::reserved`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::model::*;
use super::paths::{self, Params};
use super::reserved;
use crate::diagnostics::{Diagnostic, Diagnostics, suggestion};
use crate::names::{
    RUST_RESERVED, is_kebab, is_pascal, is_plain_ident, is_rust_keyword, to_kebab, to_pascal,
    to_snake,
};

/// Names taken by the generated platform and shared crates.
pub const RESERVED_NAMES: &[&str] = &[
    "gateway",
    "registry",
    "config-server",
    "auth",
    "runtime",
    "contracts",
    "e2e",
    "e2e-kit",
];
/// Fields every entity gets; a blueprint may not declare them.
pub const BUILTIN_FIELDS: &[&str] = &["id", "created-at", "updated-at", "version"];
/// Fixed ports of the platform services (the gateway's comes from `[gateway]`).
pub const PLATFORM_PORTS: &[(&str, u16)] =
    &[("registry", 8761), ("config-server", 8888), ("auth", 9000)];

pub fn validate(bp: &Blueprint) -> Diagnostics {
    let mut v = Validator {
        bp,
        d: Diagnostics::default(),
    };
    v.names();
    v.generated_names();
    v.duplicates();
    v.fields();
    v.styles();
    v.events();
    v.lifecycles();
    v.calls();
    v.ports();
    v.exposes();
    v.sagas();
    v.bffs();
    v.views();
    v.d.sort();
    v.d
}

struct Validator<'a> {
    bp: &'a Blueprint,
    d: Diagnostics,
}

fn hint_err(span: Range<usize>, msg: String, hint: String) -> Diagnostic {
    Diagnostic::error(span, msg).with_hint(hint)
}

impl<'a> Validator<'a> {
    fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.d.error(span, msg);
    }

    fn service_names(&self) -> Vec<&'a str> {
        self.bp
            .services
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| !n.is_empty())
            .collect()
    }

    fn event_names(&self) -> Vec<&'a str> {
        self.bp
            .events
            .iter()
            .map(|e| e.name.as_str())
            .filter(|n| !n.is_empty())
            .collect()
    }

    fn roles(&self) -> Vec<&'a str> {
        self.bp
            .auth
            .iter()
            .flat_map(|a| a.roles.iter().map(|r| r.as_str()))
            .collect()
    }

    fn kebab(&mut self, name: &Sp<String>, what: &str) {
        if !name.value.is_empty() && !is_kebab(&name.value) {
            let fix = to_kebab(&name.value);
            self.d.push(hint_err(
                name.span.clone(),
                format!("{what} name `{}` must be kebab-case", name.value),
                format!("write `{fix}`"),
            ));
        }
    }

    fn pascal(&mut self, name: &Sp<String>, what: &str) {
        if !name.value.is_empty() && !is_pascal(&name.value) {
            let fix = crate::names::to_pascal(&name.value);
            self.d.push(hint_err(
                name.span.clone(),
                format!("{what} name `{}` must be PascalCase", name.value),
                format!("write `{fix}`"),
            ));
        }
    }

    fn names(&mut self) {
        let bp = self.bp;
        self.kebab(&bp.system.name, "system");
        for s in &bp.services {
            self.kebab(&s.name, "service");
            if RESERVED_NAMES.contains(&s.name.as_str()) {
                self.err(
                    s.name.span.clone(),
                    format!(
                        "service name `{}` is reserved for a generated platform crate",
                        s.name.value
                    ),
                );
            }
            self.crate_name(&s.name, "service", true);
            for e in &s.entities {
                self.pascal(&e.name, "entity");
            }
            for a in &s.aggregates {
                self.pascal(&a.name, "aggregate");
                for c in &a.commands {
                    self.kebab(&c.name, "command");
                }
            }
            for v in &s.views {
                self.pascal(&v.name, "view");
            }
        }
        for e in &bp.events {
            self.pascal(&e.name, "event");
        }
        for s in &bp.sagas {
            self.kebab(&s.name, "saga");
            for st in &s.steps {
                self.kebab(&st.action, "saga action");
                if let Some(c) = &st.compensation {
                    self.kebab(c, "saga compensation");
                }
            }
        }
        for b in &bp.bffs {
            self.kebab(&b.name, "bff");
            self.crate_name(&b.name, "bff", false);
            if RESERVED_NAMES.contains(&b.name.as_str()) {
                self.err(
                    b.name.span.clone(),
                    format!(
                        "bff name `{}` is reserved for a generated platform crate",
                        b.name.value
                    ),
                );
            }
        }
        if let Some(a) = &bp.auth {
            for r in &a.roles {
                self.kebab(r, "role");
            }
        }
    }

    /// Service and BFF names are crate and binary names; a service's is also a Rust identifier
    /// in generated code (the field of its client, the module of its types in callers).
    fn crate_name(&mut self, name: &Sp<String>, what: &str, identifier: bool) {
        let n = name.as_str();
        if !is_kebab(n) || RESERVED_NAMES.contains(&n) {
            return;
        }
        let msg = if reserved::CARGO_ARTIFACT_DIRS.contains(&n) {
            format!(
                "{what} name `{n}` cannot name a crate: Cargo refuses it, as its build output has a directory of that name"
            )
        } else if identifier && reserved::BUILTIN_CRATES.contains(&n) {
            format!(
                "{what} name `{n}` is the name of a Rust built-in crate, which generated code would mistake it for"
            )
        } else if identifier && is_rust_keyword(&to_snake(n)) {
            format!(
                "{what} name `{n}` is a Rust keyword, and generated code uses it as an identifier"
            )
        } else {
            return;
        };
        self.d.push(hint_err(
            name.span.clone(),
            msg,
            format!("choose another name, such as `{n}-{what}`"),
        ));
    }

    /// A name that generated code turns into a module or function (`place-order` →
    /// `place_order`, `OrderLine` → `order_line`) cannot be a Rust keyword, as the templates
    /// do not escape it. Judged only when the name has its case (PascalCase for `pascal`,
    /// else kebab-case); true when reported.
    fn keyword(&mut self, name: &Sp<String>, what: &str, becomes: &str, pascal: bool) -> bool {
        let (well_formed, example) = if pascal {
            (is_pascal(&name.value), "OrderType")
        } else {
            (is_kebab(&name.value), "place-order")
        };
        let snake = to_snake(&name.value);
        if !well_formed || !is_rust_keyword(&snake) {
            return false;
        }
        self.d.push(hint_err(
            name.span.clone(),
            format!(
                "{what} name `{}` would be the {becomes} `{snake}`, a Rust keyword",
                name.value
            ),
            format!("choose another name; names of two words (`{example}`) are never keywords"),
        ));
        true
    }

    /// Names generated code is made of: saga modules and step functions, and the types (and
    /// modules) of entities, aggregates, views and events beside those the generated files
    /// import or declare.
    fn generated_names(&mut self) {
        let bp = self.bp;
        for saga in &bp.sagas {
            self.keyword(&saga.name, "saga", "module", false);
            for st in &saga.steps {
                self.keyword(&st.action, "saga action", "function", false);
                if let Some(c) = &st.compensation {
                    self.keyword(c, "saga compensation", "function", false);
                }
            }
        }
        for s in &bp.services {
            use reserved::{SERVICE_TYPES, TABLE_TYPES};
            let taken: &[&[(&str, &str)]] = match s.style.value {
                Style::Crud => &[SERVICE_TYPES, TABLE_TYPES, reserved::CRUD_TYPES],
                Style::EventSourced => &[SERVICE_TYPES, reserved::EVENT_SOURCED_TYPES],
                Style::ReadModel => &[SERVICE_TYPES, TABLE_TYPES, reserved::READ_MODEL_TYPES],
                Style::Worker => &[],
            };
            let mut items = Vec::new();
            for e in &s.entities {
                let mut types = typed(&e.name.value, &["Input", "Update", "Filter", "Hooks"]);
                types.extend(enum_types(&e.name.value, &e.fields));
                items.push(("entity", &e.name, types));
            }
            for a in &s.aggregates {
                let mut types = typed(&a.name.value, &["Event", "Snapshot"]);
                types.extend(
                    a.commands
                        .iter()
                        .map(|c| format!("{}{}", a.name.value, to_pascal(&c.name.value))),
                );
                items.push(("aggregate", &a.name, types));
            }
            for v in &s.views {
                let mut types = typed(&v.name.value, &["Filter"]);
                types.extend(enum_types(&v.name.value, &v.fields));
                items.push(("view", &v.name, types));
                // The view's generated hooks import its `from` events beside it.
                if let Some(e) = v.from.iter().find(|f| f.value == v.name.value) {
                    self.d.push(hint_err(
                        v.name.span.clone(),
                        format!(
                            "view name `{}` clashes with event `{}`, which its generated hooks import",
                            v.name.value, e.value
                        ),
                        "choose another name".into(),
                    ));
                }
            }
            self.type_names(&items, taken);
        }
        let events: Vec<_> = bp
            .events
            .iter()
            .map(|e| ("event", &e.name, enum_types(&e.name.value, &e.fields)))
            .map(|(what, name, enums)| {
                let mut types = vec![name.value.clone()];
                types.extend(enums);
                (what, name, types)
            })
            .collect();
        self.type_names(&events, &[reserved::EVENT_TYPES]);
    }

    /// Each item's generated types (its own name first) must be free: not taken by `taken`
    /// or the prelude, and not generated for an earlier item. Its snake_case form names a
    /// generated module, so it cannot be a keyword either. One finding per item.
    fn type_names(
        &mut self,
        items: &[(&str, &Sp<String>, Vec<String>)],
        taken: &[&[(&str, &'static str)]],
    ) {
        let mut generated: BTreeMap<&str, String> = BTreeMap::new();
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for (what, name, types) in items {
            let n = name.as_str();
            // Wrong case and duplicates are reported on their own.
            if !is_pascal(n) || !names.insert(n) {
                continue;
            }
            if self.keyword(name, what, "module", true) {
                continue;
            }
            let who = format!("{what} `{n}`");
            for t in types {
                let clash = reserved::taken_type(t, taken)
                    .map(|c| format!("{c} in the generated code"))
                    .or_else(|| {
                        generated
                            .get(t.as_str())
                            .map(|other| format!("the type `{t}` generated for {other}"))
                    });
                if let Some(clash) = clash {
                    let msg = if t == n {
                        format!("{what} name `{n}` clashes with {clash}")
                    } else {
                        format!("{who} would generate the type `{t}`, which clashes with {clash}")
                    };
                    self.d.push(hint_err(
                        name.span.clone(),
                        msg,
                        "choose another name".into(),
                    ));
                    break;
                }
                generated.entry(t.as_str()).or_insert_with(|| who.clone());
            }
        }
    }

    /// The handler and variables a composition generates: its handler is named after the
    /// path's first segment (see [`paths::composition_fn`]) and binds each `{param}` as a
    /// variable.
    fn composition_names(
        &mut self,
        b: &'a Bff,
        c: &'a Composition,
        handlers: &mut BTreeMap<String, &'a str>,
    ) {
        let p = c.path.as_str();
        let here = format!("composition `{p}` of bff `{}`", b.name.value);
        let f = paths::composition_fn(p);
        let problem = if is_rust_keyword(&f) {
            Some(format!(
                "{here} would be generated as the function `{f}`, a Rust keyword"
            ))
        } else if !is_plain_ident(&f) {
            Some(format!(
                "{here} would be generated as the function `{f}`, which is not a Rust identifier"
            ))
        } else if reserved::COMPOSITION_FNS.contains(&f.as_str()) {
            Some(format!(
                "{here} would be generated as the function `{f}`, which the generated compositions.rs already has"
            ))
        } else {
            match handlers.get(&f) {
                Some(other) if *other != p => Some(format!(
                    "{here} would be generated as the function `{f}`, as is composition `{other}`"
                )),
                Some(_) => None, // the same path twice: reported as a duplicate
                None => {
                    handlers.insert(f.clone(), p);
                    None
                }
            }
        };
        if let Some(msg) = problem {
            self.d.push(hint_err(
                c.path.span.clone(),
                msg,
                "a composition's handler is named after the first segment of its path that is not a parameter; start the path with a word such as `/order-details`".into(),
            ));
            return;
        }
        if let Some(clash) = paths::composition_clash(p, &b.name.value, b.client == "web") {
            self.d.push(hint_err(
                c.path.span.clone(),
                format!("{here} clashes with {clash}"),
                "choose another path".into(),
            ));
            return;
        }
        let calls: Vec<String> = c.calls.iter().map(|k| to_snake(&k.service.value)).collect();
        let mut seen: Vec<String> = Vec::new();
        for param in params(p) {
            let var = param.replace('-', "_");
            let msg = if is_rust_keyword(&var) {
                format!(
                    "parameter `{{{param}}}` of {here} would be the variable `{var}`, a Rust keyword"
                )
            } else if reserved::COMPOSITION_LOCALS.contains(&var.as_str()) {
                format!(
                    "parameter `{{{param}}}` of {here} would shadow `{var}` of the generated handler"
                )
            } else if calls.contains(&var) {
                format!(
                    "parameter `{{{param}}}` of {here} would shadow `{var}`, the answer of its call to a service"
                )
            } else if seen.contains(&var) {
                format!("parameter `{{{param}}}` appears twice in {here}")
            } else {
                seen.push(var);
                continue;
            };
            self.d.push(hint_err(
                c.path.span.clone(),
                msg,
                "rename the parameter, for example `{order-id}`".into(),
            ));
            return;
        }
    }

    /// Reports the second and later uses of a name among `items`.
    fn dup<'n>(&mut self, what: &str, items: impl IntoIterator<Item = &'n Sp<String>>) {
        let mut seen: BTreeMap<&str, &Range<usize>> = BTreeMap::new();
        for n in items {
            if n.value.is_empty() {
                continue;
            }
            if seen.contains_key(n.as_str()) {
                self.err(
                    n.span.clone(),
                    format!("duplicate {what} name `{}`", n.value),
                );
            } else {
                seen.insert(n.as_str(), &n.span);
            }
        }
    }

    fn duplicates(&mut self) {
        let bp = self.bp;
        // Services and BFFs share the crate and host name space.
        self.dup(
            "service or bff",
            bp.services
                .iter()
                .map(|s| &s.name)
                .chain(bp.bffs.iter().map(|b| &b.name)),
        );
        self.dup("event", bp.events.iter().map(|e| &e.name));
        self.dup("saga", bp.sagas.iter().map(|s| &s.name));
        if let Some(a) = &bp.auth {
            self.dup("role", a.roles.iter());
        }
        for s in &bp.services {
            self.dup(
                "entity, aggregate or view",
                s.entities
                    .iter()
                    .map(|e| &e.name)
                    .chain(s.aggregates.iter().map(|a| &a.name))
                    .chain(s.views.iter().map(|v| &v.name)),
            );
            self.dup("published event", s.publishes.iter());
            self.dup("consumed event", s.consumes.iter());
            for a in &s.aggregates {
                self.dup("command", a.commands.iter().map(|c| &c.name));
            }
        }
    }

    fn field_list(&mut self, fields: &[Field], owner: &str, builtins: bool) {
        for f in fields {
            if !is_kebab(&f.name.value) {
                self.d.push(hint_err(
                    f.name.span.clone(),
                    format!(
                        "field name `{}` of {owner} must be kebab-case",
                        f.name.value
                    ),
                    format!("write `{}`", to_kebab(&f.name.value)),
                ));
            } else if builtins && BUILTIN_FIELDS.contains(&f.name.as_str()) {
                self.d.push(hint_err(
                    f.name.span.clone(),
                    format!("field `{}` of {owner} is built in", f.name.value),
                    "every entity already has `id`, `created-at`, `updated-at` and `version`; remove it".into(),
                ));
            } else if RUST_RESERVED.contains(&crate::names::to_snake(&f.name.value).as_str()) {
                self.err(
                    f.name.span.clone(),
                    format!(
                        "field name `{}` of {owner} cannot be a Rust identifier",
                        f.name.value
                    ),
                );
            }
        }
    }

    fn fields(&mut self) {
        let bp = self.bp;
        for s in &bp.services {
            for e in &s.entities {
                self.field_list(&e.fields, &format!("entity `{}`", e.name.value), true);
            }
            for v in &s.views {
                self.field_list(&v.fields, &format!("view `{}`", v.name.value), false);
                if !v.key.value.is_empty() && !v.fields.iter().any(|f| f.name.value == v.key.value)
                {
                    let names: Vec<&str> = v.fields.iter().map(|f| f.name.as_str()).collect();
                    self.d.push(hint_err(
                        v.key.span.clone(),
                        format!(
                            "key `{}` of view `{}` is not one of its fields",
                            v.key.value, v.name.value
                        ),
                        suggestion(&v.key.value, &names),
                    ));
                }
            }
        }
        for e in &bp.events {
            self.field_list(&e.fields, &format!("event `{}`", e.name.value), false);
        }
    }

    fn styles(&mut self) {
        for s in &self.bp.services {
            let name = &s.name.value;
            let style = s.style.value;
            if s.store.value == Store::None
                && matches!(style, Style::Crud | Style::EventSourced | Style::ReadModel)
            {
                self.d.push(hint_err(
                    s.store.span.clone(),
                    format!(
                        "service `{name}`: style `{}` cannot work with store `none`",
                        style.as_str()
                    ),
                    "use store = \"postgres\", or style = \"worker\" for a service without state"
                        .into(),
                ));
            }
            let misplaced: [(&str, bool, Style); 3] = [
                ("entities", !s.entities.is_empty(), Style::Crud),
                ("aggregates", !s.aggregates.is_empty(), Style::EventSourced),
                ("views", !s.views.is_empty(), Style::ReadModel),
            ];
            for (key, present, wanted) in misplaced {
                if present && style != wanted {
                    self.err(
                        s.style.span.clone(),
                        format!("service `{name}` declares {key}, which only a `{}` service has (its style is `{}`)", wanted.as_str(), style.as_str()),
                    );
                } else if !present && style == wanted {
                    self.err(
                        s.name.span.clone(),
                        format!("{} service `{name}` declares no {key}", wanted.as_str()),
                    );
                }
            }
            if style == Style::Worker
                && s.store.value == Store::None
                && let Some(first) = s.publishes.first()
            {
                self.d.push(hint_err(
                    first.span.clone(),
                    format!("worker `{name}` publishes `{}`, but without a database it has no outbox to publish through", first.value),
                    "add store = \"postgres\" to the worker, or publish the event from a service that has a database".into(),
                ));
            }
            if style == Style::ReadModel
                && s.consumes.is_empty()
                && !s.views.is_empty()
                && s.views.iter().all(|v| v.from.is_empty())
            {
                self.d.push(hint_err(
                    s.name.span.clone(),
                    format!("read-model service `{name}` consumes no events, so nothing would fill its views"),
                    "list the events its views are built from in `consumes` and in each view's `from`".into(),
                ));
            }
            let in_saga = self.bp.sagas.iter().any(|g| {
                g.owner.value == s.name.value
                    || g.steps.iter().any(|st| st.service.value == s.name.value)
            });
            if style == Style::Worker && s.consumes.is_empty() && !in_saga {
                self.d.push(Diagnostic::warning(
                    s.name.span.clone(),
                    format!("worker `{name}` consumes no events; it will do nothing"),
                ));
            }
        }
    }

    fn event_ref(&mut self, name: &Sp<String>, context: &str) -> bool {
        if name.value.is_empty() || self.bp.event(&name.value).is_some() {
            return true;
        }
        let names = self.event_names();
        self.d.push(hint_err(
            name.span.clone(),
            format!("unknown event `{}` in {context}", name.value),
            suggestion(&name.value, &names),
        ));
        false
    }

    fn service_ref(&mut self, name: &Sp<String>, context: &str) -> Option<&'a Service> {
        if name.value.is_empty() {
            return None;
        }
        let found = self.bp.service(&name.value);
        if found.is_none() {
            let names = self.service_names();
            self.d.push(hint_err(
                name.span.clone(),
                format!("unknown service `{}` in {context}", name.value),
                suggestion(&name.value, &names),
            ));
        }
        found
    }

    /// Events published by each service: `publishes` plus events recorded by its aggregates.
    fn publishers(&self) -> BTreeMap<&'a str, Vec<&'a Sp<String>>> {
        let mut map: BTreeMap<&str, Vec<&Sp<String>>> = BTreeMap::new();
        for s in &self.bp.services {
            let recorded = s
                .aggregates
                .iter()
                .flat_map(|a| a.commands.iter().map(|c| &c.event));
            let mut seen = BTreeSet::new();
            for e in s.publishes.iter().chain(recorded) {
                if seen.insert(e.as_str()) {
                    map.entry(e.as_str()).or_default().push(&s.name);
                }
            }
        }
        map
    }

    fn events(&mut self) {
        let bp = self.bp;
        for s in &bp.services {
            let ctx = format!("`publishes` of service `{}`", s.name.value);
            for e in &s.publishes {
                self.event_ref(e, &ctx);
            }
            let ctx = format!("`consumes` of service `{}`", s.name.value);
            for e in &s.consumes {
                self.event_ref(e, &ctx);
            }
        }
        let publishers = self.publishers();
        for e in &bp.events {
            match publishers.get(e.name.as_str()).map(Vec::as_slice) {
                Some([_]) => {}
                Some(many) => {
                    let names: Vec<String> =
                        many.iter().map(|n| format!("`{}`", n.value)).collect();
                    self.err(e.name.span.clone(), format!("event `{}` is published by {} services ({}); each event has exactly one publisher", e.name.value, many.len(), names.join(", ")));
                }
                None => {
                    if bp
                        .services
                        .iter()
                        .any(|s| s.consumes.iter().any(|c| c.value == e.name.value))
                    {
                        continue; // reported below, at the consumer
                    }
                    self.err(
                        e.name.span.clone(),
                        format!("event `{}` is published by no service", e.name.value),
                    );
                }
            }
        }
        if bp.platform.mesh.value == Mesh::Istio && bp.platform.discovery == Discovery::Registry {
            self.d.push(hint_err(
                bp.platform.mesh.span.clone(),
                "`mesh = \"istio\"` needs `discovery = \"kubernetes\"`: the registry hands out pod addresses, which bypass the mesh's routes and its strict mTLS".into(),
                "set `discovery = \"kubernetes\"` in [platform] (the mesh then balances and retries)".into(),
            ));
        }
        if bp.platform.broker.value == Broker::None
            && bp
                .services
                .iter()
                .any(|s| !s.publishes.is_empty() || !s.consumes.is_empty())
        {
            self.d.push(hint_err(
                bp.platform.broker.span.clone(),
                "services publish or consume events, but `broker` is `none`".into(),
                "choose a broker: nats, rabbitmq or kafka".into(),
            ));
        }
        for s in &bp.services {
            for c in &s.consumes {
                if bp.event(&c.value).is_some() && !publishers.contains_key(c.as_str()) {
                    self.err(
                        c.span.clone(),
                        format!(
                            "service `{}` consumes `{}`, which no service publishes",
                            s.name.value, c.value
                        ),
                    );
                }
            }
            for a in &s.aggregates {
                let id_field = format!("{}-id", to_kebab(&a.name.value));
                for cmd in &a.commands {
                    let ctx = format!(
                        "command `{}` of aggregate `{}`",
                        cmd.name.value, a.name.value
                    );
                    if self.event_ref(&cmd.event, &ctx)
                        && let Some(ev) = bp.event(&cmd.event.value)
                        && !ev.fields.iter().any(|f| f.name.value == id_field)
                    {
                        self.err(
                            cmd.event.span.clone(),
                            format!(
                                "event `{}` recorded by aggregate `{}` has no `{id_field}` field",
                                ev.name.value, a.name.value
                            ),
                        );
                    }
                }
            }
        }
    }

    /// `closed-by` of an aggregate names its commands, other than the creating one.
    fn lifecycles(&mut self) {
        for s in &self.bp.services {
            for a in &s.aggregates {
                let commands: Vec<&str> = a.commands.iter().map(|c| c.name.as_str()).collect();
                for c in &a.closed_by {
                    let name = c.as_str();
                    if commands.first() == Some(&name) {
                        self.d.push(hint_err(
                            c.span.clone(),
                            format!("`closed-by` of aggregate `{}` names `{name}`, the command that creates it", a.name.value),
                            "list the commands after which the aggregate accepts no other (the first command creates it)".into(),
                        ));
                    } else if !commands.contains(&name) {
                        self.d.push(hint_err(
                            c.span.clone(),
                            format!("`closed-by` of aggregate `{}` names `{name}`, which is not one of its commands", a.name.value),
                            suggestion(name, commands.get(1..).unwrap_or_default()),
                        ));
                    }
                }
            }
        }
    }

    fn calls(&mut self) {
        let bp = self.bp;
        let mut edges: BTreeMap<&str, Vec<&Sp<String>>> = BTreeMap::new();
        for s in &bp.services {
            for c in &s.calls {
                let ctx = format!("`calls` of service `{}`", s.name.value);
                if let Some(target) = self.service_ref(&c.service, &ctx) {
                    if target.name.value == s.name.value {
                        self.err(
                            c.service.span.clone(),
                            format!("service `{}` calls itself", s.name.value),
                        );
                    } else {
                        edges.entry(s.name.as_str()).or_default().push(&c.service);
                    }
                }
            }
        }
        // Depth-first search for a cycle; each cycle is reported once, at the call that closes it.
        let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
        for start in edges.keys().copied().collect::<Vec<_>>() {
            let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, vec![start])];
            while let Some((node, path)) = stack.pop() {
                for next in edges.get(node).into_iter().flatten() {
                    if next.as_str() == start {
                        let mut key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
                        key.sort();
                        if reported.insert(key) {
                            let cycle = path
                                .iter()
                                .chain([&start])
                                .copied()
                                .collect::<Vec<_>>()
                                .join(" → ");
                            self.err(next.span.clone(), format!("cycle in `calls`: {cycle}"));
                        }
                    } else if !path.contains(&next.as_str()) {
                        let mut p = path.clone();
                        p.push(next.as_str());
                        stack.push((next.as_str(), p));
                    }
                }
            }
        }
    }

    fn ports(&mut self) {
        let bp = self.bp;
        let mut used: BTreeMap<u16, String> = BTreeMap::new();
        used.insert(bp.gateway.port.value, "the gateway".into());
        for (name, port) in PLATFORM_PORTS {
            if let Some(other) = used.get(port) {
                self.err(
                    bp.gateway.port.span.clone(),
                    format!("port {port} of the {name} is already used by {other}"),
                );
            }
            used.insert(*port, format!("the {name}"));
        }
        let items = bp
            .services
            .iter()
            .map(|s| (&s.port, format!("service `{}`", s.name.value)))
            .chain(
                bp.bffs
                    .iter()
                    .filter(|b| b.port.value != 0)
                    .map(|b| (&b.port, format!("bff `{}`", b.name.value))),
            );
        for (port, who) in items {
            if let Some(other) = used.get(&port.value) {
                self.err(
                    port.span.clone(),
                    format!("port {} of {who} is already used by {other}", port.value),
                );
            } else {
                used.insert(port.value, who);
            }
        }
    }

    fn roles_ref(&mut self, roles: &[Sp<String>], context: &str) {
        let known = self.roles();
        for r in roles {
            if self.bp.auth.is_none() {
                self.d.push(hint_err(
                    r.span.clone(),
                    format!(
                        "{context} names role `{}`, but there is no [auth] section",
                        r.value
                    ),
                    "add [auth] with `roles`".into(),
                ));
            } else if !known.contains(&r.as_str()) {
                self.d.push(hint_err(
                    r.span.clone(),
                    format!("unknown role `{}` in {context}", r.value),
                    suggestion(&r.value, &known),
                ));
            }
        }
    }

    /// Reports a path of the wrong shape; true when the shape is fine (an empty path is
    /// reported where it is read).
    fn path_shape(&mut self, path: &Sp<String>, context: &str, params: Params) -> bool {
        let Some(hint) = paths::shape_problem(&path.value, params) else {
            return true;
        };
        self.d.push(hint_err(
            path.span.clone(),
            format!("`{}` is not a valid path in {context}", path.value),
            hint,
        ));
        false
    }

    fn exposes(&mut self) {
        let bp = self.bp;
        let bffs: Vec<&str> = bp.bffs.iter().map(|b| b.name.as_str()).collect();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for s in &bp.services {
            let exposes = s
                .entities
                .iter()
                .map(|e| (&e.expose, &e.name))
                .chain(s.aggregates.iter().map(|a| (&a.expose, &a.name)))
                .chain(s.views.iter().map(|v| (&v.expose, &v.name)));
            for (ex, owner) in exposes {
                let Some(ex) = ex else { continue };
                let ctx = format!("`expose` of `{}`", owner.value);
                if self.path_shape(&ex.path, &ctx, Params::None)
                    && let Some(clash) =
                        paths::expose_clash(&ex.path.value, bp.auth.is_some(), &bffs)
                {
                    self.d.push(hint_err(
                        ex.path.span.clone(),
                        format!("path `{}` in {ctx} clashes with {clash}", ex.path.value),
                        "choose another path".into(),
                    ));
                }
                self.roles_ref(&ex.read, &ctx);
                self.roles_ref(&ex.write, &ctx);
                if ex.path.value.is_empty() {
                    continue;
                }
                let who = format!("`{}` of service `{}`", owner.value, s.name.value);
                if let Some(other) = seen.get(&ex.path.value) {
                    self.err(
                        ex.path.span.clone(),
                        format!(
                            "path `{}` is exposed twice (also by {other})",
                            ex.path.value
                        ),
                    );
                } else {
                    seen.insert(ex.path.value.clone(), who);
                }
            }
        }
    }

    fn sagas(&mut self) {
        let bp = self.bp;
        let publishers = self.publishers();
        for saga in &bp.sagas {
            let ctx = format!("saga `{}`", saga.name.value);
            if bp.platform.broker.value == Broker::None {
                self.d.push(hint_err(
                    saga.name.span.clone(),
                    format!("{ctx} needs a broker: its steps and replies are messages, but `broker` is `none`"),
                    "choose a broker in [platform]: nats, rabbitmq or kafka".into(),
                ));
            }
            let owner = self.service_ref(&saga.owner, &ctx);
            self.saga_trigger(saga, owner, &ctx);
            self.saga_types(saga, &ctx);
            let mut previous: Option<&Service> = owner;
            for step in &saga.steps {
                let Some(svc) = self.service_ref(&step.service, &ctx) else {
                    previous = None;
                    continue;
                };
                if saga.style == SagaStyle::Choreography {
                    if step.on_success.is_none() {
                        self.d.push(hint_err(
                            step.action.span.clone(),
                            format!(
                                "step `{}` of choreography {ctx} has no `on-success` event",
                                step.action.value
                            ),
                            "name the event the participant publishes when the step succeeds"
                                .into(),
                        ));
                    }
                    // The participant reacts to an event of the one before it.
                    if let Some(prev) = previous {
                        let triggers = svc.consumes.iter().any(|c| {
                            publishers
                                .get(c.as_str())
                                .is_some_and(|p| p.iter().any(|n| n.value == prev.name.value))
                        });
                        if !triggers {
                            self.err(step.service.span.clone(), format!("service `{}` takes part in {ctx} but consumes no event that `{}` publishes", svc.name.value, prev.name.value));
                        }
                    }
                }
                for ev in [&step.on_success, &step.on_failure].into_iter().flatten() {
                    if !self.event_ref(ev, &ctx) {
                        continue;
                    }
                    if !publishers
                        .get(ev.as_str())
                        .is_some_and(|p| p.iter().any(|n| n.value == svc.name.value))
                    {
                        self.err(
                            ev.span.clone(),
                            format!(
                                "service `{}` does not publish `{}`, named by a step of {ctx}",
                                svc.name.value, ev.value
                            ),
                        );
                    }
                    if let Some(o) = owner
                        && !o.consumes.iter().any(|c| c.value == ev.value)
                    {
                        self.d.push(hint_err(
                            ev.span.clone(),
                            format!(
                                "owner `{}` of {ctx} does not consume `{}`",
                                o.name.value, ev.value
                            ),
                            format!("add \"{}\" to `consumes` of `{}`", ev.value, o.name.value),
                        ));
                    }
                }
                previous = Some(svc);
            }
        }
    }

    /// The optional `trigger`: an event the owner publishes (and, for a choreography, that the
    /// first step's service consumes).
    fn saga_trigger(&mut self, saga: &Saga, owner: Option<&Service>, ctx: &str) {
        let Some(t) = &saga.trigger else { return };
        if !self.event_ref(t, ctx) {
            return;
        }
        if let Some(o) = owner
            && !super::saga_shape::published_by(o).contains(&t.value.as_str())
        {
            self.d.push(hint_err(
                t.span.clone(),
                format!(
                    "the trigger `{}` of {ctx} is not published by its owner `{}`",
                    t.value, o.name.value
                ),
                format!("add \"{}\" to `publishes` of `{}`", t.value, o.name.value),
            ));
        }
        let first = saga
            .steps
            .first()
            .and_then(|s| self.bp.service(&s.service.value));
        if saga.style == SagaStyle::Choreography
            && let Some(f) = first
            && !f.consumes.iter().any(|c| c.value == t.value)
        {
            self.d.push(hint_err(
                t.span.clone(),
                format!(
                    "the trigger `{}` of {ctx} is not consumed by `{}`, which runs its first step",
                    t.value, f.name.value
                ),
                format!("add \"{}\" to `consumes` of `{}`", t.value, f.name.value),
            ));
        }
    }

    /// The messages generated for a saga (`<Saga>Data`, `<Saga>Reply`, `<Saga>Failed`,
    /// `<Saga><Participant>Command`) are contracts types: no event may take their names.
    fn saga_types(&mut self, saga: &Saga, ctx: &str) {
        let pascal = to_pascal(&saga.name.value);
        let generated: Vec<String> = ["Data", "Reply", "Failed"]
            .iter()
            .map(|s| format!("{pascal}{s}"))
            .chain(
                saga.steps
                    .iter()
                    .map(|s| format!("{pascal}{}Command", to_pascal(&s.service.value))),
            )
            .collect();
        for e in &self.bp.events {
            if generated.contains(&e.name.value) {
                self.d.push(hint_err(
                    e.name.span.clone(),
                    format!(
                        "event `{}` takes the name of a message generated for {ctx}",
                        e.name.value
                    ),
                    "rename the event (or the saga)".into(),
                ));
            }
        }
    }

    fn bffs(&mut self) {
        let bp = self.bp;
        let exposed: Vec<(&str, &Service)> = bp
            .services
            .iter()
            .flat_map(|s| {
                s.entities
                    .iter()
                    .filter_map(|e| e.expose.as_ref())
                    .chain(s.aggregates.iter().filter_map(|a| a.expose.as_ref()))
                    .chain(s.views.iter().filter_map(|v| v.expose.as_ref()))
                    .map(move |x| (x.path.as_str(), s))
            })
            .collect();
        let paths: Vec<&str> = exposed.iter().map(|(p, _)| *p).collect();
        for b in &bp.bffs {
            let ctx = format!("bff `{}`", b.name.value);
            for r in &b.routes {
                if !paths.contains(&r.as_str()) {
                    self.d.push(hint_err(
                        r.span.clone(),
                        format!("route `{}` of {ctx} is not exposed by any service", r.value),
                        suggestion(&r.value, &paths),
                    ));
                }
            }
            self.dup("route", b.routes.iter());
            self.dup("composition path", b.compositions.iter().map(|c| &c.path));
            let mut handlers: BTreeMap<String, &str> = BTreeMap::new();
            for c in &b.compositions {
                let cctx = format!("composition `{}` of {ctx}", c.path.value);
                if self.path_shape(&c.path, &cctx, Params::Own) {
                    self.composition_names(b, c, &mut handlers);
                }
                self.roles_ref(&c.read, &cctx);
                let own_params: Vec<&str> = params(&c.path.value);
                let mut earlier: Vec<&str> = Vec::new();
                for call in &c.calls {
                    let Some(svc) = self.service_ref(&call.service, &cctx) else {
                        continue;
                    };
                    // The answer has one member, and the handler one variable, per service.
                    if earlier.contains(&svc.name.as_str()) {
                        self.d.push(hint_err(
                            call.service.span.clone(),
                            format!("{cctx} calls service `{}` twice", svc.name.value),
                            "its answer has one member per service: call each service once".into(),
                        ));
                        continue;
                    }
                    if !self.path_shape(&call.path, &cctx, Params::Call) {
                        earlier.push(svc.name.as_str());
                        continue;
                    }
                    let base = call.path.value.split("/{").next().unwrap_or("");
                    if !exposed
                        .iter()
                        .any(|(p, s)| *p == base && s.name.value == svc.name.value)
                    {
                        self.err(
                            call.path.span.clone(),
                            format!(
                                "service `{}` exposes no path `{base}` (in {cctx})",
                                svc.name.value
                            ),
                        );
                    }
                    for p in params(&call.path.value) {
                        match p.split_once('.') {
                            None if own_params.contains(&p) => {}
                            None => self.d.push(hint_err(
                                call.path.span.clone(),
                                format!(
                                    "`{{{p}}}` in {cctx} is not a parameter of `{}`",
                                    c.path.value
                                ),
                                suggestion(p, &own_params),
                            )),
                            Some((from, field)) => {
                                if !earlier.contains(&from) {
                                    self.err(call.path.span.clone(), format!("`{{{p}}}` in {cctx} refers to `{from}`, which is not an earlier call"));
                                } else if let Some(src) = bp.service(from) {
                                    let fields: Vec<&str> = src
                                        .entities
                                        .iter()
                                        .flat_map(|e| e.fields.iter())
                                        .chain(src.views.iter().flat_map(|v| v.fields.iter()))
                                        .map(|f| f.name.as_str())
                                        .chain(["id"])
                                        .collect();
                                    if !fields.contains(&field) {
                                        self.d.push(hint_err(call.path.span.clone(), format!("unknown field `{field}` of service `{from}` in {cctx}"), suggestion(field, &fields)));
                                    }
                                }
                            }
                        }
                    }
                    earlier.push(svc.name.as_str());
                }
            }
        }
    }

    /// A view can only be fed by an event that carries its key, with the key's type; fields
    /// of the same name and another type are not copied (a warning).
    fn view_source(&mut self, v: &crate::blueprint::View, f: &Sp<String>, e: &Event) {
        let Some(key) = v.fields.iter().find(|x| x.name.value == v.key.value) else {
            return;
        };
        match e.fields.iter().find(|x| x.name.value == v.key.value) {
            None => self.d.push(hint_err(
                f.span.clone(),
                format!(
                    "event `{}` has no field `{}`, the key of view `{}`",
                    e.name.value, v.key.value, v.name.value
                ),
                format!(
                    "add `{}` to the event's fields, or remove it from `from`",
                    v.key.value
                ),
            )),
            Some(k) if k.ty.value != key.ty.value => self.d.push(hint_err(
                f.span.clone(),
                format!(
                    "event `{}` has `{}` as {}, but view `{}` keys it as {}",
                    e.name.value, v.key.value, k.ty.value, v.name.value, key.ty.value
                ),
                "give the key the same type in the event and the view".to_string(),
            )),
            Some(_) => {}
        }
        for vf in &v.fields {
            if let Some(ef) = e.fields.iter().find(|x| x.name.value == vf.name.value)
                && vf.name.value != v.key.value
                && (ef.ty.value.kind != vf.ty.value.kind
                    || (ef.ty.value.optional && !vf.ty.value.optional))
            {
                self.d.push(Diagnostic::warning(
                    vf.name.span.clone(),
                    format!(
                        "`{}` is {} in event `{}` but {} in view `{}`; it is not copied",
                        vf.name.value, ef.ty.value, e.name.value, vf.ty.value, v.name.value
                    ),
                ));
            }
        }
    }

    fn views(&mut self) {
        let bp = self.bp;
        for s in &bp.services {
            for v in &s.views {
                let ctx = format!("`from` of view `{}`", v.name.value);
                let mut sources: Vec<&Event> = Vec::new();
                for f in &v.from {
                    if self.event_ref(f, &ctx) {
                        if let Some(e) = bp.event(&f.value) {
                            sources.push(e);
                            self.view_source(v, f, e);
                        }
                        if !s.consumes.iter().any(|c| c.value == f.value) {
                            self.d.push(hint_err(
                                f.span.clone(),
                                format!(
                                    "view `{}` is fed by `{}`, which service `{}` does not consume",
                                    v.name.value, f.value, s.name.value
                                ),
                                format!("add \"{}\" to `consumes`", f.value),
                            ));
                        }
                    }
                }
                for field in &v.fields {
                    if !sources
                        .iter()
                        .any(|e| e.fields.iter().any(|ef| ef.name.value == field.name.value))
                    {
                        self.d.push(
                            Diagnostic::warning(field.name.span.clone(), format!("no event in `from` of view `{}` has a field `{}`; user code must fill it", v.name.value, field.name.value)),
                        );
                    }
                }
            }
        }
    }
}

/// `name` and `name` + each suffix: the types generated for one blueprint type.
fn typed(name: &str, suffixes: &[&str]) -> Vec<String> {
    std::iter::once(name.to_string())
        .chain(suffixes.iter().map(|s| format!("{name}{s}")))
        .collect()
}

/// The enum types generated for the enum fields of `owner` (`Order` + `status` →
/// `OrderStatus`, as the plan names them).
fn enum_types(owner: &str, fields: &[Field]) -> Vec<String> {
    fields
        .iter()
        .filter(|f| match &f.ty.value.kind {
            Kind::Enum(_) => true,
            Kind::List(inner) => matches!(inner.as_ref(), Kind::Enum(_)),
            _ => false,
        })
        .map(|f| format!("{}{}", to_pascal(owner), to_pascal(&f.name.value)))
        .collect()
}

/// The `{param}` names of a path, in order.
pub fn params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}
