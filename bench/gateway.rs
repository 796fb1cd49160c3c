//! Gateway throughput and latency next to nginx as a reverse proxy and to the upstream called
//! directly, in one run on this machine.
//! Run: `bash bench/gateway.sh` (installs nginx and wrk from apt when missing, then
//! `cargo bench -p msa-gen-tests --bench gateway`).
//!
//! One nginx serves as the upstream for both (`return 200`, plus the JWKS file) so the only
//! difference is the proxy:
//! - **nginx**: `proxy_pass` with upstream keep-alive, access log off;
//! - **gateway**: `runtime::platform::gateway` with the same middleware as the generated gateway
//!   (metrics, trace ids), log level `warn`, rate limit off, and JWT checks **on**: every
//!   request carries an EdDSA token verified against the JWKS.
//!
//! - **gateway, spans exported**: the same gateway in a process exporting every span over OTLP
//!   (`tracing = "otlp"`) to the upstream nginx, against the one above with export off;
//! - **direct**: the upstream itself, no proxy.
//!
//! wrk, per target after a 2 s warm-up: **throughput** with 2 threads and 64 connections for
//! 10 s (requests/s, p50, p99: at saturation these latencies are mostly queueing, 64 / rate), then
//! **latency** with 1 thread and 1 connection for 5 s (p50, p99 of requests that never wait for
//! each other). Printed: the ratio gateway / nginx of requests/s and the p50 and p99 each proxy
//! adds to the direct call at one connection.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use runtime::platform::gateway::{GatewayConfig, Route, Upstreams};
use runtime::resilience::breaker::BreakerConfig;
use runtime::security::jwt::{Claims, Jwks, Signer, Verifier, now_secs};

fn free_port() -> u16 {
    msa_gen_tests::free_port()
}

/// Counts the statuses other than 200 and prints them at the end (wrk's own summary only
/// says that there were some).
const STATUS_SCRIPT: &str = r#"
local threads = {}
setup = function(thread) table.insert(threads, thread) end
other = ""
response = function(status, headers, body)
  if status ~= 200 then other = other .. status .. " " end
end
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    local o = t:get("other")
    if o ~= "" then io.write("statuses other than 200: " .. o .. "\n") end
  end
end
"#;

/// What wrk measured for one target.
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// A wrk latency (`812.00us`, `1.23ms`, `1.01s`) in milliseconds.
fn millis(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// The latency of percentile `pct` (`"50%"`) in wrk's `--latency` distribution.
fn percentile(text: &str, pct: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(pct))
        .find_map(millis)
        .unwrap_or_else(|| panic!("no {pct} latency from wrk:\n{text}"))
}

/// The table of one run (per target, the saturated `busy` and one-connection `calm` figures;
/// direct, nginx and the gateway first), the ratio gateway / nginx, and what each proxy adds to
/// the direct call at one connection. `label` starts the summary lines.
fn print_runs<'a>(label: &str, names: impl Iterator<Item = &'a str>, busy: &[Run], calm: &[Run]) {
    println!("target                  64 conns: req/s   p50 ms   p99 ms | 1 conn: p50 ms   p99 ms");
    for ((name, b), c) in names.zip(busy).zip(calm) {
        println!(
            "{name:<24} {:>15.0} {:>8.2} {:>8.2} | {:>14.3} {:>8.3}",
            b.rps, b.p50_ms, b.p99_ms, c.p50_ms, c.p99_ms
        );
    }
    println!(
        "{label}ratio gateway / nginx (req/s)   {:>6.2}",
        busy[2].rps / busy[1].rps
    );
    for (i, name) in [(1, "nginx"), (2, "gateway")] {
        println!(
            "{label}added to direct at 1 conn, {name:<8} p50 {:>6.3} ms, p99 {:>6.3} ms",
            calm[i].p50_ms - calm[0].p50_ms,
            calm[i].p99_ms - calm[0].p99_ms
        );
    }
}

/// `cmd`, pinned to the cores `cpus` (taskset's list, `0` or `0,1`) when given.
fn pinned(cpus: Option<&str>, program: &str) -> Command {
    match cpus {
        Some(list) => {
            let mut c = Command::new("taskset");
            c.args(["-c", list, program]);
            c
        }
        None => Command::new(program),
    }
}

fn wrk(url: &str, token: &str, secs: u32, connections: u32) -> Run {
    let threads = if connections == 1 { 1 } else { 2 };
    wrk_on(None, threads, url, token, secs, connections)
}

/// wrk with `threads` threads, pinned to `cpus` when given.
fn wrk_on(
    cpus: Option<&str>,
    threads: u32,
    url: &str,
    token: &str,
    secs: u32,
    connections: u32,
) -> Run {
    let script = std::env::temp_dir().join("msa-bench-status.lua");
    std::fs::write(&script, STATUS_SCRIPT).expect("wrk script");
    let out = pinned(cpus, "wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .args(["--latency", &format!("-d{secs}s"), "-s"])
        .arg(&script)
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let non_2xx = text.contains("Non-2xx");
    assert!(!non_2xx, "{url} answered errors:\n{text}");
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec from wrk:\n{text}"));
    Run {
        rps,
        p50_ms: percentile(&text, "50%"),
        p99_ms: percentile(&text, "99%"),
    }
}

/// One gateway in this process, until killed: `MSA_BENCH_GATEWAY_PORT`, upstream
/// `MSA_BENCH_UPSTREAM`; spans exported as the environment says (`OTEL_EXPORTER_OTLP_ENDPOINT`
/// or `APP_OTLP_ENDPOINT=none`).
fn serve_gateway(port: u16, upstream: u16) {
    let threads = std::env::var("MSA_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let settings = runtime::service::config::load(
            "gateway",
            port,
            &runtime::service::config::Sources::from_process(),
        )
        .expect("settings");
        runtime::service::telemetry::init_process(&settings, "gateway");
        let router = runtime::platform::gateway::router(GatewayConfig {
            title: "bench".into(),
            routes: vec![Route {
                prefix: "/orders",
                service: "orders",
                read: &["admin"],
                write: &["admin"],
                public: false,
            }],
            upstreams: Upstreams::Fixed(
                [("orders".to_string(), format!("127.0.0.1:{upstream}"))].into(),
            ),
            timeout: Duration::from_secs(5),
            rate_limit: None,
            cors: Vec::new(),
            breaker: BreakerConfig::default(),
            auth: Some(Arc::new(Verifier::remote(
                &format!("http://127.0.0.1:{upstream}/.well-known/jwks.json"),
                "bench",
            ))),
            sessions: None,
            trusted_proxies: Vec::new(),
            max_in_flight: runtime::platform::gateway::MAX_IN_FLIGHT,
            services: Vec::new(),
            configured_routes: None,
        });
        // MSA_BENCH_BARE=1 leaves out the standard middleware, to see its share.
        let app = if std::env::var_os("MSA_BENCH_BARE").is_some() {
            router
        } else {
            runtime::service::server::standard_routes(router, None, serde_json::Value::Null)
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        axum::serve(listener, app).await.expect("serve");
    });
}

fn main() {
    if let (Some(port), Some(upstream)) = (
        std::env::var("MSA_BENCH_GATEWAY_PORT")
            .ok()
            .and_then(|p| p.parse().ok()),
        std::env::var("MSA_BENCH_UPSTREAM")
            .ok()
            .and_then(|p| p.parse().ok()),
    ) {
        serve_gateway(port, upstream);
        return;
    }
    let dir = std::env::temp_dir().join(format!("msa-bench-gateway-{}", std::process::id()));
    let www = dir.join("www/.well-known");
    std::fs::create_dir_all(&www).expect("dirs");
    let signer = Signer::from_seed("bench", &[1u8; 32]);
    let jwks = Jwks {
        keys: vec![signer.jwk()],
    };
    std::fs::write(
        www.join("jwks.json"),
        serde_json::to_vec(&jwks).expect("json"),
    )
    .expect("jwks");
    let token = signer.sign(&Claims {
        sub: "bench".into(),
        iss: "bench".into(),
        aud: "bench".into(),
        exp: now_secs() + 3600,
        iat: now_secs(),
        nbf: None,
        jti: "bench".into(),
        roles: vec!["admin".into()],
        name: None,
        svc: None,
    });

    let (upstream, proxy, gateway) = (free_port(), free_port(), free_port());
    let nginx = nginx_on(
        &dir,
        "nginx",
        None,
        "auto",
        &format!(
            "    client_max_body_size 16m;\n    client_body_buffer_size 16m;\n{}\n{}",
            upstream_server(&dir, upstream),
            proxy_server(proxy, upstream)
        ),
    );

    // The gateway runs twice, each in its own process (a process has one log subscriber):
    // without span export, and exporting every span over OTLP to the upstream nginx, which
    // answers `/v1/traces` with 200 like any path.
    let otlp_gateway = free_port();
    let exe = std::env::current_exe().expect("this bench");
    let gateways: Vec<std::process::Child> = [(gateway, None), (otlp_gateway, Some(proxy))]
        .into_iter()
        .map(|(port, sink)| {
            let mut c = Command::new(&exe);
            c.env("MSA_BENCH_GATEWAY_PORT", port.to_string())
                .env("MSA_BENCH_UPSTREAM", upstream.to_string())
                .env("APP_LOG_LEVEL", "warn");
            match sink {
                Some(p) => c.env(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    format!("http://127.0.0.1:{p}"),
                ),
                None => c.env("APP_OTLP_ENDPOINT", "none"),
            };
            c.spawn().expect("gateway process")
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));

    let direct_url = format!("http://127.0.0.1:{upstream}/orders/1");
    let nginx_url = format!("http://127.0.0.1:{proxy}/orders/1");
    let gateway_url = format!("http://127.0.0.1:{gateway}/orders/1");
    let otlp_url = format!("http://127.0.0.1:{otlp_gateway}/orders/1");
    let targets = [
        ("direct (upstream)", &direct_url),
        ("nginx proxy_pass", &nginx_url),
        ("gateway, JWT checked", &gateway_url),
        ("gateway, spans exported", &otlp_url),
    ];
    for (_, url) in targets {
        wrk(url, &token, 2, 64);
    }
    let busy: Vec<Run> = targets
        .iter()
        .map(|(_, url)| wrk(url, &token, 10, 64))
        .collect();
    let calm: Vec<Run> = targets
        .iter()
        .map(|(_, url)| wrk(url, &token, 5, 1))
        .collect();
    print_runs("", targets.iter().map(|(name, _)| *name), &busy, &calm);
    println!(
        "ratio export on / off (req/s)          {:>6.2}; at 1 conn p50 {:+.3} ms, p99 {:+.3} ms",
        busy[3].rps / busy[2].rps,
        calm[3].p50_ms - calm[2].p50_ms,
        calm[3].p99_ms - calm[2].p99_ms
    );
    stop_nginx(nginx);
    for mut g in gateways {
        let _ = g.kill();
        let _ = g.wait();
    }
    if std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) >= 2 {
        pinned_run(&dir, &exe, &token);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An nginx with `workers` worker processes (`auto`: one a core) and the `http` block `body`,
/// pinned to `cpus` when given.
fn nginx_on(
    dir: &std::path::Path,
    name: &str,
    cpus: Option<&str>,
    workers: &str,
    body: &str,
) -> std::process::Child {
    let conf = format!(
        r#"daemon off;
worker_processes {workers};
pid {dir}/{name}.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/{name}-body;
    proxy_temp_path {dir}/{name}-proxy;
    fastcgi_temp_path {dir}/{name}-fastcgi;
    uwsgi_temp_path {dir}/{name}-uwsgi;
    scgi_temp_path {dir}/{name}-scgi;
{body}
}}
"#,
        dir = dir.display()
    );
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).expect("conf");
    pinned(cpus, "nginx")
        .args(["-c", &path.display().to_string(), "-e", "stderr"])
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx (apt-get install nginx-light)")
}

/// The upstream's `server` block: `200 ok` for every path, and the JWKS file.
fn upstream_server(dir: &std::path::Path, port: u16) -> String {
    format!(
        r#"    server {{
        listen 127.0.0.1:{port};
        location /.well-known/ {{ root {dir}/www; default_type application/json; }}
        location / {{ return 200 "ok\n"; }}
    }}"#,
        dir = dir.display()
    )
}

/// The proxy's `upstream` and `server` blocks: `proxy_pass` to `upstream` with keep-alive.
fn proxy_server(port: u16, upstream: u16) -> String {
    format!(
        r#"    upstream up {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"#
    )
}

/// Stops an nginx: SIGTERM lets the master stop its workers (SIGKILL would orphan them).
fn stop_nginx(mut nginx: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &nginx.id().to_string()])
        .status();
    let _ = nginx.wait();
}

/// The same comparison with every part on a core of its own side: the load (wrk, one thread)
/// and the upstream (nginx, one worker) on core 0, the proxy alone on core 1 (nginx with one
/// worker, or the gateway with one runtime thread). Each proxy then has exactly one core, and
/// neither shares it with the load or the upstream: requests/s per proxy core.
fn pinned_run(dir: &std::path::Path, exe: &std::path::Path, token: &str) {
    let (upstream, proxy, gateway) = (free_port(), free_port(), free_port());
    let up = nginx_on(
        dir,
        "upstream",
        Some("0"),
        "1",
        &upstream_server(dir, upstream),
    );
    let px = nginx_on(dir, "proxy", Some("1"), "1", &proxy_server(proxy, upstream));
    let mut gw = pinned(Some("1"), &exe.display().to_string())
        .env("MSA_BENCH_GATEWAY_PORT", gateway.to_string())
        .env("MSA_BENCH_UPSTREAM", upstream.to_string())
        .env("MSA_BENCH_THREADS", "1")
        .env("APP_LOG_LEVEL", "warn")
        .env("APP_OTLP_ENDPOINT", "none")
        .spawn()
        .expect("gateway process");
    std::thread::sleep(Duration::from_secs(1));
    let targets = [
        (
            "direct (upstream)",
            format!("http://127.0.0.1:{upstream}/orders/1"),
        ),
        (
            "nginx proxy_pass",
            format!("http://127.0.0.1:{proxy}/orders/1"),
        ),
        (
            "gateway, JWT checked",
            format!("http://127.0.0.1:{gateway}/orders/1"),
        ),
    ];
    for (_, url) in &targets {
        wrk_on(Some("0"), 1, url, token, 2, 64);
    }
    // MSA_BENCH_PERF=<file>: the pinned gateway's saturated run is profiled into <file>
    // (`perf record`; read it with `perf report -i <file> --sort dso,symbol`).
    let profile = std::env::var("MSA_BENCH_PERF").ok();
    let busy: Vec<Run> = targets
        .iter()
        .enumerate()
        .map(|(i, (_, url))| {
            let perf = profile.as_ref().filter(|_| i == 2).map(|out| {
                Command::new("perf")
                    .args([
                        "record",
                        "-o",
                        out,
                        "-p",
                        &gw.id().to_string(),
                        "--",
                        "sleep",
                        "8",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("perf")
            });
            let run = wrk_on(Some("0"), 1, url, token, 10, 64);
            if let Some(mut p) = perf {
                let _ = p.wait();
            }
            run
        })
        .collect();
    let calm: Vec<Run> = targets
        .iter()
        .map(|(_, url)| wrk_on(Some("0"), 1, url, token, 5, 1))
        .collect();
    println!("\npinned: wrk and the upstream on core 0, the proxy alone on core 1");
    print_runs(
        "pinned, ",
        targets.iter().map(|(name, _)| *name),
        &busy,
        &calm,
    );
    stop_nginx(up);
    stop_nginx(px);
    let _ = gw.kill();
    let _ = gw.wait();
}
