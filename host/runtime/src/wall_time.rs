//! How an operation's wall time holds however the guest spends it.
//!
//! Fuel counts only the guest's own instructions, and a tokio timeout can
//! only fire when the guest's future yields. A guest that spends its time in
//! cheap-for-it, costly-for-the-host calls (logging one huge string in a
//! loop, say) used almost no fuel and never yielded, so neither stopped it.
//! Three things close that:
//!
//! - an epoch ticker: the engine's epoch moves every [`EPOCH_TICK`], and at
//!   every tick a running guest yields to the executor, or traps with
//!   [`DeadlinePassed`] once its deadline is behind it;
//! - every host call checks the deadline before it does any work
//!   ([`check_deadline`]);
//! - guests run on threads of their own ([`GuestThreads`]), so what work a
//!   guest makes the host do is never done on the threads that serve the API.
//!   Work that calls guests in bulk (the executor) runs on those threads too,
//!   and its calls then need no hop from thread to thread.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the epoch moves: a running guest yields this often, and is
/// stopped at most this long after its deadline.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The trap that ends an operation whose deadline has passed while the guest
/// (or a host call it made) was running.
#[derive(Debug)]
pub(crate) struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the operation's deadline has passed")
    }
}

impl std::error::Error for DeadlinePassed {}

/// The first thing every host call does: an operation past its deadline ends
/// here, whatever the guest asked for.
pub(crate) fn check_deadline(deadline: Instant) -> wasmtime::Result<()> {
    if Instant::now() >= deadline { Err(wasmtime::Error::new(DeadlinePassed)) } else { Ok(()) }
}

/// Arms a fresh store: yield at every epoch tick, trap once the deadline is
/// behind.
pub(crate) fn arm<T: Send + 'static>(store: &mut wasmtime::Store<T>, deadline: Instant) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(DeadlinePassed))
        } else {
            Ok(wasmtime::UpdateDeadline::Yield(1))
        }
    });
}

/// Moves the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &wasmtime::Engine) -> std::io::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        // A weak handle: the ticker never keeps an engine (and its pooled
        // memory) alive.
        let (weak, flag) = (engine.weak(), stop.clone());
        std::thread::Builder::new().name("provisio-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

thread_local! {
    static ON_GUEST_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A tokio runtime for guests (and their HTTP exchanges), and for the work
/// that calls them in bulk.
pub(crate) struct GuestThreads {
    handle: tokio::runtime::Handle,
    /// Kept only to be shut down on drop.
    runtime: Option<tokio::runtime::Runtime>,
}

impl GuestThreads {
    pub fn start(threads: usize) -> std::io::Result<GuestThreads> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("provisio-guest")
            .on_thread_start(|| ON_GUEST_THREAD.with(|on| on.set(true)))
            .enable_all()
            .build()?;
        Ok(GuestThreads { handle: runtime.handle().clone(), runtime: Some(runtime) })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Whether the caller already runs on guest threads.
    pub fn here() -> bool {
        ON_GUEST_THREAD.with(|on| on.get())
    }

    /// Runs `future` on the guest threads. Dropping the returned future
    /// cancels the task: a caller that gives up (a shutdown, a cancelled
    /// request) stops the guest at its next yield.
    pub fn run<F>(&self, future: F) -> impl Future<Output = Result<F::Output, tokio::task::JoinError>> + Send + use<F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        AbortOnDrop(self.handle.spawn(future))
    }
}

impl Drop for GuestThreads {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which is not allowed
        // inside another runtime; in-flight guests stop at their next yield.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
