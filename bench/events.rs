//! Events per second through outbox → broker → consumer, with the runtime's real relay and
//! consumer against a real Postgres and a real broker (NATS JetStream, RabbitMQ, then Kafka),
//! each in a container. Run: `cargo bench -p msa-gen-tests --bench events` (images from
//! `MSA_IMAGE_*`).
//!
//! `N` events are committed to the outbox first (100 per transaction), then the relay and one
//! consumer start together; the clock stops when the last effect is committed. Printed per
//! broker: the relay's publish rate (outbox drained) and the end-to-end rate (all effects),
//! plus the commit rate of the producers for scale. One run, one machine: compare the numbers
//! with each other, not with other machines.
//!
//! Every run checks the effects: exactly `N` rows, one per event id (a primary key), so none is
//! lost and none is applied twice. For Kafka, a last run (`kafka-raw`) bypasses msa-gen: `N`
//! messages produced with rdkafka as the relay produces them (idempotent, `acks=all`), then
//! consumed by a fresh group with offsets committed every 500, to show what the broker alone
//! gives on this machine.
//!
//! Then sagas (`sagas`): the shop's `orders`, `customers` and `payments` on release builds, as
//! processes on a real Postgres and NATS, and 200 concurrent sagas of each kind, `place-order`
//! (choreography) and `checkout` (orchestration), every one checked to settle with the credit
//! balancing exactly (`msa_gen_tests::sagas::concurrent`, the same load `tests/e2e_sagas.rs`
//! runs on debug builds). Printed: completed sagas per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_kit::infra;
use runtime::messaging::broker::{BrokerConfig, BrokerSource, event_subject};
use runtime::messaging::consumer::{Consumer, Handler, Handlers, RecentIds, RetryPolicy};
use runtime::messaging::wiring::{SharedBroker, ensure_schema};
use sqlx::PgPool;
use tokio::sync::watch;

const N: i64 = 5_000;
const SYSTEM: &str = "bench";
const GROUP: &str = "sink";
const EVENT: &str = "Tick";

fn handler() -> Handler {
    Arc::new(|conn, incoming| {
        Box::pin(async move {
            sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
                .bind(incoming.header.event_id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    })
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

async fn run(kind: &str) {
    let pg = infra::postgres(&["bench".into()]).await.expect("postgres");
    let pool = PgPool::connect(&format!("{}/bench", pg.url))
        .await
        .expect("pool");
    ensure_schema(&pool).await.expect("schema");
    sqlx::query("CREATE TABLE effects (event_id UUID PRIMARY KEY)")
        .execute(&pool)
        .await
        .expect("effects");
    let broker = infra::broker(kind).await.expect("broker");
    let config = BrokerConfig::new(
        kind.parse().expect("broker kind"),
        &broker.url,
        SYSTEM,
        vec![(GROUP.into(), EVENT.into())],
    );

    let started = Instant::now();
    for chunk in 0..N / 100 {
        let mut tx = pool.begin().await.expect("begin");
        for n in 0..100 {
            let id = uuid::Uuid::new_v4();
            let payload = serde_json::to_vec(&serde_json::json!({
                "event_id": id, "event_type": EVENT, "version": 1, "aggregate_id": null,
                "occurred_at": "2026-11-25T00:00:00Z", "correlation_id": id,
                "payload": { "n": chunk * 100 + n },
            }))
            .expect("json");
            runtime::messaging::outbox::enqueue(
                &mut tx,
                &event_subject(SYSTEM, EVENT),
                id,
                EVENT,
                &payload,
            )
            .await
            .expect("enqueue");
        }
        tx.commit().await.expect("commit");
    }
    let commit_rate = N as f64 / started.elapsed().as_secs_f64();

    let (stop, stopped) = watch::channel(false);
    let brokers: Arc<dyn BrokerSource> = SharedBroker::new(config.clone());
    let consumer = Consumer {
        group: GROUP.into(),
        pool: Some(pool.clone()),
        handlers: Handlers::new().on(EVENT, handler()),
        retry: RetryPolicy::default(),
        journal: false,
        recent: Arc::new(std::sync::Mutex::new(RecentIds::new(10))),
    };
    let started = Instant::now();
    let relay = tokio::spawn(runtime::messaging::outbox::relay(
        pool.clone(),
        brokers.clone(),
        Duration::from_millis(100),
        stopped.clone(),
    ));
    let consuming =
        tokio::spawn(consumer.run(brokers, vec![event_subject(SYSTEM, EVENT)], stopped));
    let mut drained = None;
    // When the consumer's first effect landed, and how many had by then: what the start (a
    // connection, a consumer group to join) costs, apart from the rate after it.
    let mut first: Option<(Duration, i64)> = None;
    loop {
        if drained.is_none()
            && scalar(
                &pool,
                "SELECT count(*) FROM msa_outbox WHERE published_at IS NULL",
            )
            .await
                == 0
        {
            drained = Some(started.elapsed());
        }
        let done = scalar(&pool, "SELECT count(*) FROM effects").await;
        if first.is_none() && done > 0 {
            first = Some((started.elapsed(), done));
        }
        if done >= N {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not done in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    let _ = stop.send(true);
    let _ = relay.await;
    let _ = consuming.await;
    let drained = drained.unwrap_or(total);
    let effects = scalar(&pool, "SELECT count(*) FROM effects").await;
    let distinct = scalar(&pool, "SELECT count(DISTINCT event_id) FROM effects").await;
    let (first_at, first_done) = first.unwrap_or((total, N));
    let after_first = (N - first_done) as f64 / (total - first_at).as_secs_f64().max(1e-3);
    println!(
        "{kind:>8}: {N} events | producers commit {:>7.0} ev/s | relay publishes {:>7.0} ev/s | outbox → broker → consumer {:>7.0} ev/s (first effect after {} ms, then {:>7.0} ev/s) | lost {} duplicated {}",
        commit_rate,
        N as f64 / drained.as_secs_f64(),
        N as f64 / total.as_secs_f64(),
        first_at.as_millis(),
        after_first,
        N - distinct,
        effects - distinct,
    );
    if kind == "kafka" {
        kafka_raw(&broker.url).await;
    }
}

/// Kafka without msa-gen: produce `N` messages as the relay does, then consume them.
async fn kafka_raw(url: &str) {
    use futures_util::StreamExt;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let bootstrap = runtime::messaging::broker::kafka::bootstrap_servers(url);
    let topic = format!("raw-{}", uuid::Uuid::new_v4().simple());
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .create()
        .expect("producer");
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .expect("admin");
    let created = admin
        .create_topics(
            &[rdkafka::admin::NewTopic::new(
                &topic,
                1,
                rdkafka::admin::TopicReplication::Fixed(1),
            )],
            &rdkafka::admin::AdminOptions::new(),
        )
        .await
        .expect("create topic");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let payload = vec![b'x'; 300];
    let started = Instant::now();
    let sends: Vec<_> = (0..N)
        .map(|n| {
            let (producer, topic, payload) = (&producer, &topic, &payload);
            async move {
                let key = n.to_string();
                let record = FutureRecord::to(topic).key(&key).payload(payload);
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map(|_| ())
                    .map_err(|(e, _)| e)
            }
        })
        .collect();
    let sent = futures_util::future::join_all(sends).await;
    if let Some(Err(e)) = sent.iter().find(|r| r.is_err()) {
        panic!("a raw produce failed: {e}");
    }
    let produced = started.elapsed();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("raw-{}", uuid::Uuid::new_v4().simple()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let started = Instant::now();
    let mut stream = consumer.stream();
    let mut got = 0;
    let mut first = None;
    while got < N {
        let m = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("a raw message within 60 s")
            .expect("stream")
            .expect("message");
        got += 1;
        first.get_or_insert_with(|| started.elapsed());
        if got % 500 == 0 || got == N {
            consumer
                .commit_message(&m, CommitMode::Async)
                .expect("commit");
        }
        let _ = m.payload();
    }
    let consumed = started.elapsed();
    println!(
        "kafka-raw: {N} messages, no msa-gen | rdkafka produces {:>7.0} msg/s | a fresh group consumes {:>7.0} msg/s (first message after {} ms)",
        N as f64 / produced.as_secs_f64(),
        N as f64 / consumed.as_secs_f64(),
        first.unwrap_or(consumed).as_millis(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks one broker.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |part: &str| only.is_empty() || only.iter().any(|o| part.contains(o.as_str()));
    for kind in ["nats", "rabbitmq", "kafka"] {
        if wanted(kind) {
            run(kind).await;
        }
    }
    if wanted("sagas") {
        sagas().await;
    }
}

/// Completed sagas per second, each kind, on release binaries.
async fn sagas() {
    use msa_gen_tests::processes::wait_ready;
    use msa_gen_tests::sagas::{Saga, Shop, concurrent, start};

    let names = ["orders", "customers", "payments"];
    let ws = msa_gen_tests::shop_in(msa_gen_tests::Profile::Release, "nats", &names);
    let pg = infra::postgres(&names.map(String::from))
        .await
        .expect("postgres");
    let nats = infra::broker("nats").await.expect("nats");
    let shop = Shop {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client"),
        orders: msa_gen_tests::free_port(),
        customers: msa_gen_tests::free_port(),
    };
    let ports = [shop.orders, shop.customers, msa_gen_tests::free_port()];
    let mut running = Vec::new();
    for (name, port) in names.iter().zip(ports) {
        let mut p = start(&ws, name, port, &format!("{}/{name}", pg.url), &nats.url);
        wait_ready(&shop.http, &mut p).await;
        running.push(p);
    }
    for saga in [Saga::PlaceOrder, Saga::Checkout] {
        let load = concurrent(&shop, saga, 200).await;
        println!("sagas: {:<11} release | {load}", saga.name());
    }
}
