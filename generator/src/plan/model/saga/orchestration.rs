//! View models of orchestration sagas: the owner's state machine and start endpoint, the
//! typed command and reply messages in `contracts`, and each participant's command handler.
//!
//! - `POST {entity path}/{saga}` on the owner creates the entity (the first of the owner's
//!   entities with a `status` enum, in its first status) and starts the instance. The saga's
//!   data (`<Saga>Data` in contracts) is the entity: its id (`<entity>-id`) and its fields.
//! - The owner sends `<Saga><Participant>Command { saga_id, action, data }` to each step's
//!   service in turn and waits for `<Saga>Reply { saga_id, action, ok, reason }`. A refused or
//!   timed-out step makes it send the compensations of the completed steps in reverse order;
//!   the entity ends in the success or failure status as for choreography (same conventions,
//!   same `<Entity><Status>` events).
//! - Participants run each action once per instance (step record) and answer again, from the
//!   record, when a command is repeated (a resumed owner sends the current command again).
//! - Defaults of the user-owned step bodies: `reserve-<x>` as in choreography; any other action
//!   refuses a data amount (the first decimal field) that is not positive, else accepts;
//!   compensations of other actions have nothing to undo.

use serde::Serialize;

use super::choreography::{
    BuildView, Outcomes, ReserveView, outcomes, reserve_view, service, status_values,
};
use crate::blueprint::{Blueprint, FieldType, Kind, Saga, SagaStyle};
use crate::names::{rust_ident, to_kebab, to_pascal, to_snake};
use crate::plan::model::field::{FieldView, enum_name, field_view};

#[derive(Debug, Clone, Serialize)]
pub struct OrchestrationView {
    pub name: String,
    pub snake: String,
    pub pascal: String,
    pub owner: String,
    pub timeout_ms: u64,
    pub entity: String,
    pub table: String,
    /// `POST {entity path}/{saga}` starts it.
    pub path: String,
    pub write_roles: Vec<String>,
    /// The data: the entity id field, then the entity's fields.
    pub data: Vec<FieldView>,
    /// `order_id: row.id, customer_id: row.customer_id, …`
    pub data_from_row: Vec<super::choreography::FieldExpr>,
    pub running: String,
    /// The running status as the Rust value of the entity's `status` field
    /// (`crate::model::OrderStatus::Pending`).
    pub running_value: String,
    pub success_status: String,
    pub failure_status: String,
    pub reason_column: bool,
    pub success_event: Option<BuildView>,
    pub failure_event: Option<BuildView>,
    pub reply: String,
    pub steps: Vec<OrchestratedStep>,
    /// One command type per participant service.
    pub participants: Vec<ParticipantCommand>,
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

/// Why an orchestration saga cannot be generated, if it cannot.
pub fn unsupported(bp: &Blueprint, saga: &Saga) -> Option<String> {
    view(bp, saga).err()
}

pub fn view(bp: &Blueprint, saga: &Saga) -> Result<OrchestrationView, String> {
    if saga.style != SagaStyle::Orchestration {
        return Err("choreography".into());
    }
    let owner = service(bp, &saga.owner.value).ok_or("unknown owner")?;
    let entity = owner
        .entities
        .iter()
        .find(|e| status_values(e).is_some())
        .ok_or_else(|| format!("no entity of `{}` has a `status` enum", owner.name.value))?;
    let Outcomes {
        running,
        success,
        failure,
        reason_column,
        success_event,
        failure_event,
    } = outcomes(bp, owner, entity)?;
    let own_id = format!("{}-id", to_kebab(&entity.name.value));
    let running_value = {
        let value = format!(
            "crate::model::{}::{}",
            enum_name(&entity.name.value, "status"),
            to_pascal(&running)
        );
        let optional = entity
            .fields
            .iter()
            .any(|f| f.name.value == "status" && f.ty.value.optional);
        if optional {
            format!("Some({value})")
        } else {
            value
        }
    };
    let pascal = to_pascal(&saga.name.value);
    let id_field = crate::blueprint::Field {
        name: crate::blueprint::Sp::new(own_id.clone(), 0..0),
        ty: crate::blueprint::Sp::new(
            FieldType {
                kind: Kind::Uuid,
                optional: false,
            },
            0..0,
        ),
    };
    let data_name = format!("{pascal}Data");
    let data: Vec<FieldView> = std::iter::once(&id_field)
        .chain(entity.fields.iter())
        .enumerate()
        .map(|(i, f)| {
            let mut v = field_view(f, &entity.name.value, i);
            // Enums of the entity are the service's own types; in contracts they travel as text.
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
        })
        .collect();
    let data_from_row = data
        .iter()
        .enumerate()
        .map(|(i, f)| super::choreography::FieldExpr {
            ident: f.ident.clone(),
            expr: if i == 0 {
                "row.id".into()
            } else if f.rust_base == "String"
                && matches!(
                    entity.fields.get(i - 1).map(|x| &x.ty.value.kind),
                    Some(Kind::Enum(_))
                )
            {
                if f.optional {
                    format!("row.{}.map(|v| v.as_str().to_string())", f.ident)
                } else {
                    format!("row.{}.as_str().to_string()", f.ident)
                }
            } else if entity
                .fields
                .get(i - 1)
                .is_some_and(|x| is_enum_list(&x.ty.value.kind))
            {
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
            },
        })
        .collect();
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
    let _ = data_name;
    Ok(OrchestrationView {
        name: saga.name.value.clone(),
        snake: to_snake(&saga.name.value),
        owner: owner.name.value.clone(),
        timeout_ms: saga.timeout.millis,
        entity: entity.name.value.clone(),
        table: to_snake(&entity.name.value),
        path: format!(
            "{}/{}",
            entity.expose.as_ref().map_or_else(
                || format!("/{}", to_kebab(&entity.name.value)),
                |x| x.path.value.clone()
            ),
            saga.name.value
        ),
        write_roles: entity
            .expose
            .iter()
            .flat_map(|x| x.write.iter().map(|r| r.value.clone()))
            .collect(),
        data,
        data_from_row,
        running,
        running_value,
        reason_column,
        success_event,
        failure_event,
        success_status: success,
        failure_status: failure,
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
        .filter_map(|s| view(bp, s).ok())
        .collect()
}

/// Every generated orchestration saga of the system.
pub fn all(bp: &Blueprint) -> Vec<OrchestrationView> {
    bp.sagas.iter().filter_map(|s| view(bp, s).ok()).collect()
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
            (c.pascal.as_str(), c.path.as_str()),
            ("Checkout", "/orders/checkout")
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
