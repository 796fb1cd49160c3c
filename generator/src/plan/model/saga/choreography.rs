//! View models of choreography sagas: what the owner and each participant generate.
//!
//! The owner starts an instance in the transaction that publishes the saga's trigger
//! (`blueprint::saga_shape::trigger`), ends it on the last step's `on-success` or on any step's
//! `on-failure` or the timeout. Each participant runs its action on the event before it and
//! publishes `on-success` or `on-failure`; participants with a compensation undo their action
//! when the saga fails.
//!
//! What the blueprint does not say is filled in, never required (`docs/sagas.md`):
//! - the instance id is the trigger's key field when every saga event carries it, else the
//!   trigger's correlation id (every saga event is published with it);
//! - an owner entity with statuses (`saga_shape::status_entity`) moves to its success or failure
//!   status (and `reason`), and publishes `<Entity><Status>` when the owner publishes it;
//!   without one, the owner's user-owned outcome hooks get the trigger's data;
//! - participants compensate on the owner's failure event when they consume it and it carries
//!   the key, else on the generated `<Saga>Failed { saga_id, reason }`;
//! - a `reserve-<x>` action on a participant whose entity has decimal `<x>-limit` and
//!   `<x>-reserved` fields, named by the trigger's `<entity>-id`, reserves the trigger's first
//!   decimal field against the limit by default (and its compensation releases it); other
//!   actions accept by default.

use serde::Serialize;

use crate::blueprint::{Blueprint, Entity, Event, Kind, Saga, SagaStyle, Service, saga_shape};
use crate::names::{rust_ident, to_kebab, to_pascal, to_snake};
use crate::plan::model::field::{enum_name, field_view};

/// An event built field by field from Rust expressions.
#[derive(Debug, Clone, Serialize)]
pub struct BuildView {
    pub event: String,
    pub fields: Vec<FieldExpr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldExpr {
    pub ident: String,
    pub expr: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnerView {
    pub timeout_ms: u64,
    pub trigger: String,
    /// The instance id, from the trigger's envelope `trigger` (`trigger.payload.order_id`, or
    /// `trigger.correlation_id` when the saga's events carry no common id).
    pub start_id: String,
    /// The owner entity that follows the saga, if one has statuses.
    pub status: Option<StatusView>,
    /// `<Saga>Failed`, published when the saga fails, for participants that compensate on it.
    pub failed_message: Option<String>,
    /// The last step's `on-success`: the saga completes.
    pub completes_on: StepEvent,
    /// Intermediate steps' `on-success` events: the saga advances.
    pub advances_on: Vec<StepEvent>,
    /// Every step's `on-failure`: the saga fails with a reason.
    pub fails_on: Vec<FailureView>,
}

/// The owner entity a saga moves through its statuses (both styles).
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub entity: String,
    pub table: String,
    /// The status column (`status`, `state`).
    pub column: String,
    pub running: String,
    /// The running status as the Rust value of the entity's input field
    /// (`crate::model::OrderStatus::Pending`, in `Some(…)` when optional).
    pub running_value: String,
    pub success_status: String,
    pub failure_status: String,
    /// The entity has a `reason` text column, set on failure.
    pub reason_column: bool,
    pub success_event: Option<BuildView>,
    pub failure_event: Option<BuildView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepEvent {
    pub event: String,
    pub snake: String,
    pub step: usize,
    /// The instance id in the handled `event`.
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureView {
    pub event: String,
    pub snake: String,
    /// Expression of the reason (`event.payload.reason.as_str()` or a fixed text).
    pub reason: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub action: String,
    pub action_snake: String,
    pub trigger: String,
    pub trigger_snake: String,
    /// The instance id in the handled `event`.
    pub id: String,
    pub success: BuildView,
    pub failure: Option<BuildView>,
    pub compensation: Option<CompensationView>,
    pub reserve: Option<ReserveView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompensationView {
    pub name: String,
    pub snake: String,
    /// The owner's failure event that triggers it.
    pub on: String,
    pub on_snake: String,
    /// The instance id in the failure `event`.
    pub id: String,
    /// The event the compensation publishes (`CreditReleased` for `release-credit`), if any.
    pub event: Option<BuildView>,
}

/// The default body of a `reserve-<x>` action.
#[derive(Debug, Clone, Serialize)]
pub struct ReserveView {
    pub table: String,
    pub key_expr: String,
    pub limit: String,
    /// The limit in words (`credit limit`), for messages.
    pub limit_words: String,
    pub reserved: String,
    pub amount_expr: String,
}

/// One saga as one service sees it: the owner part, its steps, or both.
#[derive(Debug, Clone, Serialize)]
pub struct SagaFileView {
    pub name: String,
    pub snake: String,
    pub pascal: String,
    pub owner: Option<OwnerView>,
    pub steps: Vec<StepView>,
}

/// A call the consumer of `event` makes into a saga module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaCall {
    pub event: String,
    /// `place_order::reserve_credit`
    pub path: String,
}

fn event<'a>(bp: &'a Blueprint, name: &str) -> Option<&'a Event> {
    bp.events.iter().find(|e| e.name.value == name)
}

/// `CreditLimitExceeded` → `credit limit exceeded`.
fn humanize(event: &str) -> String {
    to_kebab(event).replace('-', " ")
}

/// Builds `target` from the fields of `source` of the same name and type (`prefix.field`), the
/// rest from `extra` or `Default::default()`.
fn build_from_event(
    target: &Event,
    source: &Event,
    prefix: &str,
    extra: &[(&str, &str)],
) -> BuildView {
    let fields = target
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let snake = to_snake(&f.name.value);
            let ident = rust_ident(&snake);
            let expr = if let Some((_, e)) = extra.iter().find(|(k, _)| *k == snake) {
                (*e).to_string()
            } else if let Some(s) = source
                .fields
                .iter()
                .find(|s| s.name.value == f.name.value && s.ty.value == f.ty.value)
            {
                let copy = field_view(s, &source.name.value, i).copy;
                format!("{prefix}.{ident}{}", if copy { "" } else { ".clone()" })
            } else {
                "Default::default()".to_string()
            };
            FieldExpr { ident, expr }
        })
        .collect();
    BuildView {
        event: target.name.value.clone(),
        fields,
    }
}

/// Builds `target` from the owner's entity row (`row.`), its id and a reason.
fn build_from_row(target: &Event, entity: &Entity, own_id: &str) -> BuildView {
    let fields = target
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let snake = to_snake(&f.name.value);
            let ident = rust_ident(&snake);
            let same = entity
                .fields
                .iter()
                .find(|s| s.name.value == f.name.value && s.ty.value == f.ty.value);
            let expr = if f.name.value == own_id {
                "row.id".to_string()
            } else if snake == "reason" && matches!(f.ty.value.kind, Kind::String | Kind::Text) {
                if f.ty.value.optional {
                    "Some(reason.to_string())".into()
                } else {
                    "reason.to_string()".into()
                }
            } else if let Some(s) = same {
                let copy = field_view(s, &entity.name.value, i).copy;
                format!("row.{ident}{}", if copy { "" } else { ".clone()" })
            } else {
                "Default::default()".to_string()
            };
            FieldExpr { ident, expr }
        })
        .collect();
    BuildView {
        event: target.name.value.clone(),
        fields,
    }
}

pub fn service<'a>(bp: &'a Blueprint, name: &str) -> Option<&'a Service> {
    bp.services.iter().find(|s| s.name.value == name)
}

/// The id of an instance in the envelope `var`: its `key` field, or its correlation id.
fn id_expr(var: &str, key: Option<&str>) -> String {
    key.map_or_else(
        || format!("{var}.correlation_id"),
        |k| format!("{var}.payload.{}", rust_ident(&to_snake(k))),
    )
}

/// `<Saga>Failed`: the message the owner publishes when a saga fails, for participants that
/// cannot compensate on a failure event of the owner's.
pub fn failed_message(saga: &Saga) -> String {
    failed_message_of(&saga.name.value)
}

/// `<Saga>Failed` of the saga named `saga`.
pub fn failed_message_of(saga: &str) -> String {
    format!("{}Failed", to_pascal(saga))
}

/// The owner's failure event a participant compensates on: the status entity's failure event,
/// when the participant consumes it and it carries the saga's key. Otherwise `<Saga>Failed`.
fn compensates_on(owner: &OwnerView, svc: &Service, key: Option<&str>) -> Option<String> {
    let failure = owner.status.as_ref()?.failure_event.as_ref()?;
    let carries = key.is_some_and(|k| {
        let k = rust_ident(&to_snake(k));
        failure.fields.iter().any(|f| f.ident == k)
    });
    (carries && svc.consumes.iter().any(|c| c.value == failure.event))
        .then(|| failure.event.clone())
}

fn owner_view(bp: &Blueprint, saga: &Saga) -> Option<OwnerView> {
    let owner = service(bp, &saga.owner.value)?;
    let trigger = saga_shape::trigger(bp, saga)?;
    let key = saga_shape::keyed(bp, saga);
    let status = key
        .as_ref()
        .and_then(|_| saga_shape::status_entity(bp, saga))
        .and_then(|e| status_view(bp, owner, e));
    let last = saga.steps.len().saturating_sub(1);
    let mut advances_on = Vec::new();
    let mut fails_on = Vec::new();
    let mut completes_on = None;
    let id = id_expr("event", key.as_deref());
    for (i, step) in saga.steps.iter().enumerate() {
        if let Some(ev) = &step.on_success {
            let seen = StepEvent {
                event: ev.value.clone(),
                snake: to_snake(&ev.value),
                step: i + 1,
                id: id.clone(),
            };
            if i == last {
                completes_on = Some(seen);
            } else {
                advances_on.push(seen);
            }
        }
        if let Some(ev) = &step.on_failure {
            let e = event(bp, &ev.value)?;
            let reason = e
                .fields
                .iter()
                .find(|f| {
                    f.name.value == "reason"
                        && f.ty.value.kind == Kind::String
                        && !f.ty.value.optional
                })
                .map_or_else(
                    || format!("\"{}\"", humanize(&ev.value)),
                    |_| "event.payload.reason.as_str()".to_string(),
                );
            fails_on.push(FailureView {
                event: ev.value.clone(),
                snake: to_snake(&ev.value),
                reason,
                id: id.clone(),
            });
        }
    }
    let mut view = OwnerView {
        timeout_ms: saga.timeout.millis,
        trigger: trigger.name.value.clone(),
        start_id: id_expr("trigger", key.as_deref()),
        status,
        failed_message: None,
        completes_on: completes_on?,
        advances_on,
        fails_on,
    };
    let needs_failed = !on_failed_message(bp, saga, &view, key.as_deref()).is_empty();
    view.failed_message = needs_failed.then(|| failed_message(saga));
    Some(view)
}

/// The participants with a compensation that no failure event of the owner reaches: they
/// compensate on `<Saga>Failed` (each once, in step order).
fn on_failed_message(
    bp: &Blueprint,
    saga: &Saga,
    owner: &OwnerView,
    key: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for st in saga.steps.iter().filter(|st| st.compensation.is_some()) {
        let falls_back =
            service(bp, &st.service.value).is_some_and(|p| compensates_on(owner, p, key).is_none());
        if falls_back && !out.contains(&st.service.value) {
            out.push(st.service.value.clone());
        }
    }
    out
}

/// How a saga moves `entity` (an entity of `owner` with statuses): its statuses, its `reason`
/// column, and the `<Entity><Status>` events the owner publishes.
pub fn status_view(bp: &Blueprint, owner: &Service, entity: &Entity) -> Option<StatusView> {
    let st = saga_shape::statuses(entity)?;
    let own_id = format!("{}-id", to_kebab(&entity.name.value));
    let final_event = |status: &str| {
        let name = format!("{}{}", entity.name.value, to_pascal(status));
        saga_shape::published_by(owner)
            .contains(&name.as_str())
            .then(|| event(bp, &name))
            .flatten()
            .map(|e| build_from_row(e, entity, &own_id))
    };
    let running_value = {
        let value = format!(
            "crate::model::{}::{}",
            enum_name(&entity.name.value, &st.field),
            to_pascal(&st.running)
        );
        let optional = entity
            .fields
            .iter()
            .any(|f| f.name.value == st.field && f.ty.value.optional);
        if optional {
            format!("Some({value})")
        } else {
            value
        }
    };
    Some(StatusView {
        entity: entity.name.value.clone(),
        table: to_snake(&entity.name.value),
        column: to_snake(&st.field),
        reason_column: entity.fields.iter().any(|f| {
            f.name.value == "reason" && matches!(f.ty.value.kind, Kind::String | Kind::Text)
        }),
        success_event: final_event(&st.success),
        failure_event: final_event(&st.failure),
        running_value,
        running: st.running,
        success_status: st.success,
        failure_status: st.failure,
    })
}

/// `release-credit` → `CreditReleased`, `refund` → `Refunded`.
fn compensation_event_name(name: &str) -> String {
    let (verb, object) = name.split_once('-').unwrap_or((name, ""));
    let past = if verb.ends_with('e') {
        format!("{verb}d")
    } else {
        format!("{verb}ed")
    };
    format!("{}{}", to_pascal(object), to_pascal(&past))
}

/// The default body of a `reserve-<x>` action of `svc`, reading the saga's data from `fields`
/// (name, type) through `prefix` (`trigger`, `data`).
pub fn reserve_view(
    svc: &Service,
    action: &str,
    fields: &[(String, crate::blueprint::FieldType)],
    prefix: &str,
) -> Option<ReserveView> {
    let thing = action.strip_prefix("reserve-")?;
    let decimal = |e: &Entity, name: &str| {
        e.fields.iter().any(|f| {
            f.name.value == name && f.ty.value.kind == Kind::Decimal && !f.ty.value.optional
        })
    };
    let (limit, reserved) = (format!("{thing}-limit"), format!("{thing}-reserved"));
    let entity = svc
        .entities
        .iter()
        .find(|e| decimal(e, &limit) && decimal(e, &reserved))?;
    let id = format!("{}-id", to_kebab(&entity.name.value));
    let (key, _) = fields
        .iter()
        .find(|(n, t)| *n == id && t.kind == Kind::Uuid && !t.optional)?;
    let (amount, _) = fields
        .iter()
        .find(|(_, t)| t.kind == Kind::Decimal && !t.optional)?;
    Some(ReserveView {
        table: to_snake(&entity.name.value),
        key_expr: format!("{prefix}.{}", rust_ident(&to_snake(key))),
        limit: to_snake(&limit),
        limit_words: to_snake(&limit).replace('_', " "),
        reserved: to_snake(&reserved),
        amount_expr: format!("{prefix}.{}", rust_ident(&to_snake(amount))),
    })
}

/// (name, type) of an event's fields.
fn fields_of(e: &Event) -> Vec<(String, crate::blueprint::FieldType)> {
    e.fields
        .iter()
        .map(|f| (f.name.value.clone(), f.ty.value.clone()))
        .collect()
}

fn step_views(bp: &Blueprint, saga: &Saga, svc: &Service, owner: &OwnerView) -> Vec<StepView> {
    let key = saga_shape::keyed(bp, saga);
    let id = id_expr("event", key.as_deref());
    let mut out = Vec::new();
    for (i, step) in saga.steps.iter().enumerate() {
        if step.service.value != svc.name.value {
            continue;
        }
        let trigger_name = if i == 0 {
            owner.trigger.clone()
        } else {
            match &saga.steps[i - 1].on_success {
                Some(e) => e.value.clone(),
                None => continue,
            }
        };
        let (Some(trigger), Some(success)) = (
            event(bp, &trigger_name),
            step.on_success.as_ref().and_then(|e| event(bp, &e.value)),
        ) else {
            continue;
        };
        let failure = step
            .on_failure
            .as_ref()
            .and_then(|e| event(bp, &e.value))
            .map(|e| build_from_event(e, trigger, "trigger", &[]));
        let compensation = step.compensation.as_ref().map(|c| {
            let (on, id) = match compensates_on(owner, svc, key.as_deref()) {
                Some(on) => (on, id.clone()),
                None => (failed_message(saga), "event.payload.saga_id".to_string()),
            };
            let published = compensation_event_name(&c.value);
            let ev = saga_shape::published_by(svc)
                .contains(&published.as_str())
                .then(|| event(bp, &published))
                .flatten()
                .map(|e| build_from_event(e, trigger, "trigger", &[]));
            CompensationView {
                name: c.value.clone(),
                snake: to_snake(&c.value),
                on_snake: to_snake(&on),
                on,
                id,
                event: ev,
            }
        });
        out.push(StepView {
            action: step.action.value.clone(),
            action_snake: to_snake(&step.action.value),
            trigger_snake: to_snake(&trigger_name),
            trigger: trigger_name,
            id: id.clone(),
            success: build_from_event(success, trigger, "trigger", &[]),
            failure,
            compensation,
            reserve: reserve_view(svc, &step.action.value, &fields_of(trigger), "trigger"),
        });
    }
    out
}

/// The sagas `svc` owns or takes part in, one file each.
pub fn saga_files(bp: &Blueprint, svc: &Service) -> Vec<SagaFileView> {
    bp.sagas
        .iter()
        .filter(|s| s.style == SagaStyle::Choreography)
        .filter_map(|saga| {
            let owner = owner_view(bp, saga)?;
            let steps = step_views(bp, saga, svc, &owner);
            let owns = saga.owner.value == svc.name.value;
            (owns || !steps.is_empty()).then(|| SagaFileView {
                name: saga.name.value.clone(),
                snake: to_snake(&saga.name.value),
                pascal: to_pascal(&saga.name.value),
                owner: owns.then_some(owner),
                steps,
            })
        })
        .collect()
}

/// The `<Saga>Failed` messages of the system's choreography sagas, each with the participants
/// that compensate on it.
pub fn failed_messages(bp: &Blueprint) -> Vec<(String, Vec<String>)> {
    bp.sagas
        .iter()
        .filter(|s| s.style == SagaStyle::Choreography)
        .filter_map(|saga| {
            let owner = owner_view(bp, saga)?;
            let name = owner.failed_message.clone()?;
            let key = saga_shape::keyed(bp, saga);
            Some((name, on_failed_message(bp, saga, &owner, key.as_deref())))
        })
        .collect()
}

/// The saga functions each consumed event calls, in blueprint order.
pub fn calls(files: &[SagaFileView]) -> Vec<SagaCall> {
    let mut out = Vec::new();
    for f in files {
        for s in &f.steps {
            out.push(SagaCall {
                event: s.trigger.clone(),
                path: format!("{}::{}", f.snake, s.action_snake),
            });
            if let Some(c) = &s.compensation {
                out.push(SagaCall {
                    event: c.on.clone(),
                    path: format!("{}::{}", f.snake, c.snake),
                });
            }
        }
        if let Some(o) = &f.owner {
            for a in std::iter::once(&o.completes_on).chain(&o.advances_on) {
                out.push(SagaCall {
                    event: a.event.clone(),
                    path: format!("{}::on_{}", f.snake, a.snake),
                });
            }
            for x in &o.fails_on {
                out.push(SagaCall {
                    event: x.event.clone(),
                    path: format!("{}::on_{}", f.snake, x.snake),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Blueprint {
        crate::blueprint::load(include_str!("../../../../../blueprints/shop.toml"))
            .expect("shop loads")
            .blueprint
    }

    #[test]
    fn place_order_is_owned_by_orders_and_stepped_by_customers() {
        let bp = shop();
        let orders = service(&bp, "orders").unwrap();
        let files = saga_files(&bp, orders);
        let owner = files[0].owner.as_ref().expect("orders owns place-order");
        assert_eq!(owner.trigger, "OrderCreated");
        let status = owner.status.as_ref().expect("Order follows the saga");
        assert_eq!(
            (
                status.running.as_str(),
                status.success_status.as_str(),
                status.failure_status.as_str()
            ),
            ("pending", "approved", "rejected")
        );
        assert_eq!(owner.completes_on.event, "CreditReserved");
        assert_eq!(owner.completes_on.id, "event.payload.order_id");
        assert_eq!(owner.fails_on[0].reason, "\"credit limit exceeded\"");
        assert!(status.reason_column);
        // Customers compensate on the owner's own failure event: no `<Saga>Failed` is needed.
        assert_eq!(owner.failed_message, None);
        let failure = status.failure_event.as_ref().unwrap();
        assert_eq!(failure.event, "OrderRejected");
        let exprs: Vec<&str> = failure.fields.iter().map(|f| f.expr.as_str()).collect();
        assert_eq!(exprs, ["row.id", "row.customer_id", "reason.to_string()"]);

        let customers = service(&bp, "customers").unwrap();
        let files = saga_files(&bp, customers);
        let step = &files[0].steps[0];
        assert_eq!(
            (step.action.as_str(), step.trigger.as_str()),
            ("reserve-credit", "OrderCreated")
        );
        let reserve = step.reserve.as_ref().expect("reserve recipe");
        assert_eq!(
            (
                reserve.limit.as_str(),
                reserve.reserved.as_str(),
                reserve.amount_expr.as_str()
            ),
            ("credit_limit", "credit_reserved", "trigger.total")
        );
        let c = step.compensation.as_ref().expect("compensation");
        assert_eq!(c.on, "OrderRejected");
        assert_eq!(
            c.event.as_ref().map(|e| e.event.as_str()),
            Some("CreditReleased")
        );
        let paths: Vec<String> = calls(&files).into_iter().map(|c| c.path).collect();
        assert_eq!(
            paths,
            ["place_order::reserve_credit", "place_order::release_credit"]
        );
    }

    #[test]
    fn compensation_events_follow_the_verb() {
        assert_eq!(compensation_event_name("release-credit"), "CreditReleased");
        assert_eq!(compensation_event_name("refund"), "Refunded");
        assert_eq!(humanize("CreditLimitExceeded"), "credit limit exceeded");
    }
}
