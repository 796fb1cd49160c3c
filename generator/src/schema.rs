//! `msa-gen schema`: the JSON Schema of the blueprint format, for editor completion (Taplo,
//! Even Better TOML, VS Code). These types describe the format only; parsing does not use them
//! (the parser keeps spans and reports every error at once). A test keeps
//! `docs/blueprint.schema.json` equal to this output, and one checks the example blueprints
//! against key names of the schema.

#![allow(dead_code)]

use std::collections::BTreeMap;

use schemars::JsonSchema;

/// A blueprint of a microservice system (msa-gen format v1).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    system: System,
    platform: Option<Platform>,
    auth: Option<Auth>,
    gateway: Option<Gateway>,
    /// Typed, versioned domain events; the `contracts` crate.
    events: Option<Vec<Event>>,
    /// Business services; one crate each.
    services: Option<Vec<Service>>,
    /// Multi-service transactions with compensations.
    sagas: Option<Vec<Saga>>,
    /// Backends for frontends: pass-through routes and compositions.
    bffs: Option<Vec<Bff>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct System {
    /// kebab-case; the workspace and image prefix.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"))]
    name: String,
    /// Default "0.1.0".
    version: Option<String>,
    description: Option<String>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Broker {
    Nats,
    Rabbitmq,
    Kafka,
    None,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Discovery {
    Registry,
    Kubernetes,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum ConfigSource {
    Server,
    Kubernetes,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Tracing {
    Otlp,
    None,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Ci {
    Github,
    Gitlab,
    None,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum DeployTarget {
    Compose,
    Kubernetes,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Mesh {
    None,
    Istio,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Sessions {
    Jwt,
    Redis,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Style {
    Crud,
    EventSourced,
    ReadModel,
    Worker,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Store {
    Postgres,
    None,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Fallback {
    Error,
    Cached,
    Default,
}
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum SagaStyle {
    Choreography,
    Orchestration,
}

/// A duration: 500ms, 30s, 15m, 2h, 7d.
#[derive(JsonSchema)]
struct Duration(#[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h|d)$"))] String);

/// A field type: string, text, bool, i32, i64, f64, decimal, uuid, date, datetime, json,
/// enum(a, b), list<T>, each with an optional trailing `?`.
#[derive(JsonSchema)]
struct FieldType(String);

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Platform {
    /// Default nats (JetStream).
    broker: Option<Broker>,
    /// Default registry (a generated registry service).
    discovery: Option<Discovery>,
    /// Default server (a generated config server).
    config: Option<ConfigSource>,
    tracing: Option<Tracing>,
    ci: Option<Ci>,
    /// Default both.
    deploy: Option<Vec<DeployTarget>>,
    mesh: Option<Mesh>,
    /// Prefix of image names; default "localhost/<system>".
    image_registry: Option<String>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Auth {
    /// Required when any route names roles.
    roles: Option<Vec<String>>,
    access_token_ttl: Option<Duration>,
    refresh_token_ttl: Option<Duration>,
    sessions: Option<Sessions>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RateLimit {
    per_second: u32,
    burst: Option<u32>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Gateway {
    /// Default 8080.
    port: Option<u16>,
    /// Per upstream request; default 5s.
    timeout: Option<Duration>,
    /// Per client identity.
    rate_limit: Option<RateLimit>,
    /// Allowed origins.
    cors: Option<Vec<String>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Expose {
    path: String,
    /// Roles allowed to read; empty = any signed-in user.
    read: Option<Vec<String>>,
    /// Roles allowed to write; empty = any signed-in user.
    write: Option<Vec<String>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Entity {
    /// PascalCase.
    name: String,
    /// Missing = internal only.
    expose: Option<Expose>,
    /// Field name (kebab-case) → type. Order is kept.
    fields: BTreeMap<String, FieldType>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Breaker {
    failure_rate: Option<f64>,
    window: Option<u32>,
    open_for: Option<Duration>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Call {
    service: String,
    timeout: Option<Duration>,
    retries: Option<u32>,
    breaker: Option<Breaker>,
    fallback: Option<Fallback>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Aggregate {
    name: String,
    expose: Option<Expose>,
    /// Command (kebab-case) → the event it records. The first creates the aggregate.
    commands: BTreeMap<String, String>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct View {
    name: String,
    /// The field that identifies a row.
    key: String,
    /// Events that feed the view.
    from: Vec<String>,
    expose: Option<Expose>,
    fields: BTreeMap<String, FieldType>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
struct Resources {
    cpu: Option<String>,
    memory: Option<String>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Autoscale {
    min: Option<u32>,
    max: u32,
    cpu_percent: Option<u32>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Service {
    /// kebab-case, unique.
    name: String,
    /// Default crud.
    style: Option<Style>,
    /// Default postgres (none for worker).
    store: Option<Store>,
    /// Default: assigned in order from 8101.
    port: Option<u16>,
    replicas: Option<u32>,
    resources: Option<Resources>,
    autoscale: Option<Autoscale>,
    publishes: Option<Vec<String>>,
    consumes: Option<Vec<String>>,
    entities: Option<Vec<Entity>>,
    calls: Option<Vec<Call>>,
    /// event-sourced: snapshot after this many events; default 100.
    snapshot_every: Option<u32>,
    aggregates: Option<Vec<Aggregate>>,
    views: Option<Vec<View>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Event {
    /// PascalCase, unique.
    name: String,
    /// Default 1.
    version: Option<u32>,
    fields: Option<BTreeMap<String, FieldType>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Step {
    service: String,
    action: String,
    compensation: Option<String>,
    on_success: Option<String>,
    on_failure: Option<String>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Saga {
    name: String,
    style: Option<SagaStyle>,
    owner: String,
    timeout: Option<Duration>,
    steps: Vec<Step>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CompositionCall {
    service: String,
    path: String,
    /// A failed optional call yields null and a warning header instead of an error.
    optional: Option<bool>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Composition {
    path: String,
    read: Option<Vec<String>>,
    calls: Vec<CompositionCall>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Bff {
    name: String,
    client: Option<String>,
    port: u16,
    routes: Option<Vec<String>>,
    compositions: Option<Vec<Composition>>,
}

/// The schema as pretty JSON with a trailing newline.
pub fn json() -> String {
    let schema = schemars::schema_for!(Blueprint);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
