//! One planned file: its path, who owns it, and how its bytes are made. A leaf of the plan:
//! the model and the emitters build these, nothing here reads them.

use serde::Serialize;

/// Who owns a file once it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ownership {
    /// Rewritten on every generation; carries the `@generated` header.
    Generated,
    /// Written only when absent; never overwritten.
    User,
    /// The blueprint itself: written by `new` only.
    Input,
}

/// How a planned file gets its bytes.
#[derive(Debug, Clone)]
pub enum Source {
    /// A Tera template rendered with a context.
    Template {
        name: String,
        context: serde_json::Value,
    },
    /// Copied byte for byte from the embedded `templates/` tree (the runtime crate).
    Verbatim { bytes: &'static [u8] },
    /// Text computed by the plan itself.
    Text(String),
}

#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Relative, `/`-separated path inside the workspace.
    pub path: String,
    pub ownership: Ownership,
    pub source: Source,
}

/// The value of a context's `system` key that stands for [`Plan::system`].
pub const SHARED_SYSTEM: &str = "@system";

pub fn template(
    path: impl Into<String>,
    ownership: Ownership,
    name: &str,
    context: &impl Serialize,
) -> PlannedFile {
    PlannedFile {
        path: path.into(),
        ownership,
        source: Source::Template {
            name: name.to_string(),
            context: serde_json::to_value(context).unwrap_or(serde_json::Value::Null),
        },
    }
}
