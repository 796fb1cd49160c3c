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
//!   for information: it refuses nothing.
//!
//! Every command after the first is accepted in any status, unless the blueprint states a
//! lifecycle: after a command of `closed-by` (whose status it sets, whatever its kind) the
//! aggregate refuses every command. A command that fits none of the patterns above (for
//! example `add-x` whose event has no key) falls back to setting the status.

use serde::Serialize;

use super::field::{FieldView, enum_name, field_view};
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
    /// For `create`, `status` and closing commands: the status the event leaves
    /// (`checked-out`).
    pub status: String,
    /// It is in the aggregate's `closed-by`: after it, every command is refused.
    pub closes: bool,
    /// Its event sets the status (a `status` command, or a closing one that is not `create`).
    pub sets_status: bool,
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
    /// The status the creating command leaves (`created`).
    pub open_status: String,
    /// The statuses the `closed-by` commands leave, in which every command is refused (empty:
    /// no lifecycle, every command accepted in any status).
    pub closed: Vec<String>,
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

/// Names an event field's enum (`Vec<ItemKind>` too) by its path in the contracts crate, where
/// the enums of events live, documented in OpenAPI as strings.
fn contracts_type(f: &mut FieldView, event: &str) {
    let en = enum_name(event, &f.name);
    if f.rust_type.contains(&en) {
        let path = format!("contracts::{en}");
        f.rust_type = f.rust_type.replace(&en, &path);
        f.rust_base = f.rust_base.replace(&en, &path);
        // contracts has no OpenAPI derive: the API documents the enum as its wire string.
        f.schema_type = f.rust_base.replace(&path, "String");
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
                        contracts_type(&mut v, &event);
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
            closes: i > 0 && a.closed_by.iter().any(|x| x.value == command),
            sets_status: false,
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
        view.sets_status = view.closes || view.kind == CommandKind::Status;
        commands.push(view);
    }
    let mut closed: Vec<String> = Vec::new();
    for c in commands.iter().filter(|c| c.closes) {
        if !closed.contains(&c.status) {
            closed.push(c.status.clone());
        }
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
            closed,
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
        // The shop states its lifecycle: `closed-by = ["check-out"]`.
        assert_eq!(v.state.closed, ["checked-out"]);
        let closing: Vec<&str> = v
            .commands
            .iter()
            .filter(|c| c.closes)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(closing, ["check-out"]);
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

    /// A basket with a command that fits no pattern (`update-quantity`): not a lifecycle.
    const BASKET: &str = r#"
[system]
name = "market"

[platform]
broker = "nats"

[[events]]
name = "BasketCreated"
[events.fields]
basket-id = "uuid"
owner = "string"

[[events]]
name = "ItemAdded"
[events.fields]
basket-id = "uuid"
product-id = "uuid"
quantity = "i32"

[[events]]
name = "QuantityUpdated"
[events.fields]
basket-id = "uuid"
product-id = "uuid"
quantity = "i32"

[[events]]
name = "BasketCheckedOut"
[events.fields]
basket-id = "uuid"

[[services]]
name = "baskets"
style = "event-sourced"
  [[services.aggregates]]
  name = "Basket"
  expose = { path = "/baskets" }
  [services.aggregates.commands]
  create = "BasketCreated"
  add-item = "ItemAdded"
  update-quantity = "QuantityUpdated"
  check-out = "BasketCheckedOut"
"#;

    fn basket_logic(text: &str) -> (AggregateView, String) {
        let bp = crate::blueprint::load(text).expect("valid").blueprint;
        let v = aggregate_view(&bp.services[0].aggregates[0], &[], &bp);
        let logic = crate::generate_in_memory(text)
            .expect("generates")
            .into_iter()
            .find(|f| f.path == "services/baskets/src/logic/basket.rs")
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .expect("logic/basket.rs");
        (v, logic)
    }

    /// The body of `decide_<command>` in the rendered logic.
    fn decision<'a>(logic: &'a str, command: &str) -> &'a str {
        let start = logic
            .find(&format!("pub fn decide_{command}("))
            .expect("decide fn");
        let body = &logic[start..];
        &body[..body.find("\n}\n").expect("end of fn")]
    }

    #[test]
    fn without_a_lifecycle_every_command_sequence_is_accepted() {
        // Issue 20, item 11: `check-out` after `update-quantity` was refused ("the basket is
        // quantity-updated").
        let (v, logic) = basket_logic(BASKET);
        assert!(v.state.closed.is_empty());
        assert_eq!(v.commands[2].kind, CommandKind::Status);
        assert!(v.commands[2].sets_status && !v.commands[2].closes);
        assert!(!logic.contains("fn open("), "{logic}");
        for command in ["update_quantity", "check_out"] {
            let body = decision(&logic, command);
            assert!(
                body.contains("let _ = (state, body);") && body.trim_end().ends_with("Ok(())"),
                "{body}"
            );
        }
        // The status still tells the last status command, for information.
        assert!(logic.contains("state.status = \"quantity-updated\".into();"));
    }

    #[test]
    fn closed_by_refuses_every_command_after_a_closing_one() {
        let text = BASKET.replace(
            "  [services.aggregates.commands]",
            "  closed-by = [\"check-out\", \"add-item\"]\n  [services.aggregates.commands]",
        );
        let (v, logic) = basket_logic(&text);
        // Ordered as the commands are declared.
        assert_eq!(v.state.closed, ["item-added", "checked-out"]);
        assert!(v.commands[1].closes && v.commands[1].sets_status);
        assert!(
            logic.contains(
                r#""item-added" | "checked-out" => Err(format!("the basket is {}", state.status)),"#
            ),
            "{logic}"
        );
        for command in ["add_item", "update_quantity", "check_out"] {
            assert!(
                decision(&logic, command).contains("open(state)"),
                "{command}"
            );
        }
        assert!(!decision(&logic, "create").contains("open(state)"));
        // A closing `add-` command still adds its item, and sets the status.
        assert!(logic.contains("state.status = \"item-added\".into();"));
    }
}
