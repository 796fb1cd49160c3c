//! The typed blueprint: what a parsed `blueprint.toml` says, with the source span of every
//! value a later check may need to point at. Defaults of the v1 format are already applied
//! (ports assigned, styles and stores resolved), so later stages never re-read the TOML.

use std::ops::Range;

pub use super::field_type::{FieldType, Kind};

/// A value and the byte range of the source text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sp<T> {
    pub value: T,
    pub span: Range<usize>,
}

impl<T> Sp<T> {
    pub fn new(value: T, span: Range<usize>) -> Self {
        Self { value, span }
    }
}

impl Sp<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// A duration written as `500ms`, `30s`, `15m`, `2h` or `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    pub millis: u64,
}

impl Duration {
    pub fn secs(self) -> u64 {
        self.millis / 1000
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Blueprint {
    pub system: System,
    pub platform: Platform,
    pub auth: Option<Auth>,
    pub gateway: Gateway,
    pub events: Vec<Event>,
    pub services: Vec<Service>,
    pub sagas: Vec<Saga>,
    pub bffs: Vec<Bff>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct System {
    pub name: Sp<String>,
    pub version: Sp<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    Nats,
    Rabbitmq,
    Kafka,
    None,
}

impl Broker {
    /// The name as written in a blueprint.
    pub fn as_str(self) -> &'static str {
        match self {
            Broker::Nats => "nats",
            Broker::Rabbitmq => "rabbitmq",
            Broker::Kafka => "kafka",
            Broker::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    Registry,
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    Server,
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracing {
    Otlp,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    Github,
    Gitlab,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployTarget {
    Compose,
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mesh {
    None,
    Istio,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Platform {
    pub broker: Sp<Broker>,
    pub discovery: Discovery,
    pub config: ConfigSource,
    pub tracing: Tracing,
    pub ci: Ci,
    pub deploy: Vec<Sp<DeployTarget>>,
    pub mesh: Sp<Mesh>,
    pub image_registry: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    Jwt,
    Redis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Auth {
    pub roles: Vec<Sp<String>>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub sessions: Sessions,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    pub port: Sp<u16>,
    pub timeout: Duration,
    pub rate_limit: Option<RateLimit>,
    pub cors: Vec<Sp<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Crud,
    EventSourced,
    ReadModel,
    Worker,
}

impl Style {
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Crud => "crud",
            Style::EventSourced => "event-sourced",
            Style::ReadModel => "read-model",
            Style::Worker => "worker",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Postgres,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    pub cpu: Option<Sp<String>>,
    pub memory: Option<Sp<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Autoscale {
    pub min: Sp<u32>,
    pub max: Sp<u32>,
    pub cpu_percent: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: Sp<String>,
    pub style: Sp<Style>,
    pub store: Sp<Store>,
    pub port: Sp<u16>,
    pub replicas: u32,
    pub resources: Option<Resources>,
    pub autoscale: Option<Autoscale>,
    pub publishes: Vec<Sp<String>>,
    pub consumes: Vec<Sp<String>>,
    pub entities: Vec<Entity>,
    pub calls: Vec<Call>,
    pub snapshot_every: Sp<u32>,
    pub aggregates: Vec<Aggregate>,
    pub views: Vec<View>,
    /// Span of the `[[services]]` table, for findings about the service as a whole.
    pub span: Range<usize>,
}

/// Who may use an exposed resource. `None` for a list means the key is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Expose {
    pub path: Sp<String>,
    pub read: Vec<Sp<String>>,
    pub write: Vec<Sp<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: Sp<String>,
    pub ty: Sp<FieldType>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub name: Sp<String>,
    pub expose: Option<Expose>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Error,
    Cached,
    Default,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Breaker {
    pub failure_rate: f64,
    pub window: u32,
    pub open_for: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub service: Sp<String>,
    pub timeout: Duration,
    pub retries: u32,
    pub breaker: Option<Breaker>,
    pub fallback: Fallback,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: Sp<String>,
    pub event: Sp<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub name: Sp<String>,
    pub expose: Option<Expose>,
    pub commands: Vec<Command>,
    /// Optional key added to v1 (`closed-by`): the commands after which the aggregate
    /// accepts no command (its lifecycle). Empty: every command is accepted in any state.
    pub closed_by: Vec<Sp<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub name: Sp<String>,
    pub key: Sp<String>,
    pub from: Vec<Sp<String>>,
    pub expose: Option<Expose>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: Sp<String>,
    pub version: Sp<u32>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaStyle {
    Choreography,
    Orchestration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub service: Sp<String>,
    pub action: Sp<String>,
    pub compensation: Option<Sp<String>>,
    pub on_success: Option<Sp<String>>,
    pub on_failure: Option<Sp<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Saga {
    pub name: Sp<String>,
    pub style: SagaStyle,
    pub owner: Sp<String>,
    /// Optional key added to v1: an event the owner publishes that starts an instance
    /// (choreography: default the first event the owner publishes that the first step's
    /// service consumes; orchestration: default none, started by its HTTP endpoint).
    pub trigger: Option<Sp<String>>,
    pub timeout: Duration,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompositionCall {
    pub service: Sp<String>,
    pub path: Sp<String>,
    /// Optional key added to v1: a failed optional call yields `null` instead of an error.
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Composition {
    pub path: Sp<String>,
    pub read: Vec<Sp<String>>,
    pub calls: Vec<CompositionCall>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bff {
    pub name: Sp<String>,
    pub client: String,
    pub port: Sp<u16>,
    pub routes: Vec<Sp<String>>,
    pub compositions: Vec<Composition>,
}

impl Blueprint {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name.value == name)
    }

    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name.value == name)
    }
}
