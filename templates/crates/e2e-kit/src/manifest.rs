//! The system under test as the generator describes it in `tests/e2e/system.toml`: the
//! processes to start and what to check. The generator writes it from the blueprint and the
//! kit reads it; both compile this one file (the generator through `#[path]`), so the two
//! cannot drift. Request bodies are JSON texts, with snake-case keys as the APIs take them.

use serde::{Deserialize, Serialize};

/// Everything the suite knows about one system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Manifest {
    pub system: String,
    /// `nats`, `rabbitmq`, `kafka` or `none`.
    pub broker: String,
    /// A service registry runs (`discovery = "registry"`); else services find each other by
    /// fixed addresses (`<service>-url` settings, as Kubernetes DNS names would give them).
    pub registry: bool,
    /// A config server runs and every process reads its settings from it.
    pub config_server: bool,
    /// The roles of `[auth]`; empty when the system has no auth service.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Sessions are opaque tokens in Redis (`sessions = "redis"`).
    #[serde(default)]
    pub redis_sessions: bool,
    #[serde(default, rename = "process")]
    pub processes: Vec<Process>,
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
    #[serde(default, rename = "entity")]
    pub entities: Vec<Entity>,
    #[serde(default, rename = "view")]
    pub views: Vec<View>,
    #[serde(default, rename = "aggregate")]
    pub aggregates: Vec<Aggregate>,
    #[serde(default, rename = "event")]
    pub events: Vec<EventFlow>,
    #[serde(default, rename = "saga")]
    pub sagas: Vec<Saga>,
    #[serde(default, rename = "composition")]
    pub compositions: Vec<Composition>,
}

/// What a process is, which decides when it starts (this order) and what it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Receives every process's spans, so it starts first.
    Console,
    Registry,
    ConfigServer,
    Auth,
    Service,
    Bff,
    Gateway,
}

/// One binary of the workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Process {
    /// The binary (the package name).
    pub name: String,
    pub kind: Kind,
    /// Its own database, when it has one.
    #[serde(default)]
    pub database: Option<String>,
    /// It publishes or consumes events.
    #[serde(default)]
    pub broker: bool,
    /// Instances to start (2 at most, enough to prove balancing and eviction).
    pub replicas: u32,
    /// A worker that mails: the suite points it at its SMTP sink (`mail.rs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mails: bool,
}

/// A path the gateway exposes, probed with `GET`: the declared roles pass, another role gets
/// 403, no token 401 (a public path passes without a token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Route {
    pub service: String,
    pub path: String,
    #[serde(default)]
    pub read: Vec<String>,
    /// The BFF that passes it on; `None` = the gateway.
    #[serde(default)]
    pub via: Option<String>,
}

/// A CRUD entity: create, read, list, update, delete through the gateway, as the users
/// `access::access` picks for `read` and `write`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Entity {
    pub service: String,
    pub name: String,
    pub path: String,
    /// Not exposed: the gateway does not route it, so it is checked on its service directly
    /// (any signed-in user may use it there).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    pub create: String,
    pub update: String,
    /// Fields whose JSON value comes back exactly as sent.
    #[serde(default)]
    pub compare: Vec<String>,
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
}

/// A read-model view; the first event it is built from creates its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct View {
    pub service: String,
    pub name: String,
    pub path: String,
    /// The key field (snake case) in the event's payload.
    pub key: String,
    pub created_by: String,
    #[serde(default)]
    pub read: Vec<String>,
}

/// An event-sourced aggregate and a command sequence that is valid for its default logic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Aggregate {
    pub service: String,
    pub name: String,
    pub path: String,
    /// The first creates the aggregate (`POST path`), the others act on it
    /// (`POST path/{id}/<name>`).
    #[serde(default, rename = "command")]
    pub commands: Vec<Command>,
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Command {
    pub name: String,
    pub body: String,
}

/// An event, published by `publisher` through its outbox (test hook), that every consumer
/// must receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EventFlow {
    pub event: String,
    pub publisher: String,
    pub payload: String,
    pub consumers: Vec<String>,
}

/// A saga, started at its owner and observed through the owner entity's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Saga {
    pub name: String,
    pub style: String,
    pub owner: String,
    /// `POST` here starts it (the entity's create for a choreography, the start endpoint of an
    /// orchestration); the answer's `id` is the instance.
    pub start: String,
    pub body: String,
    /// `GET {entity}/{id}` shows the status.
    pub entity: String,
    /// The entity's field holding the status (`status`, `state`).
    #[serde(default = "status_field")]
    pub status_field: String,
    pub running: String,
    pub success: String,
    pub failure: String,
    /// Entities to create first, whose `id` goes into the start body's `into` field.
    #[serde(default, rename = "setup")]
    pub setups: Vec<Setup>,
    /// `<service>.<saga>.<action>`: the step the test switch refuses so the steps before it are
    /// compensated.
    #[serde(default)]
    pub fail_step: Option<String>,
    /// The owner entity's roles: its writer starts the saga, its reader watches the status.
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
    /// The mailing workers that consume the saga's success event: after a success, each has
    /// mailed about the instance (the whole chain runs, nothing injected).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mailed_by: Vec<String>,
}

fn status_field() -> String {
    "status".into()
}

/// An entity a saga step reads, created before the saga starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Setup {
    pub path: String,
    pub body: String,
    /// The same entity such that the step refuses (no room left): the failure path.
    #[serde(default)]
    pub refusing: Option<String>,
    pub into: String,
    /// The entity's roles: its writer creates it, its reader reads what was reserved.
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
    /// The field holding what the step reserved: back to zero once a failed saga is
    /// compensated.
    #[serde(default)]
    pub reserved: Option<String>,
}

/// A BFF composition, asked for an entity the suite created (`{id}` of `entity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Composition {
    pub bff: String,
    pub path: String,
    /// The entity path whose created id fills `{id}`.
    pub entity: String,
    #[serde(default)]
    pub read: Vec<String>,
}
