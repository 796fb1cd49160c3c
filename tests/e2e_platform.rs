//! End to end, real processes over real HTTP: the generated `registry`, `gateway`, `auth` and
//! two instances of `orders` (on a real Postgres) of the shop.
//!
//! - Log in (password grant) → token → CRUD through the gateway; refresh rotates the refresh
//!   token and a replayed one is refused; client credentials work.
//! - No token, a forged signature, `alg: none`, garbage → 401; a role the route does not allow
//!   → 403.
//! - Both instances register; requests through the gateway reach both (round robin).
//! - One instance killed with SIGKILL: requests keep succeeding (retried on the other), and
//!   the registry evicts it within 3 heartbeats.
//! - All instances down: the breaker opens and the gateway answers 503 at once, far under its
//!   timeout; the service back: the breaker closes again.
//! - A burst from one client over its limit: 429 with `Retry-After`; a spoofed
//!   `X-Forwarded-For` on every request does not escape it; oversized (413) and trickling
//!   (408 after 10 s) anonymous bodies are refused.
//! - SIGTERM: the instance deregisters before it exits.
//! - Attack: NUL bytes in logins and filters are 400s and open no breaker; sign-in still works.
//! - Attack: password guessing for one user backs off (429 with `Retry-After`); others sign in.
//! - With redis sessions, the web BFF's shell and pass-through swap the session token for its
//!   JWT: the orders fragment loads.
//! - Attack: a rogue registration of `auth` (no token: 401; another service's identity: 403),
//!   a read of another service's configuration (403), and an undeclared service-to-service
//!   call (403); the gateway's identity, declared for orders, gets in.
//! - The gateway's `/openapi.json` merges the documents of the services that run.
//! - A refreshable value changed in the config server's files is seen by a running service,
//!   and a route configured there by a running gateway.
//! - The config server on a real Git repository: a commit reaches a running service (which names
//!   its revision), a changed non-refreshable key is reported as needing a restart, a commit that
//!   does not parse is refused (last good revision kept), the refresh hook needs an identity,
//!   and moving the label back rolls the value back.
//! - `sessions = "redis"`: opaque session tokens swapped for JWTs at the gateway; a revoked
//!   session is refused at once; a replayed refresh token ends all the user's sessions.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_kit::infra;
use e2e_kit::process::Instance;
use msa_gen_tests::free_port;
use msa_gen_tests::processes::{self, spawn_with, wait_ready};
use reqwest::StatusCode;
use serde_json::json;

const HEARTBEAT_MS: u64 = 500;
/// How long the gateway and the services trust the keys they fetched (60 s by default).
const JWKS_MAX_AGE_MS: u64 = 500;
const NO_BROKER: &str = "nats://127.0.0.1:1";

struct Shop {
    http: reqwest::Client,
    registry: u16,
    gateway: u16,
    db: String,
    token: String,
    auth: u16,
}

impl Shop {
    fn orders(&self, ws: &Path, port: u16) -> Instance {
        spawn_with(
            ws,
            "orders",
            port,
            &self.db,
            NO_BROKER,
            &[
                (
                    "REGISTRY_URL",
                    format!("http://127.0.0.1:{}", self.registry),
                ),
                ("APP_HEARTBEAT_MS", HEARTBEAT_MS.to_string()),
                ("APP_AUTH_URL", format!("http://127.0.0.1:{}", self.auth)),
                ("APP_JWKS_MAX_AGE_MS", JWKS_MAX_AGE_MS.to_string()),
            ],
        )
    }

    async fn instances(&self) -> Vec<String> {
        self.instances_of("orders").await
    }

    /// The addresses of `service`'s instances at the registry, sorted.
    async fn instances_of(&self, service: &str) -> Vec<String> {
        let list: Vec<serde_json::Value> = self
            .http
            .get(format!(
                "http://127.0.0.1:{}/registry/services/{service}",
                self.registry
            ))
            .send()
            .await
            .expect("registry")
            .json()
            .await
            .expect("json");
        let mut out: Vec<String> = list
            .iter()
            .filter_map(|i| i["address"].as_str().map(str::to_string))
            .collect();
        out.sort();
        out
    }

    async fn wait_instances(&self, want: usize, within: Duration, what: &str) -> Duration {
        let started = Instant::now();
        loop {
            let got = self.instances().await;
            if got.len() == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "{what}: {} instances registered, expected {want}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET path` through the gateway as the admin.
    async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as(path, &self.token).await
    }

    async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("http://127.0.0.1:{}{path}", self.gateway))
            .bearer_auth(token)
            .send()
            .await
            .expect("gateway answers")
    }

    /// `GET /admin/config` of the process on `port`, as the admin: the configuration it runs with.
    async fn admin_config(&self, port: u16) -> serde_json::Value {
        self.http
            .get(format!("http://127.0.0.1:{port}/admin/config"))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("admin config")
            .json()
            .await
            .expect("json")
    }

    /// `POST /oauth/token` through the gateway with a form.
    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
        let r = self
            .http
            .post(format!("http://127.0.0.1:{}/oauth/token", self.gateway))
            .form(form)
            .send()
            .await
            .expect("token endpoint");
        let status = r.status();
        (status, r.json().await.unwrap_or_default())
    }

    /// The first admin's sign-in through the gateway, within `within`. The gateway can route
    /// to the auth service once it has registered (with its own identity, which the registry
    /// checks against keys it fetches at most every few seconds): until then every try would
    /// count against the gateway's breaker for auth, so the registration is awaited first. The
    /// admin is created just after the auth service starts.
    async fn first_login(&self, password: &str, within: Duration) -> serde_json::Value {
        let started = Instant::now();
        while self.instances_of("auth").await.is_empty() {
            assert!(
                started.elapsed() < within,
                "the auth service never registered"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        loop {
            let (status, body) = self
                .token(&[
                    ("grant_type", "password"),
                    ("username", "admin"),
                    ("password", password),
                ])
                .await;
            if status == StatusCode::OK {
                return body;
            }
            assert!(
                started.elapsed() < within,
                "the first admin never signed in: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn login(&self, user: &str, password: &str) -> serde_json::Value {
        let (status, body) = self
            .token(&[
                ("grant_type", "password"),
                ("username", user),
                ("password", password),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// `git` in `dir`, as a user would run it.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=ops", "-c", "user.email=ops@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The config server serving a real Git repository (issue 23): a commit changing a refreshable
/// key reaches a running service, which names the commit it runs with; a changed key that is not
/// refreshable is reported as needing a restart; a commit that does not parse is refused and the
/// last good one stays served; moving the label back rolls the value back.
async fn git_backed_configuration(http: &reqwest::Client, ws: &Path, shop: &Shop, auth_port: u16) {
    let repo = std::env::temp_dir().join(format!("msa-config-repo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&repo).expect("repo dir");
    git(&repo, &["init", "-q", "-b", "main"]);
    let commit = |text: &str, message: &str| {
        std::fs::write(repo.join("orders.toml"), text).expect("write");
        git(
            &repo,
            &["commit", "-q", "-a", "--allow-empty", "-m", message],
        );
        git(&repo, &["rev-parse", "HEAD"])
    };
    std::fs::write(repo.join("orders.toml"), "").expect("write");
    git(&repo, &["add", "orders.toml"]);
    let first = commit(
        "refreshable = [\"greeting\"]\ngreeting = \"hello\"\nbatch-size = 10\n",
        "orders: hello",
    );
    let config_port = free_port();
    let mut config_server = spawn_with(
        ws,
        "config-server",
        config_port,
        "",
        NO_BROKER,
        &[
            ("APP_GIT_REPO", repo.display().to_string()),
            ("APP_GIT_REFRESH_MS", "300".into()),
            ("APP_AUTH_URL", format!("http://127.0.0.1:{auth_port}")),
        ],
    );
    wait_ready(http, &mut config_server).await;
    // Every answer names the commit it comes from.
    let orders_identity = identity_token(shop, "orders").await;
    let read = http
        .get(format!(
            "http://127.0.0.1:{config_port}/config/orders/default"
        ))
        .bearer_auth(&orders_identity)
        .send()
        .await
        .expect("config server");
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(
        read.headers()
            .get("x-config-revision")
            .and_then(|v| v.to_str().ok()),
        Some(first.as_str())
    );
    let port = free_port();
    let mut orders = spawn_with(
        ws,
        "orders",
        port,
        &shop.db,
        NO_BROKER,
        &[
            ("CONFIG_URL", format!("http://127.0.0.1:{config_port}")),
            ("APP_CONFIG_REFRESH_MS", "200".into()),
            ("APP_AUTH_URL", format!("http://127.0.0.1:{auth_port}")),
            ("APP_JWKS_MAX_AGE_MS", JWKS_MAX_AGE_MS.to_string()),
        ],
    );
    wait_ready(http, &mut orders).await;
    let admin_config = || shop.admin_config(port);
    let state = admin_config().await;
    assert_eq!(state["values"]["greeting"], "hello", "{state}");
    assert_eq!(
        state["revision"],
        first.as_str(),
        "the revision it runs with"
    );
    let wait_for = |want: &'static str, revision: String, what: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let state = admin_config().await;
            if state["values"]["greeting"] == want && state["revision"] == revision.as_str() {
                return state;
            }
            assert!(Instant::now() < deadline, "{what}: {state}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    // A commit reaches the running service: the refreshable key at once, the other reported.
    let second = commit(
        "refreshable = [\"greeting\"]\ngreeting = \"bonjour\"\nbatch-size = 50\n",
        "orders: bonjour, bigger batches",
    );
    let state = wait_for("bonjour", second.clone(), "the commit never reached orders").await;
    assert_eq!(
        state["restart_needed"],
        serde_json::json!(["batch_size"]),
        "{state}"
    );
    let metrics = processes::metrics(http, port).await;
    assert!(
        metrics.contains(&format!("config_revision{{revision=\"{second}\"}} 1")),
        "the revision as a metric:\n{metrics}"
    );

    // A commit that does not parse is refused; the last good one stays served.
    commit("greeting = \n", "orders: broken");
    // The refresh hook needs a service identity (or an admin).
    let hook = |token: Option<&str>| {
        let mut r = http.post(format!("http://127.0.0.1:{config_port}/config/refresh"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.expect("refresh hook") }
    };
    assert_eq!(hook(None).await.status(), StatusCode::UNAUTHORIZED);
    let refreshed = hook(Some(&orders_identity)).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: serde_json::Value = refreshed.json().await.expect("json");
    assert_eq!(
        refreshed["revisions"]["main"],
        second.as_str(),
        "{refreshed}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let state = admin_config().await;
    assert_eq!(state["values"]["greeting"], "bonjour", "{state}");
    assert_eq!(state["revision"], second.as_str(), "{state}");
    let served = processes::metrics(http, config_port).await;
    assert!(
        served.contains("config_rejected_revisions_total 1"),
        "the refused revision is counted:\n{served}"
    );
    assert!(
        served.contains(&format!(
            "config_server_revision{{label=\"main\",revision=\"{second}\"}} 1"
        )),
        "{served}"
    );

    // Rolling back is moving the label: main back to the first commit.
    git(&repo, &["reset", "-q", "--hard", &first]);
    let state = wait_for("hello", first.clone(), "the rollback never reached orders").await;
    assert_eq!(state["restart_needed"], serde_json::json!([]), "{state}");
    orders.kill();
    config_server.kill();
    let _ = std::fs::remove_dir_all(&repo);
}

/// The service identity token of process `name` (its test secret), through the gateway.
async fn identity_token(shop: &Shop, name: &str) -> String {
    let secret = processes::test_secret(name);
    let (status, body) = shop
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", name),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "identity of {name}: {body}");
    body["access_token"].as_str().expect("token").to_string()
}

async fn requests_served(http: &reqwest::Client, port: u16) -> u64 {
    let text = processes::metrics(http, port).await;
    text.lines()
        .filter(|l| l.starts_with("http_requests_total{") && l.contains("route=\"/orders/{id}\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_and_registry_keep_requests_flowing() {
    let ws = msa_gen_tests::shop(
        "nats",
        &["registry", "gateway", "auth", "config-server", "orders"],
    );
    let pg = infra::postgres(&["orders".into(), "auth".into()])
        .await
        .expect("postgres");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let mut shop = Shop {
        http: http.clone(),
        registry: free_port(),
        gateway: free_port(),
        db: format!("{}/orders", pg.url),
        token: String::new(),
        auth: free_port(),
    };
    let auth_port = shop.auth;
    let heartbeat = ("APP_HEARTBEAT_MS", HEARTBEAT_MS.to_string());
    // Registry writes need a service identity, checked against the auth service's keys.
    let mut registry = spawn_with(
        &ws,
        "registry",
        shop.registry,
        "",
        NO_BROKER,
        &[
            heartbeat.clone(),
            ("APP_AUTH_URL", format!("http://127.0.0.1:{auth_port}")),
        ],
    );
    wait_ready(&http, &mut registry).await;
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = shop.orders(&ws, port_a);
    let mut b = shop.orders(&ws, port_b);
    let mut auth = spawn_with(
        &ws,
        "auth",
        auth_port,
        &format!("{}/auth", pg.url),
        NO_BROKER,
        &[
            (
                "REGISTRY_URL",
                format!("http://127.0.0.1:{}", shop.registry),
            ),
            ("APP_HEARTBEAT_MS", HEARTBEAT_MS.to_string()),
            ("APP_ADMIN_PASSWORD", "admin-secret-1".into()),
        ],
    );
    let gateway_management = free_port();
    let mut gateway = spawn_with(
        &ws,
        "gateway",
        shop.gateway,
        "",
        NO_BROKER,
        &[
            (
                "REGISTRY_URL",
                format!("http://127.0.0.1:{}", shop.registry),
            ),
            heartbeat,
            ("APP_MANAGEMENT_PORT", gateway_management.to_string()),
            ("APP_JWKS_MAX_AGE_MS", JWKS_MAX_AGE_MS.to_string()),
            ("APP_AUTH_URL", format!("http://127.0.0.1:{auth_port}")),
            ("APP_RATE_LIMIT_PER_SECOND", "20".into()),
            ("APP_RATE_LIMIT_BURST", "40".into()),
            ("APP_BREAKER_MIN_CALLS", "5".into()),
            ("APP_BREAKER_WINDOW", "10".into()),
            ("APP_BREAKER_OPEN_MS", "2000".into()),
        ],
    );
    wait_ready(&http, &mut a).await;
    wait_ready(&http, &mut b).await;
    wait_ready(&http, &mut gateway).await;
    wait_ready(&http, &mut auth).await;
    // Registering needs a service token, so the auth service first provisions the identities
    // and the registry fetches its keys (again at most every 5 s): give it time on a busy machine.
    shop.wait_instances(2, Duration::from_secs(30), "both register")
        .await;

    // Log in through the gateway; refresh rotates; a replayed refresh token is refused.
    let login = shop
        .first_login("admin-secret-1", Duration::from_secs(30))
        .await;
    shop.token = login["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    let (status, _) = shop
        .token(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "wrong"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "wrong password");

    // Attack (issue 22): a NUL byte in a login made Postgres refuse the text (SQLSTATE 22021),
    // the auth service answered 500, and the gateway's breaker, which counted every 5xx, opened
    // for everyone after 5 such requests (this gateway's minimum). Each is a 400 now, and only
    // unavailability counts against a breaker: sign-in keeps working. The same through a
    // string filter of a service.
    for _ in 0..12 {
        let (status, body) = shop
            .token(&[
                ("grant_type", "password"),
                ("username", "\0admin"),
                ("password", "x"),
            ])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "NUL in a username: {body}");
        let r = http
            .get(format!(
                "http://127.0.0.1:{}/orders?reason=%00",
                shop.gateway
            ))
            .bearer_auth(&shop.token)
            .send()
            .await
            .expect("filter");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "NUL in a filter");
    }
    let (status, body) = shop
        .token(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin-secret-1"),
        ])
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "sign-in after the NUL requests: {body}"
    );
    // Attack: password guessing backs off per user name (429 with Retry-After after 5
    // failures), before any hash is computed; other users sign in meanwhile.
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = http
            .post(format!("http://127.0.0.1:{}/oauth/token", shop.gateway))
            .form(&[
                ("grant_type", "password"),
                ("username", "mallory"),
                ("password", "guess"),
            ])
            .send()
            .await
            .expect("guess");
        statuses.push((r.status(), r.headers().contains_key("retry-after")));
    }
    assert_eq!(
        statuses,
        [
            [(StatusCode::BAD_REQUEST, false); 5].as_slice(),
            &[(StatusCode::TOO_MANY_REQUESTS, true); 2]
        ]
        .concat(),
        "guessing backs off"
    );
    shop.login("admin", "admin-secret-1").await;
    let first_refresh = login["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (status, refreshed) = shop
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_ne!(
        refreshed["refresh_token"], login["refresh_token"],
        "rotated"
    );
    let (status, replay) = shop
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
        ])
        .await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let second_refresh = refreshed["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, _) = shop
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &second_refresh),
        ])
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the replay revoked the whole family"
    );

    // A customer, and a client with client credentials.
    let created = http
        .post(format!("http://127.0.0.1:{}/users", shop.gateway))
        .bearer_auth(&shop.token)
        .json(&json!({ "username": "carol", "password": "carol-secret", "roles": ["customer"] }))
        .send()
        .await
        .expect("create user");
    assert_eq!(created.status(), StatusCode::CREATED);
    let carol = shop.login("carol", "carol-secret").await["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    // Accounts (issue 22, finding 12): a user changes their own password (proving the old
    // one), which ends their refresh tokens; an admin disables and enables an account.
    let carol_login = shop.login("carol", "carol-secret").await;
    let change = |current: &str, new: &str| {
        let r = http
            .post(format!(
                "http://127.0.0.1:{}/users/me/password",
                shop.gateway
            ))
            .bearer_auth(&carol)
            .json(&json!({ "current_password": current, "new_password": new }));
        async move { r.send().await.expect("password change").status() }
    };
    assert_eq!(
        change("wrong-one", "carol-secret-2").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        change("carol-secret", "carol-secret-2").await,
        StatusCode::NO_CONTENT
    );
    let (status, _) = shop
        .token(&[
            ("grant_type", "password"),
            ("username", "carol"),
            ("password", "carol-secret"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the old password");
    let (status, _) = shop
        .token(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                carol_login["refresh_token"].as_str().unwrap_or_default(),
            ),
        ])
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a refresh token from before the change"
    );
    shop.login("carol", "carol-secret-2").await;
    let set_disabled = |disabled: bool| {
        let r = http
            .patch(format!("http://127.0.0.1:{}/users/carol", shop.gateway))
            .bearer_auth(&shop.token)
            .json(&json!({ "disabled": disabled }));
        async move { r.send().await.expect("update user").status() }
    };
    assert_eq!(set_disabled(true).await, StatusCode::NO_CONTENT);
    let (status, body) = shop
        .token(&[
            ("grant_type", "password"),
            ("username", "carol"),
            ("password", "carol-secret-2"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "disabled: {body}");
    let patched_by_carol = http
        .patch(format!("http://127.0.0.1:{}/users/carol", shop.gateway))
        .bearer_auth(&carol)
        .json(&json!({ "disabled": false }))
        .send()
        .await
        .expect("update user");
    assert_eq!(
        patched_by_carol.status(),
        StatusCode::FORBIDDEN,
        "admins only"
    );
    assert_eq!(set_disabled(false).await, StatusCode::NO_CONTENT);
    shop.login("carol", "carol-secret-2").await;

    // Attack: guessing across many user names from one address backs off per address (after
    // 20 failures), while a user at another address signs in. The auth service believes the
    // `X-Forwarded-For` of the proxies it trusts (loopback and private ranges by default).
    let from = |address: &'static str, user: String, password: &'static str| {
        let r = http
            .post(format!("http://127.0.0.1:{auth_port}/oauth/token"))
            .header("x-forwarded-for", address)
            .form(&[
                ("grant_type", "password"),
                ("username", user.as_str()),
                ("password", password),
            ]);
        async move { r.send().await.expect("token").status() }
    };
    for n in 0..20 {
        assert_eq!(
            from("198.51.100.7", format!("guess{n}"), "nope").await,
            StatusCode::BAD_REQUEST,
            "free failure {n}"
        );
    }
    assert_eq!(
        from("198.51.100.7", "guess-more".into(), "nope").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the address backs off"
    );
    assert_eq!(
        from("198.51.100.8", "admin".into(), "admin-secret-1").await,
        StatusCode::OK,
        "another address signs in"
    );
    let new_client =
        json!({ "client_id": "reports", "client_secret": "reports-secret", "roles": ["admin"] });
    let refused = http
        .post(format!("http://127.0.0.1:{}/clients", shop.gateway))
        .bearer_auth(&carol)
        .json(&new_client)
        .send()
        .await
        .expect("create client");
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "a customer cannot create clients"
    );
    let client = http
        .post(format!("http://127.0.0.1:{}/clients", shop.gateway))
        .bearer_auth(&shop.token)
        .json(&new_client)
        .send()
        .await
        .expect("create client");
    assert_eq!(client.status(), StatusCode::CREATED);
    let (status, service_token) = shop
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "reports"),
            ("client_secret", "reports-secret"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{service_token}");
    assert!(service_token.get("refresh_token").is_none());

    // 401 without a valid token, 403 without the route's role.
    let anonymous = http
        .get(format!("http://127.0.0.1:{}/orders", shop.gateway))
        .send()
        .await
        .expect("no token");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let jwks: serde_json::Value = http
        .get(format!(
            "http://127.0.0.1:{}/.well-known/jwks.json",
            shop.gateway
        ))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let kid = jwks["keys"][0]["kid"].as_str().expect("kid").to_string();
    let forged = runtime::security::jwt::Signer::from_seed(&kid, &[42u8; 32]).sign(
        &runtime::security::jwt::Claims {
            sub: "mallory".into(),
            iss: "shop-auth".into(),
            aud: "shop".into(),
            exp: runtime::security::jwt::now_secs() + 600,
            iat: runtime::security::jwt::now_secs(),
            nbf: None,
            jti: "x".into(),
            roles: vec!["admin".into()],
            name: None,
            svc: None,
        },
    );
    let claims_part = shop.token.split('.').nth(1).expect("claims").to_string();
    let none = format!("eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.{claims_part}.");
    for (what, token) in [
        ("forged signature", forged.as_str()),
        ("alg none", none.as_str()),
        ("garbage", "not-a-jwt"),
    ] {
        assert_eq!(
            shop.get_as("/orders", token).await.status(),
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
    }
    assert_eq!(
        shop.get_as("/payments", &carol).await.status(),
        StatusCode::FORBIDDEN,
        "customers cannot read payments"
    );
    // The gateway's API document merges the running services' documents.
    let doc: serde_json::Value = http
        .get(format!("http://127.0.0.1:{}/openapi.json", shop.gateway))
        .send()
        .await
        .expect("merged docs")
        .json()
        .await
        .expect("json");
    assert!(doc["paths"]["/orders/{id}"].is_object(), "{doc}");
    assert!(doc["components"]["schemas"]["Order"].is_object());
    assert!(
        doc["x-unavailable"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("customers"))),
        "services that are not running are listed: {}",
        doc["x-unavailable"]
    );

    // Defence in depth: the service itself refuses a call that bypasses the gateway.
    let direct = http
        .get(format!("http://127.0.0.1:{port_a}/orders"))
        .send()
        .await
        .expect("direct call");
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);
    let direct = http
        .get(format!("http://127.0.0.1:{port_a}/orders"))
        .bearer_auth(&carol)
        .send()
        .await
        .expect("direct call");
    let status = direct.status();
    let detail = direct.text().await.unwrap_or_default();
    assert_eq!(
        status,
        StatusCode::OK,
        "customers may read orders: {detail}"
    );
    let service = service_token["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        shop.get_as("/orders", service).await.status(),
        StatusCode::OK
    );

    // Through the gateway to both instances.
    let created = http
        .post(format!("http://127.0.0.1:{}/orders", shop.gateway))
        .bearer_auth(&carol)
        .json(&json!({ "customer_id": uuid::Uuid::new_v4(), "total": "9.90", "status": "pending" }))
        .send()
        .await
        .expect("POST through the gateway");
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(created.headers().contains_key("x-trace-id"));
    let id = created.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/orders/{id}");
    // The gateway's registry watch may lag the registry by one round trip.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..8 {
        assert_eq!(shop.get(&path).await.status(), StatusCode::OK);
    }
    let (on_a, on_b) = (
        requests_served(&http, port_a).await,
        requests_served(&http, port_b).await,
    );
    assert!(
        on_a >= 2 && on_b >= 2,
        "round robin: {on_a} on a, {on_b} on b"
    );
    assert_eq!(shop.get("/nowhere").await.status(), StatusCode::NOT_FOUND);

    // SIGKILL one instance: every request still succeeds; the registry evicts it in time.
    drop(a);
    let killed = Instant::now();
    for n in 0..10 {
        let r = shop.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK, "request {n} after the kill");
    }
    shop.wait_instances(1, Duration::from_secs(10), "eviction")
        .await;
    let evicted_after = killed.elapsed();
    // 3 heartbeats, plus the registry's eviction tick (half a heartbeat) and polling slack.
    assert!(
        evicted_after <= Duration::from_millis(HEARTBEAT_MS * 3 + HEARTBEAT_MS / 2 + 1000),
        "evicted after {evicted_after:?}"
    );

    // All down: failures open the breaker, then the fallback answers at once.
    drop(b);
    for _ in 0..6 {
        let r = shop.get(&path).await;
        assert!(r.status().is_server_error(), "{}", r.status());
    }
    let started = Instant::now();
    let r = shop.get(&path).await;
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    let body = r.text().await.expect("body");
    assert!(body.contains("circuit open"), "{body}");
    assert!(took < Duration::from_millis(500), "fallback took {took:?}");

    // The service is back: after the open period, probes close the breaker.
    let mut b = shop.orders(&ws, port_b);
    wait_ready(&http, &mut b).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if shop.get(&path).await.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "breaker did not close");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..4 {
        assert_eq!(shop.get(&path).await.status(), StatusCode::OK);
    }
    // Attack (issue 22, finding 9): the gateway's metrics are on its internal listener only.
    let public_metrics = http
        .get(format!("http://127.0.0.1:{}/metrics", shop.gateway))
        .send()
        .await
        .expect("gateway");
    assert_eq!(
        public_metrics.status(),
        StatusCode::NOT_FOUND,
        "metrics on the public port"
    );
    let metrics = processes::metrics(&http, gateway_management).await;
    assert!(
        metrics.contains("gateway_breaker_state{service=\"orders\"} 0"),
        "{metrics}"
    );

    // One client's burst over its limit: 429 with Retry-After; another client is unaffected.
    let burst: Vec<_> = (0..80)
        .map(|_| {
            let (http, url, token) = (
                http.clone(),
                format!("http://127.0.0.1:{}{path}", shop.gateway),
                carol.clone(),
            );
            tokio::spawn(async move { http.get(url).bearer_auth(token).send().await })
        })
        .collect();
    let mut limited = 0;
    for r in burst {
        let r = r.await.expect("task").expect("answer");
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("retry-after"));
            limited += 1;
        }
    }
    assert!(
        limited > 0,
        "80 requests at once over a burst of 40 are partly refused"
    );
    assert_eq!(shop.get(&path).await.status(), StatusCode::OK);

    // Attack (issue 22, finding 5): a client choosing its own identity. Anonymous requests are
    // limited per address; a spoofed `X-Forwarded-For` (a new one on every request) is not
    // believed from a caller that is no trusted proxy, so the burst still hits one bucket.
    let spoofed: Vec<_> = (0..80)
        .map(|n| {
            let (http, url) = (
                http.clone(),
                format!("http://127.0.0.1:{}/.well-known/jwks.json", shop.gateway),
            );
            tokio::spawn(async move {
                http.get(url)
                    .header("x-forwarded-for", format!("203.0.113.{n}"))
                    .send()
                    .await
            })
        })
        .collect();
    let mut limited = 0;
    for r in spoofed {
        if r.await.expect("task").expect("answer").status() == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited > 0, "spoofed addresses got buckets of their own");

    // Attack (finding 8): oversized and slow bodies on the public `/oauth` route. Anonymous
    // bodies over 256 KiB are refused with 413; a body that trickles is cut off with 408
    // after 10 s, so slow uploads cannot hold the gateway's memory.
    tokio::time::sleep(Duration::from_secs(3)).await; // the bucket refills
    let oversized = http
        .post(format!("http://127.0.0.1:{}/oauth/token", shop.gateway))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 300 * 1024])
        .send()
        .await
        .expect("oversized");
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", shop.gateway))
            .await
            .expect("connect");
        slow.write_all(
            b"POST /oauth/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 1000\r\n\r\ngrant_type=",
        )
        .await
        .expect("head");
        let started = Instant::now();
        let mut answer = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(20), slow.read(&mut answer))
            .await
            .expect("an answer within 20 s")
            .expect("read");
        let head = String::from_utf8_lossy(&answer[..n]).to_string();
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
        assert!(
            started.elapsed() >= Duration::from_secs(9),
            "{:?}",
            started.elapsed()
        );
    }

    // Attack (issue 22): anyone could register an instance of `auth` and get a share of its
    // traffic, passwords included. Registry writes now need the service's own identity.
    let rogue = json!({ "service": "auth", "id": "rogue", "address": "127.0.0.1:1" });
    let register = |token: Option<String>| {
        let mut r = http
            .post(format!(
                "http://127.0.0.1:{}/registry/instances",
                shop.registry
            ))
            .json(&rogue);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.expect("registry").status() }
    };
    assert_eq!(register(None).await, StatusCode::UNAUTHORIZED);
    let orders_identity = identity_token(&shop, "orders").await;
    assert_eq!(
        register(Some(orders_identity.clone())).await,
        StatusCode::FORBIDDEN,
        "orders registers an instance of auth"
    );
    let heartbeat_other = http
        .delete(format!(
            "http://127.0.0.1:{}/registry/instances/auth/anything",
            shop.registry
        ))
        .bearer_auth(&orders_identity)
        .send()
        .await
        .expect("registry");
    assert_eq!(heartbeat_other.status(), StatusCode::FORBIDDEN);
    let auths: Vec<serde_json::Value> = http
        .get(format!(
            "http://127.0.0.1:{}/registry/services/auth",
            shop.registry
        ))
        .send()
        .await
        .expect("registry")
        .json()
        .await
        .expect("json");
    assert!(
        auths.iter().all(|i| i["id"] != "rogue") && !auths.is_empty(),
        "auth registered itself, and only itself: {auths:?}"
    );
    // An undeclared service-to-service call is 403: the config server's identity calling
    // orders, whose declared callers are the gateway and the BFFs. The gateway's identity gets
    // in, without any user role.
    let config_identity = identity_token(&shop, "config-server").await;
    let direct = |token: String| {
        let r = http
            .get(format!("http://127.0.0.1:{port_b}/orders"))
            .bearer_auth(token);
        async move { r.send().await.expect("orders").status() }
    };
    assert_eq!(direct(config_identity).await, StatusCode::FORBIDDEN);
    assert_eq!(
        direct(identity_token(&shop, "gateway").await).await,
        StatusCode::OK
    );

    // SIGTERM: deregistered at once, not after 3 missed heartbeats.
    shop.wait_instances(1, Duration::from_secs(5), "b registered again")
        .await;
    b.signal("-TERM").expect("SIGTERM");
    let gone = shop
        .wait_instances(0, Duration::from_secs(5), "graceful deregistration")
        .await;
    assert!(
        gone < Duration::from_millis(HEARTBEAT_MS * 3),
        "deregistered after {gone:?}"
    );

    // The config server: a refreshable value changed in its files reaches a running service.
    let served = std::env::temp_dir().join(format!("msa-served-config-{}", std::process::id()));
    std::fs::create_dir_all(&served).expect("config dir");
    let file = served.join("orders.toml");
    std::fs::write(
        &file,
        "refreshable = [\"greeting\"]\ngreeting = \"hello\"\n",
    )
    .expect("write");
    let config_port = free_port();
    let mut config_server = spawn_with(
        &ws,
        "config-server",
        config_port,
        "",
        NO_BROKER,
        &[
            ("APP_SERVE_DIR", served.display().to_string()),
            ("APP_AUTH_URL", format!("http://127.0.0.1:{auth_port}")),
        ],
    );
    wait_ready(&http, &mut config_server).await;
    std::fs::write(
        served.join("gateway.toml"),
        "secret-ish = \"gateway only\"\n",
    )
    .expect("write");
    // Attack (issue 22): the config server served every file to anyone. Now a process reads
    // only its own configuration: none without a token, another's is 403.
    let orders_identity = identity_token(&shop, "orders").await;
    let read_config = |service: &'static str, token: Option<String>| {
        let mut r = http.get(format!(
            "http://127.0.0.1:{config_port}/config/{service}/default"
        ));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.expect("config server").status() }
    };
    assert_eq!(read_config("orders", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        read_config("gateway", Some(orders_identity.clone())).await,
        StatusCode::FORBIDDEN,
        "orders reads the gateway's configuration"
    );
    assert_eq!(
        read_config("orders", Some(orders_identity.clone())).await,
        StatusCode::OK
    );
    let port_c = free_port();
    let mut c = spawn_with(
        &ws,
        "orders",
        port_c,
        &shop.db,
        NO_BROKER,
        &[
            ("CONFIG_URL", format!("http://127.0.0.1:{config_port}")),
            ("APP_CONFIG_REFRESH_MS", "200".into()),
            ("APP_AUTH_URL", format!("http://127.0.0.1:{auth_port}")),
            ("APP_JWKS_MAX_AGE_MS", JWKS_MAX_AGE_MS.to_string()),
            // The registry's interval: at the default (2 s) the registry, which expects a
            // heartbeat every 500 ms, evicted it between two, and the gateway found no
            // instance of orders now and then.
            ("APP_HEARTBEAT_MS", HEARTBEAT_MS.to_string()),
            // Registered, as the only instance left for the gateway below.
            (
                "REGISTRY_URL",
                format!("http://127.0.0.1:{}", shop.registry),
            ),
        ],
    );
    wait_ready(&http, &mut c).await;
    let greeting = || async {
        shop.admin_config(port_c).await["values"]["greeting"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(greeting().await, "hello");
    std::fs::write(
        &file,
        "refreshable = [\"greeting\"]\ngreeting = \"bonjour\"\n",
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while greeting().await != "bonjour" {
        assert!(Instant::now() < deadline, "the new value was not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    git_backed_configuration(&http, &ws, &shop, auth_port).await;

    // Routes change without a restart: a gateway following the config server sees a route
    // configured there (here: `/orders` reading only for a role nobody has).
    let gateway_file = served.join("gateway.toml");
    std::fs::write(&gateway_file, "refreshable = [\"routes\"]\n").expect("write");
    let live_port = free_port();
    let live_management = free_port();
    let mut live = spawn_with(
        &ws,
        "gateway",
        live_port,
        "",
        NO_BROKER,
        &[
            ("APP_MANAGEMENT_PORT", live_management.to_string()),
            ("CONFIG_URL", format!("http://127.0.0.1:{config_port}")),
            ("APP_CONFIG_REFRESH_MS", "200".into()),
            (
                "REGISTRY_URL",
                format!("http://127.0.0.1:{}", shop.registry),
            ),
            ("APP_AUTH_URL", format!("http://127.0.0.1:{auth_port}")),
        ],
    );
    wait_ready(&http, &mut live).await;
    let live_get = || async {
        http.get(format!("http://127.0.0.1:{live_port}/orders"))
            .bearer_auth(&shop.token)
            .send()
            .await
            .expect("live gateway")
            .status()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = live_get().await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the live gateway never routed /orders: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(
        &gateway_file,
        "refreshable = [\"routes\"]\n[[routes]]\nprefix = \"/orders\"\nservice = \"orders\"\nread = [\"auditor\"]\n",
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_get().await != StatusCode::FORBIDDEN {
        assert!(
            Instant::now() < deadline,
            "the configured route was not applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Attack (issue 22): the gateway's own `/admin/config` answered anyone on its public port.
    // It is on the internal listener only now, and needs the admin role there too.
    let public_admin = http
        .get(format!("http://127.0.0.1:{live_port}/admin/config"))
        .bearer_auth(&shop.token)
        .send()
        .await
        .expect("admin config");
    assert_eq!(
        public_admin.status(),
        StatusCode::NOT_FOUND,
        "admin on the public port"
    );
    let admin_config = |token: Option<String>| {
        let mut r = http.get(format!("http://127.0.0.1:{live_management}/admin/config"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.expect("admin config").status() }
    };
    assert_eq!(admin_config(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(admin_config(Some(shop.token.clone())).await, StatusCode::OK);

    // Attack (issue 22, finding 2): a token signed with a rotated-out key stayed trusted until
    // every process restarted. Revoked at the auth service, the key leaves the JWKS, and the
    // gateway and the service refuse its tokens within their keys' maximum age.
    let leaked = shop.token.clone();
    let before = shop.get("/orders").await;
    let status = before.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "{} {:?}",
        before.text().await.unwrap_or_default(),
        shop.instances().await
    );
    let rotated = http
        .post(format!(
            "http://127.0.0.1:{auth_port}/admin/keys/rotate?revoke=true"
        ))
        .bearer_auth(&leaked)
        .send()
        .await
        .expect("rotate");
    assert_eq!(rotated.status(), StatusCode::OK);
    let revoked_at = Instant::now();
    let direct = |token: String| {
        let r = http
            .get(format!("http://127.0.0.1:{port_c}/orders"))
            .bearer_auth(token);
        async move { r.send().await.expect("orders").status() }
    };
    loop {
        let through = shop.get_as("/orders", &leaked).await.status();
        let at_service = direct(leaked.clone()).await;
        if through == StatusCode::UNAUTHORIZED && at_service == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_millis(JWKS_MAX_AGE_MS * 6),
            "a revoked key's token still accepted: gateway {through}, orders {at_service}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fresh = shop.login("admin", "admin-secret-1").await["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    // The new key is trusted as soon as each verifier fetches the keys again (an unknown key
    // id triggers that, at most every max age).
    let accepted_at = Instant::now();
    loop {
        let through = shop.get_as("/orders", &fresh).await.status();
        let at_service = direct(fresh.clone()).await;
        if through == StatusCode::OK && at_service == StatusCode::OK {
            break;
        }
        assert!(
            accepted_at.elapsed() < Duration::from_secs(5),
            "a token of the new key refused: gateway {through}, orders {at_service}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `sessions = "redis"` (set by environment on the same binaries): users get opaque session
/// tokens; the gateway swaps them for the JWT in Redis; a revoked session is refused at once,
/// and a replayed refresh token ends every session of its user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sessions_are_revoked_at_once() {
    let ws = msa_gen_tests::shop(
        "nats",
        &["registry", "gateway", "auth", "orders", "web-bff"],
    );
    let pg = infra::postgres(&["orders".into(), "auth".into()])
        .await
        .expect("postgres");
    let redis = infra::redis().await.expect("redis");
    let db = |name: &str| format!("{}/{name}", pg.url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let shop = Shop {
        http: http.clone(),
        registry: free_port(),
        gateway: free_port(),
        db: db("orders"),
        token: String::new(),
        auth: free_port(),
    };
    let registry_url = (
        "REGISTRY_URL",
        format!("http://127.0.0.1:{}", shop.registry),
    );
    let sessions = [
        ("APP_SESSIONS", "redis".to_string()),
        ("APP_REDIS_URL", redis.url.clone()),
    ];
    let mut registry = spawn_with(
        &ws,
        "registry",
        shop.registry,
        "",
        NO_BROKER,
        &[("APP_AUTH_URL", format!("http://127.0.0.1:{}", shop.auth))],
    );
    wait_ready(&http, &mut registry).await;
    let orders_port = free_port();
    let mut orders = shop.orders(&ws, orders_port);
    let mut auth = spawn_with(
        &ws,
        "auth",
        shop.auth,
        &db("auth"),
        NO_BROKER,
        &[
            registry_url.clone(),
            ("APP_ADMIN_PASSWORD", "admin-secret-2".into()),
            sessions[0].clone(),
            sessions[1].clone(),
        ],
    );
    let web_port = free_port();
    let mut web = spawn_with(
        &ws,
        "web-bff",
        web_port,
        "",
        NO_BROKER,
        &[
            registry_url.clone(),
            ("APP_AUTH_URL", format!("http://127.0.0.1:{}", shop.auth)),
            sessions[0].clone(),
            sessions[1].clone(),
        ],
    );
    let mut gateway = spawn_with(
        &ws,
        "gateway",
        shop.gateway,
        "",
        NO_BROKER,
        &[
            registry_url,
            ("APP_AUTH_URL", format!("http://127.0.0.1:{}", shop.auth)),
            sessions[0].clone(),
            sessions[1].clone(),
        ],
    );
    wait_ready(&http, &mut web).await;
    wait_ready(&http, &mut orders).await;
    wait_ready(&http, &mut auth).await;
    wait_ready(&http, &mut gateway).await;
    shop.wait_instances(1, Duration::from_secs(10), "orders registers")
        .await;

    let login = async || {
        shop.first_login("admin-secret-2", Duration::from_secs(30))
            .await
    };
    let first = login().await;
    let session = first["access_token"].as_str().expect("token").to_string();
    assert!(
        !session.contains('.'),
        "a session token is opaque, not a JWT: {session}"
    );
    let through_gateway = shop.get_as("/orders", &session).await;
    assert_eq!(
        through_gateway.status(),
        StatusCode::OK,
        "the gateway forwards the JWT behind the session"
    );
    let direct = http
        .get(format!("http://127.0.0.1:{orders_port}/orders"))
        .bearer_auth(&session)
        .send()
        .await
        .expect("orders answers");
    assert_eq!(
        direct.status(),
        StatusCode::UNAUTHORIZED,
        "services accept JWTs only: the session token alone is no credential"
    );

    // The web shell with redis sessions (issue 22): its cookie holds the session token, which
    // the BFF swaps for the JWT behind it, so the orders fragment loads (it answered "orders is
    // unavailable" for every signed-in user). And its pass-through swaps it the same way.
    let fragment = http
        .get(format!("http://127.0.0.1:{web_port}/fragments/orders"))
        .header("cookie", format!("msa_token={session}"))
        .send()
        .await
        .expect("fragment");
    assert_eq!(fragment.status(), StatusCode::OK);
    let html = fragment.text().await.expect("html");
    assert!(
        (html.contains("<table") || html.contains("Nothing yet")) && !html.contains("unavailable"),
        "the orders fragment with a session cookie: {html}"
    );
    let passed = http
        .get(format!("http://127.0.0.1:{web_port}/orders"))
        .bearer_auth(&session)
        .send()
        .await
        .expect("pass-through");
    assert_eq!(
        passed.status(),
        StatusCode::OK,
        "the BFF's pass-through with a session token"
    );

    // Revocation: refused on the very next request.
    let revoked = http
        .post(format!("http://127.0.0.1:{}/oauth/revoke", shop.gateway))
        .form(&[("token", session.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);
    let after = shop.get_as("/orders", &session).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let problem: serde_json::Value = after.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("session")),
        "{problem}"
    );

    // A replayed refresh token ends every session of the user, the new one included.
    let refresh = first["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (status, second) = shop
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_session = second["access_token"].as_str().expect("token").to_string();
    let other = login().await["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    for s in [&second_session, &other] {
        assert_eq!(shop.get_as("/orders", s).await.status(), StatusCode::OK);
    }
    let (status, _) = shop
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "replay refused");
    for s in [&second_session, &other] {
        assert_eq!(
            shop.get_as("/orders", s).await.status(),
            StatusCode::UNAUTHORIZED,
            "the replay ended every session of the user"
        );
    }
}
