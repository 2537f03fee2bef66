//! Runtime benchmark:
//! 1. overhead per operation: fresh Store + instantiate + call (pooling allocator);
//! 2. the WASM SCIM connector against a native Rust implementation of the same
//!    calls, both against an in-process HTTP server with fixed SCIM answers;
//! 3. restart with 10 installed connectors (compiled-code cache);
//! 4. resident memory idle with 10 connectors, and per operation in flight.
//!
//! `cargo bench -p provisio-tests --bench runtime --profile dev`
//!
//! Client and server share one current-thread runtime, so the figures are
//! CPU cost per call rather than thread hand-offs (which add the same ~60 µs
//! to both sides on a 2-core machine and hide the difference).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use criterion::Criterion;
use provisio_runtime::model::{NewAccount, Value};
use provisio_runtime::{App, AppConfig, CallContext, CredentialSecret, Runtime, RuntimeConfig, SecretString};
use serde_json::{Value as Json, json};

const USER_JSON: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2819c223-7f76-453a-919d-413861904646","userName":"bjensen","active":true,"displayName":"Babs Jensen","name":{"givenName":"Barbara","familyName":"Jensen"},"emails":[{"value":"bjensen@example.com","type":"work","primary":true}],"meta":{"resourceType":"User","created":"2026-01-01T00:00:00Z","lastModified":"2026-01-01T00:00:00Z"}}"#;

/// A fast local SCIM endpoint with fixed answers; `delay` plays a slow app.
async fn fixed_scim_server(delay: Duration) -> String {
    let handler = move |method: axum::http::Method| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let status = match method {
            axum::http::Method::POST => StatusCode::CREATED,
            axum::http::Method::PATCH => StatusCode::NO_CONTENT,
            _ => StatusCode::OK,
        };
        let body = if status == StatusCode::NO_CONTENT { String::new() } else { USER_JSON.to_string() };
        (status, [("content-type", "application/scim+json")], body)
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn scim_app(runtime: &Runtime, origin: &str) -> App {
    let scim = runtime.connector("scim", "0.1.0").expect("scim installed");
    let config = AppConfig {
        app_id: "bench".into(),
        settings: [("base_url".to_string(), json!(format!("{origin}/v2")))].into(),
        credentials: [("api".to_string(), CredentialSecret::Bearer { token: SecretString::new("bench-token") })].into(),
        grants: vec![origin.to_string()],
        credential_origins: Default::default(),
        limits: None,
    };
    runtime.app(scim, config).expect("app")
}

fn new_user() -> NewAccount {
    NewAccount {
        login: "bjensen".into(),
        active: true,
        profile: [
            ("displayName".to_string(), Value::text("Babs Jensen")),
            (
                "name".to_string(),
                Value::Complex(
                    [
                        ("givenName".to_string(), provisio_runtime::model::Scalar::Text("Barbara".into())),
                        ("familyName".to_string(), provisio_runtime::model::Scalar::Text("Jensen".into())),
                    ]
                    .into(),
                ),
            ),
        ]
        .into(),
    }
}

/// The same calls in native Rust: what the connector does, minus the sandbox.
struct NativeScim {
    client: reqwest::Client,
    base: String,
}

impl NativeScim {
    async fn create_user(&self, user: &NewAccount) -> Json {
        let mut body = serde_json::Map::new();
        body.insert("schemas".into(), json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
        body.insert("userName".into(), json!(user.login));
        body.insert("active".into(), json!(user.active));
        body.insert("displayName".into(), json!("Babs Jensen"));
        body.insert("name".into(), json!({"givenName": "Barbara", "familyName": "Jensen"}));
        let r = self.send(self.client.post(format!("{}/Users", self.base)), &Json::Object(body)).await;
        let bytes = r.bytes().await.expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    /// What the connector's host adds to every request: the token and SCIM's media type.
    async fn send(&self, request: reqwest::RequestBuilder, body: &Json) -> reqwest::Response {
        request
            .bearer_auth("bench-token")
            .header("accept", "application/scim+json")
            .header("content-type", "application/scim+json")
            .body(serde_json::to_vec(body).expect("json"))
            .send()
            .await
            .expect("send")
    }

    async fn deactivate(&self, id: &str) {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]});
        let r = self.send(self.client.patch(format!("{}/Users/{id}", self.base)), &body).await;
        assert!(r.status().is_success());
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Writes ten distinct SCIM packages (compiled) into `dir`.
async fn install_ten(dir: &std::path::Path) {
    let runtime = Runtime::new(RuntimeConfig::new(dir)).expect("runtime");
    let scim = provisio_bundled::SCIM;
    runtime.install(scim.manifest, scim.component).await.expect("scim");
    let manifest = provisio_runtime::Manifest::parse(scim.manifest).expect("manifest");
    for i in 1..10u8 {
        let bytes = provisio_sdk_harness::distinct_copy(scim.component, i);
        let mut m = manifest.clone();
        m.connector.version = format!("0.1.{i}");
        let compiled = runtime.engine().precompile_component(&bytes).expect("compile");
        runtime.packages().write(&m, &bytes, &compiled).expect("write");
    }
}

/// Child-process mode: a host with the installed connectors loaded, each run
/// once, then idle; prints its resident memory. A separate process, so the
/// benchmark's own allocations do not count.
fn idle_host(dir: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let runtime = Runtime::new(RuntimeConfig::new(dir)).expect("runtime");
    let n = runtime.load_installed().expect("load");
    for c in runtime.connectors() {
        rt.block_on(runtime.describe(&c)).expect("each connector ran once");
    }
    std::thread::sleep(Duration::from_millis(200));
    println!("{n} {}", rss_kib());
}

fn main() {
    if let Ok(dir) = std::env::var("PROVISIO_BENCH_IDLE_DIR") {
        return idle_host(&dir);
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let data = tempfile::tempdir().expect("tempdir");
    let runtime = Runtime::new(RuntimeConfig::new(data.path())).expect("runtime");
    let scim = provisio_bundled::SCIM;
    rt.block_on(runtime.install(scim.manifest, scim.component)).expect("install");
    let origin = rt.block_on(fixed_scim_server(Duration::ZERO));
    let app = scim_app(&runtime, &origin);
    let native = NativeScim { client: reqwest::Client::new(), base: format!("{origin}/v2") };
    let user = new_user();
    let call = CallContext::new("bench");

    // As a server runs guests: on threads of their own (one hop there and back per call).
    let threaded_data = tempfile::tempdir().expect("tempdir");
    let threaded = Runtime::new(RuntimeConfig::new(threaded_data.path()).guest_threads(1)).expect("runtime");
    rt.block_on(threaded.install(scim.manifest, scim.component)).expect("install");
    let threaded_app = scim_app(&threaded, &origin);

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("overhead");
        g.bench_function("fresh_store_instantiate_describe", |b| {
            b.to_async(&rt).iter(|| async { app.describe().await.into_result().expect("describe") })
        });
        // From the guest threads themselves (the executor's place): no hop.
        let guest_rt = threaded.guest_threads().expect("guest threads");
        g.bench_function("fresh_store_instantiate_describe_from_guest_threads", |b| {
            b.iter_custom(|iters| {
                let app = threaded_app.clone();
                let timed = guest_rt.spawn(async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        app.describe().await.into_result().expect("describe");
                    }
                    started.elapsed()
                });
                rt.block_on(timed).expect("timed on a guest thread")
            })
        });
        // From another runtime (an API request's place): one hop there and back.
        g.bench_function("fresh_store_instantiate_describe_hop_to_guest_threads", |b| {
            b.to_async(&rt).iter(|| async { threaded_app.describe().await.into_result().expect("describe") })
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("scim_create_user");
        g.bench_function("wasm_connector", |b| {
            b.to_async(&rt).iter(|| async { app.create_user(&call, &user).await.into_result().expect("create") })
        });
        g.bench_function("native_rust", |b| b.to_async(&rt).iter(|| async { native.create_user(&user).await }));
        g.finish();
    }
    {
        let mut g = c.benchmark_group("scim_deactivate_user");
        g.bench_function("wasm_connector", |b| {
            b.to_async(&rt)
                .iter(|| async { app.deactivate_user(&call, "u-1").await.into_result().expect("deactivate") })
        });
        g.bench_function("native_rust", |b| b.to_async(&rt).iter(|| async { native.deactivate("u-1").await }));
        g.finish();
    }
    c.final_summary();

    // Baseline for the restart: installing compiles the component.
    let fresh = tempfile::tempdir().expect("tempdir");
    let fresh_runtime = Runtime::new(RuntimeConfig::new(fresh.path())).expect("runtime");
    let started = Instant::now();
    rt.block_on(fresh_runtime.install(scim.manifest, scim.component)).expect("install");
    println!("install_one_connector_compiling: {:?}", started.elapsed());

    // Restart with ten installed connectors: Runtime::new + load_installed.
    let ten = tempfile::tempdir().expect("tempdir");
    rt.block_on(install_ten(ten.path()));
    let mut restarts = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let r = Runtime::new(RuntimeConfig::new(ten.path())).expect("runtime");
        let n = r.load_installed().expect("load");
        assert_eq!(n, 10);
        restarts.push(started.elapsed());
    }
    restarts.sort();
    println!("restart_with_10_connectors: median {:?} (min {:?}, max {:?})", restarts[2], restarts[0], restarts[4]);

    // Memory: a separate host process idle with ten loaded ...
    let child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("PROVISIO_BENCH_IDLE_DIR", ten.path())
        .output()
        .expect("idle host");
    let out = String::from_utf8_lossy(&child.stdout);
    let idle_kib: f64 = out.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    println!("rss_idle_host_with_10_connectors: {:.1} MiB (separate process)", idle_kib / 1024.0);

    // ... and here, 200 operations in flight against a slow app.
    drop(app);
    let loaded = Runtime::new(RuntimeConfig::new(ten.path())).expect("runtime");
    loaded.load_installed().expect("load");
    let slow_origin = rt.block_on(fixed_scim_server(Duration::from_millis(1500)));
    let slow_app = Arc::new(scim_app(&loaded, &slow_origin));
    let in_flight = 200;
    let before = rss_kib();
    let peak = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..in_flight {
            let app = slow_app.clone();
            let u = user.clone();
            tasks.push(tokio::spawn(async move {
                app.create_user(&CallContext::new(format!("m{i}")), &u).await.into_result().expect("create")
            }));
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let peak = rss_kib();
        for t in tasks {
            t.await.expect("task");
        }
        peak
    });
    println!(
        "rss_per_operation_in_flight: {:.1} KiB ({in_flight} in flight: {:.1} -> {:.1} MiB)",
        (peak.saturating_sub(before)) as f64 / in_flight as f64,
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}
