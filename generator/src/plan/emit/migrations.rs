//! Database migrations of each service, one new file per blueprint change.
//!
//! The schema a service needs is a typed [`Model`] (tables, columns, indexes) built from its
//! view. The workspace keeps, in `.msa-gen/migrations.json` (generated), each service's model as
//! of the last generation and the migrations written so far, byte for byte. Planning then:
//! - keeps every earlier migration unchanged (an applied migration is never edited);
//! - for a new service, writes `0001_init.sql` creating the whole model;
//! - for a changed model, writes the next `000N_blueprint_change.sql` with the `ALTER`s from the
//!   old model to the new one: new tables and indexes; new columns (a `NOT NULL` one is filled
//!   with a neutral value for the rows already there); changed types, nullability and checks;
//!   removed columns dropped, and removed tables only named (their data is kept). Every drop is
//!   reported as a warning (a renamed field is a drop and an add).
//!
//! The same blueprint and history always give the same files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::model::field::FieldView;
use crate::plan::model::service::ServiceView;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub comment: String,
    pub columns: Vec<Column>,
    /// Table constraints after the columns (`PRIMARY KEY (a, b)`).
    #[serde(default)]
    pub constraints: Vec<String>,
    pub indexes: Vec<Index>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub sql_type: String,
    pub not_null: bool,
    pub primary_key: bool,
    #[serde(default)]
    pub unique: bool,
    /// `CHECK (…)`, empty when none.
    pub check: String,
    /// `DEFAULT …`, empty when none.
    pub default: String,
    /// A value for rows that exist when the column is added (`NOT NULL` without default).
    pub fill: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
}

/// A migration file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    pub file: String,
    pub sql: String,
}

/// What `.msa-gen/migrations.json` holds per service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceHistory {
    pub model: Model,
    pub migrations: Vec<Migration>,
}

/// The migration history of a workspace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub services: BTreeMap<String, ServiceHistory>,
}

/// Where the history lives in a workspace.
pub const HISTORY_PATH: &str = ".msa-gen/migrations.json";

impl History {
    /// The history of the workspace in `dir`; `None` for a new workspace (or one made before
    /// histories were kept).
    pub fn read(dir: &std::path::Path) -> Result<Option<Self>, String> {
        let path = dir.join(HISTORY_PATH);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Reads a workspace's history; a missing file is an empty history.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("{HISTORY_PATH}: {e}"))
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// A neutral value of a SQL type, for existing rows of a new `NOT NULL` column.
fn fill_for(f: &FieldView) -> String {
    if let Some(first) = f
        .check
        .split('\'')
        .nth(1)
        .filter(|_| f.check.contains(" IN ("))
    {
        // An enum: its first value (a list of enums starts empty).
        if f.sql_type == "JSONB" {
            return "'[]'".into();
        }
        return format!("'{first}'");
    }
    match f.sql_type.as_str() {
        "TEXT" => "''".into(),
        "BOOLEAN" => "false".into(),
        "INTEGER" | "BIGINT" | "DOUBLE PRECISION" | "NUMERIC" => "0".into(),
        "UUID" => "'00000000-0000-0000-0000-000000000000'".into(),
        "DATE" => "CURRENT_DATE".into(),
        "TIMESTAMPTZ" => "now()".into(),
        "JSONB" if f.json_column => "'[]'".into(),
        "JSONB" => "'null'".into(),
        _ => "DEFAULT".into(),
    }
}

fn field_column(f: &FieldView, primary_key: bool) -> Column {
    Column {
        name: f.snake.clone(),
        sql_type: f.sql_type.clone(),
        not_null: !f.optional && !primary_key,
        primary_key,
        unique: false,
        check: f.check.clone(),
        default: String::new(),
        fill: fill_for(f),
    }
}

fn plain(name: &str, sql_type: &str, default: &str) -> Column {
    Column {
        name: name.into(),
        sql_type: sql_type.into(),
        not_null: true,
        primary_key: false,
        unique: false,
        check: String::new(),
        default: default.into(),
        fill: String::new(),
    }
}

/// The schema `s` needs.
pub fn model(s: &ServiceView) -> Model {
    let mut tables = Vec::new();
    for e in &s.entities {
        let mut columns = vec![Column {
            primary_key: true,
            not_null: false,
            ..plain("id", "UUID", "")
        }];
        columns.extend(e.fields.iter().map(|f| field_column(f, false)));
        columns.push(plain("version", "BIGINT", "1"));
        columns.push(plain("created_at", "TIMESTAMPTZ", "now()"));
        columns.push(plain("updated_at", "TIMESTAMPTZ", "now()"));
        let mut indexes = vec![Index {
            name: format!("{}_created_at_idx", e.table),
            columns: vec!["created_at".into(), "id".into()],
        }];
        indexes.extend(e.fields.iter().filter(|f| f.indexed).map(|f| Index {
            name: format!("{}_{}_idx", e.table, f.snake),
            columns: vec![f.snake.clone()],
        }));
        tables.push(Table {
            name: e.table.clone(),
            comment: String::new(),
            columns,
            constraints: Vec::new(),
            indexes,
        });
    }
    for v in &s.views {
        let mut columns: Vec<Column> = v
            .fields
            .iter()
            .map(|f| field_column(f, f.name == v.key.name))
            .collect();
        columns.push(plain("updated_at", "TIMESTAMPTZ", "now()"));
        tables.push(Table {
            name: v.table.clone(),
            comment: format!("The {} view, written by projections only.", v.name),
            columns,
            constraints: Vec::new(),
            indexes: v
                .others
                .iter()
                .filter(|f| f.indexed)
                .map(|f| Index {
                    name: format!("{}_{}_idx", v.table, f.snake),
                    columns: vec![f.snake.clone()],
                })
                .collect(),
        });
    }
    if !s.aggregates.is_empty() {
        let mut events = vec![
            plain("stream_id", "UUID", ""),
            plain("version", "BIGINT", ""),
            Column {
                unique: true,
                ..plain("event_id", "UUID", "")
            },
            plain("event_type", "TEXT", ""),
            plain("payload", "JSONB", ""),
            plain("metadata", "JSONB", "'{}'"),
            plain("recorded_at", "TIMESTAMPTZ", "now()"),
        ];
        for c in &mut events {
            c.fill = String::new();
        }
        tables.push(Table {
            name: "msa_events".into(),
            comment: "The event store (runtime::event_store): append-only streams, one per aggregate instance.".into(),
            columns: events,
            constraints: vec!["PRIMARY KEY (stream_id, version)".into()],
            indexes: Vec::new(),
        });
        tables.push(Table {
            name: "msa_snapshots".into(),
            comment: "The state of a stream after `version`, taken every `snapshot-every` events."
                .into(),
            columns: vec![
                Column {
                    primary_key: true,
                    not_null: false,
                    ..plain("stream_id", "UUID", "")
                },
                plain("version", "BIGINT", ""),
                plain("state", "JSONB", ""),
                plain("taken_at", "TIMESTAMPTZ", "now()"),
            ],
            constraints: Vec::new(),
            indexes: Vec::new(),
        });
    }
    Model { tables }
}

fn column_sql(c: &Column) -> String {
    let mut s = format!("\"{}\" {}", c.name, c.sql_type);
    if c.primary_key {
        s.push_str(" PRIMARY KEY");
    } else if c.not_null {
        s.push_str(" NOT NULL");
    }
    if c.unique {
        s.push_str(" UNIQUE");
    }
    if !c.default.is_empty() {
        s.push_str(" DEFAULT ");
        s.push_str(&c.default);
    }
    if !c.check.is_empty() {
        s.push(' ');
        s.push_str(&c.check);
    }
    s
}

fn create_table(t: &Table) -> String {
    let mut out = String::new();
    if !t.comment.is_empty() {
        out.push_str(&format!("-- {}\n", t.comment));
    }
    out.push_str(&format!("CREATE TABLE \"{}\" (\n", t.name));
    let lines: Vec<String> = t
        .columns
        .iter()
        .map(column_sql)
        .chain(t.constraints.iter().cloned())
        .map(|l| format!("    {l}"))
        .collect();
    out.push_str(&lines.join(",\n"));
    out.push_str("\n);\n");
    for i in &t.indexes {
        out.push_str(&create_index(&t.name, i));
    }
    out
}

fn create_index(table: &str, i: &Index) -> String {
    let cols: Vec<String> = i.columns.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "CREATE INDEX \"{}\" ON \"{table}\" ({});\n",
        i.name,
        cols.join(", ")
    )
}

/// The first migration of a service: its whole model.
pub fn init_sql(service: &str, m: &Model) -> String {
    let mut out = format!("-- Initial schema of the {service} database, from the blueprint.\n");
    if m.tables.is_empty() {
        out.push_str("\n-- No tables yet: this service declares no entities.\nSELECT 1;\n");
    }
    for t in &m.tables {
        out.push('\n');
        out.push_str(&create_table(t));
    }
    out
}

/// The statements from `old` to `new`, and a warning per drop. `None` when equal.
pub fn change_sql(service: &str, old: &Model, new: &Model) -> Option<(String, Vec<String>)> {
    if old == new {
        return None;
    }
    let mut out = format!(
        "-- Changes to the {service} database since the previous migration, from the blueprint.\n"
    );
    let mut warnings = Vec::new();
    for t in &new.tables {
        match old.tables.iter().find(|o| o.name == t.name) {
            None => {
                out.push('\n');
                out.push_str(&create_table(t));
            }
            Some(o) => out.push_str(&alter_table(service, o, t, &mut warnings)),
        }
    }
    for o in &old.tables {
        if !new.tables.iter().any(|t| t.name == o.name) {
            out.push_str(&format!(
                "\n-- \"{0}\" is no longer in the blueprint. Its rows are kept; when you are sure:\n-- DROP TABLE \"{0}\";\n",
                o.name
            ));
            warnings.push(format!(
                "{service}: table `{}` is no longer in the blueprint; the new migration keeps its data (drop it by hand)",
                o.name
            ));
        }
    }
    Some((out, warnings))
}

fn alter_table(service: &str, o: &Table, t: &Table, warnings: &mut Vec<String>) -> String {
    let name = &t.name;
    let mut out = String::new();
    for c in &t.columns {
        match o.columns.iter().find(|x| x.name == c.name) {
            None => {
                let needs_fill = c.not_null && c.default.is_empty() && !c.fill.is_empty();
                let mut added = c.clone();
                if needs_fill {
                    added.default = c.fill.clone();
                }
                out.push_str(&format!(
                    "ALTER TABLE \"{name}\" ADD COLUMN {};\n",
                    column_sql(&added)
                ));
                if needs_fill {
                    out.push_str(&format!(
                        "ALTER TABLE \"{name}\" ALTER COLUMN \"{}\" DROP DEFAULT;\n",
                        c.name
                    ));
                }
            }
            Some(x) if x != c => {
                let col = &c.name;
                if x.sql_type != c.sql_type {
                    out.push_str(&format!(
                        "ALTER TABLE \"{name}\" ALTER COLUMN \"{col}\" TYPE {ty} USING \"{col}\"::{ty};\n",
                        ty = c.sql_type
                    ));
                }
                if x.check != c.check {
                    out.push_str(&format!(
                        "ALTER TABLE \"{name}\" DROP CONSTRAINT IF EXISTS \"{name}_{col}_check\";\n"
                    ));
                    if !c.check.is_empty() {
                        out.push_str(&format!(
                            "ALTER TABLE \"{name}\" ADD CONSTRAINT \"{name}_{col}_check\" {};\n",
                            c.check
                        ));
                    }
                }
                if x.not_null != c.not_null && !c.primary_key {
                    if c.not_null {
                        if !c.fill.is_empty() {
                            out.push_str(&format!(
                                "UPDATE \"{name}\" SET \"{col}\" = {} WHERE \"{col}\" IS NULL;\n",
                                c.fill
                            ));
                        }
                        out.push_str(&format!(
                            "ALTER TABLE \"{name}\" ALTER COLUMN \"{col}\" SET NOT NULL;\n"
                        ));
                    } else {
                        out.push_str(&format!(
                            "ALTER TABLE \"{name}\" ALTER COLUMN \"{col}\" DROP NOT NULL;\n"
                        ));
                    }
                }
            }
            Some(_) => {}
        }
    }
    for x in &o.columns {
        if !t.columns.iter().any(|c| c.name == x.name) {
            out.push_str(&format!(
                "-- `{0}` left the blueprint (a renamed field is a drop and an add): its data goes.\nALTER TABLE \"{name}\" DROP COLUMN \"{0}\";\n",
                x.name
            ));
            warnings.push(format!(
                "{service}: column `{name}.{}` is dropped by the new migration, with its data (a renamed field is a drop and an add)",
                x.name
            ));
        }
    }
    for i in &t.indexes {
        if !o.indexes.contains(i) {
            out.push_str(&create_index(name, i));
        }
    }
    for i in &o.indexes {
        if !t.indexes.iter().any(|n| n.name == i.name) {
            out.push_str(&format!("DROP INDEX IF EXISTS \"{}\";\n", i.name));
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("\n{out}")
    }
}

/// The migration files of `s` given its history, the history to record, and warnings.
pub fn plan_service(
    s: &ServiceView,
    previous: Option<&ServiceHistory>,
) -> (ServiceHistory, Vec<String>) {
    let new = model(s);
    match previous {
        None => (
            ServiceHistory {
                migrations: vec![Migration {
                    file: "0001_init.sql".into(),
                    sql: init_sql(&s.name, &new),
                }],
                model: new,
            },
            Vec::new(),
        ),
        Some(h) => {
            let mut migrations = h.migrations.clone();
            let mut warnings = Vec::new();
            if let Some((sql, w)) = change_sql(&s.name, &h.model, &new) {
                migrations.push(Migration {
                    file: format!("{:04}_blueprint_change.sql", migrations.len() + 1),
                    sql,
                });
                warnings = w;
            }
            (
                ServiceHistory {
                    model: new,
                    migrations,
                },
                warnings,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop_with(extra: &str) -> crate::blueprint::Blueprint {
        let text = include_str!("../../../../blueprints/shop.toml").replace(
            "  tags = \"list<string>\"\n",
            &format!("  tags = \"list<string>\"\n{extra}"),
        );
        crate::blueprint::load(&text).expect("shop").blueprint
    }

    fn products(bp: &crate::blueprint::Blueprint) -> ServiceView {
        let s = bp
            .services
            .iter()
            .find(|s| s.name.value == "products")
            .unwrap();
        crate::plan::model::service::service_view(s, bp)
    }

    #[test]
    fn an_added_field_is_a_new_migration_and_the_first_stays() {
        let before = products(&shop_with(""));
        let (first, w) = plan_service(&before, None);
        assert!(w.is_empty());
        assert_eq!(first.migrations.len(), 1);
        assert!(first.migrations[0].sql.contains("CREATE TABLE \"product\""));
        // Same blueprint: nothing new.
        let (same, _) = plan_service(&before, Some(&first));
        assert_eq!(same, first);
        let after = products(&shop_with(
            "  stock = \"i32\"\n  color = \"enum(red, blue)?\"\n",
        ));
        let (next, w) = plan_service(&after, Some(&first));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(next.migrations[0], first.migrations[0], "never edited");
        let change = &next.migrations[1];
        assert_eq!(change.file, "0002_blueprint_change.sql");
        assert!(
            change.sql.contains(
                "ALTER TABLE \"product\" ADD COLUMN \"stock\" INTEGER NOT NULL DEFAULT 0;\nALTER TABLE \"product\" ALTER COLUMN \"stock\" DROP DEFAULT;"
            ),
            "{}",
            change.sql
        );
        assert!(
            change.sql.contains("ADD COLUMN \"color\" TEXT CHECK"),
            "{}",
            change.sql
        );
        // Removing it again drops the columns, with warnings.
        let (back, w) = plan_service(&before, Some(&next));
        assert_eq!(back.migrations.len(), 3);
        assert!(back.migrations[2].sql.contains("DROP COLUMN \"stock\""));
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn the_history_round_trips() {
        let (first, _) = plan_service(&products(&shop_with("")), None);
        let mut h = History::default();
        h.services.insert("products".into(), first);
        assert_eq!(History::parse(&h.to_json()).unwrap(), h);
    }
}
