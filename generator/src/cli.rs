//! The `msa-gen` command line: argument parsing (clap derive) and one function per command,
//! each running the pipeline stages it needs. Exit codes: 0 success, 1 invalid blueprint,
//! 2 usage or I/O error, 3 generation left conflict markers (files listed), 4 `verify` failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::blueprint::{self, Loaded};
use crate::write::Action;

/// Generate a complete Rust microservice workspace from one TOML blueprint.
///
/// Write a blueprint (see docs/blueprint-reference.md, or `msa-gen schema` for editor
/// completion), check it, then create a workspace with `new`. Edit the blueprint inside the
/// workspace and run `generate` to bring the code up to date: generated files (they start with
/// an `@generated` header) are rewritten, files that hold your code are never touched.
#[derive(Debug, Parser)]
#[command(name = "msa-gen", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a new workspace from a blueprint.
    ///
    /// Writes every file of the system into DIR (default: a folder named after the system) and
    /// copies the blueprint there as `blueprint.toml`. Refuses a DIR that exists and is not empty.
    New {
        /// The blueprint file.
        blueprint: PathBuf,
        /// Where to write the workspace.
        #[arg(long, short, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Regenerate a workspace from the `blueprint.toml` inside it.
    ///
    /// Each generated file is merged three ways: the version written last time (kept in
    /// `.msa-gen/`), the file on disk, and the new rendering. Your edits inside generated files
    /// are kept where they do not overlap the generator's changes; overlapping ones become
    /// conflict markers and the command exits with 3, listing the files. Your own files are never
    /// rewritten: when their scaffold changes, the new version is put in `.msa-gen/proposed/`.
    /// Generated files the blueprint no longer asks for are deleted unless you edited them.
    Generate {
        /// The workspace (default: the current directory).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Show what would change, with diffs, and write nothing (same as `plan --diff`).
        #[arg(long)]
        dry_run: bool,
    },
    /// Write the `cargo generate` template (from the example blueprints) into DIR.
    ///
    /// The template holds a blueprint with placeholders (example, broker, discovery, sessions)
    /// and a post hook that runs `msa-gen generate .`; run `cargo generate --path DIR
    /// --allow-commands` with msa-gen on PATH.
    Template {
        /// Where to write it (the repository keeps it in templates/cargo-generate).
        dir: PathBuf,
        /// The folder with shop.toml and minimal.toml.
        #[arg(long, default_value = "blueprints")]
        blueprints: PathBuf,
    },
    /// Validate a blueprint and report every problem, with file, line and column.
    Check {
        /// The blueprint file.
        blueprint: PathBuf,
    },
    /// Show what `generate` would create, update or delete, without writing anything.
    Plan {
        /// The workspace (default: the current directory).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Also print a unified diff of every file that would change.
        #[arg(long)]
        diff: bool,
    },
    /// Print a Mermaid diagram of services, gateway, BFFs, broker and events.
    Graph {
        /// The blueprint file.
        blueprint: PathBuf,
    },
    /// Print the JSON Schema of the blueprint format (for editor completion).
    Schema {
        /// Print every key as Markdown tables instead (docs/blueprint-keys.md).
        #[arg(long)]
        markdown: bool,
    },
    /// Run the whole system locally: build the workspace, start its databases and broker in
    /// containers (images from MSA_IMAGE_* env vars, official images by default) and every
    /// process, print the gateway, API docs and BFF URLs, show every log line prefixed with its
    /// process, and restart a process that exits. Ctrl-C or SIGTERM stops everything and
    /// removes the containers. Needs Docker.
    Dev {
        /// The workspace (default: the current directory).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Prove a workspace works: build it and run its generated end-to-end suite.
    ///
    /// Builds every crate, then runs `tests/e2e` (ignored by a plain `cargo test`): the whole
    /// system on Docker (databases, broker, Redis as containers; image names from MSA_IMAGE_*
    /// env vars, official images by default) and every process of the workspace, checked
    /// against what the blueprint declares. Shows progress and a summary; exits with 4 when a
    /// check failed. Logs of every process: target/e2e-logs/<system>/.
    Verify {
        /// The workspace (default: the current directory).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Also build a release and every image (the Dockerfiles' `prebuilt` stage; base image
        /// from MSA_IMAGE_RUNTIME when set), tagged `<system>-<binary>:verify`.
        #[arg(long)]
        images: bool,
    },
}

/// Why a command failed, mapped to the exit code.
#[derive(Debug)]
enum Failure {
    /// The blueprint is invalid; diagnostics were printed. Exit 1.
    Invalid,
    /// Usage or I/O problem. Exit 2.
    Usage(String),
    /// Generation wrote conflict markers; the files were listed. Exit 3.
    Conflicts,
    /// `verify` found a failing check (or the suite did not run). Exit 4.
    Unverified,
}

type Outcome = Result<(), Failure>;

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Cmd::New { blueprint, out } => cmd_new(&blueprint, out),
        Cmd::Template { dir, blueprints } => cmd_template(&dir, &blueprints),
        Cmd::Generate { dir, dry_run } => {
            cmd_generate(&dir.unwrap_or_else(|| PathBuf::from(".")), dry_run)
        }
        Cmd::Check { blueprint } => load_file(&blueprint).map(|l| {
            println!(
                "{}: valid ({} services, {} events)",
                blueprint.display(),
                l.blueprint.services.len(),
                l.blueprint.events.len()
            );
        }),
        Cmd::Plan { dir, diff } => cmd_plan(&dir.unwrap_or_else(|| PathBuf::from(".")), diff),
        Cmd::Graph { blueprint } => {
            load_file(&blueprint).map(|l| print!("{}", crate::graph::mermaid(&l.blueprint)))
        }
        Cmd::Dev { dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let error = crate::dev::run(&dir, &crate::verify::Options::default());
            Err(Failure::Usage(error.to_string()))
        }
        Cmd::Verify { dir, images } => {
            cmd_verify(&dir.unwrap_or_else(|| PathBuf::from(".")), images)
        }
        Cmd::Schema { markdown } => {
            if markdown {
                print!("{}", crate::schema::markdown());
            } else {
                print!("{}", crate::schema::json());
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invalid) => ExitCode::from(1),
        Err(Failure::Conflicts) => ExitCode::from(3),
        Err(Failure::Unverified) => ExitCode::from(4),
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

/// Reads, parses and validates; prints diagnostics (warnings too) to stderr.
fn load_file(path: &Path) -> Result<Loaded, Failure> {
    let text = read(path)?;
    load_text(path, &text)
}

fn load_text(path: &Path, text: &str) -> Result<Loaded, Failure> {
    let name = path.display().to_string();
    match blueprint::load(text) {
        Ok(l) => {
            if !l.warnings.is_empty() {
                eprint!("{}", l.warnings.render(&name, text));
            }
            Ok(l)
        }
        Err(d) => {
            eprint!("{}", d.render(&name, text));
            Err(Failure::Invalid)
        }
    }
}

/// The workspace's migration history, `None` for a new workspace (or one made before it).
fn history(dir: Option<&Path>) -> Result<Option<crate::plan::migrations::History>, Failure> {
    match dir {
        Some(d) => crate::plan::migrations::History::read(d).map_err(Failure::Usage),
        None => Ok(None),
    }
}

/// Plans and renders; `dir` is the workspace being updated (`None` for a new one). Returns the
/// files and the warnings to print.
fn render_all(
    l: &Loaded,
    text: &str,
    dir: Option<&Path>,
) -> Result<(Vec<crate::render::RenderedFile>, Vec<String>), Failure> {
    let history = history(dir)?;
    let started = std::time::Instant::now();
    let plan = crate::plan::plan(&l.blueprint, text, history.as_ref());
    crate::timings::phase("planned", started);
    let files =
        crate::render::render(&plan).map_err(|e| Failure::Usage(format!("internal error: {e}")))?;
    let lines = plan
        .warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    Ok((files, lines))
}

fn cmd_new(bp_path: &Path, out: Option<PathBuf>) -> Outcome {
    crate::render::warm_up();
    let text = read(bp_path)?;
    let loaded = load_text(bp_path, &text)?;
    let dir = out.unwrap_or_else(|| PathBuf::from(&loaded.blueprint.system.name.value));
    if let Ok(mut entries) = std::fs::read_dir(&dir)
        && entries.next().is_some()
    {
        return Err(Failure::Usage(format!(
            "{} exists and is not empty; use `msa-gen generate {}` to update a workspace",
            dir.display(),
            dir.display()
        )));
    }
    let started = std::time::Instant::now();
    let (files, warnings) = render_all(&loaded, &text, None)?;
    let written = std::time::Instant::now();
    let changes = crate::write::apply(&dir, &files, text.as_bytes())
        .map_err(|e| Failure::Usage(e.to_string()))?;
    crate::timings::phase("written", written);
    for line in &warnings {
        println!("{line}");
    }
    println!(
        "created {} with {} files in {} ms",
        dir.display(),
        changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .count(),
        started.elapsed().as_millis()
    );
    Ok(())
}

fn cmd_template(dir: &Path, blueprints: &Path) -> Outcome {
    let shop = read(&blueprints.join("shop.toml"))?;
    let minimal = read(&blueprints.join("minimal.toml"))?;
    std::fs::create_dir_all(dir).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
    for (name, content) in crate::cargo_template::files(&shop, &minimal) {
        let path = dir.join(name);
        std::fs::write(&path, content)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    }
    println!("wrote the cargo-generate template to {}", dir.display());
    Ok(())
}

fn workspace_blueprint(dir: &Path) -> Result<(PathBuf, String), Failure> {
    let path = dir.join("blueprint.toml");
    if !path.exists() {
        return Err(Failure::Usage(format!(
            "{} has no blueprint.toml; is it a workspace made by `msa-gen new`?",
            dir.display()
        )));
    }
    let text = read(&path)?;
    Ok((path, text))
}

fn cmd_generate(dir: &Path, dry_run: bool) -> Outcome {
    if dry_run {
        return cmd_plan(dir, true);
    }
    crate::render::warm_up();
    let (path, text) = workspace_blueprint(dir)?;
    let loaded = load_text(&path, &text)?;
    let (files, warnings) = render_all(&loaded, &text, Some(dir))?;
    let written = std::time::Instant::now();
    let changes = crate::write::apply(dir, &files, text.as_bytes())
        .map_err(|e| Failure::Usage(e.to_string()))?;
    crate::timings::phase("written", written);
    for line in &warnings {
        println!("{line}");
    }
    for c in changes.iter().filter(|c| c.action.is_change()) {
        println!("{:>12} {}", c.action.label(), c.path);
    }
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    println!(
        "generated: {} created, {} updated, {} merged, {} deleted, {} unchanged; kept {} of your files and {} of your edits",
        count(Action::Create),
        count(Action::Update),
        count(Action::Merge),
        count(Action::Delete),
        count(Action::Unchanged),
        count(Action::KeepUser) + count(Action::Propose),
        count(Action::KeepEdit)
    );
    report_attention(&changes)
}

/// Prints what needs the user: proposals, orphans and conflicts. Conflicts fail the command.
fn report_attention(changes: &[crate::write::Change]) -> Outcome {
    for c in changes.iter().filter(|c| c.action == Action::Propose) {
        println!(
            "note: {} is yours and was kept; the generator's new version is in {}/{}",
            c.path,
            crate::write::PROPOSED,
            c.path
        );
    }
    for c in changes.iter().filter(|c| c.action == Action::KeepOrphan) {
        println!(
            "note: {} is no longer generated but holds your changes; it was kept",
            c.path
        );
    }
    let conflicted: Vec<&crate::write::Change> = changes
        .iter()
        .filter(|c| c.action == Action::Conflict)
        .collect();
    if conflicted.is_empty() {
        return Ok(());
    }
    eprintln!(
        "{} file(s) have conflicts between your edits and the generator's changes:",
        conflicted.len()
    );
    for c in &conflicted {
        eprintln!(
            "  {} ({} conflict(s); look for <<<<<<< markers)",
            c.path, c.conflicts
        );
    }
    Err(Failure::Conflicts)
}

fn cmd_plan(dir: &Path, diff: bool) -> Outcome {
    let (path, text) = workspace_blueprint(dir)?;
    let loaded = load_text(&path, &text)?;
    let (files, notes) = render_all(&loaded, &text, Some(dir))?;
    for w in notes.iter().filter(|l| l.starts_with("warning:")) {
        println!("{w}");
    }
    let changes = crate::write::changes(dir, &files).map_err(|e| Failure::Usage(e.to_string()))?;
    let mut any = false;
    for c in changes.iter().filter(|c| c.action.is_change()) {
        any = true;
        println!("{:>12} {}", c.action.label(), c.path);
        if diff {
            let old = c
                .old
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let new = match c.action {
                Action::Delete => Default::default(),
                _ => c
                    .new
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default(),
            };
            let target = if c.action == Action::Propose {
                format!("{}/{}", crate::write::PROPOSED, c.path)
            } else {
                c.path.clone()
            };
            let d = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
            print!(
                "{}",
                d.unified_diff()
                    .context_radius(3)
                    .header(&format!("a/{}", c.path), &format!("b/{target}"))
            );
        }
    }
    if !any {
        println!("up to date: generate would change nothing");
    }
    Ok(())
}

fn cmd_verify(dir: &Path, images: bool) -> Outcome {
    let options = crate::verify::Options {
        images,
        ..Default::default()
    };
    let summary =
        crate::verify::verify_with(dir, &options).map_err(|e| Failure::Usage(e.to_string()))?;
    crate::verify::print(&summary);
    if summary.ok() {
        Ok(())
    } else {
        Err(Failure::Unverified)
    }
}
