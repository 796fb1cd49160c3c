//! A service's web fragments (micro-frontends): the pieces of the web shell a service owns. Each
//! is the service's own HTML, rendered from its own API with a template and a style of its own
//! (the user-owned `fragments/<name>.html` and `fragments/<name>.css` of the service, compiled
//! into its binary), and versioned with it. The web BFF's shell fetches fragments from their
//! owners at run time ([`crate::platform::web`]), so a service redeployed alone changes the page.
//!
//! | route | does |
//! |---|---|
//! | `GET /fragments/{name}` | the fragment: its template filled with the first page of the service's list |
//!
//! The list is read in-process from the service's own router, with the caller's headers: the
//! same role checks as the API. The answer carries `x-fragment-version`.
//!
//! A template is HTML with placeholders, each replaced once per occurrence:
//!
//! | placeholder | becomes |
//! |---|---|
//! | `{{title}}` | the fragment's title, escaped |
//! | `{{table}}` | the list as an HTML table (ids shortened), or "Nothing yet." |
//! | `{{count}}` | how many rows the table shows |
//! | `{{version}}` | the fragment's version |
//! | `{{service}}` | the service's name |
//!
//! Anything else in the template is copied as it is.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::platform::web::escape;

/// The response header naming a fragment's version.
pub const VERSION_HEADER: &str = "x-fragment-version";
/// Rows a fragment shows: the first page of the list.
pub const ROWS: usize = 20;
/// The largest list answer a fragment reads.
const MAX_LIST_BYTES: usize = 1 << 20;

/// One fragment a service serves.
#[derive(Debug, Clone, Copy)]
pub struct Fragment {
    /// Its URL and slot name (`orders`).
    pub name: &'static str,
    pub title: &'static str,
    /// The service's list it shows (`/orders`).
    pub path: &'static str,
    /// (JSON member, column heading).
    pub columns: &'static [(&'static str, &'static str)],
    /// The HTML template (`fragments/<name>.html`).
    pub template: &'static str,
    /// Its style sheet (`fragments/<name>.css`), sent inside the fragment.
    pub style: &'static str,
}

/// A fragment's version: the service's version and a digest of its template and style, so a
/// changed template is a new version even when the service's version stays.
pub fn version(service_version: &str, f: &Fragment) -> String {
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let mut hash: u32 = 0x811c_9dc5;
    for b in f.template.bytes().chain([0]).chain(f.style.bytes()) {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{service_version}+{hash:08x}")
}

/// Replaces each `{{key}}` of `template` by its value; other text is copied as it is.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let known = after.find("}}").and_then(|end| {
            let key = after[..end].trim();
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v, end))
        });
        match known {
            Some((value, end)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The list as an HTML table from a page of items (`{"items": [...]}`), and its row count.
pub fn table(columns: &[(&str, &str)], page: &serde_json::Value) -> (String, usize) {
    let items = page["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if items.is_empty() {
        return ("<p class=\"empty\">Nothing yet.</p>".to_string(), 0);
    }
    let mut html = String::from("<table><thead><tr>");
    for (_, heading) in columns {
        html.push_str(&format!("<th>{}</th>", escape(heading)));
    }
    html.push_str("</tr></thead><tbody>");
    for item in items {
        html.push_str("<tr>");
        for (member, _) in columns {
            let cell = match &item[*member] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                serde_json::Value::Array(list) => list
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            html.push_str(&format!("<td>{}</td>", cell_html(&cell)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    (html, items.len())
}

/// A cell: ids (UUIDs) shortened to their first 8 digits, the whole id in the tooltip.
fn cell_html(text: &str) -> String {
    // Only a real hyphenated UUID: slicing any 36-byte text with four dashes panicked on a
    // multi-byte character.
    match uuid::Uuid::try_parse(text)
        .ok()
        .filter(|_| text.len() == 36)
    {
        Some(id) => {
            let id = id.hyphenated().to_string();
            format!("<code title=\"{id}\">{}…</code>", &id[..8])
        }
        None => escape(text),
    }
}

/// The fragment's HTML: its style and filled template in an element naming it and its version.
pub fn render(service: &str, version: &str, f: &Fragment, page: &serde_json::Value) -> String {
    let (table, count) = table(f.columns, page);
    let body = fill(
        f.template,
        &[
            ("title", &escape(f.title)),
            ("table", &table),
            ("count", &count.to_string()),
            ("version", &escape(version)),
            ("service", &escape(service)),
        ],
    );
    format!(
        "<div class=\"fragment\" data-fragment=\"{name}\" data-fragment-version=\"{version}\" \
         data-service=\"{service}\"><style>{style}</style>{body}</div>",
        name = escape(f.name),
        version = escape(version),
        service = escape(service),
        style = f.style.replace("</", "<\\/"),
    )
}

struct Served {
    service: &'static str,
    fragments: Vec<(Fragment, String)>,
    api: Router,
}

/// The routes serving `fragments` of `service` (at `service_version`), each reading its list
/// from `api`, the service's own router.
pub fn routes(
    service: &'static str,
    service_version: &'static str,
    fragments: &'static [Fragment],
    api: Router,
) -> Router {
    let served = Arc::new(Served {
        service,
        fragments: fragments
            .iter()
            .map(|f| (*f, version(service_version, f)))
            .collect(),
        api,
    });
    Router::new()
        .route("/fragments/{name}", get(serve))
        .with_state(served)
}

/// An HTML answer that is never cached (a fragment changes with its data and its owner's
/// deployments), naming the fragment's `version` when given.
pub fn html(status: StatusCode, version: Option<&str>, body: impl Into<Body>) -> Response {
    let mut r = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.into(),
    )
        .into_response();
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        r.headers_mut().insert(VERSION_HEADER, v);
    }
    r
}

async fn serve(
    State(served): State<Arc<Served>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((f, version)) = served.fragments.iter().find(|(f, _)| f.name == name) else {
        return html(
            StatusCode::NOT_FOUND,
            None,
            "<p class=\"error\">no such fragment</p>",
        );
    };
    // The caller's credentials travel to the list, so the API's role checks decide.
    let mut request = Request::get(format!("{}?page=0&size={ROWS}", f.path));
    for name in [
        header::AUTHORIZATION.as_str(),
        crate::security::identity::SERVICE_TOKEN_HEADER,
        "traceparent",
    ] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v);
        }
    }
    let Ok(request) = request.body(Body::empty()) else {
        return html(StatusCode::INTERNAL_SERVER_ERROR, None, String::new());
    };
    let Ok(answer) = served.api.clone().oneshot(request).await;
    let status = answer.status();
    if !status.is_success() {
        return html(
            status,
            Some(version),
            format!(
                "<p class=\"error\">{} answered {}.</p>",
                escape(f.title),
                status.as_u16()
            ),
        );
    }
    let page = match http_body_util::Limited::new(answer.into_body(), MAX_LIST_BYTES)
        .collect()
        .await
    {
        Ok(b) => serde_json::from_slice(&b.to_bytes()).unwrap_or_default(),
        Err(e) => {
            tracing::warn!(fragment = f.name, error = %e, "the list did not read");
            serde_json::Value::Null
        }
    };
    html(
        StatusCode::OK,
        Some(version),
        render(served.service, version, f, &page),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: Fragment = Fragment {
        name: "orders",
        title: "Orders",
        path: "/orders",
        columns: &[("id", "Id"), ("total", "Total")],
        template: "<h2>{{title}}</h2>{{table}}<p>{{count}} of {{ version }} {{unknown}}</p>",
        style: "[data-fragment=orders] h2{color:red}",
    };

    #[test]
    fn placeholders_are_filled_and_others_kept() {
        assert_eq!(
            fill("a {{x}} b {{ y }} {{z}} {{", &[("x", "1"), ("y", "<2>")]),
            "a 1 b <2> {{z}} {{"
        );
        assert_eq!(fill("no placeholders", &[]), "no placeholders");
    }

    #[test]
    fn a_changed_template_is_a_new_version() {
        let v = version("0.1.0", &ORDERS);
        assert!(
            v.starts_with("0.1.0+") && v.len() == "0.1.0+".len() + 8,
            "{v}"
        );
        assert_eq!(v, version("0.1.0", &ORDERS), "stable");
        let changed = Fragment {
            template: "<h3>{{title}}</h3>",
            ..ORDERS
        };
        assert_ne!(v, version("0.1.0", &changed));
        let restyled = Fragment {
            style: "h2{}",
            ..ORDERS
        };
        assert_ne!(v, version("0.1.0", &restyled));
    }

    #[test]
    fn tables_render_the_columns_escaped() {
        let page = serde_json::json!({ "items": [{ "id": "1", "total": "<b>9</b>" }, { "id": "2", "total": ["a", 1] }] });
        let (html, rows) = table(ORDERS.columns, &page);
        assert_eq!(rows, 2);
        assert!(html.contains("<th>Total</th>"));
        assert!(html.contains("<td>&lt;b&gt;9&lt;/b&gt;</td>"));
        assert_eq!(html.matches("<tr>").count(), 3);
        assert!(html.contains("<td>a, 1</td>"), "lists joined: {html}");
        let (empty, none) = table(ORDERS.columns, &serde_json::json!({ "items": [] }));
        assert!(empty.contains("Nothing yet") && none == 0);
        let id = "5fc356a2-01a0-4cb1-a8e9-8a7ea2b94e3a";
        let (html, _) = table(
            ORDERS.columns,
            &serde_json::json!({ "items": [{ "id": id }] }),
        );
        assert!(
            html.contains(&format!("<code title=\"{id}\">5fc356a2…</code>")),
            "{html}"
        );
    }

    #[test]
    fn a_uuid_shaped_text_with_wide_characters_is_escaped_not_sliced() {
        let tricky = "aaaaaaaé-aaaa-bbbb-cccc-ddddddddddd";
        assert_eq!(tricky.len(), 36);
        assert_eq!(cell_html(tricky), escape(tricky));
    }

    #[test]
    fn the_fragment_names_itself_and_its_version() {
        let page = serde_json::json!({ "items": [{ "id": "1", "total": 3 }] });
        let html = render("orders", "0.1.0+abc", &ORDERS, &page);
        assert!(html.starts_with(
            "<div class=\"fragment\" data-fragment=\"orders\" data-fragment-version=\"0.1.0+abc\" data-service=\"orders\">"
        ));
        assert!(html.contains("<style>[data-fragment=orders] h2{color:red}</style>"));
        assert!(html.contains("<h2>Orders</h2><table>"));
        assert!(html.contains("<p>1 of 0.1.0+abc {{unknown}}</p>"), "{html}");
        let sneaky = Fragment {
            style: "</style><script>x</script>",
            ..ORDERS
        };
        assert!(!render("orders", "v", &sneaky, &page).contains("</style><script>"));
    }

    async fn call(router: Router, uri: &str, token: Option<&str>) -> (StatusCode, String, String) {
        let mut r = Request::get(uri);
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let answer = router
            .oneshot(r.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = answer.status();
        let version = answer
            .headers()
            .get(VERSION_HEADER)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        (status, version, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_fragment_reads_its_own_list_with_the_callers_credentials() {
        static FRAGMENTS: [Fragment; 1] = [ORDERS];
        // The service's own API: lists only for the bearer "ok".
        let api = Router::new().route(
            "/orders",
            get(|headers: HeaderMap, uri: axum::http::Uri| async move {
                if headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) != Some(b"Bearer ok") {
                    return (StatusCode::FORBIDDEN, String::new());
                }
                assert_eq!(uri.query(), Some("page=0&size=20"));
                (
                    StatusCode::OK,
                    serde_json::json!({ "items": [{ "id": "a", "total": 1 }, { "id": "b", "total": 2 }] })
                        .to_string(),
                )
            }),
        );
        let router = routes("orders", "0.1.0", &FRAGMENTS, api);
        let (status, version, body) = call(router.clone(), "/fragments/orders", Some("ok")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(version, super::version("0.1.0", &ORDERS));
        assert!(body.contains("<p>2 of"), "{body}");
        let (status, _, body) = call(router.clone(), "/fragments/orders", Some("nope")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("answered 403"), "{body}");
        let (status, _, _) = call(router, "/fragments/nothing", Some("ok")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
