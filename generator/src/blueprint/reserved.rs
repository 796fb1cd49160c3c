//! Names the generated code already takes, so a blueprint name equal to one of them would not
//! compile (or would not build): Rust keywords, Cargo's own directory names, the types a
//! generated file imports or declares next to the blueprint's types. Kept in step with
//! `templates/` (the `use` lines and declarations of each file named below).

/// Binary names Cargo refuses: they are directories of its build output.
pub const CARGO_ARTIFACT_DIRS: &[&str] = &["deps", "build", "examples", "incremental"];

/// Rust's built-in crates: `cargo new` refuses them as package names, and generated code that
/// says `use std::…` next to a module named after a service would be ambiguous.
pub const BUILTIN_CRATES: &[&str] = &["std", "core", "alloc", "proc-macro", "test"];

/// Types and traits of Rust's prelude (2024 edition). A generated type of the same name
/// would shadow the one the generated code means (`Option<…>`, `Result<…>`, `String`, `Send`).
pub const PRELUDE: &[&str] = &[
    "AsMut",
    "AsRef",
    "Box",
    "Clone",
    "Copy",
    "Default",
    "DoubleEndedIterator",
    "Drop",
    "Eq",
    "ExactSizeIterator",
    "Extend",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "FromIterator",
    "Future",
    "Into",
    "IntoFuture",
    "IntoIterator",
    "Iterator",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Send",
    "Sized",
    "String",
    "Sync",
    "ToOwned",
    "ToString",
    "TryFrom",
    "TryInto",
    "Unpin",
    "Vec",
];

/// (name, what it is) of the types the generated `model.rs` and `api.rs` of every service with
/// an API import or declare; its entities, aggregates or views and their types live beside
/// them. The lists below add what one style's files use besides.
pub const SERVICE_TYPES: &[(&str, &str)] = &[
    ("ApiDoc", "`api::ApiDoc`"),
    ("ApiError", "`runtime::ApiError`"),
    ("Deserialize", "`serde::Deserialize`"),
    ("FieldError", "`runtime::FieldError`"),
    ("Json", "`axum::Json`"),
    ("OpenApi", "`utoipa::OpenApi`"),
    ("Router", "`axum::Router`"),
    ("Serialize", "`serde::Serialize`"),
    ("State", "`axum::extract::State`"),
    ("ToSchema", "`utoipa::ToSchema`"),
    ("ValidPath", "`runtime::ValidPath`"),
];

/// Types of the paged, filtered tables of CRUD and read-model services.
pub const TABLE_TYPES: &[(&str, &str)] = &[
    ("AppState", "`api::AppState`"),
    ("IntoParams", "`utoipa::IntoParams`"),
    ("Page", "`runtime::Page`"),
    ("PageParams", "`runtime::PageParams`"),
    ("PgConnection", "`sqlx::PgConnection`"),
    ("PgPool", "`sqlx::PgPool`"),
    ("Postgres", "`sqlx::Postgres`"),
    ("QueryBuilder", "`sqlx::QueryBuilder`"),
    ("ValidQuery", "`runtime::ValidQuery`"),
];

/// A CRUD service's own (`model.rs`, `api.rs`, `logic/mod.rs`).
pub const CRUD_TYPES: &[(&str, &str)] = &[
    ("Future", "`std::future::Future`"),
    ("IntoResponse", "`axum::response::IntoResponse`"),
    ("Logic", "`logic::Logic`"),
    ("StatusCode", "`axum::http::StatusCode`"),
    ("ValidJson", "`runtime::ValidJson`"),
];

/// An event-sourced service's own (`model.rs`, `api.rs`, `logic/<aggregate>.rs`).
pub const EVENT_SOURCED_TYPES: &[(&str, &str)] = &[
    ("Aggregate", "`runtime::messaging::event_store::Aggregate`"),
    (
        "EventStore",
        "`runtime::messaging::event_store::EventStore`",
    ),
    ("HeaderMap", "`axum::http::HeaderMap`"),
    ("IntoResponse", "`axum::response::IntoResponse`"),
    ("LoadParams", "`api::LoadParams`"),
    ("Loaded", "`runtime::messaging::event_store::Loaded`"),
    ("Query", "`axum::extract::Query`"),
    ("Recorded", "`runtime::messaging::event_store::Recorded`"),
    ("StatusCode", "`axum::http::StatusCode`"),
    ("ValidJson", "`runtime::ValidJson`"),
];

/// A read-model service's own (`views/<view>.rs`).
pub const READ_MODEL_TYPES: &[(&str, &str)] = &[("Envelope", "`contracts::Envelope`")];

/// The types of the `contracts` crate and of the generated event handlers, beside the events.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("DecodeError", "`contracts::DecodeError`"),
    ("Envelope", "`contracts::Envelope`"),
    ("Event", "`contracts::Event`"),
    (
        "HandlerError",
        "`runtime::messaging::consumer::HandlerError`",
    ),
    ("Mail", "`runtime::service::mail::Mail`"),
];

/// Functions of a BFF's generated `compositions.rs` besides the compositions' handlers.
pub const COMPOSITION_FNS: &[&str] = &["answer", "failed", "get", "member", "router"];

/// Locals of a composition's generated handler that a `{param}` of the same name would shadow.
pub const COMPOSITION_LOCALS: &[&str] = &["headers", "token"];

/// Where `name` is taken, if it is: one of the `lists`, or the prelude.
pub fn taken_type(name: &str, lists: &[&[(&str, &'static str)]]) -> Option<String> {
    lists
        .iter()
        .flat_map(|l| l.iter())
        .find(|(t, _)| *t == name)
        .map(|(_, what)| (*what).to_string())
        .or_else(|| {
            PRELUDE
                .contains(&name)
                .then(|| format!("`{name}` of Rust's prelude"))
        })
}
