//! `msa-gen dev`: the whole system running locally, by hand. The same boot as the suite
//! ([`System::boot_dev`]: containers, then every process in dependency order), then it prints
//! where to go, prefixes every process's log line with its name on the console, restarts a
//! process that exits (backing off), and on Ctrl-C or SIGTERM stops every process and removes
//! every container.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::boot::{ADMIN_PASSWORD, System};
use crate::manifest::{Kind, Manifest};

/// Prints a line to the console; a closed console (`| head`) is no reason to panic.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Runs the system of the suite folder `suite` (`tests/e2e`) until Ctrl-C or SIGTERM.
pub async fn run(suite: &Path) -> Result<(), String> {
    let path = suite.join("system.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let workspace = suite.join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    let logs = workspace.join("target/dev-logs").join(&manifest.system);
    let started = Instant::now();
    say(&format!(
        "dev: starting {} ({} processes); logs in {}",
        manifest.system,
        manifest.processes.len(),
        logs.display()
    ));
    let mut system = System::boot_dev(manifest, &workspace, logs.clone()).await?;
    say(&format!(
        "dev: ready in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    for line in banner(&system) {
        say(&line);
    }
    let mut tail = Tail::default();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut restarts: BTreeMap<String, (u32, Instant)> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                tail.print_new(&logs);
                supervise(&mut system, &mut restarts);
            }
        }
    }
    tail.print_new(&logs);
    say("dev: stopping every process and removing the containers");
    drop(system);
    say("dev: stopped");
    Ok(())
}

/// Where to go: the gateway, its API docs, each BFF, the console, and how to sign in.
fn banner(system: &System) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(g) = system.gateway() {
        out.push(format!("  gateway   {g}"));
        out.push(format!("  API docs  {g}/docs"));
    }
    for p in &system.manifest.processes {
        match (p.kind, system.url(&p.name)) {
            (Kind::Bff, Ok(url)) => out.push(format!("  {:<9} {url}", p.name)),
            (Kind::Registry, Ok(url)) => out.push(format!("  registry  {url}/registry/instances")),
            (Kind::Console, Ok(url)) => out.push(format!("  console   {url}")),
            _ => {}
        }
    }
    if !system.manifest.roles.is_empty() {
        out.push(format!("  sign in   admin / {ADMIN_PASSWORD}"));
    }
    out.push("  Ctrl-C stops everything".into());
    out
}

/// Restarts every instance that exited: at once the first time, then waiting longer after
/// each restart of the same one (1 s doubling to 30 s); a minute of good running forgets it.
fn supervise(system: &mut System, restarts: &mut BTreeMap<String, (u32, Instant)>) {
    for instance in system.instances.values_mut().flatten() {
        let Some(status) = instance.exit_status() else {
            continue;
        };
        let label = instance.launch.label.clone();
        let (count, last) = restarts
            .get(&label)
            .copied()
            .unwrap_or((0, Instant::now() - Duration::from_secs(3600)));
        let count = if last.elapsed() > Duration::from_secs(60) {
            0
        } else {
            count
        };
        let wait = backoff(count);
        if last.elapsed() < wait {
            continue;
        }
        say(&format!(
            "dev: {label} exited ({status}); restarting (attempt {})",
            count + 1
        ));
        if let Err(e) = instance.restart() {
            say(&format!("dev: {label} did not restart: {e}"));
        }
        restarts.insert(label, (count + 1, Instant::now()));
    }
}

/// The pause before restarting an instance that already restarted `count` times lately.
fn backoff(count: u32) -> Duration {
    match count {
        0 => Duration::ZERO,
        n => Duration::from_secs(1u64 << (n - 1).min(5)).min(Duration::from_secs(30)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off() {
        let waits: Vec<u64> = (0..8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [0, 1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn log_lines_are_printed_once_and_only_when_whole() {
        let dir = std::env::temp_dir().join(format!("e2e-kit-tail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("orders-0.log");
        std::fs::write(&log, "one\ntw").unwrap();
        let mut tail = Tail::default();
        tail.print_new(&dir);
        assert_eq!(tail.read[&log], 4, "the partial line waits");
        std::fs::write(&log, "one\ntwo\n").unwrap();
        tail.print_new(&dir);
        assert_eq!(tail.read[&log], 8);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The log files of the processes, printed as they grow, each line prefixed with its process.
#[derive(Default)]
struct Tail {
    read: BTreeMap<PathBuf, u64>,
}

impl Tail {
    fn print_new(&mut self, logs: &Path) {
        let Ok(entries) = std::fs::read_dir(logs) else {
            return;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let label = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let offset = self.read.entry(file.clone()).or_insert(0);
            let Ok(mut f) = std::fs::File::open(&file) else {
                continue;
            };
            let mut text = String::new();
            if f.seek(SeekFrom::Start(*offset)).is_err() || f.read_to_string(&mut text).is_err() {
                continue;
            }
            // Only whole lines; the rest waits for its end.
            let Some(end) = text.rfind('\n') else {
                continue;
            };
            for line in text[..end].lines() {
                say(&format!("{label:>14} | {line}"));
            }
            *offset += end as u64 + 1;
        }
    }
}
