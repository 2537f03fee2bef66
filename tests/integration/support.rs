//! Shared test helpers: the test guests, a real scim2-server per test, and
//! direct reads of what the server holds.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use provisio_runtime::CallContext;
use provisio_sdk_harness::Harness;
use serde_json::Value as Json;

pub const HOSTILE_MANIFEST: &str = include_str!("../guests/hostile/connector.toml");
pub const HOSTILE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hostile.wasm"));
pub const WIT_FUTURE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wit-future.wasm"));
/// The SCIM connector's source built as version 0.2.0 (tests/guests/scim-next).
pub const SCIM_NEXT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/scim-next.wasm"));
/// A SCIM connector that can only create users (tests/guests/create-only).
pub const CREATE_ONLY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/create-only.wasm"));
pub const CREATE_ONLY_MANIFEST: &str = include_str!("../guests/create-only/connector.toml");

/// The create-only guest as a package folder (connector.toml and its
/// component) under `parent`, for `provisio connectors install`.
pub fn create_only_package(parent: &std::path::Path) -> PathBuf {
    let package = parent.join("create-only");
    std::fs::create_dir_all(&package).expect("mkdir");
    std::fs::write(package.join("connector.toml"), CREATE_ONLY_MANIFEST).expect("write");
    std::fs::write(package.join("create-only.wasm"), CREATE_ONLY).expect("write");
    package
}

/// An app on the create-only guest (installed first; again is a no-op)
/// whose SCIM service is at `origin` (a scim2-server, or a proxy before
/// one): an app that cannot deactivate, look up or delete.
pub async fn create_only_app(p: &crate::server::Provisio, name: &str, origin: &str, token: &str) -> String {
    use base64::Engine as _;
    let component = base64::engine::general_purpose::STANDARD.encode(CREATE_ONLY);
    p.ok("POST", "/connectors", Some(serde_json::json!({ "manifest": CREATE_ONLY_MANIFEST, "component": component })))
        .await;
    let body = serde_json::json!({
        "name": name,
        "connector": "create-only@0.1.0",
        "settings": { "base_url": format!("{origin}/v2") },
        "credentials": { "api": { "scheme": "bearer", "token": token } },
        "grants": [origin],
        "mappings": { "login": "user.login", "attributes": { "displayName": "user.firstName + ' ' + user.lastName" } }
    });
    p.ok("POST", "/apps", Some(body)).await["id"].as_str().expect("app id").to_string()
}

/// The bundled SCIM connector installed in a runtime under `dir` and
/// registered in `store`, as the engine and executor reach it; returns the
/// connectors, the connector's name and version, and the key its apps'
/// secrets are sealed with.
pub async fn scim_connectors(
    store: &provisio_directory::Store,
    dir: &std::path::Path,
) -> (
    std::sync::Arc<provisio_server::provisioner::RuntimeConnectors>,
    String,
    String,
    std::sync::Arc<provisio_directory::Sealer>,
) {
    let runtime = provisio_runtime::Runtime::new(provisio_runtime::RuntimeConfig::new(dir)).expect("runtime");
    let scim = provisio_bundled::SCIM;
    let c = runtime.install(scim.manifest, scim.component).await.expect("install");
    let (name, version) = (c.package.name().to_string(), c.package.version().to_string());
    let sealer = std::sync::Arc::new(provisio_directory::Sealer::new(&[7; 32]));
    let connectors = std::sync::Arc::new(provisio_server::provisioner::RuntimeConnectors::new(
        runtime,
        store.clone(),
        sealer.clone(),
    ));
    connectors.register_installed("test").await.expect("register");
    (connectors, name, version, sealer)
}

pub fn call(id: &str) -> CallContext {
    CallContext::new(id)
}

pub async fn hostile() -> Harness {
    Harness::from_package(HOSTILE_MANIFEST, HOSTILE).await.expect("install hostile guest")
}

pub async fn scim_harness() -> Harness {
    let scim = provisio_bundled::SCIM;
    Harness::from_package(scim.manifest, scim.component).await.expect("install SCIM connector")
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scim2_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("PROVISIO_SCIM2_SERVER") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/scim2-server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("scim2-server")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A real scim2-server (PyPI), in memory, on a free loopback port.
pub struct Scim2Server {
    child: Child,
    pub base_url: String,
    pub token: String,
    client: reqwest::Client,
}

impl Scim2Server {
    pub async fn start() -> Scim2Server {
        let token = format!("tok-{}", free_port());
        for _attempt in 0..3 {
            let port = free_port();
            let bin = scim2_server_binary();
            let child = Command::new(&bin)
                .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", &token])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {} ({e}); run `.ci/run` or `python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt`",
                        bin.display()
                    )
                });
            let server = Scim2Server {
                child,
                base_url: format!("http://127.0.0.1:{port}/v2"),
                token: token.clone(),
                client: reqwest::Client::new(),
            };
            if server.wait_ready().await {
                return server;
            }
        }
        panic!("scim2-server did not start");
    }

    async fn wait_ready(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ok = self
                .client
                .get(format!("{}/ServiceProviderConfig", self.base_url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub fn origin(&self) -> String {
        self.base_url.trim_end_matches("/v2").to_string()
    }

    pub async fn get(&self, path: &str) -> (u16, Json) {
        let r = self
            .client
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET scim2-server");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Json::Null))
    }

    pub async fn user(&self, id: &str) -> Json {
        let (status, body) = self.get(&format!("/Users/{id}")).await;
        assert_eq!(status, 200, "user {id} in scim2-server: {body}");
        body
    }

    /// Creates a user directly on the server (not through Provisio).
    pub async fn post_user(&self, body: Json) -> Json {
        let r = self
            .client
            .post(format!("{}/Users", self.base_url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("POST scim2-server");
        assert_eq!(r.status().as_u16(), 201);
        r.json().await.expect("json")
    }

    /// Every user the server holds, by userName (all pages).
    pub async fn users_by_name(&self) -> std::collections::BTreeMap<String, Json> {
        let mut all = std::collections::BTreeMap::new();
        let mut start = 1;
        loop {
            let (status, page) = self.get(&format!("/Users?startIndex={start}&count=500")).await;
            assert_eq!(status, 200, "listing users: {page}");
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            if resources.is_empty() {
                return all;
            }
            start += resources.len();
            for r in resources {
                let name = r["userName"].as_str().unwrap_or_default().to_string();
                assert!(all.insert(name.clone(), r).is_none(), "two accounts for {name}");
            }
        }
    }

    pub async fn total_users(&self) -> u64 {
        self.get("/Users?count=0").await.1["totalResults"].as_u64().unwrap_or(0)
    }
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `app` on a free loopback port until the returned sender is
/// dropped: the test peers' common start.
pub async fn serve(app: axum::Router) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (addr, tx)
}

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Pass,
    /// Answer with this status without forwarding.
    Status(u16),
    /// Answer 429 with `Retry-After: secs` without forwarding.
    RateLimit(u64),
    /// Close the connection without forwarding.
    DropBefore,
    /// Forward (the app acts), then close the connection unanswered.
    DropAfter,
    /// Forward (the app acts), then never answer.
    HoldAfter,
}

/// Decides each request's fate from its method and path.
pub type FaultRule = Box<dyn FnMut(&str, &str) -> Fault + Send>;

/// One request that passed through the proxy.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub body: Json,
    /// The status the client got (0: none, the connection was dropped or held).
    pub status: u16,
    /// The upstream's answer body, when it was forwarded.
    pub response: Json,
    /// The upstream's status, when it was forwarded (whatever the client got).
    pub upstream_status: u16,
    pub fault: Fault,
    /// Names the Provisio version and the connector version that called.
    pub user_agent: String,
    pub received: Instant,
    pub answered: Option<Instant>,
}

type Record = std::sync::Arc<std::sync::Mutex<Vec<Exchange>>>;

/// A recording, fault-injecting reverse proxy in front of an upstream
/// (scim2-server): what Provisio sent is asserted on the proxy's record,
/// what the app holds on the upstream itself.
pub struct RecordingProxy {
    pub addr: std::net::SocketAddr,
    record: Record,
    rule: std::sync::Arc<std::sync::Mutex<FaultRule>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl RecordingProxy {
    pub async fn start(upstream_origin: &str) -> RecordingProxy {
        use axum::body::Bytes;
        use axum::http::{HeaderMap, Method, Uri};
        let record: Record = Default::default();
        let rule: std::sync::Arc<std::sync::Mutex<FaultRule>> =
            std::sync::Arc::new(std::sync::Mutex::new(Box::new(|_: &str, _: &str| Fault::Pass)));
        let client = reqwest::Client::new();
        let upstream = upstream_origin.to_string();
        let (log, rules) = (record.clone(), rule.clone());
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (client, upstream, log, rules) = (client.clone(), upstream.clone(), log.clone(), rules.clone());
            async move {
                let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
                let fault = rules.lock().map(|mut r| r(method.as_str(), &path)).unwrap_or(Fault::Pass);
                let index = {
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    log.push(Exchange {
                        method: method.to_string(),
                        path: path.clone(),
                        body: serde_json::from_slice(&body).unwrap_or(Json::Null),
                        status: 0,
                        response: Json::Null,
                        upstream_status: 0,
                        fault: fault.clone(),
                        user_agent: headers
                            .get(axum::http::header::USER_AGENT)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string(),
                        received: Instant::now(),
                        answered: None,
                    });
                    log.len() - 1
                };
                let answer = |status: u16, response: Json| {
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    log[index].status = status;
                    log[index].response = response;
                    log[index].answered = Some(Instant::now());
                };
                match fault {
                    Fault::Status(status) => {
                        answer(status, Json::Null);
                        let mut out = axum::response::Response::new(axum::body::Body::from("injected fault"));
                        *out.status_mut() = axum::http::StatusCode::from_u16(status).expect("status");
                        return out;
                    }
                    Fault::RateLimit(secs) => {
                        answer(429, Json::Null);
                        let mut out = axum::response::Response::new(axum::body::Body::from("slow down"));
                        *out.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
                        out.headers_mut().insert("retry-after", secs.to_string().parse().expect("header"));
                        return out;
                    }
                    // A panic ends the connection's task: the client sees
                    // the connection close with no answer.
                    Fault::DropBefore => std::panic::resume_unwind(Box::new("injected: connection dropped")),
                    _ => {}
                }
                let mut req = client.request(method.clone(), format!("{upstream}{path}")).body(body.to_vec());
                for (k, v) in headers.iter() {
                    if k != axum::http::header::HOST && k != axum::http::header::CONTENT_LENGTH {
                        req = req.header(k, v);
                    }
                }
                let resp = req.send().await.expect("upstream answers");
                let status = resp.status().as_u16();
                let resp_headers = resp.headers().clone();
                let resp_body = resp.bytes().await.unwrap_or_default();
                if let Ok(mut log) = log.lock() {
                    log[index].upstream_status = status;
                    log[index].response = serde_json::from_slice(&resp_body).unwrap_or(Json::Null);
                }
                match fault {
                    Fault::DropAfter => std::panic::resume_unwind(Box::new("injected: dropped after forwarding")),
                    Fault::HoldAfter => std::future::pending::<()>().await,
                    _ => {}
                }
                answer(status, serde_json::from_slice(&resp_body).unwrap_or(Json::Null));
                let mut out = axum::response::Response::new(axum::body::Body::from(resp_body));
                *out.status_mut() = axum::http::StatusCode::from_u16(status).expect("status");
                for (k, v) in resp_headers.iter() {
                    if k != axum::http::header::TRANSFER_ENCODING && k != axum::http::header::CONTENT_LENGTH {
                        out.headers_mut().append(k, v.clone());
                    }
                }
                out
            }
        };
        let app = axum::Router::new().fallback(handler);
        let (addr, tx) = serve(app).await;
        RecordingProxy { addr, record, rule, _shutdown: tx }
    }

    /// Replaces the fault rule (the default passes everything).
    pub fn set_faults(&self, rule: impl FnMut(&str, &str) -> Fault + Send + 'static) {
        if let Ok(mut r) = self.rule.lock() {
            *r = Box::new(rule);
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.record.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut r) = self.record.lock() {
            r.clear();
        }
    }
}
