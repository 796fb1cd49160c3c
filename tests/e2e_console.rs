//! The console (issue 21, item 2) on the whole shop booted by its generated end-to-end kit:
//! the kit points every process's OTLP export at the console. In headless Chromium a customer
//! signs in through the gateway and places an order (the checkout saga); the console then shows
//! that order's trace: spans from at least 4 processes, the broker hop (`publish`, `consume`)
//! and the participants' saga steps, and its log lines. Its pages need an admin (a customer
//! gets 403, nobody a redirect to sign in). Its live view lists the instances and request
//! rates; killing products opens the gateway's breaker, and the console shows it open. Last,
//! the browser signs in on the console, opens the trace's waterfall, and sees products red in
//! the architecture diagram with its breaker open (the screenshots of docs/observability.md).

use std::time::{Duration, Instant};

use e2e_kit::{Manifest, System};
use msa_gen_tests::browser::Browser;
use reqwest::StatusCode;

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
    let gateway = sys.gateway().expect("gateway");
    // The customer the order is for: the saga's setup, made by an admin over HTTP.
    let mut order: serde_json::Value = serde_json::from_str(&checkout.body).expect("order");
    for setup in &checkout.setups {
        let body = serde_json::from_str(&setup.body).expect("setup body");
        let id = e2e_kit::checks::create(&sys, &setup.path, &body, Some("admin"))
            .await
            .expect("setup");
        order[&setup.into] = serde_json::Value::String(id);
    }
    // In headless Chromium: a customer signs in through the gateway and places the order.
    let browser = Browser::start().await;
    browser.open(&format!("{gateway}/health/ready")).await;
    let placed = browser
        .run(&format!(
            r#"return (async () => {{
  const grant = new URLSearchParams({{ grant_type: 'password', username: 'e2e-customer', password: 'e2e-customer-secret' }});
  const signedIn = await fetch('/oauth/token', {{ method: 'POST', body: grant }});
  const token = (await signedIn.json()).access_token;
  const r = await fetch('{start}', {{ method: 'POST', headers: {{ 'content-type': 'application/json', authorization: 'Bearer ' + token }}, body: JSON.stringify({order}) }});
  return {{ status: r.status, trace: r.headers.get('x-trace-id'), id: (await r.json()).id }};
}})();"#,
            start = checkout.start,
        ))
        .await;
    assert!(
        placed["status"]
            .as_u64()
            .is_some_and(|s| (200..300).contains(&s)),
        "the order placed in the browser: {placed}"
    );
    let trace = placed["trace"].as_str().expect("x-trace-id").to_string();
    let id = placed["id"].as_str().expect("the order's id").to_string();
    assert_eq!(
        e2e_kit::checks::saga_end(&sys, checkout, &id)
            .await
            .expect("the checkout ends"),
        checkout.success,
        "the order placed in the browser"
    );

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

    // That order's trace: spans arrive every 500 ms from each process.
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let (status, page) = get(format!("/traces/{trace}"), Some(admin.clone())).await;
        let distinct: std::collections::BTreeSet<&str> = page
            .split("<tr class=\"span\" data-process=\"")
            .skip(1)
            .filter_map(|r| r.split('"').next())
            .collect();
        if status == StatusCode::OK
            && distinct.len() >= 4
            && distinct.contains("gateway")
            && page.contains("publish ")
            && page.contains("consume ")
            && page.contains("saga checkout step")
        {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "the order's trace {trace} is not on the console whole ({status}): {distinct:?}\n{page}"
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

    // The live view: every instance from the registry, request rates per route (the growth
    // between the last two scrapes, 2 s apart: the orders are read meanwhile).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let _ = http
            .get(format!("{gateway}/orders"))
            .bearer_auth(&admin)
            .send()
            .await;
        let (_, system) = get("/system".into(), Some(admin.clone())).await;
        if system.contains("data-service=\"orders\"")
            && system.contains("<td><code>/orders")
            && system.contains("<tr class=\"node\" data-process=\"orders\" data-up=\"2\">")
            && system.contains("<g class=\"node up\" data-process=\"orders\" data-up=\"2\">")
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

    // In the browser: sign in on the console, open the waterfall.
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
    let artifacts = msa_gen_tests::target_dir().join("msa-gen-tests/artifacts");
    let shot = artifacts.join("console-trace.png");
    browser.screenshot(&shot).await;
    assert!(
        std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 10_000,
        "a real screenshot"
    );
    // The architecture diagram, drawn: every process a box on the page; killed products red,
    // and its breaker open.
    browser.open(&format!("{console}/system")).await;
    browser
        .wait_for(
            "return document.querySelectorAll('svg.diagram g.node').length > 5 \
             && document.querySelector('svg.diagram').getBoundingClientRect().height > 100 \
             && document.querySelector('svg.diagram g.node.down[data-process=\"products\"]') !== null \
             && document.querySelector('tr.breaker[data-service=\"products\"][data-state=\"open\"]') !== null;",
            "the architecture diagram with products down and its breaker open",
        )
        .await;
    browser
        .screenshot(&artifacts.join("console-system.png"))
        .await;
    drop(browser);
    drop(sys);
}
