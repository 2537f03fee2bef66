//! Directory changes the engine applies. Each is data, so a change held as a
//! plan is stored as it is and applied on approval; each says which app
//! accounts it may affect, and those are reconciled in the same transaction.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use provisio_directory::{NewUser, StoreError, Touches, Tx, UserStatus};

use crate::error::EngineError;
use crate::mapping::Mappings;
use crate::policy::Policy;

/// Okta's lifecycle operations on a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Activate,
    Suspend,
    Unsuspend,
    Deactivate,
}

impl Transition {
    pub fn parse(s: &str) -> Option<Transition> {
        Some(match s {
            "activate" | "reactivate" => Transition::Activate,
            "suspend" => Transition::Suspend,
            "unsuspend" => Transition::Unsuspend,
            "deactivate" => Transition::Deactivate,
            _ => return None,
        })
    }

    /// The status after this transition from `from`, or why it is illegal.
    pub fn target(self, from: UserStatus) -> Result<UserStatus, String> {
        use UserStatus as S;
        match (self, from) {
            (Transition::Activate, S::Staged | S::Deprovisioned) => Ok(S::Active),
            (Transition::Suspend, S::Active) => Ok(S::Suspended),
            (Transition::Unsuspend, S::Suspended) => Ok(S::Active),
            (Transition::Deactivate, S::Staged | S::Active | S::Suspended) => Ok(S::Deprovisioned),
            (t, s) => Err(format!("cannot {} a user who is {}", t.name(), s.as_str())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Transition::Activate => "activate",
            Transition::Suspend => "suspend",
            Transition::Unsuspend => "unsuspend",
            Transition::Deactivate => "deactivate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    CreateUser {
        login: String,
        profile: Map<String, Value>,
        activate: bool,
    },
    UpdateProfile {
        user_id: String,
        profile: Map<String, Value>,
        expected_version: Option<i64>,
    },
    Lifecycle {
        user_id: String,
        transition: Transition,
    },
    /// Many users at once (a bulk deactivation): guarded.
    BulkLifecycle {
        user_ids: Vec<String>,
        transition: Transition,
    },
    /// Removes a deprovisioned user for good.
    DeleteUser {
        user_id: String,
    },
    AddMember {
        group_id: String,
        user_id: String,
    },
    RemoveMember {
        group_id: String,
        user_id: String,
    },
    AssignUser {
        app_id: String,
        user_id: String,
    },
    UnassignUser {
        app_id: String,
        user_id: String,
    },
    AssignGroup {
        app_id: String,
        group_id: String,
        priority: i64,
    },
    UnassignGroup {
        app_id: String,
        group_id: String,
    },
    SetMappings {
        app_id: String,
        mappings: Value,
    },
    SetPolicy {
        app_id: String,
        policy: Value,
    },
    /// Deletes a group: its members lose what it gave them.
    DeleteGroup {
        group_id: String,
    },
    /// Deletes an app: it is assigned to no one from now on, each account
    /// it holds is deprovisioned, and the app goes once they are settled.
    DeleteApp {
        app_id: String,
    },
    /// Deletes deactivated accounts whose retention has ended.
    ExpireAccounts {
        app_id: String,
        user_ids: Vec<String>,
    },
}

impl Change {
    /// The rows this change reads and writes, locked before it is applied
    /// (see `provisio_directory::Touches`). The users a fan-out reaches are
    /// locked later, by the reconciliation, once they are known.
    pub fn touches(&self) -> Touches {
        let one = |id: &String| vec![id.clone()];
        match self {
            Change::CreateUser { .. } => Touches::default(),
            Change::UpdateProfile { user_id, .. }
            | Change::Lifecycle { user_id, .. }
            | Change::DeleteUser { user_id } => Touches { users: one(user_id), ..Touches::default() },
            Change::BulkLifecycle { user_ids, .. } => Touches { users: user_ids.clone(), ..Touches::default() },
            Change::AddMember { group_id, user_id } | Change::RemoveMember { group_id, user_id } => {
                Touches { groups: one(group_id), users: one(user_id), apps: Vec::new() }
            }
            Change::AssignUser { app_id, user_id } | Change::UnassignUser { app_id, user_id } => {
                Touches { groups: Vec::new(), users: one(user_id), apps: one(app_id) }
            }
            Change::AssignGroup { app_id, group_id, .. } | Change::UnassignGroup { app_id, group_id } => {
                Touches { groups: one(group_id), users: Vec::new(), apps: one(app_id) }
            }
            Change::DeleteGroup { group_id } => Touches { groups: one(group_id), ..Touches::default() },
            // The app's row is locked by the change's own update.
            Change::SetMappings { .. } | Change::SetPolicy { .. } | Change::DeleteApp { .. } => Touches::default(),
            Change::ExpireAccounts { app_id, user_ids } => {
                Touches { groups: Vec::new(), users: user_ids.clone(), apps: one(app_id) }
            }
        }
    }

    /// Changes that fan out to many accounts go through the guard.
    pub fn guarded(&self) -> bool {
        matches!(
            self,
            Change::BulkLifecycle { .. }
                | Change::UnassignGroup { .. }
                | Change::DeleteGroup { .. }
                | Change::DeleteApp { .. }
                | Change::SetMappings { .. }
                | Change::SetPolicy { .. }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Change::CreateUser { .. } => "user.create",
            Change::UpdateProfile { .. } => "user.update",
            Change::Lifecycle { .. } => "user.lifecycle",
            Change::BulkLifecycle { .. } => "users.lifecycle",
            Change::DeleteUser { .. } => "user.delete",
            Change::AddMember { .. } => "group.member.add",
            Change::RemoveMember { .. } => "group.member.remove",
            Change::AssignUser { .. } => "app.user.assign",
            Change::UnassignUser { .. } => "app.user.unassign",
            Change::AssignGroup { .. } => "app.group.assign",
            Change::UnassignGroup { .. } => "app.group.unassign",
            Change::SetMappings { .. } => "app.mappings.set",
            Change::SetPolicy { .. } => "app.policy.set",
            Change::DeleteGroup { .. } => "group.delete",
            Change::DeleteApp { .. } => "app.delete",
            Change::ExpireAccounts { .. } => "app.accounts.expire",
        }
    }
}

/// Which app accounts a change may affect.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    /// Every app that concerns these users.
    pub users: Vec<String>,
    /// These users in this app.
    pub pairs: Vec<(String, String)>,
    /// Every user that concerns these apps.
    pub apps: Vec<String>,
}

/// Applies the directory part of a change; returns what it made (for the
/// API's answer) and its scope.
pub(crate) async fn apply(tx: &mut Tx, actor: &str, change: &Change) -> Result<(Value, Scope), EngineError> {
    let mut scope = Scope::default();
    let result = match change {
        Change::CreateUser { login, profile, activate } => {
            let status = if *activate { UserStatus::Active } else { UserStatus::Staged };
            let user =
                tx.create_user(actor, NewUser { login: login.clone(), profile: profile.clone(), status }).await?;
            scope.users.push(user.id.clone());
            json!(user)
        }
        Change::UpdateProfile { user_id, profile, expected_version } => {
            let user = tx.update_profile(actor, user_id, profile.clone(), *expected_version).await?;
            scope.users.push(user_id.clone());
            json!(user)
        }
        Change::Lifecycle { user_id, transition } => {
            let user = transition_user(tx, actor, user_id, *transition).await?;
            scope.users.push(user_id.clone());
            json!(user)
        }
        Change::BulkLifecycle { user_ids, transition } => {
            if user_ids.is_empty() || user_ids.len() > 10_000 {
                return Err(EngineError::Invalid("a bulk change names 1-10,000 users".into()));
            }
            for user_id in user_ids {
                transition_user(tx, actor, user_id, *transition).await?;
            }
            scope.users.extend(user_ids.iter().cloned());
            json!({ "users": user_ids.len() })
        }
        Change::DeleteUser { user_id } => {
            let user = tx.user(user_id).await?;
            if user.status != UserStatus::Deprovisioned {
                return Err(EngineError::IllegalTransition(format!(
                    "user {} is {}; deactivate them before deleting",
                    user.login,
                    user.status.as_str()
                )));
            }
            // Their deactivations must reach the apps first: purging drops
            // the accounts' rows, and with them any push still to come.
            let pending = tx.pending_pushes_of(user_id).await?;
            if pending > 0 {
                return Err(EngineError::Store(provisio_directory::StoreError::Conflict(format!(
                    "user {} still has {pending} app account change(s) to push; delete them once those are done",
                    user.login
                ))));
            }
            tx.purge_user(actor, user_id).await?;
            json!({ "deleted": user_id })
        }
        Change::AddMember { group_id, user_id } => {
            let added = tx.add_member(actor, group_id, user_id).await?;
            scope.users.push(user_id.clone());
            json!({ "changed": added })
        }
        Change::RemoveMember { group_id, user_id } => {
            tx.group(group_id).await?;
            tx.user(user_id).await?;
            let removed = tx.remove_member(actor, group_id, user_id).await?;
            scope.users.push(user_id.clone());
            json!({ "changed": removed })
        }
        Change::AssignUser { app_id, user_id } => {
            let changed = tx.assign_user(actor, app_id, user_id).await?;
            scope.pairs.push((app_id.clone(), user_id.clone()));
            json!({ "changed": changed })
        }
        Change::UnassignUser { app_id, user_id } => {
            tx.app(app_id).await?;
            tx.user(user_id).await?;
            let changed = tx.unassign_user(actor, app_id, user_id).await?;
            scope.pairs.push((app_id.clone(), user_id.clone()));
            json!({ "changed": changed })
        }
        Change::AssignGroup { app_id, group_id, priority } => {
            let changed = tx.assign_group(actor, app_id, group_id, *priority).await?;
            for user_id in tx.members(group_id).await? {
                scope.pairs.push((app_id.clone(), user_id));
            }
            json!({ "changed": changed })
        }
        Change::UnassignGroup { app_id, group_id } => {
            tx.app(app_id).await?;
            tx.group(group_id).await?;
            let changed = tx.unassign_group(actor, app_id, group_id).await?;
            for user_id in tx.members(group_id).await? {
                scope.pairs.push((app_id.clone(), user_id));
            }
            json!({ "changed": changed })
        }
        Change::SetMappings { app_id, mappings } => {
            Mappings::parse(mappings).map_err(|e| EngineError::Invalid(e.to_string()))?;
            tx.set_app_mappings(actor, app_id, mappings).await?;
            scope.apps.push(app_id.clone());
            json!({ "mappings": mappings })
        }
        Change::SetPolicy { app_id, policy } => {
            let policy = Policy::canonical(policy).map_err(EngineError::Invalid)?;
            tx.set_app_policy(actor, app_id, &policy).await?;
            scope.apps.push(app_id.clone());
            json!({ "policy": policy })
        }
        Change::DeleteGroup { group_id } => {
            // Who loses what is read before the rows go: afterwards no
            // query can say which apps the group gave.
            let members = tx.members(group_id).await?;
            let apps = tx.apps_of_group(group_id).await?;
            tx.delete_group(actor, group_id).await?;
            for app_id in &apps {
                scope.pairs.extend(members.iter().map(|user_id| (app_id.clone(), user_id.clone())));
            }
            json!({ "deleted": group_id, "members": members.len(), "apps": apps })
        }
        Change::DeleteApp { app_id } => {
            let began = tx.begin_retirement(actor, app_id).await?;
            scope.apps.push(app_id.clone());
            json!({ "retiring": true, "already": !began })
        }
        Change::ExpireAccounts { app_id, user_ids } => {
            let mut expired = 0;
            for user_id in user_ids {
                expired += usize::from(tx.expire_account(app_id, user_id).await?);
            }
            let details = json!({ "accounts": expired });
            tx.log(&provisio_directory::NewLogEvent::success(actor, "app.accounts.expire", "app", app_id, details))
                .await?;
            // Not reconciled: the policy alone would keep them inactive.
            json!({ "expired": expired })
        }
    };
    Ok((result, scope))
}

async fn transition_user(
    tx: &mut Tx,
    actor: &str,
    user_id: &str,
    transition: Transition,
) -> Result<provisio_directory::User, EngineError> {
    let user = tx.user(user_id).await?;
    let target = transition.target(user.status).map_err(EngineError::IllegalTransition)?;
    Ok(tx.set_status(actor, user_id, target).await?)
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::Store(e)
    }
}
