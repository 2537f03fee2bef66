//! The consistency check: every app account's desired state recomputed from
//! the directory as it is at one moment, by the same reconciliation that
//! changes write, and compared with the desired state stored. A change that
//! read stale rows (a lost race, a bug) leaves an account whose stored desire
//! is not what the directory implies; this finds it.

use serde::Serialize;

use provisio_directory::{AccountState, Tx};

use crate::connector::Connectors;
use crate::engine::{Engine, Known, reconcile_one};
use crate::error::EngineError;

/// One account whose stored desire is not what the directory implies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub app_id: String,
    pub user_id: String,
    /// The desired state stored (`absent` when there is no account row).
    pub stored: AccountState,
    /// The desired state the directory implies.
    pub implied: AccountState,
    /// Whether the desired attributes differ too.
    pub profile_differs: bool,
}

/// What a check looked at, and what it found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Checked {
    /// Users checked against the app(s): every user that concerns one.
    pub accounts: usize,
    pub drift: Vec<Drift>,
}

/// Users read at a time, per app.
const CHUNK: usize = 1000;

impl<C: Connectors> Engine<C> {
    /// Every drifted account, app by app, from one snapshot of the directory.
    pub async fn drift(&self) -> Result<Checked, EngineError> {
        let mut tx = self.store().snapshot().await?;
        let mut checked = Checked::default();
        for app_id in tx.app_ids().await? {
            self.drift_of(&mut tx, &app_id, &mut checked).await?;
        }
        tx.rollback().await?;
        Ok(checked)
    }

    /// The drifted accounts of one app.
    pub async fn drift_in(&self, app_id: &str) -> Result<Checked, EngineError> {
        let mut tx = self.store().snapshot().await?;
        let mut checked = Checked::default();
        self.drift_of(&mut tx, app_id, &mut checked).await?;
        tx.rollback().await?;
        Ok(checked)
    }

    async fn drift_of(&self, tx: &mut Tx, app_id: &str, checked: &mut Checked) -> Result<(), EngineError> {
        let view = self.app_view(tx.app(app_id).await?)?;
        let user_ids = tx.users_concerning(app_id).await?;
        checked.accounts += user_ids.len();
        let drifted = &mut checked.drift;
        for chunk in user_ids.chunks(CHUNK) {
            let known = Known::read(tx, app_id, chunk).await?;
            for user_id in chunk {
                let stored = known.accounts.get(user_id);
                let drift = |implied, profile_differs| Drift {
                    app_id: app_id.to_string(),
                    user_id: user_id.clone(),
                    stored: stored.map_or(AccountState::Absent, |a| a.desired_state),
                    implied,
                    profile_differs,
                };
                let Some(user) = known.users.get(user_id) else {
                    // Purging a user removes their accounts with them.
                    if stored.is_some() {
                        drifted.push(drift(AccountState::Absent, false));
                    }
                    continue;
                };
                if let Some(((implied, profile), _)) = reconcile_one(&view, known.facts(user))? {
                    drifted.push(drift(implied, stored.is_none_or(|a| a.desired_profile != profile)));
                }
            }
        }
        Ok(())
    }
}
