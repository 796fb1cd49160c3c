//! The console (issue 21, item 2) on the whole shop booted by its generated end-to-end kit:
//! the kit points every process's OTLP export at the console, the checkout saga runs through
//! the gateway, and the console then shows that saga's trace: spans from at least 4 processes,
//! the broker hop (`publish`, `consume`) and the participants' saga steps. Its pages need an
//! admin (a customer gets 403, nobody a redirect to sign in). Its live view lists the instances
//! and request rates; killing products opens the gateway's breaker, and the console shows it
//! open. Then in headless Chromium: sign in on the console and open the trace's waterfall (the
//! screenshot of docs/observability.md).

use std::time::{Duration, Instant};

use e2e_kit::{Manifest, System};
use msa_gen_tests::browser::Browser;
use reqwest::StatusCode;

/// The trace ids a console page links to, in page order.
fn trace_links(html: &str) -> Vec<String> {
    html.split("href=\"/traces/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_sagas_trace_across_processes() {
    let probe = msa_gen_tests::shop("nats", &[]);
    let manifest: Manifest = toml::from_str(
        &std::fs::read_to_string(probe.join("tests/e2e/system.toml")).expect("manifest"),
    )
    .expect("manifest parses");
    let names: Vec<&str> = manifest.processes.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"console"), "every system has a console");
    let ws = msa_gen_tests::shop("nats", &names);
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("E2E_BIN_DIR", ws.join("bin")) };
    let mut sys = System::boot(manifest.clone(), &ws, ws.join("target/console-logs"))
        .await
        .expect("boot");
    let checkout = manifest
        .sagas
        .iter()
        .find(|s| s.name == "checkout")
        .expect("the checkout saga");
    let mut created = e2e_kit::checks::Created::new();
    e2e_kit::checks::saga_success(&sys, checkout, &mut created)
        .await
        .expect("checkout succeeds");

    let console = sys.url("console").expect("console");
    let admin = sys.token(Some("admin")).expect("admin").to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let get = |path: String, token: Option<String>| {
        let mut r = http.get(format!("{console}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.expect("console");
            (r.status(), r.text().await.unwrap_or_default())
        }
    };
    assert_eq!(get("/".into(), None).await.0, StatusCode::SEE_OTHER);
    if let Some(customer) = sys.token(Some("customer")) {
        assert_eq!(
            get("/".into(), Some(customer.to_string())).await.0,
            StatusCode::FORBIDDEN
        );
    }

    // The saga's trace: spans arrive every 500 ms from each process.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (trace, page) = 'found: loop {
        let (status, list) = get("/".into(), Some(admin.clone())).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        for id in trace_links(&list) {
            let (_, page) = get(format!("/traces/{id}"), Some(admin.clone())).await;
            let processes = page.matches("<tr class=\"span\" data-process=").count();
            let distinct: std::collections::BTreeSet<&str> = page
                .split("data-process=\"")
                .skip(1)
                .filter_map(|r| r.split('"').next())
                .collect();
            if processes > 0
                && distinct.len() >= 4
                && distinct.contains("gateway")
                && page.contains("publish ")
                && page.contains("consume ")
                && page.contains("saga checkout step")
            {
                break 'found (id, page);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no trace of the checkout on the console:\n{list}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(page.contains("reserve-credit"), "the customers' step");
    // The saga's instance at its owner, with its step history and the way back to its trace.
    let (_, sagas) = get("/sagas".into(), Some(admin.clone())).await;
    let link = sagas
        .split("href=\"/sagas/orders/checkout/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no checkout instance on /sagas:\n{sagas}"))
        .to_string();
    let (status, one) = get(
        format!("/sagas/orders/checkout/{link}"),
        Some(admin.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert!(
        one.matches("class=\"history\"").count() >= 3 && one.contains("reserve-credit"),
        "{one}"
    );
    // Log records arrive over OTLP with the trace and span they were written in, and lines
    // outside any span (a process's start) too.
    let (_, logs) = get(
        format!("/logs?trace={trace}&process=orders&level=info"),
        Some(admin.clone()),
    )
    .await;
    assert!(
        logs.contains("<td>orders</td><td>info</td><td>handled")
            && logs.contains(&format!("<a href=\"/traces/{trace}\">")),
        "the trace's log lines at orders: {logs}"
    );
    let (_, started) = get(
        "/logs?process=customers&text=exported+over+OTLP".into(),
        Some(admin.clone()),
    )
    .await;
    assert!(
        started.contains("<td>customers</td><td>info</td><td>spans and logs exported over OTLP"),
        "a line outside any span: {started}"
    );

    // The live view: every instance from the registry, request rates per route.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, system) = get("/system".into(), Some(admin.clone())).await;
        if system.contains("data-service=\"orders\"")
            && system.contains("<td><code>/orders")
            && system.contains("<tr class=\"node\" data-process=\"orders\" data-up=\"2\">")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no live view:\n{system}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Kill a service: the gateway's breaker for it opens, and the console shows it open.
    for products in sys.instances.get_mut("products").expect("products") {
        products.kill();
    }
    let gateway = sys.gateway().expect("gateway");
    for _ in 0..15 {
        let _ = http
            .get(format!("{gateway}/products"))
            .bearer_auth(&admin)
            .send()
            .await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, system) = get("/system".into(), Some(admin.clone())).await;
        if system.contains("data-service=\"products\" data-state=\"open\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the products breaker is not open on the console:\n{system}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // In a browser: sign in on the console, open the waterfall.
    let browser = Browser::start().await;
    browser.open(&format!("{console}/sign-in")).await;
    browser.type_into("#username", "admin").await;
    browser
        .type_into("#password", e2e_kit::boot::ADMIN_PASSWORD)
        .await;
    browser.click("#sign-in").await;
    browser
        .wait_for(
            "return document.querySelectorAll('a[href^=\"/traces/\"]').length > 0;",
            "the trace list after signing in",
        )
        .await;
    browser.open(&format!("{console}/traces/{trace}")).await;
    browser
        .wait_for(
            "return document.querySelectorAll('tr.span').length > 5;",
            "the waterfall",
        )
        .await;
    let shot = msa_gen_tests::target_dir().join("msa-gen-tests/artifacts/console-trace.png");
    browser.screenshot(&shot).await;
    assert!(
        std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 10_000,
        "a real screenshot"
    );
    drop(browser);
    drop(sys);
}
