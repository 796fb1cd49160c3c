//! Read models: each view's table, its SQL, and how each source event's fields are copied in.

use serde::Serialize;

use super::field::{EnumView, FieldView, enums_of, field_view};
use super::wire::flags;
use crate::blueprint::{Blueprint, Field, Kind, View};
use crate::names::{rust_ident, to_kebab, to_snake};

/// A read-model view: a table kept by projections of events, with a query API.
#[derive(Debug, Clone, Serialize)]
pub struct ViewView {
    pub name: String,
    pub snake: String,
    pub table: String,
    pub path: String,
    pub exposed: bool,
    pub read_roles: Vec<String>,
    /// The key field (also in `fields`).
    pub key: FieldView,
    pub fields: Vec<FieldView>,
    pub enums: Vec<EnumView>,
    pub has_filters: bool,
    pub sources: Vec<ProjectionView>,
    /// `INSERT … ON CONFLICT DO NOTHING`: `$1..$n` are the fields in order.
    pub insert_sql: String,
    /// `UPDATE … WHERE key = $1`: `$2..` the other fields in order.
    pub update_sql: String,
    /// Fields other than the key, in order.
    pub others: Vec<FieldView>,
}

/// How one event feeds one view.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectionView {
    pub event: String,
    /// `order_created`.
    pub module: String,
    /// The event field holding the view's key (Rust identifier).
    pub key_field: String,
    pub copies: Vec<CopyView>,
}

/// A same-named field copied from an event into a view.
#[derive(Debug, Clone, Serialize)]
pub struct CopyView {
    pub field: String,
    pub mode: CopyMode,
    pub copy: bool,
}

/// How an event field is copied into a view field. Templates see it as booleans
/// (`mode.direct`, `mode.wrap`, `mode.if_some`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// Same type.
    Direct,
    /// Into an optional view field.
    Wrap,
    /// From an optional event field into an optional view field, only when present.
    IfSome,
}

impl Serialize for CopyMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        flags(
            s,
            &[
                ("direct", *self == CopyMode::Direct),
                ("wrap", *self == CopyMode::Wrap),
                ("if_some", *self == CopyMode::IfSome),
            ],
        )
    }
}

/// How the event field `ef` is copied into the view field `vf`, if it can be.
fn copy_mode(ef: &Field, vf: &Field) -> Option<CopyMode> {
    let (e, v) = (&ef.ty.value, &vf.ty.value);
    let plain = |k: &Kind| {
        !matches!(k, Kind::Enum(_))
            && !matches!(k, Kind::List(i) if matches!(i.as_ref(), Kind::Enum(_)))
    };
    if e.kind != v.kind || !plain(&e.kind) {
        return None;
    }
    match (e.optional, v.optional) {
        (false, false) => Some(CopyMode::Direct),
        (false, true) => Some(CopyMode::Wrap),
        (true, true) => Some(CopyMode::IfSome),
        (true, false) => None,
    }
}

pub fn view_view(v: &View, bp: &Blueprint) -> Option<ViewView> {
    let name = v.name.value.clone();
    let table = to_snake(&name);
    let fields: Vec<FieldView> = v
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_view(f, &name, i))
        .collect();
    let key_field = v.fields.iter().find(|f| f.name.value == v.key.value)?;
    let key = field_view(key_field, &name, 0);
    let others: Vec<FieldView> = fields
        .iter()
        .filter(|f| f.name != key.name)
        .cloned()
        .collect();
    let sources = v
        .from
        .iter()
        .filter_map(|f| bp.events.iter().find(|e| e.name.value == f.value))
        .filter_map(|e| {
            let ek = e.fields.iter().find(|f| f.name.value == v.key.value)?;
            (ek.ty.value == key_field.ty.value).then_some(())?;
            Some(ProjectionView {
                event: e.name.value.clone(),
                module: to_snake(&e.name.value),
                key_field: rust_ident(&to_snake(&ek.name.value)),
                copies: v
                    .fields
                    .iter()
                    .filter(|vf| vf.name.value != v.key.value)
                    .filter_map(|vf| {
                        let ef = e.fields.iter().find(|f| f.name.value == vf.name.value)?;
                        Some(CopyView {
                            field: rust_ident(&to_snake(&vf.name.value)),
                            mode: copy_mode(ef, vf)?,
                            copy: field_view(ef, &name, 0).copy,
                        })
                    })
                    .collect(),
            })
        })
        .collect();
    let cols: Vec<String> = fields.iter().map(|f| format!("\"{}\"", f.snake)).collect();
    let insert_sql = format!(
        "INSERT INTO \"{table}\" ({}) VALUES ({}) ON CONFLICT (\"{}\") DO NOTHING",
        cols.join(", "),
        (1..=cols.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", "),
        key.snake
    );
    let update_sql = format!(
        "UPDATE \"{table}\" SET {}\"updated_at\" = now() WHERE \"{}\" = $1",
        others
            .iter()
            .enumerate()
            .map(|(i, f)| format!("\"{}\" = ${}, ", f.snake, i + 2))
            .collect::<String>(),
        key.snake
    );
    Some(ViewView {
        snake: table.clone(),
        path: v
            .expose
            .as_ref()
            .map_or_else(|| format!("/{}", to_kebab(&name)), |x| x.path.value.clone()),
        exposed: v.expose.is_some(),
        read_roles: v
            .expose
            .iter()
            .flat_map(|x| x.read.iter().map(|r| r.value.clone()))
            .collect(),
        has_filters: fields.iter().any(|f| f.filterable),
        enums: enums_of(&v.fields, &name),
        key,
        fields,
        others,
        sources,
        insert_sql,
        update_sql,
        table,
        name,
    })
}
