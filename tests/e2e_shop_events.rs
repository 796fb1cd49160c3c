//! End to end, with real parts only: the generated `orders` and `customers` services of the shop,
//! as their own processes, on a real Postgres (a database each) and a real broker, for NATS and
//! for a RabbitMQ variant of the shop. Creating an order over HTTP publishes `OrderCreated`
//! through the orders outbox (generated CRUD code), and the customers consumer group receives
//! it exactly once; with `customers` killed (SIGKILL) while orders are created, every event still
//! arrives after it restarts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use msa_gen_tests::containers::{self, Process};
use msa_gen_tests::{cargo, free_port, generated_from, repo, target_dir};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use testcontainers::{ContainerAsync, GenericImage};

/// Generates the shop on `broker`, builds `orders` and `customers`, and copies the binaries out
/// of the shared target directory (the other variant's build would replace them).
fn build_shop(broker: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("blueprints/shop.toml"))
        .expect("shop blueprint")
        .replace("broker = \"nats\"", &format!("broker = \"{broker}\""));
    let ws = generated_from(&format!("shop-{broker}"), &text);
    cargo(&ws, &["build", "-p", "orders", "-p", "customers"]);
    let bin = ws.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    for name in ["orders", "customers"] {
        std::fs::copy(target_dir().join("debug").join(name), bin.join(name)).expect("copy binary");
    }
    ws
}

async fn start_postgres() -> (ContainerAsync<GenericImage>, u16) {
    let (pg, port) = containers::postgres("orders").await;
    let pool = PgPool::connect(&format!(
        "postgres://postgres:postgres@127.0.0.1:{port}/orders"
    ))
    .await
    .expect("orders database");
    sqlx::query("CREATE DATABASE customers")
        .execute(&pool)
        .await
        .expect("customers database");
    (pg, port)
}

fn spawn(ws: &Path, name: &str, port: u16, db: &str, broker: &str) -> Process {
    Process(
        Command::new(ws.join("bin").join(name))
            .current_dir(ws)
            .env("DATABASE_URL", db)
            .env("BROKER_URL", broker)
            .env("APP_PORT", port.to_string())
            .env("APP_HOST", "127.0.0.1")
            .env("APP_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}")),
    )
}

async fn wait_ready(http: &reqwest::Client, port: u16, p: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = p.0.try_wait() {
            panic!("service on {port} exited early with {status}");
        }
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "service on {port} not ready in 60s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_order(http: &reqwest::Client, port: u16) -> uuid::Uuid {
    let r = http
        .post(format!("http://127.0.0.1:{port}/orders"))
        .json(&json!({
            "customer_id": uuid::Uuid::new_v4(),
            "total": "42.50",
            "status": "pending",
        }))
        .send()
        .await
        .expect("POST /orders");
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.expect("order json");
    body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("order id")
}

/// The order ids of the `OrderCreated` events the customers service took in, once each.
async fn received(orders_db: &PgPool, customers_db: &PgPool) -> Vec<uuid::Uuid> {
    let ids: Vec<(uuid::Uuid,)> = sqlx::query_as(
        "SELECT event_id FROM msa_inbox WHERE consumer = 'customers' AND event_type = 'OrderCreated'",
    )
    .fetch_all(customers_db)
    .await
    .unwrap_or_default();
    let mut out = Vec::new();
    for (event_id,) in ids {
        let (order,): (String,) = sqlx::query_as(
            "SELECT payload->'payload'->>'order_id' FROM msa_outbox WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_one(orders_db)
        .await
        .expect("the received event was published by orders");
        out.push(order.parse().expect("uuid"));
    }
    out.sort();
    out
}

async fn wait_received(orders_db: &PgPool, customers_db: &PgPool, want: &[uuid::Uuid]) {
    let mut want = want.to_vec();
    want.sort();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = received(orders_db, customers_db).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "customers received {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn order_created_reaches_customers(broker: &str) {
    let ws = build_shop(broker);
    let (_pg, pg_port) = start_postgres().await;
    let (_broker, broker_url) = containers::broker(broker).await;
    let db = |name: &str| format!("postgres://postgres:postgres@127.0.0.1:{pg_port}/{name}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let (orders_port, customers_port) = (free_port(), free_port());
    let mut orders = spawn(&ws, "orders", orders_port, &db("orders"), &broker_url);
    let mut customers = spawn(
        &ws,
        "customers",
        customers_port,
        &db("customers"),
        &broker_url,
    );
    wait_ready(&http, orders_port, &mut orders).await;
    wait_ready(&http, customers_port, &mut customers).await;
    let orders_db = PgPool::connect(&db("orders")).await.expect("orders db");
    let customers_db = PgPool::connect(&db("customers"))
        .await
        .expect("customers db");

    let mut created = vec![create_order(&http, orders_port).await];
    wait_received(&orders_db, &customers_db, &created).await;

    // The consumer is down while orders keep being created: its durable group keeps them.
    drop(customers);
    for _ in 0..5 {
        created.push(create_order(&http, orders_port).await);
    }
    let mut customers = spawn(
        &ws,
        "customers",
        customers_port,
        &db("customers"),
        &broker_url,
    );
    wait_ready(&http, customers_port, &mut customers).await;
    wait_received(&orders_db, &customers_db, &created).await;

    let dead: serde_json::Value = http
        .get(format!(
            "http://127.0.0.1:{customers_port}/admin/dead-letters"
        ))
        .send()
        .await
        .expect("dead letters")
        .json()
        .await
        .expect("json");
    assert_eq!(dead, json!([]), "no dead letters on the happy path");
    let metrics = http
        .get(format!("http://127.0.0.1:{orders_port}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("outbox_published_total"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_events_flow_between_generated_services() {
    for broker in ["nats", "rabbitmq"] {
        order_created_reaches_customers(broker).await;
    }
}
