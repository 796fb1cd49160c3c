//! Events of `contracts`: their fields, enums, aggregate id and publisher.

use serde::Serialize;

use super::field::{EnumView, FieldView, enums_of, field_view};
use crate::blueprint::{Blueprint, Event, FieldType, Kind};
use crate::names::{rust_ident, to_kebab, to_snake};

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub name: String,
    pub kebab: String,
    /// `order_created`, for Rust function names.
    pub snake: String,
    pub version: u32,
    /// An older version exists (version > 1): the contracts test its upcast.
    pub upcast: bool,
    /// Fields that are not optional (what version 1 of the event must have carried).
    pub required: Vec<FieldView>,
    pub fields: Vec<FieldView>,
    pub enums: Vec<EnumView>,
    /// The first uuid field, used as the envelope's aggregate id.
    pub aggregate_id: Option<String>,
    pub publisher: Option<String>,
}

pub fn event_view(e: &Event, bp: &Blueprint) -> EventView {
    let name = e.name.value.clone();
    let publisher = bp
        .services
        .iter()
        .find(|s| {
            s.publishes.iter().any(|p| p.value == name)
                || s.aggregates
                    .iter()
                    .any(|a| a.commands.iter().any(|c| c.event.value == name))
        })
        .map(|s| s.name.value.clone());
    EventView {
        kebab: to_kebab(&name),
        snake: to_snake(&name),
        version: e.version.value,
        upcast: e.version.value > 1,
        required: e
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.ty.value.optional)
            .map(|(i, f)| field_view(f, &name, i))
            .collect(),
        fields: e
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| field_view(f, &name, i))
            .collect(),
        enums: enums_of(&e.fields, &name),
        aggregate_id: e
            .fields
            .iter()
            .find(|f| {
                f.ty.value
                    == FieldType {
                        kind: Kind::Uuid,
                        optional: false,
                    }
            })
            .map(|f| rust_ident(&to_snake(&f.name.value))),
        publisher,
        name,
    }
}
