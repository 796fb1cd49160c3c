//! Gateway throughput next to nginx as a reverse proxy, in one run on this machine.
//! Run: `bash bench/gateway.sh` (installs nginx and wrk from apt when missing, then
//! `cargo bench -p msa-gen-tests --bench gateway`).
//!
//! One nginx serves as the upstream for both (`return 200`, plus the JWKS file) so the only
//! difference is the proxy:
//! - **nginx**: `proxy_pass` with upstream keep-alive, access log off;
//! - **gateway**: `runtime::gateway` with the same middleware as the generated gateway
//!   (metrics, trace ids), log level `warn`, rate limit off, and JWT checks **on**: every
//!   request carries an EdDSA token verified against the JWKS.
//!
//! wrk: 2 threads, 64 connections, 10 s per target, after a 2 s warm-up. Printed: requests/s
//! of each and the ratio gateway / nginx.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use runtime::gateway::breaker::BreakerConfig;
use runtime::gateway::{GatewayConfig, Route, Upstreams};
use runtime::jwt::{Claims, Jwks, Signer, Verifier, now_secs};

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

fn wrk(url: &str, token: &str, secs: u32) -> f64 {
    let script = std::env::temp_dir().join("msa-bench-status.lua");
    std::fs::write(&script, STATUS_SCRIPT).expect("wrk script");
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{secs}s"), "-s"])
        .arg(&script)
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let non_2xx = text.contains("Non-2xx");
    assert!(!non_2xx, "{url} answered errors:\n{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec from wrk:\n{text}"))
}

fn main() {
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
    });

    let (upstream, proxy, gateway) = (free_port(), free_port(), free_port());
    let conf = format!(
        r#"daemon off;
worker_processes auto;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream up {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{upstream};
        location /.well-known/ {{ root {dir}/www; default_type application/json; }}
        location / {{ return 200 "ok\n"; }}
    }}
    server {{
        listen 127.0.0.1:{proxy};
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#,
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let mut nginx = Command::new("nginx")
        .args([
            "-c",
            &dir.join("nginx.conf").display().to_string(),
            "-e",
            "stderr",
        ])
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx (apt-get install nginx-light)");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.spawn(async move {
        runtime::telemetry::init("warn");
        let router = runtime::gateway::router(GatewayConfig {
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
            services: Vec::new(),
            configured_routes: None,
        });
        // MSA_BENCH_BARE=1 leaves out the standard middleware, to see its share.
        let app = if std::env::var_os("MSA_BENCH_BARE").is_some() {
            router
        } else {
            runtime::server::standard_routes(router, None, serde_json::Value::Null)
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", gateway))
            .await
            .expect("bind");
        axum::serve(listener, app).await.expect("serve");
    });
    std::thread::sleep(Duration::from_secs(1));

    let nginx_url = format!("http://127.0.0.1:{proxy}/orders/1");
    let gateway_url = format!("http://127.0.0.1:{gateway}/orders/1");
    wrk(&nginx_url, &token, 2);
    wrk(&gateway_url, &token, 2);
    let n = wrk(&nginx_url, &token, 10);
    let g = wrk(&gateway_url, &token, 10);
    println!("nginx proxy_pass           {n:>9.0} req/s");
    println!("gateway, JWT checked       {g:>9.0} req/s");
    println!("ratio gateway / nginx      {:>9.2}", g / n);
    // SIGTERM lets the master stop its workers (SIGKILL would orphan them).
    let _ = Command::new("kill")
        .args(["-TERM", &nginx.id().to_string()])
        .status();
    let _ = nginx.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
