//! The work that must run on one node at a time, each under a lease of the
//! directory's (`Store::hold_singleton`): every node asks for it every
//! tick; the node that holds it renews it while the work runs and stops the
//! work if the lease is lost.
//!
//! Timing: the lease is renewed every `tick` (a quarter of the executor's
//! lease) and lasts `lease - tick`, so a holder may miss two renewals, and
//! a dead holder's work is taken over within one lease of its last renewal.
//! A lease can still lapse under a holder stalled longer than that (a
//! stopped process, a database call that hangs): the work it then overlaps
//! with is idempotent (retention and duplicates are engine changes that
//! find nothing left to do; the fan-out moves each event once, in one
//! transaction), and the stalled run cannot record the run as its own.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use provisio_directory::{Held, Store};

pub struct Singletons {
    store: Store,
    holder: String,
    tick: Duration,
    lease_ms: i64,
}

/// The singletons' names, as operators see them in `provisio nodes`.
pub const RETENTION: &str = "retention";
pub const DUPLICATES: &str = "duplicates";
pub const HOOK_FAN_OUT: &str = "hooks.fan-out";

impl Singletons {
    /// For the run named `holder` (its lease owner name), with the
    /// executor's `lease`.
    pub fn new(store: Store, holder: &str, lease: Duration) -> Arc<Singletons> {
        let tick = (lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
        let lease_ms = (lease.saturating_sub(tick)).as_millis().max(1) as i64;
        Arc::new(Singletons { store, holder: holder.into(), tick, lease_ms })
    }

    /// Runs `job` once every `period`, on whichever node holds `name`; the
    /// schedule is the directory's, so a new holder goes on where the old
    /// one stopped. Never returns.
    pub async fn every<F, Fut>(self: Arc<Self>, name: &'static str, period: Duration, mut job: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let period_ms = period.as_millis().max(1) as i64;
        loop {
            let mut wait = self.tick;
            if let Some(held) = self.hold(name).await {
                let now = self.store.now_ms();
                let due = held.last_run_at.map_or(now, |last| last + period_ms);
                if now >= due {
                    if self.while_held(name, job()).await.is_some() {
                        match self.store.singleton_ran(name, &self.holder, held.fence, now).await {
                            Ok(true) => {}
                            Ok(false) => tracing::warn!(singleton = name, "a run ended after its lease was taken over"),
                            Err(e) => tracing::warn!(singleton = name, error = %e, "could not record a run"),
                        }
                    }
                } else {
                    wait = wait.min(Duration::from_millis((due - now) as u64));
                }
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Runs `job` (work that goes on until it is dropped) while this node
    /// holds `name`. Never returns.
    pub async fn always<F, Fut>(self: Arc<Self>, name: &'static str, mut job: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            if self.hold(name).await.is_some() {
                self.while_held(name, job()).await;
            }
            tokio::time::sleep(self.tick).await;
        }
    }

    /// Gives up what this run holds (a clean stop).
    pub async fn release(&self) {
        if let Err(e) = self.store.release_singletons(&self.holder).await {
            tracing::warn!(error = %e, "could not give the singletons up; they lapse with their leases");
        }
    }

    async fn hold(&self, name: &str) -> Option<Held> {
        match self.store.hold_singleton(name, &self.holder, self.lease_ms).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(singleton = name, error = %e, "could not take or renew a singleton");
                None
            }
        }
    }

    /// Drives `work` while renewing `name` every tick; drops it, unfinished,
    /// once the lease cannot be renewed.
    async fn while_held<T>(&self, name: &str, work: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return Some(out),
                _ = tokio::time::sleep(self.tick) => {
                    if self.hold(name).await.is_none() {
                        tracing::warn!(singleton = name, "lost its lease; another node goes on with it");
                        return None;
                    }
                }
            }
        }
    }
}
