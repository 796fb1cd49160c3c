//! Deployment and delivery files of a workspace: a Dockerfile per binary crate and the
//! `.dockerignore`; with `deploy = ["compose"]` the compose stack, Postgres initialisation and
//! Prometheus configuration; with `deploy = ["kubernetes"]` the kustomize base and overlays
//! (network policies from the declared calls, Istio resources with `mesh = "istio"`, ConfigMaps
//! from `config/` with `config = "kubernetes"`); the observability files; and the CI pipelines
//! (`ci = "github"` or `"gitlab"`).

use super::mesh;
use crate::blueprint::{Blueprint, Broker, ConfigSource, DeployTarget, Mesh};
use crate::plan::file::{Ownership, PlannedFile, SHARED_SYSTEM, template};
use crate::plan::model::system::SystemView;

/// The Kafka of compose files and the dev cluster: the e2e kit's single KRaft node, with its
/// data in the image's volume and a heap that fits the dev pod's 512 Mi limit.
fn kafka_kraft_env(advertised: &str) -> Vec<(&'static str, String)> {
    let mut env = super::e2e::kafka::kraft_env(advertised);
    env.push(("KAFKA_LOG_DIRS", "/var/lib/kafka/data".into()));
    env.push(("KAFKA_HEAP_OPTS", "-Xmx256m -Xms256m".into()));
    env
}

/// A Dockerfile per binary crate (platform, services, BFFs) and the workspace's
/// `.dockerignore`; with `deploy = ["compose", …]`, `deploy/compose.yaml`, the Postgres
/// initialisation and the Prometheus configuration.
pub fn deploy_files(files: &mut Vec<PlannedFile>, system: &SystemView, bp: &Blueprint) {
    let redis = system.auth.as_ref().is_some_and(|a| a.redis_sessions);
    let broker = match system.broker {
        Broker::Nats => Some(("nats", "service_started")),
        Broker::Rabbitmq => Some(("rabbitmq", "service_healthy")),
        Broker::Kafka => Some(("kafka", "service_healthy")),
        Broker::None => None,
    };
    let mut crates: Vec<serde_json::Value> = Vec::new();
    let mut add = |name: &str,
                   dir: String,
                   port: u16,
                   database: Option<String>,
                   messaging: bool,
                   published: bool| {
        let mut depends: Vec<(String, String)> = Vec::new();
        if database.is_some() {
            depends.push(("postgres".into(), "service_healthy".into()));
        }
        if messaging && let Some((b, cond)) = broker {
            depends.push((b.into(), cond.into()));
        }
        if let Some(r) = &system.registry
            && name != r.name
        {
            depends.push((r.name.clone(), "service_healthy".into()));
        }
        if let Some(c) = &system.config_server
            && name != c.name
            && name != "auth"
            && name != system.console.name
            && system.registry.as_ref().is_none_or(|r| r.name != name)
        {
            depends.push((c.name.clone(), "service_healthy".into()));
        }
        // The auth service, the gateway and every BFF (its pass-through and web shell swap
        // session tokens for JWTs) use the central session store.
        let is_bff = bp.bffs.iter().any(|b| b.name.value == name);
        let sessions = redis && (name == "auth" || name == "gateway" || is_bff);
        if sessions {
            depends.push(("redis".into(), "service_healthy".into()));
        }
        // Every process with an identity gets its tokens from the auth service.
        if name != "auth" && system.identities.iter().any(|i| i.name == name) {
            depends.push(("auth".into(), "service_healthy".into()));
        }
        // Everything but the registry, the config server itself and the auth service (the root
        // of trust: it cannot prove who it is before it runs) loads its settings from the
        // config server when there is one.
        let config_url = system.config_server.as_ref().and_then(|c| {
            (name != c.name
                && name != "auth"
                && name != system.console.name
                && system.registry.as_ref().is_none_or(|r| r.name != name))
            .then(|| format!("http://{}:{}", c.name, c.port))
        });
        let open = ["registry", "config-server", "auth", "console"].contains(&name);
        let svc = bp.services.iter().find(|s| s.name.value == name);
        let resources = svc.and_then(|s| s.resources.as_ref());
        let text = |v: Option<&crate::blueprint::Sp<String>>, default: &str| {
            v.map_or_else(|| default.to_string(), |x| x.value.clone())
        };
        crates.push(serde_json::json!({
            "name": name, "dir": dir, "port": port, "database": database,
            // The cargo package (`shop-orders`); its binary is `name`.
            "package": format!("{}-{name}", system.name),
            "sessions": sessions, "published": published, "depends": depends,
            "config_url": config_url, "messaging": messaging,
            "replicas": svc.map_or(1, |s| s.replicas.max(1)),
            // More than one pod at a time: a PodDisruptionBudget keeps one up.
            "disruption_budget": svc.is_some_and(|s| s.replicas > 1 || s.autoscale.is_some()),
            "cpu": text(resources.and_then(|r| r.cpu.as_ref()), "100m"),
            "memory": text(resources.and_then(|r| r.memory.as_ref()), "128Mi"),
            "autoscale": svc.and_then(|s| s.autoscale.as_ref()).map(|a| serde_json::json!({
                "min": a.min.value, "max": a.max.value, "cpu": a.cpu_percent,
            })),
            "open": open,
            // The entry point: reached from outside the system.
            "entry": name == "gateway",
            // The auth service: the first admin's password comes from a secret.
            "admin_password": name == "auth",
            // The config server: serves the config folder.
            "serves_config": system.config_server.as_ref().is_some_and(|c| c.name == name),
            // Registers with the registry (everything but the registry itself).
            "registers": system.registry.as_ref().is_some_and(|r| r.name != name),
            // Where Prometheus scrapes `/metrics`: the gateway's internal listener.
            "metrics_port": if name == "gateway" { system.gateway.management_port } else { port },
            "management": name == "gateway",
            // Spans go to the console; the console exports none (it would receive its own).
            "otlp_endpoint": (system.otlp && name != system.console.name)
                .then(|| format!("http://{}:{}", system.console.name, system.console.port)),
            "console": name == system.console.name,
            "callers": system.callers(name),
            // Its service identity: the secret it proves itself with, by reference.
            "identity": system.identities.iter().find(|i| i.name == name),
            // The auth service provisions every identity, so it gets every secret.
            "identities": if name == "auth" { system.identities.clone() } else { Vec::new() },
            // A YAML anchor name for the process (`config_server`).
            "anchor": name.replace('-', "_"),
            // The host port variable of a published service (`GATEWAY_PORT`).
            "env_port": format!("{}_PORT", name.to_uppercase().replace('-', "_")),
        }));
    };
    if let Some(r) = &system.registry {
        add(
            &r.name,
            format!("platform/{}", r.name),
            r.port,
            None,
            false,
            false,
        );
    }
    if let Some(c) = &system.config_server {
        add(
            &c.name,
            format!("platform/{}", c.name),
            c.port,
            None,
            false,
            false,
        );
    }
    if let Some(a) = &system.auth {
        add(
            "auth",
            "platform/auth".into(),
            a.port,
            Some("auth".into()),
            false,
            false,
        );
    }
    for s in &system.services {
        add(
            &s.name,
            format!("services/{}", s.name),
            s.port,
            s.has_db.then(|| s.database.clone()),
            s.messaging.is_some(),
            false,
        );
    }
    for b in &system.bffs {
        add(
            &b.name,
            format!("bffs/{}", b.name),
            b.port,
            None,
            false,
            true,
        );
    }
    add(
        &system.console.name,
        format!("platform/{}", system.console.name),
        system.console.port,
        None,
        false,
        true,
    );
    add(
        "gateway",
        "platform/gateway".into(),
        system.gateway.port,
        None,
        false,
        true,
    );
    for c in &crates {
        let name = c["name"].as_str().unwrap_or_default();
        let image = format!("{}/{}-{name}", system.image_registry, system.name);
        let ctx = serde_json::json!({ "system": SHARED_SYSTEM, "crate": c, "image": image });
        files.push(template(
            format!("{}/Dockerfile", c["dir"].as_str().unwrap_or_default()),
            Ownership::Generated,
            "deploy/Dockerfile.tera",
            &ctx,
        ));
    }
    files.push(template(
        ".dockerignore",
        Ownership::Generated,
        "deploy/dockerignore.tera",
        &serde_json::json!({ "crates": crates }),
    ));
    let kubernetes = bp
        .platform
        .deploy
        .iter()
        .any(|d| d.value == DeployTarget::Kubernetes);
    let compose = bp
        .platform
        .deploy
        .iter()
        .any(|d| d.value == DeployTarget::Compose);
    if kubernetes {
        kubernetes_files(files, system, bp, &crates);
    }
    if kubernetes || compose {
        let ctx = serde_json::json!({ "system": SHARED_SYSTEM, "crates": crates });
        for (path, name) in [
            (
                "deploy/observability/otel-collector.yaml".to_string(),
                "otel-collector.yaml.tera",
            ),
            (
                "deploy/observability/fluent-bit.yaml".to_string(),
                "fluent-bit.yaml.tera",
            ),
            (
                format!("deploy/observability/grafana/{}-services.json", system.name),
                "dashboard.json.tera",
            ),
        ] {
            files.push(template(
                path,
                Ownership::Generated,
                &format!("deploy/observability/{name}"),
                &ctx,
            ));
        }
    }
    if bp.platform.ci == crate::blueprint::Ci::Github {
        github_workflows(files, system, &crates, kubernetes, compose);
    }
    if bp.platform.ci == crate::blueprint::Ci::Gitlab {
        files.push(template(
            ".gitlab-ci.yml",
            Ownership::Generated,
            "deploy/gitlab/gitlab-ci.yml.tera",
            &serde_json::json!({
                "system": SHARED_SYSTEM, "crates": crates, "kubernetes": kubernetes,
                "environments": environments(system),
            }),
        ));
    }
    if bp
        .platform
        .deploy
        .iter()
        .any(|d| d.value == DeployTarget::Compose)
    {
        let databases: Vec<&str> = crates
            .iter()
            .filter_map(|c| c["database"].as_str())
            .collect();
        let ctx = serde_json::json!({
            "system": SHARED_SYSTEM, "crates": crates, "databases": databases,
            "kafka_image": super::e2e::kafka::KAFKA_IMAGE, "kafka_env": kafka_kraft_env("kafka:9092"),
        });
        for (path, name) in [
            ("deploy/compose.yaml", "deploy/compose.yaml.tera"),
            ("deploy/postgres-init.sql", "deploy/postgres-init.sql.tera"),
            ("deploy/prometheus.yml", "deploy/prometheus.yml.tera"),
        ] {
            files.push(template(path, Ownership::Generated, name, &ctx));
        }
        if !system.identities.is_empty() {
            files.push(template(
                "deploy/secrets.sh",
                Ownership::Generated,
                "deploy/secrets.sh.tera",
                &ctx,
            ));
        }
    }
}

/// Who may call `name` over HTTP (its NetworkPolicy): the gateway when it routes to it, the
/// BFFs that pass through to it or compose it, and the services that call it.
/// `.github/workflows/`: one workflow per process (checks, image, deployments) and, with
/// compose, the whole-system e2e workflow.
fn github_workflows(
    files: &mut Vec<PlannedFile>,
    system: &SystemView,
    crates: &[serde_json::Value],
    kubernetes: bool,
    compose: bool,
) {
    let registry = system.image_registry.as_str();
    let registry_host = registry.split('/').next().unwrap_or(registry);
    for c in crates {
        let name = c["name"].as_str().unwrap_or_default();
        let ctx = serde_json::json!({
            "system": SHARED_SYSTEM, "crate": c, "kubernetes": kubernetes,
            "image": format!("{registry}/{}-{name}", system.name),
            "registry_host": registry_host,
            "environments": environments(system),
        });
        files.push(template(
            format!(".github/workflows/{name}.yml"),
            Ownership::Generated,
            "deploy/github/crate.yml.tera",
            &ctx,
        ));
    }
    if compose {
        files.push(template(
            ".github/workflows/e2e.yml",
            Ownership::Generated,
            "deploy/github/e2e.yml.tera",
            &serde_json::json!({ "system": SHARED_SYSTEM, "crates": crates }),
        ));
    }
}

/// The deployment environments in promotion order: `dev` first (deployed after the image is
/// built), then `prod` (after `dev`, started by hand), each with its Kubernetes namespace.
fn environments(system: &SystemView) -> serde_json::Value {
    serde_json::json!([
        { "name": "dev", "first": true, "manual": false, "namespace": format!("{}-dev", system.name) },
        { "name": "prod", "first": false, "previous": "dev", "manual": true, "namespace": system.name },
    ])
}

/// `deploy/k8s/`: a kustomize base and the `dev` and `prod` overlays; with `mesh = "istio"`
/// the mesh's resources in the base; with `config = "kubernetes"` a ConfigMap per process made
/// from its `config/<name>.toml` (`config/kustomization.yaml`), mounted as its config folder.
fn kubernetes_files(
    files: &mut Vec<PlannedFile>,
    system: &SystemView,
    bp: &Blueprint,
    crates: &[serde_json::Value],
) {
    let istio = bp.platform.mesh.value == Mesh::Istio;
    let config_maps = bp.platform.config == ConfigSource::Kubernetes;
    let redis = system.auth.as_ref().is_some_and(|a| a.redis_sessions);
    let (broker_service, broker_url) = match system.broker {
        Broker::Nats => (Some("nats"), "nats://nats:4222".to_string()),
        Broker::Rabbitmq => (
            Some("rabbitmq"),
            "amqp://guest:guest@rabbitmq:5672/%2f".to_string(),
        ),
        Broker::Kafka => (Some("kafka"), "kafka://kafka:9092".to_string()),
        Broker::None => (None, String::new()),
    };
    let init: Vec<String> = crates
        .iter()
        .filter_map(|c| c["database"].as_str())
        .map(|d| format!("CREATE DATABASE \"{d}\";"))
        .collect();
    let mut infrastructure = vec![serde_json::json!({
        "name": "postgres", "image": "postgres:16-alpine", "port": 5432, "args": [],
        "env": [["POSTGRES_PASSWORD", "postgres-password"]], "init_sql": init, "values": [],
    })];
    match broker_service {
        Some("nats") => infrastructure.push(serde_json::json!({
            "name": "nats", "image": "nats:2", "port": 4222, "args": ["-js"], "env": [], "init_sql": [], "values": [],
        })),
        Some("kafka") => infrastructure.push(serde_json::json!({
            "name": "kafka", "image": super::e2e::kafka::KAFKA_IMAGE, "port": 9092, "args": [], "env": [], "init_sql": [],
            "values": kafka_kraft_env("kafka:9092"),
        })),
        Some(_) => infrastructure.push(serde_json::json!({
            "name": "rabbitmq", "image": "rabbitmq:3", "port": 5672, "args": [], "env": [], "init_sql": [], "values": [],
        })),
        None => {}
    }
    if redis {
        infrastructure.push(serde_json::json!({
            "name": "redis", "image": "redis:7", "port": 6379, "args": [], "env": [], "init_sql": [], "values": [],
        }));
    }
    let ctx = serde_json::json!({
        "system": SHARED_SYSTEM, "crates": crates, "broker_url": broker_url,
        "broker_service": broker_service, "redis": redis, "infrastructure": infrastructure,
        "istio": istio, "config_maps": config_maps,
    });
    if istio {
        let callers: Vec<Vec<String>> = crates
            .iter()
            .map(|c| system.callers(c["name"].as_str().unwrap_or_default()))
            .collect();
        let processes: Vec<mesh::Process<'_>> = crates
            .iter()
            .zip(&callers)
            .map(|(c, callers)| mesh::Process {
                name: c["name"].as_str().unwrap_or_default(),
                port: c["port"]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or_default(),
                open: c["open"].as_bool().unwrap_or(false),
                callers,
            })
            .collect();
        files.push(template(
            "deploy/k8s/base/istio.yaml",
            Ownership::Generated,
            "deploy/k8s/istio.yaml.tera",
            &serde_json::json!({
                "system": SHARED_SYSTEM,
                "workloads": mesh::workloads(system, &processes),
            }),
        ));
    }
    if config_maps {
        files.push(template(
            "config/kustomization.yaml",
            Ownership::Generated,
            "deploy/k8s/config-kustomization.yaml.tera",
            &ctx,
        ));
    }
    for (path, name) in [
        (
            "deploy/k8s/base/kustomization.yaml",
            "base-kustomization.yaml.tera",
        ),
        ("deploy/k8s/base/workloads.yaml", "workloads.yaml.tera"),
        (
            "deploy/k8s/base/network-policies.yaml",
            "network-policies.yaml.tera",
        ),
        ("deploy/k8s/base/ingress.yaml", "ingress.yaml.tera"),
        (
            "deploy/k8s/overlays/dev/kustomization.yaml",
            "dev-kustomization.yaml.tera",
        ),
        (
            "deploy/k8s/overlays/dev/infrastructure.yaml",
            "dev-infrastructure.yaml.tera",
        ),
        (
            "deploy/k8s/overlays/prod/kustomization.yaml",
            "prod-kustomization.yaml.tera",
        ),
    ] {
        files.push(template(
            path,
            Ownership::Generated,
            &format!("deploy/k8s/{name}"),
            &ctx,
        ));
    }
}
