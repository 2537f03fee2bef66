//! The duplicate sweep. An app that commits a create later than its settle
//! time after Provisio gave the call up may hold a second account for one
//! user, which no answer ever reported. Each account carries Provisio's user
//! id in the connector's correlation attribute, so a listing of the app finds
//! it: an active account that carries the key of a user of this directory,
//! and is not the account linked to that user, is deactivated and reported
//! (`account.duplicate` in the system log). Accounts carrying keys of no user
//! here (another Provisio's) are left alone, and so is a user whose account
//! is not linked yet: the executor looks that one up itself.

use std::sync::Arc;

use serde_json::json;

use provisio_directory::{App, NewLogEvent, Store, StoreError};

use crate::connector::{AccountOp, Call, CallId, Connectors, FoundAccount, Reply};

pub struct DuplicateSweep<C> {
    store: Store,
    connectors: Arc<C>,
}

/// What one sweep found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub apps: usize,
    pub accounts: usize,
    pub duplicates: usize,
    pub deactivated: usize,
}

impl<C: Connectors> DuplicateSweep<C> {
    /// The schedule is the caller's: `provisio serve` runs one sweep at a
    /// time across its nodes (a singleton).
    pub fn new(store: Store, connectors: Arc<C>) -> Self {
        DuplicateSweep { store, connectors }
    }

    /// One pass over every active app whose connector can list accounts
    /// and stores the correlation key.
    pub async fn sweep(&self) -> Result<Swept, StoreError> {
        let mut swept = Swept::default();
        for app in self.store.list_apps().await? {
            let listable = self.connectors.supports(&app, AccountOp::List)
                && self.connectors.supports(&app, AccountOp::Deactivate)
                && self.connectors.correlation(&app).is_some();
            if app.status == "active" && listable {
                swept.apps += 1;
                self.sweep_app(&app, &mut swept).await?;
            }
        }
        Ok(swept)
    }

    async fn sweep_app(&self, app: &App, swept: &mut Swept) -> Result<(), StoreError> {
        let run = uuid::Uuid::now_v7();
        let mut cursor = None;
        for page in 1u32.. {
            let id = CallId { operation_id: format!("sweep:{}:{run}", app.id), attempt: page, deadline: None };
            let (accounts, next) = match self.connectors.call(app, id, Call::List { cursor }).await {
                Ok(Reply::Page { accounts, next }) => (accounts, next),
                Ok(other) => {
                    tracing::warn!(app = %app.id, reply = ?other, "the connector answered a listing with something else");
                    return Ok(());
                }
                Err(failure) => {
                    // Tried again at the next sweep.
                    tracing::warn!(app = %app.id, error = %failure, "could not list the app's accounts");
                    return Ok(());
                }
            };
            swept.accounts += accounts.len();
            let keyed: Vec<&FoundAccount> =
                accounts.iter().filter(|a| a.correlation.is_some() && a.active != Some(false)).collect();
            let user_ids: Vec<String> = keyed.iter().filter_map(|a| a.correlation.clone()).collect();
            let mut tx = self.store.snapshot().await?;
            let links = tx.links_of(&app.id, &user_ids).await?;
            tx.rollback().await?;
            for found in keyed {
                let Some(user_id) = found.correlation.as_deref() else { continue };
                let stray = match links.get(user_id) {
                    None | Some(None) => false,
                    Some(Some(linked)) => *linked != found.id,
                };
                if stray {
                    swept.duplicates += 1;
                    let linked = links.get(user_id).cloned().flatten();
                    if self.deactivate(app, user_id, found, linked.as_deref()).await? {
                        swept.deactivated += 1;
                    }
                }
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
        Ok(())
    }

    async fn deactivate(
        &self,
        app: &App,
        user_id: &str,
        found: &FoundAccount,
        linked: Option<&str>,
    ) -> Result<bool, StoreError> {
        let id = CallId { operation_id: format!("duplicate:{}:{}", app.id, found.id), attempt: 1, deadline: None };
        let result = self.connectors.call(app, id, Call::Deactivate { id: found.id.clone() }).await;
        let deactivated = result.is_ok();
        let details = json!({
            "app": app.id,
            "externalId": found.id,
            "linkedAccount": linked,
            "deactivated": deactivated,
            "error": result.err().map(|f| f.message),
        });
        tracing::warn!(app = %app.id, user = %user_id, external_id = %found.id, deactivated, "a duplicate account");
        self.store
            .append_log(&NewLogEvent::failure("executor", "account.duplicate.find", "user", user_id, details))
            .await?;
        Ok(deactivated)
    }
}
