//! The leases one executor holds, as it knows them: each claimed account's
//! fencing token and the time its lease ends. The heartbeat renews them all
//! in one statement; every connector call takes its deadline from here, so
//! no call outlives the lease that covers it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use provisio_directory::{AppAccount, Store};

/// A call is not started with less than this left of its lease: it could
/// not finish, and the app might act on it after another claim began.
pub const MIN_CALL_TIME: Duration = Duration::from_millis(500);

/// Kept between a call's deadline and the end of its lease, for the host to
/// notice the deadline and give the call up.
const MARGIN: Duration = Duration::from_millis(100);

#[derive(Default)]
pub struct HeldLeases {
    /// (app, user) → (token, lease end in store milliseconds).
    held: Mutex<HashMap<(String, String), (i64, i64)>>,
}

fn key(account: &AppAccount) -> (String, String) {
    (account.app_id.clone(), account.user_id.clone())
}

impl HeldLeases {
    pub fn hold(&self, account: &AppAccount) {
        let until = account.lease_until.unwrap_or_default();
        self.held.lock().unwrap_or_else(|p| p.into_inner()).insert(key(account), (account.lease_token, until));
    }

    pub fn release(&self, account: &AppAccount) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.get(&key(account)).is_some_and(|(token, _)| *token == account.lease_token) {
            held.remove(&key(account));
        }
    }

    pub fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// After the store extended, at `now`, every live lease to `until`:
    /// those still live here are extended too. One that ran out before the
    /// renewal keeps its old end (the store did not revive it either).
    pub fn renewed(&self, now: i64, until: i64) {
        for (_, end) in self.held.lock().unwrap_or_else(|p| p.into_inner()).values_mut() {
            if *end > now {
                *end = until;
            }
        }
    }

    /// The deadline for a call on this account starting now, or `None` when
    /// too little of its lease is left to start one.
    pub fn deadline(&self, store: &Store, account: &AppAccount) -> Option<Instant> {
        let end = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key(account))
            .filter(|(token, _)| *token == account.lease_token)
            .map(|(_, end)| *end)?;
        let left = Duration::from_millis(u64::try_from(end - store.now_ms()).ok()?).checked_sub(MARGIN)?;
        (left >= MIN_CALL_TIME).then(|| Instant::now() + left)
    }
}
