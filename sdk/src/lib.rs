//! Provisio's guest SDK: write a connector as a plain Rust type.
//!
//! Implement [`Connector`] (every operation you leave out answers
//! `unsupported`), then `provisio_sdk::export_connector!(MyConnector);` and
//! build with `cargo build --target wasm32-wasip2`. The host reaches you through
//! the WIT contract in `wit/`; you reach the application through [`http`].

pub mod context;
pub mod error;
pub mod http;
pub mod log;
pub mod paging;
pub mod values;

/// The generated bindings of contract 0.1 (`wit/v0.1`).
#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit/v0.1",
        world: "provisio:connector/connector",
        pub_export_macro: true,
        export_macro_name: "__export_raw",
        default_bindings_module: "provisio_sdk::wit",
        generate_all,
    });
}

pub use context::ContextExt;
pub use error::{ConnectorError, Result};
pub use wit::provisio::connector::types::{
    Account, AccountKey, Attribute, AttributeSchema, Authentication, Change, Context, Descriptor, Field, Group,
    GroupPage, ListRequest, NewAccount, NewGroup, Operation, Profile, Scalar, Secret, SettingSchema, SettingType,
    SubAttributeSchema, UserPage, Value, ValueType,
};

/// The contract version this SDK builds against.
pub const CONTRACT_VERSION: &str = "0.1.0";

fn unsupported<T>(operation: &str) -> Result<T> {
    Err(ConnectorError::Unsupported(format!("this connector does not implement {operation}")))
}

/// A connector. Only `describe` is required.
pub trait Connector {
    fn describe() -> Descriptor;
    fn check(_ctx: Context) -> Result<()> {
        unsupported("check")
    }
    fn create_user(_ctx: Context, _user: NewAccount) -> Result<Account> {
        unsupported("create-user")
    }
    fn update_user(_ctx: Context, _id: String, _changes: Vec<Change>, _desired: Profile) -> Result<Account> {
        unsupported("update-user")
    }
    fn deactivate_user(_ctx: Context, _id: String) -> Result<()> {
        unsupported("deactivate-user")
    }
    fn reactivate_user(_ctx: Context, _id: String) -> Result<()> {
        unsupported("reactivate-user")
    }
    fn delete_user(_ctx: Context, _id: String) -> Result<()> {
        unsupported("delete-user")
    }
    fn get_user(_ctx: Context, _key: AccountKey) -> Result<Option<Account>> {
        unsupported("get-user")
    }
    fn list_users(_ctx: Context, _req: ListRequest) -> Result<UserPage> {
        unsupported("list-users")
    }
    fn list_groups(_ctx: Context, _req: ListRequest) -> Result<GroupPage> {
        unsupported("list-groups")
    }
    fn create_group(_ctx: Context, _group: NewGroup) -> Result<Group> {
        unsupported("create-group")
    }
    fn update_group(_ctx: Context, _id: String, _name: String, _description: Option<String>) -> Result<Group> {
        unsupported("update-group")
    }
    fn delete_group(_ctx: Context, _id: String) -> Result<()> {
        unsupported("delete-group")
    }
    fn add_members(_ctx: Context, _group_id: String, _members: Vec<String>) -> Result<()> {
        unsupported("add-members")
    }
    fn remove_members(_ctx: Context, _group_id: String, _members: Vec<String>) -> Result<()> {
        unsupported("remove-members")
    }
    fn set_password(_ctx: Context, _id: String, _password: Secret) -> Result<()> {
        unsupported("set-password")
    }
    fn authenticate(_ctx: Context, _login: String, _password: Secret) -> Result<Authentication> {
        unsupported("authenticate")
    }
}

/// Exports a [`Connector`] as the component's `provisioning` interface.
#[macro_export]
macro_rules! export_connector {
    ($ty:ty) => {
        struct __ProvisioExport;
        impl $crate::wit::exports::provisio::connector::provisioning::Guest for __ProvisioExport {
            fn describe() -> $crate::Descriptor {
                <$ty as $crate::Connector>::describe()
            }
            fn check(ctx: $crate::Context) -> $crate::Result<()> {
                <$ty as $crate::Connector>::check(ctx)
            }
            fn create_user(ctx: $crate::Context, user: $crate::NewAccount) -> $crate::Result<$crate::Account> {
                <$ty as $crate::Connector>::create_user(ctx, user)
            }
            fn update_user(
                ctx: $crate::Context,
                id: String,
                changes: Vec<$crate::Change>,
                desired: $crate::Profile,
            ) -> $crate::Result<$crate::Account> {
                <$ty as $crate::Connector>::update_user(ctx, id, changes, desired)
            }
            fn deactivate_user(ctx: $crate::Context, id: String) -> $crate::Result<()> {
                <$ty as $crate::Connector>::deactivate_user(ctx, id)
            }
            fn reactivate_user(ctx: $crate::Context, id: String) -> $crate::Result<()> {
                <$ty as $crate::Connector>::reactivate_user(ctx, id)
            }
            fn delete_user(ctx: $crate::Context, id: String) -> $crate::Result<()> {
                <$ty as $crate::Connector>::delete_user(ctx, id)
            }
            fn get_user(ctx: $crate::Context, key: $crate::AccountKey) -> $crate::Result<Option<$crate::Account>> {
                <$ty as $crate::Connector>::get_user(ctx, key)
            }
            fn list_users(ctx: $crate::Context, req: $crate::ListRequest) -> $crate::Result<$crate::UserPage> {
                <$ty as $crate::Connector>::list_users(ctx, req)
            }
            fn list_groups(ctx: $crate::Context, req: $crate::ListRequest) -> $crate::Result<$crate::GroupPage> {
                <$ty as $crate::Connector>::list_groups(ctx, req)
            }
            fn create_group(ctx: $crate::Context, group: $crate::NewGroup) -> $crate::Result<$crate::Group> {
                <$ty as $crate::Connector>::create_group(ctx, group)
            }
            fn update_group(
                ctx: $crate::Context,
                id: String,
                name: String,
                description: Option<String>,
            ) -> $crate::Result<$crate::Group> {
                <$ty as $crate::Connector>::update_group(ctx, id, name, description)
            }
            fn delete_group(ctx: $crate::Context, id: String) -> $crate::Result<()> {
                <$ty as $crate::Connector>::delete_group(ctx, id)
            }
            fn add_members(ctx: $crate::Context, group_id: String, members: Vec<String>) -> $crate::Result<()> {
                <$ty as $crate::Connector>::add_members(ctx, group_id, members)
            }
            fn remove_members(ctx: $crate::Context, group_id: String, members: Vec<String>) -> $crate::Result<()> {
                <$ty as $crate::Connector>::remove_members(ctx, group_id, members)
            }
            fn set_password(ctx: $crate::Context, id: String, password: $crate::Secret) -> $crate::Result<()> {
                <$ty as $crate::Connector>::set_password(ctx, id, password)
            }
            fn authenticate(
                ctx: $crate::Context,
                login: String,
                password: $crate::Secret,
            ) -> $crate::Result<$crate::Authentication> {
                <$ty as $crate::Connector>::authenticate(ctx, login, password)
            }
        }
        // Only the wasm build exports: a native build (the crate's own tests)
        // must link without the component's export symbols.
        #[cfg(target_arch = "wasm32")]
        $crate::wit::__export_raw!(__ProvisioExport with_types_in $crate::wit);
    };
}
