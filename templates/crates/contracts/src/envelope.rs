//! The envelope every event travels in: identity, type and version, the aggregate it is about,
//! when it happened, and the ids that tie it to a business transaction and a trace.
//! Copied verbatim into each generated workspace (see msa-gen's `templates/`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A domain event type of the system.
pub trait Event: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Its name on the wire (the blueprint's event name).
    const TYPE: &'static str;
    /// Its schema version; a consumer keeps older versions readable.
    const VERSION: u32;
    /// The aggregate the event is about, when it has one.
    fn aggregate_id(&self) -> Option<uuid::Uuid>;
}

/// An event with its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub version: u32,
    pub aggregate_id: Option<uuid::Uuid>,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// Shared by every event of one business transaction (a saga, a request).
    pub correlation_id: uuid::Uuid,
    /// W3C `traceparent` of the operation that produced the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_context: Option<String>,
    pub payload: T,
}

impl<T: Event> Envelope<T> {
    /// Wraps `payload` with a new event id and the current time.
    pub fn new(payload: T, correlation_id: uuid::Uuid) -> Self {
        Self {
            event_id: uuid::Uuid::new_v4(),
            event_type: T::TYPE.to_string(),
            version: T::VERSION,
            aggregate_id: payload.aggregate_id(),
            occurred_at: chrono::Utc::now(),
            correlation_id,
            trace_context: None,
            payload,
        }
    }

    /// Records the W3C `traceparent` of the producing operation.
    #[must_use]
    pub fn with_trace_context(mut self, traceparent: impl Into<String>) -> Self {
        self.trace_context = Some(traceparent.into());
        self
    }
}
