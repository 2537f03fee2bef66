//! The connector author's test harness: `cargo test` in a connector crate
//! builds the crate's component, installs it into the real Provisio runtime,
//! and runs it against a local HTTP server that records every request and
//! answers as the test says.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use provisio_sdk_harness::{Harness, RecordingServer, Reply};
//! let server = RecordingServer::start(|_req| Reply::json(200, serde_json::json!({"ok": true}))).await;
//! let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await?;
//! let config = harness.config_for(&server).setting("base_url", server.url()).bearer("token", "t0ken");
//! let app = harness.app(config)?;
//! app.check(&provisio_runtime::CallContext::new("op-1")).await.into_result()?;
//! assert_eq!(server.requests().len(), 1);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use provisio_runtime::{App, AppConfig, Connector, CredentialSecret, Runtime, RuntimeConfig, SecretString};

pub use provisio_runtime;
/// What a test sees of a call, as the host sees it. These are the host's
/// types: `ConnectorError` here is not `provisio_sdk::error::ConnectorError`
/// (the guest's, which a test never receives); import it from here.
pub use provisio_runtime::model::{Account, AccountKey, Changes, ConnectorError, ListRequest, NewAccount, Value};
pub use provisio_runtime::{CallContext, CallError};

/// A connector crate built and installed into a private runtime.
pub struct Harness {
    runtime: Runtime,
    connector: Arc<Connector>,
    _data: tempfile::TempDir,
}

impl Harness {
    /// Builds the crate in `crate_dir` to a component (nested `cargo build
    /// --target wasm32-wasip2`), then installs it with its `connector.toml`.
    pub async fn for_crate(crate_dir: impl AsRef<Path>) -> anyhow::Result<Harness> {
        let crate_dir = crate_dir.as_ref();
        let cargo_toml: toml::Value = toml::from_str(&std::fs::read_to_string(crate_dir.join("Cargo.toml"))?)?;
        let package = cargo_toml
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .context("Cargo.toml has no [package] name")?
            .to_string();
        let crate_dir_owned = crate_dir.to_path_buf();
        let package_name = package.clone();
        let built = tokio::task::spawn_blocking(move || {
            provisio_guest_build::build(&[(package_name.as_str(), crate_dir_owned.as_path())])
        })
        .await?
        .map_err(anyhow::Error::msg)?;
        let component = std::fs::read(&built[0])?;
        let manifest = std::fs::read_to_string(crate_dir.join("connector.toml"))
            .context("the crate needs a connector.toml next to its Cargo.toml")?;
        Self::from_package(&manifest, &component).await
    }

    /// Installs an already built package into a fresh runtime.
    pub async fn from_package(manifest: &str, component: &[u8]) -> anyhow::Result<Harness> {
        let data = tempfile::tempdir()?;
        let runtime = Runtime::new(RuntimeConfig::new(data.path()))?;
        let connector = runtime.install(manifest, component).await?;
        Ok(Harness { runtime, connector, _data: data })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn connector(&self) -> &Arc<Connector> {
        &self.connector
    }

    /// A configuration for an app that talks to `server`, with the server's
    /// origin granted. Add settings and credentials with the builder methods.
    pub fn config_for(&self, server: &RecordingServer) -> AppConfigBuilder {
        AppConfigBuilder(AppConfig { app_id: "test-app".into(), grants: vec![server.origin()], ..AppConfig::default() })
    }

    pub fn app(&self, config: impl Into<AppConfig>) -> anyhow::Result<App> {
        Ok(self.runtime.app(self.connector.clone(), config.into())?)
    }
}

/// Builds an [`AppConfig`] fluently.
#[derive(Debug, Clone, Default)]
pub struct AppConfigBuilder(pub AppConfig);

impl AppConfigBuilder {
    pub fn setting(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.0.settings.insert(name.into(), value.into());
        self
    }
    pub fn bearer(mut self, credential: &str, token: &str) -> Self {
        self.0.credentials.insert(credential.into(), CredentialSecret::Bearer { token: SecretString::new(token) });
        self
    }
    pub fn credential(mut self, name: &str, secret: CredentialSecret) -> Self {
        self.0.credentials.insert(name.into(), secret);
        self
    }
    pub fn grant(mut self, origin: &str) -> Self {
        self.0.grants.push(origin.into());
        self
    }
    /// Where `credential` may be sent, as an operator grants it (by default:
    /// the origins the manifest binds it to exactly).
    pub fn credential_origins(mut self, credential: &str, origins: &[&str]) -> Self {
        self.0.credential_origins.insert(credential.into(), origins.iter().map(|o| o.to_string()).collect());
        self
    }
    pub fn limits(mut self, limits: provisio_runtime::Limits) -> Self {
        self.0.limits = Some(limits);
        self
    }
}

impl From<AppConfigBuilder> for AppConfig {
    fn from(b: AppConfigBuilder) -> AppConfig {
        b.0
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/Users?filter=...`.
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
    /// A query parameter as an application decodes it (`+` is a space).
    pub fn query(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(&format!("http://recorded{}", self.path)).ok()?;
        url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new() }
    }
    pub fn json(status: u16, value: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&value).unwrap_or_default(),
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Responder = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// A local HTTP server (loopback, random port) that records requests.
pub struct RecordingServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl RecordingServer {
    pub async fn start(respond: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> RecordingServer {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let respond: Arc<Responder> = Arc::new(respond);
        let log = requests.clone();
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (log, respond) = (log.clone(), respond.clone());
            async move {
                let recorded = Recorded {
                    method: method.to_string(),
                    path: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                        .collect(),
                    body: body.to_vec(),
                };
                // Off the async workers: a responder may block (a slow app).
                let (reply, recorded) =
                    tokio::task::spawn_blocking(move || (respond(&recorded), recorded)).await.expect("responder");
                if let Ok(mut log) = log.lock() {
                    log.push(recorded);
                }
                let mut response = axum::response::Response::new(axum::body::Body::from(reply.body));
                *response.status_mut() =
                    StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                for (k, v) in reply.headers {
                    if let (Ok(k), Ok(v)) =
                        (axum::http::HeaderName::from_bytes(k.as_bytes()), axum::http::HeaderValue::from_str(&v))
                    {
                        response.headers_mut().append(k, v);
                    }
                }
                response
            }
        };
        let app = axum::Router::new().fallback(handler);
        // The server runs on its own threads, so a test that blocks (or a
        // responder that sleeps to play a slow app) cannot stall the runtime
        // that drives the connector.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
                let _ = addr_tx.send(listener.local_addr().expect("local addr"));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("the server thread reports its address");
        RecordingServer { addr, requests, _shutdown: tx }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The origin to grant: the same as [`url`](Self::url).
    pub fn origin(&self) -> String {
        self.url()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// A copy of a component with a custom section appended: the same code under
/// another digest, e.g. to install many distinct packages in tests and
/// benchmarks. `tag` tells the copies apart.
pub fn distinct_copy(component: &[u8], tag: u8) -> Vec<u8> {
    let name = b"provisio-copy";
    let mut content = vec![name.len() as u8];
    content.extend_from_slice(name);
    content.push(tag);
    let mut out = component.to_vec();
    out.push(0); // a custom section
    out.push(content.len() as u8);
    out.extend_from_slice(&content);
    out
}
