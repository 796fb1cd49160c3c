//! Kafka adapter (`rdkafka`, librdkafka built from source and linked statically).
//!
//! - **Topics**: one per event type, named like every adapter's subject
//!   (`shop.events.OrderCreated`), created at connect for the whole topology with
//!   `partitions` partitions. A message's key is its envelope's `aggregate_id` (the event id when
//!   it has none), so the events of one aggregate stay in order on one partition.
//! - **Consumer groups**: group `customers` of system `shop` is the Kafka group `shop.customers`;
//!   its instances share the partitions. A new group starts from the earliest offset, so events
//!   published before a consumer first ran are kept for it. A delivery's lane is its partition,
//!   so an instance handles several partitions' batches at once, each in order.
//! - **Commits**: a delivery's offset is committed only after it was settled, that is after the
//!   handler's transaction committed (ack) or after its retry copy was stored (retry). Commits
//!   are per partition and contiguous: an offset is committed only when every earlier offset of
//!   the partition was settled ([`Offsets`]), so a crash loses nothing; what was handled but not
//!   yet committed comes again and the inbox drops it.
//! - **Retries**: Kafka cannot redeliver one message later. [`Delivery::retry`] stores a copy
//!   with attempt + 1 (header `msa-attempt`) on the same topic after the delay, then settles the
//!   original. The partition keeps flowing; the retried event goes behind later ones.
//! - **Dead letters** go to topic `shop.dead.customers`.
//!
//! Publishing uses an idempotent producer (`acks=all`), so broker-side retries neither duplicate
//! nor reorder a batch.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::{
    BoxFuture, Broker, BrokerConfig, BrokerError, Delivery, Outgoing, Settle, Subscription,
};
use crate::resilience::backoff::Backoff;

/// The header carrying the delivery attempt of a retried copy.
const ATTEMPT_HEADER: &str = "msa-attempt";
/// The header naming the consumer group a retried copy is for: other groups skip it.
const GROUP_HEADER: &str = "msa-group";
/// The header carrying the event id.
const MESSAGE_ID_HEADER: &str = "msa-message-id";
/// How often settled offsets are committed.
const COMMIT_EVERY: Duration = Duration::from_millis(200);
/// Deliveries handed to the consumer ahead of its handler: the next batches wait ready while
/// one is handled.
const PREFETCH: usize = 256;

pub struct Kafka {
    producer: FutureProducer,
    bootstrap: String,
    system: String,
    /// How long a produced message may wait for the broker before its publish fails.
    timeout: Duration,
}

/// `kafka://a:9092,b:9092` (or a bare `a:9092,b:9092`) as librdkafka's `bootstrap.servers`.
pub fn bootstrap_servers(url: &str) -> String {
    url.split(',')
        .map(|s| {
            s.trim()
                .trim_start_matches("kafka://")
                .trim_end_matches('/')
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// `shop.customers`: the Kafka consumer group of service `customers`.
pub fn group_id(system: &str, group: &str) -> String {
    format!("{system}.{group}")
}

/// The partition key of a message: the envelope's `aggregate_id`, else the event id.
pub fn key_of(message: &Outgoing) -> String {
    #[derive(serde::Deserialize)]
    struct Keyed {
        #[serde(default)]
        aggregate_id: Option<uuid::Uuid>,
    }
    serde_json::from_slice::<Keyed>(&message.payload)
        .ok()
        .and_then(|k| k.aggregate_id)
        .map_or_else(|| message.message_id.clone(), |id| id.to_string())
}

fn attempt_of(headers: Option<&rdkafka::message::BorrowedHeaders>) -> u32 {
    headers
        .and_then(|h| {
            h.iter()
                .find(|h| h.key == ATTEMPT_HEADER)
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<u32>().ok())
        })
        .unwrap_or(1)
        .max(1)
}

/// The headers of a message: its event id, and for a retried copy its attempt and the one
/// consumer group it is for.
fn headers(message_id: &str, retry: Option<(u32, &str)>) -> OwnedHeaders {
    let headers = OwnedHeaders::new().insert(Header {
        key: MESSAGE_ID_HEADER,
        value: Some(message_id),
    });
    match retry {
        Some((attempt, group)) => headers
            .insert(Header {
                key: ATTEMPT_HEADER,
                value: Some(&attempt.to_string()),
            })
            .insert(Header {
                key: GROUP_HEADER,
                value: Some(group),
            }),
        None => headers,
    }
}

/// The value of header `key`, as text.
fn header_text(headers: Option<&rdkafka::message::BorrowedHeaders>, key: &str) -> Option<String> {
    headers?
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "4");
    config
}

impl Kafka {
    /// Connects the producer and creates the topology's topics (event and dead-letter topics);
    /// topics that exist are kept as they are.
    pub async fn connect(config: &BrokerConfig) -> Result<Self, BrokerError> {
        let bootstrap = bootstrap_servers(&config.url);
        let err = |message: String| BrokerError::Connect {
            url: config.url.clone(),
            message,
        };
        let timeout = config
            .ack_wait
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        let producer: FutureProducer = client_config(&bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()
            .map_err(|e| err(e.to_string()))?;
        let admin: AdminClient<DefaultClientContext> = client_config(&bootstrap)
            .create()
            .map_err(|e| err(e.to_string()))?;
        let mut names = BTreeSet::new();
        for (group, event_type) in &config.topology {
            names.insert(config.event_subject(event_type));
            names.insert(super::dead_letter_subject(&config.system, group));
        }
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|name| {
                NewTopic::new(
                    name,
                    config.partitions,
                    TopicReplication::Fixed(config.replication),
                )
            })
            .collect();
        if !topics.is_empty() {
            let options = AdminOptions::new()
                .operation_timeout(Some(timeout))
                .request_timeout(Some(timeout));
            let results = admin
                .create_topics(&topics, &options)
                .await
                .map_err(|e| err(e.to_string()))?;
            for result in results {
                match result {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((topic, code)) => return Err(err(format!("topic {topic}: {code}"))),
                }
            }
        }
        Ok(Self {
            producer,
            bootstrap,
            system: config.system.clone(),
            timeout,
        })
    }

    /// Sends `batch` to `topic_of(message)` and returns how many of the first were stored.
    async fn send(&self, batch: &[Outgoing], topic_of: impl Fn(&Outgoing) -> String) -> usize {
        let mut pending = Vec::with_capacity(batch.len());
        for m in batch {
            let key = key_of(m);
            let topic = topic_of(m);
            let record = FutureRecord::to(&topic)
                .key(&key)
                .payload(&m.payload)
                .headers(headers(&m.message_id, None));
            match self.producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => {
                    tracing::warn!(error = %e, %topic, "kafka: message not queued");
                    break;
                }
            }
        }
        super::confirmed_prefix(
            pending
                .into_iter()
                .map(|delivery| async move { matches!(delivery.await, Ok(Ok(_))) })
                .collect(),
        )
        .await
    }
}

/// Received and settled offsets of the assigned partitions: what may be committed.
#[derive(Debug, Default)]
pub struct Offsets {
    partitions: Mutex<HashMap<(String, i32), PartitionOffsets>>,
}

#[derive(Debug)]
struct PartitionOffsets {
    /// Received and not yet settled.
    pending: BTreeSet<i64>,
    /// One past the highest offset received.
    next: i64,
    /// The offset last committed (the next one to read); at first, where reading started.
    committed: i64,
}

impl PartitionOffsets {
    /// Every offset below this one was settled.
    fn committable(&self) -> i64 {
        self.pending.first().copied().unwrap_or(self.next)
    }
}

impl Offsets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), PartitionOffsets>> {
        self.partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `offset` was handed to the consumer.
    pub fn received(&self, topic: &str, partition: i32, offset: i64) {
        let mut all = self.lock();
        let p = all
            .entry((topic.to_string(), partition))
            .or_insert_with(|| PartitionOffsets {
                pending: BTreeSet::new(),
                next: offset,
                committed: offset,
            });
        p.pending.insert(offset);
        p.next = p.next.max(offset + 1);
    }

    /// Records that `offset` was settled (handled, retried or dead-lettered).
    pub fn settled(&self, topic: &str, partition: i32, offset: i64) {
        if let Some(p) = self.lock().get_mut(&(topic.to_string(), partition)) {
            p.pending.remove(&offset);
        }
    }

    /// The offsets to commit now, per partition: those that moved since the last call.
    pub fn take_commits(&self) -> Vec<(String, i32, i64)> {
        let mut all = self.lock();
        let mut out = Vec::new();
        for ((topic, partition), p) in all.iter_mut() {
            let to = p.committable();
            if to > p.committed {
                p.committed = to;
                out.push((topic.clone(), *partition, to));
            }
        }
        out.sort();
        out
    }

    /// A commit of these partitions failed: the next [`Offsets::take_commits`] commits them
    /// again.
    pub fn commit_failed(&self, partitions: &[(String, i32)]) {
        let mut all = self.lock();
        for key in partitions {
            if let Some(p) = all.get_mut(key) {
                p.committed = -1;
            }
        }
    }

    /// The offsets to commit for partitions the group takes away, which are then forgotten.
    pub fn revoke(&self, partitions: &[(String, i32)]) -> Vec<(String, i32, i64)> {
        let mut all = self.lock();
        let mut out = Vec::new();
        for key in partitions {
            if let Some(p) = all.remove(key) {
                let to = p.committable();
                if to > p.committed {
                    out.push((key.0.clone(), key.1, to));
                }
            }
        }
        out
    }
}

fn partition_list(commits: &[(String, i32, i64)]) -> Option<TopicPartitionList> {
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in commits {
        if let Err(e) = list.add_partition_offset(topic, *partition, Offset::Offset(*offset)) {
            tracing::warn!(error = %e, %topic, partition, "kafka: bad offset");
        }
    }
    (list.count() > 0).then_some(list)
}

/// Commits what is settled on partitions before the group takes them away.
struct GroupContext {
    offsets: Arc<Offsets>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let revoked: Vec<(String, i32)> = list
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect();
            if let Some(list) = partition_list(&self.offsets.revoke(&revoked))
                && let Err(e) = consumer.commit(&list, CommitMode::Sync)
            {
                tracing::warn!(error = %e, "kafka: commit before rebalance failed; those events come again");
            }
        }
    }

    /// A failed (asynchronous) commit is made again on the next round.
    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "kafka: commit failed; trying again");
            let failed: Vec<(String, i32)> = offsets
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect();
            self.offsets.commit_failed(&failed);
        }
    }
}

struct KafkaSettle {
    offsets: Arc<Offsets>,
    topic: String,
    partition: i32,
    offset: i64,
    /// For a retry: the producer, the message and its attempt.
    producer: FutureProducer,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    message_id: String,
    attempt: u32,
    /// The Kafka consumer group, named on retried copies.
    group: String,
}

impl Settle for KafkaSettle {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), BrokerError>> {
        self.offsets
            .settled(&self.topic, self.partition, self.offset);
        Box::pin(async { Ok(()) })
    }

    /// Stores a copy with the next attempt number, for this group only, after `after`, in the
    /// background (trying until the broker takes it); the original's offset is settled once
    /// the copy is stored. Until then the partition's commits wait, so a crash in between
    /// delivers the original again.
    fn retry(self: Box<Self>, after: Duration) -> BoxFuture<'static, Result<(), BrokerError>> {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
            loop {
                let mut record = FutureRecord::to(&self.topic)
                    .payload(&self.payload)
                    .headers(headers(
                        &self.message_id,
                        Some((self.attempt + 1, self.group.as_str())),
                    ));
                if let Some(key) = &self.key {
                    record = record.key(key);
                }
                match self.producer.send(record, Duration::from_secs(5)).await {
                    Ok(_) => {
                        self.offsets
                            .settled(&self.topic, self.partition, self.offset);
                        return;
                    }
                    Err((e, _)) => {
                        tracing::warn!(error = %e, topic = %self.topic, "kafka: storing a retry failed; trying again");
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                }
            }
        });
        Box::pin(async { Ok(()) })
    }
}

fn commit(consumer: &StreamConsumer<GroupContext>, offsets: &Offsets, mode: CommitMode) {
    if let Some(list) = partition_list(&offsets.take_commits())
        && let Err(e) = consumer.commit(&list, mode)
    {
        tracing::warn!(error = %e, "kafka: commit failed; those events may come again");
    }
}

impl Broker for Kafka {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn publish<'a>(&'a self, batch: &'a [Outgoing]) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            let confirmed = self.send(batch, |m| m.subject.clone()).await;
            if confirmed == batch.len() {
                Ok(())
            } else {
                Err(BrokerError::Publish {
                    confirmed,
                    message: format!(
                        "the broker did not store every message within {:?}",
                        self.timeout
                    ),
                })
            }
        })
    }

    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        subjects: &'a [String],
    ) -> BoxFuture<'a, Result<Subscription, BrokerError>> {
        Box::pin(async move {
            let offsets = Arc::new(Offsets::default());
            let context = GroupContext {
                offsets: offsets.clone(),
            };
            let fail = |e: KafkaError| BrokerError::Subscribe(e.to_string());
            let consumer: StreamConsumer<GroupContext> = client_config(&self.bootstrap)
                .set("group.id", group_id(&self.system, group))
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .set("session.timeout.ms", "10000")
                .set("fetch.wait.max.ms", "100")
                .create_with_context(context)
                .map_err(fail)?;
            let topics: Vec<&str> = subjects.iter().map(String::as_str).collect();
            consumer.subscribe(&topics).map_err(fail)?;
            let producer = self.producer.clone();
            let group = group_id(&self.system, group);
            let (tx, sub) = Subscription::channel(PREFETCH);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(COMMIT_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut stream = consumer.stream();
                'deliveries: loop {
                    let permit = tokio::select! {
                        _ = tick.tick() => { commit(&consumer, &offsets, CommitMode::Async); continue; }
                        permit = tx.reserve() => match permit {
                            Ok(p) => p,
                            Err(_) => break,
                        },
                    };
                    let message = loop {
                        tokio::select! {
                            _ = tick.tick() => commit(&consumer, &offsets, CommitMode::Async),
                            () = tx.closed() => break 'deliveries,
                            next = stream.next() => match next {
                                Some(Ok(m)) => break m,
                                Some(Err(e)) => tracing::warn!(error = %e, "kafka: consumer error"),
                                None => break 'deliveries,
                            },
                        }
                    };
                    let (topic, partition, offset) = (
                        message.topic().to_string(),
                        message.partition(),
                        message.offset(),
                    );
                    offsets.received(&topic, partition, offset);
                    // Another group's retried copy: nothing to do here.
                    if header_text(message.headers(), GROUP_HEADER).is_some_and(|g| g != group) {
                        offsets.settled(&topic, partition, offset);
                        continue;
                    }
                    let payload = message.payload().unwrap_or_default().to_vec();
                    let attempt = attempt_of(message.headers());
                    let message_id =
                        header_text(message.headers(), MESSAGE_ID_HEADER).unwrap_or_default();
                    let key = message.key().map(<[u8]>::to_vec);
                    permit.send(Delivery {
                        subject: topic.clone(),
                        payload: payload.clone(),
                        attempt,
                        lane: u32::try_from(partition).unwrap_or(0),
                        settle: Box::new(KafkaSettle {
                            offsets: offsets.clone(),
                            topic,
                            partition,
                            offset,
                            producer: producer.clone(),
                            key,
                            payload,
                            message_id,
                            attempt,
                            group: group.clone(),
                        }),
                    });
                }
                drop(stream);
                // A last synchronous commit, then leaving the group (the consumer's drop waits
                // until it has left): both block, so they run off the runtime's threads.
                let closed = tokio::task::spawn_blocking(move || {
                    commit(&consumer, &offsets, CommitMode::Sync);
                    drop(consumer);
                })
                .await;
                if let Err(e) = closed {
                    tracing::warn!(error = %e, "kafka: closing the consumer failed");
                }
            });
            Ok(sub)
        })
    }

    fn dead_letter<'a>(
        &'a self,
        group: &'a str,
        message: &'a Outgoing,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            let topic = super::dead_letter_subject(&self.system, group);
            let stored = self
                .send(std::slice::from_ref(message), |_| topic.clone())
                .await;
            if stored == 1 {
                Ok(())
            } else {
                Err(BrokerError::Publish {
                    confirmed: 0,
                    message: format!("dead letter not stored on {topic}"),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_groups_and_keys() {
        assert_eq!(
            bootstrap_servers("kafka://a:9092, b:9092/"),
            "a:9092,b:9092"
        );
        assert_eq!(bootstrap_servers("127.0.0.1:9092"), "127.0.0.1:9092");
        assert_eq!(group_id("shop", "customers"), "shop.customers");
        let id = uuid::Uuid::new_v4();
        let keyed = Outgoing {
            subject: "shop.events.OrderCreated".into(),
            message_id: "e1".into(),
            payload: format!(r#"{{"event_id":"x","aggregate_id":"{id}","payload":{{}}}}"#)
                .into_bytes(),
        };
        assert_eq!(key_of(&keyed), id.to_string());
        let unkeyed = Outgoing {
            payload: br#"{"aggregate_id":null}"#.to_vec(),
            ..keyed.clone()
        };
        assert_eq!(key_of(&unkeyed), "e1");
        let garbage = Outgoing {
            payload: b"not json".to_vec(),
            ..keyed
        };
        assert_eq!(key_of(&garbage), "e1");
    }

    #[test]
    fn commits_are_contiguous_per_partition() {
        let o = Offsets::default();
        for offset in 10..14 {
            o.received("t", 0, offset);
        }
        o.received("t", 1, 5);
        assert!(o.take_commits().is_empty(), "nothing settled yet");
        o.settled("t", 0, 11);
        o.settled("t", 0, 12);
        assert!(o.take_commits().is_empty(), "10 is still pending");
        o.settled("t", 0, 10);
        assert_eq!(o.take_commits(), vec![("t".to_string(), 0, 13)]);
        assert!(o.take_commits().is_empty(), "a commit is taken once");
        o.settled("t", 1, 5);
        o.settled("t", 0, 13);
        assert_eq!(
            o.take_commits(),
            vec![("t".to_string(), 0, 14), ("t".to_string(), 1, 6)]
        );
    }

    #[test]
    fn a_failed_commit_is_made_again() {
        let o = Offsets::default();
        o.received("t", 0, 4);
        o.settled("t", 0, 4);
        assert_eq!(o.take_commits(), vec![("t".to_string(), 0, 5)]);
        assert!(o.take_commits().is_empty());
        o.commit_failed(&[("t".to_string(), 0)]);
        assert_eq!(o.take_commits(), vec![("t".to_string(), 0, 5)]);
    }

    #[test]
    fn revoked_partitions_commit_their_settled_prefix_and_are_forgotten() {
        let o = Offsets::default();
        o.received("t", 0, 0);
        o.received("t", 0, 1);
        o.settled("t", 0, 0);
        assert_eq!(
            o.revoke(&[("t".to_string(), 0)]),
            vec![("t".to_string(), 0, 1)]
        );
        o.settled("t", 0, 1);
        assert!(
            o.take_commits().is_empty(),
            "a revoked partition is not committed"
        );
    }
}
