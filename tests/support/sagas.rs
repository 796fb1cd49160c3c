//! The shop's sagas driven from outside, as `tests/e2e_sagas.rs` and the events bench drive
//! them: `orders` (the owner), `customers` and `payments` started as processes of a test
//! workspace, customers and orders made over HTTP, orders read back until they settle, and
//! [`concurrent`]: many sagas at once over a few customers, checked to balance exactly, timed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e_kit::process::Instance;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::processes::launch;

/// The sagas' timeout in these processes (`APP_SAGA_TIMEOUT_MS`).
pub const TIMEOUT_MS: u64 = 4000;

/// Starts `bin/<name>` of `ws` for the saga tests: tokens off, the saga timeout above, and
/// deliveries in flight when a process is killed coming back after 1 s.
pub fn start(ws: &Path, name: &str, port: u16, db: &str, broker: &str) -> Instance {
    start_logged(ws, name, port, db, broker, None)
}

/// [`start`], its stdout and stderr appended to `log` when given.
pub fn start_logged(
    ws: &Path,
    name: &str,
    port: u16,
    db: &str,
    broker: &str,
    log: Option<&Path>,
) -> Instance {
    let mut launch = launch(
        ws,
        name,
        port,
        db,
        broker,
        &[
            ("APP_AUTH_URL", "none".into()),
            ("APP_SAGA_TIMEOUT_MS", TIMEOUT_MS.to_string()),
            ("APP_EVENT_ACK_WAIT_MS", "1000".into()),
        ],
    );
    launch.log = log.map(Path::to_path_buf);
    Instance::start(launch).unwrap_or_else(|e| panic!("{e}"))
}

/// The two saga owners' and participants' ports the sagas are driven through.
pub struct Shop {
    pub http: reqwest::Client,
    pub orders: u16,
    pub customers: u16,
}

/// The shop's two sagas, each started by one request to `orders`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saga {
    /// Choreography: `POST /orders` makes a pending order; `customers` reserves credit.
    PlaceOrder,
    /// Orchestration: `POST /orders/checkout`; orders commands `customers` then `payments`.
    Checkout,
}

impl Saga {
    /// The saga's name in the blueprint.
    pub fn name(self) -> &'static str {
        match self {
            Saga::PlaceOrder => "place-order",
            Saga::Checkout => "checkout",
        }
    }
}

impl Shop {
    /// A new customer with credit limit `limit` (a decimal), nothing reserved.
    pub async fn customer(&self, limit: &str) -> uuid::Uuid {
        let r = self
            .http
            .post(format!("http://127.0.0.1:{}/customers", self.customers))
            .json(&json!({
                "name": "Ada", "email": "ada@example.com", "credit_limit": limit,
                "credit_reserved": "0", "tier": "basic",
            }))
            .send()
            .await
            .expect("create customer");
        assert_eq!(r.status(), StatusCode::CREATED);
        id_of(r).await
    }

    /// Places an order (starting `place-order`), with `trace` as its `traceparent`.
    pub async fn order(
        &self,
        customer: uuid::Uuid,
        total: &str,
        trace: Option<&str>,
    ) -> uuid::Uuid {
        let mut r = self
            .http
            .post(format!("http://127.0.0.1:{}/orders", self.orders))
            .json(&json!({ "customer_id": customer, "total": total, "status": "pending" }));
        if let Some(t) = trace {
            r = r.header("traceparent", t);
        }
        let r = r.send().await.expect("create order");
        assert_eq!(r.status(), StatusCode::CREATED);
        id_of(r).await
    }

    /// Starts a `checkout`: accepted, the order pending until the saga ends.
    pub async fn checkout(&self, customer: uuid::Uuid, total: &str) -> uuid::Uuid {
        let r = self
            .http
            .post(format!("http://127.0.0.1:{}/orders/checkout", self.orders))
            .json(&json!({ "customer_id": customer, "total": total, "status": "approved" }))
            .send()
            .await
            .expect("checkout");
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["status"], "pending", "a checkout starts pending: {v}");
        v["id"].as_str().expect("id").parse().expect("uuid")
    }

    /// Starts one `saga` for `customer`.
    pub async fn start_saga(&self, saga: Saga, customer: uuid::Uuid, total: Decimal) -> uuid::Uuid {
        let total = total.to_string();
        match saga {
            Saga::PlaceOrder => self.order(customer, &total, None).await,
            Saga::Checkout => self.checkout(customer, &total).await,
        }
    }

    /// `GET` of `path` on `port`, as JSON.
    pub async fn get(&self, port: u16, path: &str) -> Value {
        self.http
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    /// Waits until every order has left `pending`; returns id → (status, reason).
    pub async fn settled(
        &self,
        ids: &[uuid::Uuid],
        within: Duration,
    ) -> BTreeMap<uuid::Uuid, (String, Value)> {
        let deadline = Instant::now() + within;
        loop {
            let mut out = BTreeMap::new();
            for id in ids {
                let o = self.get(self.orders, &format!("/orders/{id}")).await;
                let status = o["status"].as_str().unwrap_or_default().to_string();
                if status != "pending" {
                    out.insert(*id, (status, o["reason"].clone()));
                }
            }
            if out.len() == ids.len() {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} orders still pending",
                ids.len() - out.len(),
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The credit `customer` has reserved.
    pub async fn reserved(&self, customer: uuid::Uuid) -> Decimal {
        let c = self
            .get(self.customers, &format!("/customers/{customer}"))
            .await;
        c["credit_reserved"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| {
                c["credit_reserved"]
                    .as_f64()
                    .and_then(|f| Decimal::try_from(f).ok())
            })
            .unwrap_or_else(|| panic!("credit_reserved of {c}"))
    }

    /// A saga's instance and the entries of its history (`/admin/sagas/{saga}/{id}`).
    pub async fn history(&self, saga: Saga, id: uuid::Uuid) -> (Value, Vec<String>) {
        let v = self
            .get(self.orders, &format!("/admin/sagas/{}/{id}", saga.name()))
            .await;
        let entries = v["history"]
            .as_array()
            .expect("history")
            .iter()
            .filter_map(|e| e["entry"].as_str().map(str::to_string))
            .collect();
        (v["instance"].clone(), entries)
    }
}

async fn id_of(r: reqwest::Response) -> uuid::Uuid {
    let v: Value = r.json().await.expect("json");
    v["id"].as_str().expect("id").parse().expect("uuid")
}

/// What [`concurrent`] measured.
pub struct Load {
    pub sagas: usize,
    pub approved: usize,
    pub rejected: usize,
    /// From the first request to the last saga settled.
    pub settled_in: Duration,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.sagas as f64 / self.settled_in.as_secs_f64()
    }
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sagas ({} approved, {} rejected) settled in {:.2}s: {:.0} sagas/s",
            self.sagas,
            self.approved,
            self.rejected,
            self.settled_in.as_secs_f64(),
            self.per_second()
        )
    }
}

/// Runs `n` sagas at once over 10 new customers with a limit of 500.00 each (20 requests in
/// flight: the client, not the system, is the limit), waits until all settle, and checks that
/// every one ended approved or rejected, that the limits were reached, and that each customer's
/// reserved credit equals its approved orders exactly, never over its limit.
pub async fn concurrent(shop: &Shop, saga: Saga, n: usize) -> Load {
    let limit = Decimal::new(500, 0);
    let mut people = Vec::new();
    for _ in 0..10 {
        people.push(shop.customer(&limit.to_string()).await);
    }
    let started = Instant::now();
    let mut created: Vec<(uuid::Uuid, uuid::Uuid, Decimal)> = Vec::with_capacity(n);
    let mut plan = (0..n)
        .map(|i| {
            let total = Decimal::new(
                (20 + (i * 37) % 90) as i64 * 100 + ((i * 13) % 100) as i64,
                2,
            );
            (people[i % people.len()], total)
        })
        .collect::<Vec<_>>();
    while !plan.is_empty() {
        let batch: Vec<_> = plan.drain(..plan.len().min(20)).collect();
        let ids = futures_util::future::join_all(
            batch
                .iter()
                .map(|(who, total)| shop.start_saga(saga, *who, *total)),
        )
        .await;
        created.extend(
            ids.into_iter()
                .zip(batch)
                .map(|(id, (who, t))| (id, who, t)),
        );
    }
    let ids: Vec<uuid::Uuid> = created.iter().map(|c| c.0).collect();
    let done = shop.settled(&ids, Duration::from_secs(120)).await;
    let settled_in = started.elapsed();
    let mut approved: BTreeMap<uuid::Uuid, Decimal> = BTreeMap::new();
    let (mut yes, mut no) = (0, 0);
    for (id, who, total) in &created {
        match done[id].0.as_str() {
            "approved" => {
                yes += 1;
                *approved.entry(*who).or_default() += total;
            }
            "rejected" => no += 1,
            other => panic!("{} {id} ended {other}", saga.name()),
        }
    }
    for who in &people {
        let reserved = shop.reserved(*who).await;
        assert_eq!(
            reserved,
            approved.get(who).copied().unwrap_or_default(),
            "{}: customer {who}",
            saga.name()
        );
        assert!(reserved <= limit, "customer {who} over its limit");
    }
    assert!(no > 0, "the limits were reached, some orders were refused");
    Load {
        sagas: n,
        approved: yes,
        rejected: no,
        settled_in,
    }
}
