//! What a saga's blueprint implies without stating it: the event that starts an instance, the
//! field that names the instance in every saga event, and the owner entity whose status follows
//! the saga. `check` and the plan read a saga through these, so both agree on what is generated.
//!
//! Nothing here is a naming requirement: a saga whose events carry no id field is identified by
//! the correlation id of its trigger, and a saga without a status entity ends in user-owned
//! outcome hooks.

use super::{Blueprint, Entity, Event, Field, Kind, Saga, SagaStyle, Service};
use crate::names::to_kebab;

/// The events `svc` publishes: its `publishes` and the events its aggregates record.
pub fn published_by(svc: &Service) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let recorded = svc
        .aggregates
        .iter()
        .flat_map(|a| a.commands.iter().map(|c| c.event.value.as_str()));
    for e in svc
        .publishes
        .iter()
        .map(|p| p.value.as_str())
        .chain(recorded)
    {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// The event whose publication by the owner starts an instance: the saga's `trigger`; for a
/// choreography without one, the first event the owner publishes that the first step's service
/// consumes. An orchestration without `trigger` is started by its HTTP endpoint (`None`).
pub fn trigger<'a>(bp: &'a Blueprint, saga: &Saga) -> Option<&'a Event> {
    if let Some(t) = &saga.trigger {
        return bp.event(&t.value);
    }
    if saga.style == SagaStyle::Orchestration {
        return None;
    }
    let owner = bp.service(&saga.owner.value)?;
    let first = bp.service(&saga.steps.first()?.service.value)?;
    let name = published_by(owner)
        .into_iter()
        .find(|p| first.consumes.iter().any(|c| c.value == *p))?;
    bp.event(name)
}

/// The three statuses a saga moves its owner entity through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statuses {
    /// The status column (`status` or `state`).
    pub field: String,
    pub running: String,
    pub success: String,
    pub failure: String,
}

/// The statuses of `entity`'s `status` (or else `state`) enum: the first value is running; the
/// success value is the first of `approved`, `completed`, `confirmed`, `accepted` it has (else
/// the second value), the failure value the first of `rejected`, `failed`, `cancelled`,
/// `canceled` (else the third). `None` when it has no such enum of three distinct outcomes.
pub fn statuses(entity: &Entity) -> Option<Statuses> {
    let (field, values) = ["status", "state"].iter().find_map(|name| {
        entity
            .fields
            .iter()
            .find(|f| f.name.value == *name)
            .and_then(|f| match &f.ty.value.kind {
                Kind::Enum(v) => Some((f.name.value.clone(), v.clone())),
                _ => None,
            })
    })?;
    let pick = |preferred: &[&str], nth: usize| {
        preferred
            .iter()
            .find(|p| values.iter().any(|v| v == *p))
            .map(|p| (*p).to_string())
            .or_else(|| values.get(nth).cloned())
    };
    let running = values.first()?.clone();
    let success = pick(&["approved", "completed", "confirmed", "accepted"], 1)?;
    let failure = pick(&["rejected", "failed", "cancelled", "canceled"], 2)?;
    let distinct = running != success && running != failure && success != failure;
    distinct.then_some(Statuses {
        field,
        running,
        success,
        failure,
    })
}

fn uuid_field<'a>(e: &'a Event, name: &str) -> Option<&'a Field> {
    e.fields
        .iter()
        .find(|f| f.name.value == name && f.ty.value.kind == Kind::Uuid && !f.ty.value.optional)
}

/// The owner entity whose status follows the saga, if one has statuses: with a trigger, the one
/// the trigger is `<Entity>Created` of or whose `<entity>-id` the trigger carries; without, the
/// first with statuses (the HTTP endpoint creates it).
pub fn status_entity<'a>(bp: &'a Blueprint, saga: &Saga) -> Option<&'a Entity> {
    let owner = bp.service(&saga.owner.value)?;
    let mut candidates = owner.entities.iter().filter(|e| statuses(e).is_some());
    match trigger(bp, saga) {
        None => candidates.next(),
        Some(t) => candidates.find(|e| {
            let id = format!("{}-id", to_kebab(&e.name.value));
            uuid_field(t, &id).is_some()
        }),
    }
}

/// The trigger's field that names an instance (kebab-case): the status entity's `<entity>-id`,
/// else the trigger's first required uuid field. `None` (no trigger, or no such field): the
/// instance is named by the trigger's correlation id, or a new id when started over HTTP.
pub fn key(bp: &Blueprint, saga: &Saga) -> Option<String> {
    let t = trigger(bp, saga)?;
    if let Some(e) = status_entity(bp, saga) {
        return Some(format!("{}-id", to_kebab(&e.name.value)));
    }
    t.fields
        .iter()
        .find(|f| f.ty.value.kind == Kind::Uuid && !f.ty.value.optional)
        .map(|f| f.name.value.clone())
}

/// Whether every event of a choreography saga (each step's `on-success` and `on-failure`)
/// carries the key: then the key names an instance, else the correlation id does.
pub fn keyed(bp: &Blueprint, saga: &Saga) -> Option<String> {
    let key = key(bp, saga)?;
    let all = saga
        .steps
        .iter()
        .flat_map(|s| [&s.on_success, &s.on_failure])
        .flatten()
        .all(|e| {
            bp.event(&e.value)
                .is_some_and(|e| uuid_field(e, &key).is_some())
        });
    all.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Blueprint {
        crate::blueprint::load(text).expect("valid").blueprint
    }

    #[test]
    fn the_shop_keeps_its_conventions() {
        let bp = load(include_str!("../../../blueprints/shop.toml"));
        let place = &bp.sagas[0];
        assert_eq!(
            trigger(&bp, place).map(|e| e.name.value.as_str()),
            Some("OrderCreated")
        );
        assert_eq!(
            status_entity(&bp, place).map(|e| e.name.value.as_str()),
            Some("Order")
        );
        assert_eq!(keyed(&bp, place).as_deref(), Some("order-id"));
        let s = statuses(status_entity(&bp, place).unwrap()).unwrap();
        assert_eq!(
            (s.running.as_str(), s.success.as_str(), s.failure.as_str()),
            ("pending", "approved", "rejected")
        );
    }

    #[test]
    fn statuses_need_three_distinct_outcomes() {
        let entity = |values: &str| {
            let text = format!(
                "[system]\nname = \"s\"\n[[services]]\nname = \"a\"\n[[services.entities]]\nname = \"Thing\"\n[services.entities.fields]\nstate = \"enum({values})\"\n"
            );
            load(&text).services[0].entities[0].clone()
        };
        assert!(statuses(&entity("open")).is_none());
        assert!(statuses(&entity("open,done")).is_none());
        assert!(statuses(&entity("open,canceled,done")).is_none());
        let s = statuses(&entity("open,done,canceled")).expect("three outcomes");
        assert_eq!(
            (s.field.as_str(), s.success.as_str(), s.failure.as_str()),
            ("state", "done", "canceled")
        );
    }
}
