//! View models of orchestration sagas: the owner's state machine and how it starts, the typed
//! command and reply messages in `contracts`, and each participant's command handler.
//!
//! - How an instance starts (`blueprint::saga_shape`): with `trigger`, in the transaction that
//!   publishes that event (the data is the event); else `POST {entity path}/{saga}` creates the
//!   owner's entity with statuses, or else its first entity, and starts it (the data is the
//!   entity: `<entity>-id` and its fields); an owner without entities is started by
//!   `POST /sagas/{saga}` (empty data), or by its code calling `sagas::<saga>::begin`.
//! - The owner sends `<Saga><Participant>Command { saga_id, action, data }` to each step's
//!   service in turn and waits for `<Saga>Reply { saga_id, action, ok, reason }`. A refused or
//!   timed-out step makes it send the compensations of the completed steps in reverse order.
//! - The end: an owner entity with statuses moves to its success or failure status (and
//!   `<Entity><Status>` is published), as for choreography; without one, the owner's
//!   user-owned outcome hooks (`outcomes/<saga>.rs`) get the data.
//! - Participants run each action once per instance (step record) and answer again, from the
//!   record, when a command is repeated (a resumed owner sends the current command again).
//! - Defaults of the user-owned step bodies: `reserve-<x>` as in choreography; any other action
//!   refuses a data amount (the first decimal field) that is not positive, else accepts;
//!   compensations of other actions have nothing to undo.

use serde::Serialize;

use super::choreography::{ReserveView, StatusView, reserve_view, service, status_view};
use crate::blueprint::{Blueprint, FieldType, Kind, Saga, SagaStyle, saga_shape};
use crate::names::{rust_ident, to_kebab, to_pascal, to_snake};
use crate::plan::model::field::{FieldView, field_view};

#[derive(Debug, Clone, Serialize)]
pub struct OrchestrationView {
    pub name: String,
    pub snake: String,
    pub pascal: String,
    pub owner: String,
    pub timeout_ms: u64,
    /// Started over HTTP: `POST {path}`; `None` when the trigger event starts it.
    pub path: Option<String>,
    pub write_roles: Vec<String>,
    /// The owner entity the HTTP start creates from the request body.
    pub creates: Option<CreateView>,
    /// Started when the owner publishes this event.
    pub trigger: Option<TriggerView>,
    /// The data's fields: the trigger's, or the created entity's id and fields, or none.
    pub data: Vec<FieldView>,
    /// The data is the trigger event itself (`contracts::<Saga>Data` names it).
    pub data_is: Option<String>,
    /// `order_id: row.id, customer_id: row.customer_id, …` (with `creates`).
    pub data_from_row: Vec<super::choreography::FieldExpr>,
    /// The owner entity that follows the saga, if one has statuses.
    pub status: Option<StatusView>,
    pub reply: String,
    pub steps: Vec<OrchestratedStep>,
    /// One command type per participant service.
    pub participants: Vec<ParticipantCommand>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateView {
    pub entity: String,
    pub table: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TriggerView {
    pub event: String,
    /// The instance id in the trigger's envelope `trigger`.
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrchestratedStep {
    pub action: String,
    pub compensation: Option<String>,
    pub service: String,
    pub command: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParticipantCommand {
    pub service: String,
    pub command: String,
}

/// What one participant service generates for one orchestration saga.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantView {
    pub saga: String,
    pub snake: String,
    pub pascal: String,
    pub command: String,
    pub reply: String,
    pub steps: Vec<ParticipantStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParticipantStep {
    pub action: String,
    pub action_snake: String,
    pub compensation: Option<String>,
    pub compensation_snake: Option<String>,
    pub reserve: Option<ReserveView>,
    /// The data's amount (`data.total`) a default action refuses when not positive.
    pub amount: Option<String>,
}

/// Contracts' view of a data field: enums of the owner entity travel as text.
fn data_field(f: &crate::blueprint::Field, owner: &str, i: usize) -> FieldView {
    let mut v = field_view(f, owner, i);
    if matches!(f.ty.value.kind, Kind::Enum(_)) {
        v.rust_type = if f.ty.value.optional {
            "Option<String>".into()
        } else {
            "String".into()
        };
        v.rust_base = "String".into();
        v.copy = false;
    }
    if is_enum_list(&f.ty.value.kind) {
        v.rust_type = if f.ty.value.optional {
            "Option<Vec<String>>".into()
        } else {
            "Vec<String>".into()
        };
        v.rust_base = "Vec<String>".into();
    }
    v
}

/// `field` of the entity row, as the data's field `f` holds it.
fn from_row(entity_field: &crate::blueprint::Field, f: &FieldView) -> String {
    let kind = &entity_field.ty.value.kind;
    if matches!(kind, Kind::Enum(_)) {
        if f.optional {
            format!("row.{}.map(|v| v.as_str().to_string())", f.ident)
        } else {
            format!("row.{}.as_str().to_string()", f.ident)
        }
    } else if is_enum_list(kind) {
        let texts = ".iter().map(|v| v.as_str().to_string()).collect()";
        if f.optional {
            format!("row.{}.as_ref().map(|l| l{texts})", f.ident)
        } else {
            format!("row.{}{texts}", f.ident)
        }
    } else if f.copy {
        format!("row.{}", f.ident)
    } else {
        format!("row.{}.clone()", f.ident)
    }
}

pub fn view(bp: &Blueprint, saga: &Saga) -> Option<OrchestrationView> {
    if saga.style != SagaStyle::Orchestration {
        return None;
    }
    let owner = service(bp, &saga.owner.value)?;
    let pascal = to_pascal(&saga.name.value);
    let status_entity = saga_shape::status_entity(bp, saga);
    let trigger = saga_shape::trigger(bp, saga);
    let key = saga_shape::key(bp, saga);
    // The HTTP start creates the status entity, or else the owner's first entity.
    let created = match trigger {
        Some(_) => None,
        None => status_entity.or_else(|| owner.entities.first()),
    };
    let status = status_entity.and_then(|e| status_view(bp, owner, e));
    let (data, data_from_row) = match (trigger, created) {
        (Some(t), _) => (
            t.fields
                .iter()
                .enumerate()
                .map(|(i, f)| field_view(f, &t.name.value, i))
                .collect(),
            Vec::new(),
        ),
        (None, Some(entity)) => {
            let own_id = format!("{}-id", to_kebab(&entity.name.value));
            let id_field = crate::blueprint::Field {
                name: crate::blueprint::Sp::new(own_id, 0..0),
                ty: crate::blueprint::Sp::new(
                    FieldType {
                        kind: Kind::Uuid,
                        optional: false,
                    },
                    0..0,
                ),
            };
            let data: Vec<FieldView> = std::iter::once(&id_field)
                .chain(entity.fields.iter())
                .enumerate()
                .map(|(i, f)| data_field(f, &entity.name.value, i))
                .collect();
            let from: Vec<super::choreography::FieldExpr> = data
                .iter()
                .enumerate()
                .map(|(i, f)| super::choreography::FieldExpr {
                    ident: f.ident.clone(),
                    expr: match i.checked_sub(1).and_then(|i| entity.fields.get(i)) {
                        None => "row.id".into(),
                        Some(e) => from_row(e, f),
                    },
                })
                .collect();
            (data, from)
        }
        (None, None) => (Vec::new(), Vec::new()),
    };
    let steps: Vec<OrchestratedStep> = saga
        .steps
        .iter()
        .map(|s| OrchestratedStep {
            action: s.action.value.clone(),
            compensation: s.compensation.as_ref().map(|c| c.value.clone()),
            service: s.service.value.clone(),
            command: format!("{pascal}{}Command", to_pascal(&s.service.value)),
        })
        .collect();
    let mut participants: Vec<ParticipantCommand> = Vec::new();
    for s in &steps {
        if !participants.iter().any(|p| p.service == s.service) {
            participants.push(ParticipantCommand {
                service: s.service.clone(),
                command: s.command.clone(),
            });
        }
    }
    let path = match (trigger, created) {
        (Some(_), _) => None,
        (None, Some(e)) => Some(format!(
            "{}/{}",
            e.expose.as_ref().map_or_else(
                || format!("/{}", to_kebab(&e.name.value)),
                |x| x.path.value.clone()
            ),
            saga.name.value
        )),
        (None, None) => Some(format!("/sagas/{}", saga.name.value)),
    };
    Some(OrchestrationView {
        name: saga.name.value.clone(),
        snake: to_snake(&saga.name.value),
        owner: owner.name.value.clone(),
        timeout_ms: saga.timeout.millis,
        path,
        write_roles: created
            .and_then(|e| e.expose.as_ref())
            .iter()
            .flat_map(|x| x.write.iter().map(|r| r.value.clone()))
            .collect(),
        creates: created.map(|e| CreateView {
            entity: e.name.value.clone(),
            table: to_snake(&e.name.value),
        }),
        trigger: trigger.map(|t| TriggerView {
            event: t.name.value.clone(),
            id: key.as_deref().map_or_else(
                || "trigger.correlation_id".to_string(),
                |k| format!("trigger.payload.{}", rust_ident(&to_snake(k))),
            ),
        }),
        data,
        data_is: trigger.map(|t| t.name.value.clone()),
        data_from_row,
        status,
        reply: format!("{pascal}Reply"),
        steps,
        participants,
        pascal,
    })
}

/// The orchestration sagas `service` owns.
pub fn owned(bp: &Blueprint, service: &str) -> Vec<OrchestrationView> {
    bp.sagas
        .iter()
        .filter(|s| s.owner.value == service)
        .filter_map(|s| view(bp, s))
        .collect()
}

/// Every generated orchestration saga of the system.
pub fn all(bp: &Blueprint) -> Vec<OrchestrationView> {
    bp.sagas.iter().filter_map(|s| view(bp, s)).collect()
}

/// The orchestration sagas `service` takes part in, with its steps.
pub fn participates(bp: &Blueprint, service_name: &str) -> Vec<ParticipantView> {
    let Some(svc) = service(bp, service_name) else {
        return Vec::new();
    };
    all(bp)
        .into_iter()
        .filter_map(|o| {
            let command = o
                .participants
                .iter()
                .find(|p| p.service == service_name)?
                .command
                .clone();
            let fields: Vec<(String, FieldType)> = o
                .data
                .iter()
                .map(|f| (f.name.clone(), field_type(f)))
                .collect();
            let steps = o
                .steps
                .iter()
                .filter(|s| s.service == service_name)
                .map(|s| ParticipantStep {
                    action_snake: to_snake(&s.action),
                    compensation_snake: s.compensation.as_deref().map(to_snake),
                    compensation: s.compensation.clone(),
                    reserve: reserve_view(svc, &s.action, &fields, "data"),
                    amount: o
                        .data
                        .iter()
                        .find(|f| f.rust_type == "rust_decimal::Decimal")
                        .map(|f| format!("data.{}", rust_ident(&f.snake))),
                    action: s.action.clone(),
                })
                .collect();
            Some(ParticipantView {
                saga: o.name.clone(),
                snake: o.snake.clone(),
                pascal: o.pascal.clone(),
                command,
                reply: o.reply.clone(),
                steps,
            })
        })
        .collect()
}

/// The blueprint type of a data field (for the reserve recipe: uuid and decimal matter).
/// A list of an enum: it travels in contracts as a list of its wire texts.
fn is_enum_list(kind: &Kind) -> bool {
    matches!(kind, Kind::List(inner) if matches!(inner.as_ref(), Kind::Enum(_)))
}

fn field_type(f: &FieldView) -> FieldType {
    let kind = match f.rust_base.as_str() {
        "uuid::Uuid" => Kind::Uuid,
        "rust_decimal::Decimal" => Kind::Decimal,
        _ => Kind::String,
    };
    FieldType {
        kind,
        optional: f.optional,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_is_orchestrated_by_orders() {
        let bp = crate::blueprint::load(include_str!("../../../../../blueprints/shop.toml"))
            .expect("shop")
            .blueprint;
        let o = owned(&bp, "orders");
        assert_eq!(o.len(), 1);
        let c = &o[0];
        assert_eq!(
            (c.pascal.as_str(), c.path.as_deref()),
            ("Checkout", Some("/orders/checkout"))
        );
        let data: Vec<&str> = c.data.iter().map(|f| f.snake.as_str()).collect();
        assert_eq!(
            data,
            ["order_id", "customer_id", "total", "status", "reason"]
        );
        let commands: Vec<&str> = c.steps.iter().map(|s| s.command.as_str()).collect();
        assert_eq!(
            commands,
            ["CheckoutCustomersCommand", "CheckoutPaymentsCommand"]
        );
        let customers = participates(&bp, "customers");
        assert!(customers[0].steps[0].reserve.is_some());
        let payments = participates(&bp, "payments");
        assert_eq!(payments[0].steps[0].amount.as_deref(), Some("data.total"));
        assert!(participates(&bp, "products").is_empty());
    }
}
