//! End to end, with real parts only: Postgres in a container (testcontainers), the generated
//! `notes` service of `blueprints/minimal.toml` built and started as its own process, and real
//! HTTP. Every CRUD operation is exercised, with paging, filters, 404, 409, 422, the OpenAPI
//! document, health, metrics, readiness when the database goes away, and graceful shutdown.
//!
//! The Postgres image comes from `MSA_IMAGE_POSTGRES` (default: the official `postgres:16-alpine`;
//! `tests/images/provision.sh` builds a local one offline).

use std::time::{Duration, Instant};

use e2e_kit::infra;
use e2e_kit::process::{Instance, Launch};
use msa_gen_tests::processes::wait_ready;
use msa_gen_tests::{cargo, dangling_refs, free_port, generated, target_dir};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn problem_field(body: &Value) -> &str {
    body["errors"][0]["field"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_service_does_crud_against_real_postgres() {
    let ws = generated("minimal");
    cargo(&ws, &["build", "-p", "minimal-notes"]);
    let binary = target_dir().join("debug").join("notes");

    let pg = infra::postgres(&["notes".into()]).await.expect("postgres");

    let port = free_port();
    let env = [
        ("DATABASE_URL", format!("{}/notes", pg.url)),
        ("APP_PORT", port.to_string()),
        ("APP_HOST", "127.0.0.1".into()),
        ("APP_DATABASE_WAIT_SECS", "5".into()),
    ];
    let mut service = Instance::start(Launch {
        binary,
        args: Vec::new(),
        workspace: ws.clone(),
        label: "notes".into(),
        port,
        env: env.map(|(k, v)| (k.to_string(), v)).to_vec(),
        log: None,
    })
    .expect("start the notes binary");
    let base = service.url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    wait_ready(&http, &mut service).await;

    // Empty list.
    let r = http
        .get(format!("{base}/notes"))
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.expect("json");
    assert_eq!(
        (page["total"].clone(), page["items"].clone()),
        (json!(0), json!([]))
    );

    // Create with every field type.
    let author = "6a2f41a3-c54c-4f1a-8a7e-1f2b3c4d5e6f";
    let note = json!({
        "title": "First", "body": "long text", "pinned": true, "priority": 3, "views": 9_000_000_000_i64,
        "score": 1.5, "price": "12.25", "author_id": author, "due": "2026-12-24",
        "remind_at": "2026-12-24T08:00:00Z", "extra": {"k": [1, 2]}, "status": "draft",
        "tags": ["a", "b"], "labels": ["red"], "attachments": [{"name": "x"}], "type": "memo"
    });
    let r = http
        .post(format!("{base}/notes"))
        .json(&note)
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let created: Value = r.json().await.expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(location, format!("/notes/{id}"));
    assert_eq!(created["version"], 1);
    for (k, v) in note.as_object().expect("object") {
        let got = &created[k];
        if k == "remind_at" {
            assert!(
                got.as_str()
                    .is_some_and(|s| s.starts_with("2026-12-24T08:00:00")),
                "{k}: {got}"
            );
        } else {
            assert_eq!(got, v, "field {k} round-trips");
        }
    }

    // 422: wrong type, missing field, bad enum, too long; 400: not JSON.
    let cases = [
        (
            json!({"title": "x", "pinned": true, "priority": "high", "author_id": author, "status": "draft", "tags": []}),
            "priority",
        ),
        (
            json!({"pinned": true, "priority": 1, "author_id": author, "status": "draft", "tags": []}),
            "title",
        ),
        (
            json!({"title": "x", "pinned": true, "priority": 1, "author_id": author, "status": "lost", "tags": []}),
            "status",
        ),
        (
            json!({"title": "x".repeat(256), "pinned": true, "priority": 1, "author_id": author, "status": "draft", "tags": []}),
            "title",
        ),
    ];
    for (body, field) in cases {
        let r = http
            .post(format!("{base}/notes"))
            .json(&body)
            .send()
            .await
            .expect("invalid create");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().await.expect("problem");
        assert_eq!(problem_field(&p), field, "{p}");
    }
    let r = http
        .post(format!("{base}/notes"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("bad json");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Get, 404, bad id.
    let r = http
        .get(format!("{base}/notes/{id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json"), created);
    let r = http
        .get(format!("{base}/notes/00000000-0000-4000-8000-000000000000"))
        .send()
        .await
        .expect("get missing");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.expect("problem")["status"], 404);
    assert_eq!(
        http.get(format!("{base}/notes/not-a-uuid"))
            .send()
            .await
            .expect("bad id")
            .status(),
        StatusCode::BAD_REQUEST
    );

    // Paging and filters.
    let mut second = note.clone();
    second["title"] = json!("Second");
    second["status"] = json!("published");
    assert_eq!(
        http.post(format!("{base}/notes"))
            .json(&second)
            .send()
            .await
            .expect("create 2")
            .status(),
        StatusCode::CREATED
    );
    let list = |q: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.get(format!("{base}/notes?{q}"))
                .send()
                .await
                .expect("list")
        }
    };
    let p: Value = list("status=draft").await.json().await.expect("json");
    assert_eq!(
        (p["total"].clone(), p["items"][0]["title"].clone()),
        (json!(1), json!("First"))
    );
    let p: Value = list("status=archived").await.json().await.expect("json");
    assert_eq!(p["total"], 0);
    let p: Value = list("author_id=6a2f41a3-c54c-4f1a-8a7e-1f2b3c4d5e6f&pinned=true")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["total"], 2);
    let p: Value = list("size=1&page=1").await.json().await.expect("json");
    assert_eq!(
        (
            p["total"].clone(),
            p["size"].clone(),
            p["items"][0]["title"].clone()
        ),
        (json!(2), json!(1), json!("Second"))
    );
    let r = list("status=lost").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Update with optimistic locking: 200, then 409 on a stale version, 404, 422.
    let mut update = note.clone();
    update["title"] = json!("First, edited");
    update["version"] = json!(1);
    let r = http
        .put(format!("{base}/notes/{id}"))
        .json(&update)
        .send()
        .await
        .expect("update");
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.expect("json");
    assert_eq!(
        (updated["version"].clone(), updated["title"].clone()),
        (json!(2), json!("First, edited"))
    );
    let r = http
        .put(format!("{base}/notes/{id}"))
        .json(&update)
        .send()
        .await
        .expect("stale update");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = http
        .put(format!("{base}/notes/00000000-0000-4000-8000-000000000000"))
        .json(&update)
        .send()
        .await
        .expect("update missing");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let mut bad = update.clone();
    bad["score"] = json!("NaN");
    assert_eq!(
        http.put(format!("{base}/notes/{id}"))
            .json(&bad)
            .send()
            .await
            .expect("bad update")
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Delete: 204, then 404.
    assert_eq!(
        http.delete(format!("{base}/notes/{id}"))
            .send()
            .await
            .expect("delete")
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        http.get(format!("{base}/notes/{id}"))
            .send()
            .await
            .expect("get deleted")
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.delete(format!("{base}/notes/{id}"))
            .send()
            .await
            .expect("delete again")
            .status(),
        StatusCode::NOT_FOUND
    );

    // OpenAPI document: valid 3.1, every operation, every reference resolves.
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, methods) in [
        ("/notes", &["get", "post"][..]),
        ("/notes/{id}", &["get", "put", "delete"][..]),
    ] {
        for m in methods {
            assert!(
                doc["paths"][path][m].is_object(),
                "openapi lacks {m} {path}"
            );
        }
    }
    for schema in ["Note", "NoteInput", "NoteUpdate", "NoteStatus", "Problem"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "openapi lacks schema {schema}"
        );
    }
    assert_eq!(dangling_refs(&doc), Vec::<String>::new());
    let docs = http
        .get(format!("{base}/docs"))
        .send()
        .await
        .expect("docs")
        .text()
        .await
        .expect("html");
    assert!(docs.contains("openapi.json"));

    // Metrics and liveness.
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("http_requests_total{method=\"POST\",route=\"/notes\",status=\"201\"}"),
        "{metrics}"
    );
    assert_eq!(
        http.get(format!("{base}/health/live"))
            .send()
            .await
            .expect("live")
            .status(),
        StatusCode::OK
    );

    // Readiness follows the database.
    pg.stop().await.expect("stop postgres");
    let mut ready = StatusCode::OK;
    for _ in 0..50 {
        ready = http
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .expect("ready")
            .status();
        if ready == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        http.get(format!("{base}/health/live"))
            .send()
            .await
            .expect("live")
            .status(),
        StatusCode::OK
    );

    // Graceful shutdown on SIGTERM: exit code 0.
    service.signal("-TERM").expect("SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = service.exit_status() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 15s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// The SQL of every migration of `service` in `plan`, in order.
fn migrations_of(plan: &msa_gen::plan::Plan, service: &str) -> Vec<(String, String)> {
    let prefix = format!("services/{service}/migrations/");
    plan.files
        .iter()
        .filter(|f| f.path.starts_with(&prefix))
        .filter_map(|f| match &f.source {
            msa_gen::plan::Source::Text(sql) => Some((f.path.clone(), sql.clone())),
            _ => None,
        })
        .collect()
}

/// Blueprint changes become new migrations that upgrade a real database holding rows: a
/// required field added (existing rows get a neutral value), an enum field added, an optional
/// field made required, a field removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_upgrade_a_database_with_rows() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../blueprints/minimal.toml"),
    )
    .expect("minimal");
    let load = |t: &str| msa_gen::blueprint::load(t).expect("valid").blueprint;
    let first = msa_gen::plan::plan(&load(&text), &text, None);
    let history_file = |p: &msa_gen::plan::Plan| {
        p.files
            .iter()
            .find(|f| f.path == msa_gen::plan::migrations::HISTORY_PATH)
            .and_then(|f| match &f.source {
                msa_gen::plan::Source::Text(t) => Some(t.clone()),
                _ => None,
            })
            .expect("history")
    };
    let history = msa_gen::plan::migrations::History::parse(&history_file(&first)).expect("json");
    let changed = text
        .replace("  score = \"f64?\"\n", "")
        .replace("  views = \"i64?\"\n", "  views = \"i64\"\n")
        .replace(
            "  type = \"string?\"\n",
            "  type = \"string?\"\n  stars = \"i32\"\n  mood = \"enum(calm, busy)\"\n",
        );
    let second = msa_gen::plan::plan(&load(&changed), &changed, Some(&history));
    assert!(
        second.warnings.iter().any(|w| w.contains("note.score")),
        "{:?}",
        second.warnings
    );
    let all = migrations_of(&second, "notes");
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0], migrations_of(&first, "notes")[0], "0001 unchanged");

    let pg = infra::postgres(&["notes".into()]).await.expect("postgres");
    let pool = sqlx::PgPool::connect(&format!("{}/notes", pg.url))
        .await
        .expect("db");
    sqlx::raw_sql(&all[0].1)
        .execute(&pool)
        .await
        .expect("0001 applies");
    sqlx::query(
        "INSERT INTO note (id, title, pinned, priority, author_id, status, tags) \
         VALUES ($1, 'old', false, 1, $1, 'draft', '[]')",
    )
    .bind(uuid::Uuid::new_v4())
    .execute(&pool)
    .await
    .expect("a row from before");
    sqlx::raw_sql(&all[1].1)
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{} applies: {e}\n{}", all[1].0, all[1].1));
    let (stars, mood, views): (i32, String, i64) =
        sqlx::query_as("SELECT stars, mood, views FROM note WHERE title = 'old'")
            .fetch_one(&pool)
            .await
            .expect("upgraded row");
    assert_eq!((stars, mood.as_str(), views), (0, "calm", 0));
    let score: Option<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'note' AND column_name = 'score'",
    )
    .fetch_one(&pool)
    .await
    .expect("columns");
    assert_eq!(score, Some(0), "the removed field's column is gone");
    let refused = sqlx::query(
        "INSERT INTO note (id, title, pinned, priority, author_id, status, tags, views, stars, mood) \
         VALUES ($1, 'x', false, 1, $1, 'draft', '[]', 1, 1, 'sleepy')",
    )
    .bind(uuid::Uuid::new_v4())
    .execute(&pool)
    .await;
    assert!(refused.is_err(), "the new enum's check applies");
}
