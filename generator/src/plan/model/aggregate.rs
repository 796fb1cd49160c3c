//! View models of event-sourced aggregates: the commands with their bodies, and the default
//! state model written into the user-owned `logic/<aggregate>.rs`.
//!
//! The default model follows the command names (documented in the blueprint reference):
//! - the first command creates the aggregate; its event's fields (minus the aggregate id) are
//!   the state's own fields, and the status becomes the event's verb (`CartCreated` → `created`);
//! - `add-<x>` keeps a collection `<x>s`, keyed by the first uuid field of its event (the item's
//!   other fields are the item); `remove-<x>` takes the item out; `change-<f>` sets field `f` of
//!   the item named by the key (or of the aggregate);
//! - any other command sets the status to its event's verb (`CartCheckedOut` → `checked-out`),
//!   after which only the creating status accepts commands.
//!
//! A command that fits none of these patterns (for example `add-x` whose event has no key)
//! falls back to setting the status.

use serde::Serialize;

use super::field::{FieldView, field_view};
use super::wire::flags;
use crate::blueprint::{Aggregate, Blueprint, Kind};
use crate::names::{to_kebab, to_pascal, to_snake};

#[derive(Debug, Clone, Serialize)]
pub struct AggregateView {
    pub name: String,
    pub snake: String,
    /// The aggregate id's field in every event (`cart_id`).
    pub id_field: String,
    pub path: String,
    pub exposed: bool,
    pub read_roles: Vec<String>,
    pub write_roles: Vec<String>,
    pub commands: Vec<CommandView>,
    pub state: StateView,
    /// The events of the aggregate the service publishes to the broker.
    pub published: Vec<String>,
    /// Its name in words (`shopping cart`), for messages.
    pub words: String,
    /// The status of the first status command, as an example in docs (empty without one).
    pub example_status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommandView {
    /// `add-item`
    pub name: String,
    /// `add_item`
    pub snake: String,
    /// `AddItem`: the request body type.
    pub pascal: String,
    /// The event it records (`ItemAdded`) and its snake name.
    pub event: String,
    pub event_snake: String,
    pub creates: bool,
    /// The event's fields without the aggregate id: the request body.
    pub body: Vec<FieldView>,
    /// What the default logic does with it.
    pub kind: CommandKind,
    /// For `add` / `remove` / `change` of an item: the collection (snake) and its key field.
    pub collection: String,
    pub key: String,
    /// For `add` / `remove` / `change`: the collection's item type.
    pub item: Option<CollectionView>,
    /// For `change`: the field set (snake), and whether it is copied by value.
    pub target: String,
    pub target_copy: bool,
    /// For `create` and `status`: the status the event leaves (`checked-out`).
    pub status: String,
    /// Whether the event goes to the broker too.
    pub published: bool,
}

/// What the default decision and state logic of a command does, by its name (see the module
/// doc). Templates see it as booleans (`kind.add`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Create,
    Add,
    Remove,
    Change,
    Status,
}

impl Serialize for CommandKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        flags(
            s,
            &[
                ("create", *self == CommandKind::Create),
                ("add", *self == CommandKind::Add),
                ("remove", *self == CommandKind::Remove),
                ("change", *self == CommandKind::Change),
                ("status", *self == CommandKind::Status),
            ],
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// Fields set by the creating event (`Option`, `None` before it).
    pub fields: Vec<FieldView>,
    pub collections: Vec<CollectionView>,
    /// The status that accepts commands (`created`).
    pub open_status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CollectionView {
    /// `items`
    pub snake: String,
    /// `Item`
    pub item: String,
    pub key: FieldView,
    pub fields: Vec<FieldView>,
}

/// `CartCheckedOut` of `Cart` → `checked-out`; an event not named after the aggregate keeps its
/// whole name.
fn verb(aggregate: &str, event: &str) -> String {
    to_kebab(event.strip_prefix(aggregate).unwrap_or(event))
}

fn contracts_type(f: &mut FieldView) {
    // Enums of event fields live in the contracts crate.
    if f.rust_base.chars().next().is_some_and(char::is_uppercase)
        && !f.rust_base.contains("::")
        && f.rust_base != "String"
    {
        let base = f.rust_base.clone();
        f.rust_type = f.rust_type.replace(&base, &format!("contracts::{base}"));
        f.rust_base = format!("contracts::{base}");
    }
}

pub fn aggregate_view(a: &Aggregate, publishes: &[String], bp: &Blueprint) -> AggregateView {
    let name = a.name.value.clone();
    let event_of = |n: &str| bp.events.iter().find(|e| e.name.value == n);
    // The aggregate id: the first uuid field of the creating event.
    let id_field = a
        .commands
        .first()
        .and_then(|c| event_of(&c.event.value))
        .and_then(|e| {
            e.fields
                .iter()
                .find(|f| f.ty.value.kind == Kind::Uuid && !f.ty.value.optional)
        })
        .map_or_else(
            || format!("{}_id", to_snake(&name)),
            |f| to_snake(&f.name.value),
        );
    let mut collections: Vec<CollectionView> = Vec::new();
    let mut state_fields = Vec::new();
    let mut commands = Vec::new();
    let open_status = a
        .commands
        .first()
        .map(|c| verb(&name, &c.event.value))
        .unwrap_or_else(|| "created".into());
    for (i, c) in a.commands.iter().enumerate() {
        let event = c.event.value.clone();
        let body: Vec<FieldView> = event_of(&event)
            .map(|e| {
                e.fields
                    .iter()
                    .enumerate()
                    .map(|(n, f)| {
                        let mut v = field_view(f, &event, n);
                        contracts_type(&mut v);
                        v
                    })
                    .filter(|f| f.snake != id_field)
                    .collect()
            })
            .unwrap_or_default();
        let command = c.name.value.clone();
        let mut view = CommandView {
            snake: to_snake(&command),
            pascal: to_pascal(&command),
            event_snake: to_snake(&event),
            creates: i == 0,
            kind: CommandKind::Status,
            collection: String::new(),
            key: String::new(),
            item: None,
            target: String::new(),
            target_copy: false,
            status: verb(&name, &event),
            published: publishes.contains(&event),
            body: body.clone(),
            name: command.clone(),
            event,
        };
        if i == 0 {
            view.kind = CommandKind::Create;
            state_fields = body;
        } else if let Some(thing) = command.strip_prefix("add-") {
            if let Some(key) = body.iter().find(|f| f.rust_type == "uuid::Uuid") {
                let snake = format!("{}s", to_snake(thing));
                if !collections.iter().any(|c| c.snake == snake) {
                    collections.push(CollectionView {
                        snake: snake.clone(),
                        item: to_pascal(thing),
                        key: key.clone(),
                        fields: body
                            .iter()
                            .filter(|f| f.snake != key.snake)
                            .cloned()
                            .collect(),
                    });
                }
                view.kind = CommandKind::Add;
                view.item = collections.iter().find(|c| c.snake == snake).cloned();
                view.collection = snake;
                view.key = key.snake.clone();
            }
        } else if let Some(thing) = command.strip_prefix("remove-") {
            let snake = format!("{}s", to_snake(thing));
            if let Some(col) = collections.iter().find(|c| c.snake == snake)
                && body.iter().any(|f| f.snake == col.key.snake)
            {
                view.kind = CommandKind::Remove;
                view.key = col.key.snake.clone();
                view.item = Some(col.clone());
                view.collection = snake;
            }
        } else if let Some(field) = command.strip_prefix("change-") {
            let target = to_snake(field);
            let in_item = collections.iter().find(|c| {
                body.iter().any(|f| f.snake == c.key.snake)
                    && c.fields.iter().any(|f| f.snake == target)
            });
            if let Some(col) = in_item
                && body.iter().any(|f| f.snake == target)
            {
                view.kind = CommandKind::Change;
                view.collection = col.snake.clone();
                view.key = col.key.snake.clone();
                view.target_copy = col.fields.iter().any(|f| f.snake == target && f.copy);
                view.item = Some(col.clone());
                view.target = target;
            }
        }
        commands.push(view);
    }
    let expose = a.expose.as_ref();
    AggregateView {
        snake: to_snake(&name),
        id_field,
        path: expose.map_or_else(
            || format!("/{}s", to_kebab(&name)),
            |x| x.path.value.clone(),
        ),
        exposed: expose.is_some(),
        read_roles: expose
            .iter()
            .flat_map(|x| x.read.iter().map(|r| r.value.clone()))
            .collect(),
        write_roles: expose
            .iter()
            .flat_map(|x| x.write.iter().map(|r| r.value.clone()))
            .collect(),
        published: commands
            .iter()
            .filter(|c| c.published)
            .map(|c| c.event.clone())
            .collect(),
        words: to_snake(&name).replace('_', " "),
        example_status: commands
            .iter()
            .find(|c| c.kind == CommandKind::Status)
            .map(|c| c.status.clone())
            .unwrap_or_default(),
        commands,
        state: StateView {
            fields: state_fields,
            collections,
            open_status,
        },
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_cart_gets_items_and_statuses() {
        let text = include_str!("../../../../blueprints/shop.toml");
        let bp = crate::blueprint::load(text).expect("shop loads").blueprint;
        let carts = bp
            .services
            .iter()
            .find(|s| s.name.value == "carts")
            .unwrap();
        let publishes: Vec<String> = carts.publishes.iter().map(|p| p.value.clone()).collect();
        let v = aggregate_view(&carts.aggregates[0], &publishes, &bp);
        assert_eq!(v.id_field, "cart_id");
        let kinds: Vec<(&str, CommandKind)> = v
            .commands
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("create", CommandKind::Create),
                ("add-item", CommandKind::Add),
                ("remove-item", CommandKind::Remove),
                ("change-quantity", CommandKind::Change),
                ("check-out", CommandKind::Status),
            ]
        );
        let kind = serde_json::to_value(v.commands[1].kind).unwrap_or_default();
        assert_eq!(
            (kind["name"].as_str(), kind["add"].as_bool()),
            (Some("add"), Some(true))
        );
        assert_eq!(v.example_status, "checked-out");
        assert_eq!(v.state.open_status, "created");
        assert_eq!(v.commands[4].status, "checked-out");
        let items = &v.state.collections[0];
        assert_eq!(
            (items.snake.as_str(), items.key.snake.as_str()),
            ("items", "product_id")
        );
        assert_eq!(items.fields.len(), 1);
        assert_eq!(v.state.fields[0].snake, "customer_id");
        assert!(
            v.commands
                .iter()
                .all(|c| c.body.iter().all(|f| f.snake != "cart_id"))
        );
    }
}
