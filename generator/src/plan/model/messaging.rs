//! Events of one service: what it publishes through the outbox, the handlers of what it
//! consumes, and the events the generated CRUD code publishes itself; plus the rules of which
//! services get messaging at all.

use serde::Serialize;

use super::field::field_view;
use super::saga::choreography::SagaCall;
use super::wire::BrokerIs;
use crate::blueprint::{Blueprint, Broker, Entity, FieldType, Kind, Service, Store, Style};
use crate::names::{rust_ident, to_kebab, to_snake};

/// How a service publishes and consumes events.
#[derive(Debug, Clone, Serialize)]
pub struct MessagingView {
    /// The runtime feature and broker kind: `nats` or `rabbitmq`.
    pub broker: Broker,
    /// The broker as booleans (config comments differ per broker).
    pub broker_is: BrokerIs,
    /// The runtime's `broker::BrokerKind` variant (`Nats`).
    pub broker_variant: &'static str,
    /// The local development broker URL of the service's config.
    pub broker_url: &'static str,
    pub publishes: Vec<String>,
    pub handlers: Vec<HandlerView>,
    /// Consumed events handled by user modules in `handlers/` (not by projections).
    pub user_handlers: Vec<HandlerView>,
    /// Events published by the generated CRUD code itself.
    pub auto: Vec<AutoPublishView>,
    /// Handlers run in a database transaction with inbox dedup; otherwise (a worker without a
    /// database) they run plain, deduplicated in memory.
    pub in_tx: bool,
    /// Tables of a read model's views (journaled for rebuilds).
    pub view_tables: Vec<String>,
    /// A worker: its default handlers render and send a mail.
    pub mails: bool,
}

/// A consumed event and the code that handles it.
#[derive(Debug, Clone, Serialize)]
pub struct HandlerView {
    pub event: String,
    /// Module of the handler (`credit_reserved`).
    pub module: String,
    /// Views this event feeds (snake names); empty for a user handler.
    pub projects: Vec<String>,
    /// Saga functions it runs (`place_order::reserve_credit`), in `sagas/`; empty for a user
    /// handler.
    pub sagas: Vec<String>,
}

/// The CRUD operation on which the generated code publishes an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Create,
    Update,
    Delete,
}

/// The events the generated CRUD code of one entity publishes, per operation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishedOn {
    pub create: Vec<AutoPublishView>,
    pub update: Vec<AutoPublishView>,
    pub delete: Vec<AutoPublishView>,
}

impl PublishedOn {
    /// The events of `auto` that `entity` publishes, by operation.
    pub fn of(auto: &[AutoPublishView], entity: &str) -> Self {
        let on = |t: Trigger| {
            auto.iter()
                .filter(|a| a.entity == entity && a.on == t)
                .cloned()
                .collect()
        };
        PublishedOn {
            create: on(Trigger::Create),
            update: on(Trigger::Update),
            delete: on(Trigger::Delete),
        }
    }
}

/// The broker URL a service's local config names (compose and Kubernetes override it).
fn local_broker_url(b: Broker) -> &'static str {
    match b {
        Broker::Rabbitmq => "amqp://guest:guest@localhost:5672/%2f",
        Broker::Kafka => "kafka://localhost:9092",
        Broker::Nats | Broker::None => "nats://localhost:4222",
    }
}

/// `OrderCreated` published on `create` of `Order`, each event field taken from the entity.
#[derive(Debug, Clone, Serialize)]
pub struct AutoPublishView {
    pub entity: String,
    /// `create`, `update` or `delete`.
    pub on: Trigger,
    pub event: String,
    pub assignments: Vec<AssignView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssignView {
    /// Event field (Rust identifier).
    pub field: String,
    /// Entity field it is copied from (Rust identifier, `id` for `<entity>-id`).
    pub from: String,
    /// Copied by value (`Copy` types) or cloned.
    pub copy: bool,
}

/// Whether `s` publishes or consumes any event.
pub fn has_events(s: &Service, bp: &Blueprint) -> bool {
    !published_events(s, bp).is_empty() || !s.consumes.is_empty()
}

/// The events `s` puts on the broker: its `publishes`, then the events its aggregates record
/// that another service consumes (recording one is publishing it, as `check` counts it).
pub fn published_events(s: &Service, bp: &Blueprint) -> Vec<String> {
    let mut out: Vec<String> = s.publishes.iter().map(|p| p.value.clone()).collect();
    let consumed = |e: &str| {
        bp.services
            .iter()
            .any(|x| x.consumes.iter().any(|c| c.value == e))
    };
    for e in s
        .aggregates
        .iter()
        .flat_map(|a| a.commands.iter().map(|c| &c.event.value))
    {
        if consumed(e) && !out.contains(e) {
            out.push(e.clone());
        }
    }
    out
}

/// Whether `s` owns or takes part in a saga: it sends or receives its messages even when it
/// publishes and consumes no event of its own.
pub fn in_saga(s: &Service, bp: &Blueprint) -> bool {
    bp.sagas.iter().any(|g| {
        g.owner.value == s.name.value || g.steps.iter().any(|st| st.service.value == s.name.value)
    })
}

/// Whether this version generates event messaging for `s`: a CRUD service or read model with a
/// database, or a worker, on a broker the runtime has an adapter for, that publishes, consumes
/// or takes part in a saga.
pub fn has_messaging(s: &Service, bp: &Blueprint) -> bool {
    let style_ok = match s.style.value {
        Style::Crud | Style::ReadModel => s.store.value == Store::Postgres,
        Style::Worker => s.store.value == Store::Postgres || !s.consumes.is_empty(),
        Style::EventSourced => s.store.value == Store::Postgres,
    };
    bp.platform.broker.value != Broker::None && style_ok && (has_events(s, bp) || in_saga(s, bp))
}

/// The events of `entity` named `<Entity>Created|Updated|Deleted` that `s` publishes and whose
/// every field the entity holds with the same type (`<entity>-id` is its id).
fn auto_publish(s: &Service, e: &Entity, bp: &Blueprint) -> Vec<AutoPublishView> {
    let own_id = format!("{}-id", to_kebab(&e.name.value));
    let mut out = Vec::new();
    for (suffix, on) in [
        ("Created", Trigger::Create),
        ("Updated", Trigger::Update),
        ("Deleted", Trigger::Delete),
    ] {
        let name = format!("{}{suffix}", e.name.value);
        if !s.publishes.iter().any(|p| p.value == name) {
            continue;
        }
        let Some(event) = bp.events.iter().find(|ev| ev.name.value == name) else {
            continue;
        };
        let uuid = FieldType {
            kind: Kind::Uuid,
            optional: false,
        };
        let assignments: Option<Vec<AssignView>> = event
            .fields
            .iter()
            .map(|f| {
                let field = rust_ident(&to_snake(&f.name.value));
                if f.name.value == own_id && f.ty.value == uuid {
                    return Some(AssignView {
                        field,
                        from: "id".into(),
                        copy: true,
                    });
                }
                let source = e.fields.iter().find(|x| x.name.value == f.name.value)?;
                let plain = !matches!(f.ty.value.kind, Kind::Enum(_))
                    && !matches!(&f.ty.value.kind, Kind::List(i) if matches!(i.as_ref(), Kind::Enum(_)));
                (source.ty.value == f.ty.value && plain).then(|| AssignView {
                    from: field.clone(),
                    field,
                    copy: field_view(f, &name, 0).copy,
                })
            })
            .collect();
        if let Some(assignments) = assignments {
            out.push(AutoPublishView {
                entity: e.name.value.clone(),
                on,
                event: name,
                assignments,
            });
        }
    }
    out
}

pub fn messaging_view(
    s: &Service,
    bp: &Blueprint,
    saga_calls: &[SagaCall],
) -> Option<MessagingView> {
    if !has_messaging(s, bp) {
        return None;
    }
    let in_tx = s.store.value == Store::Postgres;
    let handlers: Vec<HandlerView> = s
        .consumes
        .iter()
        .map(|c| HandlerView {
            event: c.value.clone(),
            module: to_snake(&c.value),
            projects: s
                .views
                .iter()
                .filter(|v| v.from.iter().any(|f| f.value == c.value))
                .map(|v| to_snake(&v.name.value))
                .collect(),
            sagas: saga_calls
                .iter()
                .filter(|x| x.event == c.value)
                .map(|x| x.path.clone())
                .collect(),
        })
        .collect();
    Some(MessagingView {
        broker: bp.platform.broker.value,
        broker_is: bp.platform.broker.value.into(),
        broker_url: local_broker_url(bp.platform.broker.value),
        broker_variant: match bp.platform.broker.value {
            Broker::Rabbitmq => "Rabbitmq",
            Broker::Kafka => "Kafka",
            Broker::Nats | Broker::None => "Nats",
        },
        publishes: if in_tx {
            published_events(s, bp)
        } else {
            Vec::new()
        },
        user_handlers: handlers
            .iter()
            .filter(|h| h.projects.is_empty() && h.sagas.is_empty())
            .cloned()
            .collect(),
        handlers,
        in_tx,
        view_tables: s.views.iter().map(|v| to_snake(&v.name.value)).collect(),
        mails: s.style.value == Style::Worker,
        auto: s
            .entities
            .iter()
            .flat_map(|e| auto_publish(s, e, bp))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::published_events;

    #[test]
    fn a_recorded_event_another_service_consumes_is_published() {
        // `parcels` lists nothing in `publishes`; its aggregate records `ParcelRegistered`,
        // which `couriers` consumes: it must reach the broker (it did not, and the saga it
        // triggers never ran).
        let text =
            include_str!("../../../../tests/random-regressions/sagas-without-conventions.toml");
        let bp = crate::blueprint::load(text).expect("valid").blueprint;
        let parcels = bp.service("parcels").expect("parcels");
        assert_eq!(published_events(parcels, &bp), ["ParcelRegistered"]);
        let system = crate::plan::system_view(&bp);
        let view = system
            .services
            .iter()
            .find(|s| s.name == "parcels")
            .expect("view");
        let m = view.messaging.as_ref().expect("messaging");
        assert!(m.publishes.contains(&"ParcelRegistered".to_string()));
    }

    #[test]
    fn a_saga_participant_without_events_of_its_own_gets_the_saga_messages() {
        // TeaStore's `payment` publishes and consumes nothing, but runs a step of `place-order`:
        // without messaging it silently got no command handler and the saga never ended.
        let text = include_str!("../../../../blueprints/teastore.toml");
        let bp = crate::blueprint::load(text).expect("valid").blueprint;
        let system = crate::plan::system_view(&bp);
        let payment = system
            .services
            .iter()
            .find(|s| s.name == "payment")
            .expect("payment");
        assert!(payment.messaging.is_some(), "no messaging");
        assert_eq!(payment.participations.len(), 1);
    }
}
