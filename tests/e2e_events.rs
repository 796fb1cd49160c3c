//! The runtime's event guarantees against real brokers (NATS JetStream, RabbitMQ and a
//! Kafka-protocol broker, each in a container) and a real Postgres: events committed through the
//! outbox reach a consumer group; the broker stopped while producers keep committing, then
//! started → every event arrives and none has a second effect; a consumer killed mid-stream and
//! started again → same; a duplicate delivery → one effect; a poison message and a handler that
//! always fails → dead letters (table, broker destination, read back from Kafka's dead-letter
//! topic) while the stream keeps flowing; a backlog → handled in batches (fewer transactions
//! than events), each event still once; inbox rows past the dedup window → purged.
//!
//! Images come from `MSA_IMAGE_POSTGRES`, `MSA_IMAGE_NATS`, `MSA_IMAGE_RABBITMQ` and
//! `MSA_IMAGE_KAFKA` (official images by default; `tests/images/provision.sh` builds local ones
//! offline).

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_kit::infra;
use runtime::messaging::broker::{
    BrokerConfig, BrokerSource, Outgoing, dead_letter_subject, event_subject,
};
use runtime::messaging::consumer::{Consumer, Handler, HandlerError, Handlers, RetryPolicy};
use runtime::messaging::wiring::{SharedBroker, ensure_schema};
use sqlx::PgPool;
use tokio::sync::watch;

const SYSTEM: &str = "it";
const GROUP: &str = "ledger";
const EVENT: &str = "AmountBooked";

/// The effect of the test's handler: one row per handled event (no uniqueness, so a second
/// effect would show as a second row).
async fn prepare(pool: &PgPool) {
    ensure_schema(pool).await.expect("runtime schema");
    // `tx`: the transaction that made the effect, to see which events shared one.
    sqlx::query(
        "CREATE TABLE effects (event_id UUID NOT NULL, n INTEGER NOT NULL, \
         tx BIGINT NOT NULL DEFAULT txid_current(), seq BIGSERIAL)",
    )
    .execute(pool)
    .await
    .expect("effects table");
}

fn envelope(event_id: uuid::Uuid, n: i64) -> Vec<u8> {
    // The aggregate is the event itself: on Kafka, an event and its re-sent copy share a key, so
    // they land on one partition, in order (the backlog step repeats events there).
    envelope_of(event_id, event_id, n)
}

fn envelope_of(event_id: uuid::Uuid, aggregate_id: uuid::Uuid, n: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "event_id": event_id,
        "event_type": EVENT,
        "version": 1,
        "aggregate_id": aggregate_id,
        "occurred_at": "2026-11-25T00:00:00Z",
        "correlation_id": uuid::Uuid::new_v4(),
        "payload": { "n": n },
    }))
    .expect("json")
}

/// Commits `count` events through the outbox, each in its own transaction, numbered from `from`.
async fn commit_events(pool: &PgPool, from: i64, count: i64) {
    for n in from..from + count {
        let mut tx = pool.begin().await.expect("begin");
        let id = uuid::Uuid::new_v4();
        runtime::messaging::outbox::enqueue(
            &mut tx,
            &event_subject(SYSTEM, EVENT),
            id,
            EVENT,
            &envelope(id, n),
        )
        .await
        .expect("enqueue");
        tx.commit().await.expect("commit");
    }
}

/// Records the effect; `n = -1` always fails (a handler bug), `slow` makes each take 20 ms.
fn handler(slow: bool) -> Handler {
    Arc::new(move |conn, incoming| {
        Box::pin(async move {
            let body: serde_json::Value = incoming.decode()?;
            let n = body["payload"]["n"]
                .as_i64()
                .ok_or_else(|| HandlerError::Poison("no n".into()))?;
            if n == -1 {
                return Err(HandlerError::Retry("the handler always fails on -1".into()));
            }
            if slow {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sqlx::query("INSERT INTO effects (event_id, n) VALUES ($1, $2)")
                .bind(incoming.header.event_id)
                .bind(i32::try_from(n).unwrap_or(i32::MAX))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    })
}

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A second consumer group on the same events: no effect, but it fails on `n = -1` like the
/// first one, so its retries and dead letters can be told from the first group's.
const AUDITOR: &str = "auditor";

fn auditor() -> Handler {
    Arc::new(|_conn, incoming| {
        Box::pin(async move {
            let body: serde_json::Value = incoming.decode()?;
            if body["payload"]["n"].as_i64() == Some(-1) {
                return Err(HandlerError::Retry("the auditor always fails on -1".into()));
            }
            Ok(())
        })
    })
}

fn start_consumer(pool: &PgPool, config: &BrokerConfig, slow: bool) -> Running {
    start_group(pool, config, GROUP, handler(slow))
}

fn start_group(pool: &PgPool, config: &BrokerConfig, group: &str, h: Handler) -> Running {
    let (stop, stopped) = watch::channel(false);
    let consumer = Consumer {
        group: group.into(),
        pool: Some(pool.clone()),
        handlers: Handlers::new().on(EVENT, h),
        retry: RetryPolicy {
            max_attempts: 3,
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
        },
        journal: false,
        recent: Arc::new(std::sync::Mutex::new(
            runtime::messaging::consumer::RecentIds::new(1000),
        )),
    };
    let brokers: Arc<dyn BrokerSource> = SharedBroker::new(config.clone());
    let task = tokio::spawn(consumer.run(brokers, vec![event_subject(SYSTEM, EVENT)], stopped));
    Running { stop, task }
}

fn start_relay(pool: &PgPool, config: &BrokerConfig) -> Running {
    let (stop, stopped) = watch::channel(false);
    let brokers: Arc<dyn BrokerSource> = SharedBroker::new(config.clone());
    let task = tokio::spawn(runtime::messaging::outbox::relay(
        pool.clone(),
        brokers,
        Duration::from_millis(200),
        stopped,
    ));
    Running { stop, task }
}

async fn counts(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM effects")
        .fetch_one(pool)
        .await
        .expect("count effects")
}

async fn wait_for_effects(pool: &PgPool, want: i64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (all, distinct) = counts(pool).await;
        assert_eq!(all, distinct, "{what}: an event took effect twice");
        if all == want {
            return;
        }
        assert!(
            all < want,
            "{what}: {all} effects, more than the {want} events"
        );
        assert!(
            Instant::now() < deadline,
            "{what}: only {all} of {want} events took effect in 90s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn dead_letters(pool: &PgPool, group: &str) -> Vec<(String, i32)> {
    sqlx::query_as("SELECT reason, attempts FROM msa_dead_letters WHERE consumer = $1 ORDER BY id")
        .bind(group)
        .fetch_all(pool)
        .await
        .expect("dead letters")
}

async fn guarantees_hold(kind: &str) {
    let pg = infra::postgres(&["events".into()]).await.expect("postgres");
    let pool = PgPool::connect(&format!("{}/events", pg.url))
        .await
        .expect("pool");
    prepare(&pool).await;
    let broker = infra::broker(kind).await.expect("broker");
    let mut config = BrokerConfig::new(
        kind.parse().expect("broker kind"),
        &broker.url,
        SYSTEM,
        vec![(GROUP.into(), EVENT.into()), (AUDITOR.into(), EVENT.into())],
    );
    config.ack_wait = Duration::from_secs(2);

    // 1. Events committed through the outbox reach the consumer group, once each.
    let relay = start_relay(&pool, &config);
    let auditing = start_group(&pool, &config, AUDITOR, auditor());
    let mut consumer = start_consumer(&pool, &config, false);
    commit_events(&pool, 0, 200).await;
    wait_for_effects(&pool, 200, "steady state").await;
    assert_eq!(
        runtime::messaging::outbox::pending(&pool)
            .await
            .expect("pending"),
        0
    );

    // 2. Broker down while producers keep committing; then up again: nothing lost, nothing twice.
    broker.stop().await.expect("stop broker");
    commit_events(&pool, 200, 150).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        runtime::messaging::outbox::pending(&pool)
            .await
            .expect("pending")
            > 0,
        "events wait in the outbox while the broker is down"
    );
    broker.start().await.expect("start broker");
    wait_for_effects(&pool, 350, "after a broker restart").await;

    // 3. The consumer killed mid-stream (its deliveries unacknowledged), then started again.
    consumer.task.abort();
    let _ = consumer.task.await;
    let slow = start_consumer(&pool, &config, true);
    commit_events(&pool, 350, 100).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    slow.task.abort();
    let _ = slow.task.await;
    let (partial, _) = counts(&pool).await;
    assert!(
        partial < 450,
        "the kill came mid-stream ({partial} effects so far)"
    );
    consumer = start_consumer(&pool, &config, false);
    wait_for_effects(&pool, 450, "after a consumer crash").await;

    // 4. A duplicate delivery (same event id, published again past broker deduplication).
    let (first_id,): (uuid::Uuid,) = sqlx::query_as("SELECT event_id FROM effects WHERE n = 0")
        .fetch_one(&pool)
        .await
        .expect("first event");
    let direct = SharedBroker::new(config.clone());
    let b = direct.get().await.expect("broker");
    b.publish(&[Outgoing {
        subject: event_subject(SYSTEM, EVENT),
        message_id: format!("again-{first_id}"),
        payload: envelope(first_id, 0),
    }])
    .await
    .expect("publish duplicate");

    // 5. A poison message, then a message whose handler always fails, then a good one.
    b.publish(&[
        Outgoing {
            subject: event_subject(SYSTEM, EVENT),
            message_id: "poison-1".into(),
            payload: b"{ not json".to_vec(),
        },
        {
            let id = uuid::Uuid::new_v4();
            Outgoing {
                subject: event_subject(SYSTEM, EVENT),
                message_id: id.to_string(),
                payload: envelope(id, -1),
            }
        },
    ])
    .await
    .expect("publish poison");
    commit_events(&pool, 450, 1).await;
    wait_for_effects(&pool, 451, "after a duplicate and a poison message").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while dead_letters(&pool, GROUP).await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "dead letters not recorded in 30s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = dead_letters(&pool, GROUP).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter()
            .any(|(reason, attempts)| reason.contains("not an event envelope") && *attempts == 1),
        "poison is dead-lettered at once: {dead:?}"
    );
    assert!(
        dead.iter()
            .any(|(reason, attempts)| reason.contains("always fails") && *attempts == 3),
        "a failing handler is retried 3 times, then dead-lettered: {dead:?}"
    );
    let (inbox,): (i64,) = sqlx::query_as("SELECT count(*) FROM msa_inbox WHERE consumer = $1")
        .bind(GROUP)
        .fetch_one(&pool)
        .await
        .expect("inbox");
    assert_eq!(inbox, 451, "one inbox row per event that took effect");

    // 6. The dead letters are on the broker's dead-letter destination too (read back where the
    //    broker keeps them for a new reader: Kafka's topic).
    if kind == "kafka" {
        let mut dlt = b
            .subscribe("dead-letter-reader", &[dead_letter_subject(SYSTEM, GROUP)])
            .await
            .expect("subscribe to the dead-letter topic");
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let d = tokio::time::timeout(Duration::from_secs(30), dlt.next())
                .await
                .expect("two dead letters on the topic within 30s")
                .expect("subscription open");
            seen.push(d.payload.clone());
            d.ack().await.expect("ack");
        }
        assert!(
            seen.iter().any(|p| p == b"{ not json"),
            "poison on the topic"
        );
        assert!(
            seen.iter()
                .any(|p| String::from_utf8_lossy(p).contains("\"n\":-1")),
            "the failing event on the topic"
        );
    }

    // 7. A backlog is handled in batches: events waiting together share one transaction. In
    //    it, every tenth event comes twice in a row and five events that took effect long ago
    //    come again: each still has one effect (the batch's inbox rows are one statement). Its
    //    events belong to 7 aggregates, and each aggregate's take effect in the order they were
    //    published, although Kafka's partitions are handled at once.
    let _ = consumer.stop.send(true);
    consumer.task.await.expect("consumer stops");
    let old: Vec<(uuid::Uuid, i32)> =
        sqlx::query_as("SELECT event_id, n FROM effects WHERE n BETWEEN 1 AND 5 ORDER BY n")
            .fetch_all(&pool)
            .await
            .expect("old events");
    let aggregates: Vec<uuid::Uuid> = (0..7).map(|_| uuid::Uuid::new_v4()).collect();
    let aggregate_of = |n: i64| aggregates[n.rem_euclid(7) as usize];
    let again = |id: uuid::Uuid, aggregate: uuid::Uuid, n: i64| Outgoing {
        subject: event_subject(SYSTEM, EVENT),
        message_id: format!("again-{id}"),
        payload: envelope_of(id, aggregate, n),
    };
    let mut backlog: Vec<Outgoing> = old
        .iter()
        .map(|(id, n)| again(*id, *id, i64::from(*n)))
        .collect();
    for n in 1000..1300 {
        let id = uuid::Uuid::new_v4();
        backlog.push(Outgoing {
            subject: event_subject(SYSTEM, EVENT),
            message_id: id.to_string(),
            payload: envelope_of(id, aggregate_of(n), n),
        });
        if n % 10 == 0 {
            backlog.push(again(id, aggregate_of(n), n));
        }
    }
    b.publish(&backlog).await.expect("publish a backlog");
    consumer = start_consumer(&pool, &config, false);
    wait_for_effects(&pool, 751, "a backlog").await;
    let (transactions,): (i64,) =
        sqlx::query_as("SELECT count(DISTINCT tx) FROM effects WHERE n >= 1000")
            .fetch_one(&pool)
            .await
            .expect("transactions");
    println!("{kind}: 300 waiting events took effect in {transactions} transactions");
    assert!(
        transactions < 300,
        "waiting events share transactions ({transactions} for 300)"
    );
    let handled: Vec<(i32,)> = sqlx::query_as("SELECT n FROM effects WHERE n >= 1000 ORDER BY seq")
        .fetch_all(&pool)
        .await
        .expect("handling order");
    for (i, aggregate) in aggregates.iter().enumerate() {
        let order: Vec<i32> = handled
            .iter()
            .map(|(n,)| *n)
            .filter(|n| aggregate_of(i64::from(*n)) == *aggregate)
            .collect();
        assert!(
            order.is_sorted(),
            "aggregate {i}'s events took effect in the order they were published: {order:?}"
        );
    }

    // 8. Inbox rows older than the dedup window are purged; younger ones stay.
    sqlx::query(
        "UPDATE msa_inbox SET processed_at = now() - interval '8 days' \
         WHERE event_id IN (SELECT event_id FROM effects WHERE n < 100)",
    )
    .execute(&pool)
    .await
    .expect("age 100 inbox rows");
    let purged = runtime::messaging::consumer::purge_inbox(
        &pool,
        GROUP,
        runtime::messaging::consumer::INBOX_KEEP,
    )
    .await
    .expect("purge");
    assert_eq!(purged, 100, "exactly the rows older than the window");
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM msa_inbox WHERE consumer = $1")
        .bind(GROUP)
        .fetch_one(&pool)
        .await
        .expect("inbox");
    assert_eq!(left, 651);

    // 9. Each group retries only its own deliveries: the auditor dead-letters the poison and
    //    the failing event once each, the latter after its own 3 attempts (another group's
    //    retried copies never reach it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while dead_letters(&pool, AUDITOR).await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the auditor's dead letters not recorded in 30s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let audited = dead_letters(&pool, AUDITOR).await;
    assert_eq!(audited.len(), 2, "{kind}: {audited:?}");
    assert!(
        audited
            .iter()
            .any(|(reason, attempts)| reason.contains("always fails") && *attempts == 3),
        "{kind}: {audited:?}"
    );

    assert_eq!(
        counts(&pool).await,
        (751, 751),
        "{kind}: the backlog's repeated events had no second effect"
    );

    for r in [relay, consumer, auditing] {
        let _ = r.stop.send(true);
        tokio::time::timeout(Duration::from_secs(10), r.task)
            .await
            .expect("tasks stop on request")
            .expect("task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_delivers_every_event_once() {
    guarantees_hold("nats").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_delivers_every_event_once() {
    guarantees_hold("rabbitmq").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_delivers_every_event_once() {
    guarantees_hold("kafka").await;
}
