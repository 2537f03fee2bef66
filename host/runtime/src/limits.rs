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
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("fuel", self.fuel),
            ("operation_timeout_ms", self.operation_timeout_ms),
            ("http_timeout_ms", self.http_timeout_ms),
            ("max_request_bytes", self.max_request_bytes),
            ("max_response_bytes", self.max_response_bytes),
            ("max_requests", u64::from(self.max_requests)),
            ("memory_bytes", self.memory_bytes),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be greater than 0"));
            }
        }
        if self.memory_bytes > MAX_MEMORY_BYTES {
            return Err(format!(
                "memory_bytes = {} is above the host's maximum of {MAX_MEMORY_BYTES}; lower it",
                self.memory_bytes
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
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    pub memory_bytes: usize,
    pub refused: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let ok = desired <= self.memory_bytes;
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
