//! End to end, with real parts only: the generated `orders`, `customers`, `order-history` and
//! `notifications` services of the shop, as their own processes, on a real Postgres (a database
//! each), a real broker (NATS, and a RabbitMQ variant of the shop) and a real SMTP server
//! (Python's standard `smtpd`).
//!
//! - Creating an order over HTTP publishes `OrderCreated` through the orders outbox (generated
//!   CRUD code), and the customers consumer group receives it exactly once; with `customers`
//!   killed (SIGKILL) while orders are created, every event still arrives after it restarts.
//! - The `order-history` read model projects every order into its view; after the view is
//!   damaged by hand, `POST /admin/rebuild` (while orders keep arriving) makes it match the
//!   orders again.
//! - The `notifications` worker mails each `OrderApproved` once over SMTP, also when the event
//!   is delivered twice, and dead-letters an envelope of a version it does not know without
//!   stopping.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_kit::infra;
use e2e_kit::process::{Instance, Launch};
use msa_gen_tests::processes::{self, spawn, spawn_with, wait_ready};
use msa_gen_tests::{cargo, free_port};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

const SERVICES: [&str; 4] = ["orders", "customers", "order-history", "notifications"];

/// The shop on `broker`, built; on NATS, the generated `contracts` crate's own tests (envelope
/// decoding, version checks) run too.
fn build_shop(broker: &str) -> PathBuf {
    let ws = msa_gen_tests::shop(broker, &SERVICES);
    if broker == "nats" {
        cargo(&ws, &["test", "-p", "shop-contracts"]);
    }
    ws
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
    let pg = infra::postgres(&["orders".into(), "customers".into(), "order_history".into()])
        .await
        .expect("postgres");
    let broker_service = infra::broker(broker).await.expect("broker");
    let broker_url = &broker_service.url;
    let db = |name: &str| format!("{}/{name}", pg.url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let (orders_port, customers_port, history_port, notifications_port) =
        (free_port(), free_port(), free_port(), free_port());
    let smtp_log = ws.join("smtp.log");
    let (_smtp, smtp_port) = start_smtp(&smtp_log).await;
    let mut orders = spawn(&ws, "orders", orders_port, &db("orders"), broker_url);
    let mut customers = spawn(
        &ws,
        "customers",
        customers_port,
        &db("customers"),
        broker_url,
    );
    let mut history = spawn(
        &ws,
        "order-history",
        history_port,
        &db("order_history"),
        broker_url,
    );
    let mut notifications = spawn_with(
        &ws,
        "notifications",
        notifications_port,
        "",
        broker_url,
        &[
            ("APP_MAIL_SENDER", "smtp".to_string()),
            ("APP_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}")),
            ("APP_MAIL_TO", "shop@example.com".to_string()),
        ],
    );
    wait_ready(&http, &mut orders).await;
    wait_ready(&http, &mut customers).await;
    wait_ready(&http, &mut history).await;
    wait_ready(&http, &mut notifications).await;
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
        broker_url,
    );
    wait_ready(&http, &mut customers).await;
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
    let metrics = processes::metrics(&http, orders_port).await;
    assert!(metrics.contains("outbox_published_total"), "{metrics}");

    let history_db = PgPool::connect(&db("order_history"))
        .await
        .expect("order-history db");
    rebuild_restores_the_view(&http, orders_port, history_port, &history_db, created.len()).await;
    let lag = processes::metrics(&http, history_port).await;
    assert!(
        lag.contains("projection_lag_seconds{view=\"OrderSummary\"}"),
        "{lag}"
    );
    notifications_mail_once(&http, broker, broker_url, notifications_port, &smtp_log).await;
}

/// `(id, customer id, total)` of every order, and of every order-history row, each sorted.
async fn orders_and_history(
    http: &reqwest::Client,
    orders_port: u16,
    history_port: u16,
) -> (Vec<[String; 3]>, Vec<[String; 3]>) {
    let page = |port: u16, path: &'static str| {
        let http = http.clone();
        async move {
            let body: serde_json::Value = http
                .get(format!("http://127.0.0.1:{port}{path}?size=100"))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .expect("list")
                .json()
                .await
                .expect("json");
            body["items"].as_array().cloned().unwrap_or_default()
        }
    };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut orders: Vec<[String; 3]> = page(orders_port, "/orders")
        .await
        .iter()
        .map(|o| [text(&o["id"]), text(&o["customer_id"]), text(&o["total"])])
        .collect();
    let mut history: Vec<[String; 3]> = page(history_port, "/order-history")
        .await
        .iter()
        .map(|o| {
            [
                text(&o["order_id"]),
                text(&o["customer_id"]),
                text(&o["total"]),
            ]
        })
        .collect();
    orders.sort();
    history.sort();
    (orders, history)
}

async fn wait_history_matches(http: &reqwest::Client, orders_port: u16, history_port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (orders, history) = orders_and_history(http, orders_port, history_port).await;
        if orders == history {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "order-history {history:?} does not match the orders {orders:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Damages the view, rebuilds it while orders keep arriving, and checks it matches again.
async fn rebuild_restores_the_view(
    http: &reqwest::Client,
    orders_port: u16,
    history_port: u16,
    history_db: &PgPool,
    orders_so_far: usize,
) {
    wait_history_matches(http, orders_port, history_port).await;
    sqlx::query("UPDATE order_summary SET total = 0")
        .execute(history_db)
        .await
        .expect("damage the view");
    sqlx::query(
        "DELETE FROM order_summary WHERE order_id = (SELECT order_id FROM order_summary ORDER BY order_id LIMIT 1)",
    )
    .execute(history_db)
    .await
    .expect("damage the view");
    let (orders, history) = orders_and_history(http, orders_port, history_port).await;
    assert_ne!(orders, history, "the damage shows");

    let writer = {
        let http = http.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                create_order(&http, orders_port).await;
            }
        })
    };
    let r = http
        .post(format!("http://127.0.0.1:{history_port}/admin/rebuild"))
        .send()
        .await
        .expect("POST /admin/rebuild");
    assert_eq!(r.status(), StatusCode::OK);
    let rebuilt: serde_json::Value = r.json().await.expect("json");
    assert_eq!(rebuilt["tables"], json!(["order_summary"]));
    let events = rebuilt["events"].as_u64().expect("events");
    assert!(
        events >= orders_so_far as u64,
        "replayed {events} events for {orders_so_far} orders"
    );
    writer.await.expect("writer");
    wait_history_matches(http, orders_port, history_port).await;
}

/// Python's standard-library SMTP server, printing every mail it receives to `log` (a fresh
/// file).
async fn start_smtp(log: &Path) -> (Instance, u16) {
    let port = free_port();
    let _ = std::fs::remove_file(log);
    let args = [
        "-u",
        "-W",
        "ignore",
        "-m",
        "smtpd",
        "-n",
        "-c",
        "DebuggingServer",
    ];
    let smtpd = Instance::start(Launch {
        binary: "python3".into(),
        args: args
            .map(String::from)
            .into_iter()
            .chain([format!("127.0.0.1:{port}")])
            .collect(),
        workspace: log.parent().expect("log folder").to_path_buf(),
        label: "smtpd".into(),
        port,
        env: Vec::new(),
        log: Some(log.to_path_buf()),
    })
    .expect("python3 -m smtpd");
    infra::wait_for_port(port, Duration::from_secs(20))
        .await
        .expect("smtpd listens");
    (smtpd, port)
}

fn approved(event_id: uuid::Uuid, order: uuid::Uuid, version: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_id": event_id,
        "event_type": "OrderApproved",
        "version": version,
        "aggregate_id": order,
        "occurred_at": "2026-11-25T12:00:00Z",
        "correlation_id": uuid::Uuid::new_v4(),
        "payload": { "order_id": order, "customer_id": uuid::Uuid::new_v4() },
    }))
    .expect("envelope")
}

/// Publishes `OrderApproved` events straight to the broker (as the orders saga will): one twice
/// (same event id, new message id), one of an unknown version, then one more.
async fn notifications_mail_once(
    http: &reqwest::Client,
    broker: &str,
    broker_url: &str,
    notifications_port: u16,
    smtp_log: &Path,
) {
    use runtime::messaging::broker::{BrokerConfig, Outgoing, connect, event_subject};
    let config = BrokerConfig::new(
        broker.parse().expect("broker kind"),
        broker_url,
        "shop",
        vec![("notifications".into(), "OrderApproved".into())],
    );
    let b = connect(&config).await.expect("broker");
    let (a, newer, c) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let a_event = uuid::Uuid::new_v4();
    let message = |payload: Vec<u8>| Outgoing {
        subject: event_subject("shop", "OrderApproved"),
        message_id: uuid::Uuid::new_v4().to_string(),
        payload,
    };
    b.publish(&[
        message(approved(a_event, a, 1)),
        message(approved(a_event, a, 1)),
        message(approved(uuid::Uuid::new_v4(), newer, 2)),
        message(approved(uuid::Uuid::new_v4(), c, 1)),
    ])
    .await
    .expect("publish");
    let subject = |order: uuid::Uuid| format!("Subject: OrderApproved {order}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = loop {
        let log = std::fs::read_to_string(smtp_log).unwrap_or_default();
        if log.contains(&subject(c)) {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "no mail for the last event; smtp log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        log.matches(&subject(a)).count(),
        1,
        "one mail for a duplicate: {log}"
    );
    assert_eq!(log.matches(&subject(newer)).count(), 0, "{log}");
    assert_eq!(log.matches(&subject(c)).count(), 1, "{log}");
    let metrics = processes::metrics(http, notifications_port).await;
    assert!(
        metrics.contains(
            "events_dead_lettered_total{consumer=\"notifications\",event_type=\"OrderApproved\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("events_duplicates_total"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_events_flow_between_generated_services() {
    for broker in ["nats", "rabbitmq"] {
        order_created_reaches_customers(broker).await;
    }
}
