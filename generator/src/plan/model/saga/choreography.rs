//! View models of choreography sagas: what the owner and each participant generate.
//!
//! The owner starts an instance when it publishes the saga's trigger (the first event it
//! publishes that the first step's service consumes) on creating its entity, ends it on the last
//! step's `on-success` (entity → success status, success event) or on any step's `on-failure` or
//! the timeout (entity → failure status with a reason, failure event). Each participant runs its
//! action on the event before it and publishes `on-success` or `on-failure`; participants with a
//! compensation undo their action when the owner's failure event arrives.
//!
//! Conventions (documented in the blueprint reference):
//! - the owner's entity is the one whose `<Entity>Created` is the trigger; its `status` enum's
//!   first value is the running state, the success value is the first of `approved`,
//!   `completed`, `confirmed`, `accepted` it has (else the second value), the failure value the
//!   first of `rejected`, `failed`, `cancelled` (else the third);
//! - the success and failure events are `<Entity><Status>` (`OrderApproved`, `OrderRejected`)
//!   when the owner publishes them;
//! - every event of the saga carries the trigger's aggregate id field (`order-id`), the saga id;
//! - a `reserve-<x>` action on a participant whose entity has decimal `<x>-limit` and
//!   `<x>-reserved` fields, named by the trigger's `<entity>-id`, reserves the trigger's first
//!   decimal field against the limit by default (and its compensation releases it); other
//!   actions accept by default.
//!
//! A saga that does not fit is reported by `not_generated`, never half generated.

use serde::Serialize;

use crate::blueprint::{Blueprint, Entity, Event, Kind, Saga, SagaStyle, Service};
use crate::names::{rust_ident, to_kebab, to_pascal, to_snake};
use crate::plan::model::field::field_view;

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
    pub entity: String,
    pub table: String,
    /// The saga id field of every saga event (`order_id`).
    pub key: String,
    pub running: String,
    pub success_status: String,
    pub failure_status: String,
    /// The entity has a `reason` text column, set on failure.
    pub reason_column: bool,
    pub success_event: Option<BuildView>,
    pub failure_event: Option<BuildView>,
    /// The last step's `on-success`: the saga completes.
    pub completes_on: String,
    pub completes_snake: String,
    /// Intermediate steps' `on-success` events: the saga advances.
    pub advances_on: Vec<StepEvent>,
    /// Every step's `on-failure`: the saga fails with a reason.
    pub fails_on: Vec<FailureView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepEvent {
    pub event: String,
    pub snake: String,
    pub step: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureView {
    pub event: String,
    pub snake: String,
    /// Expression of the reason (`event.payload.reason.clone()` or a fixed text).
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub action: String,
    pub action_snake: String,
    pub trigger: String,
    pub trigger_snake: String,
    pub key: String,
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

fn has_field(e: &Event, snake: &str) -> bool {
    e.fields.iter().any(|f| to_snake(&f.name.value) == snake)
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

/// The trigger of a choreography saga: the first event the owner publishes that the first
/// step's service consumes.
fn trigger<'a>(bp: &'a Blueprint, saga: &Saga) -> Option<&'a Event> {
    let owner = service(bp, &saga.owner.value)?;
    let first = service(bp, &saga.steps.first()?.service.value)?;
    let name = owner
        .publishes
        .iter()
        .find(|p| first.consumes.iter().any(|c| c.value == p.value))?;
    event(bp, &name.value)
}

fn pick(values: &[String], preferred: &[&str], nth: usize) -> Option<String> {
    preferred
        .iter()
        .find(|p| values.iter().any(|v| v == *p))
        .map(|p| (*p).to_string())
        .or_else(|| values.get(nth).cloned())
}

fn owner_view(bp: &Blueprint, saga: &Saga) -> Result<OwnerView, String> {
    let owner = service(bp, &saga.owner.value).ok_or("unknown owner")?;
    let trigger = trigger(bp, saga).ok_or(
        "no trigger event (an event the owner publishes that the first step's service consumes)",
    )?;
    let entity = owner
        .entities
        .iter()
        .find(|e| format!("{}Created", e.name.value) == trigger.name.value)
        .ok_or_else(|| {
            format!(
                "the trigger `{}` is not `<Entity>Created` of an entity of `{}`",
                trigger.name.value, owner.name.value
            )
        })?;
    let Outcomes {
        running,
        success,
        failure,
        reason_column,
        success_event,
        failure_event,
    } = outcomes(bp, owner, entity)?;
    let key = trigger
        .fields
        .iter()
        .find(|f| f.ty.value.kind == Kind::Uuid && !f.ty.value.optional)
        .map(|f| to_snake(&f.name.value))
        .ok_or("the trigger has no uuid field")?;
    let last = saga.steps.len().saturating_sub(1);
    let mut advances_on = Vec::new();
    let mut fails_on = Vec::new();
    let mut completes_on = String::new();
    for (i, step) in saga.steps.iter().enumerate() {
        if let Some(ev) = &step.on_success {
            if i == last {
                completes_on = ev.value.clone();
            } else {
                advances_on.push(StepEvent {
                    event: ev.value.clone(),
                    snake: to_snake(&ev.value),
                    step: i + 1,
                });
            }
        }
        if let Some(ev) = &step.on_failure {
            let e = event(bp, &ev.value).ok_or("unknown failure event")?;
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
            });
        }
    }
    for name in std::iter::once(&completes_on)
        .chain(advances_on.iter().map(|a| &a.event))
        .chain(fails_on.iter().map(|f| &f.event))
    {
        let e = event(bp, name).ok_or("unknown saga event")?;
        if !has_field(e, &key) {
            return Err(format!("`{name}` does not carry the saga id `{key}`"));
        }
    }
    Ok(OwnerView {
        timeout_ms: saga.timeout.millis,
        trigger: trigger.name.value.clone(),
        entity: entity.name.value.clone(),
        table: to_snake(&entity.name.value),
        key,
        running,
        reason_column,
        completes_snake: to_snake(&completes_on),
        success_event,
        failure_event,
        success_status: success,
        failure_status: failure,
        completes_on,
        advances_on,
        fails_on,
    })
}

/// The values of an entity's `status` enum, if it has one.
pub fn status_values(entity: &Entity) -> Option<Vec<String>> {
    entity
        .fields
        .iter()
        .find(|f| f.name.value == "status")
        .and_then(|f| match &f.ty.value.kind {
            Kind::Enum(v) => Some(v.clone()),
            _ => None,
        })
}

/// How a saga ends for the owner's entity, by the conventions both saga styles share: the
/// statuses (first = running; success and failure by name or position), whether the entity has
/// a `reason`, and the `<Entity><Status>` events the owner publishes.
pub struct Outcomes {
    pub running: String,
    pub success: String,
    pub failure: String,
    pub reason_column: bool,
    pub success_event: Option<BuildView>,
    pub failure_event: Option<BuildView>,
}

pub fn outcomes(bp: &Blueprint, owner: &Service, entity: &Entity) -> Result<Outcomes, String> {
    let values = status_values(entity)
        .ok_or_else(|| format!("`{}` has no `status` enum field", entity.name.value))?;
    let running = values.first().cloned().ok_or("empty status enum")?;
    let success = pick(
        &values,
        &["approved", "completed", "confirmed", "accepted"],
        1,
    )
    .ok_or("no success status")?;
    let failure =
        pick(&values, &["rejected", "failed", "cancelled"], 2).ok_or("no failure status")?;
    let own_id = format!("{}-id", to_kebab(&entity.name.value));
    let final_event = |status: &str| {
        let name = format!("{}{}", entity.name.value, to_pascal(status));
        owner
            .publishes
            .iter()
            .any(|p| p.value == name)
            .then(|| event(bp, &name))
            .flatten()
            .map(|e| build_from_row(e, entity, &own_id))
    };
    Ok(Outcomes {
        reason_column: entity.fields.iter().any(|f| {
            f.name.value == "reason" && matches!(f.ty.value.kind, Kind::String | Kind::Text)
        }),
        success_event: final_event(&success),
        failure_event: final_event(&failure),
        running,
        success,
        failure,
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
        let compensation = step.compensation.as_ref().and_then(|c| {
            let on = owner.failure_event.as_ref()?.event.clone();
            if !svc.consumes.iter().any(|x| x.value == on) {
                return None;
            }
            let published = compensation_event_name(&c.value);
            let ev = svc
                .publishes
                .iter()
                .any(|p| p.value == published)
                .then(|| event(bp, &published))
                .flatten()
                .map(|e| build_from_event(e, trigger, "trigger", &[]));
            Some(CompensationView {
                name: c.value.clone(),
                snake: to_snake(&c.value),
                on_snake: to_snake(&on),
                on,
                event: ev,
            })
        });
        out.push(StepView {
            action: step.action.value.clone(),
            action_snake: to_snake(&step.action.value),
            trigger_snake: to_snake(&trigger_name),
            trigger: trigger_name,
            key: owner.key.clone(),
            success: build_from_event(success, trigger, "trigger", &[]),
            failure,
            compensation,
            reserve: reserve_view(svc, &step.action.value, &fields_of(trigger), "trigger"),
        });
    }
    out
}

/// Why a choreography saga cannot be generated, if it cannot.
pub fn unsupported(bp: &Blueprint, saga: &Saga) -> Option<String> {
    if saga.style != SagaStyle::Choreography {
        return Some("orchestration".into());
    }
    owner_view(bp, saga).err()
}

/// The sagas `svc` owns or takes part in, one file each.
pub fn saga_files(bp: &Blueprint, svc: &Service) -> Vec<SagaFileView> {
    bp.sagas
        .iter()
        .filter(|s| s.style == SagaStyle::Choreography)
        .filter_map(|saga| {
            let owner = owner_view(bp, saga).ok()?;
            let steps = step_views(bp, saga, svc, &owner);
            let owns = saga.owner.value == svc.name.value;
            (owns || !steps.is_empty()).then(|| SagaFileView {
                name: saga.name.value.clone(),
                snake: to_snake(&saga.name.value),
                owner: owns.then_some(owner),
                steps,
            })
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
            out.push(SagaCall {
                event: o.completes_on.clone(),
                path: format!("{}::on_{}", f.snake, to_snake(&o.completes_on)),
            });
            for a in &o.advances_on {
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
        assert_eq!(
            (
                owner.running.as_str(),
                owner.success_status.as_str(),
                owner.failure_status.as_str()
            ),
            ("pending", "approved", "rejected")
        );
        assert_eq!(owner.completes_on, "CreditReserved");
        assert_eq!(owner.fails_on[0].reason, "\"credit limit exceeded\"");
        assert!(owner.reason_column);
        let failure = owner.failure_event.as_ref().unwrap();
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
