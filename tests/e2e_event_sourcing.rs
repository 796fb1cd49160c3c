//! End to end, event sourcing: the generated `carts` service of the shop (default decisions
//! and state from `logic/cart.rs`) as its own process, on a real Postgres and a real NATS.
//!
//! - The seed's cart: create, add item 1, add item 2, remove item 1, change the quantity of
//!   item 2 → the state holds item 2 with the new quantity, and the history lists the five
//!   events in order, with their versions.
//! - Refused commands (removing an item that is not there, anything after check-out) → 422;
//!   an unknown cart → 404; no event is recorded for them.
//! - Concurrent appends based on the same version (`If-Match`) → exactly one is recorded, every
//!   other one gets 409: no lost update, no gap in the versions.
//! - Property: after random command sequences, the state loaded from the latest snapshot
//!   (one every 3 events here) equals the replay of every event from the first.
//! - The published events leave through the outbox to the broker.

use std::time::Duration;

use e2e_kit::infra;
use msa_gen_tests::free_port;
use msa_gen_tests::processes::{spawn_with, wait_ready};
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Carts {
    http: reqwest::Client,
    base: String,
}

impl Carts {
    async fn create(&self, customer: uuid::Uuid) -> (uuid::Uuid, Value) {
        let r = self
            .http
            .post(format!("{}/carts", self.base))
            .json(&json!({ "customer_id": customer }))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.expect("json");
        let id = body["id"].as_str().expect("id").parse().expect("uuid");
        (id, body)
    }

    async fn command(
        &self,
        id: uuid::Uuid,
        command: &str,
        body: Value,
        if_match: Option<i64>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .post(format!("{}/carts/{id}/{command}", self.base))
            .json(&body);
        if let Some(v) = if_match {
            r = r.header("if-match", format!("\"{v}\""));
        }
        let r = r.send().await.expect("command");
        let status = r.status();
        (status, r.json().await.unwrap_or_default())
    }

    async fn get(&self, id: uuid::Uuid, query: &str) -> Value {
        self.http
            .get(format!("{}/carts/{id}{query}", self.base))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(usize, i32),
    Remove(usize),
    Change(usize, i32),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        (0..4usize, 1..9i32).prop_map(|(p, q)| Op::Add(p, q)),
        (0..4usize).prop_map(Op::Remove),
        (0..4usize, 1..9i32).prop_map(|(p, q)| Op::Change(p, q)),
    ];
    proptest::collection::vec(op, 1..24)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carts_are_event_sourced() {
    let ws = msa_gen_tests::shop("nats", &["carts"]);
    let pg = infra::postgres(&["carts".into()]).await.expect("postgres");
    let nats = infra::broker("nats").await.expect("nats");
    let port = free_port();
    let db = format!("{}/carts", pg.url);
    let mut carts = spawn_with(
        &ws,
        "carts",
        port,
        &db,
        &nats.url,
        &[
            ("APP_AUTH_URL", "none".into()),
            ("APP_SNAPSHOT_EVERY", "3".into()),
        ],
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    wait_ready(&http, &mut carts).await;
    let api = Carts {
        http: http.clone(),
        base: format!("http://127.0.0.1:{port}"),
    };

    // The seed's cart.
    let customer = uuid::Uuid::new_v4();
    let (id, created) = api.create(customer).await;
    assert_eq!(created["version"], 1);
    assert_eq!(created["state"]["status"], "created");
    let (item1, item2) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for (command, body) in [
        ("add-item", json!({ "product_id": item1, "quantity": 1 })),
        ("add-item", json!({ "product_id": item2, "quantity": 2 })),
        ("remove-item", json!({ "product_id": item1 })),
        (
            "change-quantity",
            json!({ "product_id": item2, "quantity": 5 }),
        ),
    ] {
        let (status, body) = api.command(id, command, body, None).await;
        assert_eq!(status, StatusCode::OK, "{command}: {body}");
    }
    let cart = api.get(id, "").await;
    assert_eq!(cart["version"], 5);
    assert_eq!(
        cart["state"],
        json!({ "status": "created", "customer_id": customer, "items": [{ "product_id": item2, "quantity": 5 }] })
    );
    let history: Vec<Value> = http
        .get(format!("{}/carts/{id}/history", api.base))
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    let types: Vec<(i64, &str)> = history
        .iter()
        .map(|e| {
            (
                e["version"].as_i64().unwrap_or_default(),
                e["event_type"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            (1, "CartCreated"),
            (2, "ItemAdded"),
            (3, "ItemAdded"),
            (4, "ItemRemoved"),
            (5, "QuantityChanged"),
        ]
    );
    assert_eq!(history[1]["payload"]["product_id"], json!(item1));
    assert_eq!(history[4]["metadata"]["command"], "change-quantity");

    // Refusals record nothing.
    let (status, _) = api
        .command(id, "remove-item", json!({ "product_id": item1 }), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "item 1 is gone");
    let (status, _) = api
        .command(id, "check-out", json!({ "customer_id": customer }), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api
        .command(
            id,
            "add-item",
            json!({ "product_id": item1, "quantity": 1 }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("checked-out"), "{body}");
    let (status, _) = api
        .command(
            uuid::Uuid::new_v4(),
            "check-out",
            json!({ "customer_id": customer }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(api.get(id, "").await["version"], 6);

    // Concurrent appends on the same version: one wins, the others get 409.
    let (id, _) = api.create(customer).await;
    let attempts = 8;
    let results = futures_util::future::join_all((0..attempts).map(|_| {
        api.command(
            id,
            "add-item",
            json!({ "product_id": uuid::Uuid::new_v4(), "quantity": 1 }),
            Some(1),
        )
    }))
    .await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let conflicts = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (1, attempts - 1), "{results:?}");
    let cart = api.get(id, "").await;
    assert_eq!(cart["version"], 2);
    assert_eq!(cart["state"]["items"].as_array().map(Vec::len), Some(1));

    // Without If-Match, concurrent commands never lose an update: each is recorded or refused.
    let (id, _) = api.create(customer).await;
    let results = futures_util::future::join_all((0..attempts).map(|_| {
        api.command(
            id,
            "add-item",
            json!({ "product_id": uuid::Uuid::new_v4(), "quantity": 1 }),
            None,
        )
    }))
    .await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert!(
        results
            .iter()
            .all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{results:?}"
    );
    let cart = api.get(id, "").await;
    assert_eq!(cart["version"], 1 + ok as i64);
    assert_eq!(cart["state"]["items"].as_array().map(Vec::len), Some(ok));

    // Property: snapshot + tail == replay from zero.
    let handle = tokio::runtime::Handle::current();
    let config = ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let products: Vec<uuid::Uuid> = (0..4).map(|_| uuid::Uuid::new_v4()).collect();
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&ops(), |ops| {
            handle.block_on(async {
                let (id, _) = api.create(customer).await;
                for op in &ops {
                    let (command, body) = match *op {
                        Op::Add(p, q) => (
                            "add-item",
                            json!({ "product_id": products[p], "quantity": q }),
                        ),
                        Op::Remove(p) => ("remove-item", json!({ "product_id": products[p] })),
                        Op::Change(p, q) => (
                            "change-quantity",
                            json!({ "product_id": products[p], "quantity": q }),
                        ),
                    };
                    let (status, body) = api.command(id, command, body, None).await;
                    prop_assert!(
                        status == StatusCode::OK || status == StatusCode::UNPROCESSABLE_ENTITY,
                        "{command}: {status} {body}"
                    );
                }
                let from_snapshot = api.get(id, "").await;
                let from_zero = api.get(id, "?from=zero").await;
                prop_assert_eq!(&from_snapshot, &from_zero);
                Ok(())
            })
        })
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let snapshots: i64 = sqlx::query_scalar("SELECT count(*) FROM msa_snapshots")
        .fetch_one(&sqlx::PgPool::connect(&db).await.expect("db"))
        .await
        .expect("count");
    assert!(snapshots > 0, "snapshots were taken");

    // Published events leave through the outbox.
    let pool = sqlx::PgPool::connect(&db).await.expect("db");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM msa_outbox WHERE published_at IS NULL")
                .fetch_one(&pool)
                .await
                .expect("outbox");
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM msa_outbox")
            .fetch_one(&pool)
            .await
            .expect("outbox");
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM msa_events")
            .fetch_one(&pool)
            .await
            .expect("events");
        assert_eq!(
            total, events,
            "every recorded event is published (all are in `publishes`)"
        );
        if pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pending} events never left the outbox"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
