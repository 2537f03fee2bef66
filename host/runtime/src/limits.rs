//! Per-app limits, kept apart so each one can be reasoned about and tested on
//! its own: guest CPU (fuel), wall time per operation (host calls included),
//! time and size per HTTP exchange, memory, requests and log volume per operation.

use serde::{Deserialize, Serialize};

/// The largest memory any app may be given; the pooling allocator reserves
/// slots of this size.
pub const MAX_MEMORY_BYTES: u64 = 512 << 20;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Guest CPU per operation, in wasmtime fuel (about 27 million units per
    /// millisecond of guest code on this class of machine). Host calls cost none.
    pub fuel: u64,
    /// Wall time per operation, host calls included.
    pub operation_timeout_ms: u64,
    /// Time for one HTTP exchange (connect, send, whole response).
    pub http_timeout_ms: u64,
    pub max_request_bytes: u64,
    pub max_response_bytes: u64,
    /// HTTP requests per operation.
    pub max_requests: u32,
    /// Linear memory of the instance.
    pub memory_bytes: u64,
    /// Log bytes per operation; the rest is dropped and counted.
    pub max_log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 10_000_000_000,
            operation_timeout_ms: 60_000,
            http_timeout_ms: 30_000,
            max_request_bytes: 4 << 20,
            max_response_bytes: 16 << 20,
            max_requests: 1_000,
            memory_bytes: 128 << 20,
            max_log_bytes: 64 << 10,
        }
    }
}

impl Limits {
    /// The most any manifest or operator may set: a package cannot give
    /// itself unbounded CPU, time or buffers on the host.
    pub const CEILING: Limits = Limits {
        fuel: 200_000_000_000,
        operation_timeout_ms: 15 * 60 * 1000,
        http_timeout_ms: 5 * 60 * 1000,
        max_request_bytes: 64 << 20,
        max_response_bytes: 256 << 20,
        max_requests: 100_000,
        memory_bytes: MAX_MEMORY_BYTES,
        max_log_bytes: 1 << 20,
    };

    /// What `describe()` gets at install time, whatever the manifest asks.
    pub fn for_describe(&self) -> Limits {
        Limits { max_requests: 1, ..Limits::default() }
    }

    pub fn validate(&self) -> Result<(), String> {
        let c = Limits::CEILING;
        let fields = [
            ("fuel", self.fuel, c.fuel),
            ("operation_timeout_ms", self.operation_timeout_ms, c.operation_timeout_ms),
            ("http_timeout_ms", self.http_timeout_ms, c.http_timeout_ms),
            ("max_request_bytes", self.max_request_bytes, c.max_request_bytes),
            ("max_response_bytes", self.max_response_bytes, c.max_response_bytes),
            ("max_requests", u64::from(self.max_requests), u64::from(c.max_requests)),
            ("memory_bytes", self.memory_bytes, c.memory_bytes),
        ];
        for (name, value, ceiling) in fields {
            if value == 0 {
                return Err(format!("{name} must be greater than 0"));
            }
            if value > ceiling {
                return Err(format!("{name} = {value} is above the host's maximum of {ceiling}; lower it"));
            }
        }
        if self.max_log_bytes > c.max_log_bytes {
            return Err(format!(
                "max_log_bytes = {} is above the host's maximum of {}; lower it",
                self.max_log_bytes, c.max_log_bytes
            ));
        }
        Ok(())
    }
}

/// Which limit stopped an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    Cpu,
    Memory,
    WallTime,
    Stack,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Cpu => "CPU (fuel)",
            LimitKind::Memory => "memory",
            LimitKind::WallTime => "wall time",
            LimitKind::Stack => "stack",
        })
    }
}

/// Caps one store's memory and tables, and remembers that it had to refuse,
/// so an out-of-memory abort is reported as the memory limit, not a crash.
#[derive(Debug, Default)]
pub(crate) struct MemoryLimiter {
    pub memory_bytes: usize,
    /// Bytes of linear memory the store's instances hold.
    pub used: usize,
    pub refused: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    /// The limit is for the whole store: a component with several memories
    /// shares one budget.
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.used.saturating_add(desired.saturating_sub(current));
        let ok = total <= self.memory_bytes;
        if ok {
            self.used = total;
        }
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
