//! Assembles the system view every template sees: the generated services, events, platform
//! services, gateway and BFFs.

use serde::Serialize;

use super::bff::{self, BffView};
use super::event::{EventView, event_view};
use super::gateway::{AuthView, GatewayView, PlatformServiceView, gateway_view};
use super::messaging::has_messaging;
use super::saga::orchestration::OrchestrationView;
use super::saga::{choreography, orchestration};
use super::service::{ServiceView, service_view};
use super::text;
use super::wire::BrokerIs;
use crate::blueprint::{Blueprint, Broker, Style};

#[derive(Debug, Clone, Serialize)]
pub struct SystemView {
    pub name: String,
    pub snake: String,
    pub version: String,
    /// The version as an image tag: `+` (build metadata), which tags cannot hold, becomes `_`.
    pub image_tag: String,
    /// The blueprint's description as one Markdown line (README), escaped: see
    /// [`text::markdown_line`]. Empty without one.
    pub description_markdown: String,
    pub services: Vec<ServiceView>,
    pub events: Vec<EventView>,
    pub broker: Broker,
    /// The broker as booleans, for files whose text differs per broker.
    pub broker_is: BrokerIs,
    /// `[platform] image-registry` without trailing slashes: image names append `/<image>`.
    pub image_registry: String,
    pub graph: String,
    /// Orchestration sagas: their data, command and reply types live in `contracts`.
    pub orchestrations: Vec<OrchestrationView>,
    /// Choreography sagas' `<Saga>Failed` messages (their participants compensate on them).
    pub failed_messages: Vec<String>,
    /// Backends for frontends.
    pub bffs: Vec<BffView>,
    /// The service the README's "run one service" example starts: the first with a database.
    pub run_example: Option<PlatformServiceView>,
    /// Every (consumer group, event type) served by generated consumers.
    pub topology: Vec<(String, String)>,
    /// The service registry, with `discovery = "registry"`.
    pub registry: Option<PlatformServiceView>,
    pub gateway: GatewayView,
    /// The auth service, when the blueprint has `[auth]`.
    pub auth: Option<AuthView>,
    /// The config server, with `config = "server"`.
    pub config_server: Option<PlatformServiceView>,
    /// With `[auth]`: every process that proves who it is with its own client credentials.
    pub identities: Vec<IdentityView>,
    /// `[platform] tracing = "otlp"`: spans exported over OTLP (the runtime's feature `otlp`).
    pub otlp: bool,
    /// The console, in every system: it receives the spans, on the OTLP port when free.
    pub console: PlatformServiceView,
    /// Every process with who calls it and the events it publishes and consumes: the console's
    /// map of the system.
    pub process_map: Vec<NodeView>,
    /// The folders of the system's own crates, in manifest order: what a plain `cargo build`
    /// builds (the workspace's `default-members`; the end-to-end suite is left to `--workspace`).
    pub system_crates: Vec<String>,
}

/// One process on the console's map.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub name: String,
    /// The processes the blueprint declares as its callers.
    pub callers: Vec<String>,
    pub publishes: Vec<String>,
    pub consumes: Vec<String>,
}

/// One process's service identity: where its secret comes from.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityView {
    /// The process, its client id.
    pub name: String,
    /// The deployment's variable holding the secret (`ORDERS_CLIENT_SECRET`).
    pub secret_var: String,
    /// The auth service's setting for it, as an environment variable (`APP_CLIENT_SECRET_ORDERS`).
    pub auth_env: String,
    /// The key in the Kubernetes Secret (`orders-client-secret`).
    pub secret_key: String,
}

impl IdentityView {
    fn new(name: &str) -> Self {
        let upper = name.replace('-', "_").to_uppercase();
        Self {
            name: name.to_string(),
            secret_var: format!("{upper}_CLIENT_SECRET"),
            auth_env: format!("APP_CLIENT_SECRET_{upper}"),
            secret_key: format!("{name}-client-secret"),
        }
    }
}

/// The system as every template sees it: the generated services, events, platform services,
/// gateway and BFFs of the blueprint.
pub fn system_view(bp: &Blueprint) -> SystemView {
    let failed = choreography::failed_messages(bp);
    let orchestrations = orchestration::all(bp);
    let services: Vec<ServiceView> = bp
        .services
        .iter()
        .filter(|s| match s.style.value {
            Style::Crud | Style::Worker => true,
            Style::ReadModel => has_messaging(s, bp),
            Style::EventSourced => true,
        })
        .map(|s| service_view(s, bp))
        .collect();
    let auth = bp.auth.as_ref().map(|a| AuthView {
        port: platform_port("auth"),
        roles: a.roles.iter().map(|r| r.value.clone()).collect(),
        access_ttl_ms: a.access_token_ttl.millis,
        refresh_ttl_ms: a.refresh_token_ttl.millis,
        redis_sessions: a.sessions == crate::blueprint::Sessions::Redis,
    });
    let mut view = SystemView {
        name: bp.system.name.value.clone(),
        snake: crate::names::to_snake(&bp.system.name.value),
        version: bp.system.version.value.clone(),
        image_tag: bp.system.version.value.replace('+', "_"),
        description_markdown: bp
            .system
            .description
            .as_deref()
            .map(text::markdown_line)
            .unwrap_or_default(),
        events: bp.events.iter().map(|e| event_view(e, bp)).collect(),
        services: services.clone(),
        broker: bp.platform.broker.value,
        broker_is: bp.platform.broker.value.into(),
        image_registry: bp.platform.image_registry.trim_end_matches('/').to_string(),
        graph: crate::graph::mermaid(bp),
        orchestrations: orchestrations.clone(),
        bffs: bp.bffs.iter().map(|b| bff::bff_view(b, bp)).collect(),
        failed_messages: failed.iter().map(|(m, _)| m.clone()).collect(),
        run_example: services
            .iter()
            .find(|s| s.has_db)
            .map(|s| PlatformServiceView {
                name: s.name.clone(),
                port: s.port,
            }),
        topology: bp
            .services
            .iter()
            .filter(|s| has_messaging(s, bp))
            .flat_map(|s| {
                s.consumes
                    .iter()
                    .map(|c| (s.name.value.clone(), c.value.clone()))
            })
            .chain(orchestrations.into_iter().flat_map(|o| {
                let owner = (o.owner.clone(), o.reply.clone());
                o.participants
                    .into_iter()
                    .map(|p| (p.service, p.command))
                    .chain(std::iter::once(owner))
            }))
            .chain(failed.iter().flat_map(|(m, participants)| {
                participants.iter().map(move |p| (p.clone(), m.clone()))
            }))
            .collect(),
        registry: (bp.platform.discovery == crate::blueprint::Discovery::Registry).then(|| {
            PlatformServiceView {
                name: "registry".into(),
                port: platform_port("registry"),
            }
        }),
        gateway: gateway_view(bp, &services, auth.as_ref()),
        auth,
        config_server: (bp.platform.config == crate::blueprint::ConfigSource::Server).then(|| {
            PlatformServiceView {
                name: "config-server".into(),
                port: platform_port("config-server"),
            }
        }),
        identities: Vec::new(),
        otlp: bp.platform.tracing == crate::blueprint::Tracing::Otlp,
        console: PlatformServiceView {
            name: "console".into(),
            port: 0,
        },
        process_map: Vec::new(),
        system_crates: Vec::new(),
    };
    view.console.port = super::gateway::free_port_from(bp, 4318, &[view.gateway.management_port]);
    for i in 0..view.services.len() {
        view.services[i].callers = view.callers(&view.services[i].name);
    }
    view.process_map = view
        .processes()
        .into_iter()
        .map(|name| {
            let events = |list: Option<&Vec<crate::blueprint::Sp<String>>>| {
                list.into_iter()
                    .flatten()
                    .map(|e| e.value.clone())
                    .collect::<Vec<_>>()
            };
            let service = bp.service(&name);
            NodeView {
                callers: view.callers(&name),
                publishes: events(service.map(|s| &s.publishes)),
                consumes: events(service.map(|s| &s.consumes)),
                name,
            }
        })
        .collect();
    view.system_crates = view.crate_dirs();
    if view.auth.is_some() {
        view.identities = view
            .processes()
            .into_iter()
            .filter(|p| view.registry.as_ref().is_none_or(|r| r.name != *p))
            .map(|p| IdentityView::new(&p))
            .collect();
    }
    view
}

impl SystemView {
    /// See [`SystemView::system_crates`].
    fn crate_dirs(&self) -> Vec<String> {
        let platform = ["gateway", "console"]
            .into_iter()
            .chain(self.auth.is_some().then_some("auth"))
            .chain(self.config_server.as_ref().map(|c| c.name.as_str()))
            .chain(self.registry.as_ref().map(|r| r.name.as_str()))
            .map(|p| format!("platform/{p}"));
        ["crates/runtime".to_string(), "crates/contracts".to_string()]
            .into_iter()
            .chain(platform)
            .chain(self.services.iter().map(|s| format!("services/{}", s.name)))
            .chain(self.bffs.iter().map(|b| format!("bffs/{}", b.name)))
            .collect()
    }

    /// Every process of the system, platform first.
    pub fn processes(&self) -> Vec<String> {
        let platform = [&self.registry, &self.config_server]
            .into_iter()
            .flatten()
            .map(|p| p.name.clone())
            .chain(self.auth.is_some().then(|| "auth".to_string()))
            .chain(["gateway".to_string(), self.console.name.clone()]);
        platform
            .chain(self.services.iter().map(|s| s.name.clone()))
            .chain(self.bffs.iter().map(|b| b.name.clone()))
            .collect()
    }

    /// The processes the blueprint declares as callers of process `name`: the gateway for the
    /// routes it serves, BFFs for their pass-through routes and compositions, services for
    /// their `calls`, and saga owners for the steps of their orchestrations.
    pub fn callers(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.gateway.routes.iter().any(|r| r.service == name) {
            out.push("gateway".to_string());
        }
        for b in &self.bffs {
            if b.routes.iter().any(|r| r.service == name)
                || b.called.iter().any(|c| c.service == name)
            {
                out.push(b.name.clone());
            }
        }
        for s in &self.services {
            if s.calls.iter().any(|c| c.service == name) {
                out.push(s.name.clone());
            }
        }
        for o in &self.orchestrations {
            if o.participants.iter().any(|p| p.service == name) {
                out.push(o.owner.clone());
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn platform_port(name: &str) -> u16 {
    crate::blueprint::validate::PLATFORM_PORTS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, p)| *p)
}

#[cfg(test)]
mod tests {
    /// Calls from an event-sourced service, a read model and two workers (with and without a
    /// database), to a CRUD service, an event-sourced one and a read model.
    const CALLERS: &str = r#"
[system]
name = "callers"

[[events]]
name = "CartCreated"
[events.fields]
cart-id = "uuid"
owner = "string"

[[services]]
name = "products"
  [[services.entities]]
  name = "Product"
  expose = { path = "/products" }
  [services.entities.fields]
  name = "string"
  price = "decimal"

[[services]]
name = "carts"
style = "event-sourced"
publishes = ["CartCreated"]
  [[services.aggregates]]
  name = "Cart"
  expose = { path = "/carts" }
  [services.aggregates.commands]
  create = "CartCreated"
  [[services.calls]]
  service = "products"

[[services]]
name = "history"
style = "read-model"
consumes = ["CartCreated"]
  [[services.views]]
  name = "CartSummary"
  key = "cart-id"
  from = ["CartCreated"]
  expose = { path = "/history" }
  [services.views.fields]
  cart-id = "uuid"
  owner = "string"
  [[services.calls]]
  service = "carts"

[[services]]
name = "pinger"
style = "worker"
consumes = ["CartCreated"]
  [[services.calls]]
  service = "products"

[[services]]
name = "mailer"
style = "worker"
store = "postgres"
consumes = ["CartCreated"]
  [[services.calls]]
  service = "history"
"#;

    #[test]
    fn calls_are_generated_from_every_style() {
        crate::blueprint::load(CALLERS).expect("valid");
        let files = crate::generate_in_memory(CALLERS).expect("generates");
        let text = |path: &str| {
            files
                .iter()
                .find(|f| f.path == path)
                .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
                .unwrap_or_else(|| panic!("{path} is generated"))
        };
        for caller in ["carts", "history", "pinger", "mailer"] {
            let main = text(&format!("services/{caller}/src/main.rs"));
            assert!(main.contains("mod clients;"), "{caller}: {main}");
            assert!(
                main.contains("clients::init(&ctx.settings);"),
                "{caller}: {main}"
            );
            text(&format!("services/{caller}/src/clients.rs"));
        }
        // Typed functions for the CRUD callee's entities, an untyped `get` for every callee.
        let carts = text("services/carts/src/clients.rs");
        assert!(carts.contains("pub async fn get_product("), "{carts}");
        let history = text("services/history/src/clients.rs");
        assert!(history.contains("pub mod carts {"), "{history}");
        assert!(history.contains("pub async fn get<T"), "{history}");
        assert!(
            history.contains(r#"carts::get::<serde_json::Value>(&format!("/carts/{id}"), token)"#),
            "{history}"
        );
        // A worker's clients read uuids and decimals.
        let pinger = text("services/pinger/Cargo.toml");
        assert!(
            pinger.contains("uuid.workspace") && pinger.contains("rust_decimal.workspace"),
            "{pinger}"
        );
        assert!(
            !files
                .iter()
                .any(|f| f.path == "services/products/src/clients.rs")
        );
    }
}
