//! The lifecycle engine's [`Connectors`], implemented by the WebAssembly
//! runtime: an app's configuration and sealed credentials become a runtime
//! `App` (built once per app version and cached), engine calls become
//! connector calls, and connector errors become the engine's failure kinds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value as Json};

use provisio_directory::{App, PackageContent, Sealer, Store};
use provisio_lifecycle::{AccountOp, Call, CallFailure, CallId, Connectors, FailureKind, FoundAccount, Reply};
use provisio_runtime::model::{self, Operation, Scalar};
use provisio_runtime::{AppConfig, Blame, CallContext, CallError, CredentialSecret, Runtime};

/// Why an install or removal failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallFailure {
    #[error("{0}")]
    Install(provisio_runtime::InstallError),
    #[error("{0}")]
    Store(provisio_directory::StoreError),
    #[error("describe: {0}")]
    Describe(String),
}

pub struct RuntimeConnectors {
    runtime: Runtime,
    store: Store,
    sealer: Arc<Sealer>,
    /// Operations per installed connector (`name@version`), from describe().
    operations: RwLock<HashMap<String, Vec<Operation>>>,
    /// Configured apps, rebuilt when the app's row changes.
    apps: RwLock<HashMap<String, (i64, Arc<provisio_runtime::App>)>>,
    /// One sync at a time: callers that find a version missing at once
    /// wait for one load of it, not compile it side by side.
    syncing: tokio::sync::Mutex<()>,
    /// Bumped by every app edit on this node (see `Connectors::apps_epoch`).
    epoch: std::sync::atomic::AtomicU64,
}

impl RuntimeConnectors {
    pub fn new(runtime: Runtime, store: Store, sealer: Arc<Sealer>) -> Self {
        RuntimeConnectors {
            runtime,
            store,
            sealer,
            operations: RwLock::new(HashMap::new()),
            apps: RwLock::new(HashMap::new()),
            syncing: tokio::sync::Mutex::new(()),
            epoch: Default::default(),
        }
    }

    /// An app's configuration changed here: the executor reads apps again
    /// before its next call. (Other nodes read them within half a second.)
    pub fn app_changed(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Learns what every installed connector supports, and records each in
    /// the directory with its content, so every node can load it.
    pub async fn register_installed(&self, actor: &str) -> anyhow::Result<()> {
        for connector in self.runtime.connectors() {
            let component = std::fs::read(self.runtime.packages().component_path(&connector.package.digest))?;
            self.record(actor, &connector, &connector.package.manifest.to_toml(), component).await?;
        }
        Ok(())
    }

    /// Describes a loaded connector and records it (with its content).
    async fn record(
        &self,
        actor: &str,
        c: &Arc<provisio_runtime::Connector>,
        manifest: &str,
        component: Vec<u8>,
    ) -> Result<(), InstallFailure> {
        let descriptor = self.runtime.describe(c).await.map_err(|e| InstallFailure::Describe(e.to_string()))?;
        let operations = descriptor.operations.iter().filter_map(|o| operation_name(*o)).collect();
        let content = PackageContent { manifest: manifest.to_string(), component, operations };
        let (name, version, contract) = (c.package.name(), c.package.version(), c.contract_version.to_string());
        self.store
            .register_package(actor, name, version, &c.package.digest, &contract, Some(&content))
            .await
            .map_err(InstallFailure::Store)?;
        self.operations.write().unwrap_or_else(|p| p.into_inner()).insert(c.package.label(), descriptor.operations);
        Ok(())
    }

    /// Loads every version the directory holds that this node lacks (one
    /// another node installed), and learns from the directory what each
    /// version can do, loaded here or not. A version this node cannot load
    /// (a contract it does not support, content not stored) is skipped and
    /// tried again next time. Returns how many were loaded.
    pub async fn sync(&self) -> Result<usize, provisio_directory::StoreError> {
        let _one_at_a_time = self.syncing.lock().await;
        let mut loaded = 0;
        for p in self.store.packages().await? {
            let label = format!("{}@{}", p.name, p.version);
            if self.runtime.connector(&p.name, &p.version).is_none() {
                match self.load(&p.digest).await {
                    Ok(true) => {
                        loaded += 1;
                        tracing::info!(connector = %label, "loaded a connector version from the directory");
                    }
                    Ok(false) => tracing::debug!(connector = %label, "the directory holds no content for it"),
                    Err(e) => tracing::warn!(connector = %label, error = %e, "cannot load this version on this node"),
                }
            }
            let known = self.operations.read().unwrap_or_else(|p| p.into_inner()).contains_key(&label);
            if !known && !p.operations.is_empty() {
                let operations: Vec<Operation> =
                    p.operations.iter().filter_map(|o| serde_json::from_value(Json::String(o.clone())).ok()).collect();
                self.operations.write().unwrap_or_else(|p| p.into_inner()).insert(label, operations);
            }
        }
        Ok(loaded)
    }

    async fn load(&self, digest: &str) -> anyhow::Result<bool> {
        let Some((manifest, component)) = self.store.package_content(digest).await? else { return Ok(false) };
        let c = self.runtime.install(&manifest, &component).await?;
        let descriptor = self.runtime.describe(&c).await?;
        self.operations.write().unwrap_or_else(|p| p.into_inner()).insert(c.package.label(), descriptor.operations);
        Ok(true)
    }

    /// Installs a package on this node, records it in the directory (with
    /// its content, for the other nodes) and learns what it supports.
    pub async fn install(
        &self,
        actor: &str,
        manifest: &str,
        component: &[u8],
    ) -> Result<Arc<provisio_runtime::Connector>, InstallFailure> {
        let c = self.runtime.install(manifest, component).await.map_err(InstallFailure::Install)?;
        self.record(actor, &c, manifest, component.to_vec()).await?;
        Ok(c)
    }

    /// Removes a version no app runs: from the directory first (which
    /// refuses while an app uses it), then from this node.
    pub async fn uninstall(&self, actor: &str, name: &str, version: &str) -> Result<(), InstallFailure> {
        self.store.unregister_package(actor, name, version).await.map_err(InstallFailure::Store)?;
        self.operations.write().unwrap_or_else(|p| p.into_inner()).remove(&format!("{name}@{version}"));
        self.runtime.uninstall(name, version).map_err(|e| InstallFailure::Describe(e.to_string()))
    }

    /// The runtime app for a directory app, built from its configuration.
    /// A configuration the connector refuses is the operator's to fix (a
    /// permanent failure, not counted towards quarantine); a connector this
    /// node lacks, or a store that does not answer, may pass.
    pub async fn configured(&self, app: &App) -> Result<Arc<provisio_runtime::App>, CallFailure> {
        if let Some((version, built)) = self.apps.read().unwrap_or_else(|p| p.into_inner()).get(&app.id)
            && *version == app.updated_at
        {
            return Ok(built.clone());
        }
        let misconfigured = |e: String| CallFailure {
            kind: FailureKind::Rejected,
            message: format!("the app's configuration does not work with its connector: {e}; fix the app, then retry"),
        };
        let connector = self.runtime.connector(&app.connector_name, &app.connector_version).ok_or_else(|| {
            host_fault(format!(
                "connector {}@{} is not installed on this node",
                app.connector_name, app.connector_version
            ))
        })?;
        let secrets = self.store.app_secrets(&app.id, &self.sealer).await.map_err(|e| host_fault(e.to_string()))?;
        let config = app_config(&app.id, &AppParts::of(app), secrets).map_err(misconfigured)?;
        let built = Arc::new(self.runtime.app(connector, config).map_err(|e| misconfigured(e.0))?);
        self.apps.write().unwrap_or_else(|p| p.into_inner()).insert(app.id.clone(), (app.updated_at, built.clone()));
        Ok(built)
    }

    /// Tests the app's connection (the connector's `check`).
    pub async fn check(&self, app: &App) -> Result<(), String> {
        let built = self.configured(app).await.map_err(|f| f.message)?;
        built
            .check(&CallContext::new(format!("check-{}", uuid::Uuid::now_v7())))
            .await
            .result
            .map_err(|e| e.to_string())
    }
}

/// The parts of an app's configuration that are not secret, as stored or
/// as a request gives them.
pub struct AppParts<'a> {
    pub settings: &'a Json,
    pub grants: &'a [String],
    pub credential_origins: &'a BTreeMap<String, Vec<String>>,
}

impl<'a> AppParts<'a> {
    pub fn of(app: &'a App) -> Self {
        AppParts { settings: &app.settings, grants: &app.grants, credential_origins: &app.credential_origins }
    }
}

/// Validates an app's configuration against its connector's schema without
/// keeping anything.
pub fn validate_config(
    runtime: &Runtime,
    connector: (&str, &str),
    parts: &AppParts<'_>,
    secrets: &Map<String, Json>,
) -> Result<(), String> {
    let (name, version) = connector;
    let installed: Vec<String> = runtime.connectors().iter().map(|c| c.package.label()).collect();
    let c = runtime
        .connector(name, version)
        .ok_or_else(|| format!("connector {name}@{version} is not installed (installed: {})", installed.join(", ")))?;
    runtime.app(c, app_config("validation", parts, secrets.clone())?).map(|_| ()).map_err(|e| e.0)
}

/// Where each of the app's credentials goes, for showing: empty when this
/// node lacks the connector.
pub fn credential_origins(runtime: &Runtime, app: &App) -> BTreeMap<String, Vec<String>> {
    let Some(c) = runtime.connector(&app.connector_name, &app.connector_version) else {
        return BTreeMap::new();
    };
    match app_config(&app.id, &AppParts::of(app), Map::new()) {
        Ok(config) => provisio_runtime::credential_origins(&c.package.manifest, &config),
        Err(_) => BTreeMap::new(),
    }
}

fn app_config(app_id: &str, parts: &AppParts<'_>, secrets: Map<String, Json>) -> Result<AppConfig, String> {
    let settings: BTreeMap<String, Json> = match parts.settings {
        Json::Object(o) => o.clone().into_iter().collect(),
        Json::Null => BTreeMap::new(),
        _ => return Err("settings must be an object".into()),
    };
    let mut credentials = BTreeMap::new();
    for (name, value) in secrets {
        if !value.is_object() {
            return Err(format!(
                "credential \"{name}\" must be an object with a scheme (bearer, basic or oauth2-client-credentials) and its fields, e.g. {{\"scheme\": \"bearer\", \"token\": \"…\"}}"
            ));
        }
        let secret: CredentialSecret = serde_json::from_value(value.clone()).map_err(|e| {
            // serde quotes the offending value: a secret must not come back.
            let message = redact_values(&e.to_string(), &value);
            format!("credential \"{name}\": {message} (give a scheme: bearer, basic or oauth2-client-credentials)")
        })?;
        credentials.insert(name, secret);
    }
    Ok(AppConfig {
        app_id: app_id.into(),
        settings,
        credentials,
        grants: parts.grants.to_vec(),
        credential_origins: parts.credential_origins.clone(),
        limits: None,
    })
}

/// `message` with every value of `credential` (strings and numbers) masked.
fn redact_values(message: &str, credential: &Json) -> String {
    let mut out = message.to_string();
    if let Json::Object(fields) = credential {
        for value in fields.values() {
            let text = match value {
                Json::String(s) if !s.is_empty() => s.clone(),
                Json::Number(n) => n.to_string(),
                _ => continue,
            };
            out = out.replace(&text, "…");
        }
    }
    out
}

/// An operation's name as the manifest and the directory write it.
fn operation_name(op: Operation) -> Option<String> {
    serde_json::to_value(op).ok().and_then(|v| v.as_str().map(str::to_string))
}

fn operation(op: AccountOp) -> Operation {
    match op {
        AccountOp::Create => Operation::CreateUser,
        AccountOp::Update => Operation::UpdateUser,
        AccountOp::Deactivate => Operation::DeactivateUser,
        AccountOp::Reactivate => Operation::ReactivateUser,
        AccountOp::Delete => Operation::DeleteUser,
        AccountOp::Lookup => Operation::GetUser,
        AccountOp::List => Operation::ListUsers,
    }
}

impl Connectors for RuntimeConnectors {
    fn apps_epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    fn supports(&self, app: &App, op: AccountOp) -> bool {
        let label = format!("{}@{}", app.connector_name, app.connector_version);
        self.operations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&label)
            .is_some_and(|ops| ops.contains(&operation(op)))
    }

    async fn runs_here(&self, app: &App) -> bool {
        let here = || self.runtime.connector(&app.connector_name, &app.connector_version).is_some();
        if here() {
            return true;
        }
        // Installed through another node since this one last looked.
        if let Err(e) = self.sync().await {
            tracing::warn!(error = %e, "could not look for connector versions in the directory");
        }
        here()
    }

    fn correlation(&self, app: &App) -> Option<String> {
        let connector = self.runtime.connector(&app.connector_name, &app.connector_version)?;
        connector.package.manifest.accounts.correlation.clone()
    }

    async fn call(&self, app: &App, id: CallId, call: Call) -> Result<Reply, CallFailure> {
        let built = self.configured(app).await?;
        let ctx = CallContext { operation_id: id.operation_id, attempt: id.attempt, deadline: id.deadline };
        let key = built.connector().package.manifest.accounts.correlation.clone();
        let found = |account: &model::Account| found(account, key.as_deref());
        match call {
            Call::Create { login, active, attributes } => {
                let user = model::NewAccount { login, active, profile: profile_of(&attributes)? };
                let account = built.create_user(&ctx, &user).await.result.map_err(|e| failure(e, key.as_deref()))?;
                Ok(Reply::Account(found(&account)))
            }
            Call::Update { id, changes, removed, desired } => {
                let mut typed: model::Changes = BTreeMap::new();
                for (name, value) in &changes {
                    typed.insert(name.clone(), Some(value_of(name, value)?));
                }
                for name in removed {
                    typed.insert(name, None);
                }
                let account = built
                    .update_user(&ctx, &id, &typed, &profile_of(&desired)?)
                    .await
                    .result
                    .map_err(|e| failure(e, key.as_deref()))?;
                Ok(Reply::Account(found(&account)))
            }
            Call::Deactivate { id } => built
                .deactivate_user(&ctx, &id)
                .await
                .result
                .map(|()| Reply::Done)
                .map_err(|e| failure(e, key.as_deref())),
            Call::Reactivate { id } => built
                .reactivate_user(&ctx, &id)
                .await
                .result
                .map(|()| Reply::Done)
                .map_err(|e| failure(e, key.as_deref())),
            Call::Delete { id } => {
                built.delete_user(&ctx, &id).await.result.map(|()| Reply::Done).map_err(|e| failure(e, key.as_deref()))
            }
            Call::Lookup { login } => {
                let account = built
                    .get_user(&ctx, &model::AccountKey::Login(login))
                    .await
                    .result
                    .map_err(|e| failure(e, key.as_deref()))?;
                Ok(Reply::Found(account.as_ref().map(found)))
            }
            Call::List { cursor } => {
                let request = model::ListRequest { cursor, since: None, page_size: 500 };
                let page = built.list_users(&ctx, &request).await.result.map_err(|e| failure(e, key.as_deref()))?;
                Ok(Reply::Page { accounts: page.items.iter().map(found).collect(), next: page.next_cursor })
            }
        }
    }
}

/// An account as the engine sees it; `key` names the attribute holding
/// Provisio's correlation key.
fn found(account: &model::Account, key: Option<&str>) -> FoundAccount {
    let correlation = key.and_then(|k| match account.profile.get(k) {
        Some(model::Value::Single(Scalar::Text(value))) if !value.is_empty() => Some(value.clone()),
        _ => None,
    });
    FoundAccount { id: account.id.clone(), active: account.active, correlation }
}

/// The executor's view of a call's failure. Who is to blame decides what
/// happens next (a fault of Provisio's never counts against the app) and
/// leads the message, so the operator knows where to look.
fn failure(e: CallError, key: Option<&str>) -> CallFailure {
    use model::ConnectorError as E;
    // A connector's typed error says what it is; a trap or a limit the
    // guest ran into is the connector's failing, not the app's.
    let message = match (&e, e.blame()) {
        (_, Blame::Host) => return host_fault(e.to_string()),
        (CallError::Trap { .. } | CallError::Limit { .. } | CallError::InvalidOutput { .. }, Blame::Guest) => {
            format!("the connector failed, not the app: {e}")
        }
        _ => e.to_string(),
    };
    let kind = match e {
        CallError::Connector { error, .. } => match error {
            E::NotFound { .. } => FailureKind::NotFound,
            E::Conflict { existing, .. } => {
                FailureKind::Conflict { existing: existing.as_ref().map(|a| found(a, key)) }
            }
            E::RateLimited { retry_after_ms, .. } => FailureKind::RateLimited { retry_after_ms },
            E::Unauthorized { .. } => FailureKind::Unauthorized,
            E::InvalidInput { .. } | E::Permanent { .. } => FailureKind::Rejected,
            E::Unsupported { .. } => FailureKind::Unsupported,
            E::Transient { .. } => FailureKind::Transient,
        },
        // A limit or a trap (a host fault returned above): the app may have acted.
        CallError::Limit { .. } | CallError::Trap { .. } | CallError::InvalidOutput { .. } | CallError::Host { .. } => {
            FailureKind::Transient
        }
    };
    CallFailure { kind, message }
}

fn host_fault(message: String) -> CallFailure {
    CallFailure {
        kind: FailureKind::HostFault,
        message: format!("Provisio failed, not the app or its connector: {message}; see this node's log"),
    }
}

fn rejected(message: String) -> CallFailure {
    CallFailure { kind: FailureKind::Rejected, message }
}

fn profile_of(attributes: &Map<String, Json>) -> Result<model::Profile, CallFailure> {
    attributes.iter().map(|(name, value)| Ok((name.clone(), value_of(name, value)?))).collect()
}

/// A mapped JSON value as the contract's typed value: a scalar, a list of
/// scalars, an object of scalars, or a list of such objects.
fn value_of(name: &str, value: &Json) -> Result<model::Value, CallFailure> {
    let shape =
        || rejected(format!("attribute \"{name}\": {value} nests deeper than the contract carries (two levels)"));
    Ok(match value {
        Json::Array(items) if items.iter().all(Json::is_object) && !items.is_empty() => model::Value::MultiComplex(
            items.iter().map(|item| complex(item).ok_or_else(shape)).collect::<Result<Vec<_>, _>>()?,
        ),
        Json::Array(items) => {
            model::Value::Multi(items.iter().map(|i| scalar(i).ok_or_else(shape)).collect::<Result<Vec<_>, _>>()?)
        }
        Json::Object(_) => model::Value::Complex(complex(value).ok_or_else(shape)?),
        other => model::Value::Single(scalar(other).ok_or_else(shape)?),
    })
}

fn complex(value: &Json) -> Option<BTreeMap<String, Scalar>> {
    let Json::Object(fields) = value else { return None };
    fields.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| Some((k.clone(), scalar(v)?))).collect()
}

fn scalar(value: &Json) -> Option<Scalar> {
    Some(match value {
        Json::Bool(b) => Scalar::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Integer(i),
            None => Scalar::Number(n.as_f64()?),
        },
        Json::String(s) => Scalar::Text(s.clone()),
        _ => return None,
    })
}
