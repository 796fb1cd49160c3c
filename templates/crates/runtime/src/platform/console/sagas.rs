//! The console's saga pages: the instances every saga owner keeps (`GET /admin/sagas` of each
//! registered service that answers it), and one instance with its step history
//! (`GET /admin/sagas/{saga}/{id}`), read with the signed-in admin's token.

use std::time::Duration;

use crate::platform::registry::Snapshot;
use crate::platform::web::escape;
use crate::service::http_client::HttpClient;

/// An owner's saga instances: the service and what it answered.
pub type Owned = (String, Vec<serde_json::Value>);

/// The saga instances of every service in `snapshot` that owns sagas (one instance asked per
/// service; services without sagas answer 404 and are left out).
pub async fn instances(http: &HttpClient, snapshot: &Snapshot, token: &str) -> Vec<Owned> {
    let mut out = Vec::new();
    for (service, list) in &snapshot.services {
        let Some(i) = list.first() else { continue };
        let url = format!("http://{}/admin/sagas", i.address);
        if let Some(serde_json::Value::Array(items)) = get(http, &url, token).await
            && !items.is_empty()
        {
            out.push((service.clone(), items));
        }
    }
    out
}

/// One instance of `saga` at `service`, with its history.
pub async fn instance(
    http: &HttpClient,
    snapshot: &Snapshot,
    token: &str,
    service: &str,
    saga: &str,
    id: &str,
) -> Option<serde_json::Value> {
    let i = snapshot.services.get(service)?.first()?;
    get(
        http,
        &format!("http://{}/admin/sagas/{saga}/{id}", i.address),
        token,
    )
    .await
}

async fn get(http: &HttpClient, url: &str, token: &str) -> Option<serde_json::Value> {
    let (status, body) = http
        .json_with::<serde_json::Value>(
            http::Method::GET,
            url,
            None,
            Duration::from_secs(3),
            if token.is_empty() {
                Vec::new()
            } else {
                vec![(http::header::AUTHORIZATION, format!("Bearer {token}"))]
            },
        )
        .await
        .ok()?;
    status.is_success().then_some(body).flatten()
}

fn text(v: &serde_json::Value, key: &str) -> String {
    match &v[key] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The table of every owner's instances, newest first per owner.
pub fn list_html(owned: &[Owned]) -> String {
    let mut rows = String::new();
    for (service, items) in owned {
        for i in items {
            let (saga, id) = (text(i, "saga"), text(i, "id"));
            rows.push_str(&format!(
                "<tr class=\"saga\" data-saga=\"{saga}\" data-status=\"{status}\"><td>{service}</td><td>{saga}</td><td><a href=\"/sagas/{service}/{saga}/{id}\"><code>{id}</code></a></td><td>{status}</td><td>{step}</td><td>{reason}</td><td>{started}</td></tr>",
                service = escape(service),
                saga = escape(&saga),
                id = escape(&id),
                status = escape(&text(i, "status")),
                step = escape(&text(i, "step")),
                reason = escape(&text(i, "reason")),
                started = escape(&text(i, "started_at")),
            ));
        }
    }
    format!(
        "<table><tr><th>owner</th><th>saga</th><th>instance</th><th>status</th><th>step</th><th>reason</th><th>started</th></tr>{rows}</table>"
    )
}

/// One instance and its history, each entry with its detail.
pub fn instance_html(answer: &serde_json::Value) -> String {
    let i = &answer["instance"];
    let mut rows = String::new();
    for e in answer["history"].as_array().into_iter().flatten() {
        rows.push_str(&format!(
            "<tr class=\"history\"><td>{at}</td><td>{entry}</td><td><code>{detail}</code></td></tr>",
            at = escape(&text(e, "at")),
            entry = escape(&text(e, "entry")),
            detail = escape(&e["detail"].to_string()),
        ));
    }
    let trace = text(i, "trace_context");
    let trace_id = crate::service::telemetry::trace_id_from_traceparent(&trace);
    let trace_link = trace_id.map_or_else(String::new, |t| {
        format!(" <a href=\"/traces/{t}\">its trace</a>")
    });
    format!(
        "<p>Status <strong>{status}</strong> at step {step}{reason}.{trace_link}</p><table><tr><th>at</th><th>entry</th><th>detail</th></tr>{rows}</table>",
        status = escape(&text(i, "status")),
        step = escape(&text(i, "step")),
        reason = match text(i, "reason") {
            r if r.is_empty() => String::new(),
            r => format!(" ({})", escape(&r)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_and_their_history_render_escaped() {
        let items = vec![serde_json::json!({
            "saga": "checkout", "id": "0a", "status": "completed", "step": 2,
            "reason": "<script>", "started_at": "2026-12-04T12:00:00Z"
        })];
        let html = list_html(&[("orders".into(), items)]);
        assert!(html.contains("href=\"/sagas/orders/checkout/0a\""));
        assert!(html.contains("data-status=\"completed\""));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        let one = serde_json::json!({
            "instance": { "status": "compensated", "step": 1, "reason": "no credit",
                          "trace_context": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
            "history": [
                { "at": "t1", "entry": "started", "detail": {} },
                { "at": "t2", "entry": "reply reserve-credit", "detail": { "ok": false } }
            ]
        });
        let html = instance_html(&one);
        assert_eq!(html.matches("class=\"history\"").count(), 2);
        assert!(html.contains("reply reserve-credit") && html.contains("(no credit)"));
        assert!(html.contains("href=\"/traces/4bf92f3577b34da6a3ce929d0e0e4736\""));
    }
}
