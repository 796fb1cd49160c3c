//! Assembles one service's view from the concern modules; decides nothing itself beyond which
//! concerns apply to the service's style.

use serde::Serialize;

use super::aggregate::{AggregateView, aggregate_view};
use super::bff::FragmentView;
use super::calls::{CallView, call_views};
use super::entity::{EntityView, entity_view};
use super::messaging::{
    HandlerView, MessagingView, PublishedOn, has_messaging, messaging_view, published_events,
};
use super::read_model::{ViewView, view_view};
use super::saga::choreography::{self, SagaFileView};
use super::saga::orchestration::{self, OrchestrationView, ParticipantView};
use crate::blueprint::{Blueprint, Field, Kind, Service, Store, Style};
use crate::names::{to_pascal, to_snake};

#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub name: String,
    /// The processes the blueprint declares as this service's callers: the only service
    /// identities it accepts (filled in by [`super::system::system_view`]).
    pub callers: Vec<String>,
    /// The cargo package, named for the system (`shop-orders`), so two systems built into one
    /// target directory never share artifacts; its binary keeps the service's name.
    pub package: String,
    pub snake: String,
    pub pascal: String,
    pub style: Style,
    /// It serves an HTTP API of its own (every style but a worker).
    pub serves_api: bool,
    /// Its code holds uuids, dates and decimals of records (an API, or clients of the services
    /// it calls): it depends on `uuid`, `chrono` and (when used) `rust_decimal`.
    pub value_crates: bool,
    pub port: u16,
    pub has_db: bool,
    pub database: String,
    pub publishes: Vec<String>,
    pub consumes: Vec<String>,
    pub entities: Vec<EntityView>,
    /// Views of a read model.
    pub views: Vec<ViewView>,
    pub uses_decimal: bool,
    pub uses_date: bool,
    /// Events through the outbox and consumers; `None` when the service has none (or this
    /// version does not generate them for its style or broker).
    pub messaging: Option<MessagingView>,
    /// Clients of the services it calls synchronously.
    pub calls: Vec<CallView>,
    /// The call in the clients' doc example: reading the first called service's first exposed
    /// entity (`get_product(id, token)`), else its first exposed aggregate or view, else its
    /// OpenAPI document, through the untyped `get`.
    pub client_example: String,
    /// Aggregates of an event-sourced service.
    pub aggregates: Vec<AggregateView>,
    /// Choreography sagas it owns or takes part in.
    pub sagas: Vec<SagaFileView>,
    /// It runs steps of a saga (has `steps/`).
    pub saga_steps: bool,
    /// It owns a saga.
    pub saga_owner: bool,
    /// The events whose publication starts a saga it owns (`sagas::started_by`).
    pub saga_triggers: Vec<SagaTriggerView>,
    /// The sagas it owns without a status entity: their user-owned outcome hooks.
    pub outcomes: Vec<OutcomeView>,
    /// Orchestration sagas it owns.
    pub orchestrations: Vec<OrchestrationView>,
    /// Orchestration sagas it takes part in.
    pub participations: Vec<ParticipantView>,
    /// Events between two snapshots of an aggregate.
    pub snapshot_every: u32,
    /// The web shell's fragments it serves (`src/fragments.rs`, templates in `fragments/`).
    pub fragments: Vec<FragmentView>,
}

fn kinds(f: &Field) -> Vec<&Kind> {
    match &f.ty.value.kind {
        Kind::List(inner) => vec![&f.ty.value.kind, inner.as_ref()],
        k => vec![k],
    }
}

pub fn service_view(s: &Service, bp: &Blueprint) -> ServiceView {
    let all_fields: Vec<&Field> = s
        .entities
        .iter()
        .flat_map(|e| e.fields.iter())
        .chain(s.views.iter().flat_map(|v| v.fields.iter()))
        .collect();
    let called: Vec<&Field> = s
        .calls
        .iter()
        .filter_map(|c| bp.services.iter().find(|x| x.name.value == c.service.value))
        .flat_map(|x| x.entities.iter().flat_map(|e| e.fields.iter()))
        .collect();
    let commanded = s
        .aggregates
        .iter()
        .flat_map(|a| a.commands.iter())
        .filter_map(|c| bp.events.iter().find(|e| e.name.value == c.event.value))
        .flat_map(|e| e.fields.iter());
    let all_fields: Vec<&Field> = all_fields
        .into_iter()
        .chain(called)
        .chain(commanded)
        .collect();
    let uses = |k: fn(&Kind) -> bool| all_fields.iter().any(|f| kinds(f).into_iter().any(k));
    let with_sagas = has_messaging(s, bp) && s.store.value == Store::Postgres;
    let sagas = if with_sagas {
        choreography::saga_files(bp, s)
    } else {
        Vec::new()
    };
    let (orchestrations, participations) = if with_sagas {
        (
            orchestration::owned(bp, &s.name.value),
            orchestration::participates(bp, &s.name.value),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let saga_calls = choreography::calls(&sagas);
    let mut view = ServiceView {
        callers: Vec::new(),
        package: format!("{}-{}", bp.system.name.value, s.name.value),
        name: s.name.value.clone(),
        snake: to_snake(&s.name.value),
        pascal: to_pascal(&s.name.value),
        style: s.style.value,
        serves_api: s.style.value != Style::Worker,
        value_crates: s.style.value != Style::Worker || !s.calls.is_empty(),
        port: s.port.value,
        has_db: s.store.value == Store::Postgres,
        database: to_snake(&s.name.value),
        publishes: published_events(s, bp),
        consumes: s.consumes.iter().map(|p| p.value.clone()).collect(),
        entities: if s.style.value == Style::Crud {
            s.entities.iter().map(entity_view).collect()
        } else {
            Vec::new()
        },
        views: if s.style.value == Style::ReadModel {
            s.views.iter().filter_map(|v| view_view(v, bp)).collect()
        } else {
            Vec::new()
        },
        // A participant's default step refuses a non-positive amount (a decimal).
        uses_decimal: uses(|k| matches!(k, Kind::Decimal))
            || participations
                .iter()
                .flat_map(|p| &p.steps)
                .any(|s| s.amount.is_some() || s.reserve.is_some()),
        uses_date: uses(|k| matches!(k, Kind::Date)),
        messaging: messaging_view(s, bp, &saga_calls).map(|mut m| {
            // Orchestration messages: commands out and replies in at the owner, the reverse
            // at participants.
            for o in &orchestrations {
                m.publishes
                    .extend(o.participants.iter().map(|p| p.command.clone()));
                m.handlers.push(HandlerView {
                    event: o.reply.clone(),
                    module: to_snake(&o.reply),
                    projects: Vec::new(),
                    sagas: vec![format!("{}::on_reply", o.snake)],
                });
            }
            for p in &participations {
                m.publishes.push(p.reply.clone());
                m.handlers.push(HandlerView {
                    event: p.command.clone(),
                    module: to_snake(&p.command),
                    projects: Vec::new(),
                    sagas: vec![format!("{}::on_command", p.snake)],
                });
            }
            // Choreography: `<Saga>Failed` out at the owner, in at the participants that
            // compensate on it.
            for g in &sagas {
                if let Some(failed) = g.owner.as_ref().and_then(|o| o.failed_message.clone()) {
                    m.publishes.push(failed);
                }
                for st in &g.steps {
                    let Some(c) = &st.compensation else { continue };
                    if c.on != choreography::failed_message_of(&g.name)
                        || m.handlers.iter().any(|h| h.event == c.on)
                    {
                        continue;
                    }
                    m.handlers.push(HandlerView {
                        event: c.on.clone(),
                        module: c.on_snake.clone(),
                        projects: Vec::new(),
                        sagas: saga_calls
                            .iter()
                            .filter(|x| x.event == c.on)
                            .map(|x| x.path.clone())
                            .collect(),
                    });
                }
            }
            m
        }),
        saga_steps: sagas.iter().any(|g| !g.steps.is_empty()) || !participations.is_empty(),
        saga_owner: sagas.iter().any(|g| g.owner.is_some()) || !orchestrations.is_empty(),
        saga_triggers: sagas
            .iter()
            .filter_map(|g| {
                let o = g.owner.as_ref()?;
                Some(SagaTriggerView {
                    event: o.trigger.clone(),
                    saga: g.snake.clone(),
                })
            })
            .chain(orchestrations.iter().filter_map(|o| {
                Some(SagaTriggerView {
                    event: o.trigger.as_ref()?.event.clone(),
                    saga: o.snake.clone(),
                })
            }))
            .collect(),
        outcomes: sagas
            .iter()
            .filter_map(|g| {
                let o = g.owner.as_ref()?;
                o.status.is_none().then(|| OutcomeView {
                    saga: g.name.clone(),
                    snake: g.snake.clone(),
                    data: o.trigger.clone(),
                })
            })
            .chain(
                orchestrations
                    .iter()
                    .filter(|o| o.status.is_none())
                    .map(|o| OutcomeView {
                        saga: o.name.clone(),
                        snake: o.snake.clone(),
                        data: format!("{}Data", o.pascal),
                    }),
            )
            .collect(),
        orchestrations,
        participations,
        sagas,
        client_example: String::new(),
        calls: call_views(s, bp),
        aggregates: if s.style.value == Style::EventSourced {
            let publishes = published_events(s, bp);
            s.aggregates
                .iter()
                .map(|a| aggregate_view(a, &publishes, bp))
                .collect()
        } else {
            Vec::new()
        },
        snapshot_every: s.snapshot_every.value,
        fragments: super::bff::fragments_served_by(bp, &s.name.value),
    };
    view.client_example = client_example(s, bp, &view.calls);
    if let Some(m) = &view.messaging {
        for e in &mut view.entities {
            e.published = PublishedOn::of(&m.auto, &e.name);
        }
    }
    view
}

/// Publishing `event` starts saga `saga` (snake).
#[derive(Debug, Clone, Serialize)]
pub struct SagaTriggerView {
    pub event: String,
    pub saga: String,
}

/// The user-owned outcome hooks of a saga whose owner has no status entity.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeView {
    pub saga: String,
    pub snake: String,
    /// The data the hooks get (a contracts type: the trigger, or `<Saga>Data`).
    pub data: String,
}

/// See [`ServiceView::client_example`].
fn client_example(s: &Service, bp: &Blueprint, calls: &[CallView]) -> String {
    let Some(first) = calls.first() else {
        return String::new();
    };
    if let Some(e) = first.entities.first() {
        return format!("get_{}(id, token)", e.snake);
    }
    let callee = s.calls.first().and_then(|c| bp.service(&c.service.value));
    let path = callee.and_then(|c| {
        c.aggregates
            .iter()
            .filter_map(|a| a.expose.as_ref())
            .chain(c.views.iter().filter_map(|v| v.expose.as_ref()))
            .next()
    });
    match path {
        Some(x) => format!(
            "get::<serde_json::Value>(&format!(\"{}/{{id}}\"), token)",
            x.path.value
        ),
        None => "get::<serde_json::Value>(\"/openapi.json\", token)".into(),
    }
}
