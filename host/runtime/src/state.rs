//! What one operation's store holds: an empty WASI context (no files, no
//! environment, no sockets; stderr captured so a panic message reaches the
//! host), the resource table for secret handles, the memory limiter, and the
//! meter that outlives the store so a timed-out call can still be reported.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::limits::{Limits, MemoryLimiter};
use crate::model::{Operation, Scalar};
use crate::outbound::OutboundPolicy;
use crate::secrets::{AppCredential, SecretString};

/// Bytes of guest stderr kept per operation.
const STDERR_CAPACITY: usize = 16 << 10;
/// Longest single log message kept; longer ones are cut.
const MAX_LOG_MESSAGE: usize = 4 << 10;

/// One configured app as the runtime needs it, shared by all its operations.
#[derive(Debug)]
pub(crate) struct AppShared {
    pub app_id: String,
    /// `name@version`, for traces and errors.
    pub connector: String,
    pub settings: BTreeMap<String, Scalar>,
    pub credentials: BTreeMap<String, Arc<AppCredential>>,
    pub policy: OutboundPolicy,
    pub limits: Limits,
    pub client: reqwest::Client,
    /// `provisio/<host version> (<connector>@<version>)`.
    pub user_agent: reqwest::header::HeaderValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// Counters of one operation, shared with the caller.
#[derive(Debug, Default)]
pub(crate) struct CallMeter {
    requests: AtomicU32,
    /// Exchanges that reached the app: it answered, or the network failed.
    app_exchanges: AtomicU32,
    token_fetches: AtomicU32,
    log_bytes: AtomicU64,
    logs_dropped: AtomicU64,
    in_host_call: AtomicBool,
    logs: Mutex<Vec<LogLine>>,
    refusals: Mutex<Vec<String>>,
    /// Values this operation must never show: what the app, the guest's logs
    /// or its stderr echo of them is replaced before it is kept or passed on.
    secrets: Mutex<Vec<SecretString>>,
}

/// What a secret's value is replaced with.
pub(crate) const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not scrubbed (they would match everywhere).
const MIN_SCRUBBED_LEN: usize = 4;

impl CallMeter {
    /// Returns the number of this request (1-based).
    pub fn count_request(&self) -> u32 {
        self.requests.fetch_add(1, Ordering::Relaxed) + 1
    }
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn count_app_exchange(&self) {
        self.app_exchanges.fetch_add(1, Ordering::Relaxed);
    }
    pub fn app_exchanges(&self) -> u32 {
        self.app_exchanges.load(Ordering::Relaxed)
    }
    pub fn count_token_fetch(&self) {
        self.token_fetches.fetch_add(1, Ordering::Relaxed);
    }
    pub fn token_fetches(&self) -> u32 {
        self.token_fetches.load(Ordering::Relaxed)
    }
    /// Marks time spent waiting on the remote app, so a wall-time overrun is
    /// blamed on the right party. Deliberately not reset by a drop guard: when
    /// the deadline cancels the call mid-request, the mark must stay set.
    pub fn enter_host_call(&self) {
        self.in_host_call.store(true, Ordering::Relaxed);
    }
    pub fn exit_host_call(&self) {
        self.in_host_call.store(false, Ordering::Relaxed);
    }
    pub fn in_host_call(&self) -> bool {
        self.in_host_call.load(Ordering::Relaxed)
    }
    /// Remembers that the host refused a request of the guest's, and why.
    pub fn record_refusal(&self, why: &str) {
        if let Ok(mut r) = self.refusals.lock()
            && r.len() < 16
        {
            r.push(why.to_string());
        }
    }
    pub fn take_refusals(&self) -> Vec<String> {
        self.refusals.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default()
    }

    pub fn logs_dropped(&self) -> u64 {
        self.logs_dropped.load(Ordering::Relaxed)
    }
    pub fn take_logs(&self) -> Vec<LogLine> {
        self.logs.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default()
    }

    pub fn register_secret(&self, secret: &SecretString) {
        if secret.expose().len() < MIN_SCRUBBED_LEN {
            return;
        }
        if let Ok(mut s) = self.secrets.lock()
            && !s.iter().any(|known| known.expose() == secret.expose())
        {
            s.push(secret.clone());
        }
    }

    /// The forms a secret can take in text: as is, and escaped inside JSON.
    fn secret_forms(&self) -> Vec<String> {
        let Ok(secrets) = self.secrets.lock() else {
            return Vec::new();
        };
        let mut forms = Vec::new();
        for s in secrets.iter() {
            forms.push(s.expose().to_string());
            if let Ok(json) = serde_json::to_string(s.expose()) {
                let escaped = &json[1..json.len() - 1];
                if escaped != s.expose() {
                    forms.push(escaped.to_string());
                }
            }
        }
        forms
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for form in self.secret_forms() {
            if out.contains(&form) {
                out = out.replace(&form, REDACTED);
            }
        }
        out
    }

    /// `text` scrubbed and cut to at most `max` bytes (and a marker), doing
    /// work in proportion to `max`, not to the text: a guest that sends
    /// megabytes costs the host no more than one that sends the limit.
    pub fn redact_cut(&self, text: &str, max: usize) -> String {
        let forms = self.secret_forms();
        // A secret that straddles the cut is still whole in the slack.
        let slack = forms.iter().map(String::len).max().unwrap_or(0);
        let (head, _) = crate::bounds::cut(text, max.saturating_add(slack));
        let mut out = head.to_string();
        for form in forms {
            if out.contains(&form) {
                out = out.replace(&form, REDACTED);
            }
        }
        let (kept, dropped) = crate::bounds::cut(&out, max);
        let dropped = dropped + (text.len() - head.len());
        if dropped == 0 { out } else { crate::bounds::with_marker(kept, dropped) }
    }

    pub fn redact_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        let forms = self.secret_forms();
        if forms.is_empty() {
            return bytes;
        }
        let mut out = bytes;
        for form in forms {
            out = replace_bytes(&out, form.as_bytes(), REDACTED.as_bytes());
        }
        out
    }

    /// Keeps the line if the operation's log budget allows; returns it if kept.
    pub fn record_log(&self, budget: u64, level: LogLevel, message: &str) -> Option<LogLine> {
        if self.log_bytes.load(Ordering::Relaxed) >= budget {
            // The budget is spent: nothing more to scrub or keep.
            self.logs_dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let message = crate::bounds::printable(&self.redact_cut(message, MAX_LOG_MESSAGE));
        let used = self.log_bytes.fetch_add(message.len() as u64, Ordering::Relaxed);
        if used + message.len() as u64 > budget {
            self.logs_dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let line = LogLine { level, message };
        if let Ok(mut logs) = self.logs.lock() {
            logs.push(line.clone());
        }
        Some(line)
    }
}

/// The parts of a store's state that host calls use across an await (the
/// WASI context is not `Sync`, so host calls work on this instead).
#[derive(Clone)]
pub(crate) struct CallScope {
    pub app: Arc<AppShared>,
    pub meter: Arc<CallMeter>,
    pub deadline: Instant,
    /// The header and key prefix the host sends with every request that
    /// changes something (the manifest's `idempotency_header`).
    pub idempotency: Option<(reqwest::header::HeaderName, String)>,
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

pub(crate) struct StoreState {
    wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub app: Arc<AppShared>,
    pub meter: Arc<CallMeter>,
    pub operation: Operation,
    pub deadline: Instant,
    pub idempotency: Option<(reqwest::header::HeaderName, String)>,
    pub stderr: MemoryOutputPipe,
}

impl StoreState {
    pub fn scope(&self) -> CallScope {
        CallScope {
            app: self.app.clone(),
            meter: self.meter.clone(),
            deadline: self.deadline,
            idempotency: self.idempotency.clone(),
        }
    }

    pub fn new(
        app: Arc<AppShared>,
        meter: Arc<CallMeter>,
        operation: Operation,
        deadline: Instant,
        idempotency: Option<(reqwest::header::HeaderName, String)>,
    ) -> Self {
        // stderr counts against the log budget too (with room for a panic message).
        let stderr_capacity =
            usize::try_from(app.limits.max_log_bytes).unwrap_or(usize::MAX).clamp(1024, STDERR_CAPACITY);
        let stderr = MemoryOutputPipe::new(stderr_capacity);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        StoreState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                memory_bytes: usize::try_from(app.limits.memory_bytes).unwrap_or(usize::MAX),
                ..MemoryLimiter::default()
            },
            app,
            meter,
            operation,
            deadline,
            idempotency,
            stderr,
        }
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
