//! The checks, each a function of the running [`System`] that returns what went wrong. They
//! drive the system only from outside: HTTP through the gateway (or a BFF) with real tokens,
//! the test hooks of `runtime::service::test_hooks`, `/metrics`, the registry, and the containers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::access::{Access, access};
use crate::boot::{HEARTBEAT_MS, System};
use crate::manifest::{Aggregate, Composition, Entity, EventFlow, Kind, Route, Saga, View};

pub type Outcome = Result<(), String>;

/// Ids the checks created and left in place, by entity path (`/orders` → id), for the checks
/// that need an existing entity (compositions).
pub type Created = BTreeMap<String, String>;

fn json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("manifest body `{text}`: {e}"))
}

/// One request; the answer's status and JSON body (`Null` when it has none).
pub async fn call(
    sys: &System,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), String> {
    let mut r = sys.http.request(method.clone(), url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    let r = r.send().await.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// `call` that wants `expect`.
async fn expect(
    sys: &System,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
    expect: StatusCode,
) -> Result<Value, String> {
    let (status, answer) = call(sys, method.clone(), url, token, body).await?;
    if status == expect {
        Ok(answer)
    } else {
        Err(format!(
            "{method} {url}: {status}, expected {expect}: {answer}"
        ))
    }
}

/// The user that reads something protected by `read` (`None`: no auth, no token).
fn role_for(sys: &System, read: &[String]) -> Option<String> {
    crate::access::reader(&sys.manifest.roles, read)
}

/// The users that write and read something protected by `read` and `write`.
fn users(sys: &System, read: &[String], write: &[String]) -> Access {
    access(&sys.manifest.roles, read, write)
}

/// A writer the blueprint does not let read gets 403 on `GET url`.
async fn refused(sys: &System, who: &Access, url: &str, path: &str) -> Outcome {
    let Some(role) = &who.refused else {
        return Ok(());
    };
    let (status, _) = call(sys, Method::GET, url, sys.token(Some(role)), None).await?;
    if status != StatusCode::FORBIDDEN {
        return Err(format!(
            "GET {path} as {role} (writes, may not read): {status}, expected 403"
        ));
    }
    Ok(())
}

/// Where an entity is used: through the gateway, or on its service when it is internal.
fn entity_base(sys: &System, e: &Entity) -> Result<String, String> {
    let host = if e.internal {
        sys.url(&e.service)?
    } else {
        sys.gateway()?
    };
    Ok(format!("{host}{}", e.path))
}

/// Every instance answers ready, and (with a registry) every service and BFF has all its
/// instances registered.
pub async fn healthy_and_registered(sys: &System) -> Outcome {
    for (name, instances) in &sys.instances {
        for i in instances {
            let url = format!("{}/health/ready", i.url());
            expect(sys, Method::GET, &url, None, None, StatusCode::OK)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
        }
    }
    if !sys.manifest.registry {
        return Ok(());
    }
    let registry = sys.url("registry")?;
    for p in &sys.manifest.processes {
        if !matches!(p.kind, Kind::Service | Kind::Bff) {
            continue;
        }
        let want = sys.instances.get(&p.name).map_or(0, Vec::len);
        wait_registered(sys, &registry, &p.name, want, Duration::from_secs(15)).await?;
    }
    Ok(())
}

async fn registered(sys: &System, registry: &str, service: &str) -> Result<usize, String> {
    let url = format!("{registry}/registry/services/{service}");
    let (_, list) = call(sys, Method::GET, &url, None, None).await?;
    Ok(list.as_array().map_or(0, Vec::len))
}

async fn wait_registered(
    sys: &System,
    registry: &str,
    service: &str,
    want: usize,
    within: Duration,
) -> Outcome {
    let deadline = Instant::now() + within;
    loop {
        let got = registered(sys, registry, service).await?;
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{service}: {got} instances registered after {within:?}, expected {want}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every registered instance of `service` reports `health` (`up` or `down`).
async fn wait_health(
    sys: &System,
    registry: &str,
    service: &str,
    health: &str,
    within: Duration,
) -> Outcome {
    let url = format!("{registry}/registry/services/{service}");
    let deadline = Instant::now() + within;
    loop {
        let (_, list) = call(sys, Method::GET, &url, None, None).await?;
        let all = list.as_array().cloned().unwrap_or_default();
        if !all.is_empty() && all.iter().all(|i| i["health"] == health) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{service}: not every instance reports {health} after {within:?}: {list}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A path that reached its service: 2xx, or 404 for a probe of an unknown id.
fn passed(status: StatusCode) -> bool {
    status.is_success() || status == StatusCode::NOT_FOUND
}

/// A declared role (any signed-in user when none is declared) passes, another role gets 403,
/// no token gets 401.
pub async fn route(sys: &System, r: &Route) -> Outcome {
    let base = match &r.via {
        Some(bff) => format!("{}/{bff}", sys.gateway()?),
        None => sys.gateway()?,
    };
    let url = format!("{base}{}", r.path);
    let allowed = role_for(sys, &r.read);
    let (status, body) = call(sys, Method::GET, &url, sys.token(allowed.as_deref()), None).await?;
    if !passed(status) {
        return Err(format!("GET {} as {allowed:?}: {status} {body}", r.path));
    }
    if sys.manifest.roles.is_empty() {
        return Ok(());
    }
    let (status, _) = call(sys, Method::GET, &url, None, None).await?;
    if status != StatusCode::UNAUTHORIZED {
        return Err(format!(
            "GET {} without a token: {status}, expected 401",
            r.path
        ));
    }
    // A role outside the declared ones (never the admin, who holds them all).
    if let Some(other) = sys
        .manifest
        .roles
        .iter()
        .find(|x| !crate::access::holds(x, &r.read))
    {
        let (status, _) = call(sys, Method::GET, &url, sys.token(Some(other)), None).await?;
        if status != StatusCode::FORBIDDEN {
            return Err(format!("GET {} as {other}: {status}, expected 403", r.path));
        }
    }
    Ok(())
}

/// Create, read, list, update, delete through the gateway (an internal entity on its
/// service), writing as a writer and reading as a reader; a writer that may not read is
/// refused.
pub async fn crud(sys: &System, e: &Entity) -> Outcome {
    let who = users(sys, &e.read, &e.write);
    let (token, reader) = (
        sys.token(who.writer.as_deref()),
        sys.token(who.reader.as_deref()),
    );
    let base = entity_base(sys, e)?;
    let sent = json(&e.create)?;
    let created = expect(
        sys,
        Method::POST,
        &base,
        token,
        Some(&sent),
        StatusCode::CREATED,
    )
    .await?;
    let id = created["id"]
        .as_str()
        .ok_or_else(|| format!("POST {}: no id in {created}", e.path))?
        .to_string();
    same_fields(&e.compare, &sent, &created, "create")?;
    let one = format!("{base}/{id}");
    let read = expect(sys, Method::GET, &one, reader, None, StatusCode::OK).await?;
    same_fields(&e.compare, &sent, &read, "read")?;
    refused(sys, &who, &one, &format!("{}/{id}", e.path)).await?;
    let list = expect(sys, Method::GET, &base, reader, None, StatusCode::OK).await?;
    if !list.to_string().contains(&id) {
        return Err(format!("GET {}: the new {} is not listed", e.path, e.name));
    }
    // Updates carry the version they were based on (optimistic concurrency): on 409 (the
    // entity changed meanwhile, e.g. by a saga it started) read it again and retry.
    let mut changed = json(&e.update)?;
    let mut current = read;
    for attempt in 1..=5 {
        if let Some(version) = current.get("version") {
            changed["version"] = version.clone();
        }
        let (status, answer) = call(sys, Method::PUT, &one, token, Some(&changed)).await?;
        match status {
            StatusCode::OK => break,
            StatusCode::CONFLICT if attempt < 5 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                current = expect(sys, Method::GET, &one, reader, None, StatusCode::OK).await?;
            }
            _ => {
                return Err(format!(
                    "PUT {}/{id}: {status}, expected 200: {answer}",
                    e.path
                ));
            }
        }
    }
    let read = expect(sys, Method::GET, &one, reader, None, StatusCode::OK).await?;
    same_fields(&e.compare, &changed, &read, "update")?;
    expect(
        sys,
        Method::DELETE,
        &one,
        token,
        None,
        StatusCode::NO_CONTENT,
    )
    .await?;
    expect(sys, Method::GET, &one, reader, None, StatusCode::NOT_FOUND).await?;
    Ok(())
}

fn same_fields(fields: &[String], sent: &Value, got: &Value, what: &str) -> Outcome {
    for f in fields {
        if sent.get(f) != got.get(f) {
            return Err(format!(
                "{what}: field `{f}` sent {} came back {}",
                sent.get(f).unwrap_or(&Value::Null),
                got.get(f).unwrap_or(&Value::Null)
            ));
        }
    }
    Ok(())
}

/// Creates one entity for a later check and returns its id.
pub async fn create(
    sys: &System,
    path: &str,
    body: &Value,
    role: Option<&str>,
) -> Result<String, String> {
    let url = format!("{}{path}", sys.gateway()?);
    let created = expect(
        sys,
        Method::POST,
        &url,
        sys.token(role),
        Some(body),
        StatusCode::CREATED,
    )
    .await?;
    created["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("POST {path}: no id in {created}"))
}

/// Every command of the aggregate as a writer, then its state and history as a reader; a
/// writer that may not read is refused.
pub async fn aggregate(sys: &System, a: &Aggregate) -> Outcome {
    let gateway = sys.gateway()?;
    let who = users(sys, &a.read, &a.write);
    let (token, reader) = (
        sys.token(who.writer.as_deref()),
        sys.token(who.reader.as_deref()),
    );
    let mut commands = a.commands.iter();
    let first = commands.next().ok_or("no commands")?;
    let base = format!("{gateway}{}", a.path);
    let created = expect(
        sys,
        Method::POST,
        &base,
        token,
        Some(&json(&first.body)?),
        StatusCode::CREATED,
    )
    .await?;
    let id = created["id"]
        .as_str()
        .ok_or_else(|| format!("POST {}: no id in {created}", a.path))?
        .to_string();
    let mut count = 1;
    for c in commands {
        let url = format!("{base}/{id}/{}", c.name);
        let (status, answer) = call(sys, Method::POST, &url, token, Some(&json(&c.body)?)).await?;
        if !status.is_success() {
            return Err(format!("command {}: {status} {answer}", c.name));
        }
        count += 1;
    }
    let state = format!("{base}/{id}");
    expect(sys, Method::GET, &state, reader, None, StatusCode::OK).await?;
    refused(sys, &who, &state, &format!("{}/{id}", a.path)).await?;
    let history = expect(
        sys,
        Method::GET,
        &format!("{base}/{id}/history"),
        reader,
        None,
        StatusCode::OK,
    )
    .await?;
    let events = history
        .as_array()
        .or_else(|| history["events"].as_array())
        .map_or(0, Vec::len);
    if events != count {
        return Err(format!(
            "history has {events} events after {count} commands: {history}"
        ));
    }
    Ok(())
}

/// The sum of the consumer's delivery counters (handled, retried, dead-lettered) for `event`
/// over its instances: it grows when an event reaches the consumer, whatever its handler does
/// with made-up data.
async fn deliveries(sys: &System, consumer: &str, event: &str) -> Result<f64, String> {
    let mut total = 0.0;
    for i in sys.instances.get(consumer).into_iter().flatten() {
        let (_, text) = call(
            sys,
            Method::GET,
            &format!("{}/metrics", i.url()),
            None,
            None,
        )
        .await?;
        let text = text.as_str().unwrap_or_default().to_string();
        let labels = [
            format!("consumer=\"{consumer}\""),
            format!("event_type=\"{event}\""),
        ];
        total += text
            .lines()
            .filter(|l| {
                [
                    "events_handled_total{",
                    "events_retried_total{",
                    "events_dead_lettered_total{",
                ]
                .iter()
                .any(|m| l.starts_with(m))
                    && labels.iter().all(|x| l.contains(x.as_str()))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    Ok(total)
}

/// Publishes `e` through the publisher's outbox (test hook).
pub async fn publish(sys: &System, e: &EventFlow) -> Outcome {
    let url = format!("{}/admin/test/publish/{}", sys.url(&e.publisher)?, e.event);
    expect(
        sys,
        Method::POST,
        &url,
        None,
        Some(&json(&e.payload)?),
        StatusCode::ACCEPTED,
    )
    .await
    .map(|_| ())
}

/// Counts before publishing, for [`reached`].
pub async fn counts(sys: &System, e: &EventFlow) -> Result<Vec<f64>, String> {
    let mut out = Vec::new();
    for c in &e.consumers {
        out.push(deliveries(sys, c, &e.event).await?);
    }
    Ok(out)
}

/// Waits until every consumer's count grew past `before`.
pub async fn reached(sys: &System, e: &EventFlow, before: &[f64], within: Duration) -> Outcome {
    let deadline = Instant::now() + within;
    for (c, was) in e.consumers.iter().zip(before) {
        loop {
            if deliveries(sys, c, &e.event).await? > *was {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{} never reached {c} (within {within:?})", e.event));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// The event goes from its publisher's outbox to every consumer.
pub async fn event(sys: &System, e: &EventFlow) -> Outcome {
    let before = counts(sys, e).await?;
    publish(sys, e).await?;
    reached(sys, e, &before, Duration::from_secs(30)).await
}

/// The view gets a row for the event that creates its rows.
pub async fn view(sys: &System, v: &View) -> Outcome {
    let flow = sys
        .manifest
        .events
        .iter()
        .find(|f| f.event == v.created_by)
        .ok_or_else(|| format!("no publisher of {} to feed the view", v.created_by))?;
    let payload = json(&flow.payload)?;
    let key = payload[&v.key]
        .as_str()
        .ok_or_else(|| format!("{} has no `{}`", v.created_by, v.key))?
        .to_string();
    publish(sys, flow).await?;
    let url = format!("{}{}/{key}", sys.gateway()?, v.path);
    let role = role_for(sys, &v.read);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = call(sys, Method::GET, &url, sys.token(role.as_deref()), None).await?;
        if status == StatusCode::OK {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "GET {}/{key}: still {status} after 30s: {body}",
                v.path
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts the saga and waits for the owner entity's final status; returns it with the id and
/// the ids of the setup entities.
async fn run_saga(
    sys: &System,
    s: &Saga,
    refusing: bool,
) -> Result<(String, String, Vec<String>), String> {
    let mut body = json(&s.body)?;
    let mut setup_ids = Vec::new();
    for setup in &s.setups {
        let entity = match (&setup.refusing, refusing) {
            (Some(r), true) => json(r)?,
            _ => json(&setup.body)?,
        };
        let writer = users(sys, &setup.read, &setup.write).writer;
        let id = create(sys, &setup.path, &entity, writer.as_deref()).await?;
        body[&setup.into] = Value::String(id.clone());
        setup_ids.push(id);
    }
    let gateway = sys.gateway()?;
    let who = users(sys, &s.read, &s.write);
    let (status, started) = call(
        sys,
        Method::POST,
        &format!("{gateway}{}", s.start),
        sys.token(who.writer.as_deref()),
        Some(&body),
    )
    .await?;
    if !status.is_success() {
        return Err(format!("start {}: {status} {started}", s.name));
    }
    let id = started["id"]
        .as_str()
        .ok_or_else(|| format!("start {}: no id in {started}", s.name))?
        .to_string();
    let status = saga_end(sys, s, &id).await?;
    Ok((status, id, setup_ids))
}

/// Waits (45 s at most) until the instance `id` of saga `s`, however it was started, has left
/// its running status, and returns the status it ended in, read as one of the saga's readers.
pub async fn saga_end(sys: &System, s: &Saga, id: &str) -> Result<String, String> {
    let url = format!("{}{}/{id}", sys.gateway()?, s.entity);
    let deadline = Instant::now() + Duration::from_secs(45);
    let reader = sys.token(users(sys, &s.read, &s.write).reader.as_deref());
    loop {
        let (_, entity) = call(sys, Method::GET, &url, reader, None).await?;
        let status = entity[&s.status_field]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !status.is_empty() && status != s.running {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "saga {} still `{status}` after 45s: {entity}",
                s.name
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The success path: the owner entity ends in the success status.
pub async fn saga_success(sys: &System, s: &Saga, created: &mut Created) -> Outcome {
    let (status, id, _) = run_saga(sys, s, false).await?;
    if status != s.success {
        return Err(format!(
            "saga {} ended `{status}`, expected `{}`",
            s.name, s.success
        ));
    }
    // The flow goes on past the owner: each mailing worker that consumes the success event has
    // mailed about this instance.
    for worker in &s.mailed_by {
        let sink = sys
            .mail
            .as_ref()
            .ok_or_else(|| format!("{worker} mails, but no SMTP sink runs"))?;
        sink.wait_for(&id)
            .await
            .map_err(|e| format!("saga {} succeeded, but {worker}: {e}", s.name))?;
    }
    created.insert(s.entity.clone(), id);
    Ok(())
}

/// The failure path: a refused step (test switch, or data the step refuses) ends the saga in
/// the failure status, the steps done before it compensated.
pub async fn saga_failure(sys: &System, s: &Saga) -> Outcome {
    let switch = s.fail_step.as_ref().map(|f| {
        let (service, step) = f.split_once('.').unwrap_or((f, ""));
        (service.to_string(), step.to_string())
    });
    if let Some((service, step)) = &switch {
        set_failing(sys, service, &[step.as_str()]).await?;
    }
    let outcome = run_saga(sys, s, switch.is_none()).await;
    if let Some((service, _)) = &switch {
        set_failing(sys, service, &[]).await?;
    }
    let (status, _, setup_ids) = outcome?;
    if status != s.failure {
        return Err(format!(
            "saga {} ended `{status}`, expected `{}`",
            s.name, s.failure
        ));
    }
    // What the steps reserved is given back (compensated, or never taken).
    for (setup, id) in s.setups.iter().zip(&setup_ids) {
        let Some(field) = &setup.reserved else {
            continue;
        };
        let url = format!("{}{}/{id}", sys.gateway()?, setup.path);
        let reader = users(sys, &setup.read, &setup.write).reader;
        let token = sys.token(reader.as_deref());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, entity) = call(sys, Method::GET, &url, token, None).await?;
            let held = match &entity[field] {
                Value::String(t) => t.parse::<f64>().ok(),
                v => v.as_f64(),
            };
            if held == Some(0.0) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}/{id}: `{field}` is {} 30s after the saga failed, expected 0",
                    setup.path, entity[field]
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

async fn set_failing(sys: &System, service: &str, steps: &[&str]) -> Outcome {
    for i in sys.instances.get(service).into_iter().flatten() {
        let url = format!("{}/admin/test/fail-steps", i.url());
        let body = serde_json::json!(steps);
        expect(
            sys,
            Method::PUT,
            &url,
            None,
            Some(&body),
            StatusCode::NO_CONTENT,
        )
        .await?;
    }
    Ok(())
}

/// The composition answers for an entity the suite created: one a saga made, or else one it
/// creates now from the entity's sample body, as a writer of it.
pub async fn composition(sys: &System, c: &Composition, created: &Created) -> Outcome {
    let id = match created.get(&c.entity) {
        Some(id) => id.clone(),
        None => {
            let e = sys
                .manifest
                .entities
                .iter()
                .find(|e| e.path == c.entity && !e.internal)
                .ok_or_else(|| format!("no entity at {} to compose", c.entity))?;
            let who = users(sys, &e.read, &e.write);
            create(sys, &e.path, &json(&e.create)?, who.writer.as_deref()).await?
        }
    };
    let id = &id;
    // Through the gateway, as clients reach a BFF (it swaps a session for its token).
    let url = format!("{}/{}{}", sys.gateway()?, c.bff, c.path.replace("{id}", id));
    let role = role_for(sys, &c.read);
    expect(
        sys,
        Method::GET,
        &url,
        sys.token(role.as_deref()),
        None,
        StatusCode::OK,
    )
    .await
    .map(|_| ())
}

/// One instance of a replicated service killed: once the registry evicted it, no request
/// fails. The instance is started again afterwards.
pub async fn replica_killed(
    sys: &mut System,
    service: &str,
    path: &str,
    read: &[String],
) -> Outcome {
    let registry = sys.url("registry")?;
    let want = sys.instances.get(service).map_or(0, Vec::len);
    if let Some(i) = sys.instances.get_mut(service).and_then(|v| v.first_mut()) {
        i.kill();
    }
    // Eviction takes 3 missed heartbeats; the gateway's watch sees it at once.
    wait_registered(
        sys,
        &registry,
        service,
        want - 1,
        Duration::from_millis(HEARTBEAT_MS * 3 + 10_000),
    )
    .await?;
    let url = format!("{}{path}", sys.gateway()?);
    let role = role_for(sys, read);
    let mut failed = Vec::new();
    for _ in 0..30 {
        let (status, _) = call(sys, Method::GET, &url, sys.token(role.as_deref()), None).await?;
        if !passed(status) {
            failed.push(status);
        }
    }
    let http = sys.http.clone();
    if let Some(i) = sys.instances.get_mut(service).and_then(|v| v.first_mut()) {
        i.restart()?;
        i.wait_ready(&http, Duration::from_secs(60)).await?;
    }
    wait_registered(sys, &registry, service, want, Duration::from_secs(15)).await?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of 30 requests failed after the eviction: {failed:?}",
            failed.len()
        ))
    }
}

/// The broker restarted: an event published while it was down still reaches its consumers
/// (the outbox keeps it until the broker is back).
pub async fn broker_restarted(sys: &System, e: &EventFlow) -> Outcome {
    let broker = sys.broker.as_ref().ok_or("no broker")?;
    let before = counts(sys, e).await?;
    broker.stop().await?;
    let published = publish(sys, e).await;
    broker.start().await?;
    published?;
    reached(sys, e, &before, Duration::from_secs(90)).await
}

/// The database restarted: while it is down, the processes that use it report `down` to the
/// registry (when there is one), so nothing routes to them; once it is back, every one reports
/// ready and `up` again and serves.
pub async fn database_restarted(sys: &System) -> Outcome {
    let pg = sys.postgres.as_ref().ok_or("no database")?;
    let with_db: Vec<String> = sys
        .manifest
        .processes
        .iter()
        .filter(|p| p.database.is_some())
        .map(|p| p.name.clone())
        .collect();
    let registry = if sys.manifest.registry {
        Some(sys.url("registry")?)
    } else {
        None
    };
    pg.stop().await?;
    if let Some(registry) = &registry {
        for name in &with_db {
            if let Err(e) = wait_health(sys, registry, name, "down", Duration::from_secs(20)).await
            {
                pg.start().await?;
                return Err(e);
            }
        }
    }
    pg.start().await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    for p in sys
        .manifest
        .processes
        .iter()
        .filter(|p| p.database.is_some())
    {
        for i in sys.instances.get(&p.name).into_iter().flatten() {
            let url = format!("{}/health/ready", i.url());
            loop {
                let (status, _) = call(sys, Method::GET, &url, None, None).await?;
                if status == StatusCode::OK {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{} not ready 90s after the database restart: {status}",
                        p.name
                    ));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    if let Some(registry) = &registry {
        for name in &with_db {
            wait_health(sys, registry, name, "up", Duration::from_secs(20)).await?;
        }
    }
    if let Some(e) = sys.manifest.entities.first() {
        let writer = users(sys, &e.read, &e.write).writer;
        let (url, body) = (entity_base(sys, e)?, json(&e.create)?);
        let token = sys.token(writer.as_deref());
        expect(
            sys,
            Method::POST,
            &url,
            token,
            Some(&body),
            StatusCode::CREATED,
        )
        .await?;
    }
    Ok(())
}
