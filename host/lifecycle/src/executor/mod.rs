//! The executor: claims due app accounts under a fenced lease, sends each
//! app the difference between what it should hold and what was last pushed,
//! and records the outcome under the claim it was made with. At most one
//! operation per account is in flight: the node's leases are renewed by one
//! heartbeat while work runs, and no call's deadline reaches past its lease.
//! A create's intent is committed with the claim; an attempt whose outcome
//! is unknown is followed, once the app's settle time has passed, by a
//! lookup that recognises the account by Provisio's own correlation key.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::{Map, Value};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument;

use provisio_directory::{
    AccountState, App, AppAccount, Failure, Linked, PushOutcome, Pushed, Retirement, Store, StoreError,
};

use crate::connector::{AccountOp, Call, CallFailure, CallId, Connectors, FailureKind, FoundAccount, Reply};
use crate::leases::HeldLeases;
use crate::mapping::AccountImage;
mod config;
mod failures;
mod linking;

pub use config::{ExecutorConfig, MIN_LEASE};
use failures::panic_message;
use linking::{Holder, collision};

pub struct Executor<C> {
    store: Store,
    connectors: Arc<C>,
    config: ExecutorConfig,
    work: Arc<Notify>,
    /// Consecutive failures per app, reset by any success.
    failures: Mutex<HashMap<String, u32>>,
    /// Apps as last read, for a moment (and under which apps epoch): work on
    /// one app reads it once.
    apps: Mutex<HashMap<String, (Instant, u64, App)>>,
    /// Apps whose connector version this node cannot run, since when: left
    /// out of its claims for `ELSEWHERE_TTL`, then tried again.
    elsewhere: Mutex<HashMap<String, Instant>>,
    /// The leases this worker holds, queued or running.
    leases: HeldLeases,
    /// Outcomes for the batching writer.
    outcomes: mpsc::UnboundedSender<PushOutcome>,
    outcomes_rx: Mutex<Option<mpsc::UnboundedReceiver<PushOutcome>>>,
}

/// How long an app read stays good for the executor.
const APP_TTL: Duration = Duration::from_millis(500);

/// How long a node leaves an app it cannot run to the other nodes before
/// it looks again (it may have loaded the version by then).
const ELSEWHERE_TTL: Duration = Duration::from_secs(5);

/// What one attempt ended in.
enum Attempt {
    Pushed(Pushed),
    Failed(Failed),
}

/// A failed attempt: the call that failed, and what the attempt learnt
/// before it did.
struct Failed {
    failure: CallFailure,
    /// The operation whose call failed.
    op: AccountOp,
    /// An account found (and linked) before the failure.
    linked: Option<Linked>,
    /// The create's outcome is known even though the attempt failed (the
    /// lookup showed no account of this user's is there).
    settled: bool,
}

impl Failed {
    fn of(op: AccountOp, failure: CallFailure) -> Failed {
        Failed { failure, op, linked: None, settled: false }
    }
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
            elsewhere: Mutex::new(HashMap::new()),
            leases: HeldLeases::default(),
            outcomes,
            outcomes_rx: Mutex::new(Some(rx)),
        })
    }

    /// Works until `shutdown` is notified.
    pub async fn run(self: Arc<Self>, shutdown: Arc<Notify>) -> Result<(), StoreError> {
        let receiver = self.outcomes_rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let writer = receiver.map(|rx| tokio::spawn(self.clone().write_outcomes(rx)));
        let heartbeat = tokio::spawn(self.clone().heartbeat());
        let concurrency = self.config.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut running = JoinSet::new();
        // Claimed work waiting for a free slot: claims come in batches of
        // `concurrency`, so one claim transaction (one commit, one fsync on
        // PostgreSQL) serves many operations. The heartbeat renews their
        // leases while they wait.
        let mut queue: VecDeque<AppAccount> = VecDeque::new();
        let lease_ms = self.config.lease.as_millis() as i64;
        let settle = |policy: &Value| self.config.settle_ms(policy);
        // Calls running per app: one slow app may take at most `cap` slots,
        // so the others keep being served.
        let cap = self.config.per_app_concurrency.clamp(1, concurrency);
        let busy: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let mut others_idle = false;
        loop {
            loop {
                let next = {
                    let busy = busy.lock().unwrap_or_else(|p| p.into_inner());
                    queue.iter().position(|a| busy.get(&a.app_id).copied().unwrap_or(0) < cap)
                };
                let Some(next) = next else { break };
                let Ok(permit) = slots.clone().try_acquire_owned() else { break };
                let Some(account) = queue.remove(next) else { break };
                *busy.lock().unwrap_or_else(|p| p.into_inner()).entry(account.app_id.clone()).or_default() += 1;
                let (this, busy) = (self.clone(), busy.clone());
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
                        // A bug (a panic) while pushing is recorded on the
                        // account, not left as work that silently waits out
                        // its lease.
                        if let Err(panic) = AssertUnwindSafe(this.process(&account)).catch_unwind().await {
                            this.record_crash(&account, panic_message(panic.as_ref())).await;
                        }
                        this.leases.release(&account);
                        if let Some(n) = busy.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&account.app_id) {
                            *n = n.saturating_sub(1);
                        }
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
            // Apps with a full share of work waiting here are left out of
            // the next claim, so the claim brings the other apps' work.
            let saturated: Vec<String> = {
                let mut waiting: HashMap<&str, usize> = HashMap::new();
                for a in &queue {
                    *waiting.entry(a.app_id.as_str()).or_default() += 1;
                }
                waiting.into_iter().filter(|(_, n)| *n >= cap).map(|(app, _)| app.to_string()).collect()
            };
            // So are the apps this node cannot run: another node takes them.
            let skip: Vec<String> = {
                let mut elsewhere = self.elsewhere.lock().unwrap_or_else(|p| p.into_inner());
                elsewhere.retain(|_, since| since.elapsed() < ELSEWHERE_TTL);
                saturated.iter().cloned().chain(elsewhere.keys().filter(|a| !saturated.contains(a)).cloned()).collect()
            };
            let runnable = queue.iter().filter(|a| !saturated.contains(&a.app_id)).count();
            // A claim that leaves apps out and finds nothing is not repeated
            // until new work or the poll says there may be some.
            let worth_claiming = skip.is_empty() || !others_idle;
            if runnable < concurrency.div_ceil(2) && queue.len() < concurrency * 4 && worth_claiming {
                let limit = (concurrency * 2 - runnable) as u32;
                let claimed = self.store.claim_due_except(&self.config.owner, lease_ms, limit, &settle, &skip).await;
                // Each look for work, found or not: an operator sees the
                // executor is alive, and a test can wait for it to have looked.
                metrics::counter!("provisio_executor_claims_total").increment(1);
                match claimed {
                    Ok(accounts) if !accounts.is_empty() => {
                        for account in &accounts {
                            self.leases.hold(account);
                        }
                        queue.extend(accounts);
                        continue;
                    }
                    Ok(_) => others_idle = !skip.is_empty(),
                    Err(e) => tracing::warn!(error = %e, "claiming work failed; trying again"),
                }
            }
            tokio::select! {
                _ = shutdown.notified() => break,
                _ = self.work.notified() => others_idle = false,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(self.config.poll) => others_idle = false,
            }
        }
        // Claimed work that never started is given back at once; what was in
        // flight keeps its lease, which runs out and settles.
        let now = self.store.now_ms();
        for account in queue.drain(..) {
            if let Err(e) = self.store.defer(&account.app_id, &account.user_id, &account.lease(), now).await {
                tracing::debug!(user = %account.user_id, error = %e, "could not give back claimed work");
            }
        }
        running.shutdown().await;
        heartbeat.abort();
        if let Some(writer) = writer {
            writer.abort();
        }
        Ok(())
    }

    /// Renews every lease this worker holds, a third of a lease apart, in
    /// one statement. When renewals fail, the leases run out on their own
    /// and calls get shorter deadlines until none can start.
    async fn heartbeat(self: Arc<Self>) {
        let every = self.config.lease / 3;
        let lease_ms = self.config.lease.as_millis() as i64;
        loop {
            tokio::time::sleep(every).await;
            if self.leases.len() == 0 {
                continue;
            }
            let now = self.store.now_ms();
            match self.store.renew_leases(&self.config.owner, lease_ms).await {
                Ok((until, renewed)) => {
                    self.leases.renewed(now, until);
                    tracing::debug!(renewed, "leases renewed");
                }
                Err(e) => tracing::warn!(error = %e, "renewing this node's leases failed; trying again"),
            }
        }
    }

    /// The batching writer: every outcome waiting is recorded in one
    /// transaction. If a batch cannot be written, each of its outcomes is
    /// written on its own, retried until the store takes it: one outcome
    /// that cannot be written never takes the others with it.
    async fn write_outcomes(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<PushOutcome>) {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 512).await > 0 {
            match self.store.record_outcomes(&batch).await {
                Ok(held) => warn_stale(&batch, &held),
                Err(e) => {
                    tracing::warn!(error = %e, outcomes = batch.len(), "recording a batch of outcomes failed; recording them one by one");
                    for outcome in &batch {
                        self.write_one(outcome).await;
                    }
                }
            }
            self.finish_retirements(&batch).await;
            batch.clear();
        }
    }

    /// A deleted app goes once its last account is settled: these outcomes
    /// may have settled it. (The retention sweep looks too, should this node
    /// stop first.)
    async fn finish_retirements(&self, batch: &[PushOutcome]) {
        let retiring = match self.store.retiring_apps().await {
            Ok(retiring) if !retiring.is_empty() => retiring,
            Ok(_) => return,
            Err(e) => return tracing::warn!(error = %e, "looking for apps being deleted failed"),
        };
        for app_id in retiring.iter().filter(|a| batch.iter().any(|o| &o.app_id == *a)) {
            match self.store.finish_retirement("executor", app_id).await {
                Ok(Retirement::Deleted) => {
                    tracing::info!(app = %app_id, "a deleted app's accounts are settled; the app is gone")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(app = %app_id, error = %e, "deleting a retired app failed; the retention sweep tries again")
                }
            }
        }
    }

    async fn write_one(&self, outcome: &PushOutcome) {
        let mut wait = Duration::from_millis(50);
        loop {
            match self.store.record_outcomes(std::slice::from_ref(outcome)).await {
                Ok(held) => return warn_stale(std::slice::from_ref(outcome), &held),
                Err(e) => {
                    tracing::warn!(app = %outcome.app_id, user = %outcome.user_id, error = %e, "recording an outcome failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// The app, read at most every `APP_TTL`.
    async fn app(&self, app_id: &str) -> Result<App, StoreError> {
        let epoch = self.connectors.apps_epoch();
        if let Some((at, read_in, app)) = self.apps.lock().unwrap_or_else(|p| p.into_inner()).get(app_id)
            && at.elapsed() < APP_TTL
            && *read_in == epoch
        {
            return Ok(app.clone());
        }
        let app = self.store.app(app_id).await?;
        let entry = (Instant::now(), epoch, app.clone());
        self.apps.lock().unwrap_or_else(|p| p.into_inner()).insert(app_id.to_string(), entry);
        Ok(app)
    }

    fn forget_app(&self, app_id: &str) {
        self.apps.lock().unwrap_or_else(|p| p.into_inner()).remove(app_id);
    }

    /// One account: push, then record the outcome. A store error here leaves
    /// the lease to expire and the account to be tried again once it settled.
    async fn process(&self, account: &AppAccount) {
        let app = match self.app(&account.app_id).await {
            Ok(app) => app,
            Err(e) => {
                tracing::warn!(app = %account.app_id, error = %e, "cannot read the app");
                return;
            }
        };
        // Paused (a Retry-After) or quarantined since this account was
        // claimed: give it back without calling the app.
        let now = self.store.now_ms();
        let paused_until = app.paused_until.filter(|until| *until > now);
        if app.status != "active" || paused_until.is_some() {
            let until = paused_until.unwrap_or(now + self.config.poll.as_millis() as i64);
            if let Err(e) = self.store.defer(&app.id, &account.user_id, &account.lease(), until).await {
                tracing::warn!(app = %app.id, user = %account.user_id, error = %e, "deferring failed");
            }
            return;
        }
        // A version this node cannot load (yet): another node does the
        // work, at once and without a failure counted.
        if !self.connectors.runs_here(&app).await {
            let first = self.elsewhere.lock().unwrap_or_else(|p| p.into_inner()).insert(app.id.clone(), Instant::now());
            if first.is_none() {
                tracing::warn!(
                    app = %app.id,
                    connector = %format!("{}@{}", app.connector_name, app.connector_version),
                    "this node cannot run the app's connector version; leaving its work to the nodes that can"
                );
            }
            if let Err(e) = self.store.defer(&app.id, &account.user_id, &account.lease(), now).await {
                tracing::warn!(app = %app.id, user = %account.user_id, error = %e, "deferring failed");
            }
            return;
        }
        let started = Instant::now();
        let attempt = self.attempt(&app, account).await;
        metrics::histogram!("provisio_push_duration_seconds", "app" => app.id.clone())
            .record(started.elapsed().as_secs_f64());
        let result = match attempt {
            Ok(Attempt::Pushed(pushed)) => {
                self.failures_reset(&app.id);
                Ok(pushed)
            }
            Ok(Attempt::Failed(failed)) => match self.classify(&app, account, failed).await {
                Ok(failure) => Err(failure),
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
        let kind = match &result {
            Ok(_) => None,
            Err(failure) if failure.retry_at.is_none() => Some("error"),
            Err(failure) if !failure.counts => Some("rate-limited"),
            Err(_) => Some("retrying"),
        };
        match kind {
            None => metrics::counter!("provisio_work_done_total", "app" => app.id.clone()).increment(1),
            Some(kind) => {
                metrics::counter!("provisio_work_failed_total", "app" => app.id.clone(), "kind" => kind).increment(1)
            }
        }
        let outcome =
            PushOutcome { app_id: app.id.clone(), user_id: account.user_id.clone(), lease: account.lease(), result };
        // The writer outlives every worker; a closed channel means shutdown.
        let _ = self.outcomes.send(outcome);
    }

    /// Sends what the app lacks; the result is what the app now holds.
    async fn attempt(&self, app: &App, account: &AppAccount) -> Result<Attempt, StoreError> {
        let mut desired = AccountImage::from_map(&account.desired_profile);
        // Provisio's own key goes with every account it makes, so that an
        // account found later is known to be this user's, or someone else's.
        if let Some(attribute) = self.connectors.correlation(app) {
            desired.attributes.insert(attribute, Value::String(account.user_id.clone()));
        }
        let pushed = AccountImage::from_map(&account.pushed_profile);
        let generation = account.desired_generation;
        let done = |state: AccountState, profile: &AccountImage, external_id: Option<String>| {
            Attempt::Pushed(Pushed { generation, state, profile: profile.to_map(), external_id })
        };
        // Stable across the retries of one intent: a create's is stored with
        // its intent; any other operation's is its generation's.
        let operation_id =
            account.operation_id.clone().unwrap_or_else(|| format!("{}:{}:g{generation}", app.id, account.user_id));
        let id = CallId { operation_id, attempt: (account.attempt + 1).max(1) as u32, deadline: None };
        let target = account.desired_state;
        let holds = matches!(account.pushed_state, AccountState::Active | AccountState::Inactive);
        let external = account.external_id.clone();
        // A create an earlier attempt started may have reached the app (its
        // settle time has passed: the claim waited for it).
        let in_doubt = account.intent.as_deref() == Some("create") && !(holds && external.is_some());
        // The last attempt ended without an outcome (its node died, or its
        // call outlived the lease): the app may hold what it sent rather than
        // what `pushed` says. Everything is sent again, the state included;
        // each call is idempotent.
        let unsure = account.intent.as_deref() == Some("sync");
        let baseline = if unsure { pushed.unknown() } else { pushed.clone() };

        match (target, holds, external) {
            (AccountState::Active, false, _) | (AccountState::Active, true, None) => {
                if in_doubt {
                    match self.find_own(app, account, &id, &desired).await? {
                        Ok(Some(found)) => return self.adopt(app, account, &id, &desired, found).await,
                        Ok(None) => {}
                        Err(failed) => return Ok(Attempt::Failed(failed)),
                    }
                }
                let create =
                    Call::Create { login: desired.login.clone(), active: true, attributes: desired.attributes.clone() };
                match self.call(app, account, &id, create).await {
                    Ok(Reply::Account(found)) => Ok(done(AccountState::Active, &desired, Some(found.id))),
                    Ok(other) => Ok(Attempt::Failed(Failed::of(AccountOp::Create, protocol(other)))),
                    Err(CallFailure { kind: FailureKind::Conflict { existing: Some(found) }, message }) => {
                        match self.holder(app, account, &found).await? {
                            Holder::This | Holder::Nobody => self.adopt(app, account, &id, &desired, found).await,
                            Holder::Other(whose) => {
                                let failure = collision(&desired.login, &found.id, &whose, &message);
                                Ok(Attempt::Failed(Failed::of(AccountOp::Create, failure)))
                            }
                        }
                    }
                    Err(failure) => Ok(Attempt::Failed(Failed::of(AccountOp::Create, failure))),
                }
            }
            // Nothing there and nothing wanted; but a create in doubt may have
            // made an account, which must not stay behind active.
            (AccountState::Absent | AccountState::Inactive | AccountState::Deleted, false, _) => {
                if in_doubt {
                    match self.find_own(app, account, &id, &desired).await? {
                        // Already inactive: linked as it is.
                        Ok(Some(found)) if found.active == Some(false) && target != AccountState::Deleted => {
                            return Ok(done(AccountState::Inactive, &desired, Some(found.id)));
                        }
                        Ok(Some(found)) => {
                            let linked = Some(found.id.clone());
                            return self.take_away(app, account, &id, target, found.id, &desired, linked).await;
                        }
                        Ok(_) => {}
                        Err(failed) => return Ok(Attempt::Failed(failed)),
                    }
                }
                Ok(done(account.pushed_state, &pushed, None))
            }
            (AccountState::Active, true, Some(ext)) => {
                if !pushed.login.is_empty() && !pushed.login.eq_ignore_ascii_case(&desired.login) {
                    // Contract 0.1's update-user carries no login: saying the
                    // rename was pushed would be a lie.
                    let failure = CallFailure {
                        kind: FailureKind::Rejected,
                        message: format!(
                            "the account's login would change from \"{}\" to \"{}\", which connector contract 0.1 cannot send; nothing was sent. Rename the account in the app or change the login mapping back, then retry",
                            pushed.login, desired.login
                        ),
                    };
                    return Ok(Attempt::Failed(Failed::of(AccountOp::Update, failure)));
                }
                let reactivate = account.pushed_state == AccountState::Inactive
                    || (unsure && self.connectors.supports(app, AccountOp::Reactivate));
                if reactivate {
                    if self.connectors.supports(app, AccountOp::Reactivate) {
                        if let Err(failure) = self.call(app, account, &id, Call::Reactivate { id: ext.clone() }).await {
                            return Ok(Attempt::Failed(Failed::of(AccountOp::Reactivate, failure)));
                        }
                    } else if self.store.cancel_manual_tasks(&app.id, &account.user_id).await? == 0 {
                        // A human deactivated the account; a human restores it. (When
                        // the task was still open, nothing was done: it is cancelled.)
                        let login = pushed.login.as_str();
                        self.store.open_manual_task(&app.id, &account.user_id, login, "reactivate", generation).await?;
                    }
                }
                match self.update(app, account, &id, &ext, &baseline, &desired).await {
                    Ok(()) => Ok(done(AccountState::Active, &desired, None)),
                    Err(failure) => {
                        // The account is active again (reactivated, or its
                        // deactivation task cancelled or handed over): the
                        // retry only updates it, and cancels nothing more.
                        let linked = (account.pushed_state == AccountState::Inactive).then(|| Linked {
                            external_id: ext.clone(),
                            state: AccountState::Active,
                            profile: pushed.to_map(),
                        });
                        Ok(Attempt::Failed(Failed { failure, op: AccountOp::Update, linked, settled: false }))
                    }
                }
            }
            (AccountState::Inactive | AccountState::Absent, true, Some(ext)) => {
                if account.pushed_state == AccountState::Inactive && !unsure {
                    return Ok(done(AccountState::Inactive, &pushed, None));
                }
                self.take_away(app, account, &id, AccountState::Inactive, ext, &pushed, None).await
            }
            (AccountState::Deleted, true, Some(ext)) => {
                self.take_away(app, account, &id, AccountState::Deleted, ext, &pushed, None).await
            }
            (_, true, None) => Ok(done(AccountState::Absent, &AccountImage::default(), None)),
        }
    }

    /// Deactivates or deletes an account (a human is asked to where the
    /// connector cannot). `linked` is set when the account was just found:
    /// the link is recorded whatever happens.
    #[allow(clippy::too_many_arguments)]
    async fn take_away(
        &self,
        app: &App,
        account: &AppAccount,
        id: &CallId,
        target: AccountState,
        ext: String,
        image: &AccountImage,
        linked: Option<String>,
    ) -> Result<Attempt, StoreError> {
        let generation = account.desired_generation;
        let (op, task) = match target {
            AccountState::Deleted => (AccountOp::Delete, "delete"),
            _ => (AccountOp::Deactivate, "deactivate"),
        };
        let left = if target == AccountState::Deleted { AccountImage::default() } else { image.clone() };
        let state = if target == AccountState::Deleted { AccountState::Deleted } else { AccountState::Inactive };
        let pushed = |external_id: Option<String>| {
            Attempt::Pushed(Pushed { generation, state, profile: left.to_map(), external_id })
        };
        if !self.connectors.supports(app, op) {
            // The connector cannot: a human must, and is told so once for
            // this change, however often this attempt is retried.
            let login = image.login.as_str();
            self.store.open_manual_task(&app.id, &account.user_id, login, task, generation).await?;
            return Ok(pushed(linked));
        }
        let call = match target {
            AccountState::Deleted => Call::Delete { id: ext.clone() },
            _ => Call::Deactivate { id: ext.clone() },
        };
        match self.call(app, account, id, call).await {
            // Gone already: nothing left to take away.
            Ok(_) | Err(CallFailure { kind: FailureKind::NotFound, .. }) => Ok(pushed(linked)),
            Err(failure) => {
                let linked = linked.map(|external_id| Linked {
                    external_id,
                    state: AccountState::Active,
                    profile: AccountImage { login: image.login.clone(), attributes: Map::new() }.to_map(),
                });
                Ok(Attempt::Failed(Failed { failure, op, linked, settled: false }))
            }
        }
    }

    /// Sends the attributes that differ; nothing when none do.
    async fn update(
        &self,
        app: &App,
        account: &AppAccount,
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
        self.call(app, account, id, call).await.map(|_| ())
    }

    /// One connector call, with a deadline inside the account's lease; not
    /// sent when too little of the lease is left.
    async fn call(&self, app: &App, account: &AppAccount, id: &CallId, call: Call) -> Result<Reply, CallFailure> {
        let Some(deadline) = self.leases.deadline(&self.store, account) else {
            return Err(CallFailure {
                kind: FailureKind::NotSent,
                message: format!("not sent: the lease on this account ends too soon for a {:?} call", call.op()),
            });
        };
        let id = CallId { deadline: Some(deadline), ..id.clone() };
        self.connectors.call(app, id, call).await
    }
}

fn warn_stale(outcomes: &[PushOutcome], held: &[bool]) {
    for (outcome, held) in outcomes.iter().zip(held) {
        if !held {
            tracing::warn!(app = %outcome.app_id, user = %outcome.user_id, token = outcome.lease.token, "the outcome came back after its lease was replaced; it is in the system log, not applied");
        }
    }
}

fn protocol(reply: Reply) -> CallFailure {
    CallFailure { kind: FailureKind::Transient, message: format!("the connector answered a create with {reply:?}") }
}
