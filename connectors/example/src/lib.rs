//! A connector for a small JSON REST user API:
//! `POST /users`, `GET|PATCH|DELETE /users/{id}`, `GET /users?login=`,
//! `GET /users?offset=&limit=` answering `{"users": [...], "total": n}`.

use provisio_sdk::error::{Result, conflict, permanent};
use provisio_sdk::values::{json_id, json_to_profile, profile_to_json};
use provisio_sdk::{
    Account, AccountKey, Change, Connector, Context, ContextExt, Descriptor, ListRequest, NewAccount, Operation,
    Profile, SettingSchema, SettingType, UserPage, http, paging,
};
use serde::Deserialize;
use serde_json::{Value as Json, json};

pub struct ExampleRest;

#[derive(Deserialize)]
struct Settings {
    base_url: String,
}

/// The API's base URL and credential for one operation.
struct Api<'a> {
    base: String,
    ctx: &'a Context,
}

impl<'a> Api<'a> {
    fn new(ctx: &'a Context) -> Result<Self> {
        let settings: Settings = ctx.settings()?;
        Ok(Api { base: settings.base_url.trim_end_matches('/').to_string(), ctx })
    }

    fn send(&self, request: http::RequestBuilder<'_>) -> Result<http::Response> {
        request.auth(self.ctx.credential("token")).send()
    }

    fn find_by_login(&self, login: &str) -> Result<Option<Account>> {
        // `.query` encodes the login: `grace+ops@example.com` unencoded
        // would arrive as `grace ops@example.com` and find nothing, and a
        // lookup that misses after a lost answer creates a duplicate.
        let response = self.send(http::get(format!("{}/users", self.base)).query("login", login))?;
        let users: Vec<Json> = response.error_for_status("find user")?.json()?;
        users.first().map(account).transpose()
    }

    fn set_active(&self, id: &str, active: bool) -> Result<()> {
        let request = http::patch(format!("{}/users/{id}", self.base)).json(&json!({ "active": active }))?;
        self.send(request)?.error_for_status("set active")?;
        Ok(())
    }
}

/// The API's user object as an account. Its id may be a number; a user
/// without one is an error, never an account with an empty id.
fn account(user: &Json) -> Result<Account> {
    let id = json_id(&user["id"]).ok_or_else(|| permanent(format!("the API returned a user without an id: {user}")))?;
    let profile = user.as_object().map(json_to_profile).unwrap_or_default();
    Ok(Account { id, login: user["login"].as_str().map(str::to_string), active: user["active"].as_bool(), profile })
}

impl Connector for ExampleRest {
    fn describe() -> Descriptor {
        Descriptor {
            name: "example-rest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            operations: vec![
                Operation::Check,
                Operation::CreateUser,
                Operation::UpdateUser,
                Operation::DeactivateUser,
                Operation::ReactivateUser,
                Operation::DeleteUser,
                Operation::GetUser,
                Operation::ListUsers,
            ],
            settings: vec![SettingSchema {
                name: "base_url".into(),
                setting_type: SettingType::Url,
                required: true,
                description: "The API's base URL".into(),
            }],
            credentials: vec!["token".into()],
            profile: Vec::new(),
        }
    }

    fn check(ctx: Context) -> Result<()> {
        let api = Api::new(&ctx)?;
        api.send(http::get(format!("{}/users?limit=1", api.base)))?.error_for_status("check")?;
        Ok(())
    }

    fn create_user(ctx: Context, user: NewAccount) -> Result<Account> {
        let api = Api::new(&ctx)?;
        let mut body = profile_to_json(&user.profile);
        body.insert("login".into(), json!(user.login));
        body.insert("active".into(), json!(user.active));
        let response = api.send(http::post(format!("{}/users", api.base)).json(&body)?)?;
        if response.status == 409 {
            // The login is taken: hand the engine the existing account to link.
            let existing = api.find_by_login(&user.login)?;
            return Err(conflict(format!("login {} exists", user.login), existing));
        }
        account(&response.error_for_status("create user")?.json()?)
    }

    fn update_user(ctx: Context, id: String, changes: Vec<Change>, _desired: Profile) -> Result<Account> {
        let api = Api::new(&ctx)?;
        // A JSON merge patch: changed attributes, null for removed ones.
        let patch: serde_json::Map<String, Json> = changes
            .iter()
            .map(|c| (c.name.clone(), c.value.as_ref().map_or(Json::Null, provisio_sdk::values::value_to_json)))
            .collect();
        let response = api.send(http::patch(format!("{}/users/{id}", api.base)).json(&patch)?)?;
        account(&response.error_for_status("update user")?.json()?)
    }

    fn deactivate_user(ctx: Context, id: String) -> Result<()> {
        Api::new(&ctx)?.set_active(&id, false)
    }

    fn reactivate_user(ctx: Context, id: String) -> Result<()> {
        Api::new(&ctx)?.set_active(&id, true)
    }

    fn delete_user(ctx: Context, id: String) -> Result<()> {
        let api = Api::new(&ctx)?;
        let response = api.send(http::delete(format!("{}/users/{id}", api.base)))?;
        if response.status != 404 {
            response.error_for_status("delete user")?;
        }
        Ok(())
    }

    fn get_user(ctx: Context, key: AccountKey) -> Result<Option<Account>> {
        let api = Api::new(&ctx)?;
        match key {
            AccountKey::Login(login) => api.find_by_login(&login),
            AccountKey::Id(id) => {
                let response = api.send(http::get(format!("{}/users/{id}", api.base)))?;
                if response.status == 404 {
                    return Ok(None);
                }
                account(&response.error_for_status("get user")?.json()?).map(Some)
            }
        }
    }

    fn list_users(ctx: Context, req: ListRequest) -> Result<UserPage> {
        let api = Api::new(&ctx)?;
        let offset = paging::offset_from(req.cursor.as_deref())?;
        let limit = paging::page_size(req.page_size, 100, 500);
        let url = format!("{}/users?offset={offset}&limit={limit}", api.base);
        let page: Json = api.send(http::get(url))?.error_for_status("list users")?.json()?;
        let users: Vec<Account> = page["users"].as_array().into_iter().flatten().map(account).collect::<Result<_>>()?;
        let next = paging::next_offset(offset, users.len() as u64, page["total"].as_u64(), u64::from(limit));
        Ok(UserPage { accounts: users, deleted: Vec::new(), next_cursor: next, watermark: None })
    }
}

provisio_sdk::export_connector!(ExampleRest);
