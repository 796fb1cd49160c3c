//! NATS JetStream adapter. One file-backed stream per system holds every event
//! (`<SYSTEM>_EVENTS`, subjects `<system>.events.>`), another its dead letters
//! (`<SYSTEM>_DEAD`). A consumer group is one durable pull consumer per (group, event type)
//! (one filter subject each, so NATS 2.9 servers work), shared by the group's instances.
//! Publishes carry `Nats-Msg-Id`, so a re-sent outbox row inside the duplicate window is stored
//! once; acknowledgements are explicit; a retry is a NAK with a delay.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use futures_util::StreamExt;

use super::{
    BoxFuture, Broker, BrokerConfig, BrokerError, Delivery, Outgoing, Settle, Subscription,
};

pub struct Nats {
    js: jetstream::Context,
    ack_wait: Duration,
    events_stream: String,
    system: String,
}

fn stream_name(system: &str, what: &str) -> String {
    let base: String = system
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{base}_{what}")
}

/// A durable consumer name: letters, digits, `-` and `_` only.
fn consumer_name(group: &str, subject: &str) -> String {
    format!("{group}_{}", super::event_type_of(subject))
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Nats {
    pub async fn connect(config: &BrokerConfig) -> Result<Self, BrokerError> {
        let err = |e: &dyn std::fmt::Display| BrokerError::Connect {
            url: config.url.clone(),
            message: e.to_string(),
        };
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(config.url.as_str())
            .await
            .map_err(|e| err(&e))?;
        let js = jetstream::new(client);
        let events_stream = stream_name(&config.system, "EVENTS");
        for (name, subjects) in [
            (events_stream.clone(), format!("{}.events.>", config.system)),
            (
                stream_name(&config.system, "DEAD"),
                format!("{}.dead.>", config.system),
            ),
        ] {
            js.get_or_create_stream(stream::Config {
                name,
                subjects: vec![subjects],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| err(&e))?;
        }
        let nats = Self {
            js,
            ack_wait: config.ack_wait,
            events_stream,
            system: config.system.clone(),
        };
        for (group, event_type) in &config.topology {
            nats.consumer(group, &config.event_subject(event_type))
                .await
                .map_err(|e| err(&e))?;
        }
        Ok(nats)
    }

    async fn consumer(
        &self,
        group: &str,
        subject: &str,
    ) -> Result<jetstream::consumer::Consumer<pull::Config>, BrokerError> {
        let name = consumer_name(group, subject);
        let stream = self
            .js
            .get_stream(&self.events_stream)
            .await
            .map_err(|e| BrokerError::Subscribe(e.to_string()))?;
        stream
            .get_or_create_consumer(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: subject.to_string(),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    max_deliver: -1,
                    max_ack_pending: 256,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BrokerError::Subscribe(format!("consumer {name}: {e}")))
    }

    async fn publish_to(&self, batch: &[Outgoing]) -> Result<(), BrokerError> {
        let fail = |confirmed: usize, e: &dyn std::fmt::Display| BrokerError::Publish {
            confirmed,
            message: e.to_string(),
        };
        let mut pending = Vec::with_capacity(batch.len());
        for m in batch {
            let publish = jetstream::message::PublishMessage::build()
                .payload(m.payload.clone().into())
                .message_id(&m.message_id);
            match self.js.send_publish(m.subject.clone(), publish).await {
                Ok(ack) => pending.push(ack),
                Err(e) => {
                    let confirmed = settle_acks(pending).await;
                    return Err(fail(confirmed, &e));
                }
            }
        }
        let total = pending.len();
        let confirmed = settle_acks(pending).await;
        if confirmed == total {
            Ok(())
        } else {
            Err(fail(confirmed, &"the broker did not confirm every message"))
        }
    }
}

/// Awaits publish acknowledgements in order; returns how many of the first ones succeeded.
async fn settle_acks(pending: Vec<jetstream::context::PublishAckFuture>) -> usize {
    super::confirmed_prefix(
        pending
            .into_iter()
            .map(|ack| async move { ack.await.is_ok() })
            .collect(),
    )
    .await
}

struct NatsSettle(jetstream::Message);

impl Settle for NatsSettle {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), BrokerError>> {
        Box::pin(async move {
            self.0
                .ack()
                .await
                .map_err(|e| BrokerError::Ack(e.to_string()))
        })
    }
    fn retry(self: Box<Self>, after: Duration) -> BoxFuture<'static, Result<(), BrokerError>> {
        Box::pin(async move {
            self.0
                .ack_with(AckKind::Nak(Some(after)))
                .await
                .map_err(|e| BrokerError::Ack(e.to_string()))
        })
    }
}

impl Broker for Nats {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn publish<'a>(&'a self, batch: &'a [Outgoing]) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.publish_to(batch))
    }

    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        subjects: &'a [String],
    ) -> BoxFuture<'a, Result<Subscription, BrokerError>> {
        Box::pin(async move {
            let (tx, sub) = Subscription::channel(64);
            for subject in subjects {
                let consumer = self.consumer(group, subject).await?;
                let mut messages = consumer
                    .messages()
                    .await
                    .map_err(|e| BrokerError::Subscribe(e.to_string()))?;
                let tx = tx.clone();
                let subject = subject.clone();
                tokio::spawn(async move {
                    loop {
                        let next = tokio::select! {
                            () = tx.closed() => break,
                            next = messages.next() => next,
                        };
                        let message = match next {
                            None => break,
                            Some(Ok(m)) => m,
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, %subject, "nats: consumer stream error");
                                continue;
                            }
                        };
                        let attempt = message
                            .info()
                            .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
                            .unwrap_or(1);
                        let delivery = Delivery {
                            subject: message.subject.to_string(),
                            payload: message.payload.to_vec(),
                            attempt,
                            lane: 0,
                            settle: Box::new(NatsSettle(message)),
                        };
                        if tx.send(delivery).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Ok(sub)
        })
    }

    fn dead_letter<'a>(
        &'a self,
        group: &'a str,
        message: &'a Outgoing,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            let dead = Outgoing {
                subject: super::dead_letter_subject(&self.system, group),
                message_id: format!("dead-{group}-{}", message.message_id),
                payload: message.payload.clone(),
            };
            self.publish_to(std::slice::from_ref(&dead)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_for_jetstream() {
        assert_eq!(stream_name("my-shop", "EVENTS"), "MY_SHOP_EVENTS");
        assert_eq!(
            consumer_name("order-history", "shop.events.OrderCreated"),
            "order-history_OrderCreated"
        );
    }
}
