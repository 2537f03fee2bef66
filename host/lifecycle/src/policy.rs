//! An app's provisioning policy, and the desired state of an account that
//! follows from the directory. What apps receive for each user status is
//! documented in docs/lifecycle.md; this is where it is decided.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use provisio_directory::{AccountState, UserStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Deprovision {
    /// Keep the account, inactive (the default: restorable).
    #[default]
    Deactivate,
    /// Delete it, where the connector can.
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnSuspend {
    /// Deactivate the app accounts of a suspended user until unsuspended
    /// (the default: a suspended user signs in nowhere).
    #[default]
    Deactivate,
    /// Leave them as they are.
    Keep,
}

/// The mass-change guard: a fan-out change that would deactivate, delete or
/// change more than min(`percent`% of an app's accounts, `max`) accounts
/// the app holds is held, but never one that reaches `floor` or fewer: in a
/// small app a share would hold every change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    #[serde(default = "default_percent")]
    pub percent: f64,
    #[serde(default = "default_max")]
    pub max: u32,
    #[serde(default = "default_floor")]
    pub floor: u32,
}

fn default_floor() -> u32 {
    5
}

fn default_percent() -> f64 {
    20.0
}
fn default_max() -> u32 {
    50
}

impl Default for Guard {
    fn default() -> Self {
        Guard { percent: default_percent(), max: default_max(), floor: default_floor() }
    }
}

impl Guard {
    /// The most disruptive operations a change may cause in an app holding
    /// `accounts` accounts without being held.
    pub fn threshold(&self, accounts: i64) -> u64 {
        let share = (accounts.max(0) as f64 * self.percent / 100.0).floor() as u64;
        share.min(u64::from(self.max)).max(u64::from(self.floor))
    }
}

/// The longest settle time an app may be given.
pub const MAX_SETTLE_SECS: u32 = 24 * 3600;

/// Spelled camelCase on the wire like the rest of the API; the snake_case
/// names of earlier versions are still read (policies stored by them, and
/// their scripts), and an app's policy is shown in its canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    pub deprovision: Deprovision,
    #[serde(default, alias = "on_suspend")]
    pub on_suspend: OnSuspend,
    /// With `deprovision = "delete"`: days a deactivated account stays
    /// restorable before it is deleted (where the connector can). None:
    /// deleted at once.
    #[serde(default, alias = "retention_days", skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    #[serde(default)]
    pub guard: Guard,
    /// How long after a call was abandoned (a timeout, a dropped connection,
    /// a node that died) the app may still carry it out: no new attempt on
    /// that account starts sooner, so an in-doubt create is looked up only
    /// once the app has had time to commit it. Default: the executor's
    /// `settle_secs` (30).
    #[serde(default, alias = "settle_secs", skip_serializing_if = "Option::is_none")]
    pub settle_secs: Option<u32>,
}

impl Policy {
    pub fn parse(value: &Value) -> Result<Policy, String> {
        let policy: Policy = match value {
            Value::Null => Policy::default(),
            other => serde_json::from_value(other.clone()).map_err(|e| format!("policy: {e}"))?,
        };
        if !(0.0..=100.0).contains(&policy.guard.percent) {
            return Err("policy: guard.percent must be between 0 and 100".into());
        }
        if policy.settle_secs.is_some_and(|s| s > MAX_SETTLE_SECS) {
            return Err(format!("policy: settleSecs must be at most {MAX_SETTLE_SECS} (a day)"));
        }
        Ok(policy)
    }

    /// `value` read and written back: camelCase, every default spelled
    /// out, so an operator sees the guard that applies, not only what
    /// they wrote.
    pub fn canonical(value: &Value) -> Result<Value, String> {
        let policy = Policy::parse(value)?;
        serde_json::to_value(&policy).map_err(|e| format!("policy: {e}"))
    }
}

/// What the app should hold for a user. `exists` says whether the app
/// holds (or may hold) an account already: one that never existed is not
/// created just to be deactivated.
pub fn desired_state(
    status: UserStatus,
    assigned: bool,
    policy: &Policy,
    can_delete: bool,
    exists: bool,
) -> AccountState {
    // With a retention period, an account is deactivated first and deleted
    // when the period ends (the sweeper); without one, deleted at once.
    let gone = || match (policy.deprovision, can_delete, policy.retention_days) {
        (Deprovision::Delete, true, None) => AccountState::Deleted,
        _ => AccountState::Inactive,
    };
    let wanted = match status {
        _ if !assigned => gone(),
        UserStatus::Active => AccountState::Active,
        // Staged users are not provisioned until activated.
        UserStatus::Staged => AccountState::Absent,
        UserStatus::Suspended => match policy.on_suspend {
            OnSuspend::Deactivate => AccountState::Inactive,
            OnSuspend::Keep => AccountState::Active,
        },
        UserStatus::Deprovisioned => gone(),
    };
    match wanted {
        AccountState::Inactive | AccountState::Deleted | AccountState::Absent if !exists => AccountState::Absent,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unassigned_or_deprovisioned_user_is_deactivated_unless_policy_and_connector_say_delete() {
        let keep = Policy::default();
        let delete = Policy { deprovision: Deprovision::Delete, ..Policy::default() };
        assert_eq!(desired_state(UserStatus::Active, false, &keep, true, true), AccountState::Inactive);
        assert_eq!(desired_state(UserStatus::Deprovisioned, true, &keep, true, true), AccountState::Inactive);
        assert_eq!(desired_state(UserStatus::Deprovisioned, true, &delete, true, true), AccountState::Deleted);
        assert_eq!(desired_state(UserStatus::Deprovisioned, true, &delete, false, true), AccountState::Inactive);
        let retained = Policy { retention_days: Some(30), ..delete };
        assert_eq!(desired_state(UserStatus::Deprovisioned, true, &retained, true, true), AccountState::Inactive);
        assert_eq!(desired_state(UserStatus::Active, true, &keep, true, false), AccountState::Active);
        assert_eq!(desired_state(UserStatus::Active, false, &keep, true, false), AccountState::Absent);
    }

    #[test]
    fn staged_users_get_nothing_and_suspended_ones_follow_the_policy() {
        let p = Policy::default();
        assert_eq!(desired_state(UserStatus::Staged, true, &p, true, false), AccountState::Absent);
        assert_eq!(desired_state(UserStatus::Suspended, true, &p, true, true), AccountState::Inactive);
        let keep = Policy { on_suspend: OnSuspend::Keep, ..Policy::default() };
        assert_eq!(desired_state(UserStatus::Suspended, true, &keep, true, true), AccountState::Active);
    }

    #[test]
    fn the_guard_takes_the_smaller_of_the_share_and_the_cap_but_never_less_than_its_floor() {
        let g = Guard::default();
        assert_eq!(g.threshold(1000), 50);
        assert_eq!(g.threshold(100), 20);
        assert_eq!(g.threshold(3), 5, "a small app is not held for every change");
        assert_eq!(Guard { floor: 0, ..g }.threshold(3), 0);
        assert!(Policy::parse(&serde_json::json!({"guard": {"percent": 150}})).is_err());
        assert!(Policy::parse(&serde_json::json!({"deprovison": "delete"})).is_err(), "typo refused");
    }

    #[test]
    fn a_policy_reads_camel_case_or_the_old_snake_case_and_shows_camel_case_with_its_defaults() {
        let camel = serde_json::json!({"deprovision": "delete", "retentionDays": 30, "onSuspend": "keep"});
        let snake = serde_json::json!({"deprovision": "delete", "retention_days": 30, "on_suspend": "keep"});
        assert_eq!(Policy::parse(&camel), Policy::parse(&snake));
        assert_eq!(
            Policy::canonical(&snake),
            Ok(serde_json::json!({
                "deprovision": "delete", "onSuspend": "keep", "retentionDays": 30,
                "guard": {"percent": 20.0, "max": 50, "floor": 5}
            }))
        );
    }
}
