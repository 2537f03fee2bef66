//! The engine: applies a directory change and, in the same transaction, the
//! desired state of every app account it affects. A preview runs the same
//! transaction and rolls it back; a fan-out change over the guard is rolled
//! back and held as a plan, and applied (recomputed) on approval.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use provisio_directory::{AccountState, App, AppAccount, NewPlan, Plan, Retirement, Store, Tx, User};

use crate::change::{Change, Scope, apply};
use crate::connector::{AccountOp, Connectors};
use crate::error::EngineError;
use crate::fail_point::{FailPoint, Paused};
use crate::mapping::{AccountImage, Mappings};
use crate::policy::{Deprovision, Policy, desired_state};

pub use provisio_proto::{AppEffect, PlannedChange, PlannedOp};

/// Operations the guard counts.
fn disruptive(op: PlannedOp) -> bool {
    matches!(op, PlannedOp::Update | PlannedOp::Deactivate | PlannedOp::Delete)
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// What the change made (the user, …); null for a preview or a held plan.
    pub result: Value,
    pub effects: Vec<AppEffect>,
    /// Set when the change was held for approval.
    pub held: Option<Plan>,
    /// For a preview: whether applying the change would hold it.
    pub would_hold: bool,
}

/// What a retention sweep did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepReport {
    pub accounts: usize,
    pub users: usize,
    /// Expiries held for approval (over the guard).
    pub held: usize,
    /// Deleted apps whose last accounts were settled since.
    pub apps: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Preview,
    /// Applying a plan an admin approved: past the guard.
    Approved,
}

pub struct Engine<C> {
    store: Store,
    connectors: Arc<C>,
    /// Woken when new work is committed.
    work: Arc<Notify>,
    /// Where a test holds a change that has applied, reconciled and locked
    /// all it touches, but not committed.
    before_commit: FailPoint,
}

/// An app with its mappings and policy parsed once per change.
pub(crate) struct AppView {
    pub(crate) app: App,
    mappings: Mappings,
    policy: Policy,
    can_delete: bool,
}

impl<C: Connectors> Engine<C> {
    pub fn new(store: Store, connectors: Arc<C>, work: Arc<Notify>) -> Self {
        Engine { store, connectors, work, before_commit: FailPoint::default() }
    }

    /// Wakes the executor: work was made due outside a change (an admin's
    /// retry or resolution).
    pub fn notify_work(&self) {
        self.work.notify_one();
    }

    /// For tests: the next change to be committed waits, with everything it
    /// wrote and locked, until the returned handle releases it.
    pub fn pause_before_commit(&self) -> Paused {
        self.before_commit.arm()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Applies (or previews) a change and the app-account changes it causes,
    /// all in one transaction. A change that lost a race with another (a
    /// deadlock, or both inserting one account) is tried again from the
    /// start, a few times, on the directory as it is then.
    pub async fn submit(&self, actor: &str, change: &Change, mode: Mode) -> Result<Outcome, EngineError> {
        retry_races(|| self.submit_once(actor, change, mode)).await
    }

    async fn submit_once(&self, actor: &str, change: &Change, mode: Mode) -> Result<Outcome, EngineError> {
        let mut tx = self.store.write().await?;
        tx.lock_rows(&change.touches()).await?;
        let (result, scope) = apply(&mut tx, actor, change).await?;
        // The guard and previews need each app's account count; counting is
        // a scan of the app's accounts, so other changes skip it.
        let count = mode == Mode::Preview || change.guarded();
        let effects = self.reconcile(&mut tx, scope, count).await?;
        let over = mode != Mode::Approved && change.guarded() && self.over_guard(&mut tx, &effects).await?;
        if mode == Mode::Preview {
            tx.rollback().await?;
            return Ok(Outcome { result: Value::Null, effects, held: None, would_hold: over });
        }
        if over {
            tx.rollback().await?;
            let plan = self.hold(actor, change, &effects).await?;
            return Ok(Outcome { result: Value::Null, effects, held: Some(plan), would_hold: true });
        }
        self.before_commit.pass().await;
        tx.commit().await?;
        if effects.iter().any(|e| !e.changes.is_empty()) {
            self.work.notify_one();
        }
        let result = self.after_commit(actor, change, result).await?;
        Ok(Outcome { result, effects, held: None, would_hold: false })
    }

    /// A deleted app with nothing to deprovision goes at once.
    async fn after_commit(&self, actor: &str, change: &Change, mut result: Value) -> Result<Value, EngineError> {
        if let Change::DeleteApp { app_id } = change {
            let deleted = self.store.finish_retirement(actor, app_id).await? == Retirement::Deleted;
            result["deleted"] = json!(deleted);
        }
        Ok(result)
    }

    /// Deletes the retiring apps whose accounts are now all settled (run by
    /// the retention sweep, in case a node stopped between an app's last
    /// outcome and its deletion).
    pub async fn finish_retirements(&self) -> Result<usize, EngineError> {
        let mut deleted = 0;
        for app_id in self.store.retiring_apps().await? {
            deleted += usize::from(self.store.finish_retirement("provisio", &app_id).await? == Retirement::Deleted);
        }
        Ok(deleted)
    }

    async fn over_guard(&self, tx: &mut Tx, effects: &[AppEffect]) -> Result<bool, EngineError> {
        for effect in effects {
            let policy = Policy::parse(&tx.app(&effect.app_id).await?.policy).unwrap_or_default();
            let disruptive = effect.changes.iter().filter(|c| disruptive(c.op)).count() as u64;
            if disruptive > 0 && disruptive > policy.guard.threshold(effect.accounts) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn hold(&self, actor: &str, change: &Change, effects: &[AppEffect]) -> Result<Plan, EngineError> {
        let summary: Vec<AppEffect> = effects.iter().map(|e| AppEffect { changes: Vec::new(), ..e.clone() }).collect();
        let new = NewPlan {
            kind: change.kind().into(),
            summary: serde_json::to_value(summary).unwrap_or(Value::Null),
            operations: serde_json::to_value(effects).unwrap_or(Value::Null),
            change: serde_json::to_value(change).map_err(|e| EngineError::Invalid(e.to_string()))?,
        };
        let mut tx = self.store.write().await?;
        let plan = tx.hold_plan(actor, &new).await?;
        tx.commit().await?;
        Ok(plan)
    }

    /// Applies a held plan's change as the directory is now, past the guard.
    pub async fn approve(&self, actor: &str, plan_id: &str) -> Result<Outcome, EngineError> {
        let plan = self.store.plan(plan_id).await?;
        if plan.status != "held" {
            return Err(EngineError::Store(provisio_directory::StoreError::Conflict(format!(
                "plan {plan_id} was already {}",
                plan.status
            ))));
        }
        let change: Change = serde_json::from_value(plan.change.clone()).map_err(|e| {
            EngineError::Invalid(format!("plan {plan_id} holds a change this version cannot read: {e}"))
        })?;
        let outcome = retry_races(|| async {
            let mut tx = self.store.write().await?;
            tx.lock_rows(&change.touches()).await?;
            tx.decide_plan(actor, plan_id, "applied").await?;
            let (result, scope) = apply(&mut tx, actor, &change).await?;
            let effects = self.reconcile(&mut tx, scope, true).await?;
            self.before_commit.pass().await;
            tx.commit().await?;
            let result = self.after_commit(actor, &change, result).await?;
            Ok(Outcome { result, effects, held: None, would_hold: false })
        })
        .await?;
        self.work.notify_one();
        Ok(outcome)
    }

    pub async fn reject(&self, actor: &str, plan_id: &str) -> Result<(), EngineError> {
        let mut tx = self.store.write().await?;
        tx.decide_plan(actor, plan_id, "rejected").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Retention: deletes app accounts deactivated longer than their app's
    /// retention (where the policy says delete and the connector can), and
    /// purges users deprovisioned longer than `directory_retention_days`.
    pub async fn sweep(&self, directory_retention_days: Option<u32>) -> Result<SweepReport, EngineError> {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let now = self.store.now_ms();
        let mut report = SweepReport { apps: self.finish_retirements().await?, ..SweepReport::default() };
        for app in self.store.list_apps().await? {
            let Ok(policy) = Policy::parse(&app.policy) else { continue };
            let (Deprovision::Delete, Some(days)) = (policy.deprovision, policy.retention_days) else { continue };
            if !self.connectors.supports(&app, AccountOp::Delete) {
                continue;
            }
            let candidates = self.store.deactivated_before(&app.id, now - i64::from(days) * DAY_MS, 10_000).await?;
            let expired = self.expirable(&app.id, candidates).await?;
            if expired.is_empty() {
                continue;
            }
            // Expiry is a fan-out like any other: past the guard, it waits
            // for an admin (one plan per app, not one per sweep).
            let mut tx = self.store.write().await?;
            let accounts = tx.account_count(&app.id).await?;
            tx.rollback().await?;
            let change = Change::ExpireAccounts { app_id: app.id.clone(), user_ids: expired.clone() };
            if expired.len() as u64 > policy.guard.threshold(accounts) {
                if !self.expiry_held(&app.id).await? {
                    let changes: Vec<PlannedChange> = expired
                        .iter()
                        .map(|u| PlannedChange {
                            user_id: u.clone(),
                            login: None,
                            op: PlannedOp::Delete,
                            attributes: Vec::new(),
                        })
                        .collect();
                    let counts = BTreeMap::from([("delete".to_string(), changes.len() as u64)]);
                    let effect =
                        AppEffect { app_id: app.id.clone(), name: app.name.clone(), accounts, counts, changes };
                    self.hold("retention", &change, &[effect]).await?;
                    report.held += 1;
                }
                continue;
            }
            report.accounts += expired.len();
            self.submit("retention", &change, Mode::Apply).await?;
        }
        if let Some(days) = directory_retention_days {
            for user_id in self.store.deprovisioned_before(now - i64::from(days) * DAY_MS, 10_000).await? {
                self.submit("retention", &Change::DeleteUser { user_id }, Mode::Apply).await?;
                report.users += 1;
            }
        }
        if report.accounts > 0 {
            self.work.notify_one();
        }
        Ok(report)
    }

    /// Of the accounts whose retention ended, those that may be deleted: a
    /// deprovisioned user's, or one no assignment gives the app any more. A
    /// suspended user's account waits for them to come back.
    async fn expirable(&self, app_id: &str, candidates: Vec<String>) -> Result<Vec<String>, EngineError> {
        if candidates.is_empty() {
            return Ok(candidates);
        }
        let mut tx = self.store.write().await?;
        let users = tx.users_by_id(&candidates).await?;
        let assigned = tx.assigned_among(app_id, &candidates).await?;
        tx.rollback().await?;
        Ok(candidates
            .into_iter()
            .filter(|u| {
                let gone = users.get(u).is_none_or(|user| user.status == provisio_directory::UserStatus::Deprovisioned);
                gone || !assigned.contains(u)
            })
            .collect())
    }

    /// Whether an expiry of this app's accounts already waits for approval.
    async fn expiry_held(&self, app_id: &str) -> Result<bool, EngineError> {
        let held = self.store.list_plans(Some("held"), 1000).await?;
        Ok(held.iter().any(|p| p.kind == "app.accounts.expire" && p.change["app_id"] == app_id))
    }

    /// What app `app_id` would receive for user `user_id` under `mappings`
    /// (the app's own when None).
    pub async fn preview_mapping(
        &self,
        app_id: &str,
        user_id: &str,
        mappings: Option<&Value>,
    ) -> Result<AccountImage, EngineError> {
        let app = self.store.app(app_id).await?;
        let user = self.store.user(user_id).await?;
        let mappings =
            Mappings::parse(mappings.unwrap_or(&app.mappings)).map_err(|e| EngineError::Invalid(e.to_string()))?;
        mappings.evaluate(&user).map_err(|e| EngineError::Mapping(e.to_string()))
    }

    /// Recomputes the desired state of every account in scope; returns the
    /// operations that will follow, per app.
    async fn reconcile(&self, tx: &mut Tx, scope: Scope, count: bool) -> Result<Vec<AppEffect>, EngineError> {
        let mut pairs: Vec<(String, String)> = scope.pairs;
        for user_id in scope.users {
            for app_id in tx.apps_concerning(&user_id).await? {
                pairs.push((app_id, user_id.clone()));
            }
        }
        for app_id in scope.apps {
            for user_id in tx.users_concerning(&app_id).await? {
                pairs.push((app_id.clone(), user_id));
            }
        }
        pairs.sort();
        pairs.dedup();
        // What the accounts follow from is read only once it is locked: a
        // change racing this one either waits for it or is waited for.
        let mut touched = provisio_directory::Touches::default();
        for (app_id, user_id) in &pairs {
            touched.users.push(user_id.clone());
            if touched.apps.last() != Some(app_id) {
                touched.apps.push(app_id.clone());
            }
        }
        tx.lock_rows(&touched).await?;

        // Per app, read the users, their accounts and their assignments in
        // bulk, then write only the desires that change.
        let mut effects = Vec::new();
        let mut start = 0;
        while start < pairs.len() {
            let app_id = pairs[start].0.clone();
            let end = start + pairs[start..].iter().take_while(|(a, _)| *a == app_id).count();
            let user_ids: Vec<String> = pairs[start..end].iter().map(|(_, u)| u.clone()).collect();
            start = end;
            let app = tx.app(&app_id).await?;
            let name = app.name.clone();
            let view = self.app_view(app)?;
            let accounts_held = if count { tx.account_count(&app_id).await? } else { -1 };
            let known = Known::read(tx, &app_id, &user_ids).await?;
            let mut effect = AppEffect {
                app_id: app_id.clone(),
                name,
                accounts: accounts_held,
                counts: BTreeMap::new(),
                changes: Vec::new(),
            };
            let mut new_accounts = Vec::new();
            for user_id in &user_ids {
                let Some(user) = known.users.get(user_id) else { continue };
                let Some((desire, change)) = reconcile_one(&view, known.facts(user))? else { continue };
                match known.accounts.get(user_id) {
                    None => new_accounts.push((user_id.clone(), desire.0, desire.1)),
                    current => tx.write_desired(current, &app_id, user_id, desire.0, &desire.1).await?,
                }
                if let Some(change) = change {
                    *effect.counts.entry(change.op.name().to_string()).or_default() += 1;
                    effect.changes.push(change);
                }
            }
            tx.insert_desired(&app_id, &new_accounts).await?;
            if !effect.changes.is_empty() {
                effects.push(effect);
            }
        }
        Ok(effects)
    }

    pub(crate) fn app_view(&self, app: App) -> Result<AppView, EngineError> {
        let mappings = Mappings::parse(&app.mappings)
            .map_err(|e| EngineError::Mapping(format!("app {} has mappings that no longer compile: {e}", app.name)))?;
        let policy = Policy::parse(&app.policy).map_err(EngineError::Invalid)?;
        let can_delete = self.connectors.supports(&app, AccountOp::Delete);
        Ok(AppView { app, mappings, policy, can_delete })
    }
}

/// Tries `attempt` again while it loses races to other changes (at most five
/// times, with a short jittered wait): a legitimate race never reaches the
/// caller as a failure unless it keeps happening.
async fn retry_races<T, F, Fut>(mut attempt: F) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, EngineError>>,
{
    const TRIES: u32 = 5;
    let mut tried = 0;
    loop {
        match attempt().await {
            Err(EngineError::Store(e)) if e.is_race() && tried + 1 < TRIES => {
                tried += 1;
                tracing::debug!(error = %e, tried, "a change lost a race; trying it again");
                let wait = 5u64 << tried;
                tokio::time::sleep(std::time::Duration::from_millis(wait + fastrand::u64(0..wait))).await;
            }
            other => return other,
        }
    }
}

/// What the directory says about one user and one app.
pub(crate) struct Facts<'a> {
    pub(crate) user: &'a User,
    pub(crate) assigned: bool,
    pub(crate) account: Option<&'a AppAccount>,
}

/// What the directory says of some users in one app, read in bulk.
pub(crate) struct Known {
    pub(crate) users: HashMap<String, User>,
    pub(crate) accounts: HashMap<String, AppAccount>,
    pub(crate) assigned: HashSet<String>,
}

impl Known {
    pub(crate) async fn read(tx: &mut Tx, app_id: &str, user_ids: &[String]) -> Result<Known, EngineError> {
        Ok(Known {
            users: tx.users_by_id(user_ids).await?,
            accounts: tx.accounts_of(app_id, user_ids).await?,
            assigned: tx.assigned_among(app_id, user_ids).await?,
        })
    }

    pub(crate) fn facts<'a>(&'a self, user: &'a User) -> Facts<'a> {
        Facts { user, assigned: self.assigned.contains(&user.id), account: self.accounts.get(&user.id) }
    }
}

/// One account's new desired state (when it differs from the stored one)
/// and the operation it will cause relative to what was desired before.
pub(crate) type Reconciled = ((AccountState, serde_json::Map<String, Value>), Option<PlannedChange>);

pub(crate) fn reconcile_one(view: &AppView, facts: Facts<'_>) -> Result<Option<Reconciled>, EngineError> {
    let Facts { user, assigned, account } = facts;
    // A retiring app is assigned to no one: every account is deprovisioned.
    let assigned = assigned && view.app.retiring_since.is_none();
    let user_id = user.id.as_str();
    // An account once wanted may exist (a create may be in flight or in
    // doubt) until the app says otherwise: its desire stays "inactive",
    // never falls back to "absent", so the leaver's account is still looked
    // for and deactivated, and reconciling again changes nothing.
    let exists =
        account.is_some_and(|a| a.pushed_state != AccountState::Absent || a.desired_state != AccountState::Absent);
    let mut state = desired_state(user.status, assigned, &view.policy, view.can_delete, exists);
    // A deletion (retention ended) is final unless the user is wanted again.
    if state == AccountState::Inactive && account.is_some_and(|a| a.desired_state == AccountState::Deleted) {
        state = AccountState::Deleted;
    }
    let before_state = account.map_or(AccountState::Absent, |a| a.desired_state);
    let before = account.map(|a| AccountImage::from_map(&a.desired_profile)).unwrap_or_default();
    if account.is_none() && state == AccountState::Absent {
        return Ok(None);
    }
    // Only an active account follows the profile; an inactive one keeps the
    // image it was left with.
    let image = if state == AccountState::Active {
        view.mappings
            .evaluate(user)
            .map_err(|e| EngineError::Mapping(format!("app {}: user {}: {e}", view.app.name, user.login)))?
    } else {
        before.clone()
    };
    let profile = image.to_map();
    if account.is_some_and(|a| a.desired_state == state && a.desired_profile == profile) {
        return Ok(None);
    }
    // What the app holds, or may hold (a create whose outcome is unknown):
    // an operation on an account it never got is no effect there.
    let in_app = account
        .is_some_and(|a| matches!(a.pushed_state, AccountState::Active | AccountState::Inactive) || a.intent.is_some());
    let op = match (before_state, state) {
        (AccountState::Active, AccountState::Active) => {
            let changed = changed_attributes(&before, &image);
            let op = if in_app { PlannedOp::Update } else { PlannedOp::Create };
            let change = (!changed.is_empty()).then(|| PlannedChange {
                user_id: user_id.into(),
                login: None,
                op,
                attributes: changed,
            });
            return Ok(Some(((state, profile), change)));
        }
        (AccountState::Absent | AccountState::Deleted, AccountState::Active) => Some(PlannedOp::Create),
        (_, AccountState::Active) => Some(PlannedOp::Reactivate),
        (AccountState::Active, AccountState::Inactive | AccountState::Absent) if !in_app => Some(PlannedOp::Cancel),
        (AccountState::Active, AccountState::Inactive | AccountState::Absent) => Some(PlannedOp::Deactivate),
        (s, AccountState::Deleted) if s != AccountState::Deleted && !in_app => Some(PlannedOp::Cancel),
        (s, AccountState::Deleted) if s != AccountState::Deleted => Some(PlannedOp::Delete),
        _ => None,
    };
    let change = op.map(|op| PlannedChange { user_id: user_id.into(), login: None, op, attributes: Vec::new() });
    Ok(Some(((state, profile), change)))
}

/// Attribute names whose values differ (added, changed or removed), and a
/// changed login.
pub(crate) fn changed_attributes(before: &AccountImage, after: &AccountImage) -> Vec<String> {
    let mut changed: Vec<String> = after
        .attributes
        .iter()
        .filter(|(k, v)| before.attributes.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(before.attributes.keys().filter(|k| !after.attributes.contains_key(*k)).cloned())
        .collect();
    if before.login != after.login && !before.login.is_empty() {
        changed.push("(login)".into());
    }
    changed.sort();
    changed
}
