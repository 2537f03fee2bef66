//! Recognising an account the app already holds under a user's login: it
//! is this user's only when it carries their correlation key, or carries
//! none and no other user is linked to it; anything else is a collision an
//! admin resolves. This is what keeps a lost create's answer from becoming a
//! duplicate, and a leaver's account from going to a new hire.

use super::*;

/// Whose an account found in the app is.
pub(super) enum Holder {
    /// It carries this user's correlation key.
    This,
    /// It carries no key and no other user is linked to it.
    Nobody,
    /// Someone else's: why.
    Other(String),
}

impl<C: Connectors> Executor<C> {
    /// Looks up, by login, the account an earlier create of this user's may
    /// have made: `Some` only when it is this user's (or nobody's). An
    /// account someone else holds under the login is a collision.
    pub(super) async fn find_own(
        &self,
        app: &App,
        account: &AppAccount,
        id: &CallId,
        desired: &AccountImage,
    ) -> Result<Result<Option<FoundAccount>, Failed>, StoreError> {
        // What the admin is told when Provisio cannot find out for itself.
        let unknown = |why: &str, kind: FailureKind| CallFailure {
            kind,
            message: format!(
                "outcome unknown: an earlier create of \"{}\" may have reached the app, and {why}. Look for this login in the app, then say what you found: POST /api/v1/apps/{}/accounts/{}/resolve with {{\"externalId\": \"<its id>\"}} or {{\"absent\": true}} (provisio errors resolve)",
                desired.login, app.id, account.user_id
            ),
        };
        if !self.connectors.supports(app, AccountOp::Lookup) {
            let failure = unknown("its connector cannot look accounts up", FailureKind::Unsupported);
            return Ok(Err(Failed::of(AccountOp::Lookup, failure)));
        }
        match self.call(app, account, id, Call::Lookup { login: desired.login.clone() }).await {
            Ok(Reply::Found(Some(found))) => match self.holder(app, account, &found).await? {
                Holder::This | Holder::Nobody => Ok(Ok(Some(found))),
                Holder::Other(whose) => {
                    let failure = collision(&desired.login, &found.id, &whose, "found by login");
                    // Nothing of this user's is known to be there; the
                    // intent stays until an admin has looked.
                    Ok(Err(Failed::of(AccountOp::Lookup, failure)))
                }
            },
            Ok(_) => Ok(Ok(None)),
            // Refused for good: retrying will not tell either.
            Err(failure) if matches!(failure.kind, FailureKind::Rejected | FailureKind::Unsupported) => {
                let why = format!("the app refused to look it up ({})", failure.message);
                Ok(Err(Failed::of(AccountOp::Lookup, unknown(&why, failure.kind))))
            }
            Err(failure) => Ok(Err(Failed::of(AccountOp::Lookup, failure))),
        }
    }

    /// Whose an account found in the app is: by the correlation key it
    /// carries, or, when it carries none, by whether another user is linked
    /// to it.
    pub(super) async fn holder(
        &self,
        app: &App,
        account: &AppAccount,
        found: &FoundAccount,
    ) -> Result<Holder, StoreError> {
        let attribute = self.connectors.correlation(app);
        if let (Some(attribute), Some(key)) = (&attribute, &found.correlation) {
            if *key == account.user_id {
                return Ok(Holder::This);
            }
            return Ok(Holder::Other(format!("its {attribute} is \"{key}\", another user's key")));
        }
        Ok(match self.store.account_by_external_id(&app.id, &found.id).await? {
            Some(other) if other.user_id != account.user_id => {
                Holder::Other(format!("it is linked to Provisio user {}", other.user_id))
            }
            Some(_) => Holder::This,
            None => Holder::Nobody,
        })
    }

    /// Links an account the app already holds for this user, then brings
    /// it to the desired image (its attributes are unknown: all are sent).
    /// The link is recorded even if that fails.
    pub(super) async fn adopt(
        &self,
        app: &App,
        account: &AppAccount,
        id: &CallId,
        desired: &AccountImage,
        found: FoundAccount,
    ) -> Result<Attempt, StoreError> {
        tracing::info!(app = %app.id, user = %account.user_id, external_id = %found.id, "linking the existing account");
        let unknown = AccountImage { login: desired.login.clone(), attributes: Map::new() };
        let linked =
            |state: AccountState| Some(Linked { external_id: found.id.clone(), state, profile: unknown.to_map() });
        // An account whose state the app did not say (or said in a way the
        // connector could not read) counts as inactive: reactivated, never
        // assumed active.
        let maybe_inactive = match found.active {
            Some(active) => !active,
            None => self.connectors.supports(app, AccountOp::Reactivate),
        };
        if maybe_inactive
            && let Err(failure) = self.call(app, account, id, Call::Reactivate { id: found.id.clone() }).await
        {
            let failed =
                Failed { failure, op: AccountOp::Reactivate, linked: linked(AccountState::Inactive), settled: true };
            return Ok(Attempt::Failed(failed));
        }
        // A connector that cannot update leaves the account as the create
        // made it: the create carried the whole profile.
        let updated = match self.connectors.supports(app, AccountOp::Update) {
            true => self.update(app, account, id, &found.id, &unknown, desired).await,
            false => Ok(()),
        };
        match updated {
            Ok(()) => Ok(Attempt::Pushed(Pushed {
                generation: account.desired_generation,
                state: AccountState::Active,
                profile: desired.to_map(),
                external_id: Some(found.id),
            })),
            Err(failure) => Ok(Attempt::Failed(Failed {
                failure,
                op: AccountOp::Update,
                linked: linked(AccountState::Active),
                settled: true,
            })),
        }
    }
}

pub(super) fn collision(login: &str, external_id: &str, whose: &str, message: &str) -> CallFailure {
    CallFailure {
        kind: FailureKind::Rejected,
        message: format!(
            "login collision: the app already holds an account for \"{login}\" (id {external_id}) and {whose}; Provisio will not take it over. Free the login in the app or give this user another one, then retry ({message})"
        ),
    }
}
