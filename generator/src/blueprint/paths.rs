//! HTTP paths of a blueprint: the shape a path must have, and the routes the generated system
//! serves by itself, which no blueprint path may take.
//!
//! A path is `/segment/segment…`: each segment is ASCII letters (any case), digits, `-`, `_`
//! and `.`, so camelCase (`/paymentAuth`), versions (`/v1/orders`, `/v2.1/orders`) and nested
//! resources (`/owners/pets`) are paths. Every such character is safe wherever a path lands:
//! axum route strings, Rust string literals and `format!` strings, TOML, YAML and Markdown.
//! Composition paths (and their calls) may also hold `{param}` segments.

/// Which `{…}` segments a path may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Params {
    /// None: `expose` paths (the gateway routes them as prefixes).
    None,
    /// `{param}`: the path of a composition.
    Own,
    /// `{param}` or `{service.field}`: the path of a composition's call.
    Call,
}

/// A parameter name: lowercase ASCII words of letters and digits joined by single `-` or `_`,
/// starting with a letter (`id`, `order-id`). Its Rust variable is the name with `-` → `_`.
pub fn is_param_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with(['-', '_'])
        && !name.contains("--")
        && !name.contains("__")
        && !name.contains("-_")
        && !name.contains("_-")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

pub(super) fn shown(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// What is wrong with the shape of `path`, as the hint of its error; `None` when it is fine.
/// An empty path is reported where it is read.
pub fn shape_problem(path: &str, params: Params) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Some(format!("start it with `/`: `/{path}`"));
    };
    if rest.is_empty() {
        return Some("`/` alone names no resource: write `/segment`, e.g. `/orders`".into());
    }
    if rest.ends_with('/') {
        return Some(format!(
            "remove the trailing slash: `{}`",
            path.trim_end_matches('/')
        ));
    }
    for seg in rest.split('/') {
        if seg.is_empty() {
            return Some("remove the empty segment (`//`)".into());
        }
        if seg == "." || seg == ".." {
            return Some(format!("a segment cannot be `{seg}`"));
        }
        if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            match params {
                Params::None => {
                    return Some(
                        "parameters such as `{id}` belong in composition paths; the routes of an exposed path (`/orders/{id}`) are made for you".into(),
                    );
                }
                Params::Own if !is_param_name(inner) => {
                    return Some(format!(
                        "`{{{inner}}}`: a parameter is lowercase letters and digits joined by `-` or `_`, starting with a letter (`{{order-id}}`)"
                    ));
                }
                Params::Call
                    if !inner
                        .split_once('.')
                        .map_or(is_param_name(inner), |(s, f)| {
                            is_param_name(s) && is_param_name(f)
                        }) =>
                {
                    return Some(format!(
                        "`{{{inner}}}`: write `{{param}}` of the composition's path or `{{service.field}}` of an earlier call, in lowercase (`{{orders.customer-id}}`)"
                    ));
                }
                _ => continue,
            }
        }
        if let Some(c) = seg.chars().find(|c| !segment_char(*c)) {
            if matches!(c, '{' | '}') && params != Params::None {
                return Some(format!(
                    "`{seg}`: a parameter is a whole segment, as in `/orders/{{id}}`"
                ));
            }
            return Some(format!(
                "{} is not allowed in a path: segments hold letters, digits, `-`, `_` and `.`",
                shown(c)
            ));
        }
    }
    None
}

/// A route the generated system serves by itself: `prefix` alone, or also everything below it.
struct Builtin {
    route: &'static str,
    below: bool,
    what: &'static str,
}

const fn builtin(route: &'static str, below: bool, what: &'static str) -> Builtin {
    Builtin { route, below, what }
}

/// Served by every generated process (`runtime::service::server::standard_routes`, the admin routes
/// of messaging, sagas and the config client).
const EVERY_PROCESS: &[Builtin] = &[
    builtin("/metrics", false, "every process serves its metrics there"),
    builtin(
        "/health",
        true,
        "every process serves `/health/live` and `/health/ready`",
    ),
    builtin(
        "/docs",
        false,
        "every process serves its API docs page there",
    ),
    builtin(
        "/openapi.json",
        false,
        "every process serves its OpenAPI document there",
    ),
    builtin(
        "/admin",
        true,
        "the generated services serve their admin endpoints there (`/admin/dead-letters`, `/admin/sagas`, `/admin/config`, …)",
    ),
];

/// Routed by the gateway to the auth service when the blueprint has `[auth]`.
const AUTH: &[Builtin] = &[
    builtin(
        "/oauth",
        true,
        "the gateway routes it to the auth service (tokens)",
    ),
    builtin(
        "/.well-known",
        true,
        "the gateway routes it to the auth service (signing keys)",
    ),
    builtin(
        "/userinfo",
        false,
        "the gateway routes it to the auth service",
    ),
    builtin(
        "/users",
        false,
        "the gateway routes it to the auth service (user administration)",
    ),
    builtin(
        "/clients",
        false,
        "the gateway routes it to the auth service (client administration)",
    ),
];

/// Served by a BFF with `client = "web"` (`runtime::platform::web`).
const WEB: &[Builtin] = &[
    builtin(
        "/sign-in",
        false,
        "the web front end of a `web` BFF serves its sign-in there",
    ),
    builtin(
        "/sign-out",
        false,
        "the web front end of a `web` BFF serves its sign-out there",
    ),
    builtin(
        "/fragments",
        true,
        "the web front end of a `web` BFF serves its list fragments there",
    ),
];

fn under(route: &str, path: &str) -> bool {
    path.strip_prefix(route)
        .is_some_and(|rest| rest.starts_with('/'))
}

fn clash(list: &[Builtin], path: &str) -> Option<String> {
    list.iter()
        .find(|b| path == b.route || (b.below && under(b.route, path)))
        .map(|b| describe(b.route, b.below, b.what))
}

fn describe(route: &str, below: bool, what: &str) -> String {
    if below {
        format!("the built-in routes `{route}` and `{route}/…`: {what}")
    } else {
        format!("the built-in route `{route}`: {what}")
    }
}

/// The built-in route an exposed path would clash with at the gateway or in its service, if
/// any. `bffs` are the BFF names: the gateway routes `/<bff>` and below to each.
pub fn expose_clash(path: &str, auth: bool, bffs: &[&str]) -> Option<String> {
    clash(EVERY_PROCESS, path)
        .or_else(|| auth.then(|| clash(AUTH, path)).flatten())
        .or_else(|| {
            bffs.iter().find_map(|b| {
                let route = format!("/{b}");
                (path == route || under(&route, path))
                    .then(|| describe(&route, true, &format!("the gateway routes it to bff `{b}`")))
            })
        })
}

/// The built-in route a composition path of BFF `bff` would clash with, if any.
pub fn composition_clash(path: &str, bff: &str, web: bool) -> Option<String> {
    let own = format!("/{bff}");
    clash(EVERY_PROCESS, path)
        .or_else(|| web.then(|| clash(WEB, path)).flatten())
        .or_else(|| {
            (path == own || under(&own, path)).then(|| {
                describe(
                    &own,
                    true,
                    &format!("bff `{bff}` serves every route of its own under `/{bff}` already (the gateway's route to it)"),
                )
            })
        })
}

/// The name of the generated handler of a composition: its first segment that is not a
/// parameter, in snake_case (`/order-details/{id}` → `order_details`), else `composition`.
/// It mirrors the plan (`CompositionView::snake`).
pub fn composition_fn(path: &str) -> String {
    crate::names::to_snake(
        path.split('/')
            .find(|s| !s.is_empty() && !s.starts_with('{'))
            .unwrap_or("composition"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_api_paths_are_paths() {
        for p in [
            "/orders",
            "/paymentAuth",
            "/v1/orders",
            "/v2.1/orders",
            "/owners/pets",
            "/api/v1/owners/pets",
            "/order_lines",
            "/2fa",
        ] {
            assert_eq!(shape_problem(p, Params::None), None, "{p}");
        }
        assert_eq!(
            shape_problem("/v1/owners/{owner-id}/pets", Params::Own),
            None
        );
        assert_eq!(
            shape_problem("/customers/{orders.customer-id}", Params::Call),
            None
        );
    }

    #[test]
    fn broken_paths_say_what_to_fix() {
        let hint = |p: &str, params| shape_problem(p, params).unwrap_or_default();
        assert_eq!(hint("orders", Params::None), "start it with `/`: `/orders`");
        assert!(hint("/orders/", Params::None).contains("trailing slash"));
        assert!(hint("/a//b", Params::None).contains("empty segment"));
        assert!(hint("/a/../b", Params::None).contains("`..`"));
        assert!(hint("/my orders", Params::None).starts_with("a space"));
        assert!(hint("/orders\"", Params::None).starts_with("`\"`"));
        assert!(hint("/orders/{id}", Params::None).contains("composition paths"));
        assert!(hint("/orders-{id}", Params::Own).contains("whole segment"));
        assert!(hint("/orders/{orderId}", Params::Own).contains("lowercase"));
        assert!(hint("/orders/{a.b}", Params::Own).contains("lowercase"));
        assert!(hint("/orders/{Orders.id}", Params::Call).contains("lowercase"));
        assert!(hint("/", Params::None).contains("alone"));
        assert!(hint("/ä", Params::None).starts_with("`ä`"));
    }

    #[test]
    fn built_in_routes_are_taken() {
        let bffs = ["web-bff"];
        for p in ["/metrics", "/health", "/health/live", "/admin/x", "/docs"] {
            assert!(expose_clash(p, false, &bffs).is_some(), "{p}");
        }
        for p in [
            "/oauth/token",
            "/users",
            "/.well-known/jwks.json",
            "/userinfo",
        ] {
            assert!(expose_clash(p, true, &bffs).is_some(), "{p}");
            assert!(
                expose_clash(p, false, &bffs).is_none(),
                "{p} without [auth]"
            );
        }
        assert!(expose_clash("/web-bff/orders", false, &bffs).is_some());
        for p in [
            "/metrics-history",
            "/users/profiles",
            "/docs/guides",
            "/web-bffs",
        ] {
            assert!(expose_clash(p, true, &bffs).is_none(), "{p}");
        }
        assert!(composition_clash("/sign-in", "web-bff", true).is_some());
        assert!(composition_clash("/sign-in", "web-bff", false).is_none());
        assert!(composition_clash("/web-bff/x/{id}", "web-bff", false).is_some());
        assert!(composition_clash("/health/{id}", "web-bff", false).is_some());
    }

    #[test]
    fn compositions_are_named_after_their_first_segment() {
        assert_eq!(composition_fn("/order-details/{id}"), "order_details");
        assert_eq!(composition_fn("/paymentAuth/{id}"), "payment_auth");
        assert_eq!(composition_fn("/v1/orders/{id}"), "v1");
        assert_eq!(composition_fn("/{id}"), "composition");
    }
}
