//! `provisio serve`: the directory, the engine, the executor and the API in
//! one process, on SQLite in the data directory by default or on PostgreSQL.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use serde::Deserialize;
use tokio::sync::Notify;

use provisio_directory::{NewNode, Sealer, Store};
use provisio_lifecycle::{DuplicateSweep, Engine, Executor, ExecutorConfig};
use provisio_runtime::{Runtime, RuntimeConfig};

use crate::api::{self, AppState};
use crate::hooks::{Dispatcher, HookConfig};
use crate::provisioner::RuntimeConnectors;
use crate::singletons::{DUPLICATES, HOOK_FAN_OUT, RETENTION, Singletons};

/// How often a node looks in the directory for connector versions another
/// node installed.
const PACKAGE_SYNC: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  provisio serve\n  provisio serve --config provisio.toml")]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "PROVISIO_LISTEN")]
    listen: Option<SocketAddr>,
    /// postgres://… to share one PostgreSQL between nodes; default: SQLite in the data directory.
    #[arg(long, env = "PROVISIO_DATABASE_URL")]
    database_url: Option<String>,
    /// A TOML configuration file (command-line flags and environment win).
    #[arg(long, env = "PROVISIO_CONFIG")]
    config: Option<PathBuf>,
}

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    #[serde(default)]
    executor: ExecutorFile,
    #[serde(default)]
    retention: RetentionFile,
    #[serde(default)]
    hooks: HooksFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HooksFile {
    retry_base_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    max_attempts: Option<u32>,
    timeout_ms: Option<u64>,
    poll_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    /// Days a deprovisioned user stays restorable before being purged
    /// (default: kept).
    directory_days: Option<u32>,
    /// How often to look for what retention ended (default: hourly).
    sweep_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecutorFile {
    concurrency: Option<usize>,
    per_app_concurrency: Option<usize>,
    lease_secs: Option<u64>,
    settle_secs: Option<u64>,
    retry_base_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    rate_limit_pause_ms: Option<u64>,
    quarantine_after: Option<u32>,
    poll_ms: Option<u64>,
    /// How often to list each app's accounts for duplicates (default:
    /// hourly; 0: never).
    duplicate_sweep_secs: Option<u64>,
}

pub async fn run(data_dir: &Path, args: Args) -> anyhow::Result<()> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?
        }
        None => FileConfig::default(),
    };
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // Held until this process exits.
    let _data_dir_lock = lock_data_dir(data_dir)?;
    let listen = args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let database_url = args
        .database_url
        .or(file.database_url)
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("provisio.db").display()));

    let sealer = Arc::new(Sealer::new(&secret_key(data_dir)?));
    let token = bootstrap_token(data_dir)?;
    // Leases are named per process run: a restarted node is a new worker,
    // and what its killed run held expires (then settles) instead of being
    // taken back while the app may still be acting on it.
    let node = node_id(data_dir)?;
    let worker_name = format!("{node}/{}", uuid::Uuid::now_v7());

    // Guests run on threads of their own: what a guest makes the host do
    // never delays the API, a health check or a shutdown.
    let guest_threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = Runtime::new(RuntimeConfig::new(data_dir).guest_threads(guest_threads))?;
    runtime.load_installed()?;
    let bulk = runtime.guest_threads().unwrap_or_else(tokio::runtime::Handle::current);
    crate::connectors::install_bundled(&runtime).await?;
    let store = Store::open(&database_url).await.context("opening the directory")?;
    // Logins stored by an earlier version are brought to today's rules;
    // two that are now one are left apart, for an admin to resolve.
    for c in store.rekey_logins().await.context("normalising stored logins")? {
        tracing::warn!(
            user = %c.other, login = %c.other_login, holder = %c.holder,
            "two users' logins are one under NFC and case (stored apart by an earlier version); rename or delete one"
        );
    }
    let connectors = Arc::new(RuntimeConnectors::new(runtime, store.clone(), sealer.clone()));
    // What this node has goes into the directory; what other nodes put
    // there is loaded here, now and whenever one installs a version.
    connectors.register_installed("system").await.context("registering this node's connectors")?;
    connectors.sync().await.context("loading the directory's connectors")?;
    let package_sync = {
        let connectors = connectors.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PACKAGE_SYNC).await;
                if let Err(e) = connectors.sync().await {
                    tracing::warn!(error = %e, "could not look for connector versions in the directory");
                }
            }
        })
    };

    let work = Arc::new(Notify::new());
    let engine = Arc::new(Engine::new(store.clone(), connectors.clone(), work.clone()));
    let e = &file.executor;
    let defaults = ExecutorConfig::default();
    let config = ExecutorConfig {
        owner: worker_name,
        concurrency: e.concurrency.unwrap_or(defaults.concurrency),
        // By default one app may take three quarters of the slots.
        per_app_concurrency: e
            .per_app_concurrency
            .unwrap_or_else(|| (e.concurrency.unwrap_or(defaults.concurrency) * 3 / 4).max(1)),
        lease: e.lease_secs.map(Duration::from_secs).unwrap_or(defaults.lease),
        settle: e.settle_secs.map(Duration::from_secs).unwrap_or(defaults.settle),
        max_rate_limit_pause: defaults.max_rate_limit_pause,
        base_backoff: e.retry_base_ms.map(Duration::from_millis).unwrap_or(defaults.base_backoff),
        max_backoff: e.retry_max_ms.map(Duration::from_millis).unwrap_or(defaults.max_backoff),
        default_rate_limit_pause: e
            .rate_limit_pause_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.default_rate_limit_pause),
        quarantine_after: e.quarantine_after.unwrap_or(defaults.quarantine_after),
        poll: e.poll_ms.map(Duration::from_millis).unwrap_or(defaults.poll),
    };
    config.validate().map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let (owner, lease) = (config.owner.clone(), config.lease);
    let hook_config = {
        let (h, d) = (&file.hooks, HookConfig::default());
        HookConfig {
            poll: h.poll_ms.map(Duration::from_millis).unwrap_or(d.poll),
            base_backoff: h.retry_base_ms.map(Duration::from_millis).unwrap_or(d.base_backoff),
            max_backoff: h.retry_max_ms.map(Duration::from_millis).unwrap_or(d.max_backoff),
            max_attempts: h.max_attempts.unwrap_or(d.max_attempts).max(1),
            timeout: h.timeout_ms.map(Duration::from_millis).unwrap_or(d.timeout),
            owner: config.owner.clone(),
        }
    };
    let executor = Executor::new(store.clone(), connectors.clone(), config, work.clone());
    let shutdown = Arc::new(Notify::new());
    // The executor calls connectors in bulk: it runs where the guests run.
    let worker = bulk.spawn(executor.run(shutdown.clone()));
    let dispatcher = Arc::new(Dispatcher::new(store.clone(), sealer.clone(), hook_config)?);
    let hook_shutdown = Arc::new(Notify::new());
    let hooks = tokio::spawn(dispatcher.clone().run(hook_shutdown.clone()));
    // What runs on one node at a time. Stopped by abort: each holds nothing
    // a cut-off pass would leave half-done.
    let singletons = Singletons::new(store.clone(), &owner, lease);
    let mut single = vec![tokio::spawn(singletons.clone().always(HOOK_FAN_OUT, move || {
        let dispatcher = dispatcher.clone();
        async move { dispatcher.fan_out().await }
    }))];
    if let secs @ 1.. = file.executor.duplicate_sweep_secs.unwrap_or(3600) {
        let sweep = Arc::new(DuplicateSweep::new(store.clone(), connectors.clone()));
        single.push(tokio::spawn(singletons.clone().every(DUPLICATES, Duration::from_secs(secs), move || {
            let sweep = sweep.clone();
            async move {
                match sweep.sweep().await {
                    Ok(swept) if swept.duplicates > 0 => tracing::warn!(?swept, "duplicate accounts found"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the duplicate sweep stopped part-way"),
                }
            }
        })));
    }
    {
        let (engine, every, days) = (
            engine.clone(),
            Duration::from_secs(file.retention.sweep_secs.unwrap_or(3600).max(1)),
            file.retention.directory_days,
        );
        single.push(tokio::spawn(singletons.clone().every(RETENTION, every, move || {
            let engine = engine.clone();
            async move {
                match engine.sweep(days).await {
                    Ok(r) if r.accounts + r.users + r.apps > 0 => {
                        tracing::info!(
                            accounts = r.accounts,
                            users = r.users,
                            apps = r.apps,
                            "retention ended for some"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the retention sweep failed"),
                }
            }
        })));
    }

    let state = AppState {
        store: store.clone(),
        engine,
        connectors,
        sealer,
        token: Arc::new(token.0),
        permissions: Default::default(),
        tokens: Default::default(),
        refusals: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let bound = listener.local_addr()?;
    match token.1 {
        Some(path) => eprintln!("provisio: the admin API token is in {} (readable only by you)", path.display()),
        None => eprintln!("provisio: the admin API token is the one in PROVISIO_BOOTSTRAP_TOKEN"),
    }
    // This run is shown to operators, alive while it says so.
    let beat = (lease / 3).min(Duration::from_secs(10)).max(Duration::from_millis(500));
    let me = NewNode {
        id: owner.clone(),
        node,
        version: env!("CARGO_PKG_VERSION").into(),
        listen: bound.to_string(),
        heartbeat_ms: beat.as_millis() as i64,
    };
    store.register_node(&me).await.context("registering this node")?;
    let alive = {
        let (store, owner) = (store.clone(), owner.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(beat).await;
                if let Err(e) = store.node_heartbeat(&owner).await {
                    tracing::warn!(error = %e, "could not record this node's heartbeat");
                }
            }
        })
    };
    eprintln!("provisio: listening on http://{bound} (directory: {})", redact_url(&database_url));
    // On a signal, requests in flight get SHUTDOWN_GRACE to finish; then the
    // server stops anyway (a request waiting on a slow app is cut off, and
    // what it started is settled like any cut-off call).
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let serving = axum::serve(listener, api::router(state)).with_graceful_shutdown(async move {
        stop_signal().await;
        let _ = stopping_tx.send(true);
    });
    tokio::select! {
        served = serving => served?,
        _ = async {
            let _ = stopping.wait_for(|s| *s).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("requests still in flight {SHUTDOWN_GRACE:?} after the stop signal; stopping anyway"),
    }
    for task in &single {
        task.abort();
    }
    singletons.release().await;
    package_sync.abort();
    shutdown.notify_one();
    hook_shutdown.notify_one();
    let _ = worker.await;
    let _ = hooks.await;
    alive.abort();
    if let Err(e) = store.node_stopped(&owner).await {
        tracing::warn!(error = %e, "could not record this node's stop");
    }
    store.close().await;
    Ok(())
}

/// A database URL with any password removed, for printing.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// Writes a new file only its owner can read; fails if it exists.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use rand_core::RngCore;
    let mut bytes = [0u8; N];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// The key that seals app secrets: `PROVISIO_SECRET_KEY` (base64 of 32
/// bytes), else `secret.key` in the data directory, generated once.
fn secret_key(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = match std::env::var("PROVISIO_SECRET_KEY") {
        Ok(v) => zeroize::Zeroizing::new(v),
        Err(_) => {
            let path = data_dir.join("secret.key");
            if !path.exists() {
                write_private(&path, b64.encode(random_bytes::<32>()).as_bytes())?;
            }
            zeroize::Zeroizing::new(
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
            )
        }
    };
    let bytes = zeroize::Zeroizing::new(b64.decode(text.trim()).context("the secret key is not base64")?);
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| anyhow::anyhow!("the secret key must be 32 bytes (base64)"))
}

/// The super-admin token: `PROVISIO_BOOTSTRAP_TOKEN`, else `bootstrap-token`
/// in the data directory, generated once. Returns the file it is in.
fn bootstrap_token(data_dir: &Path) -> anyhow::Result<(String, Option<PathBuf>)> {
    if let Ok(token) = std::env::var("PROVISIO_BOOTSTRAP_TOKEN") {
        anyhow::ensure!(token.len() >= 16, "PROVISIO_BOOTSTRAP_TOKEN must be at least 16 characters");
        return Ok((token, None));
    }
    let path = data_dir.join("bootstrap-token");
    if !path.exists() {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        write_private(&path, token.as_bytes())?;
    }
    let token = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok((token.trim().to_string(), Some(path)))
}

/// Takes the data directory for this process. A second process on it would
/// share its node id, key and token, and its runs would be told apart only
/// by luck: it is refused, saying which process holds the directory.
fn lock_data_dir(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Seek, Write};
    let path = data_dir.join("provisio.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.rewind()?;
            write!(file, "{}", std::process::id())?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "the data directory {} is in use by another provisio process (pid {}); give each node a data directory of its own",
                data_dir.display(),
                holder.trim()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// This node's id, kept in the data directory: the first half of every
/// lease its runs take (each run adds an id of its own).
fn node_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    if !path.exists() {
        write_private(&path, format!("node-{}", uuid::Uuid::now_v7()).as_bytes())?;
    }
    Ok(std::fs::read_to_string(&path)?.trim().to_string())
}

/// How long requests in flight may take to finish after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Ctrl-C or SIGTERM: stop taking requests, finish what is in flight.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
