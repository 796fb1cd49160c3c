//! Stage 3, plan: a validated blueprint → the complete list of files of the workspace, each with
//! its path, its ownership and how to produce its bytes. No I/O happens here; the plan is a
//! value, so `msa-gen plan` can show it and tests can inspect it.
//!
//! Ownership decides what regeneration may do: a [`Ownership::Generated`] file is rewritten
//! from the blueprint every time; a [`Ownership::User`] file is written once and then belongs
//! to the user. The blueprint copy is [`Ownership::Input`]: written by `new`, read by `generate`.

pub mod emit;
pub mod file;
pub mod model;

pub use emit::{code, deploy, e2e, mesh, migrations};
pub use file::{Ownership, PlannedFile, SHARED_SYSTEM, Source};
pub use model::system::system_view;

use crate::blueprint::Blueprint;

/// Every file of a workspace, sorted by path, and what the user should know about them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub files: Vec<PlannedFile>,
    /// The system view, serialized once: a template context whose `system` is
    /// [`SHARED_SYSTEM`] sees this value there (contexts stay small however big the system).
    pub system: serde_json::Value,
    /// Things the user should know about this generation (columns a new migration drops).
    pub warnings: Vec<String>,
}

/// Every file of the workspace for `bp`: the model is built once (`system_view`), then each
/// emitter adds its files. `blueprint_text` is copied into the workspace as `blueprint.toml`;
/// `history` is the workspace's migration history (`.msa-gen/migrations.json`), `None` for a
/// new workspace.
pub fn plan(bp: &Blueprint, blueprint_text: &str, history: Option<&migrations::History>) -> Plan {
    let system = system_view(bp);
    let mut files = code::workspace_files(&system, blueprint_text);
    let mut new_history = migrations::History::default();
    let mut warnings = Vec::new();
    for s in &system.services {
        code::service_files(&mut files, s);
        if s.has_db {
            let previous = history.and_then(|h| h.services.get(&s.name));
            let (recorded, w) = migrations::plan_service(s, previous);
            warnings.extend(w);
            for m in &recorded.migrations {
                files.push(PlannedFile {
                    path: format!("services/{}/migrations/{}", s.name, m.file),
                    ownership: Ownership::Generated,
                    source: Source::Text(m.sql.clone()),
                });
            }
            new_history.services.insert(s.name.clone(), recorded);
        }
    }
    code::bff_files(&mut files, &system);
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
        warnings,
    }
}
