//! End to end, sagas: the shop's `place-order` (choreography) with the generated `orders`
//! (owner) and `customers` (participant, default `reserve-credit` / `release-credit`), as their
//! own processes on a real Postgres and a real NATS.
//!
//! - Approve path: an order within the customer's remaining credit ends `approved` and the
//!   credit stays reserved; reject path: one over it ends `rejected` with the reason
//!   "credit limit exceeded" and reserves nothing. The saga's history is readable at
//!   `/admin/sagas/place-order/{id}`, and the events of the saga carry the correlation id and the
//!   trace of the request that started it.
//! - Participant down longer than the timeout: the order ends `rejected` ("timed out"); when
//!   `customers` is back, whatever it reserved for that order is released (compensation), and
//!   the late reply changes nothing at the owner.
//! - Owner killed (SIGKILL) mid-saga and restarted: every saga completes.
//! - 200 concurrent sagas over 10 customers: every one ends approved or rejected, and each
//!   customer's reserved credit equals the total of its approved orders exactly, never over its
//!   limit. Prints sagas/second.
//! - `checkout` (orchestration) the same way, ending with 200 concurrent checkouts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e_kit::infra;
use msa_gen_tests::free_port;
use msa_gen_tests::processes::{self, wait_ready};
use msa_gen_tests::sagas::{self, Saga, Shop, TIMEOUT_MS, start};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn place_order_saga() {
    let ws = msa_gen_tests::shop("nats", &["orders", "customers"]);
    let pg = infra::postgres(&["orders".into(), "customers".into()])
        .await
        .expect("postgres");
    let nats_service = infra::broker("nats").await.expect("nats");
    let nats = &nats_service.url;
    let db = |name: &str| format!("{}/{name}", pg.url);
    let orders_db = PgPool::connect(&db("orders")).await.expect("orders db");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let shop = Shop {
        http,
        orders: free_port(),
        customers: free_port(),
    };
    let mut orders = start(&ws, "orders", shop.orders, &db("orders"), nats);
    let mut customers = start(&ws, "customers", shop.customers, &db("customers"), nats);
    wait_ready(&shop.http, &mut orders).await;
    wait_ready(&shop.http, &mut customers).await;
    let customers_db = PgPool::connect(&db("customers")).await.expect("db");

    // Approve and reject paths.
    let ada = shop.customer("100.00").await;
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let within = shop.order(ada, "60.00", Some(trace)).await;
    let over = shop.order(ada, "50.00", None).await;
    let done = shop.settled(&[within, over], Duration::from_secs(30)).await;
    assert_eq!(done[&within].0, "approved");
    assert_eq!(
        done[&over],
        ("rejected".to_string(), json!("credit limit exceeded"))
    );
    assert_eq!(shop.reserved(ada).await, Decimal::new(6000, 2));
    let saga = shop
        .get(shop.orders, &format!("/admin/sagas/place-order/{within}"))
        .await;
    assert_eq!(saga["instance"]["status"], "completed", "{saga}");
    let entries: Vec<&str> = saga["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["entry"].as_str())
        .collect();
    assert_eq!(entries, ["started", "completed"]);
    let rejected = shop
        .get(shop.orders, &format!("/admin/sagas/place-order/{over}"))
        .await;
    assert_eq!(rejected["instance"]["status"], "compensated");
    // Correlation id and trace context run through every event of the saga.
    let correlation: uuid::Uuid = saga["instance"]["correlation_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("correlation id");
    let carried: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT event_type, payload->>'correlation_id', payload->>'trace_context' FROM msa_outbox \
         WHERE payload->'payload'->>'order_id' = $1 ORDER BY id",
    )
    .bind(within.to_string())
    .fetch_all(&orders_db)
    .await
    .expect("orders outbox");
    let reserved_event: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT payload->>'correlation_id', payload->>'trace_context' FROM msa_outbox \
         WHERE event_type = 'CreditReserved' AND payload->'payload'->>'order_id' = $1",
    )
    .bind(within.to_string())
    .fetch_one(&customers_db)
    .await
    .expect("customers outbox");
    let types: Vec<&str> = carried.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(types, ["OrderCreated", "OrderApproved"]);
    for (corr, tp) in carried
        .iter()
        .map(|c| (c.1.clone(), c.2.clone()))
        .chain([reserved_event])
    {
        assert_eq!(corr, Some(correlation.to_string()));
        assert!(
            tp.as_deref()
                .is_some_and(|t| t.contains("4bf92f3577b34da6a3ce929d0e0e4736")),
            "trace context {tp:?}"
        );
    }

    // Participant down longer than the timeout: the order times out, the credit is released.
    let bob = shop.customer("100.00").await;
    drop(customers); // killed (SIGKILL) and reaped
    let late = shop.order(bob, "30.00", None).await;
    let done = shop
        .settled(&[late], Duration::from_millis(TIMEOUT_MS * 4))
        .await;
    assert_eq!(done[&late], ("rejected".to_string(), json!("timed out")));
    let mut customers = start(&ws, "customers", shop.customers, &db("customers"), nats);
    wait_ready(&shop.http, &mut customers).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Both events reach customers, in either order; the step is undone or never done.
        let steps: Vec<(String,)> = sqlx::query_as(
            "SELECT status FROM msa_saga_steps WHERE saga = 'place-order' AND id = $1",
        )
        .bind(late)
        .fetch_all(&customers_db)
        .await
        .expect("steps");
        if steps.iter().any(|s| s.0 == "compensated") {
            break;
        }
        assert!(Instant::now() < deadline, "no compensation: {steps:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(shop.reserved(bob).await, Decimal::ZERO);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let o = shop.get(shop.orders, &format!("/orders/{late}")).await;
    assert_eq!(o["status"], "rejected", "a late reply changes nothing");

    // Owner killed mid-saga and restarted: every saga completes.
    let carol = shop.customer("1000.00").await;
    let mut pending = Vec::new();
    for _ in 0..10 {
        pending.push(shop.order(carol, "10.00", None).await);
    }
    drop(orders); // killed (SIGKILL) and reaped
    let mut orders = start(&ws, "orders", shop.orders, &db("orders"), nats);
    wait_ready(&shop.http, &mut orders).await;
    let done = shop.settled(&pending, Duration::from_secs(30)).await;
    assert!(done.values().all(|(s, _)| s == "approved"), "{done:?}");
    assert_eq!(shop.reserved(carol).await, Decimal::new(10000, 2));

    // 200 concurrent sagas: all end, and the credit balances exactly.
    let load = sagas::concurrent(&shop, Saga::PlaceOrder, 200).await;
    println!("place-order: {load}");
    let metrics = processes::metrics(&shop.http, shop.orders).await;
    assert!(
        metrics.contains("sagas_completed_total{saga=\"place-order\"}"),
        "saga metrics"
    );
}

/// `checkout` (orchestration): orders sends commands to customers (`reserve-credit`) and
/// payments (`charge`) and waits for their replies.
///
/// - All steps done → `approved`, history in order.
/// - The charge refused (an amount that is not positive) → `release-credit` sent, order
///   `rejected` with the refusal as reason, the credit back where it was.
/// - Owner killed mid-saga and restarted → every saga completes.
/// - `payments` down longer than the timeout → the current step and the ones before it are
///   compensated in reverse order (`refund`, then `release-credit`) once it is back; the order
///   ends `rejected` ("timed out") and the credit is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_saga() {
    let ws = msa_gen_tests::shop("nats", &["orders", "customers", "payments"]);
    let pg = infra::postgres(&["orders".into(), "customers".into(), "payments".into()])
        .await
        .expect("postgres");
    let nats_service = infra::broker("nats").await.expect("nats");
    let nats = &nats_service.url;
    let db = |name: &str| format!("{}/{name}", pg.url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let shop = Shop {
        http,
        orders: free_port(),
        customers: free_port(),
    };
    let payments_port = free_port();
    // Orders' log, kept to read its start on a fresh database.
    let logs = tempfile::tempdir().expect("log dir");
    let orders_log = logs.path().join("orders.log");
    let mut orders = sagas::start_logged(
        &ws,
        "orders",
        shop.orders,
        &db("orders"),
        nats,
        Some(&orders_log),
    );
    let mut customers = start(&ws, "customers", shop.customers, &db("customers"), nats);
    let mut payments = start(&ws, "payments", payments_port, &db("payments"), nats);
    wait_ready(&shop.http, &mut orders).await;
    wait_ready(&shop.http, &mut customers).await;
    wait_ready(&shop.http, &mut payments).await;

    // Success.
    let ada = shop.customer("100.00").await;
    let ok = shop.checkout(ada, "40.00").await;
    let done = shop.settled(&[ok], Duration::from_secs(30)).await;
    assert_eq!(done[&ok].0, "approved");
    // Its first start on an empty database logged no error: resuming unfinished sagas waits for
    // the runtime's tables.
    let errors = processes::error_lines(&orders_log);
    assert!(
        errors.is_empty(),
        "orders' start logged errors: {errors:#?}"
    );
    assert_eq!(shop.reserved(ada).await, Decimal::new(4000, 2));
    let (instance, entries) = shop.history(Saga::Checkout, ok).await;
    assert_eq!(instance["status"], "completed");
    assert_eq!(
        entries,
        [
            "started",
            "reply reserve-credit",
            "send charge",
            "reply charge",
            "completed"
        ]
    );

    // The charge refused: the credit reservation is compensated.
    let refused = shop.checkout(ada, "0.00").await;
    let done = shop.settled(&[refused], Duration::from_secs(30)).await;
    assert_eq!(done[&refused].0, "rejected");
    assert!(
        done[&refused]
            .1
            .as_str()
            .is_some_and(|r| r.contains("not positive")),
        "{:?}",
        done[&refused]
    );
    let (instance, entries) = shop.history(Saga::Checkout, refused).await;
    assert_eq!(instance["status"], "compensated");
    assert_eq!(
        entries,
        [
            "started",
            "reply reserve-credit",
            "send charge",
            "reply charge",
            "send release-credit",
            "reply release-credit",
            "compensated"
        ]
    );
    assert_eq!(shop.reserved(ada).await, Decimal::new(4000, 2));

    // Owner killed mid-saga and restarted: every saga completes.
    let bob = shop.customer("1000.00").await;
    let mut pending = Vec::new();
    for _ in 0..8 {
        pending.push(shop.checkout(bob, "10.00").await);
    }
    drop(orders); // killed (SIGKILL) and reaped
    let mut orders = start(&ws, "orders", shop.orders, &db("orders"), nats);
    wait_ready(&shop.http, &mut orders).await;
    let done = shop.settled(&pending, Duration::from_secs(30)).await;
    assert!(done.values().all(|(s, _)| s == "approved"), "{done:?}");
    assert_eq!(shop.reserved(bob).await, Decimal::new(8000, 2));

    // A participant down longer than the timeout: compensation in reverse order.
    let carol = shop.customer("100.00").await;
    drop(payments); // killed (SIGKILL) and reaped
    let late = shop.checkout(carol, "25.00").await;
    tokio::time::sleep(Duration::from_millis(TIMEOUT_MS + 4000)).await;
    let o = shop.get(shop.orders, &format!("/orders/{late}")).await;
    assert_eq!(
        o["status"], "pending",
        "compensating until payments answers"
    );
    let (instance, _) = shop.history(Saga::Checkout, late).await;
    assert_eq!(instance["status"], "compensating", "{instance}");
    let mut payments = start(&ws, "payments", payments_port, &db("payments"), nats);
    wait_ready(&shop.http, &mut payments).await;
    let done = shop.settled(&[late], Duration::from_secs(30)).await;
    assert_eq!(done[&late], ("rejected".to_string(), json!("timed out")));
    let (instance, entries) = shop.history(Saga::Checkout, late).await;
    assert_eq!(instance["status"], "timed-out");
    let sent: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.strip_prefix("send "))
        .collect();
    assert_eq!(sent, ["charge", "refund", "release-credit"], "{entries:?}");
    assert_eq!(shop.reserved(carol).await, Decimal::ZERO);

    // 200 concurrent checkouts: all end, and the credit balances exactly.
    let load = sagas::concurrent(&shop, Saga::Checkout, 200).await;
    println!("checkout: {load}");
}

/// A saga's instance at its owner (`/admin/sagas/{saga}/{id}`), once its status is not
/// `running` any more (30 s at most).
async fn ended(http: &reqwest::Client, port: u16, saga: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http
            .get(format!("http://127.0.0.1:{port}/admin/sagas/{saga}/{id}"))
            .send()
            .await
            .expect("saga");
        if r.status().is_success() {
            let v: Value = r.json().await.expect("json");
            let status = v["instance"]["status"].as_str().unwrap_or_default();
            if status != "running" && status != "compensating" {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "saga {saga} {id} still running");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// POSTs `body` to `path` of the service on `port`; returns the answer's `id`.
async fn post_id(http: &reqwest::Client, port: u16, path: &str, body: Value) -> String {
    let r = http
        .post(format!("http://127.0.0.1:{port}{path}"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    let v: Value = r.json().await.expect("json");
    v["id"].as_str().expect("id").to_string()
}

/// Six sagas that follow none of the shop's conventions
/// (`tests/random-regressions/sagas-without-conventions.toml`), run by the generated services
/// on a real Postgres and NATS: a choreography ending in outcome hooks (and, with a participant
/// down, timing out and compensated through the generated `BookTripFailed`), one correlated by
/// its events' correlation id, orchestrations started over HTTP with and without an entity, and
/// one moving a `state` enum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sagas_without_conventions() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("random-regressions/sagas-without-conventions.toml"),
    )
    .expect("blueprint");
    let names = [
        "trips", "seats", "hotels", "parcels", "couriers", "ledger", "claims",
    ];
    let ws = msa_gen_tests::built("sagas-any", &text, &names);
    let dbs: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
    let pg = infra::postgres(&dbs).await.expect("postgres");
    let nats_service = infra::broker("nats").await.expect("nats");
    let db = |name: &str| format!("{}/{name}", pg.url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let ports: BTreeMap<&str, u16> = names.iter().map(|n| (*n, free_port())).collect();
    let mut running = BTreeMap::new();
    for name in names {
        let p = start(&ws, name, ports[name], &db(name), &nats_service.url);
        running.insert(name, p);
    }
    for p in running.values_mut() {
        wait_ready(&http, p).await;
    }

    // book-trip: Trip has no status, so the owner's outcome hooks end it; keyed by trip-id.
    let trip = post_id(
        &http,
        ports["trips"],
        "/trips",
        json!({ "price": "120.00", "destination": "Lisbon" }),
    )
    .await;
    let saga = ended(&http, ports["trips"], "book-trip", &trip).await;
    assert_eq!(saga["instance"]["status"], "completed", "{saga}");

    // plan-trip: started over HTTP, creating a Trip (no status): the outcome hooks end it.
    let planned = post_id(
        &http,
        ports["trips"],
        "/trips/plan-trip",
        json!({ "price": "80.00", "destination": "Porto" }),
    )
    .await;
    let saga = ended(&http, ports["trips"], "plan-trip", &planned).await;
    assert_eq!(saga["instance"]["status"], "completed", "{saga}");

    // settle: a worker without entities starts it at /sagas/settle.
    let settle = post_id(&http, ports["ledger"], "/sagas/settle", json!({})).await;
    let saga = ended(&http, ports["ledger"], "settle", &settle).await;
    assert_eq!(saga["instance"]["status"], "completed", "{saga}");

    // approve-claim: the Claim's `state` follows it; the default pay-out refuses a
    // non-positive amount.
    for (amount, state) in [("10.00", "done"), ("-1.00", "canceled")] {
        let claim = post_id(
            &http,
            ports["claims"],
            "/claims/approve-claim",
            json!({ "amount": amount, "state": "open" }),
        )
        .await;
        let saga = ended(&http, ports["claims"], "approve-claim", &claim).await;
        let want = if state == "done" {
            "completed"
        } else {
            "compensated"
        };
        assert_eq!(saga["instance"]["status"], want, "{saga}");
        let r: Value = http
            .get(format!(
                "http://127.0.0.1:{}/claims/{claim}",
                ports["claims"]
            ))
            .send()
            .await
            .expect("claim")
            .json()
            .await
            .expect("json");
        assert_eq!(r["state"], state, "{r}");
    }

    // ship-parcel: `CourierAssigned` carries no parcel id; the correlation id names the
    // instance, and the event-sourced owner completes it.
    post_id(
        &http,
        ports["parcels"],
        "/parcels",
        json!({ "weight": "2.5" }),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done: Value = http
            .get(format!(
                "http://127.0.0.1:{}/admin/sagas?status=completed",
                ports["parcels"]
            ))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        if done
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["saga"] == "ship-parcel"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ship-parcel never completed: {done}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // book-trip with `hotels` down: the owner times out and publishes `BookTripFailed`, on which
    // `seats` compensates its `hold-seat`.
    running.remove("hotels");
    let stranded = post_id(
        &http,
        ports["trips"],
        "/trips",
        json!({ "price": "99.00", "destination": "Faro" }),
    )
    .await;
    let saga = ended(&http, ports["trips"], "book-trip", &stranded).await;
    assert_eq!(saga["instance"]["status"], "timed-out", "{saga}");
    let seats_db = PgPool::connect(&db("seats")).await.expect("seats db");
    let id: uuid::Uuid = stranded.parse().expect("uuid");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM msa_saga_steps WHERE saga = 'book-trip' AND id = $1 AND action = 'hold-seat'",
        )
        .bind(id)
        .fetch_optional(&seats_db)
        .await
        .expect("step record");
        if status.as_deref() == Some("compensated") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hold-seat of {id} is {status:?}, never compensated"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
