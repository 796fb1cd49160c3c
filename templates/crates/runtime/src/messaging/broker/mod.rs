//! The message broker behind one small trait, [`Broker`]: publish a batch of messages and learn
//! when the broker has stored them, subscribe a consumer group to subjects, dead-letter a message.
//! Adapters: NATS JetStream (feature `nats`), RabbitMQ (feature `rabbitmq`) and Kafka (feature
//! `kafka`); a generated workspace enables the one its blueprint names.
//!
//! Naming, the same for every adapter:
//! - an event of type `OrderCreated` in system `shop` travels on subject `shop.events.OrderCreated`;
//! - a consumer group is a service name: every instance of `customers` shares one durable
//!   consumer (NATS), queue (RabbitMQ) or consumer group (Kafka), so each event is delivered once per service and spread
//!   over its instances;
//! - dead letters of group `customers` go to `shop.dead.customers`.

#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

/// A boxed, sendable future: what the object-safe [`Broker`] trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub subject: String,
    /// Unique per event: brokers that deduplicate (JetStream) use it, consumers log it.
    pub message_id: String,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot connect to the broker at {url}: {message}")]
    Connect { url: String, message: String },
    /// The first `confirmed` messages of the batch were stored; the rest were not.
    #[error("publish failed after {confirmed} confirmed message(s): {message}")]
    Publish { confirmed: usize, message: String },
    #[error("subscription failed: {0}")]
    Subscribe(String),
    #[error("acknowledgement failed: {0}")]
    Ack(String),
    #[error("unknown broker kind `{0}` (expected nats, rabbitmq or kafka)")]
    UnknownKind(String),
    #[error("this build has no {0} adapter (enable the runtime's `{0}` cargo feature)")]
    NotCompiledIn(BrokerKind),
}

/// Settles a delivery with the broker: acknowledge it, or ask for it again later.
pub trait Settle: Send + Sync {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), BrokerError>>;
    fn retry(self: Box<Self>, after: Duration) -> BoxFuture<'static, Result<(), BrokerError>>;
}

/// A message received by a consumer group. Settle it exactly once with [`Delivery::ack`] or
/// [`Delivery::retry`]; a delivery dropped unsettled comes back after the broker's timeout.
pub struct Delivery {
    pub subject: String,
    pub payload: Vec<u8>,
    /// 1 on first delivery, then counted up by the broker on each redelivery.
    pub attempt: u32,
    /// The ordered stream the delivery came on. Deliveries of one lane are handled in the order
    /// they came; those of different lanes may be handled at once. Kafka: the partition (what
    /// keeps an aggregate's events in order); NATS and RabbitMQ: 0, one ordered stream.
    pub lane: u32,
    pub settle: Box<dyn Settle>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.subject)
            .field("attempt", &self.attempt)
            .field("bytes", &self.payload.len())
            .finish()
    }
}

impl Delivery {
    pub async fn ack(self) -> Result<(), BrokerError> {
        self.settle.ack().await
    }
    pub async fn retry(self, after: Duration) -> Result<(), BrokerError> {
        self.settle.retry(after).await
    }
}

/// Deliveries of one subscription. It ends (`None`) when the connection is lost; subscribe again.
pub struct Subscription {
    rx: mpsc::Receiver<Delivery>,
}

impl Subscription {
    /// A subscription fed by an adapter's task through a bounded channel (the prefetch).
    pub fn channel(capacity: usize) -> (mpsc::Sender<Delivery>, Self) {
        let (tx, rx) = mpsc::channel(capacity);
        (tx, Self { rx })
    }
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
    /// A delivery that has already arrived, without waiting for one.
    pub fn ready(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok()
    }
}

/// What every adapter does.
pub trait Broker: Send + Sync {
    /// `nats`, `rabbitmq` or `kafka`, for logs and metrics.
    fn kind(&self) -> &'static str;
    /// Publishes `batch` in order and resolves once the broker has stored every message.
    fn publish<'a>(&'a self, batch: &'a [Outgoing]) -> BoxFuture<'a, Result<(), BrokerError>>;
    /// Joins consumer group `group` on `subjects` (durable: messages published while no instance
    /// runs are kept for it).
    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        subjects: &'a [String],
    ) -> BoxFuture<'a, Result<Subscription, BrokerError>>;
    /// Stores `message` on the dead-letter destination of `group`.
    fn dead_letter<'a>(
        &'a self,
        group: &'a str,
        message: &'a Outgoing,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;
}

/// Gets a broker connection, connecting again after a failure.
pub trait BrokerSource: Send + Sync {
    /// The current connection, or a new one.
    fn get(&self) -> BoxFuture<'_, Result<Arc<dyn Broker>, BrokerError>>;
    /// Drops the current connection after an error, so the next `get` reconnects.
    fn reset(&self);
}

/// Which broker a system uses. Generated code names the variant; tests and tools parse the
/// blueprint's spelling (`"nats".parse()`), and an unknown name is an error, never a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    Nats,
    Rabbitmq,
    Kafka,
}

impl BrokerKind {
    /// The name as a blueprint writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerKind::Nats => "nats",
            BrokerKind::Rabbitmq => "rabbitmq",
            BrokerKind::Kafka => "kafka",
        }
    }

    /// The broker's address on a development machine.
    pub fn local_url(self) -> &'static str {
        match self {
            BrokerKind::Nats => "nats://127.0.0.1:4222",
            BrokerKind::Rabbitmq => "amqp://guest:guest@127.0.0.1:5672/%2f",
            BrokerKind::Kafka => "kafka://127.0.0.1:9092",
        }
    }
}

impl std::fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BrokerKind {
    type Err = BrokerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nats" => Ok(BrokerKind::Nats),
            "rabbitmq" => Ok(BrokerKind::Rabbitmq),
            "kafka" => Ok(BrokerKind::Kafka),
            other => Err(BrokerError::UnknownKind(other.to_string())),
        }
    }
}

/// Where a system's broker is and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    pub kind: BrokerKind,
    pub url: String,
    /// The system name: prefix of every subject, stream, exchange and queue.
    pub system: String,
    /// Every (consumer group, event type) of the system, so destinations exist before the
    /// first publish whichever service starts first.
    pub topology: Vec<(String, String)>,
    /// How long a delivery may stay unacknowledged before the broker sends it again (NATS;
    /// RabbitMQ redelivers when the consumer's connection closes).
    pub ack_wait: Duration,
    /// Partitions of each topic the adapter creates (Kafka): the most instances of one
    /// service that consume in parallel.
    pub partitions: i32,
    /// Replicas of each topic the adapter creates (Kafka).
    pub replication: i32,
}

impl BrokerConfig {
    /// A configuration with the default acknowledgement wait (30 s), 3 partitions and 1 replica.
    pub fn new(kind: BrokerKind, url: &str, system: &str, topology: Vec<(String, String)>) -> Self {
        Self {
            kind,
            url: url.to_string(),
            system: system.to_string(),
            topology,
            ack_wait: Duration::from_secs(30),
            partitions: 3,
            replication: 1,
        }
    }
}

impl BrokerConfig {
    /// The subject of event type `event_type`.
    pub fn event_subject(&self, event_type: &str) -> String {
        event_subject(&self.system, event_type)
    }
}

/// `shop.events.OrderCreated`.
pub fn event_subject(system: &str, event_type: &str) -> String {
    format!("{system}.events.{event_type}")
}

/// `shop.dead.customers`.
pub fn dead_letter_subject(system: &str, group: &str) -> String {
    format!("{system}.dead.{group}")
}

/// The event type of a subject made by [`event_subject`].
pub fn event_type_of(subject: &str) -> &str {
    subject.rsplit('.').next().unwrap_or(subject)
}

/// Awaits the broker's confirmations of a batch in publish order and returns how many of the
/// first ones succeeded: the prefix the outbox may mark as published.
#[cfg(any(feature = "nats", feature = "rabbitmq", feature = "kafka"))]
pub(crate) async fn confirmed_prefix<F: Future<Output = bool>>(pending: Vec<F>) -> usize {
    let mut confirmed = 0;
    let mut broken = false;
    for ok in pending {
        if ok.await && !broken {
            confirmed += 1;
        } else {
            broken = true;
        }
    }
    confirmed
}

/// Connects to the broker `config` names.
pub async fn connect(config: &BrokerConfig) -> Result<Arc<dyn Broker>, BrokerError> {
    match config.kind {
        #[cfg(feature = "nats")]
        BrokerKind::Nats => Ok(Arc::new(nats::Nats::connect(config).await?)),
        #[cfg(feature = "rabbitmq")]
        BrokerKind::Rabbitmq => Ok(Arc::new(rabbitmq::Rabbit::connect(config).await?)),
        #[cfg(feature = "kafka")]
        BrokerKind::Kafka => Ok(Arc::new(kafka::Kafka::connect(config).await?)),
        #[allow(unreachable_patterns)]
        other => Err(BrokerError::NotCompiledIn(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_named_by_system_and_type() {
        assert_eq!(
            event_subject("shop", "OrderCreated"),
            "shop.events.OrderCreated"
        );
        assert_eq!(event_type_of("shop.events.OrderCreated"), "OrderCreated");
        assert_eq!(
            dead_letter_subject("shop", "customers"),
            "shop.dead.customers"
        );
    }

    #[cfg(any(feature = "nats", feature = "rabbitmq", feature = "kafka"))]
    #[tokio::test]
    async fn only_the_confirmed_prefix_counts() {
        let acks = |v: &[bool]| v.iter().map(|&ok| async move { ok }).collect::<Vec<_>>();
        assert_eq!(confirmed_prefix(acks(&[true, true, true])).await, 3);
        assert_eq!(confirmed_prefix(acks(&[true, false, true])).await, 1);
        assert_eq!(confirmed_prefix(acks(&[false, true])).await, 0);
    }

    #[test]
    fn an_unknown_kind_is_an_error_not_a_default() {
        assert!(matches!(
            "carrier-pigeon".parse::<BrokerKind>(),
            Err(BrokerError::UnknownKind(k)) if k == "carrier-pigeon"
        ));
        assert!(matches!(
            "nat".parse::<BrokerKind>(),
            Err(BrokerError::UnknownKind(_))
        ));
        for kind in [BrokerKind::Nats, BrokerKind::Rabbitmq, BrokerKind::Kafka] {
            assert_eq!(kind.as_str().parse::<BrokerKind>().ok(), Some(kind));
        }
    }
}
