//! The gateway's route table: the blueprint's routes, plus the `routes` of the gateway's
//! configuration, which change while the gateway runs (a refreshable key on the config server).
//!
//! ```toml
//! # config/gateway.toml, served by the config server
//! refreshable = ["routes"]
//! [[routes]]
//! prefix = "/v2/orders"     # a new prefix, or one of the blueprint's to change its roles
//! service = "orders"        # one of the system's services
//! read = ["admin"]          # optional, default [] = any signed-in user
//! write = ["admin"]
//! public = false            # optional
//! ```
//!
//! A configured route replaces the blueprint's route of the same prefix; an entry naming an
//! unknown service, or malformed, is skipped with a warning and the rest still apply. Requests
//! take a snapshot of the table, so a change never splits a request between two tables.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::Route;

/// Strings of configured routes live as long as the process: the table hands out
/// `&'static str` (metric labels, breaker keys). Interned, so repeated refreshes of the same
/// routes allocate nothing new.
fn intern(s: &str) -> &'static str {
    static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(v) = seen.get(s) {
        return v;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    seen.insert(leaked);
    leaked
}

fn interned_list(v: Option<&serde_json::Value>) -> Result<&'static [&'static str], String> {
    let Some(v) = v else { return Ok(&[]) };
    let items = v.as_array().ok_or("roles must be a list")?;
    let list: Result<Vec<&'static str>, String> = items
        .iter()
        .map(|r| {
            r.as_str()
                .map(intern)
                .ok_or_else(|| "roles are strings".into())
        })
        .collect();
    Ok(Box::leak(list?.into_boxed_slice()))
}

/// The routes in effect, longest prefix first.
pub struct RouteTable {
    blueprint: Vec<Route>,
    /// Every service a route may name (those with a breaker and a balancer).
    services: Vec<&'static str>,
    current: RwLock<Arc<[Route]>>,
    last: Mutex<Option<serde_json::Value>>,
}

fn sorted(mut routes: Vec<Route>) -> Arc<[Route]> {
    routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    routes.into()
}

impl RouteTable {
    pub fn new(blueprint: Vec<Route>, services: Vec<&'static str>) -> Self {
        Self {
            current: RwLock::new(sorted(blueprint.clone())),
            blueprint,
            services,
            last: Mutex::new(None),
        }
    }

    /// The table of this moment.
    pub fn current(&self) -> Arc<[Route]> {
        self.current
            .read()
            .map_or_else(|p| p.into_inner().clone(), |t| t.clone())
    }

    fn parse(&self, entry: &serde_json::Value) -> Result<Route, String> {
        let text = |k: &str| entry.get(k).and_then(serde_json::Value::as_str);
        let prefix = text("prefix").ok_or("`prefix` is missing")?;
        if !prefix.starts_with('/') {
            return Err(format!("prefix `{prefix}` must start with /"));
        }
        let service = text("service").ok_or("`service` is missing")?;
        let service = self
            .services
            .iter()
            .copied()
            .find(|s| *s == service)
            .ok_or_else(|| format!("`{service}` is not a service of this system"))?;
        Ok(Route {
            prefix: intern(prefix.trim_end_matches('/')),
            service,
            read: interned_list(entry.get("read"))?,
            write: interned_list(entry.get("write"))?,
            public: entry
                .get("public")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// Replaces the configured routes by `configured` (a list of tables); returns how many
    /// apply. Malformed entries are skipped with a warning.
    pub fn apply(&self, configured: &serde_json::Value) -> usize {
        let mut routes = self.blueprint.clone();
        let mut applied = 0;
        for entry in configured.as_array().map(Vec::as_slice).unwrap_or_default() {
            match self.parse(entry) {
                Ok(route) => {
                    routes.retain(|r| r.prefix != route.prefix);
                    routes.push(route);
                    applied += 1;
                }
                Err(e) => tracing::warn!(error = %e, ?entry, "configured route skipped"),
            }
        }
        let table = sorted(routes);
        match self.current.write() {
            Ok(mut t) => *t = table,
            Err(p) => *p.into_inner() = table,
        }
        applied
    }

    /// Applies the config server's `routes` now and whenever they change.
    pub fn follow(self: &Arc<Self>, every: Duration) {
        let table = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(table) = table.upgrade() else { return };
                table.refresh();
                drop(table);
                tokio::time::sleep(every).await;
            }
        });
    }

    fn refresh(&self) {
        let now = crate::platform::config_server::value("routes");
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last == now {
            return;
        }
        let applied = self.apply(now.as_ref().unwrap_or(&serde_json::Value::Null));
        tracing::info!(configured = applied, "gateway routes updated");
        metrics::counter!("gateway_route_updates_total").increment(1);
        *last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::new(
            vec![Route {
                prefix: "/orders",
                service: "orders",
                read: &[],
                write: &["customer"],
                public: false,
            }],
            vec!["orders", "products"],
        )
    }

    #[test]
    fn configured_routes_add_and_replace_blueprint_routes() {
        let t = table();
        let applied = t.apply(&serde_json::json!([
            { "prefix": "/v2/products", "service": "products", "public": true },
            { "prefix": "/orders", "service": "orders", "write": ["admin"] },
            { "prefix": "/nowhere", "service": "ghosts" },
            { "service": "orders" },
        ]));
        assert_eq!(applied, 2);
        let now = t.current();
        let prefixes: Vec<&str> = now.iter().map(|r| r.prefix).collect();
        assert_eq!(prefixes, ["/v2/products", "/orders"]);
        assert_eq!(now[1].write, ["admin"]);
        assert!(now[0].public);
        // Removing the configuration brings the blueprint's table back.
        t.apply(&serde_json::Value::Null);
        assert_eq!(t.current()[0].write, ["customer"]);
        assert_eq!(t.current().len(), 1);
    }

    #[test]
    fn interning_reuses_strings() {
        assert!(std::ptr::eq(intern("/x"), intern("/x")));
    }
}
