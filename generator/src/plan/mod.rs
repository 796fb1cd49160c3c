//! Stage 3, plan: a validated blueprint → the complete list of files of the workspace, each with
//! its path, its ownership and how to produce its bytes. No I/O happens here; the plan is a
//! value, so `msa-gen plan` can show it and tests can inspect it.
//!
//! Ownership decides what regeneration may do: a [`Ownership::Generated`] file is rewritten
//! from the blueprint every time; a [`Ownership::User`] file is written once and then belongs
//! to the user. The blueprint copy is [`Ownership::Input`]: written by `new`, read by `generate`.

pub mod aggregate;
pub mod bff;
pub mod deploy;
pub mod e2e;
pub mod mesh;
pub mod migrations;
pub mod orchestration;
pub mod saga;
pub mod view;

use serde::Serialize;

use crate::blueprint::{Blueprint, Style};
use crate::embedded;

/// Who owns a file once it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ownership {
    /// Rewritten on every generation; carries the `@generated` header.
    Generated,
    /// Written only when absent; never overwritten.
    User,
    /// The blueprint itself: written by `new` only.
    Input,
}

/// How a planned file gets its bytes.
#[derive(Debug, Clone)]
pub enum Source {
    /// A Tera template rendered with a context.
    Template {
        name: String,
        context: serde_json::Value,
    },
    /// Copied byte for byte from the embedded `templates/` tree (the runtime crate).
    Verbatim { bytes: &'static [u8] },
    /// Text computed by the plan itself.
    Text(String),
}

#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Relative, `/`-separated path inside the workspace.
    pub path: String,
    pub ownership: Ownership,
    pub source: Source,
}

/// Every file of a workspace, sorted by path, plus one line per section that is not generated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub files: Vec<PlannedFile>,
    /// The system view, serialized once: a template context whose `system` is
    /// [`SHARED_SYSTEM`] sees this value there (contexts stay small however big the system).
    pub system: serde_json::Value,
    pub not_generated: Vec<String>,
    /// Things the user should know about this generation (columns a new migration drops).
    pub warnings: Vec<String>,
}

/// The value of a context's `system` key that stands for [`Plan::system`].
pub const SHARED_SYSTEM: &str = "@system";

fn template(
    path: impl Into<String>,
    ownership: Ownership,
    name: &str,
    context: &impl Serialize,
) -> PlannedFile {
    PlannedFile {
        path: path.into(),
        ownership,
        source: Source::Template {
            name: name.to_string(),
            context: serde_json::to_value(context).unwrap_or(serde_json::Value::Null),
        },
    }
}

/// Builds the plan. `blueprint_text` is copied into the workspace as `blueprint.toml`.
/// Every file of the workspace for `bp`. `history` is the workspace's migration history
/// (`.msa-gen/migrations.json`), `None` for a new workspace.
pub fn plan(bp: &Blueprint, blueprint_text: &str, history: Option<&migrations::History>) -> Plan {
    let system = system_view(bp);
    let mut files = vec![
        PlannedFile {
            path: "blueprint.toml".into(),
            ownership: Ownership::Input,
            source: Source::Text(blueprint_text.to_string()),
        },
        template(
            "Cargo.toml",
            Ownership::Generated,
            "workspace/Cargo.toml.tera",
            &system,
        ),
        template(
            "README.md",
            Ownership::Generated,
            "workspace/README.md.tera",
            &system,
        ),
        template(
            ".gitignore",
            Ownership::User,
            "workspace/gitignore.tera",
            &system,
        ),
        template(
            "crates/contracts/Cargo.toml",
            Ownership::Generated,
            "crates/contracts/Cargo.toml.tera",
            &system,
        ),
        template(
            "crates/contracts/src/upcast.rs",
            Ownership::User,
            "crates/contracts/src/upcast.rs.tera",
            &system,
        ),
        template(
            "crates/contracts/src/lib.rs",
            Ownership::Generated,
            "crates/contracts/src/lib.rs.tera",
            &system,
        ),
    ];
    for (path, bytes) in embedded::verbatim() {
        files.push(PlannedFile {
            path,
            ownership: Ownership::Generated,
            source: Source::Verbatim { bytes },
        });
    }
    platform_files(&mut files, &system);
    let mut new_history = migrations::History::default();
    let mut warnings = Vec::new();
    for s in &system.services {
        let dir = format!("services/{}", s.name);
        let ctx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s });
        files.push(template(
            format!("{dir}/Cargo.toml"),
            Ownership::Generated,
            "services/Cargo.toml.tera",
            &ctx,
        ));
        files.push(template(
            format!("config/{}.toml", s.name),
            Ownership::User,
            "config/service.toml.tera",
            &ctx,
        ));
        match s.style.as_str() {
            "worker" => files.push(template(
                format!("{dir}/src/main.rs"),
                Ownership::Generated,
                "services/worker/main.rs.tera",
                &ctx,
            )),
            "read-model" => {
                for (file, name) in [
                    ("main.rs", "main.rs"),
                    ("api.rs", "api.rs"),
                    ("model.rs", "model.rs"),
                    ("projections.rs", "projections.rs"),
                    ("views/mod.rs", "views_mod.rs"),
                ] {
                    files.push(template(
                        format!("{dir}/src/{file}"),
                        Ownership::Generated,
                        &format!("services/read_model/{name}.tera"),
                        &ctx,
                    ));
                }
                for v in &s.views {
                    let vctx =
                        serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "view": v });
                    files.push(template(
                        format!("{dir}/src/views/{}.rs", v.snake),
                        Ownership::User,
                        "services/read_model/view_hooks.rs.tera",
                        &vctx,
                    ));
                }
            }
            "event-sourced" => event_sourced_files(&mut files, &dir, s, &ctx),
            _ => crud_files(&mut files, &dir, s, &ctx),
        }
        if !s.sagas.is_empty() || !s.orchestrations.is_empty() || !s.participations.is_empty() {
            saga_files(&mut files, &dir, s, &ctx);
        }
        if !s.calls.is_empty() && s.style == "crud" {
            files.push(template(
                format!("{dir}/src/clients.rs"),
                Ownership::Generated,
                "services/calls/clients.rs.tera",
                &ctx,
            ));
        }
        if let Some(m) = &s.messaging {
            files.push(template(
                format!("{dir}/src/events.rs"),
                Ownership::Generated,
                "services/events/events.rs.tera",
                &ctx,
            ));
            if !m.user_handlers.is_empty() {
                files.push(template(
                    format!("{dir}/src/handlers/mod.rs"),
                    Ownership::Generated,
                    "services/events/handlers_mod.rs.tera",
                    &ctx,
                ));
            }
            for h in &m.user_handlers {
                let hctx =
                    serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "handler": h });
                files.push(template(
                    format!("{dir}/src/handlers/{}.rs", h.module),
                    Ownership::User,
                    "services/events/handler.rs.tera",
                    &hctx,
                ));
            }
        }
        if s.has_db {
            let previous = history.and_then(|h| h.services.get(&s.name));
            let (recorded, w) = migrations::plan_service(s, previous);
            warnings.extend(w);
            for m in &recorded.migrations {
                files.push(PlannedFile {
                    path: format!("{dir}/migrations/{}", m.file),
                    ownership: Ownership::Generated,
                    source: Source::Text(m.sql.clone()),
                });
            }
            new_history.services.insert(s.name.clone(), recorded);
        }
    }
    for b in &system.bffs {
        let dir = format!("bffs/{}", b.name);
        let ctx = serde_json::json!({ "system": SHARED_SYSTEM, "bff": b });
        let mut parts = vec![("Cargo.toml", "Cargo.toml"), ("src/main.rs", "main.rs")];
        if !b.compositions.is_empty() {
            parts.extend([
                ("src/clients.rs", "clients.rs"),
                ("src/compositions.rs", "compositions.rs"),
            ]);
        }
        for (file, name) in parts {
            files.push(template(
                format!("{dir}/{file}"),
                Ownership::Generated,
                &format!("bffs/{name}.tera"),
                &ctx,
            ));
        }
        files.push(template(
            format!("config/{}.toml", b.name),
            Ownership::User,
            "bffs/config.toml.tera",
            &ctx,
        ));
    }
    deploy::deploy_files(&mut files, &system, bp);
    e2e::files(&mut files, &system, bp);
    files.push(PlannedFile {
        path: migrations::HISTORY_PATH.into(),
        ownership: Ownership::Generated,
        source: Source::Text(new_history.to_json()),
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Plan {
        files,
        system: serde_json::to_value(&system).unwrap_or(serde_json::Value::Null),
        not_generated: system.not_generated,
        warnings,
    }
}

/// The system as every template sees it: the generated services, events, platform services,
/// gateway and BFFs of the blueprint.
pub(crate) fn system_view(bp: &Blueprint) -> view::SystemView {
    let not_generated = not_generated(bp);
    let services: Vec<view::ServiceView> = bp
        .services
        .iter()
        .filter(|s| match s.style.value {
            Style::Crud | Style::Worker => true,
            Style::ReadModel => view::has_messaging(s, bp),
            Style::EventSourced => true,
        })
        .map(|s| view::service_view(s, bp))
        .collect();
    let auth = bp.auth.as_ref().map(|a| view::AuthView {
        port: platform_port("auth"),
        roles: a.roles.iter().map(|r| r.value.clone()).collect(),
        access_ttl_ms: a.access_token_ttl.millis,
        refresh_ttl_ms: a.refresh_token_ttl.millis,
        redis_sessions: a.sessions == crate::blueprint::Sessions::Redis,
    });
    view::SystemView {
        name: bp.system.name.value.clone(),
        snake: crate::names::to_snake(&bp.system.name.value),
        version: bp.system.version.value.clone(),
        description: bp.system.description.clone().unwrap_or_default(),
        events: bp.events.iter().map(|e| view::event_view(e, bp)).collect(),
        services: services.clone(),
        broker: bp.platform.broker.value.as_str().to_string(),
        image_registry: bp.platform.image_registry.clone(),
        graph: crate::graph::mermaid(bp),
        orchestrations: orchestration::all(bp),
        bffs: bp.bffs.iter().map(|b| bff::bff_view(b, bp)).collect(),
        not_generated,
        topology: bp
            .services
            .iter()
            .filter(|s| view::has_messaging(s, bp))
            .flat_map(|s| {
                s.consumes
                    .iter()
                    .map(|c| (s.name.value.clone(), c.value.clone()))
            })
            .chain(orchestration::all(bp).into_iter().flat_map(|o| {
                let owner = (o.owner.clone(), o.reply.clone());
                o.participants
                    .into_iter()
                    .map(|p| (p.service, p.command))
                    .chain(std::iter::once(owner))
            }))
            .collect(),
        registry: (bp.platform.discovery == crate::blueprint::Discovery::Registry).then(|| {
            view::PlatformServiceView {
                name: "registry".into(),
                port: platform_port("registry"),
            }
        }),
        gateway: view::gateway_view(bp, &services, auth.as_ref()),
        auth,
        config_server: (bp.platform.config == crate::blueprint::ConfigSource::Server).then(|| {
            view::PlatformServiceView {
                name: "config-server".into(),
                port: platform_port("config-server"),
            }
        }),
    }
}

fn platform_port(name: &str) -> u16 {
    crate::blueprint::validate::PLATFORM_PORTS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, p)| *p)
}

/// The platform services: the registry (with `discovery = "registry"`) and the gateway.
fn platform_files(files: &mut Vec<PlannedFile>, system: &view::SystemView) {
    let mut crates = vec!["gateway"];
    if system.registry.is_some() {
        crates.push("registry");
    }
    if system.config_server.is_some() {
        crates.push("config-server");
    }
    if system.auth.is_some() {
        crates.push("auth");
        files.push(template(
            "platform/auth/migrations/0001_auth.sql",
            Ownership::Generated,
            "platform/auth/migrations/0001_auth.sql.tera",
            &serde_json::json!({ "system": SHARED_SYSTEM }),
        ));
    }
    for name in crates {
        let ctx = serde_json::json!({ "system": SHARED_SYSTEM, "name": name });
        files.push(template(
            format!("platform/{name}/Cargo.toml"),
            Ownership::Generated,
            &format!("platform/{name}/Cargo.toml.tera"),
            &ctx,
        ));
        files.push(template(
            format!("platform/{name}/src/main.rs"),
            Ownership::Generated,
            &format!("platform/{name}/main.rs.tera"),
            &ctx,
        ));
        files.push(template(
            format!("config/{name}.toml"),
            Ownership::User,
            &format!("platform/{name}/config.toml.tera"),
            &ctx,
        ));
    }
}

/// The files of a CRUD service: routes, model, and a user-owned logic module per entity.
fn crud_files(
    files: &mut Vec<PlannedFile>,
    dir: &str,
    s: &view::ServiceView,
    ctx: &serde_json::Value,
) {
    files.push(template(
        format!("{dir}/src/main.rs"),
        Ownership::Generated,
        "services/crud/main.rs.tera",
        ctx,
    ));
    files.push(template(
        format!("{dir}/src/api.rs"),
        Ownership::Generated,
        "services/crud/api.rs.tera",
        ctx,
    ));
    files.push(template(
        format!("{dir}/src/model.rs"),
        Ownership::Generated,
        "services/crud/model.rs.tera",
        ctx,
    ));
    files.push(template(
        format!("{dir}/src/logic/mod.rs"),
        Ownership::Generated,
        "services/crud/logic_mod.rs.tera",
        ctx,
    ));
    for e in &s.entities {
        let ectx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "entity": e });
        files.push(template(
            format!("{dir}/src/logic/{}.rs", e.snake),
            Ownership::User,
            "services/crud/logic_entity.rs.tera",
            &ectx,
        ));
    }
}

fn saga_files(
    files: &mut Vec<PlannedFile>,
    dir: &str,
    s: &view::ServiceView,
    ctx: &serde_json::Value,
) {
    files.push(template(
        format!("{dir}/src/sagas/mod.rs"),
        Ownership::Generated,
        "services/sagas/mod.rs.tera",
        ctx,
    ));
    if s.saga_steps {
        files.push(template(
            format!("{dir}/src/steps/mod.rs"),
            Ownership::Generated,
            "services/sagas/steps_mod.rs.tera",
            ctx,
        ));
    }
    for o in &s.orchestrations {
        let octx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "saga": o });
        files.push(template(
            format!("{dir}/src/sagas/{}.rs", o.snake),
            Ownership::Generated,
            "services/sagas/orchestration.rs.tera",
            &octx,
        ));
    }
    for p in &s.participations {
        let pctx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "saga": p });
        files.push(template(
            format!("{dir}/src/sagas/{}.rs", p.snake),
            Ownership::Generated,
            "services/sagas/participant.rs.tera",
            &pctx,
        ));
        files.push(template(
            format!("{dir}/src/steps/{}.rs", p.snake),
            Ownership::User,
            "services/sagas/participant_steps.rs.tera",
            &pctx,
        ));
    }
    for g in &s.sagas {
        let gctx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "saga": g });
        files.push(template(
            format!("{dir}/src/sagas/{}.rs", g.snake),
            Ownership::Generated,
            "services/sagas/saga.rs.tera",
            &gctx,
        ));
        if !g.steps.is_empty() {
            files.push(template(
                format!("{dir}/src/steps/{}.rs", g.snake),
                Ownership::User,
                "services/sagas/steps.rs.tera",
                &gctx,
            ));
        }
    }
}

fn event_sourced_files(
    files: &mut Vec<PlannedFile>,
    dir: &str,
    s: &view::ServiceView,
    ctx: &serde_json::Value,
) {
    for name in ["main.rs", "api.rs", "model.rs"] {
        files.push(template(
            format!("{dir}/src/{name}"),
            Ownership::Generated,
            &format!("services/event_sourced/{name}.tera"),
            ctx,
        ));
    }
    files.push(template(
        format!("{dir}/src/logic/mod.rs"),
        Ownership::Generated,
        "services/event_sourced/logic_mod.rs.tera",
        ctx,
    ));
    for a in &s.aggregates {
        let actx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "aggregate": a });
        files.push(template(
            format!("{dir}/src/logic/{}.rs", a.snake),
            Ownership::User,
            "services/event_sourced/logic_aggregate.rs.tera",
            &actx,
        ));
    }
}

/// One line per declared section that this version of msa-gen does not generate yet.
pub fn not_generated(bp: &Blueprint) -> Vec<String> {
    let mut out = Vec::new();
    let without: Vec<&str> = bp
        .services
        .iter()
        .filter(|s| {
            view::has_events(s)
                && matches!(s.style.value, Style::Crud | Style::Worker)
                && !view::has_messaging(s, bp)
        })
        .map(|s| s.name.value.as_str())
        .collect();
    if !without.is_empty() {
        out.push(format!(
            "not generated yet: event publishing and consuming over {} for {} (needs a CRUD service with a database, and a broker)",
            bp.platform.broker.value.as_str(),
            without.join(", ")
        ));
    }
    for s in &bp.services {
        match s.style.value {
            Style::ReadModel if !view::has_messaging(s, bp) => out.push(format!(
                "not generated yet: read-model service `{}` (needs a database and a broker)",
                s.name.value
            )),
            Style::Worker if view::publishes_without_outbox(s, bp) => out.push(format!(
                "not generated yet: publishing from `{}` (a worker without a database has no outbox; give it `store = \"postgres\"`)",
                s.name.value
            )),
            _ => {}
        }
        if !s.calls.is_empty() && s.style.value != Style::Crud {
            let to: Vec<&str> = s.calls.iter().map(|c| c.service.value.as_str()).collect();
            out.push(format!(
                "not generated yet: synchronous calls from `{}` ({}) to {}",
                s.name.value,
                s.style.value.as_str(),
                to.join(", ")
            ));
        }
    }
    for s in &bp.sagas {
        let why = match s.style {
            crate::blueprint::SagaStyle::Choreography => saga::unsupported(bp, s),
            crate::blueprint::SagaStyle::Orchestration => orchestration::unsupported(bp, s),
        };
        if let Some(why) = why {
            out.push(format!(
                "not generated yet: saga `{}` ({why})",
                s.name.value
            ));
        }
    }
    out
}
