//! Leaf of the plan model: how one blueprint field appears in generated code — its Rust and SQL
//! types, checks, example value and enum type — and the tolerant-reader fields a client of
//! another service reads. Every other model module builds on these; this one imports none.

use serde::Serialize;

use crate::blueprint::{Field, FieldType, Kind};
use crate::names::{rust_ident, to_pascal, to_snake};

#[derive(Debug, Clone, Serialize)]
pub struct VariantView {
    /// As written in the blueprint and on the wire (`pending`).
    pub wire: String,
    /// Rust variant (`Pending`).
    pub pascal: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnumView {
    /// Rust type name (`OrderStatus`).
    pub name: String,
    pub variants: Vec<VariantView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    /// Blueprint name (`customer-id`).
    pub name: String,
    /// JSON member and SQL column (`customer_id`).
    pub snake: String,
    /// Rust identifier (`customer_id`, `r#type`).
    pub ident: String,
    /// Full Rust type, `Option<…>` included.
    pub rust_type: String,
    /// Rust type without `Option`.
    pub rust_base: String,
    /// Rust type to name in a utoipa `value_type` (lists and JSON need one), or empty.
    pub schema_type: String,
    /// SQL column type.
    pub sql_type: String,
    /// `NOT NULL` unless optional.
    pub optional: bool,
    /// Stored as JSONB and decoded with `#[sqlx(json)]` (lists).
    pub json_column: bool,
    /// Can be used as an equality filter on list endpoints.
    pub filterable: bool,
    /// Strings are limited to 255 characters.
    pub max_len: Option<u32>,
    /// Must be a finite number.
    pub finite: bool,
    /// A `CHECK` constraint for enums (or lists of enums), empty otherwise.
    pub check: String,
    /// The Rust type is `Copy`: bound and compared by value.
    pub copy: bool,
    /// A uuid field named `*-id`: indexed, as it is usually looked up by.
    pub indexed: bool,
    /// Example value (JSON) for tests and docs.
    pub example: String,
    /// The blueprint type, for comments and docs.
    pub blueprint_type: String,
}

fn rust_of(kind: &Kind, owner: &str, field: &str) -> String {
    match kind {
        Kind::String | Kind::Text => "String".into(),
        Kind::Bool => "bool".into(),
        Kind::I32 => "i32".into(),
        Kind::I64 => "i64".into(),
        Kind::F64 => "f64".into(),
        Kind::Decimal => "rust_decimal::Decimal".into(),
        Kind::Uuid => "uuid::Uuid".into(),
        Kind::Date => "chrono::NaiveDate".into(),
        Kind::Datetime => "chrono::DateTime<chrono::Utc>".into(),
        Kind::Json => "serde_json::Value".into(),
        Kind::Enum(_) => enum_name(owner, field),
        Kind::List(inner) => format!("Vec<{}>", rust_of(inner, owner, field)),
    }
}

/// `Order` + `status` → `OrderStatus`.
pub fn enum_name(owner: &str, field: &str) -> String {
    format!("{}{}", to_pascal(owner), to_pascal(field))
}

fn sql_of(kind: &Kind) -> &'static str {
    match kind {
        Kind::String | Kind::Text | Kind::Enum(_) => "TEXT",
        Kind::Bool => "BOOLEAN",
        Kind::I32 => "INTEGER",
        Kind::I64 => "BIGINT",
        Kind::F64 => "DOUBLE PRECISION",
        Kind::Decimal => "NUMERIC",
        Kind::Uuid => "UUID",
        Kind::Date => "DATE",
        Kind::Datetime => "TIMESTAMPTZ",
        Kind::Json | Kind::List(_) => "JSONB",
    }
}

fn example_of(kind: &Kind, n: usize) -> String {
    match kind {
        Kind::String | Kind::Text => format!("\"example {n}\""),
        Kind::Bool => "true".into(),
        Kind::I32 | Kind::I64 => format!("{}", n + 1),
        Kind::F64 => format!("{}.5", n + 1),
        Kind::Decimal => format!("\"{}.25\"", n + 10),
        Kind::Uuid => format!("\"00000000-0000-4000-8000-{:012}\"", n + 1),
        Kind::Date => "\"2026-01-31\"".into(),
        Kind::Datetime => "\"2026-01-31T12:00:00Z\"".into(),
        Kind::Json => "{\"key\": \"value\"}".into(),
        Kind::Enum(v) => format!("\"{}\"", v.first().map_or("", String::as_str)),
        Kind::List(inner) => format!("[{}]", example_of(inner, n)),
    }
}

pub fn field_view(f: &Field, owner: &str, n: usize) -> FieldView {
    let FieldType { kind, optional } = &f.ty.value;
    let snake = to_snake(&f.name.value);
    let base = rust_of(kind, owner, &f.name.value);
    let rust_type = if *optional {
        format!("Option<{base}>")
    } else {
        base.clone()
    };
    // utoipa needs a stand-in for JSON values; everything else it derives itself.
    let schema_type = match kind {
        Kind::Json => "Object".to_string(),
        Kind::List(inner) if matches!(inner.as_ref(), Kind::Json) => "Vec<Object>".to_string(),
        _ => String::new(),
    };
    let column = format!("\"{snake}\"");
    let check = match kind {
        Kind::Enum(v) => {
            let list = v
                .iter()
                .map(|x| format!("'{x}'"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("CHECK ({column} IN ({list}))")
        }
        _ => String::new(),
    };
    FieldView {
        name: f.name.value.clone(),
        ident: rust_ident(&snake),
        snake,
        rust_type,
        rust_base: base,
        schema_type,
        sql_type: sql_of(kind).into(),
        optional: *optional,
        json_column: matches!(kind, Kind::List(_)),
        filterable: !matches!(kind, Kind::Json | Kind::List(_) | Kind::F64 | Kind::Text),
        max_len: matches!(kind, Kind::String).then_some(255),
        finite: matches!(kind, Kind::F64),
        check,
        copy: !matches!(kind, Kind::String | Kind::Text | Kind::Json | Kind::List(_)),
        indexed: matches!(kind, Kind::Uuid) && f.name.value.ends_with("-id"),
        example: example_of(kind, n),
        blueprint_type: f.ty.value.to_string(),
    }
}

pub fn enums_of(fields: &[Field], owner: &str) -> Vec<EnumView> {
    fields
        .iter()
        .filter_map(|f| {
            let variants = match &f.ty.value.kind {
                Kind::Enum(v) => v,
                Kind::List(inner) => match inner.as_ref() {
                    Kind::Enum(v) => v,
                    _ => return None,
                },
                _ => return None,
            };
            Some(EnumView {
                name: enum_name(owner, &f.name.value),
                variants: variants
                    .iter()
                    .map(|v| VariantView {
                        wire: v.clone(),
                        pascal: to_pascal(v),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// The tolerant-reader Rust type of a field read from another service.
/// (Rust identifier, tolerant reader type) of each field: what a client of the service reads.
pub fn reader_fields(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| {
            let base = reader_type(&f.ty.value.kind);
            let ty = if f.ty.value.optional {
                format!("Option<{base}>")
            } else {
                base
            };
            (rust_ident(&to_snake(&f.name.value)), ty)
        })
        .collect()
}

fn reader_type(kind: &Kind) -> String {
    match kind {
        Kind::Enum(_) => "String".into(),
        Kind::List(inner) => format!("Vec<{}>", reader_type(inner)),
        other => rust_of(other, "", ""),
    }
}
