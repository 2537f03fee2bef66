//! A connector that can only create users (in a SCIM service), like the
//! many apps whose provisioning API stops there. Provisio must hand their
//! deprovisioning to a human as a manual task.

use provisio_sdk::error::Result;
use provisio_sdk::values::{json_to_profile, profile_to_json};
use provisio_sdk::{
    Account, AccountKey, Connector, Context, ContextExt, Descriptor, NewAccount, Operation, SettingSchema, SettingType,
    http,
};
use serde::Deserialize;
use serde_json::{Value as Json, json};

pub struct CreateOnly;

#[derive(Deserialize)]
struct Settings {
    base_url: String,
}

fn base(ctx: &Context) -> Result<String> {
    let settings: Settings = ctx.settings()?;
    Ok(settings.base_url.trim_end_matches('/').to_string())
}

fn account(user: &Json) -> Account {
    Account {
        id: user["id"].as_str().unwrap_or_default().to_string(),
        login: user["userName"].as_str().map(str::to_string),
        active: user["active"].as_bool(),
        profile: user.as_object().map(json_to_profile).unwrap_or_default(),
    }
}

/// Percent-encodes all but the unreserved characters (RFC 3986).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Connector for CreateOnly {
    fn describe() -> Descriptor {
        Descriptor {
            name: "create-only".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            operations: vec![Operation::Check, Operation::CreateUser, Operation::GetUser],
            settings: vec![SettingSchema {
                name: "base_url".into(),
                setting_type: SettingType::Url,
                required: true,
                description: "The SCIM service's base URL".into(),
            }],
            credentials: vec!["api".into()],
            profile: Vec::new(),
        }
    }

    fn check(ctx: Context) -> Result<()> {
        let url = format!("{}/Users?count=1", base(&ctx)?);
        http::get(url).auth(ctx.credential("api")).send()?.error_for_status("check")?;
        Ok(())
    }

    fn create_user(ctx: Context, user: NewAccount) -> Result<Account> {
        let mut body = profile_to_json(&user.profile);
        body.insert("schemas".into(), json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
        body.insert("userName".into(), json!(user.login));
        body.insert("active".into(), json!(user.active));
        let request = http::post(format!("{}/Users", base(&ctx)?)).json(&body)?;
        let response = request.auth(ctx.credential("api")).send()?;
        Ok(account(&response.error_for_status("create user")?.json()?))
    }

    fn get_user(ctx: Context, key: AccountKey) -> Result<Option<Account>> {
        let url = match key {
            AccountKey::Id(id) => format!("{}/Users/{id}", base(&ctx)?),
            AccountKey::Login(login) => {
                let filter = format!("userName eq {}", serde_json::to_string(&login).unwrap_or_default());
                format!("{}/Users?filter={}", base(&ctx)?, encode(&filter))
            }
        };
        let response = http::get(url).auth(ctx.credential("api")).send()?;
        if response.status == 404 {
            return Ok(None);
        }
        let body: Json = response.error_for_status("get user")?.json()?;
        let found = body.get("Resources").and_then(|r| r.as_array()).and_then(|r| r.first()).unwrap_or(&body);
        Ok(found.get("id").map(|_| account(found)))
    }
}

provisio_sdk::export_connector!(CreateOnly);
