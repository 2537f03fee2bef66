//! The executor: claims due app accounts under a lease, sends each app the
//! difference between what it should hold and what was last pushed, and
//! records the outcome. At most one operation per account is in flight; a
//! create's intent is committed before the call, and an attempt whose
//! outcome was lost looks the account up before creating again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument;

use provisio_directory::{AccountState, App, AppAccount, Failure, PushOutcome, Pushed, Store, StoreError};

use crate::connector::{AccountOp, Call, CallFailure, CallId, Connectors, FailureKind, FoundAccount, Reply};
use crate::mapping::AccountImage;

#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// This worker's name in leases; stable across restarts of one node, so
    /// a restarted node releases what its dead run held.
    pub owner: String,
    pub concurrency: usize,
    pub lease: Duration,
    /// First retry delay; doubles per attempt, with jitter, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Pause when an app asks to slow down without saying how long.
    pub default_rate_limit_pause: Duration,
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
            lease: Duration::from_secs(120),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(15 * 60),
            default_rate_limit_pause: Duration::from_secs(30),
            quarantine_after: 25,
            poll: Duration::from_millis(500),
        }
    }
}

pub struct Executor<C> {
    store: Store,
    connectors: Arc<C>,
    config: ExecutorConfig,
    work: Arc<Notify>,
    /// Consecutive failures per app, reset by any success.
    failures: Mutex<HashMap<String, u32>>,
    /// Apps as last read, for a moment: work on one app reads it once.
    apps: Mutex<HashMap<String, (Instant, App)>>,
    /// Outcomes for the batching writer.
    outcomes: mpsc::UnboundedSender<PushOutcome>,
    outcomes_rx: Mutex<Option<mpsc::UnboundedReceiver<PushOutcome>>>,
}

/// How long an app read stays good for the executor.
const APP_TTL: Duration = Duration::from_millis(500);

/// What one attempt ended in.
enum Attempt {
    Pushed(Pushed),
    Failed(CallFailure),
}

impl<C: Connectors> Executor<C> {
    pub fn new(store: Store, connectors: Arc<C>, config: ExecutorConfig, work: Arc<Notify>) -> Arc<Self> {
        let (outcomes, rx) = mpsc::unbounded_channel();
        Arc::new(Executor {
            store,
            connectors,
            config,
            work,
            failures: Mutex::new(HashMap::new()),
            apps: Mutex::new(HashMap::new()),
            outcomes,
            outcomes_rx: Mutex::new(Some(rx)),
        })
    }

    /// Works until `shutdown` is notified.
    pub async fn run(self: Arc<Self>, shutdown: Arc<Notify>) -> Result<(), StoreError> {
        let released = self.store.release_leases(&self.config.owner).await?;
        if released > 0 {
            tracing::info!(released, "released the leases of this node's previous run");
        }
        let receiver = self.outcomes_rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let writer = receiver.map(|rx| tokio::spawn(self.clone().write_outcomes(rx)));
        let concurrency = self.config.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut running = JoinSet::new();
        // Claimed work waiting for a free slot: claims come in batches of
        // `concurrency`, so one claim transaction (one commit, one fsync on
        // PostgreSQL) serves many operations.
        let mut queue: VecDeque<AppAccount> = VecDeque::new();
        let lease_ms = self.config.lease.as_millis() as i64;
        loop {
            while !queue.is_empty() {
                let Ok(permit) = slots.clone().try_acquire_owned() else { break };
                let Some(account) = queue.pop_front() else { break };
                let this = self.clone();
                // The request that caused this change names the push, and so
                // every connector call the push makes.
                let span = tracing::info_span!(
                    "push",
                    app = %account.app_id,
                    user = %account.user_id,
                    request_id = %account.trace_id.as_deref().unwrap_or("-"),
                );
                running.spawn(
                    async move {
                        this.process(account).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
            if queue.len() < concurrency.div_ceil(2) {
                let limit = (concurrency * 2 - queue.len()) as u32;
                match self.store.claim_due(&self.config.owner, lease_ms, limit).await {
                    Ok(accounts) if !accounts.is_empty() => {
                        queue.extend(accounts);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "claiming work failed; trying again"),
                }
            }
            tokio::select! {
                _ = shutdown.notified() => break,
                _ = self.work.notified() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
        running.shutdown().await;
        if let Some(writer) = writer {
            writer.abort();
        }
        Ok(())
    }

    /// The batching writer: every outcome waiting is recorded in one
    /// transaction. If a batch cannot be written, its leases expire and the
    /// accounts are tried again (creates look up first: nothing doubles).
    async fn write_outcomes(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<PushOutcome>) {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 512).await > 0 {
            match self.store.record_outcomes(&self.config.owner, &batch).await {
                Ok(held) => {
                    for (outcome, held) in batch.iter().zip(held) {
                        if !held {
                            let (PushOutcome::Pushed { app_id, user_id, .. }
                            | PushOutcome::Failed { app_id, user_id, .. }) = outcome;
                            tracing::warn!(app = %app_id, user = %user_id, "the lease was lost before the outcome was recorded");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, outcomes = batch.len(), "recording outcomes failed; they will be retried")
                }
            }
            batch.clear();
        }
    }

    /// The app, read at most every `APP_TTL`.
    async fn app(&self, app_id: &str) -> Result<App, StoreError> {
        if let Some((at, app)) = self.apps.lock().unwrap_or_else(|p| p.into_inner()).get(app_id)
            && at.elapsed() < APP_TTL
        {
            return Ok(app.clone());
        }
        let app = self.store.app(app_id).await?;
        self.apps.lock().unwrap_or_else(|p| p.into_inner()).insert(app_id.to_string(), (Instant::now(), app.clone()));
        Ok(app)
    }

    fn forget_app(&self, app_id: &str) {
        self.apps.lock().unwrap_or_else(|p| p.into_inner()).remove(app_id);
    }

    /// One account: push, then record the outcome. A store error here leaves
    /// the lease to expire and the account to be tried again.
    async fn process(&self, account: AppAccount) {
        let app = match self.app(&account.app_id).await {
            Ok(app) => app,
            Err(e) => {
                tracing::warn!(app = %account.app_id, error = %e, "cannot read the app");
                return;
            }
        };
        let owner = &self.config.owner;
        // Paused (a Retry-After) or quarantined since this account was
        // claimed: give it back without calling the app.
        let now = self.store.now_ms();
        let paused_until = app.paused_until.filter(|until| *until > now);
        if app.status != "active" || paused_until.is_some() {
            let until = paused_until.unwrap_or(now + self.config.poll.as_millis() as i64);
            if let Err(e) = self.store.defer(&app.id, &account.user_id, owner, until).await {
                tracing::warn!(app = %app.id, user = %account.user_id, error = %e, "deferring failed");
            }
            return;
        }
        let started = Instant::now();
        let attempt = self.attempt(&app, &account).await;
        metrics::histogram!("provisio_push_duration_seconds", "app" => app.id.clone())
            .record(started.elapsed().as_secs_f64());
        let (app_id, user_id) = (app.id.clone(), account.user_id.clone());
        let outcome = match attempt {
            Ok(Attempt::Pushed(pushed)) => {
                self.failures_reset(&app.id);
                PushOutcome::Pushed { app_id, user_id, pushed }
            }
            Ok(Attempt::Failed(failure)) => match self.classify(&app, &account, failure).await {
                Ok(failure) => PushOutcome::Failed { app_id, user_id, failure },
                Err(e) => {
                    tracing::warn!(app = %app.id, user = %account.user_id, error = %e, "recording a failure failed");
                    return;
                }
            },
            Err(e) => {
                tracing::warn!(app = %app.id, user = %account.user_id, error = %e, "an attempt failed in the store");
                return;
            }
        };
        let kind = match &outcome {
            PushOutcome::Pushed { .. } => None,
            PushOutcome::Failed { failure, .. } if failure.retry_at.is_none() => Some("error"),
            PushOutcome::Failed { failure, .. } if !failure.counts => Some("rate-limited"),
            PushOutcome::Failed { .. } => Some("retrying"),
        };
        match kind {
            None => metrics::counter!("provisio_work_done_total", "app" => app.id.clone()).increment(1),
            Some(kind) => {
                metrics::counter!("provisio_work_failed_total", "app" => app.id.clone(), "kind" => kind).increment(1)
            }
        }
        // The writer outlives every worker; a closed channel means shutdown.
        let _ = self.outcomes.send(outcome);
    }

    /// What a failed call means: when to retry, whether it counts, whether
    /// to pause or quarantine the app.
    async fn classify(&self, app: &App, account: &AppAccount, failure: CallFailure) -> Result<Failure, StoreError> {
        let now = self.store.now_ms();
        let message = failure.message.clone();
        let recorded = match failure.kind {
            FailureKind::RateLimited { retry_after_ms } => {
                let pause = retry_after_ms.unwrap_or(self.config.default_rate_limit_pause.as_millis() as u64);
                let until = now + pause as i64;
                tracing::info!(app = %app.id, pause_ms = pause, "the app asked to slow down; pausing it");
                self.store.pause_app(&app.id, until).await?;
                self.forget_app(&app.id);
                Failure { error: message, retry_at: Some(until), counts: false, settled: true }
            }
            FailureKind::Rejected | FailureKind::Unsupported | FailureKind::Conflict { .. } | FailureKind::NotFound => {
                Failure { error: message, retry_at: None, counts: true, settled: true }
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
                let settled = failure.kind == FailureKind::Unauthorized;
                Failure { error: message, retry_at: Some(retry_at), counts: true, settled }
            }
        };
        Ok(recorded)
    }

    fn backoff(&self, attempt: i64) -> Duration {
        let exp = attempt.clamp(0, 20) as u32;
        let base = self.config.base_backoff.saturating_mul(2u32.saturating_pow(exp)).min(self.config.max_backoff);
        // Full jitter over the upper half: spreads retries without ever
        // retrying sooner than half the backoff.
        base.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    fn failures_bump(&self, app_id: &str) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(app_id.to_string()).or_default();
        *n += 1;
        *n
    }

    fn failures_reset(&self, app_id: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(app_id);
    }

    /// Sends what the app lacks; the result is what the app now holds.
    async fn attempt(&self, app: &App, account: &AppAccount) -> Result<Attempt, StoreError> {
        let desired = AccountImage::from_map(&account.desired_profile);
        let pushed = AccountImage::from_map(&account.pushed_profile);
        let generation = account.desired_generation;
        let done = |state: AccountState, profile: &AccountImage, external_id: Option<String>| {
            Attempt::Pushed(Pushed { generation, state, profile: profile.to_map(), external_id })
        };
        let operation_id = account.operation_id.clone().unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let id = CallId { operation_id: operation_id.clone(), attempt: (account.attempt + 1).max(1) as u32 };
        let target = account.desired_state;
        let holds = matches!(account.pushed_state, AccountState::Active | AccountState::Inactive);
        let external = account.external_id.clone();

        match (target, holds, external) {
            // Nothing there and nothing wanted.
            (AccountState::Absent | AccountState::Inactive | AccountState::Deleted, false, _) => {
                Ok(done(account.pushed_state, &pushed, None))
            }
            (AccountState::Active, false, _) | (AccountState::Active, true, None) => {
                // The claim committed this create's intent. An intent an
                // earlier attempt left means that attempt's create may have
                // reached the app: look first.
                if account.intent.as_deref() == Some("create") {
                    match self.call(app, &id, Call::Lookup { login: desired.login.clone() }).await {
                        Ok(Reply::Found(Some(found))) => return self.adopt(app, account, &id, &desired, found).await,
                        Ok(_) => {}
                        Err(failure) => return Ok(Attempt::Failed(failure)),
                    }
                }
                let create =
                    Call::Create { login: desired.login.clone(), active: true, attributes: desired.attributes.clone() };
                match self.call(app, &id, create).await {
                    Ok(Reply::Account(found)) => Ok(done(AccountState::Active, &desired, Some(found.id))),
                    Ok(other) => Ok(Attempt::Failed(protocol(other))),
                    Err(CallFailure { kind: FailureKind::Conflict { existing: Some(found) }, .. }) => {
                        self.adopt(app, account, &id, &desired, found).await
                    }
                    Err(failure) => Ok(Attempt::Failed(failure)),
                }
            }
            (AccountState::Active, true, Some(ext)) => {
                if account.pushed_state == AccountState::Inactive {
                    if self.connectors.supports(app, AccountOp::Reactivate) {
                        if let Err(failure) = self.call(app, &id, Call::Reactivate { id: ext.clone() }).await {
                            return Ok(Attempt::Failed(failure));
                        }
                    } else if self.store.cancel_manual_tasks(&app.id, &account.user_id).await? == 0 {
                        // A human deactivated the account; a human restores it. (When
                        // the task was still open, nothing was done: it is cancelled.)
                        let login = pushed.login.as_str();
                        self.store.open_manual_task(&app.id, &account.user_id, login, "reactivate", generation).await?;
                    }
                }
                match self.update(app, &id, &ext, &pushed, &desired).await {
                    Ok(()) => Ok(done(AccountState::Active, &desired, None)),
                    Err(failure) => Ok(Attempt::Failed(failure)),
                }
            }
            (AccountState::Inactive | AccountState::Absent, true, Some(ext)) => {
                if account.pushed_state == AccountState::Inactive {
                    return Ok(done(AccountState::Inactive, &pushed, None));
                }
                if !self.connectors.supports(app, AccountOp::Deactivate) {
                    // The connector cannot: a human must, and is told so once
                    // for this change, however often this attempt is retried.
                    let login = pushed.login.as_str();
                    self.store.open_manual_task(&app.id, &account.user_id, login, "deactivate", generation).await?;
                    return Ok(done(AccountState::Inactive, &pushed, None));
                }
                match self.call(app, &id, Call::Deactivate { id: ext }).await {
                    // Gone already: nothing left to deactivate.
                    Ok(_) | Err(CallFailure { kind: FailureKind::NotFound, .. }) => {
                        Ok(done(AccountState::Inactive, &pushed, None))
                    }
                    Err(failure) => Ok(Attempt::Failed(failure)),
                }
            }
            (AccountState::Deleted, true, Some(_)) if !self.connectors.supports(app, AccountOp::Delete) => {
                let login = pushed.login.as_str();
                self.store.open_manual_task(&app.id, &account.user_id, login, "delete", generation).await?;
                Ok(done(AccountState::Deleted, &AccountImage::default(), None))
            }
            (AccountState::Deleted, true, Some(ext)) => match self.call(app, &id, Call::Delete { id: ext }).await {
                Ok(_) | Err(CallFailure { kind: FailureKind::NotFound, .. }) => {
                    Ok(done(AccountState::Deleted, &AccountImage::default(), None))
                }
                Err(failure) => Ok(Attempt::Failed(failure)),
            },
            (_, true, None) => Ok(done(AccountState::Absent, &AccountImage::default(), None)),
        }
    }

    /// Links an account the app already holds for this login, then brings
    /// it to the desired image (its attributes are unknown: all are sent).
    async fn adopt(
        &self,
        app: &App,
        account: &AppAccount,
        id: &CallId,
        desired: &AccountImage,
        found: FoundAccount,
    ) -> Result<Attempt, StoreError> {
        tracing::info!(app = %app.id, user = %account.user_id, external_id = %found.id, "linking the existing account");
        let unknown = AccountImage { login: desired.login.clone(), attributes: Map::new() };
        if found.active == Some(false)
            && let Err(failure) = self.call(app, id, Call::Reactivate { id: found.id.clone() }).await
        {
            return Ok(Attempt::Failed(failure));
        }
        match self.update(app, id, &found.id, &unknown, desired).await {
            Ok(()) => Ok(Attempt::Pushed(Pushed {
                generation: account.desired_generation,
                state: AccountState::Active,
                profile: desired.to_map(),
                external_id: Some(found.id),
            })),
            Err(failure) => Ok(Attempt::Failed(failure)),
        }
    }

    /// Sends the attributes that differ; nothing when none do.
    async fn update(
        &self,
        app: &App,
        id: &CallId,
        external_id: &str,
        pushed: &AccountImage,
        desired: &AccountImage,
    ) -> Result<(), CallFailure> {
        let changes: Map<String, Value> = desired
            .attributes
            .iter()
            .filter(|(k, v)| pushed.attributes.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let removed: Vec<String> =
            pushed.attributes.keys().filter(|k| !desired.attributes.contains_key(*k)).cloned().collect();
        if changes.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let call = Call::Update { id: external_id.into(), changes, removed, desired: desired.attributes.clone() };
        self.call(app, id, call).await.map(|_| ())
    }

    async fn call(&self, app: &App, id: &CallId, call: Call) -> Result<Reply, CallFailure> {
        self.connectors.call(app, id.clone(), call).await
    }
}

fn protocol(reply: Reply) -> CallFailure {
    CallFailure { kind: FailureKind::Transient, message: format!("the connector answered a create with {reply:?}") }
}
