//! The end-to-end kit of msa-gen workspaces: boots a whole generated system on real
//! containers and real processes and checks, for what its blueprint declares, that it works.
//!
//! This crate is the same in every workspace (msa-gen copies it verbatim); what differs is
//! `tests/e2e/system.toml`, the [`manifest::Manifest`] the generator derives from the
//! blueprint. [`run`] boots the system ([`boot`]), runs every check ([`checks`]) whether or not
//! an earlier one failed, prints one line per check (`e2e check <name> ... ok|FAILED`, which
//! `msa-gen verify` follows) and a summary, keeps every process log, saves the containers' logs
//! when something failed, and fails the test then.
//!
//! | module | owns |
//! |---|---|
//! | [`manifest`] | the system description (shared with the generator) |
//! | [`access`] | who signs in for what: writer, reader, the refusals to expect (shared with the generator) |
//! | [`infra`] | Postgres, broker and Redis containers; images from env vars |
//! | [`kafka`] | the official Kafka image as one KRaft node (shared with the generator) |
//! | [`mail`] | an SMTP sink the mailing workers send to |
//! | [`process`] | one instance of a workspace binary (or any command): start, log file, readiness, signals, kill |
//! | [`boot`] | the system in dependency order, users per role |
//! | [`checks`] | every check |
//! | [`dev`] | `msa-gen dev`: the system booted for use by hand, logs on the console, restarts, clean stop |

pub mod access;
pub mod boot;
pub mod checks;
pub mod dev;
pub mod infra;
pub mod kafka;
pub mod mail;
pub mod manifest;
pub mod process;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use boot::System;
pub use manifest::Manifest;

/// What happened to each check.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<(String, String)>,
}

impl Report {
    fn record(&mut self, name: &str, started: Instant, outcome: checks::Outcome) {
        let ms = started.elapsed().as_millis();
        match outcome {
            Ok(()) => {
                println!("e2e check {name} ... ok ({ms} ms)");
                self.passed.push(name.to_string());
            }
            Err(e) => {
                println!("e2e check {name} ... FAILED ({ms} ms): {e}");
                self.failed.push((name.to_string(), e));
            }
        }
    }

    fn skip(&mut self, name: &str, why: &str) {
        println!("e2e check {name} ... skipped: {why}");
        self.skipped.push((name.to_string(), why.to_string()));
    }
}

/// Runs one check and records it.
macro_rules! check {
    ($report:expr, $name:expr, $body:expr) => {{
        let started = Instant::now();
        let outcome = $body.await;
        $report.record(&$name, started, outcome);
    }};
}

/// Where logs go: `E2E_LOGS_DIR`, else `<workspace>/target/e2e-logs/<system>`.
pub fn logs_dir(workspace: &Path, system: &str) -> PathBuf {
    std::env::var_os("E2E_LOGS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target").join("e2e-logs"))
        .join(system)
}

/// Boots the system described by `<suite>/system.toml` (the workspace is `<suite>/../..`) and
/// runs every check; panics with the failures after saving the logs.
pub async fn run(suite: &Path) {
    let path = suite.join("system.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let manifest: Manifest = match toml::from_str(&text) {
        Ok(m) => m,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let workspace = suite.join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    let workspace = workspace.as_path();
    let logs = logs_dir(workspace, &manifest.system);
    let report = match System::boot(manifest, workspace, logs.clone()).await {
        Ok(mut system) => {
            let report = run_checks(&mut system).await;
            if !report.failed.is_empty() {
                system.save_container_logs().await;
            }
            report
        }
        Err(e) => {
            println!("e2e boot ... FAILED: {e}");
            Report {
                failed: vec![("boot".into(), e)],
                ..Report::default()
            }
        }
    };
    println!(
        "e2e summary: {} passed, {} failed, {} skipped; logs in {}",
        report.passed.len(),
        report.failed.len(),
        report.skipped.len(),
        logs.display()
    );
    if !report.failed.is_empty() {
        let list: Vec<String> = report
            .failed
            .iter()
            .map(|(n, e)| format!("  {n}: {e}"))
            .collect();
        panic!(
            "{} checks failed (logs in {}):\n{}",
            report.failed.len(),
            logs.display(),
            list.join("\n")
        );
    }
}

/// Every check of the manifest, in an order where each finds what it needs.
pub async fn run_checks(sys: &mut System) -> Report {
    let mut report = Report::default();
    let mut created = checks::Created::new();
    let m = sys.manifest.clone();
    check!(
        report,
        "health and registration",
        checks::healthy_and_registered(sys)
    );
    for r in &m.routes {
        let via = r.via.as_deref().unwrap_or("gateway");
        check!(
            report,
            format!("route GET {} via {via}", r.path),
            checks::route(sys, r)
        );
    }
    for e in &m.entities {
        check!(report, format!("crud {}", e.name), checks::crud(sys, e));
    }
    for a in &m.aggregates {
        check!(
            report,
            format!("aggregate {}", a.name),
            checks::aggregate(sys, a)
        );
    }
    for e in &m.events {
        check!(
            report,
            format!("event {} reaches {}", e.event, e.consumers.join(", ")),
            checks::event(sys, e)
        );
    }
    for v in &m.views {
        check!(report, format!("view {}", v.name), checks::view(sys, v));
    }
    for s in &m.sagas {
        check!(
            report,
            if s.mailed_by.is_empty() {
                format!("saga {} succeeds", s.name)
            } else {
                format!(
                    "saga {} succeeds and {} mails",
                    s.name,
                    s.mailed_by.join(", ")
                )
            },
            checks::saga_success(sys, s, &mut created)
        );
        let what = if s.fail_step.is_some() {
            "compensates"
        } else {
            "fails"
        };
        if s.fail_step.is_some() || s.setups.iter().any(|x| x.refusing.is_some()) {
            check!(
                report,
                format!("saga {} {what}", s.name),
                checks::saga_failure(sys, s)
            );
        } else {
            report.skip(
                &format!("saga {} fails", s.name),
                "no step can be made to refuse",
            );
        }
    }
    for c in &m.compositions {
        check!(
            report,
            format!("composition {} {}", c.bff, c.path),
            checks::composition(sys, c, &created)
        );
    }
    // Faults last: they disturb the system.
    for p in m
        .processes
        .iter()
        .filter(|p| p.replicas > 1 && p.kind == manifest::Kind::Service)
    {
        let name = format!("fault: one {} instance killed", p.name);
        match m
            .routes
            .iter()
            .find(|r| r.service == p.name && r.via.is_none())
        {
            Some(r) if m.registry => {
                check!(
                    report,
                    name,
                    checks::replica_killed(sys, &p.name, &r.path, &r.read)
                );
            }
            Some(_) => report.skip(
                &name,
                "no registry: the platform's service balances replicas",
            ),
            None => report.skip(&name, "no route to probe"),
        }
    }
    match m.events.iter().find(|e| !e.consumers.is_empty()) {
        Some(e) if sys.broker.is_some() => {
            check!(
                report,
                "fault: broker restarted",
                checks::broker_restarted(sys, e)
            );
        }
        _ => report.skip("fault: broker restarted", "no events"),
    }
    if sys.postgres.is_some() {
        check!(
            report,
            "fault: database restarted",
            checks::database_restarted(sys)
        );
    }
    report
}
