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
    /// A semantic version, as Cargo reads it (`1.0.0`, `1.0.0-rc.1+build.5`); default "0.1.0".
    version: Option<String>,
    /// One line about the system, for its README (free text, escaped there).
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
    /// Default otlp: trace context carried through requests and events.
    tracing: Option<Tracing>,
    /// CI pipelines to generate; default github.
    ci: Option<Ci>,
    /// Deployment files to generate; default both.
    deploy: Option<Vec<DeployTarget>>,
    /// Default none; istio needs discovery = "kubernetes".
    mesh: Option<Mesh>,
    /// Prefix of image names: a host with an optional port, then an optional path of lowercase
    /// letters and digits joined by `.`, `_` or `-` (`ghcr.io/acme`, `localhost:5000/shop`);
    /// default "localhost/<system>".
    image_registry: Option<String>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Auth {
    /// Required when any route names roles.
    roles: Option<Vec<String>>,
    /// Lifetime of access tokens; default 15m.
    access_token_ttl: Option<Duration>,
    /// Lifetime of refresh tokens; default 7d.
    refresh_token_ttl: Option<Duration>,
    /// jwt (stateless tokens) or redis (central sessions); default jwt.
    sessions: Option<Sessions>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RateLimit {
    /// Requests per second refilled.
    per_second: u32,
    /// Requests allowed at once; default per-second.
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
    /// Allowed origins: `scheme://host[:port]` in lowercase, without path, or `*` for any.
    cors: Option<Vec<String>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Expose {
    /// `/segment/…` of letters, digits, `-`, `_`, `.` (`/v1/orders`, `/paymentAuth`), no
    /// trailing slash, no built-in route (`/metrics`, `/admin`, …); routed by the gateway.
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
    /// Share of failed calls (0.01–1) that opens the breaker; default 0.5.
    failure_rate: Option<f64>,
    /// Calls remembered; default 20.
    window: Option<u32>,
    /// Time open before a trial call; default 10s.
    open_for: Option<Duration>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Call {
    /// The called service.
    service: String,
    /// Per attempt; default 2s.
    timeout: Option<Duration>,
    /// Further attempts after a failure (0–10); default 0.
    retries: Option<u32>,
    /// A circuit breaker on the calls; none when missing.
    breaker: Option<Breaker>,
    /// What a failed call gives: error, cached (the last answer) or default; default error.
    fallback: Option<Fallback>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Aggregate {
    /// PascalCase.
    name: String,
    /// Missing = internal only.
    expose: Option<Expose>,
    /// Command (kebab-case) → the event it records. The first creates the aggregate.
    commands: BTreeMap<String, String>,
    /// Commands after which the aggregate accepts no command (its lifecycle, e.g.
    /// ["check-out"]); missing = every command accepted in any state.
    closed_by: Option<Vec<String>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct View {
    /// PascalCase.
    name: String,
    /// The field that identifies a row.
    key: String,
    /// Events that feed the view.
    from: Vec<String>,
    /// Missing = internal only.
    expose: Option<Expose>,
    /// Field name (kebab-case) → type; fields named like an event's are copied from it.
    fields: BTreeMap<String, FieldType>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[serde(deny_unknown_fields)]
struct Resources {
    /// Kubernetes CPU request; default 100m.
    cpu: Option<String>,
    /// Kubernetes memory request and limit; default 128Mi.
    memory: Option<String>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Autoscale {
    /// Default 1.
    min: Option<u32>,
    max: u32,
    /// Target CPU utilisation; default 70.
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
    /// Instances; default 1.
    replicas: Option<u32>,
    resources: Option<Resources>,
    /// A HorizontalPodAutoscaler on Kubernetes.
    autoscale: Option<Autoscale>,
    /// Events this service publishes (through its outbox).
    publishes: Option<Vec<String>>,
    /// Events this service consumes (idempotently).
    consumes: Option<Vec<String>>,
    /// crud: tables, REST resources, OpenAPI schemas.
    entities: Option<Vec<Entity>>,
    /// Synchronous calls to other services.
    calls: Option<Vec<Call>>,
    /// event-sourced: snapshot after this many events; default 100.
    snapshot_every: Option<u32>,
    /// event-sourced: aggregates and their commands.
    aggregates: Option<Vec<Aggregate>>,
    /// read-model: views kept up to date from events.
    views: Option<Vec<View>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Event {
    /// PascalCase, unique.
    name: String,
    /// Default 1.
    version: Option<u32>,
    /// Field name (kebab-case) → type.
    fields: Option<BTreeMap<String, FieldType>>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Step {
    /// The participant.
    service: String,
    /// kebab-case; a command or handler in that service.
    action: String,
    /// kebab-case; undoes the action. Steps without one cannot be undone.
    compensation: Option<String>,
    /// The event that reports success (choreography).
    on_success: Option<String>,
    /// The event that reports failure (choreography).
    on_failure: Option<String>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Saga {
    /// kebab-case.
    name: String,
    /// Default choreography.
    style: Option<SagaStyle>,
    /// The service that starts it (and, for orchestration, runs it).
    owner: String,
    /// An event the owner publishes that starts an instance when it is published. Default:
    /// for choreography the first event the owner publishes that the first step's service
    /// consumes; for orchestration none (started by `POST {entity path}/{saga}`, or
    /// `POST /sagas/{saga}` when the owner has no entity).
    trigger: Option<String>,
    /// After this the saga compensates; default 30s.
    timeout: Option<Duration>,
    /// In order.
    steps: Vec<Step>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CompositionCall {
    service: String,
    /// May use `{param}` of the composition's path or `{service.field}` of an earlier call.
    path: String,
    /// A failed optional call yields null and a warning header; a failed required call (the
    /// default) fails the composition with the callee's status.
    optional: Option<bool>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Composition {
    /// The BFF's path; may hold `{param}` segments (lowercase, `{order-id}`). Its handler is
    /// named after its first other segment, which must make a Rust name.
    path: String,
    /// Roles allowed; empty = any signed-in user.
    read: Option<Vec<String>>,
    /// Made in parallel where the paths allow.
    calls: Vec<CompositionCall>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Bff {
    /// kebab-case, unique.
    name: String,
    /// web (adds the composed web front end), mobile, or any label of letters, digits, spaces,
    /// `-` and `_`; default any.
    client: Option<String>,
    /// Default: the next free port after the highest service port.
    port: Option<u16>,
    /// Exposed paths passed through as they are.
    routes: Option<Vec<String>>,
    /// Endpoints answered by calling several services.
    compositions: Option<Vec<Composition>>,
}

/// The schema as pretty JSON with a trailing newline.
pub fn json() -> String {
    let schema = schemars::schema_for!(Blueprint);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The blueprint's keys as Markdown, one table per section, made from [`json`] so the
/// reference cannot drift from the schema (`msa-gen schema --markdown`,
/// `docs/blueprint-keys.md`, kept current by a test).
pub fn markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(Blueprint)).unwrap_or_default();
    let mut out = String::from(
        "# Blueprint keys\n\n\
         Every key of the blueprint format, made from its JSON Schema (`msa-gen schema \
         --markdown`; a test keeps this page current). What each section generates is in \
         [blueprint-reference.md](blueprint-reference.md).\n",
    );
    let defs = &schema["$defs"];
    let mut sections: Vec<(String, &serde_json::Value)> = Vec::new();
    collect(&schema, defs, "", &mut sections);
    for (title, object) in sections {
        out.push_str(&format!("\n## `{title}`\n\n"));
        if let Some(d) = object["description"].as_str() {
            out.push_str(&format!("{}\n\n", one_line(d)));
        }
        out.push_str("| key | type | required | meaning |\n|---|---|---|---|\n");
        for (key, prop, required) in properties(object) {
            let (ty, description) = describe(prop, defs);
            out.push_str(&format!(
                "| `{key}` | {ty} | {} | {} |\n",
                if required { "yes" } else { "" },
                one_line(&description).replace('|', "\\|")
            ));
        }
    }
    out
}

/// The properties of an object schema: required ones first, then by name.
fn properties(object: &serde_json::Value) -> Vec<(&str, &serde_json::Value, bool)> {
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let mut out: Vec<(&str, &serde_json::Value, bool)> = object["properties"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.as_str(), v, required.contains(&k.as_str())))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|(k, _, r)| (!r, *k));
    out
}

/// The definition a property refers to (directly, as `T | null`, or as array items), and
/// whether it is an array of it.
fn referenced<'a>(
    prop: &'a serde_json::Value,
    defs: &'a serde_json::Value,
) -> Option<(&'a str, &'a serde_json::Value, bool)> {
    let name_of = |v: &'a serde_json::Value| {
        v["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .or_else(|| {
                v["anyOf"].as_array().and_then(|a| {
                    a.iter()
                        .find_map(|x| x["$ref"].as_str()?.strip_prefix("#/$defs/"))
                })
            })
    };
    if let Some(name) = name_of(prop) {
        return Some((name, &defs[name], false));
    }
    let name = name_of(&prop["items"])?;
    Some((name, &defs[name], true))
}

/// Sections in document order: tables (`[platform]`), arrays of tables (`[[services]]`) and
/// inline tables (`breaker = { … }`) below them.
fn collect<'a>(
    object: &'a serde_json::Value,
    defs: &'a serde_json::Value,
    prefix: &str,
    out: &mut Vec<(String, &'a serde_json::Value)>,
) {
    let mut keys = properties(object);
    if prefix.is_empty() {
        // The format's own order: system, platform, auth, gateway, events, services, sagas, bffs.
        let order = [
            "system", "platform", "auth", "gateway", "events", "services", "sagas", "bffs",
        ];
        keys.sort_by_key(|(k, _, _)| order.iter().position(|o| o == k).unwrap_or(order.len()));
    }
    for (key, prop, _) in keys {
        let Some((_, def, array)) = referenced(prop, defs) else {
            continue;
        };
        if def["type"] != "object" || def["properties"].is_null() {
            continue;
        }
        let path = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        let title = if array {
            format!("[[{path}]]")
        } else if prefix.is_empty() {
            format!("[{path}]")
        } else {
            format!("{path} = {{ … }}")
        };
        out.push((title, def));
        collect(def, defs, &path, out);
    }
}

/// A property's type as the blueprint spells it, and its description (the property's own, or
/// its definition's).
fn describe(prop: &serde_json::Value, defs: &serde_json::Value) -> (String, String) {
    let mut description = prop["description"].as_str().unwrap_or_default().to_string();
    let ty = if let Some((name, def, array)) = referenced(prop, defs) {
        if description.is_empty() {
            description = def["description"].as_str().unwrap_or_default().to_string();
        }
        let inner = if let Some(values) = def["enum"].as_array() {
            values
                .iter()
                .filter_map(|v| v.as_str())
                .map(|v| format!("`\"{v}\"`"))
                .collect::<Vec<_>>()
                .join(" \\| ")
        } else if def["type"] == "object" {
            "table".to_string()
        } else {
            match name {
                "Duration" => "duration".to_string(),
                "FieldType" => "field type".to_string(),
                _ => "string".to_string(),
            }
        };
        if array && def["type"] == "object" {
            "array of tables".to_string()
        } else if array {
            format!("array of {inner}")
        } else {
            inner
        }
    } else {
        let kinds: Vec<&str> = match &prop["type"] {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => Vec::new(),
        };
        let kind = kinds
            .iter()
            .find(|k| **k != "null")
            .copied()
            .unwrap_or("any");
        match kind {
            "array" => {
                let (item, _) = describe(&prop["items"], defs);
                format!("array of {item}")
            }
            "object" => {
                let (value, _) = describe(&prop["additionalProperties"], defs);
                format!("table of {value}")
            }
            "number" => "number".to_string(),
            other => other.to_string(),
        }
    };
    (ty, description)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
