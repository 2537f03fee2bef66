//! The runtime: one wasmtime engine (pooling allocator, fuel), installed
//! connectors each held as a ready-to-instantiate `InstancePre`, and apps,
//! through which every operation runs in a fresh store.
//!
//! A fresh store per operation means a trapped instance is never reused and
//! nothing leaks between operations; with the pooling allocator it costs tens of
//! microseconds. Reusing a warm instance would be a per-connector policy in
//! [`App::run`] (keep the store of a call that did not trap); nothing else
//! would change.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing::Instrument;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use crate::bindings::{self, Contract};
use crate::bounds::{Bounded, MAX_MESSAGE_BYTES};
use crate::error::{Blame, CallError};
use crate::limits::{LimitKind, Limits, MAX_MEMORY_BYTES};
use crate::manifest::Manifest;
use crate::model::{self, ConnectorError, Operation};
use crate::outbound::OutboundPolicy;
use crate::package::{InstalledPackage, PackageStore};
use crate::secrets::CredentialSecret;
use crate::state::{AppShared, CallMeter, LogLine, StoreState};
use crate::traps::{classify_trap, host_fault};
use crate::v0_1;
use crate::wall_time::{DeadlinePassed, EpochTicker, GuestThreads};

/// How often a running guest yields to the async executor, in fuel units
/// (~0.4 ms of guest code), so timeouts and other tasks get their turn.
const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

/// Memory a pooled slot keeps mapped between instances (zeroed with memset
/// instead of being unmapped): a typical connector touches about this much,
/// and page faults on it were the largest part of a call's overhead.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where packages and compiled code live.
    pub data_dir: PathBuf,
    /// Instances that may run at once (pooling allocator slots).
    pub max_concurrent_instances: u32,
    /// Threads of their own for guests: a server sets this so that nothing a
    /// guest makes the host do runs on the threads that serve its API. 0 runs
    /// each call on the caller's runtime (a test harness, a benchmark).
    pub guest_threads: usize,
}

impl RuntimeConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        RuntimeConfig { data_dir: data_dir.into(), max_concurrent_instances: 256, guest_threads: 0 }
    }

    pub fn guest_threads(mut self, threads: usize) -> Self {
        self.guest_threads = threads;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    // Transparent: the manifest error is the message, not also its cause
    // (a chain printer would say it twice).
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error("the component is not a valid WebAssembly component: {0}")]
    InvalidComponent(String),
    #[error("unsupported contract: {0}")]
    UnsupportedContract(String),
    #[error("the component does not match connector.toml: {0}")]
    Mismatch(String),
    #[error("{0}")]
    AlreadyInstalled(String),
    #[error("could not store the package: {0}")]
    Storage(String),
}

impl InstallError {
    /// A stable code for APIs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::Manifest(_) => "invalid-manifest",
            InstallError::InvalidComponent(_) => "invalid-component",
            InstallError::UnsupportedContract(_) => "unsupported-contract",
            InstallError::Mismatch(_) => "manifest-mismatch",
            InstallError::AlreadyInstalled(_) => "already-installed",
            InstallError::Storage(_) => "storage",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("app configuration: {0}")]
pub struct ConfigError(pub String);

enum Pre {
    V0_1(v0_1::BindingsPre<StoreState>),
}

/// An installed connector version, ready to instantiate.
pub struct Connector {
    pub package: InstalledPackage,
    pub contract_version: semver::Version,
    pre: Pre,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("package", &self.package.label())
            .field("contract", &self.contract_version.to_string())
            .finish()
    }
}

struct Inner {
    engine: Engine,
    client: reqwest::Client,
    linker: Linker<StoreState>,
    store: PackageStore,
    loaded: RwLock<HashMap<(String, String), Arc<Connector>>>,
    /// Installs run one at a time: the check that a version is free and the
    /// write that takes it must not interleave with another install.
    installing: tokio::sync::Mutex<()>,
    guests: Option<GuestThreads>,
    _ticker: EpochTicker,
}

/// The connector runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("data_dir", &self.inner.store.root()).finish()
    }
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Runtime> {
        let n = config.max_concurrent_instances.max(1);
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n * 4)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_memory_size(MAX_MEMORY_BYTES as usize)
            // Rust, Python and JS components use one or two; the cap keeps one
            // component from taking a large share of the pool's slots.
            .max_memories_per_component(8)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(256 << 10);
        let mut cfg = wasmtime::Config::new();
        cfg.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg)?;

        let mut linker = Linker::<StoreState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        v0_1::Bindings::add_to_linker::<StoreState, wasmtime::component::HasSelf<StoreState>>(&mut linker, |s| s)?;

        let store = PackageStore::open(&config.data_dir)?;
        let client = crate::http::build_client()?;
        let guests = (config.guest_threads > 0).then(|| GuestThreads::start(config.guest_threads)).transpose()?;
        let ticker = EpochTicker::start(&engine)?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                client,
                linker,
                store,
                loaded: RwLock::new(HashMap::new()),
                installing: tokio::sync::Mutex::new(()),
                guests,
                _ticker: ticker,
            }),
        })
    }

    /// The guest threads' runtime, where the runtime has them: work that
    /// calls connectors in bulk (an executor) runs there, so its calls need
    /// no hop between threads.
    pub fn guest_threads(&self) -> Option<tokio::runtime::Handle> {
        self.inner.guests.as_ref().map(|g| g.handle().clone())
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn packages(&self) -> &PackageStore {
        &self.inner.store
    }

    /// Validates and installs a package: manifest, component, contract version,
    /// and that `describe()` agrees with the manifest. Compiles once here so a
    /// restart never recompiles. Installing the same bytes again is a no-op.
    pub async fn install(&self, manifest_text: &str, component: &[u8]) -> Result<Arc<Connector>, InstallError> {
        let manifest = Manifest::parse(manifest_text)?;
        let declared = manifest.wit_version()?;
        if Contract::for_version(&declared).is_none() {
            return Err(InstallError::UnsupportedContract(format!(
                "connector.toml says wit = \"{declared}\"; this host supports {}",
                bindings::supported_range()
            )));
        }
        let (name, version) = (manifest.connector.name.clone(), manifest.connector.version.clone());
        let digest = crate::package::digest(component);
        let _one_at_a_time = self.inner.installing.lock().await;
        if let Some(existing) = self.inner.store.installed_digest(&name, &version).map_err(storage)? {
            if existing != digest {
                return Err(InstallError::AlreadyInstalled(format!(
                    "{name}@{version} is already installed with different content ({existing}); give the new build a new version"
                )));
            }
            if let Some(c) = self.connector(&name, &version) {
                return Ok(c);
            }
        }

        let engine = self.inner.engine.clone();
        let bytes = component.to_vec();
        let compiled = tokio::task::spawn_blocking(move || Component::new(&engine, &bytes))
            .await
            .map_err(|e| InstallError::Storage(e.to_string()))?
            .map_err(|e| InstallError::InvalidComponent(format!("{e:#}")))?;
        let (found, _) = bindings::detect(&self.inner.engine, &compiled).map_err(InstallError::UnsupportedContract)?;
        if Contract::for_version(&found) != Contract::for_version(&declared) {
            return Err(InstallError::Mismatch(format!(
                "connector.toml says wit = \"{declared}\" but the component is built for provisio:connector@{found}"
            )));
        }
        let package = InstalledPackage { manifest: manifest.clone(), digest: digest.clone() };
        let connector =
            Arc::new(self.prepare(package, &compiled).map_err(|e| InstallError::InvalidComponent(e.to_string()))?);
        check_descriptor(&self.describe(&connector).await, &manifest)?;

        let serialized = compiled.serialize().map_err(|e| InstallError::Storage(e.to_string()))?;
        self.inner.store.write(&manifest, component, &serialized).map_err(storage)?;
        self.remember(connector.clone());
        tracing::info!(connector = %connector.package.label(), digest = %digest, contract = %found, "connector installed");
        Ok(connector)
    }

    /// Loads every installed package from the compiled-code cache (recompiling
    /// only what this wasmtime cannot load). Returns how many were loaded.
    pub fn load_installed(&self) -> anyhow::Result<usize> {
        let packages = self.inner.store.list()?;
        let count = packages.len();
        for package in packages {
            let component = self.load_component(&package.digest)?;
            let connector = self.prepare(package, &component)?;
            self.remember(Arc::new(connector));
        }
        Ok(count)
    }

    fn load_component(&self, digest: &str) -> anyhow::Result<Component> {
        let cached = self.inner.store.compiled_path(digest);
        if cached.exists() {
            match deserialize_compiled(&self.inner.engine, &cached) {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!(digest, "compiled code not usable, recompiling: {e:#}"),
            }
        }
        let bytes = std::fs::read(self.inner.store.component_path(digest))?;
        let component = Component::new(&self.inner.engine, &bytes)?;
        self.inner.store.write_compiled(digest, &component.serialize()?)?;
        Ok(component)
    }

    fn prepare(&self, package: InstalledPackage, component: &Component) -> anyhow::Result<Connector> {
        let (contract_version, contract) =
            bindings::detect(&self.inner.engine, component).map_err(anyhow::Error::msg)?;
        let instance_pre = self.inner.linker.instantiate_pre(component)?;
        let pre = match contract {
            Contract::V0_1 => Pre::V0_1(v0_1::BindingsPre::new(instance_pre)?),
        };
        Ok(Connector { package, contract_version, pre })
    }

    fn remember(&self, connector: Arc<Connector>) {
        let key = (connector.package.name().to_string(), connector.package.version().to_string());
        if let Ok(mut loaded) = self.inner.loaded.write() {
            loaded.insert(key, connector);
        }
    }

    pub fn connector(&self, name: &str, version: &str) -> Option<Arc<Connector>> {
        self.inner.loaded.read().ok()?.get(&(name.to_string(), version.to_string())).cloned()
    }

    /// Every loaded connector, in name and version order.
    pub fn connectors(&self) -> Vec<Arc<Connector>> {
        let mut all: Vec<Arc<Connector>> =
            self.inner.loaded.read().map(|l| l.values().cloned().collect()).unwrap_or_default();
        all.sort_by_key(|c| c.package.label());
        all
    }

    /// Removes an installed version (the caller checks no app uses it).
    pub fn uninstall(&self, name: &str, version: &str) -> std::io::Result<()> {
        self.inner.store.remove(name, version)?;
        if let Ok(mut loaded) = self.inner.loaded.write() {
            loaded.remove(&(name.to_string(), version.to_string()));
        }
        Ok(())
    }

    /// Calls `describe()` with no network and the manifest's limits.
    pub async fn describe(&self, connector: &Arc<Connector>) -> Result<model::Descriptor, CallError> {
        let shared = Arc::new(AppShared {
            app_id: String::new(),
            connector: connector.package.label(),
            user_agent: crate::http::user_agent(&connector.package.label()),
            settings: BTreeMap::new(),
            credentials: BTreeMap::new(),
            policy: OutboundPolicy::new(Vec::new(), Vec::new()),
            limits: connector.package.manifest.limits.for_describe(),
            client: self.inner.client.clone(),
        });
        let app = App { runtime: self.clone(), connector: connector.clone(), shared };
        app.describe().await.result
    }

    /// Configures an app on an installed connector (see `configure`): settings
    /// checked against the schema, the allow-list computed as declared ∩
    /// granted, each credential bound to where the operator lets it go.
    pub fn app(&self, connector: Arc<Connector>, config: AppConfig) -> Result<App, ConfigError> {
        let manifest = &connector.package.manifest;
        let (app_id, limits) = (config.app_id.clone(), config.limits);
        let resolved = crate::configure::resolve(manifest, config)?;
        let limits = limits.unwrap_or(manifest.limits);
        limits.validate().map_err(|e| ConfigError(format!("limits: {e}")))?;
        let shared = Arc::new(AppShared {
            app_id,
            connector: connector.package.label(),
            user_agent: crate::http::user_agent(&connector.package.label()),
            settings: resolved.settings,
            credentials: resolved.credentials,
            policy: resolved.policy,
            limits,
            client: self.inner.client.clone(),
        });
        Ok(App { runtime: self.clone(), connector, shared })
    }
}

#[allow(unsafe_code)]
fn deserialize_compiled(engine: &Engine, path: &std::path::Path) -> anyhow::Result<Component> {
    // SAFETY: the file is one this host wrote with `Component::serialize`
    // into its own data directory, under the component's content digest;
    // wasmtime checks that it was produced by a compatible engine.
    Ok(unsafe { Component::deserialize_file(engine, path) }?)
}

fn storage(e: std::io::Error) -> InstallError {
    InstallError::Storage(e.to_string())
}

fn check_descriptor(described: &Result<model::Descriptor, CallError>, manifest: &Manifest) -> Result<(), InstallError> {
    let d = described.as_ref().map_err(|e| InstallError::InvalidComponent(format!("describe() failed: {e}")))?;
    let m = &manifest.connector;
    if d.name != m.name || d.version != m.version {
        return Err(InstallError::Mismatch(format!(
            "describe() says {}@{} but connector.toml says {}@{}; make them the same (with the Rust SDK, describe() usually takes its version from Cargo.toml through env!(\"CARGO_PKG_VERSION\"): bump both files)",
            d.name, d.version, m.name, m.version
        )));
    }
    let from_component: Vec<(&str, crate::manifest::SettingType)> =
        d.settings.iter().map(|s| (s.name.as_str(), s.setting_type)).collect();
    let from_manifest: Vec<(&str, crate::manifest::SettingType)> =
        manifest.settings.iter().map(|s| (s.name.as_str(), s.setting_type)).collect();
    if from_component != from_manifest {
        return Err(InstallError::Mismatch(format!(
            "describe() declares settings {from_component:?} but connector.toml declares {from_manifest:?}; make them the same"
        )));
    }
    let creds: Vec<&str> = manifest.credentials.iter().map(|c| c.name.as_str()).collect();
    if d.credentials.iter().map(String::as_str).collect::<Vec<_>>() != creds {
        return Err(InstallError::Mismatch(format!(
            "describe() names credentials {:?} but connector.toml declares {creds:?}; make them the same",
            d.credentials
        )));
    }
    Ok(())
}

/// What the app's operator configures.
#[derive(Debug, Clone, Default)]
pub struct AppConfig {
    pub app_id: String,
    pub settings: BTreeMap<String, serde_json::Value>,
    pub credentials: BTreeMap<String, CredentialSecret>,
    /// Origins the operator allows this app to reach (`scheme://host[:port]`).
    pub grants: Vec<String>,
    /// Where each credential may be sent, when not only to the origins the
    /// package binds it to exactly (its base URL); each must fall within the
    /// package's binding.
    pub credential_origins: BTreeMap<String, Vec<String>>,
    /// Overrides the manifest's default limits.
    pub limits: Option<Limits>,
}

/// Identifies one intent across its retries.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub operation_id: String,
    pub attempt: u32,
    /// When the caller must have the call given up by (its lease ends): the
    /// call's wall time is the shorter of this and the app's limit.
    pub deadline: Option<Instant>,
}

impl CallContext {
    pub fn new(operation_id: impl Into<String>) -> Self {
        CallContext { operation_id: operation_id.into(), attempt: 1, deadline: None }
    }
}

/// What happened during one call, whatever its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CallReport {
    pub app_id: String,
    pub connector: String,
    pub operation: Operation,
    pub duration: Duration,
    pub requests: u32,
    pub token_fetches: u32,
    pub fuel_consumed: u64,
    pub logs: Vec<LogLine>,
    pub logs_dropped: u64,
    /// Requests of the guest's that the host refused, with the reason.
    pub refusals: Vec<String>,
    /// The guest's stderr (a panic message ends up here).
    pub guest_output: String,
}

impl CallReport {
    /// The report of a call that never ran.
    fn empty(app: &AppShared, operation: Operation) -> CallReport {
        CallReport {
            app_id: app.app_id.clone(),
            connector: app.connector.clone(),
            operation,
            duration: Duration::ZERO,
            requests: 0,
            token_fetches: 0,
            fuel_consumed: 0,
            logs: Vec::new(),
            logs_dropped: 0,
            refusals: Vec::new(),
            guest_output: String::new(),
        }
    }
}

#[derive(Debug)]
pub struct Invocation<T> {
    pub result: Result<T, CallError>,
    pub report: CallReport,
}

impl<T> Invocation<T> {
    pub fn into_result(self) -> Result<T, CallError> {
        self.result
    }
}

/// An instance of one contract version's bindings, with its context.
pub(crate) enum Guest {
    V0_1 { bindings: v0_1::Bindings, ctx: crate::bindings::v0_1::provisio::connector::types::Context },
}

type GuestResult<R> = wasmtime::Result<Result<R, ConnectorError>>;
type BoxedFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A configured app: the connector it runs and everything the host needs to
/// serve its calls. Cheap to clone.
#[derive(Clone)]
pub struct App {
    runtime: Runtime,
    connector: Arc<Connector>,
    shared: Arc<AppShared>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("app_id", &self.shared.app_id).field("connector", &self.shared.connector).finish()
    }
}

impl App {
    pub fn id(&self) -> &str {
        &self.shared.app_id
    }

    pub fn connector(&self) -> &Arc<Connector> {
        &self.connector
    }

    /// The idempotency header for this operation's requests, where the
    /// manifest names one: the intent's operation id and the operation, the
    /// same on every retry of the intent.
    fn idempotency_key(
        &self,
        operation: Operation,
        call: &CallContext,
    ) -> Option<(reqwest::header::HeaderName, String)> {
        let header = self.connector.package.manifest.accounts.idempotency_header.as_deref()?;
        let name = reqwest::header::HeaderName::from_bytes(header.as_bytes()).ok()?;
        Some((name, format!("{}:{}", call.operation_id, operation.name())))
    }

    /// Runs one operation in a fresh store under the app's limits, on the
    /// guest threads when the runtime has them.
    pub(crate) async fn run<R: Bounded + Send + 'static>(
        &self,
        operation: Operation,
        call: &CallContext,
        f: impl for<'a> FnOnce(&'a mut Store<StoreState>, Guest) -> BoxedFuture<'a, GuestResult<R>> + Send + 'static,
    ) -> Invocation<R> {
        let guests = match &self.runtime.inner.guests {
            Some(guests) if !GuestThreads::here() => guests,
            _ => return self.run_here(operation, call, f).await,
        };
        let (app, call_here) = (self.clone(), call.clone());
        // The caller's span (an API request, a push) stays the call's parent.
        let task = async move { app.run_here(operation, &call_here, f).await }.instrument(tracing::Span::current());
        match guests.run(task).await {
            Ok(invocation) => invocation,
            Err(e) => {
                let result = Err(CallError::Host { message: format!("the connector call did not finish: {e}") });
                let report = CallReport::empty(&self.shared, operation);
                crate::trace::call_finished(&report, result.as_ref().err());
                Invocation { result, report }
            }
        }
    }

    async fn run_here<R: Bounded + Send + 'static>(
        &self,
        operation: Operation,
        call: &CallContext,
        f: impl for<'a> FnOnce(&'a mut Store<StoreState>, Guest) -> BoxedFuture<'a, GuestResult<R>>,
    ) -> Invocation<R> {
        let limits = self.shared.limits;
        let started = Instant::now();
        let limit = Duration::from_millis(limits.operation_timeout_ms);
        let timeout = call.deadline.map_or(limit, |d| d.saturating_duration_since(started).min(limit));
        let deadline_ms = (SystemTime::now() + timeout).duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let meter = Arc::new(CallMeter::default());
        let idempotency = self.idempotency_key(operation, call);
        let state = StoreState::new(self.shared.clone(), meter.clone(), operation, started + timeout, idempotency);
        let mut store = Store::new(&self.runtime.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        crate::wall_time::arm(&mut store, started + timeout);

        let outcome =
            match store.set_fuel(limits.fuel).and_then(|()| store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL)))
            {
                Err(e) => Ok(Err(e)),
                Ok(()) => {
                    let run = async {
                        let guest = match &self.connector.pre {
                            Pre::V0_1(pre) => {
                                let bindings = pre.instantiate_async(&mut store).await.map_err(host_fault)?;
                                let ctx = v0_1::context(store.data_mut(), call, deadline_ms).map_err(host_fault)?;
                                Guest::V0_1 { bindings, ctx }
                            }
                        };
                        f(&mut store, guest).await
                    };
                    // One span per call: guest log lines and host events nest under it,
                    // and a caller's span (an API request) is its parent.
                    let span = tracing::info_span!(
                        "connector_call",
                        app = %self.shared.app_id,
                        connector = %self.shared.connector,
                        operation = operation.name(),
                        operation_id = %call.operation_id,
                        attempt = call.attempt,
                    );
                    tokio::time::timeout(timeout, run).instrument(span).await
                }
            };

        let guest_output = meter.redact(&String::from_utf8_lossy(&store.data().stderr.contents()));
        let fuel_left = store.get_fuel().unwrap_or(0);
        let memory_refused = store.data().limiter.refused;
        let label = self.shared.connector.clone();
        let refusals = meter.take_refusals();
        let result = match outcome {
            Ok(Ok(Ok(mut value))) => match value.bound() {
                Ok(()) => Ok(value),
                Err(message) => Err(CallError::InvalidOutput { connector: label.clone(), message }),
            },
            Ok(Ok(Err(mut error))) => {
                error.bound();
                // Only the app's answers and the network are the app's: an
                // error after a refusal, or with no exchange at all, is the guest's.
                let guest_at_fault = matches!(error, ConnectorError::Unsupported { .. })
                    || !refusals.is_empty()
                    || meter.app_exchanges() == 0;
                Err(CallError::Connector { error, blame: if guest_at_fault { Blame::Guest } else { Blame::RemoteApp } })
            }
            Ok(Err(e)) if e.downcast_ref::<DeadlinePassed>().is_some() => Err(CallError::Limit {
                connector: label.clone(),
                limit: LimitKind::WallTime,
                message: format!(
                    "the operation took longer than {} ms while the guest kept running (its own code or its calls to the host)",
                    timeout.as_millis()
                ),
                blame: Blame::Guest,
                guest_output: guest_output.clone(),
            }),
            Ok(Err(e)) => Err(classify_trap(e, &label, memory_refused, &guest_output)),
            Err(_elapsed) => Err(CallError::Limit {
                connector: label.clone(),
                limit: LimitKind::WallTime,
                message: if meter.in_host_call() {
                    format!(
                        "the operation took longer than {} ms, waiting on the app's HTTP answer",
                        timeout.as_millis()
                    )
                } else {
                    format!("the operation took longer than {} ms", timeout.as_millis())
                },
                blame: if meter.in_host_call() { Blame::RemoteApp } else { Blame::Guest },
                guest_output: guest_output.clone(),
            }),
        };
        // Messages are cut before they are scrubbed: the host's work is in
        // proportion to what it keeps, not to what the guest sent.
        let result = result
            .map_err(|e| e.redacted(&|text| crate::bounds::printable(&meter.redact_cut(text, MAX_MESSAGE_BYTES))));
        let report = CallReport {
            app_id: self.shared.app_id.clone(),
            connector: label,
            operation,
            duration: started.elapsed(),
            requests: meter.requests(),
            token_fetches: meter.token_fetches(),
            fuel_consumed: limits.fuel.saturating_sub(fuel_left),
            logs: meter.take_logs(),
            logs_dropped: meter.logs_dropped(),
            refusals,
            guest_output,
        };
        crate::trace::call_finished(&report, result.as_ref().err());
        Invocation { result, report }
    }
}
