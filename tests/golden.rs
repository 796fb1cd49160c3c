//! Snapshot tests (insta) of generated files of the variants `generated-example/` does not
//! cover (the minimal blueprint, the shop on Istio and GitLab, the shop on Kafka), so any change
//! to what msa-gen writes for them is reviewed as a diff. Update with `cargo insta review` (or
//! INSTA_UPDATE=always). The shop itself, every file byte for byte with the list of files and
//! their ownership (`.msa-gen/manifest.json`), is pinned by `generated-example/` (see
//! `generated_example.rs`).

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
fn every_platform_variant_is_generated() {
    let text = blueprint("shop");
    // GitLab CI, Istio and ConfigMaps are generated too.
    let later = text
        .replace("ci = \"github\"", "ci = \"gitlab\"")
        .replace("mesh = \"none\"", "mesh = \"istio\"")
        .replace("discovery = \"registry\"", "discovery = \"kubernetes\"")
        .replace("config = \"server\"", "config = \"kubernetes\"");
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

/// The shop on Kafka: every part is generated, each service with events
/// enables the runtime's `kafka` feature (the event-sourced `carts` included, whose commands
/// publish through the outbox), and compose and the dev cluster run one KRaft node.
#[test]
fn the_kafka_shop_is_generated_in_full() {
    let text = blueprint("shop").replace("broker = \"nats\"", "broker = \"kafka\"");
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
