//! API documentation: the OpenAPI document at `/openapi.json` and a small, self-contained page
//! at `/docs` that renders it (no CDN, no build-time download; works offline).

use axum::Json;
use axum::response::Html;

/// The docs page. It fetches `/openapi.json` and lists every operation and schema.
pub const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API docs</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}
h1{font-size:1.5rem}.op{border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}
.GET{color:#0a6}.POST{color:#06c}.PUT{color:#a60}.DELETE{color:#c22}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:.85rem}
</style></head>
<body><h1 id="title">API docs</h1><p id="desc"></p><div id="ops"></div><h2>Schemas</h2><div id="schemas"></div>
<script>
fetch('openapi.json').then(r => r.json()).then(doc => {
  document.getElementById('title').textContent = doc.info.title + ' ' + doc.info.version;
  document.getElementById('desc').textContent = doc.info.description || '';
  const ops = document.getElementById('ops');
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const d = document.createElement('details'); d.className = 'op';
      const s = document.createElement('summary');
      s.innerHTML = '<span class="m ' + method.toUpperCase() + '"></span> <code></code> ';
      s.children[0].textContent = method.toUpperCase(); s.children[1].textContent = path;
      s.append(op.summary || op.operationId || '');
      const pre = document.createElement('pre'); pre.textContent = JSON.stringify(op, null, 2);
      d.append(s, pre); ops.append(d);
    }
  }
  const schemas = document.getElementById('schemas');
  for (const [name, schema] of Object.entries((doc.components || {}).schemas || {})) {
    const d = document.createElement('details'); d.className = 'op';
    const s = document.createElement('summary'); s.textContent = name;
    const pre = document.createElement('pre'); pre.textContent = JSON.stringify(schema, null, 2);
    d.append(s, pre); schemas.append(d);
  }
});
</script></body></html>
"#;

pub async fn page() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

/// Serves a prepared OpenAPI document.
pub fn openapi_handler(
    doc: serde_json::Value,
) -> impl Fn() -> std::future::Ready<Json<serde_json::Value>> + Clone {
    move || std::future::ready(Json(doc.clone()))
}
