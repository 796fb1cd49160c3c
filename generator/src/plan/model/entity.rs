//! CRUD entities: the table, the SQL of inserts and updates, the exposed path and its roles.

use serde::Serialize;

use super::field::{EnumView, FieldView, enums_of, field_view};
use super::messaging::PublishedOn;
use crate::blueprint::Entity;
use crate::names::{to_kebab, to_snake};

#[derive(Debug, Clone, Serialize)]
pub struct EntityView {
    pub name: String,
    pub snake: String,
    pub kebab: String,
    /// Postgres table (`order`), always quoted in SQL.
    pub table: String,
    pub path: String,
    pub exposed: bool,
    pub read_roles: Vec<String>,
    pub write_roles: Vec<String>,
    pub fields: Vec<FieldView>,
    pub enums: Vec<EnumView>,
    /// Some field has a built-in check (string length, finite number).
    pub has_checks: bool,
    /// Some field can filter the list endpoint.
    pub has_filters: bool,
    /// `INSERT … RETURNING *` with `$1` = id and the fields in order.
    pub insert_sql: String,
    /// `UPDATE … RETURNING *` with `$1` = id, the fields, then the expected version.
    pub update_sql: String,
    /// Events its generated create, update and delete publish (filled in by `service`).
    pub published: PublishedOn,
}

pub fn entity_view(e: &Entity) -> EntityView {
    let name = e.name.value.clone();
    let fields: Vec<FieldView> = e
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_view(f, &name, i))
        .collect();
    let table = to_snake(&name);
    let cols: Vec<String> = fields.iter().map(|f| format!("\"{}\"", f.snake)).collect();
    let insert_sql = format!(
        "INSERT INTO \"{table}\" (\"id\", {}) VALUES ($1, {}) RETURNING *",
        cols.join(", "),
        (0..cols.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let update_sql = format!(
        "UPDATE \"{table}\" SET {}, \"version\" = \"version\" + 1, \"updated_at\" = now() WHERE \"id\" = $1 AND \"version\" = ${} RETURNING *",
        cols.iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 2))
            .collect::<Vec<_>>()
            .join(", "),
        cols.len() + 2
    );
    EntityView {
        has_checks: fields.iter().any(|f| f.max_len.is_some() || f.finite),
        has_filters: fields.iter().any(|f| f.filterable),
        insert_sql,
        update_sql,
        snake: to_snake(&name),
        kebab: to_kebab(&name),
        table,
        path: e
            .expose
            .as_ref()
            .map_or_else(|| format!("/{}", to_kebab(&name)), |x| x.path.value.clone()),
        exposed: e.expose.is_some(),
        read_roles: e
            .expose
            .iter()
            .flat_map(|x| x.read.iter().map(|r| r.value.clone()))
            .collect(),
        write_roles: e
            .expose
            .iter()
            .flat_map(|x| x.write.iter().map(|r| r.value.clone()))
            .collect(),
        published: PublishedOn::default(),
        fields,
        enums: enums_of(&e.fields, &name),
        name,
    }
}
