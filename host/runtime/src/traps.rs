//! What a trap means: which limit the guest ran into, or what it did, and
//! what it said about it on stderr.

use crate::error::{Blame, CallError};
use crate::limits::LimitKind;

pub(crate) fn classify_trap(
    e: wasmtime::Error,
    connector: &str,
    memory_refused: bool,
    guest_output: &str,
) -> CallError {
    let said = guest_said(guest_output);
    let with_said = |base: String| match &said {
        Some(s) => format!("{base}; the guest said: {s}"),
        None => base,
    };
    let limit = |limit: LimitKind, message: String| CallError::Limit {
        connector: connector.to_string(),
        limit,
        message,
        blame: Blame::Guest,
        guest_output: guest_output.to_string(),
    };
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => limit(
            LimitKind::Cpu,
            "the guest used up its CPU budget (fuel) for this operation, e.g. an endless loop".into(),
        ),
        Some(wasmtime::Trap::StackOverflow) => {
            limit(LimitKind::Stack, "the guest overflowed its call stack, e.g. endless recursion".into())
        }
        Some(_) if memory_refused => limit(
            LimitKind::Memory,
            with_said("the guest asked for more memory than the app's memory limit allows".into()),
        ),
        Some(wasmtime::Trap::MemoryOutOfBounds) if shadow_stack_overflow(&e) => limit(
            LimitKind::Stack,
            "the guest ran out of stack: an out-of-bounds access inside a deep recursion, most likely its \
             stack in linear memory (deep recursion or large stack frames; the stack's size is fixed when \
             the connector is built)"
                .into(),
        ),
        Some(trap) => CallError::Trap {
            connector: connector.to_string(),
            message: with_said(trap.to_string()),
            guest_output: guest_output.to_string(),
        },
        None if memory_refused => limit(
            LimitKind::Memory,
            with_said("the guest asked for more memory than the app's memory limit allows".into()),
        ),
        None => match e.downcast_ref::<HostFault>() {
            Some(fault) => CallError::Host { message: fault.0.clone() },
            // Not a trap and not the host's own failure: wasmtime refused what
            // the guest passed across the boundary (a forged handle, bad UTF-8,
            // an out-of-bounds pointer).
            None => CallError::Trap {
                connector: connector.to_string(),
                message: with_said(format!("invalid call across the boundary: {}", e.root_cause())),
                guest_output: guest_output.to_string(),
            },
        },
    }
}

/// A failure of the host itself (instantiation, its own tables): never the
/// guest's fault.
#[derive(Debug)]
pub(crate) struct HostFault(pub String);

impl std::fmt::Display for HostFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HostFault {}

pub(crate) fn host_fault(e: impl std::fmt::Display) -> wasmtime::Error {
    wasmtime::Error::new(HostFault(e.to_string()))
}

/// Compilers for wasm32 keep a "shadow" stack in linear memory beside wasm's
/// own call stack: running out of it is an out-of-bounds access, not a stack
/// overflow trap. Such an access inside a deep recursion (the innermost
/// frames all one function) is most likely that stack running out.
fn shadow_stack_overflow(e: &wasmtime::Error) -> bool {
    const DEPTH: usize = 8;
    let Some(trace) = e.downcast_ref::<wasmtime::WasmBacktrace>() else { return false };
    let frames = trace.frames();
    frames.len() >= DEPTH && frames[..DEPTH].iter().all(|f| f.func_index() == frames[0].func_index())
}

/// The panic or abort message in a guest's stderr, if any (the runtime's
/// hints, such as how to get a backtrace, are not a message).
fn guest_said(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().filter(|l| !l.starts_with("note: ")).collect();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        let message: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace"))
            .copied()
            .collect();
        let message = message.join(" ");
        return Some(format!("panicked: {}", message.trim()));
    }
    lines.iter().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string())
}
