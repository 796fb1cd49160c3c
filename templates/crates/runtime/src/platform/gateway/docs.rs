//! The gateway's `/openapi.json`: the documents of every routed service, fetched from one of
//! its instances and merged into one (cached for 30 s), so `/docs` on the gateway shows the
//! whole system. A service's paths are kept only under the prefixes the gateway routes to it,
//! so internal endpoints stay out. Schemas of the same name are expected to be the same type
//! (`Problem`, `FieldError`); the first one wins and a differing one is logged. A service that
//! does not answer is listed in `x-unavailable` instead of failing the page.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::Gateway;

const TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct Cache(tokio::sync::Mutex<Option<(Instant, Value)>>);

pub(crate) async fn merged(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let mut cache = gw.docs.0.lock().await;
    if let Some((at, doc)) = cache.as_ref()
        && at.elapsed() < TTL
    {
        return Json(doc.clone());
    }
    let doc = build(&gw).await;
    *cache = Some((Instant::now(), doc.clone()));
    Json(doc)
}

async fn fetch(gw: &Gateway, service: &str) -> Option<Value> {
    for address in gw.candidates(service).iter().take(2) {
        let url = format!("http://{address}/openapi.json");
        if let Ok((_, Some(doc))) = gw
            .http
            .json::<Value>(http::Method::GET, &url, None, Duration::from_secs(2))
            .await
        {
            return Some(doc);
        }
    }
    None
}

async fn build(gw: &Gateway) -> Value {
    let routes = gw.routes.current();
    let mut services: Vec<&'static str> = routes.iter().map(|r| r.service).collect();
    services.sort_unstable();
    services.dedup();
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut tags: Vec<Value> = Vec::new();
    let mut unavailable = Vec::new();
    for service in services {
        let Some(doc) = fetch(gw, service).await else {
            unavailable.push(service);
            continue;
        };
        let prefixes: Vec<&str> = routes
            .iter()
            .filter(|r| r.service == service)
            .map(|r| r.prefix)
            .collect();
        if let Some(p) = doc["paths"].as_object() {
            for (path, item) in p {
                if prefixes.iter().any(|prefix| super::matches(prefix, path)) {
                    paths.insert(path.clone(), item.clone());
                }
            }
        }
        if let Some(s) = doc["components"]["schemas"].as_object() {
            for (name, schema) in s {
                match schemas.get(name) {
                    Some(existing) if existing != schema => {
                        tracing::warn!(%service, schema = %name, "a different schema of the same name is already in the merged document; kept the first");
                    }
                    Some(_) => {}
                    None => {
                        schemas.insert(name.clone(), schema.clone());
                    }
                }
            }
        }
        if let Some(t) = doc["tags"].as_array() {
            tags.extend(t.iter().cloned());
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": format!("{} API", gw.title), "version": "1" },
        "paths": paths,
        "components": { "schemas": schemas },
        "tags": tags,
        "x-unavailable": unavailable,
    })
}
