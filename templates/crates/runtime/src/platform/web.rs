//! The web shell of a `web` BFF (UI composition with micro-frontends): a page holding only the
//! layout, the navigation and the sign-in. Its content is fragments, each served by the service
//! that owns it ([`crate::platform::fragment`]) and composed at run time in the browser: every
//! slot is a `<msa-fragment>` Web Component that loads its fragment through this BFF, which
//! finds the owner (registry or DNS) and calls it with the signed-in user's token. A service
//! redeployed alone changes its fragment on the next page load; the shell is not rebuilt.
//!
//! | route | does |
//! |---|---|
//! | `GET /` | the shell: sign-in form, or navigation and one slot per fragment when signed in |
//! | `POST /sign-in` | password grant at the auth service; the token goes into an `HttpOnly`, `SameSite=Strict`, `Secure` cookie (`cookie-secure = false` drops `Secure` for plain-HTTP development) |
//! | `POST /sign-out` | clears the cookies |
//! | `GET /fragments/{name}` | the owner's `GET /fragments/{name}`, called with the user's token |
//!
//! The services' own role checks apply. A fragment that fails, or is slower than its timeout
//! (2 s here, 5 s in the browser), leaves a placeholder in its slot and the rest of the page
//! works.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::resilience::breaker::BreakerConfig;
use crate::resilience::calls::{CallPolicy, Fallback, ServiceClient};

/// The cookie holding the access token.
pub const TOKEN_COOKIE: &str = "msa_token";
/// The cookie holding the signed-in user's name, for display only.
pub const USER_COOKIE: &str = "msa_user";

/// One slot of the shell: a fragment and the service that serves it.
#[derive(Debug, Clone, Copy)]
pub struct Fragment {
    /// Slot and URL name (`orders`).
    pub name: &'static str,
    pub title: &'static str,
    /// Its owner.
    pub service: &'static str,
    pub port: u16,
}

/// What the front end shows.
pub struct WebConfig {
    pub title: String,
    pub fragments: &'static [Fragment],
    /// The auth service, `None` for a system without `[auth]`.
    pub auth_url: Option<String>,
}

struct Web {
    title: String,
    fragments: &'static [Fragment],
    clients: BTreeMap<&'static str, ServiceClient>,
    auth_url: Option<String>,
    http: crate::service::http_client::HttpClient,
    /// Cookies carry `Secure` (setting `cookie-secure`, default on; off only for plain-HTTP
    /// development).
    secure_cookies: bool,
}

/// The `Set-Cookie` values of a sign-in (`Some(token)`) or a sign-out (`None`).
fn session_cookies(signed_in: Option<(&str, &str)>, secure: bool) -> [String; 2] {
    let secure = if secure { "; Secure" } else { "" };
    match signed_in {
        Some((token, user)) => [
            format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"),
            format!(
                "{USER_COOKIE}={}; Path=/; SameSite=Strict{secure}",
                user.replace(
                    |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_' && c != '.',
                    ""
                )
            ),
        ],
        None => [
            format!("{TOKEN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
            format!("{USER_COOKIE}=; Path=/; Max-Age=0; SameSite=Strict{secure}"),
        ],
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn token(headers: &HeaderMap) -> Option<&str> {
    crate::security::jwt::bearer(headers).or_else(|| cookie(headers, TOKEN_COOKIE))
}

/// The token to call services with: a JWT as it is; an opaque session token (`sessions =
/// "redis"`) swapped for the JWT behind it in the central store (`None` when it is unknown,
/// expired or revoked: the caller is signed out). Services accept only JWTs.
async fn service_token(token: Option<&str>) -> Option<String> {
    let token = token?;
    match crate::platform::sessions::store() {
        Some(store) if crate::platform::sessions::is_session_token(token) => {
            match store.lookup(token).await {
                Ok(jwt) => jwt,
                Err(e) => {
                    tracing::warn!(error = %e, "session store unavailable");
                    None
                }
            }
        }
        _ => Some(token.to_string()),
    }
}

const STYLE: &str = "
*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,sans-serif;background:#f4f6f9;color:#1d2330}
header{background:#1d3557;color:#fff;padding:1rem 2rem;display:flex;align-items:center;justify-content:space-between}
header h1{margin:0;font-size:1.3rem;font-weight:600}header form{margin:0}
main{max-width:72rem;margin:2rem auto;padding:0 1rem;display:grid;gap:1.5rem;grid-template-columns:repeat(auto-fit,minmax(34rem,1fr))}
section{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:1rem 1.2rem;overflow:auto}
section h2{margin:.2rem 0 .8rem;font-size:1.05rem;color:#1d3557}
table{border-collapse:collapse;width:100%;font-size:.88rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e6e9ef;white-space:nowrap}
th{color:#5b6475;font-weight:600}code{font-size:.82rem;color:#457b9d}.empty,.error{color:#5b6475;font-style:italic}.error{color:#b42318}
.signin{max-width:22rem;margin:4rem auto;background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:1.5rem}
.signin h2{margin-top:0}label{display:block;margin:.6rem 0 .2rem;font-size:.9rem}input{width:100%;padding:.5rem;border:1px solid #c9ced8;border-radius:6px}
button{margin-top:1rem;background:#e63946;color:#fff;border:0;border-radius:6px;padding:.5rem 1rem;font-weight:600;cursor:pointer}
header button{margin:0;background:#457b9d}
nav{max-width:72rem;margin:1rem auto 0;padding:0 1rem;display:flex;gap:1rem}nav a{color:#1d3557;font-weight:600;text-decoration:none}
.placeholder{color:#5b6475;font-style:italic;background:repeating-linear-gradient(45deg,#f4f6f9,#f4f6f9 8px,#fff 8px,#fff 16px);padding:1rem;border-radius:6px}
";

/// The `<msa-fragment src>` Web Component: loads its fragment, and leaves a placeholder
/// (`data-state="unavailable"`) when the fragment fails or takes longer than 5 s.
const COMPONENT: &str = "customElements.define('msa-fragment', class extends HTMLElement {\
 connectedCallback() {\
  const stop = new AbortController(); const timer = setTimeout(() => stop.abort(), 5000);\
  const placeholder = () => { this.dataset.state = 'unavailable';\
   this.innerHTML = '<h2></h2><p class=\"placeholder\">This part of the page is unavailable right now.</p>';\
   this.querySelector('h2').textContent = this.dataset.title; };\
  fetch(this.getAttribute('src'), {credentials: 'same-origin', signal: stop.signal})\
   .then(r => r.ok ? r.text() : Promise.reject(r.status))\
   .then(html => { this.innerHTML = html; this.dataset.state = 'loaded'; })\
   .catch(placeholder).finally(() => clearTimeout(timer));\
 }});";

/// The shell page.
pub fn shell(
    title: &str,
    fragments: &[Fragment],
    user: Option<&str>,
    error: Option<&str>,
) -> String {
    let title = escape(title);
    let mut page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><header><h1>{title}</h1>"
    );
    match user {
        Some(u) => {
            page.push_str(&format!(
                "<form method=\"post\" action=\"sign-out\"><span id=\"user\">{}</span> \
                 <button type=\"submit\">Sign out</button></form></header>",
                escape(u)
            ));
            page.push_str("<nav>");
            for f in fragments {
                page.push_str(&format!(
                    "<a href=\"#{name}\">{title}</a>",
                    name = escape(f.name),
                    title = escape(f.title)
                ));
            }
            page.push_str("</nav><main>");
            for f in fragments {
                page.push_str(&format!(
                    "<section id=\"{name}\"><msa-fragment src=\"fragments/{name}\" \
                     data-title=\"{title}\"><h2>{title}</h2><p class=\"empty\">Loading…</p>\
                     </msa-fragment></section>",
                    name = escape(f.name),
                    title = escape(f.title)
                ));
            }
            page.push_str("</main><script>");
            page.push_str(COMPONENT);
            page.push_str("</script>");
        }
        None => {
            page.push_str("</header><form class=\"signin\" method=\"post\" action=\"sign-in\"><h2>Sign in</h2>");
            if let Some(e) = error {
                page.push_str(&format!(
                    "<p class=\"error\" id=\"error\">{}</p>",
                    escape(e)
                ));
            }
            page.push_str(
                "<label for=\"username\">User name</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
                 <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
                 <button id=\"sign-in\" type=\"submit\">Sign in</button></form>",
            );
        }
    }
    page.push_str("</body></html>");
    page
}

/// The front end's routes.
pub fn routes(config: WebConfig, settings: &crate::service::config::Settings) -> Router {
    let policy = CallPolicy {
        timeout: Duration::from_secs(2),
        retries: 1,
        breaker: BreakerConfig::default(),
        fallback: Fallback::Error,
    };
    let clients = config
        .fragments
        .iter()
        .map(|f| {
            (
                f.name,
                ServiceClient::from_settings(f.service, f.port, policy, settings),
            )
        })
        .collect();
    let web = Arc::new(Web {
        title: config.title,
        fragments: config.fragments,
        clients,
        auth_url: config.auth_url,
        http: crate::service::http_client::HttpClient::new(),
        secure_cookies: settings.text("cookie_secure") != Some("false"),
    });
    Router::new()
        .route("/", get(home))
        .route("/sign-in", post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/fragments/{name}", get(fragment))
        .with_state(web)
}

async fn home(State(web): State<Arc<Web>>, headers: HeaderMap) -> Html<String> {
    let user = match (&web.auth_url, token(&headers)) {
        (None, _) => Some("guest"),
        (Some(_), Some(_)) => Some(cookie(&headers, USER_COOKIE).unwrap_or("signed in")),
        (Some(_), None) => None,
    };
    Html(shell(&web.title, web.fragments, user, None))
}

#[derive(serde::Deserialize)]
struct SignIn {
    username: String,
    password: String,
}

fn see_other(cookies: &[String]) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "./")]).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

async fn sign_in(State(web): State<Arc<Web>>, body: axum::body::Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<SignIn>(&body) else {
        return Html(shell(
            &web.title,
            web.fragments,
            None,
            Some("user name and password, please"),
        ))
        .into_response();
    };
    let Some(auth) = &web.auth_url else {
        return see_other(&[]);
    };
    let token = match password_grant(&web.http, auth, &form.username, &form.password).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "auth service unreachable");
            return Html(shell(
                &web.title,
                web.fragments,
                None,
                Some("sign-in is unavailable; try again"),
            ))
            .into_response();
        }
    };
    match token {
        Some(t) => see_other(&session_cookies(
            Some((&t, &form.username)),
            web.secure_cookies,
        )),
        None => Html(shell(
            &web.title,
            web.fragments,
            None,
            Some("wrong user name or password"),
        ))
        .into_response(),
    }
}

/// The password grant at the auth service at `auth_url`: `Ok(Some(token))` when signed in,
/// `Ok(None)` when refused, `Err` when the auth service cannot be reached. The web shell's and
/// the console's sign-in.
pub async fn password_grant(
    http: &crate::service::http_client::HttpClient,
    auth_url: &str,
    username: &str,
    password: &str,
) -> Result<Option<String>, String> {
    let body = serde_urlencoded::to_string([
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ])
    .map_err(|e| e.to_string())?;
    let request = http::Request::post(format!("{auth_url}/oauth/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(body))
        .map_err(|e| e.to_string())?;
    let answer = http
        .send(request, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    if !answer.status().is_success() {
        return Ok(None);
    }
    use http_body_util::BodyExt;
    let bytes = answer
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(str::to_string)))
}

async fn sign_out(State(web): State<Arc<Web>>) -> Response {
    see_other(&session_cookies(None, web.secure_cookies))
}

async fn fragment(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (Some(f), Some(client)) = (
        web.fragments.iter().find(|f| f.name == name),
        web.clients.get(name.as_str()),
    ) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<p class=\"error\">no such fragment</p>".to_string()),
        )
            .into_response();
    };
    let token = service_token(token(&headers)).await;
    match client
        .get_bytes(&format!("/fragments/{}", f.name), token.as_deref())
        .await
    {
        Ok(body) => crate::platform::fragment::html(StatusCode::OK, None, body),
        Err(e) => {
            tracing::warn!(fragment = f.name, error = %e, "fragment unavailable");
            (
                crate::resilience::calls::status_of(&e),
                Html(placeholder(f)),
            )
                .into_response()
        }
    }
}

/// What stands in a slot whose owner failed or was too slow.
pub fn placeholder(f: &Fragment) -> String {
    format!(
        "<h2>{}</h2><p class=\"placeholder\">{} is unavailable right now.</p>",
        escape(f.title),
        escape(f.service)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_cookies_are_secure_unless_turned_off() {
        let [token, user] = super::session_cookies(Some(("t0k", "ada<x>")), true);
        assert_eq!(
            token,
            "msa_token=t0k; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(user, "msa_user=adax; Path=/; SameSite=Strict; Secure");
        let [gone, _] = super::session_cookies(None, true);
        assert!(gone.contains("Max-Age=0") && gone.ends_with("; Secure"));
        let [plain, _] = super::session_cookies(Some(("t", "u")), false);
        assert!(!plain.contains("Secure"));
    }

    use super::*;

    const ORDERS: Fragment = Fragment {
        name: "orders",
        title: "Orders",
        service: "orders",
        port: 8101,
    };

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn the_shell_shows_sign_in_or_slots() {
        let signed_out = shell("shop", &[ORDERS], None, Some("wrong <password>"));
        assert!(
            signed_out.contains("id=\"sign-in\"") && signed_out.contains("wrong &lt;password&gt;")
        );
        assert!(!signed_out.contains("msa-fragment src"));
        let signed_in = shell("shop", &[ORDERS], Some("ada"), None);
        assert!(signed_in.contains("<msa-fragment src=\"fragments/orders\""));
        assert!(signed_in.contains("<a href=\"#orders\">Orders</a>"));
        assert_eq!(signed_in.matches("<main>").count(), 1, "{signed_in}");
        assert!(signed_in.contains("</header><nav>"), "{signed_in}");
        assert!(placeholder(&ORDERS).contains("orders is unavailable"));
        assert!(signed_in.contains(">ada<"));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; msa_token=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, TOKEN_COOKIE), Some("abc"));
        assert_eq!(token(&h), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
