//! Snapshot tests (insta) of representative generated files, so any change to what msa-gen
//! writes is reviewed as a diff. Update with `cargo insta review` (or INSTA_UPDATE=always).

use msa_gen::render::RenderedFile;

/// The text of `blueprints/<name>.toml`.
fn blueprint(name: &str) -> String {
    let path = format!("{}/../blueprints/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("blueprint")
}

fn generate(name: &str) -> Vec<RenderedFile> {
    msa_gen::generate_in_memory(&blueprint(name)).expect("generation")
}

fn file<'a>(files: &'a [RenderedFile], path: &str) -> &'a str {
    let f = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not generated"));
    std::str::from_utf8(&f.bytes).expect("utf-8")
}

#[test]
fn shop_snapshots() {
    let files = generate("shop");
    for path in [
        "Cargo.toml",
        "README.md",
        "crates/contracts/src/lib.rs",
        "services/orders/Cargo.toml",
        "services/orders/src/main.rs",
        "services/orders/src/api.rs",
        "services/orders/src/model.rs",
        "services/orders/src/logic/mod.rs",
        "services/orders/src/logic/order.rs",
        "services/orders/migrations/0001_init.sql",
        "services/orders/src/events.rs",
        "services/orders/src/handlers/mod.rs",
        "services/customers/src/sagas/place_order.rs",
        "services/customers/src/steps/place_order.rs",
        "services/orders/src/sagas/place_order.rs",
        "services/orders/src/sagas/checkout.rs",
        "bffs/web-bff/src/main.rs",
        "services/orders/Dockerfile",
        ".dockerignore",
        "deploy/compose.yaml",
        "deploy/prometheus.yml",
        "deploy/k8s/base/network-policies.yaml",
        "deploy/k8s/overlays/dev/kustomization.yaml",
        ".github/workflows/orders.yml",
        ".github/workflows/e2e.yml",
        "bffs/web-bff/src/compositions.rs",
        "bffs/web-bff/src/clients.rs",
        "services/payments/src/sagas/checkout.rs",
        "services/payments/src/steps/checkout.rs",
        "services/carts/src/api.rs",
        "services/carts/src/model.rs",
        "services/carts/src/logic/cart.rs",
        "config/orders.toml",
        "services/notifications/src/main.rs",
        "services/notifications/src/events.rs",
        "services/notifications/src/handlers/order_approved.rs",
        "services/order-history/src/model.rs",
        "services/order-history/src/api.rs",
        "services/order-history/src/projections.rs",
        "services/order-history/src/views/order_summary.rs",
        "services/order-history/migrations/0001_init.sql",
        "crates/contracts/src/upcast.rs",
        "services/orders/src/clients.rs",
        "platform/gateway/src/main.rs",
        "platform/registry/src/main.rs",
        "platform/auth/src/main.rs",
        "platform/config-server/src/main.rs",
        "config/gateway.toml",
    ] {
        insta::assert_snapshot!(
            format!("shop__{}", path.replace('/', "__")),
            file(&files, path)
        );
    }
}

#[test]
fn minimal_snapshots() {
    let files = generate("minimal");
    for path in [
        "services/notes/src/model.rs",
        "services/notes/migrations/0001_init.sql",
    ] {
        insta::assert_snapshot!(
            format!("minimal__{}", path.replace('/', "__")),
            file(&files, path)
        );
    }
}

#[test]
fn the_file_list_and_ownership_are_stable() {
    let files = generate("shop");
    let listing: String = files
        .iter()
        .map(|f| format!("{:?} {}\n", f.ownership, f.path))
        .collect();
    insta::assert_snapshot!("shop__file_list", listing);
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(generate("shop"), generate("shop"));
}

#[test]
fn generated_files_carry_the_header_and_user_files_do_not() {
    for f in generate("shop") {
        let text = String::from_utf8_lossy(&f.bytes);
        let has = text
            .lines()
            .next()
            .unwrap_or_default()
            .contains(msa_gen::render::HEADER_TEXT);
        match f.ownership {
            msa_gen::plan::Ownership::Generated
                if msa_gen::render::header_for(&f.path).is_some() =>
            {
                assert!(has, "{} lacks the header", f.path)
            }
            msa_gen::plan::Ownership::User | msa_gen::plan::Ownership::Input => {
                assert!(!has, "{} is user-owned but has the header", f.path)
            }
            _ => {}
        }
    }
}

#[test]
fn later_sections_are_reported_not_dropped() {
    let text = blueprint("shop");
    let bp = msa_gen::blueprint::load(&text).expect("valid").blueprint;
    let lines = msa_gen::plan::not_generated(&bp);
    assert!(
        !lines.iter().any(|l| l.contains("CI pipelines")),
        "GitHub workflows are generated: {lines:#?}"
    );
    // GitLab CI, Istio and ConfigMaps are generated too: nothing is reported for them.
    let later = text
        .replace("ci = \"github\"", "ci = \"gitlab\"")
        .replace("mesh = \"none\"", "mesh = \"istio\"")
        .replace("discovery = \"registry\"", "discovery = \"kubernetes\"")
        .replace("config = \"server\"", "config = \"kubernetes\"");
    let bp_later = msa_gen::blueprint::load(&later).expect("valid").blueprint;
    let later_lines = msa_gen::plan::not_generated(&bp_later);
    assert!(later_lines.is_empty(), "{later_lines:#?}");
    let later_files = msa_gen::generate_in_memory(&later).expect("generation");
    for path in [
        ".gitlab-ci.yml",
        "deploy/k8s/base/istio.yaml",
        "config/kustomization.yaml",
    ] {
        insta::assert_snapshot!(
            format!("shop-istio__{}", path.replace('/', "__")),
            file(&later_files, path)
        );
    }
    insta::assert_snapshot!(
        "shop-istio__deploy__k8s__base__workloads.yaml",
        file(&later_files, "deploy/k8s/base/workloads.yaml")
    );
    for generated in ["carts", "place-order", "checkout", "web-bff", "mobile-bff"] {
        assert!(
            !lines.iter().any(|l| l.contains(generated)),
            "{generated} is generated now: {lines:#?}"
        );
    }
    let files = generate("shop");
    assert!(
        files
            .iter()
            .any(|f| f.path == "services/carts/src/logic/cart.rs"),
        "the event-sourced service is generated"
    );
    assert!(
        files
            .iter()
            .any(|f| f.path == "services/order-history/src/projections.rs"),
        "the read model is generated"
    );
}

/// The shop on Kafka: every part is generated (nothing reported), each service with events
/// enables the runtime's `kafka` feature (the event-sourced `carts` included, whose commands
/// publish through the outbox), and compose and the dev cluster run one KRaft node.
#[test]
fn the_kafka_shop_is_generated_in_full() {
    let text = blueprint("shop").replace("broker = \"nats\"", "broker = \"kafka\"");
    let bp = msa_gen::blueprint::load(&text).expect("valid").blueprint;
    let lines = msa_gen::plan::not_generated(&bp);
    assert!(lines.is_empty(), "{lines:#?}");
    let files = msa_gen::generate_in_memory(&text).expect("generation");
    for service in [
        "orders",
        "customers",
        "payments",
        "carts",
        "order-history",
        "notifications",
    ] {
        let manifest = file(&files, &format!("services/{service}/Cargo.toml"));
        assert!(
            manifest.contains("features = [\"kafka\""),
            "{service}: {manifest}"
        );
        let config = file(&files, &format!("config/{service}.toml"));
        assert!(
            config.contains("broker-url = \"kafka://localhost:9092\""),
            "{service}: {config}"
        );
    }
    assert!(
        file(&files, "services/carts/src/main.rs").contains("mod events;"),
        "carts publishes through its outbox"
    );
    for path in [
        "deploy/compose.yaml",
        "deploy/k8s/overlays/dev/infrastructure.yaml",
    ] {
        insta::assert_snapshot!(
            format!("shop-kafka__{}", path.replace('/', "__")),
            file(&files, path)
        );
    }
}
