//! `[platform] tracing` decides whether spans are exported: `"otlp"` turns on the runtime's
//! feature `otlp` for every process (one line of the workspace manifest) and points the
//! deployments at the console; `"none"` compiles no OpenTelemetry exporter. Nothing else
//! differs.

fn generate(tracing: &str) -> Vec<msa_gen::render::RenderedFile> {
    let shop = include_str!("../../blueprints/shop.toml");
    let text = shop.replace("tracing = \"otlp\"", &format!("tracing = \"{tracing}\""));
    assert!(text.contains(&format!("tracing = \"{tracing}\"")));
    msa_gen::generate_in_memory(&text).expect("generates")
}

#[test]
fn otlp_and_none_differ_in_the_runtime_feature_only() {
    let otlp = generate("otlp");
    let none = generate("none");
    let text = |files: &[msa_gen::render::RenderedFile], path: &str| {
        files
            .iter()
            .find(|f| f.path == path)
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .unwrap_or_default()
    };
    let runtime_line = |manifest: String| {
        manifest
            .lines()
            .find(|l| l.starts_with("runtime = "))
            .unwrap_or_default()
            .to_string()
    };
    assert!(runtime_line(text(&otlp, "Cargo.toml")).contains("features = [\"otlp\"]"));
    assert!(!runtime_line(text(&none, "Cargo.toml")).contains("otlp"));
    let differing: Vec<&str> = otlp
        .iter()
        .filter(|f| f.path != "blueprint.toml")
        .filter(|f| text(&none, &f.path) != String::from_utf8_lossy(&f.bytes))
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        differing,
        [
            "Cargo.toml",
            "deploy/compose.yaml",
            "deploy/k8s/base/workloads.yaml"
        ],
        "the workspace manifest, and where the deployments send spans"
    );
    for deploy in ["deploy/compose.yaml", "deploy/k8s/base/workloads.yaml"] {
        assert!(text(&otlp, deploy).contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert!(!text(&none, deploy).contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
}
