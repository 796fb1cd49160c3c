//! Assembles the system view every template sees: the generated services, events, platform
//! services, gateway and BFFs, and the lines of what this blueprint leaves ungenerated.

use serde::Serialize;

use super::bff::{self, BffView};
use super::event::{EventView, event_view};
use super::gateway::{AuthView, GatewayView, PlatformServiceView, gateway_view};
use super::messaging::{has_events, has_messaging, publishes_without_outbox};
use super::saga::orchestration::OrchestrationView;
use super::saga::{choreography, orchestration};
use super::service::{ServiceView, service_view};
use super::wire::BrokerIs;
use crate::blueprint::{Blueprint, Broker, Style};

#[derive(Debug, Clone, Serialize)]
pub struct SystemView {
    pub name: String,
    pub snake: String,
    pub version: String,
    pub description: String,
    pub services: Vec<ServiceView>,
    pub events: Vec<EventView>,
    pub broker: Broker,
    /// The broker as booleans, for files whose text differs per broker.
    pub broker_is: BrokerIs,
    pub image_registry: String,
    pub graph: String,
    /// Orchestration sagas: their data, command and reply types live in `contracts`.
    pub orchestrations: Vec<OrchestrationView>,
    /// Backends for frontends.
    pub bffs: Vec<BffView>,
    pub not_generated: Vec<String>,
    /// The same lines without their `not generated yet: ` prefix (the README lists them).
    pub not_generated_parts: Vec<String>,
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
}

/// The system as every template sees it: the generated services, events, platform services,
/// gateway and BFFs of the blueprint.
pub fn system_view(bp: &Blueprint) -> SystemView {
    let not_generated = not_generated(bp);
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
    SystemView {
        name: bp.system.name.value.clone(),
        snake: crate::names::to_snake(&bp.system.name.value),
        version: bp.system.version.value.clone(),
        description: bp.system.description.clone().unwrap_or_default(),
        events: bp.events.iter().map(|e| event_view(e, bp)).collect(),
        services: services.clone(),
        broker: bp.platform.broker.value,
        broker_is: bp.platform.broker.value.into(),
        image_registry: bp.platform.image_registry.clone(),
        graph: crate::graph::mermaid(bp),
        orchestrations: orchestration::all(bp),
        bffs: bp.bffs.iter().map(|b| bff::bff_view(b, bp)).collect(),
        not_generated_parts: not_generated
            .iter()
            .map(|l| l.trim_start_matches("not generated yet: ").to_string())
            .collect(),
        not_generated,
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
            .chain(orchestration::all(bp).into_iter().flat_map(|o| {
                let owner = (o.owner.clone(), o.reply.clone());
                o.participants
                    .into_iter()
                    .map(|p| (p.service, p.command))
                    .chain(std::iter::once(owner))
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
    }
}

fn platform_port(name: &str) -> u16 {
    crate::blueprint::validate::PLATFORM_PORTS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, p)| *p)
}

/// One line per declared section that this version of msa-gen does not generate yet.
pub fn not_generated(bp: &Blueprint) -> Vec<String> {
    let mut out = Vec::new();
    let without: Vec<&str> = bp
        .services
        .iter()
        .filter(|s| {
            has_events(s)
                && matches!(s.style.value, Style::Crud | Style::Worker)
                && !has_messaging(s, bp)
        })
        .map(|s| s.name.value.as_str())
        .collect();
    if !without.is_empty() {
        out.push(format!(
            "not generated yet: event publishing and consuming over {} for {} (needs a CRUD service with a database, and a broker)",
            bp.platform.broker.value.as_str(),
            without.join(", ")
        ));
    }
    for s in &bp.services {
        match s.style.value {
            Style::ReadModel if !has_messaging(s, bp) => out.push(format!(
                "not generated yet: read-model service `{}` (needs a database and a broker)",
                s.name.value
            )),
            Style::Worker if publishes_without_outbox(s, bp) => out.push(format!(
                "not generated yet: publishing from `{}` (a worker without a database has no outbox; give it `store = \"postgres\"`)",
                s.name.value
            )),
            _ => {}
        }
        if !s.calls.is_empty() && s.style.value != Style::Crud {
            let to: Vec<&str> = s.calls.iter().map(|c| c.service.value.as_str()).collect();
            out.push(format!(
                "not generated yet: synchronous calls from `{}` ({}) to {}",
                s.name.value,
                s.style.value.as_str(),
                to.join(", ")
            ));
        }
    }
    for s in &bp.sagas {
        let why = match s.style {
            crate::blueprint::SagaStyle::Choreography => choreography::unsupported(bp, s),
            crate::blueprint::SagaStyle::Orchestration => orchestration::unsupported(bp, s),
        };
        if let Some(why) = why {
            out.push(format!(
                "not generated yet: saga `{}` ({why})",
                s.name.value
            ));
        }
    }
    out
}
