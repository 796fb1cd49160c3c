//! The official Kafka image as one KRaft node (broker and controller in one process, no
//! ZooKeeper). One file serves the kit, the generator (compose and the dev cluster, through
//! `#[path]`) and the msa-gen repository's own tests, so they run Kafka the same way.

/// The official Kafka image.
pub const KAFKA_IMAGE: &str = "apache/kafka:4.0.0";

/// The image's environment for a single node that clients reach at `advertised`
/// (`host:port`: clients connect to what the broker advertises).
pub fn kraft_env(advertised: &str) -> Vec<(&'static str, String)> {
    vec![
        ("KAFKA_NODE_ID", "1".into()),
        ("KAFKA_PROCESS_ROLES", "broker,controller".into()),
        (
            "KAFKA_LISTENERS",
            "PLAINTEXT://:9092,CONTROLLER://:9093".into(),
        ),
        (
            "KAFKA_ADVERTISED_LISTENERS",
            format!("PLAINTEXT://{advertised}"),
        ),
        ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER".into()),
        (
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".into(),
        ),
        ("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093".into()),
        ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1".into()),
        ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1".into()),
        ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1".into()),
        ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0".into()),
    ]
}
