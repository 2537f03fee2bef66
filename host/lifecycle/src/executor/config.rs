//! How an executor runs: its lease, concurrency, backoff, quarantine and
//! settle time, checked before it starts.

use std::time::Duration;

use serde_json::Value;

use crate::policy::Policy;

#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// This worker's name in leases: one per process run (a restarted node
    /// is a new worker; its dead run's leases expire, they are not taken
    /// back blindly).
    pub owner: String,
    pub concurrency: usize,
    /// Calls one app may have running at once (at most `concurrency`).
    pub per_app_concurrency: usize,
    pub lease: Duration,
    /// How long an abandoned call may still land in an app, for apps whose
    /// policy does not say (`policy.settle_secs`).
    pub settle: Duration,
    /// First retry delay; doubles per attempt, with jitter, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Pause when an app asks to slow down without saying how long.
    pub default_rate_limit_pause: Duration,
    /// The longest pause an app's Retry-After may impose.
    pub max_rate_limit_pause: Duration,
    /// Consecutive failed calls to one app before it is quarantined.
    pub quarantine_after: u32,
    /// How often to look for work that became due without a wake-up.
    pub poll: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            owner: format!("node-{}", uuid::Uuid::now_v7()),
            concurrency: 16,
            per_app_concurrency: 12,
            lease: Duration::from_secs(120),
            settle: Duration::from_secs(30),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(15 * 60),
            default_rate_limit_pause: Duration::from_secs(30),
            max_rate_limit_pause: Duration::from_secs(3600),
            quarantine_after: 25,
            poll: Duration::from_millis(500),
        }
    }
}

/// The shortest lease the executor accepts: it is renewed every third of it,
/// and a call needs some of it left to start.
pub const MIN_LEASE: Duration = Duration::from_secs(2);

impl ExecutorConfig {
    /// Refuses a configuration that cannot work, saying how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 || self.per_app_concurrency == 0 {
            return Err("executor.concurrency and executor.per_app_concurrency must be at least 1".into());
        }
        if self.lease < MIN_LEASE {
            return Err(format!(
                "executor.lease_secs = {} is too short: a lease is renewed every third of it and must leave calls time to run; use at least {}",
                self.lease.as_secs(),
                MIN_LEASE.as_secs()
            ));
        }
        if self.settle > Duration::from_secs(u64::from(crate::policy::MAX_SETTLE_SECS)) {
            return Err("executor.settle_secs must be at most 86400 (a day)".into());
        }
        if self.poll.is_zero() {
            return Err("executor.poll_ms must be at least 1".into());
        }
        if self.base_backoff.is_zero() || self.base_backoff > self.max_backoff {
            return Err("executor.retry_base_ms must be at least 1 and at most retry_max_ms".into());
        }
        if self.quarantine_after == 0 {
            return Err("executor.quarantine_after must be at least 1".into());
        }
        Ok(())
    }

    /// An app's settle time in milliseconds, from its policy.
    pub(super) fn settle_ms(&self, policy: &Value) -> i64 {
        let secs = Policy::parse(policy).ok().and_then(|p| p.settle_secs);
        secs.map_or(self.settle.as_millis() as i64, |s| i64::from(s) * 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_that_cannot_work_is_refused_with_the_fix() {
        assert_eq!(ExecutorConfig::default().validate(), Ok(()));
        let zero_lease = ExecutorConfig { lease: Duration::ZERO, ..ExecutorConfig::default() };
        assert!(zero_lease.validate().is_err_and(|e| e.contains("lease_secs = 0") && e.contains("at least 2")));
        let one = ExecutorConfig { lease: Duration::from_secs(1), ..ExecutorConfig::default() };
        assert!(one.validate().is_err());
        let two = ExecutorConfig { lease: MIN_LEASE, ..ExecutorConfig::default() };
        assert_eq!(two.validate(), Ok(()));
        for broken in [
            ExecutorConfig { concurrency: 0, ..ExecutorConfig::default() },
            ExecutorConfig { per_app_concurrency: 0, ..ExecutorConfig::default() },
            ExecutorConfig { poll: Duration::ZERO, ..ExecutorConfig::default() },
            ExecutorConfig { quarantine_after: 0, ..ExecutorConfig::default() },
            ExecutorConfig {
                base_backoff: Duration::from_secs(10),
                max_backoff: Duration::from_secs(1),
                ..ExecutorConfig::default()
            },
            ExecutorConfig { settle: Duration::from_secs(100_000), ..ExecutorConfig::default() },
        ] {
            assert!(broken.validate().is_err(), "{broken:?}");
        }
    }

    #[test]
    fn an_app_s_settle_time_comes_from_its_policy_or_the_executor() {
        let config = ExecutorConfig { settle: Duration::from_secs(30), ..ExecutorConfig::default() };
        assert_eq!(config.settle_ms(&Value::Null), 30_000);
        assert_eq!(config.settle_ms(&serde_json::json!({ "settle_secs": 5 })), 5_000);
        assert!(Policy::parse(&serde_json::json!({ "settle_secs": 90_000 })).is_err(), "more than a day");
    }
}
