//! The operations of an [`App`]: one method per export of the contract,
//! each run by [`App::run`] in a fresh store under the app's limits.

use crate::model::{self, Operation};
use crate::runtime::{App, CallContext, Guest, Invocation};
use crate::secrets::{SecretHandle, SecretString};
use crate::v0_1;

macro_rules! guest_call {
    ($guest:expr, $store:expr, |$p:ident, $ctx:ident| $call:expr) => {
        match $guest {
            Guest::V0_1 { bindings, ctx: $ctx } => {
                let $p = bindings.provisio_connector_provisioning();
                let _ = &$p;
                $call.await.map(|r| r.map(Into::into).map_err(Into::into))
            }
        }
    };
}

impl App {
    pub async fn describe(&self) -> Invocation<model::Descriptor> {
        // describe() takes no context; the operation id is for the report only.
        self.run(Operation::Describe, &CallContext::new("describe"), |store, guest| {
            Box::pin(async move {
                match guest {
                    Guest::V0_1 { bindings, ctx: _ } => {
                        bindings.provisio_connector_provisioning().call_describe(store).await.map(|d| Ok(d.into()))
                    }
                }
            })
        })
        .await
    }

    pub async fn check(&self, call: &CallContext) -> Invocation<()> {
        self.run(Operation::Check, call, |store, guest| {
            Box::pin(async move { guest_call!(guest, store, |p, ctx| p.call_check(store, &ctx)) })
        })
        .await
    }

    pub async fn create_user(&self, call: &CallContext, user: &model::NewAccount) -> Invocation<model::Account> {
        let user = user.clone();
        self.run(Operation::CreateUser, call, |store, guest| {
            Box::pin(async move {
                guest_call!(guest, store, |p, ctx| p.call_create_user(store, &ctx, &v0_1::new_account_in(&user)))
            })
        })
        .await
    }

    pub async fn update_user(
        &self,
        call: &CallContext,
        id: &str,
        changes: &model::Changes,
        desired: &model::Profile,
    ) -> Invocation<model::Account> {
        let (id, changes, desired) = (id.to_string(), changes.clone(), desired.clone());
        self.run(Operation::UpdateUser, call, |store, guest| {
            Box::pin(async move {
                guest_call!(guest, store, |p, ctx| p.call_update_user(
                    store,
                    &ctx,
                    &id,
                    &v0_1::changes_in(&changes),
                    &v0_1::profile_in(&desired)
                ))
            })
        })
        .await
    }

    pub async fn deactivate_user(&self, call: &CallContext, id: &str) -> Invocation<()> {
        let id = id.to_string();
        self.run(Operation::DeactivateUser, call, |store, guest| {
            Box::pin(async move { guest_call!(guest, store, |p, ctx| p.call_deactivate_user(store, &ctx, &id)) })
        })
        .await
    }

    pub async fn reactivate_user(&self, call: &CallContext, id: &str) -> Invocation<()> {
        let id = id.to_string();
        self.run(Operation::ReactivateUser, call, |store, guest| {
            Box::pin(async move { guest_call!(guest, store, |p, ctx| p.call_reactivate_user(store, &ctx, &id)) })
        })
        .await
    }

    pub async fn delete_user(&self, call: &CallContext, id: &str) -> Invocation<()> {
        let id = id.to_string();
        self.run(Operation::DeleteUser, call, |store, guest| {
            Box::pin(async move { guest_call!(guest, store, |p, ctx| p.call_delete_user(store, &ctx, &id)) })
        })
        .await
    }

    pub async fn get_user(&self, call: &CallContext, key: &model::AccountKey) -> Invocation<Option<model::Account>> {
        let key = key.clone();
        self.run(Operation::GetUser, call, |store, guest| {
            Box::pin(async move {
                match guest {
                    Guest::V0_1 { bindings, ctx } => bindings
                        .provisio_connector_provisioning()
                        .call_get_user(store, &ctx, &v0_1::key_in(&key))
                        .await
                        .map(|r| r.map(|a| a.map(Into::into)).map_err(Into::into)),
                }
            })
        })
        .await
    }

    pub async fn list_users(
        &self,
        call: &CallContext,
        req: &model::ListRequest,
    ) -> Invocation<model::Page<model::Account>> {
        let req = req.clone();
        let op = if req.since.is_some() { Operation::ListUsersIncremental } else { Operation::ListUsers };
        self.run(op, call, |store, guest| {
            Box::pin(async move {
                guest_call!(guest, store, |p, ctx| p.call_list_users(store, &ctx, &v0_1::list_request_in(&req)))
            })
        })
        .await
    }

    pub async fn list_groups(
        &self,
        call: &CallContext,
        req: &model::ListRequest,
    ) -> Invocation<model::Page<model::Group>> {
        let req = req.clone();
        self.run(Operation::ListGroups, call, |store, guest| {
            Box::pin(async move {
                guest_call!(guest, store, |p, ctx| p.call_list_groups(store, &ctx, &v0_1::list_request_in(&req)))
            })
        })
        .await
    }

    pub async fn create_group(&self, call: &CallContext, group: &model::NewGroup) -> Invocation<model::Group> {
        let group = group.clone();
        self.run(Operation::CreateGroup, call, |store, guest| {
            Box::pin(async move {
                guest_call!(guest, store, |p, ctx| p.call_create_group(store, &ctx, &v0_1::new_group_in(&group)))
            })
        })
        .await
    }

    pub async fn update_group(
        &self,
        call: &CallContext,
        id: &str,
        name: &str,
        description: Option<&str>,
    ) -> Invocation<model::Group> {
        let (id, name, description) = (id.to_string(), name.to_string(), description.map(str::to_string));
        self.run(Operation::UpdateGroup, call, |store, guest| {
            Box::pin(async move {
                guest_call!(guest, store, |p, ctx| p.call_update_group(store, &ctx, &id, &name, description.as_deref()))
            })
        })
        .await
    }

    pub async fn delete_group(&self, call: &CallContext, id: &str) -> Invocation<()> {
        let id = id.to_string();
        self.run(Operation::DeleteGroup, call, |store, guest| {
            Box::pin(async move { guest_call!(guest, store, |p, ctx| p.call_delete_group(store, &ctx, &id)) })
        })
        .await
    }

    pub async fn add_members(&self, call: &CallContext, group_id: &str, members: &[String]) -> Invocation<()> {
        let (group_id, members) = (group_id.to_string(), members.to_vec());
        self.run(Operation::AddMembers, call, |store, guest| {
            Box::pin(
                async move { guest_call!(guest, store, |p, ctx| p.call_add_members(store, &ctx, &group_id, &members)) },
            )
        })
        .await
    }

    pub async fn remove_members(&self, call: &CallContext, group_id: &str, members: &[String]) -> Invocation<()> {
        let (group_id, members) = (group_id.to_string(), members.to_vec());
        self.run(Operation::RemoveMembers, call, |store, guest| {
            Box::pin(async move {
                guest_call!(guest, store, |p, ctx| p.call_remove_members(store, &ctx, &group_id, &members))
            })
        })
        .await
    }

    pub async fn set_password(&self, call: &CallContext, id: &str, password: SecretString) -> Invocation<()> {
        let id = id.to_string();
        self.run(Operation::SetPassword, call, |store, guest| {
            Box::pin(async move {
                store.data().meter.register_secret(&password);
                let handle = store.data_mut().table.push(SecretHandle::EndUserPassword(password))?;
                guest_call!(guest, store, |p, ctx| p.call_set_password(store, &ctx, &id, handle))
            })
        })
        .await
    }

    pub async fn authenticate(
        &self,
        call: &CallContext,
        login: &str,
        password: SecretString,
    ) -> Invocation<model::Authentication> {
        let login = login.to_string();
        self.run(Operation::Authenticate, call, |store, guest| {
            Box::pin(async move {
                store.data().meter.register_secret(&password);
                let handle = store.data_mut().table.push(SecretHandle::EndUserPassword(password))?;
                guest_call!(guest, store, |p, ctx| p.call_authenticate(store, &ctx, &login, handle))
            })
        })
        .await
    }
}
