//! RabbitMQ adapter (AMQP 0-9-1, `lapin`). Events go to one durable topic exchange per system
//! (`<system>.events`, routing key = subject). A consumer group is one durable quorum queue
//! (`<system>.<group>`) bound to its subjects and shared by the group's instances; quorum queues
//! count redeliveries (`x-delivery-count`). Every queue of the system's topology is declared at
//! connect, so an event published before its consumer first starts is kept. Publishes are
//! persistent and wait for publisher confirms. Dead letters go to the durable queue
//! `<system>.dead.<group>`.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use super::{
    BoxFuture, Broker, BrokerConfig, BrokerError, Delivery, Outgoing, Settle, Subscription,
};

pub struct Rabbit {
    connection: Connection,
    publisher: Channel,
    system: String,
}

fn exchange(system: &str) -> String {
    format!("{system}.events")
}

fn queue(system: &str, group: &str) -> String {
    format!("{system}.{group}")
}

fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// The delivery count of a quorum queue's `x-delivery-count` header, as an attempt number.
fn attempt_of(properties: &BasicProperties, redelivered: bool) -> u32 {
    let count = properties.headers().as_ref().and_then(|h| {
        h.inner().get("x-delivery-count").and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::ShortInt(n) => u32::try_from(*n).ok(),
            _ => None,
        })
    });
    match count {
        Some(n) => n.saturating_add(1),
        None if redelivered => 2,
        None => 1,
    }
}

impl Rabbit {
    pub async fn connect(config: &BrokerConfig) -> Result<Self, BrokerError> {
        let err = |e: &dyn std::fmt::Display| BrokerError::Connect {
            url: config.url.clone(),
            message: e.to_string(),
        };
        let connection = Connection::connect(&config.url, ConnectionProperties::default())
            .await
            .map_err(|e| err(&e))?;
        let publisher = connection.create_channel().await.map_err(|e| err(&e))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| err(&e))?;
        publisher
            .exchange_declare(
                exchange(&config.system).as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| err(&e))?;
        let rabbit = Self {
            connection,
            publisher,
            system: config.system.clone(),
        };
        for (group, event_type) in &config.topology {
            rabbit
                .declare_group(
                    &rabbit.publisher,
                    group,
                    &[config.event_subject(event_type)],
                )
                .await
                .map_err(|e| err(&e))?;
        }
        Ok(rabbit)
    }

    async fn declare_group(
        &self,
        channel: &Channel,
        group: &str,
        subjects: &[String],
    ) -> Result<String, BrokerError> {
        let name = queue(&self.system, group);
        let fail = |e: lapin::Error| BrokerError::Subscribe(format!("queue {name}: {e}"));
        channel
            .queue_declare(name.as_str().into(), durable_queue(), quorum())
            .await
            .map_err(fail)?;
        for subject in subjects {
            channel
                .queue_bind(
                    name.as_str().into(),
                    exchange(&self.system).as_str().into(),
                    subject.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(fail)?;
        }
        Ok(name)
    }

    async fn publish_with(
        &self,
        exchange: &str,
        batch: &[Outgoing],
        routing: impl Fn(&Outgoing) -> String,
    ) -> Result<(), BrokerError> {
        let fail = |confirmed: usize, e: &dyn std::fmt::Display| BrokerError::Publish {
            confirmed,
            message: e.to_string(),
        };
        let mut pending = Vec::with_capacity(batch.len());
        for m in batch {
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(m.message_id.as_str().into());
            let sent = self
                .publisher
                .basic_publish(
                    exchange.into(),
                    routing(m).as_str().into(),
                    BasicPublishOptions::default(),
                    &m.payload,
                    properties,
                )
                .await;
            match sent {
                Ok(confirm) => pending.push(confirm),
                Err(e) => {
                    let confirmed = settle_confirms(pending).await;
                    return Err(fail(confirmed, &e));
                }
            }
        }
        let total = pending.len();
        let confirmed = settle_confirms(pending).await;
        if confirmed == total {
            Ok(())
        } else {
            Err(fail(confirmed, &"the broker did not confirm every message"))
        }
    }
}

/// Awaits publisher confirms in order; returns how many of the first ones were acks.
async fn settle_confirms(pending: Vec<lapin::PublisherConfirm>) -> usize {
    super::confirmed_prefix(
        pending
            .into_iter()
            .map(|confirm| async move { matches!(confirm.await, Ok(c) if c.is_ack()) })
            .collect(),
    )
    .await
}

struct RabbitSettle(lapin::Acker);

impl Settle for RabbitSettle {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), BrokerError>> {
        Box::pin(async move {
            self.0
                .ack(BasicAckOptions::default())
                .await
                .map(|_| ())
                .map_err(|e| BrokerError::Ack(e.to_string()))
        })
    }
    /// RabbitMQ has no delayed NACK: the delivery stays unacknowledged for `after`, then goes
    /// back to the queue. The wait runs in the background, so other deliveries go on.
    fn retry(self: Box<Self>, after: Duration) -> BoxFuture<'static, Result<(), BrokerError>> {
        Box::pin(async move {
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                if let Err(e) = self.0.nack(requeue).await {
                    tracing::warn!(error = %e, "rabbitmq: requeue failed; the broker redelivers on reconnect");
                }
            });
            Ok(())
        })
    }
}

impl Broker for Rabbit {
    fn kind(&self) -> &'static str {
        "rabbitmq"
    }

    fn publish<'a>(&'a self, batch: &'a [Outgoing]) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            self.publish_with(&exchange(&self.system), batch, |m| m.subject.clone())
                .await
        })
    }

    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        subjects: &'a [String],
    ) -> BoxFuture<'a, Result<Subscription, BrokerError>> {
        Box::pin(async move {
            let fail = |e: lapin::Error| BrokerError::Subscribe(e.to_string());
            let channel = self.connection.create_channel().await.map_err(fail)?;
            // Up to 256 unacknowledged: while the consumer handles one batch (64) in its
            // transaction, the next ones are already on their way instead of waiting for its acks.
            channel
                .basic_qos(256, BasicQosOptions::default())
                .await
                .map_err(fail)?;
            let name = self.declare_group(&channel, group, subjects).await?;
            let mut consumer = channel
                .basic_consume(
                    name.as_str().into(),
                    format!("{group}-{}", uuid::Uuid::new_v4().simple())
                        .as_str()
                        .into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(fail)?;
            let (tx, sub) = Subscription::channel(64);
            tokio::spawn(async move {
                // Keeps the channel open as long as the subscription lives.
                let _channel = channel;
                loop {
                    let next = tokio::select! {
                        () = tx.closed() => break,
                        next = consumer.next() => next,
                    };
                    let delivery = match next {
                        Some(Ok(d)) => d,
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "rabbitmq: consumer failed; resubscribing");
                            break;
                        }
                        None => break,
                    };
                    let attempt = attempt_of(&delivery.properties, delivery.redelivered);
                    let delivery = Delivery {
                        subject: delivery.routing_key.to_string(),
                        payload: delivery.data,
                        attempt,
                        lane: 0,
                        settle: Box::new(RabbitSettle(delivery.acker)),
                    };
                    if tx.send(delivery).await.is_err() {
                        break;
                    }
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
            let name = super::dead_letter_subject(&self.system, group);
            self.publisher
                .queue_declare(name.as_str().into(), durable_queue(), FieldTable::default())
                .await
                .map_err(|e| BrokerError::Publish {
                    confirmed: 0,
                    message: e.to_string(),
                })?;
            self.publish_with("", std::slice::from_ref(message), |_| name.clone())
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_count_header_is_the_attempt() {
        let mut headers = FieldTable::default();
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(2));
        let props = BasicProperties::default().with_headers(headers);
        assert_eq!(attempt_of(&props, true), 3);
        assert_eq!(attempt_of(&BasicProperties::default(), false), 1);
        assert_eq!(attempt_of(&BasicProperties::default(), true), 2);
        assert_eq!(queue("shop", "customers"), "shop.customers");
    }
}
