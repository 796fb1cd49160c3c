//! The Rust crates' files: workspace manifest, contracts, platform processes, and each
//! service's and BFF's sources, each from its template, with its ownership.

use crate::blueprint::Style;
use crate::embedded;
use crate::plan::file::{Ownership, PlannedFile, SHARED_SYSTEM, Source, template};
use crate::plan::model::service::ServiceView;
use crate::plan::model::system::SystemView;

/// The platform services: the gateway, the console, the registry (with `discovery =
/// "registry"`), the config server and the auth service.
fn platform_files(files: &mut Vec<PlannedFile>, system: &SystemView) {
    let mut crates = vec!["gateway", "console"];
    if system.registry.is_some() {
        crates.push("registry");
    }
    if system.config_server.is_some() {
        crates.push("config-server");
    }
    if system.auth.is_some() {
        crates.push("auth");
        for migration in ["0001_auth.sql", "0002_auth_users_disabled.sql"] {
            files.push(template(
                format!("platform/auth/migrations/{migration}"),
                Ownership::Generated,
                &format!("platform/auth/migrations/{migration}.tera"),
                &serde_json::json!({ "system": SHARED_SYSTEM }),
            ));
        }
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
fn crud_files(files: &mut Vec<PlannedFile>, dir: &str, s: &ServiceView, ctx: &serde_json::Value) {
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
    files.push(template(
        format!("{dir}/src/logic/state.rs"),
        Ownership::User,
        "services/crud/logic_state.rs.tera",
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

fn saga_files(files: &mut Vec<PlannedFile>, dir: &str, s: &ServiceView, ctx: &serde_json::Value) {
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
    if !s.outcomes.is_empty() {
        files.push(template(
            format!("{dir}/src/outcomes/mod.rs"),
            Ownership::Generated,
            "services/sagas/outcomes_mod.rs.tera",
            ctx,
        ));
    }
    for o in &s.outcomes {
        let octx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "saga": o });
        files.push(template(
            format!("{dir}/src/outcomes/{}.rs", o.snake),
            Ownership::User,
            "services/sagas/outcomes.rs.tera",
            &octx,
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
    s: &ServiceView,
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

/// The workspace's own files: blueprint copy, manifest, README, contracts, the verbatim crates
/// and the platform processes.
pub fn workspace_files(system: &SystemView, blueprint_text: &str) -> Vec<PlannedFile> {
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
            system,
        ),
        template(
            "README.md",
            Ownership::Generated,
            "workspace/README.md.tera",
            system,
        ),
        template(
            ".gitignore",
            Ownership::User,
            "workspace/gitignore.tera",
            system,
        ),
        template(
            "crates/contracts/Cargo.toml",
            Ownership::Generated,
            "crates/contracts/Cargo.toml.tera",
            system,
        ),
        template(
            "crates/contracts/src/upcast.rs",
            Ownership::User,
            "crates/contracts/src/upcast.rs.tera",
            system,
        ),
        template(
            "crates/contracts/src/lib.rs",
            Ownership::Generated,
            "crates/contracts/src/lib.rs.tera",
            system,
        ),
    ];
    for (path, bytes) in embedded::verbatim() {
        let source = match verbatim_package(&path, bytes, &system.name) {
            Some(manifest) => Source::Text(manifest),
            None => Source::Verbatim { bytes },
        };
        files.push(PlannedFile {
            path,
            ownership: Ownership::Generated,
            source,
        });
    }
    platform_files(&mut files, system);
    files
}

/// The manifest of a verbatim crate (`crates/runtime/Cargo.toml`), with its package named for
/// the system (`shop-runtime`): two systems built into one target directory must not share
/// artifacts, and cargo tells path crates apart by name, version and relative path only.
fn verbatim_package(path: &str, bytes: &[u8], system: &str) -> Option<String> {
    let krate = path.strip_prefix("crates/")?.strip_suffix("/Cargo.toml")?;
    let text = std::str::from_utf8(bytes).ok()?;
    let line = format!("name = \"{krate}\"\n");
    text.contains(&line)
        .then(|| text.replacen(&line, &format!("name = \"{system}-{krate}\"\n"), 1))
}

/// The files of one service: manifest, config, its style's sources, sagas, clients, events.
pub fn service_files(files: &mut Vec<PlannedFile>, s: &ServiceView) {
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
    if s.serves_api {
        files.push(template(
            format!("{dir}/src/routes.rs"),
            Ownership::User,
            "services/routes.rs.tera",
            &ctx,
        ));
    }
    if !s.fragments.is_empty() {
        files.push(template(
            format!("{dir}/src/fragments.rs"),
            Ownership::Generated,
            "services/fragments.rs.tera",
            &ctx,
        ));
    }
    for f in &s.fragments {
        let fctx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "fragment": f });
        for ext in ["html", "css"] {
            files.push(template(
                format!("{dir}/fragments/{}.{ext}", f.name),
                Ownership::User,
                &format!("services/fragment.{ext}.tera"),
                &fctx,
            ));
        }
    }
    match s.style {
        Style::Worker => files.push(template(
            format!("{dir}/src/main.rs"),
            Ownership::Generated,
            "services/worker/main.rs.tera",
            &ctx,
        )),
        Style::ReadModel => {
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
                let vctx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "view": v });
                files.push(template(
                    format!("{dir}/src/views/{}.rs", v.snake),
                    Ownership::User,
                    "services/read_model/view_hooks.rs.tera",
                    &vctx,
                ));
            }
        }
        Style::EventSourced => event_sourced_files(files, &dir, s, &ctx),
        Style::Crud => crud_files(files, &dir, s, &ctx),
    }
    if !s.sagas.is_empty() || !s.orchestrations.is_empty() || !s.participations.is_empty() {
        saga_files(files, &dir, s, &ctx);
    }
    if !s.calls.is_empty() {
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
            let hctx = serde_json::json!({ "system": SHARED_SYSTEM, "service": s, "handler": h });
            files.push(template(
                format!("{dir}/src/handlers/{}.rs", h.module),
                Ownership::User,
                "services/events/handler.rs.tera",
                &hctx,
            ));
        }
    }
}

/// The files of every BFF.
pub fn bff_files(files: &mut Vec<PlannedFile>, system: &SystemView) {
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
}
