//! What a failed push means: transient or permanent, who is to blame, when
//! it is tried again (backoff), when an app is quarantined, and what is
//! recorded when the push itself crashed.

use super::*;

impl<C: Connectors> Executor<C> {
    /// Records a push that panicked as a failure of Provisio's: retried
    /// after a backoff, and settled first, since the call may have reached
    /// the app.
    pub(super) async fn record_crash(&self, account: &AppAccount, why: String) {
        tracing::error!(app = %account.app_id, user = %account.user_id, "pushing an account failed in Provisio: {why}");
        let now = self.store.now_ms();
        let policy = self.app(&account.app_id).await.map(|app| app.policy).unwrap_or(Value::Null);
        let failure = Failure {
            generation: account.desired_generation,
            error: format!(
                "Provisio failed while pushing this account, not the app or its connector: {why}; see this node's log"
            ),
            retry_at: Some(now + self.backoff(account.attempt).as_millis() as i64),
            counts: true,
            settled: false,
            settle_until: Some(now + self.config.settle_ms(&policy)),
            linked: None,
        };
        metrics::counter!("provisio_work_failed_total", "app" => account.app_id.clone(), "kind" => "crashed")
            .increment(1);
        let outcome = PushOutcome {
            app_id: account.app_id.clone(),
            user_id: account.user_id.clone(),
            lease: account.lease(),
            result: Err(failure),
        };
        let _ = self.outcomes.send(outcome);
    }

    /// What a failed call means: when to retry, whether it counts, whether
    /// the app may still act on it, whether to pause or quarantine the app.
    pub(super) async fn classify(
        &self,
        app: &App,
        account: &AppAccount,
        failed: Failed,
    ) -> Result<Failure, StoreError> {
        let now = self.store.now_ms();
        let Failed { failure, op, linked, settled } = failed;
        let message = failure.message.clone();
        // A create the app refused created nothing; a found account settles
        // what an earlier create did.
        let settled = settled || linked.is_some() || (op == AccountOp::Create && failure.kind.refused());
        // An abandoned call that changes the app may still land: nothing
        // starts on the account until the app's settle time has passed.
        let settle_until =
            (!failure.kind.refused() && op != AccountOp::Lookup).then(|| now + self.config.settle_ms(&app.policy));
        let base = Failure {
            generation: account.desired_generation,
            error: message.clone(),
            retry_at: None,
            counts: true,
            settled,
            settle_until,
            linked,
        };
        let recorded = match failure.kind {
            FailureKind::RateLimited { retry_after_ms } => {
                let pause = retry_after_ms
                    .map_or(self.config.default_rate_limit_pause, Duration::from_millis)
                    .min(self.config.max_rate_limit_pause);
                let until = now.saturating_add(pause.as_millis() as i64);
                tracing::info!(app = %app.id, pause_ms = pause.as_millis() as u64, "the app asked to slow down; pausing it");
                self.store.pause_app(&app.id, until).await?;
                self.forget_app(&app.id);
                Failure { retry_at: Some(until), counts: false, ..base }
            }
            FailureKind::NotSent => {
                Failure { retry_at: Some(now + self.config.poll.as_millis() as i64), counts: false, ..base }
            }
            FailureKind::Rejected | FailureKind::Unsupported | FailureKind::Conflict { .. } | FailureKind::NotFound => {
                base
            }
            FailureKind::HostFault => {
                let retry_at = now + self.backoff(account.attempt).as_millis() as i64;
                Failure { retry_at: Some(retry_at), ..base }
            }
            FailureKind::Unauthorized | FailureKind::Transient => {
                let quarantine = self.failures_bump(&app.id) >= self.config.quarantine_after;
                if quarantine {
                    let reason = format!(
                        "{} calls in a row failed; the last: {message}. Fix the app or its credentials, then resume it.",
                        self.config.quarantine_after
                    );
                    tracing::warn!(app = %app.id, %reason, "quarantining the app");
                    self.store.set_app_status("executor", &app.id, "quarantined", Some(&reason)).await?;
                    self.forget_app(&app.id);
                    self.failures_reset(&app.id);
                }
                let retry_at = now + self.backoff(account.attempt).as_millis() as i64;
                Failure { retry_at: Some(retry_at), ..base }
            }
        };
        Ok(recorded)
    }

    pub(super) fn backoff(&self, attempt: i64) -> Duration {
        let exp = attempt.clamp(0, 20) as u32;
        let base = self.config.base_backoff.saturating_mul(2u32.saturating_pow(exp)).min(self.config.max_backoff);
        // Full jitter over the upper half: spreads retries without ever
        // retrying sooner than half the backoff.
        base.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    pub(super) fn failures_bump(&self, app_id: &str) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(app_id.to_string()).or_default();
        *n += 1;
        *n
    }

    pub(super) fn failures_reset(&self, app_id: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(app_id);
    }
}

/// The message a panic carried, if it was text.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
