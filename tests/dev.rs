//! `msa-gen dev` (issue 21, item 3): the minimal system's workspace is built by
//! `msa_gen::dev::build` (what the command runs before it becomes the system's `<system>-dev`
//! binary), the binary is started, its printed gateway answers through to the service, and
//! after SIGTERM no process of the system and no container it started is left.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Processes whose executable is `dir/<name>` for one of `names`.
fn running(dir: &Path, names: &[&str]) -> Vec<String> {
    let wanted: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(exe) = std::fs::read_link(entry.path().join("exe"))
            && wanted.contains(&exe)
        {
            out.push(format!(
                "{} ({})",
                entry.file_name().to_string_lossy(),
                exe.display()
            ));
        }
    }
    out
}

fn containers() -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-q"])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn dev_runs_the_system_and_leaves_nothing_behind() {
    let ws = msa_gen_tests::generated("minimal");
    let options = msa_gen::verify::Options {
        target_dir: Some(msa_gen_tests::target_dir()),
        ..Default::default()
    };
    let binary = msa_gen::dev::build(&ws, &options).expect("the workspace builds");
    let bin_dir = binary.parent().expect("bin dir").to_path_buf();
    let names = ["registry", "config-server", "notes", "gateway"];
    assert!(
        running(&bin_dir, &names).is_empty(),
        "left over from before"
    );
    let before = containers();

    let mut dev = Command::new(&binary)
        .arg(ws.join("tests/e2e"))
        .current_dir(&ws)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start dev");
    let stdout = dev.stdout.take().expect("stdout");
    // A failed assertion must not leave the system running: stop it as the user would.
    struct Stop(u32);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
    let _stop = Stop(dev.id());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut gateway = None;
    let mut prefixed = false;
    let mut seen = Vec::new();
    while Instant::now() < deadline && (gateway.is_none() || !prefixed) {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        if let ["gateway", url] = line.split_whitespace().collect::<Vec<_>>()[..] {
            gateway = Some(url.to_string());
        }
        // Each process's log lines come through, prefixed with it.
        prefixed |= line.trim_start().starts_with("notes-0 |");
        seen.push(line);
    }
    let gateway = gateway.unwrap_or_else(|| panic!("no gateway URL printed:\n{}", seen.join("\n")));
    assert!(
        prefixed,
        "no prefixed log line of notes:\n{}",
        seen.join("\n")
    );
    assert!(
        containers().len() > before.len(),
        "dev started no container"
    );
    assert_eq!(
        running(&bin_dir, &names).len(),
        names.len(),
        "every process runs"
    );

    // Through the gateway to the service.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let code = rt
        .block_on(async { reqwest::get(format!("{gateway}/notes")).await })
        .map(|r| r.status().as_u16())
        .expect("GET through the gateway");
    assert_eq!(code, 200, "GET {gateway}/notes");

    // A crashed process is restarted.
    let notes = running(&bin_dir, &["notes"]);
    let pid = notes[0].split(' ').next().expect("pid").to_string();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut restarted = false;
    while Instant::now() < deadline && !restarted {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            restarted = line.contains("notes-0 exited") && line.contains("restarting");
        }
    }
    assert!(restarted, "no restart announced after notes was killed");
    let back = (0..60).any(|_| {
        std::thread::sleep(Duration::from_millis(500));
        rt.block_on(async { reqwest::get(format!("{gateway}/notes")).await })
            .is_ok_and(|r| r.status().as_u16() == 200)
    });
    assert!(back, "notes did not come back after its restart");

    let status = Command::new("kill")
        .args(["-TERM", &dev.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = dev.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "dev did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(rx);
    let _ = reader.join();
    assert!(exit.success(), "dev ended with {exit}");
    assert_eq!(
        running(&bin_dir, &names),
        Vec::<String>::new(),
        "processes left"
    );
    let after = containers();
    let left: Vec<&String> = after.iter().filter(|c| !before.contains(c)).collect();
    assert!(left.is_empty(), "containers left: {left:?}");
}
