//! The console's live view of the running system: the registry's instances with their health,
//! and what their `/metrics` say, scraped every [`EVERY`]: request rate, error rate and p95
//! latency per process and route (from the counters' and histogram buckets' growth between two
//! scrapes), and the gateway's breaker state per service.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::platform::discovery::Watcher;
use crate::platform::registry::Snapshot;
use crate::service::http_client::HttpClient;

/// How often every instance is scraped.
pub const EVERY: Duration = Duration::from_secs(2);

/// One line of the Prometheus text format: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text format (comments and malformed lines skipped).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.trim().parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once("=\"")?;
                    Some((k.trim().to_string(), v.trim_end_matches('"').to_string()))
                })
                .collect();
            Some(Sample {
                name: name.to_string(),
                labels,
                value,
            })
        })
        .collect()
}

/// Requests of one process and route over the last scrape interval.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRate {
    pub process: String,
    pub route: String,
    pub per_second: f64,
    pub errors_per_second: f64,
    /// The 95th percentile latency, from the histogram's buckets; `None` without requests.
    pub p95_ms: Option<f64>,
}

/// A breaker of the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Breaker {
    pub service: String,
    /// `closed`, `open` or `half-open`.
    pub state: &'static str,
}

/// The messaging of one process, summed over its instances.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Messaging {
    pub process: String,
    /// Outbox rows not yet on the broker.
    pub outbox_pending: f64,
    /// Events dead-lettered since the instances started.
    pub dead_letters: f64,
    /// The largest read-model lag, in seconds.
    pub lag_seconds: f64,
    pub sagas_started: f64,
    pub compensations: f64,
}

impl Messaging {
    /// Adds one instance's samples.
    fn add(&mut self, samples: &[Sample]) {
        for s in samples {
            match s.name.as_str() {
                "outbox_pending" => self.outbox_pending += s.value,
                "events_dead_lettered_total" => self.dead_letters += s.value,
                "projection_lag_seconds" => self.lag_seconds = self.lag_seconds.max(s.value),
                "sagas_started_total" => self.sagas_started += s.value,
                "saga_compensations_total" => self.compensations += s.value,
                _ => {}
            }
        }
    }

    fn is_empty(&self) -> bool {
        *self
            == Self {
                process: self.process.clone(),
                ..Self::default()
            }
    }
}

/// What the live page shows.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub registry: Snapshot,
    pub routes: Vec<RouteRate>,
    pub breakers: Vec<Breaker>,
    /// Processes with an outbox, consumers, read models or sagas.
    pub messaging: Vec<Messaging>,
    /// Instances whose `/metrics` did not answer at the last scrape.
    pub unreachable: Vec<String>,
}

/// Counters per (route, status) and histogram buckets per (route, le) of one instance.
#[derive(Debug, Clone, Default)]
struct Totals {
    requests: BTreeMap<(String, String), f64>,
    buckets: BTreeMap<(String, String), f64>,
}

fn totals(samples: &[Sample]) -> Totals {
    let mut t = Totals::default();
    for s in samples {
        let route = s.labels.get("route").cloned().unwrap_or_default();
        match s.name.as_str() {
            "http_requests_total" => {
                let status = s.labels.get("status").cloned().unwrap_or_default();
                *t.requests.entry((route, status)).or_default() += s.value;
            }
            "http_request_duration_seconds_bucket" => {
                let le = s.labels.get("le").cloned().unwrap_or_default();
                *t.buckets.entry((route, le)).or_default() += s.value;
            }
            _ => {}
        }
    }
    t
}

/// The rates of one process's routes between two scrapes `seconds` apart.
fn rates(process: &str, before: &Totals, now: &Totals, seconds: f64) -> Vec<RouteRate> {
    let mut by_route: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for ((route, status), value) in &now.requests {
        let delta = (value
            - before
                .requests
                .get(&(route.clone(), status.clone()))
                .unwrap_or(&0.0))
        .max(0.0);
        let e = by_route.entry(route).or_default();
        e.0 += delta;
        if status.starts_with('5') {
            e.1 += delta;
        }
    }
    by_route
        .into_iter()
        .filter(|(_, (n, _))| *n > 0.0)
        .map(|(route, (n, errors))| {
            let mut buckets: Vec<(f64, f64)> = now
                .buckets
                .iter()
                .filter(|((r, _), _)| r == route)
                .filter_map(|((r, le), v)| {
                    let le_value = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().ok()?
                    };
                    let was = before.buckets.get(&(r.clone(), le.clone())).unwrap_or(&0.0);
                    Some((le_value, (v - was).max(0.0)))
                })
                .collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            let total = buckets.last().map_or(0.0, |b| b.1);
            let p95_ms = buckets
                .iter()
                .find(|(_, count)| total > 0.0 && *count >= 0.95 * total)
                .map(|(le, _)| le * 1000.0);
            RouteRate {
                process: process.to_string(),
                route: route.to_string(),
                per_second: n / seconds,
                errors_per_second: errors / seconds,
                p95_ms,
            }
        })
        .collect()
}

fn breakers(samples: &[Sample]) -> Vec<Breaker> {
    samples
        .iter()
        .filter(|s| s.name == "gateway_breaker_state")
        .map(|s| Breaker {
            service: s.labels.get("service").cloned().unwrap_or_default(),
            state: match s.value as i64 {
                1 => "open",
                2 => "half-open",
                _ => "closed",
            },
        })
        .collect()
}

/// Keeps [`View`] current: follows the registry and scrapes every instance.
#[derive(Clone, Default)]
pub struct Live {
    view: Arc<RwLock<View>>,
}

impl Live {
    /// The latest view.
    pub fn view(&self) -> View {
        self.view.read().map(|v| v.clone()).unwrap_or_default()
    }

    /// Starts following the registry at `registry_url`.
    pub fn start(registry_url: &str) -> Self {
        let live = Self::default();
        let watcher = Watcher::start(crate::platform::discovery::RegistryClient::new(
            registry_url,
        ));
        let view = live.view.clone();
        tokio::spawn(async move {
            let http = HttpClient::new();
            let mut previous: BTreeMap<String, (Instant, Totals)> = BTreeMap::new();
            loop {
                tokio::time::sleep(EVERY).await;
                let snapshot = (*watcher.current()).clone();
                let mut routes = Vec::new();
                let mut gates = Vec::new();
                let mut unreachable = Vec::new();
                let mut messaging = Vec::new();
                for (service, instances) in &snapshot.services {
                    let mut m = Messaging {
                        process: service.clone(),
                        ..Messaging::default()
                    };
                    for i in instances {
                        // The gateway's metrics are on its internal listener.
                        let address = i.metadata.get("metrics").unwrap_or(&i.address);
                        let text = scrape(&http, address).await;
                        let Some(text) = text else {
                            unreachable.push(format!("{service} {}", i.address));
                            continue;
                        };
                        let samples = parse(&text);
                        m.add(&samples);
                        gates.extend(breakers(&samples));
                        let now = (Instant::now(), totals(&samples));
                        if let Some((at, before)) = previous.get(&i.id) {
                            let seconds = now.0.duration_since(*at).as_secs_f64().max(0.001);
                            routes.extend(rates(service, before, &now.1, seconds));
                        }
                        previous.insert(i.id.clone(), now);
                    }
                    if !m.is_empty() {
                        messaging.push(m);
                    }
                }
                if let Ok(mut v) = view.write() {
                    *v = View {
                        registry: snapshot,
                        routes,
                        breakers: gates,
                        messaging,
                        unreachable,
                    };
                }
            }
        });
        live
    }
}

async fn scrape(http: &HttpClient, address: &str) -> Option<String> {
    use http_body_util::BodyExt;
    let request = http::Request::get(format!("http://{address}/metrics"))
        .body(axum::body::Body::empty())
        .ok()?;
    let response = http.send(request, Duration::from_secs(2)).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let bytes = tokio::time::timeout(Duration::from_secs(2), response.into_body().collect())
        .await
        .ok()?
        .ok()?
        .to_bytes();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE http_requests_total counter
http_requests_total{method="GET",route="/orders",status="200"} 10
http_requests_total{method="GET",route="/orders",status="503"} 0
http_request_duration_seconds_bucket{method="GET",route="/orders",status="200",le="0.005"} 10
http_request_duration_seconds_bucket{method="GET",route="/orders",status="200",le="0.05"} 10
http_request_duration_seconds_bucket{method="GET",route="/orders",status="200",le="+Inf"} 10
gateway_breaker_state{service="orders"} 0
"#;

    const AFTER: &str = r#"http_requests_total{method="GET",route="/orders",status="200"} 30
http_requests_total{method="GET",route="/orders",status="503"} 10
http_request_duration_seconds_bucket{method="GET",route="/orders",status="200",le="0.005"} 12
http_request_duration_seconds_bucket{method="GET",route="/orders",status="200",le="0.05"} 29
http_request_duration_seconds_bucket{method="GET",route="/orders",status="200",le="+Inf"} 30
gateway_breaker_state{service="orders"} 1
gateway_breaker_state{service="products"} 2
"#;

    #[test]
    fn rates_errors_p95_and_breakers_come_from_two_scrapes() {
        let before = totals(&parse(BEFORE));
        let after = parse(AFTER);
        let r = rates("orders", &before, &totals(&after), 10.0);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].route, "/orders");
        assert!((r[0].per_second - 3.0).abs() < 1e-9, "30 requests in 10 s");
        assert!((r[0].errors_per_second - 1.0).abs() < 1e-9, "10 503s");
        // 20 new observations: 2 under 5 ms, 19 under 50 ms: the 95th is under 50 ms.
        assert_eq!(r[0].p95_ms, Some(50.0));
        assert_eq!(
            breakers(&after),
            [
                Breaker {
                    service: "orders".into(),
                    state: "open"
                },
                Breaker {
                    service: "products".into(),
                    state: "half-open"
                }
            ]
        );
        assert!(rates("orders", &totals(&after), &totals(&after), 2.0).is_empty());
        let mut m = Messaging::default();
        m.add(&parse(
            "outbox_pending 3\nevents_dead_lettered_total{consumer=\"a\"} 2\nevents_dead_lettered_total{consumer=\"b\"} 1\nprojection_lag_seconds{view=\"v\"} 0.5\n",
        ));
        assert_eq!(
            (m.outbox_pending, m.dead_letters, m.lag_seconds),
            (3.0, 3.0, 0.5)
        );
        assert!(!m.is_empty() && Messaging::default().is_empty());
        assert!(parse("garbage line\n{}\n").is_empty());
    }
}
