//! A generic SCIM 2.0 connector (RFC 7643 schema, RFC 7644 protocol): users and
//! groups, paging, and switches for the usual vendor quirks (PUT instead of
//! PATCH, DELETE instead of deactivate, no filter support, membership by PUT,
//! a 404 for a filter that matches nothing).
//!
//! Profiles use SCIM attribute names; enterprise-extension attributes use
//! their full URN path (`urn:...:enterprise:2.0:User:employeeNumber`).

mod resource;

use provisio_sdk::error::{Result, conflict, invalid_input, permanent, transient, unsupported};
use provisio_sdk::http::{self, Response};
use provisio_sdk::values::{profile_to_json, value_to_json};
use provisio_sdk::{
    Account, AccountKey, Change, Connector, Context, ContextExt, Descriptor, Group, GroupPage, ListRequest, NewAccount,
    NewGroup, Profile, Secret, UserPage, Value, paging,
};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use resource::{GROUP_SCHEMA, PATCH_OP, account_from, group_from, user_body};

const CONTENT_TYPE: &str = "application/scim+json";

pub struct Scim;

#[derive(Deserialize)]
struct Settings {
    base_url: String,
    #[serde(default)]
    update_with_put: bool,
    #[serde(default)]
    deactivate_with_delete: bool,
    #[serde(default)]
    no_filter: bool,
    #[serde(default)]
    members_with_put: bool,
    #[serde(default)]
    filter_404_means_none: bool,
    #[serde(default = "default_page_size")]
    page_size: u32,
}

fn default_page_size() -> u32 {
    100
}

/// One operation's view of the service: settings plus the credential.
struct Service<'a> {
    settings: Settings,
    auth: Option<&'a Secret>,
}

impl<'a> Service<'a> {
    fn new(ctx: &'a Context) -> Result<Self> {
        let mut settings: Settings = ctx.settings()?;
        settings.base_url = settings.base_url.trim_end_matches('/').to_string();
        if settings.page_size == 0 {
            settings.page_size = default_page_size();
        }
        Ok(Service { settings, auth: ctx.credential("api") })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url)
    }

    fn send(&self, builder: http::RequestBuilder<'_>) -> Result<Response> {
        builder.header("accept", CONTENT_TYPE).auth(self.auth).send()
    }

    fn get(&self, path: &str) -> Result<Response> {
        self.send(http::get(self.url(path)))
    }

    fn with_json(&self, builder: http::RequestBuilder<'static>, body: &Json) -> Result<Response> {
        let body = serde_json::to_vec(body).map_err(|e| invalid_input(e.to_string()))?;
        self.send(builder.body(CONTENT_TYPE, body))
    }

    fn patch(&self, path: &str, operations: Vec<Json>) -> Result<Response> {
        let body = json!({ "schemas": [PATCH_OP], "Operations": operations });
        self.with_json(http::patch(self.url(path)), &body)
    }

    fn user(&self, id: &str) -> Result<Option<Json>> {
        let response = self.get(&format!("/Users/{}", encode(id)))?;
        if response.status == 404 {
            return Ok(None);
        }
        Ok(Some(response.error_for_status("get user")?.json()?))
    }

    /// The user whose userName is `login`: by filter, or by listing when the
    /// service has no filter support.
    fn user_by_login(&self, login: &str) -> Result<Option<Json>> {
        if !self.settings.no_filter {
            let filter = format!("userName eq {}", quoted(login));
            let response = self.get(&format!("/Users?filter={}", encode(&filter)))?;
            // Off by default: a 404 can also mean a wrong base URL.
            if response.status == 404 && self.settings.filter_404_means_none {
                return Ok(None);
            }
            let list: ListResponse = response.error_for_status("find user by login")?.json()?;
            return Ok(list
                .resources
                .into_iter()
                .find(|r| r.get("userName").and_then(Json::as_str).is_some_and(|u| u.eq_ignore_ascii_case(login))));
        }
        let (mut offset, mut last_page) = (0, None);
        loop {
            let page = self.page("/Users", offset, self.settings.page_size, last_page)?;
            if let Some(found) = page
                .resources
                .into_iter()
                .find(|r| r.get("userName").and_then(Json::as_str).is_some_and(|u| u.eq_ignore_ascii_case(login)))
            {
                return Ok(Some(found));
            }
            match page.next {
                Some(n) => (offset, last_page) = (n, Some(page.digest)),
                None => return Ok(None),
            }
        }
    }

    /// One page from `offset` (0-based), its resources once each.
    ///
    /// Imports decide who is gone from listings, so a listing must be whole:
    /// `totalResults` is trusted to end it only when a short page agrees
    /// with it (services report it wrong, and may return fewer than asked
    /// for); otherwise it ends on an empty page, or on a page that repeats
    /// the one before (`previous`: a service that ignores paging).
    fn page(&self, path: &str, offset: u64, count: u32, previous: Option<u64>) -> Result<Page> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let response = self.get(&format!("{path}{sep}startIndex={}&count={count}", offset + 1))?;
        let list: ListResponse = response.error_for_status("list")?.json()?;
        let fetched = list.resources.len() as u64;
        let mut seen = std::collections::HashSet::new();
        let resources: Vec<Json> = list
            .resources
            .into_iter()
            .filter(|r| r.get("id").and_then(Json::as_str).is_none_or(|id| seen.insert(id.to_string())))
            .collect();
        let digest = paging::page_digest(seen.iter().map(String::as_str));
        if fetched > 0 && previous == Some(digest) {
            return Ok(Page { resources: Vec::new(), next: None, digest });
        }
        let complete = fetched == 0 || (fetched < u64::from(count) && list.total_results == Some(offset + fetched));
        Ok(Page { resources, next: (!complete).then_some(offset + fetched), digest })
    }

    /// Sets `active` (deactivate / reactivate) by PATCH, or by PUT in PUT mode.
    fn set_active(&self, id: &str, active: bool) -> Result<()> {
        let path = format!("/Users/{}", encode(id));
        let response = if self.settings.update_with_put {
            let mut current = self.user(id)?.ok_or_else(|| provisio_sdk::error::not_found(format!("user {id}")))?;
            current
                .as_object_mut()
                .ok_or_else(|| permanent(format!("the service returned user {id} as something other than an object")))?
                .insert("active".into(), Json::Bool(active));
            self.put_resource(&path, current)?
        } else {
            self.patch(&path, vec![json!({ "op": "replace", "path": "active", "value": active })])?
        };
        response.error_for_status(if active { "reactivate user" } else { "deactivate user" })?;
        Ok(())
    }

    fn put_resource(&self, path: &str, mut resource: Json) -> Result<Response> {
        if let Some(o) = resource.as_object_mut() {
            o.remove("meta");
        }
        self.with_json(http::put(self.url(path)), &resource)
    }

    fn group(&self, id: &str) -> Result<Json> {
        self.get(&format!("/Groups/{}", encode(id)))?.error_for_status("get group")?.json()
    }

    fn change_members(&self, group_id: &str, members: &[String], add: bool) -> Result<()> {
        let path = format!("/Groups/{}", encode(group_id));
        let response = if self.settings.members_with_put {
            let mut group = self.group(group_id)?;
            let mut current: Vec<Json> = group.get("members").and_then(Json::as_array).cloned().unwrap_or_default();
            current.retain(|m| {
                let id = m.get("value").and_then(Json::as_str).unwrap_or_default();
                add || !members.iter().any(|x| x == id)
            });
            if add {
                for m in members {
                    if !current.iter().any(|c| c.get("value").and_then(Json::as_str) == Some(m)) {
                        current.push(json!({ "value": m }));
                    }
                }
            }
            group
                .as_object_mut()
                .ok_or_else(|| {
                    permanent(format!("the service returned group {group_id} as something other than an object"))
                })?
                .insert("members".into(), Json::Array(current));
            self.put_resource(&path, group)?
        } else if add {
            let values: Vec<Json> = members.iter().map(|m| json!({ "value": m })).collect();
            self.patch(&path, vec![json!({ "op": "add", "path": "members", "value": values })])?
        } else {
            let ops = members
                .iter()
                .map(|m| json!({ "op": "remove", "path": format!("members[value eq {}]", quoted(m)) }))
                .collect();
            self.patch(&path, ops)?
        };
        response.error_for_status(if add { "add members" } else { "remove members" })?;
        Ok(())
    }
}

/// One page of a listing: its resources (once each), where the next page
/// starts (`None`: the listing is complete), and the page's id digest.
struct Page {
    resources: Vec<Json>,
    next: Option<u64>,
    digest: u64,
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(rename = "totalResults", default)]
    total_results: Option<u64>,
    #[serde(rename = "Resources", default)]
    resources: Vec<Json>,
}

/// A SCIM filter string literal (RFC 7644 §3.4.2.2: a JSON string).
fn quoted(value: &str) -> String {
    Json::String(value.to_string()).to_string()
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Connector for Scim {
    fn describe() -> Descriptor {
        resource::descriptor()
    }

    fn check(ctx: Context) -> Result<()> {
        let service = Service::new(&ctx)?;
        // ServiceProviderConfig is often public; /Users proves the credential.
        service.get("/Users?count=1")?.error_for_status("check connection")?;
        Ok(())
    }

    fn create_user(ctx: Context, user: NewAccount) -> Result<Account> {
        let service = Service::new(&ctx)?;
        let body = user_body(&user.login, user.active, &profile_to_json(&user.profile));
        let response = service.with_json(http::post(service.url("/Users")), &body)?;
        if response.status == 409 {
            // Never a duplicate: hand the engine the account that holds the login.
            let existing = service.user_by_login(&user.login).ok().flatten().map(|r| account_from(&r));
            return Err(conflict(format!("a user with userName \"{}\" already exists", user.login), existing));
        }
        Ok(account_from(&response.error_for_status("create user")?.json()?))
    }

    fn update_user(ctx: Context, id: String, changes: Vec<Change>, desired: Profile) -> Result<Account> {
        let service = Service::new(&ctx)?;
        let path = format!("/Users/{}", encode(&id));
        if service.settings.update_with_put {
            let mut current = service.user(&id)?.ok_or_else(|| provisio_sdk::error::not_found(format!("user {id}")))?;
            resource::merge_profile(&mut current, &desired, &changes);
            let response = service.put_resource(&path, current)?.error_for_status("update user")?;
            return Ok(account_from(&response.json()?));
        }
        if changes.is_empty() {
            return service
                .user(&id)?
                .map(|r| account_from(&r))
                .ok_or_else(|| provisio_sdk::error::not_found(format!("user {id}")));
        }
        let ops = changes
            .iter()
            .flat_map(|c| match &c.value {
                // A replace on a complex attribute merges sub-attributes
                // (RFC 7644 §3.5.2.3), so one dropped from the desired value
                // would linger: remove the attribute, then add it whole (one
                // PATCH is atomic).
                Some(v @ Value::Complex(_)) => vec![
                    json!({ "op": "remove", "path": c.name }),
                    json!({ "op": "add", "path": c.name, "value": value_to_json(v) }),
                ],
                Some(v) => vec![json!({ "op": "replace", "path": c.name, "value": value_to_json(v) })],
                None => vec![json!({ "op": "remove", "path": c.name })],
            })
            .collect();
        let response = service.patch(&path, ops)?.error_for_status("update user")?;
        if response.status == 200 && !response.body.is_empty() {
            return Ok(account_from(&response.json()?));
        }
        // 204: the service sent nothing back; the desired profile is what it holds.
        Ok(Account { id, login: None, active: None, profile: desired })
    }

    fn deactivate_user(ctx: Context, id: String) -> Result<()> {
        let service = Service::new(&ctx)?;
        if service.settings.deactivate_with_delete {
            return Self::delete_user(ctx, id);
        }
        service.set_active(&id, false)
    }

    fn reactivate_user(ctx: Context, id: String) -> Result<()> {
        Service::new(&ctx)?.set_active(&id, true)
    }

    fn delete_user(ctx: Context, id: String) -> Result<()> {
        let service = Service::new(&ctx)?;
        let response = service.send(http::delete(service.url(&format!("/Users/{}", encode(&id)))))?;
        if response.status == 404 {
            return Ok(()); // already gone: deleting is idempotent
        }
        response.error_for_status("delete user")?;
        Ok(())
    }

    fn get_user(ctx: Context, key: AccountKey) -> Result<Option<Account>> {
        let service = Service::new(&ctx)?;
        let found = match key {
            AccountKey::Id(id) => service.user(&id)?,
            AccountKey::Login(login) => service.user_by_login(&login)?,
        };
        Ok(found.map(|r| account_from(&r)))
    }

    fn list_users(ctx: Context, req: ListRequest) -> Result<UserPage> {
        let service = Service::new(&ctx)?;
        let mut cursor = paging::MarkedCursor::parse(req.cursor.as_deref())?;
        let count = paging::page_size(req.page_size, service.settings.page_size, 1000);
        let path = match &req.since {
            // `ge`, not `gt`: an account changed in the same instant as the
            // watermark, after it was read, is listed again rather than lost.
            Some(_) if service.settings.no_filter => {
                return Err(unsupported(
                    "incremental listing needs filter support, which this service lacks (no_filter)",
                ));
            }
            Some(since) => format!("/Users?filter={}", encode(&format!("meta.lastModified ge {}", quoted(since)))),
            None => "/Users".to_string(),
        };
        let page = service.page(&path, cursor.offset, count, cursor.last_page)?;
        for modified in page.resources.iter().filter_map(|r| r.pointer("/meta/lastModified").and_then(Json::as_str)) {
            cursor.observe(modified);
        }
        let accounts: Vec<Account> = page.resources.iter().map(account_from).collect();
        // The watermark of the whole listing, carried page to page in the cursor.
        let (next_cursor, watermark) = match page.next {
            Some(offset) => {
                (Some(paging::MarkedCursor { offset, last_page: Some(page.digest), ..cursor }.encode()), None)
            }
            None => (None, cursor.high_water.or(req.since)),
        };
        Ok(UserPage {
            accounts,
            deleted: Vec::new(), // SCIM reports no deletions
            next_cursor,
            watermark,
        })
    }

    fn list_groups(ctx: Context, req: ListRequest) -> Result<GroupPage> {
        let service = Service::new(&ctx)?;
        let cursor = paging::MarkedCursor::parse(req.cursor.as_deref())?;
        let count = paging::page_size(req.page_size, service.settings.page_size, 1000);
        let page = service.page("/Groups", cursor.offset, count, cursor.last_page)?;
        Ok(GroupPage {
            groups: page.resources.iter().map(group_from).collect(),
            deleted: Vec::new(),
            next_cursor: page
                .next
                .map(|offset| paging::MarkedCursor { offset, last_page: Some(page.digest), high_water: None }.encode()),
            watermark: None,
        })
    }

    fn create_group(ctx: Context, group: NewGroup) -> Result<Group> {
        let service = Service::new(&ctx)?;
        let members: Vec<Json> = group.members.iter().map(|m| json!({ "value": m })).collect();
        let body = json!({ "schemas": [GROUP_SCHEMA], "displayName": group.name, "members": members });
        let response = service.with_json(http::post(service.url("/Groups")), &body)?;
        if response.status == 409 {
            return Err(conflict(format!("a group named \"{}\" already exists", group.name), None));
        }
        Ok(group_from(&response.error_for_status("create group")?.json()?))
    }

    fn update_group(ctx: Context, id: String, name: String, _description: Option<String>) -> Result<Group> {
        let service = Service::new(&ctx)?;
        let path = format!("/Groups/{}", encode(&id));
        service
            .patch(&path, vec![json!({ "op": "replace", "path": "displayName", "value": name })])?
            .error_for_status("update group")?;
        Ok(group_from(&service.group(&id)?))
    }

    fn delete_group(ctx: Context, id: String) -> Result<()> {
        let service = Service::new(&ctx)?;
        let response = service.send(http::delete(service.url(&format!("/Groups/{}", encode(&id)))))?;
        if response.status == 404 {
            return Ok(());
        }
        response.error_for_status("delete group")?;
        Ok(())
    }

    fn add_members(ctx: Context, group_id: String, members: Vec<String>) -> Result<()> {
        Service::new(&ctx)?.change_members(&group_id, &members, true)
    }

    fn remove_members(ctx: Context, group_id: String, members: Vec<String>) -> Result<()> {
        Service::new(&ctx)?.change_members(&group_id, &members, false)
    }

    fn set_password(ctx: Context, id: String, password: Secret) -> Result<()> {
        let service = Service::new(&ctx)?;
        let body =
            json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "replace", "path": "password", "value": null }] });
        let body = serde_json::to_vec(&body).map_err(|e| transient(e.to_string()))?;
        http::patch(service.url(&format!("/Users/{}", encode(&id))))
            .header("accept", CONTENT_TYPE)
            .body(CONTENT_TYPE, body)
            .auth(service.auth)
            .send_with_secret(&password, "/Operations/0/value")?
            .error_for_status("set password")?;
        Ok(())
    }
}

provisio_sdk::export_connector!(Scim);
