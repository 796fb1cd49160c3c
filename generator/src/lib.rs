//! msa-gen: turns one TOML blueprint of a microservice system into a working Cargo workspace.
//!
//! The pipeline, one module per stage:
//! [`blueprint::parse`] → [`blueprint::validate`] → [`plan`] → [`render`] → [`write`].
//! [`cli`] wires the stages to the commands; [`graph`] and [`schema`] are read-only views of a
//! blueprint and of the format; [`embedded`] holds the `templates/` tree.

pub mod blueprint;
pub mod cargo_template;
pub mod cli;
pub mod dev;
pub mod diagnostics;
pub mod digest;
pub mod embedded;
pub mod fmt_cache;
pub mod graph;
pub mod merge;
pub mod names;
pub mod plan;
pub mod render;
pub mod schema;
pub mod timings;
pub mod verify;
pub mod write;

/// Brings the workspace in `dir` up to date with `text`, its blueprint (what `msa-gen
/// generate` does, without printing): plans with the workspace's migration history, renders,
/// and merges onto the disk. An empty `dir` gets a new workspace.
pub fn regenerate(dir: &std::path::Path, text: &str) -> Result<Vec<write::Change>, String> {
    let loaded = blueprint::load(text).map_err(|d| d.render("blueprint.toml", text))?;
    let history = plan::migrations::History::read(dir)?;
    let plan = plan::plan(&loaded.blueprint, text, history.as_ref());
    let files = render::render(&plan).map_err(|e| e.to_string())?;
    write::apply(dir, &files, text.as_bytes()).map_err(|e| e.to_string())
}

/// Runs parse → validate → plan → render on a blueprint's text, without touching the disk.
pub fn generate_in_memory(text: &str) -> Result<Vec<render::RenderedFile>, String> {
    let loaded = blueprint::load(text).map_err(|d| d.render("blueprint.toml", text))?;
    let plan = plan::plan(&loaded.blueprint, text, None);
    render::render(&plan).map_err(|e| e.to_string())
}
