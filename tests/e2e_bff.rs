//! End to end, backends for frontends: the generated `web-bff` of the shop with `registry`,
//! `auth`, `gateway`, `orders`, `customers` and `order-history` as their own processes (real
//! Postgres, real NATS, real HTTP).
//!
//! - Routes pass through the BFF with the caller's token (`POST /orders`), also through the
//!   gateway under `/web-bff`.
//! - `GET /order-details/{id}` composes orders, order-history (in parallel) and customers (after
//!   orders: its path uses `{orders.customer-id}`): every member filled, no warning.
//! - One service down → its member is `null` and a `Warning` header names it; the request
//!   still succeeds.
//! - One service frozen (SIGSTOP) → the call's timeout is honoured: the answer comes after about
//!   the timeout, with that member `null`.
//! - An unknown order → 404 from the required `orders` call (`customers` is not called); a
//!   caller without the composition's roles → 403.
//! - In headless Chromium: the shell page of `web-bff` signs in and shows the products, orders
//!   and order-history fragments, each served by its own service, with the data created through
//!   the API (screenshot in `target/msa-gen-tests/artifacts/web-shell.png`); the gateway's docs
//!   page lists every running service's paths.
//! - Micro-frontends: products rebuilt with a changed fragment template and restarted alone
//!   changes the page (a new fragment version) while the shell runs on; products killed leaves
//!   its placeholder and the other two fragments still load.

use std::time::{Duration, Instant};

use e2e_kit::infra;
use msa_gen_tests::browser::Browser;
use msa_gen_tests::free_port;
use msa_gen_tests::processes::{spawn_with, wait_ready};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_bff_composes_order_details() {
    let ws = msa_gen_tests::shop(
        "nats",
        &[
            "registry",
            "auth",
            "gateway",
            "orders",
            "customers",
            "order-history",
            "products",
            "web-bff",
        ],
    );
    let databases = ["orders", "customers", "order_history", "auth", "products"];
    let pg = infra::postgres(&databases.map(String::from))
        .await
        .expect("postgres");
    let nats_service = infra::broker("nats").await.expect("nats");
    let nats = &nats_service.url;
    let db = |name: &str| format!("{}/{name}", pg.url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let ports = [(); 8].map(|()| free_port());
    let [
        registry_port,
        auth_port,
        gateway_port,
        orders_port,
        customers_port,
        history_port,
        bff_port,
        products_port,
    ] = ports;
    fn common(
        registry_port: u16,
        auth_port: u16,
        extra: &[(&'static str, String)],
    ) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("REGISTRY_URL", format!("http://127.0.0.1:{registry_port}")),
            ("APP_HEARTBEAT_MS", "500".to_string()),
            ("APP_AUTH_URL", format!("http://127.0.0.1:{auth_port}")),
        ];
        env.extend(extra.iter().cloned());
        env
    }
    let common = |extra: &[(&'static str, String)]| common(registry_port, auth_port, extra);
    // Registry writes need a service identity, checked against the auth service's keys.
    let mut registry = spawn_with(
        &ws,
        "registry",
        registry_port,
        "",
        nats,
        &[("APP_AUTH_URL", format!("http://127.0.0.1:{auth_port}"))],
    );
    wait_ready(&http, &mut registry).await;
    let mut auth = spawn_with(
        &ws,
        "auth",
        auth_port,
        &db("auth"),
        nats,
        &common(&[("APP_ADMIN_PASSWORD", "admin-secret-3".into())]),
    );
    let mut orders = spawn_with(
        &ws,
        "orders",
        orders_port,
        &db("orders"),
        nats,
        &common(&[]),
    );
    let mut customers = spawn_with(
        &ws,
        "customers",
        customers_port,
        &db("customers"),
        nats,
        &common(&[]),
    );
    let mut history = spawn_with(
        &ws,
        "order-history",
        history_port,
        &db("order_history"),
        nats,
        &common(&[]),
    );
    let mut products = spawn_with(
        &ws,
        "products",
        products_port,
        &db("products"),
        nats,
        &common(&[]),
    );
    let mut gateway = spawn_with(&ws, "gateway", gateway_port, "", nats, &common(&[]));
    let mut bff = spawn_with(
        &ws,
        "web-bff",
        bff_port,
        "",
        nats,
        &common(&[
            ("APP_CALL_TIMEOUT_MS", "700".into()),
            ("APP_CALL_RETRIES", "0".into()),
        ]),
    );
    for p in [
        &mut auth,
        &mut orders,
        &mut customers,
        &mut history,
        &mut products,
        &mut gateway,
        &mut bff,
    ] {
        wait_ready(&http, p).await;
    }
    // The first admin (every role) appears just after the auth service starts.
    let mut token = String::new();
    for _ in 0..50 {
        let r = http
            .post(format!("http://127.0.0.1:{auth_port}/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", "admin-secret-3"),
            ])
            .send()
            .await
            .expect("token");
        if r.status() == StatusCode::OK {
            let v: Value = r.json().await.expect("json");
            token = v["access_token"].as_str().expect("token").to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!token.is_empty(), "signed in");
    // Every service is registered before the BFF is asked.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all: Value = http
            .get(format!(
                "http://127.0.0.1:{registry_port}/registry/services"
            ))
            .send()
            .await
            .expect("registry")
            .json()
            .await
            .expect("json");
        let text = all.to_string();
        if ["orders", "customers", "order-history", "web-bff"]
            .iter()
            .all(|s| text.contains(&format!("\"{s}\"")))
        {
            break;
        }
        assert!(Instant::now() < deadline, "services not registered: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let customer: Value = http
        .post(format!("http://127.0.0.1:{customers_port}/customers"))
        .bearer_auth(&token)
        .json(
            &json!({ "name": "Ada", "email": "ada@example.com", "credit_limit": "100.00",
                       "credit_reserved": "0", "tier": "gold" }),
        )
        .send()
        .await
        .expect("customer")
        .json()
        .await
        .expect("json");
    let customer_id = customer["id"].as_str().expect("id").to_string();
    // Service identities (issue 22): orders owns the checkout saga whose steps customers
    // takes, so a call from orders on its own behalf (no user: a saga step, an event) reaches
    // the protected customers API; order-history declares no call to customers: 403.
    let identity = |name: &'static str| {
        let http = http.clone();
        async move {
            let secret = msa_gen_tests::processes::test_secret(name);
            let r = http
                .post(format!("http://127.0.0.1:{auth_port}/oauth/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", name),
                    ("client_secret", secret.as_str()),
                ])
                .send()
                .await
                .expect("token");
            assert_eq!(r.status(), StatusCode::OK, "identity of {name}");
            let v: Value = r.json().await.expect("json");
            v["access_token"].as_str().expect("token").to_string()
        }
    };
    let as_service = |token: String| {
        let r = http
            .get(format!(
                "http://127.0.0.1:{customers_port}/customers/{customer_id}"
            ))
            .bearer_auth(token);
        async move { r.send().await.expect("customers").status() }
    };
    assert_eq!(as_service(identity("orders").await).await, StatusCode::OK);
    assert_eq!(
        as_service(identity("order-history").await).await,
        StatusCode::FORBIDDEN
    );
    // A route passed through the BFF with the caller's token.
    let created = http
        .post(format!("http://127.0.0.1:{bff_port}/orders"))
        .bearer_auth(&token)
        .json(&json!({ "customer_id": customer_id, "total": "40.00", "status": "pending" }))
        .send()
        .await
        .expect("order through the BFF");
    assert_eq!(created.status(), StatusCode::CREATED);
    let order: Value = created.json().await.expect("json");
    let order_id = order["id"].as_str().expect("id").to_string();
    let refused = http
        .post(format!("http://127.0.0.1:{bff_port}/orders"))
        .json(&json!({ "customer_id": customer_id, "total": "1.00", "status": "pending" }))
        .send()
        .await
        .expect("no token");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let details = |base: String| {
        let http = http.clone();
        let token = token.clone();
        async move {
            let r = http
                .get(base)
                .bearer_auth(&token)
                .send()
                .await
                .expect("composition");
            let status = r.status();
            let warnings: Vec<String> = r
                .headers()
                .get_all("warning")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            let body: Value = r.json().await.unwrap_or_default();
            (status, warnings, body)
        }
    };
    let direct = format!("http://127.0.0.1:{bff_port}/order-details/{order_id}");
    let via_gateway = format!("http://127.0.0.1:{gateway_port}/web-bff/order-details/{order_id}");
    // The read model catches up with the order.
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (status, warnings, body) = details(via_gateway.clone()).await;
        if status == StatusCode::OK && warnings.is_empty() {
            break body;
        }
        assert!(Instant::now() < deadline, "{status} {warnings:?} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body["orders"]["id"], json!(order_id));
    assert_eq!(
        body["customers"]["id"],
        json!(customer_id),
        "the dependent call"
    );
    assert_eq!(body["customers"]["name"], "Ada");
    assert_eq!(body["order-history"]["order_id"], json!(order_id));

    // The composed web front end in a real browser: sign in, every fragment shows its data.
    let product = http
        .post(format!("http://127.0.0.1:{products_port}/products"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Walnut table", "price": "349.00", "tags": ["wood"] }))
        .send()
        .await
        .expect("product");
    assert_eq!(product.status(), StatusCode::CREATED);
    let browser = Browser::start().await;
    browser.open(&format!("http://127.0.0.1:{bff_port}/")).await;
    browser.type_into("#username", "admin").await;
    browser.type_into("#password", "admin-secret-3").await;
    browser.click("#sign-in").await;
    browser
        .wait_for(
            "return document.querySelectorAll('msa-fragment[data-state=\"loaded\"]').length === 3;",
            "the three fragments load",
        )
        .await;
    let page = browser.text().await;
    for expected in ["Walnut table", &order_id[..8], "Order history", "admin"] {
        assert!(
            page.contains(expected),
            "{expected} not on the page:\n{page}"
        );
    }
    // Orders and order history both show the order (its id in full in the tooltips).
    let rows = browser
        .run(&format!(
            "return document.querySelectorAll('#orders [title=\"{order_id}\"], #order-history [title=\"{order_id}\"]').length;"
        ))
        .await;
    assert_eq!(rows, json!(2), "the order in both fragments");
    assert!(!page.contains("unavailable"), "{page}");
    // Micro-frontends: each fragment is served by its own service, not by the shell.
    let owners = browser
        .run("return [...document.querySelectorAll('[data-fragment]')].map(f => f.dataset.service + ' ' + f.dataset.fragmentVersion);")
        .await;
    let owners: Vec<String> = serde_json::from_value(owners).expect("owners");
    let served_by: Vec<&str> = owners.iter().filter_map(|o| o.split(' ').next()).collect();
    assert_eq!(
        served_by,
        ["products", "orders", "order-history"],
        "{owners:?}"
    );
    let shot = msa_gen_tests::target_dir().join("msa-gen-tests/artifacts/web-shell.png");
    browser.screenshot(&shot).await;
    assert!(
        std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 10_000,
        "a real screenshot"
    );

    // The gateway's docs page lists every running service's paths.
    browser
        .open(&format!("http://127.0.0.1:{gateway_port}/docs"))
        .await;
    browser
        .wait_for(
            "return document.querySelectorAll('details.op').length > 10;",
            "the docs page renders the merged document",
        )
        .await;
    let docs = browser.text().await;
    for path in [
        "/orders/{id}",
        "/customers/{id}",
        "/products/{id}",
        "/order-history/{key}",
    ] {
        assert!(docs.contains(path), "{path} not in the docs page");
    }
    browser
        .screenshot(&msa_gen_tests::target_dir().join("msa-gen-tests/artifacts/gateway-docs.png"))
        .await;
    // Products redeployed alone with a changed fragment template: the page shows the change,
    // and the shell (the BFF) runs on, never rebuilt or restarted.
    let template = ws.join("services/products/fragments/products.html");
    let original = std::fs::read_to_string(&template).expect("products' fragment template");
    std::fs::write(
        &template,
        format!("{original}<p id=\"new-look\">Fresh from products</p>\n"),
    )
    .expect("edit the template");
    // The whole workspace, as every test builds it (one feature set): only products changed.
    let rebuilt = msa_gen_tests::cargo_output(&ws, &["build", "--workspace"]);
    std::fs::write(&template, &original).expect("restore the template");
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let fresh = ws.join("bin/.products.new");
    std::fs::copy(msa_gen_tests::target_dir().join("debug/products"), &fresh).expect("copy");
    std::fs::rename(&fresh, ws.join("bin/products")).expect("replace the binary");
    products.restart().expect("products restarts");
    wait_ready(&http, &mut products).await;
    let shown = "return [...document.querySelectorAll('msa-fragment')].map(f => f.dataset.state).join('|') + '|' + !!document.getElementById('new-look');";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        browser.open(&format!("http://127.0.0.1:{bff_port}/")).await;
        let _ = browser
            .wait_for(
                "return document.querySelectorAll('msa-fragment:not([data-state])').length === 0;",
                "every slot settles",
            )
            .await;
        let state = browser.run(shown).await;
        let state = state.as_str().unwrap_or_default();
        if state.ends_with("|true") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new fragment never showed: {state}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(bff.exit_status().is_none(), "the shell kept running");
    let after: Vec<String> = serde_json::from_value(
        browser
            .run("return [...document.querySelectorAll('[data-fragment]')].map(f => f.dataset.service + ' ' + f.dataset.fragmentVersion);")
            .await,
    )
    .expect("versions");
    assert_ne!(after[0], owners[0], "products' fragment has a new version");
    assert_eq!(after[1..], owners[1..], "the other fragments are unchanged");

    // Products down: its placeholder, and the other fragments still work.
    products.kill();
    browser.open(&format!("http://127.0.0.1:{bff_port}/")).await;
    browser
        .wait_for(
            "return document.querySelectorAll('msa-fragment[data-state=\"loaded\"]').length === 2 \
             && document.querySelector('#products msa-fragment').dataset.state === 'unavailable';",
            "products' placeholder beside the other two fragments",
        )
        .await;
    let page = browser.text().await;
    assert!(
        page.contains("unavailable right now") && page.contains(&order_id[..8]),
        "{page}"
    );
    browser
        .screenshot(
            &msa_gen_tests::target_dir().join("msa-gen-tests/artifacts/web-shell-placeholder.png"),
        )
        .await;
    drop(browser);

    // One service down: null and a warning, not a failed request.
    history.kill();
    let (status, warnings, body) = details(direct.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["order-history"].is_null(), "{body}");
    assert_eq!(body["customers"]["name"], "Ada");
    assert!(
        warnings.iter().any(|w| w.contains("order-history")),
        "{warnings:?}"
    );

    // One service frozen: its call times out (700 ms), the rest answers.
    customers.signal("-STOP").expect("SIGSTOP");
    let started = Instant::now();
    let (status, warnings, body) = details(direct.clone()).await;
    let took = started.elapsed();
    customers.signal("-CONT").expect("SIGCONT");
    assert_eq!(status, StatusCode::OK);
    assert!(body["customers"].is_null(), "{body}");
    assert_eq!(body["orders"]["id"], json!(order_id));
    assert!(
        warnings.iter().any(|w| w.contains("customers")),
        "{warnings:?}"
    );
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(3),
        "timeout honoured: {took:?}"
    );

    // An unknown order: `orders` is required, so its 404 is the composition's answer.
    let unknown = format!(
        "http://127.0.0.1:{bff_port}/order-details/{}",
        uuid::Uuid::new_v4()
    );
    let (status, _, body) = details(unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.to_string().contains("orders"), "{body}");

    // A caller without the composition's roles.
    let created = http
        .post(format!("http://127.0.0.1:{auth_port}/users"))
        .bearer_auth(&token)
        .json(&json!({ "username": "nobody", "password": "nobody-secret", "roles": [] }))
        .send()
        .await
        .expect("user");
    assert_eq!(created.status(), StatusCode::CREATED);
    let v: Value = http
        .post(format!("http://127.0.0.1:{auth_port}/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "nobody"),
            ("password", "nobody-secret"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let nobody = v["access_token"].as_str().expect("token");
    let r = http
        .get(&direct)
        .bearer_auth(nobody)
        .send()
        .await
        .expect("composition");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
