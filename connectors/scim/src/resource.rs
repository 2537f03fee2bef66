//! SCIM resources ⇄ the contract's accounts and groups, and the descriptor.

use provisio_sdk::values::{json_to_profile, profile_to_json};
use provisio_sdk::{
    Account, Attribute, AttributeSchema, Change, Descriptor, Group, Operation, SettingSchema, SettingType,
    SubAttributeSchema, ValueType,
};
use serde_json::{Map, Value as Json, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Attributes that belong to the resource's bookkeeping, not its profile.
const NOT_PROFILE: &[&str] = &["schemas", "meta", "id"];

/// Splits `urn:...:User:attr` into (`urn:...:User`, `attr`) for extension
/// attributes; core attributes have no URN.
fn extension_of(name: &str) -> Option<(&str, &str)> {
    if !name.starts_with("urn:") {
        return None;
    }
    let (schema, attr) = name.rsplit_once(':')?;
    Some((schema, attr))
}

/// The POST body for a new user.
pub fn user_body(login: &str, active: bool, profile: &Map<String, Json>) -> Json {
    let mut body = Map::new();
    let mut schemas = vec![Json::String(USER_SCHEMA.into())];
    for (name, value) in profile {
        place(&mut body, &mut schemas, name, value.clone());
    }
    body.insert("userName".into(), Json::String(login.into()));
    body.insert("active".into(), Json::Bool(active));
    body.insert("schemas".into(), Json::Array(schemas));
    Json::Object(body)
}

/// Puts an attribute at its place: core at the top, extension attributes in
/// their schema's object (adding the schema to `schemas`).
fn place(body: &mut Map<String, Json>, schemas: &mut Vec<Json>, name: &str, value: Json) {
    match extension_of(name) {
        Some((schema, attr)) => {
            if !schemas.iter().any(|s| s == schema) {
                schemas.push(Json::String(schema.into()));
            }
            let ext = body.entry(schema.to_string()).or_insert_with(|| json!({}));
            if let Some(ext) = ext.as_object_mut() {
                ext.insert(attr.into(), value);
            }
        }
        None => {
            body.insert(name.into(), value);
        }
    }
}

fn unplace(body: &mut Map<String, Json>, name: &str) {
    match extension_of(name) {
        Some((schema, attr)) => {
            if let Some(ext) = body.get_mut(schema).and_then(Json::as_object_mut) {
                ext.remove(attr);
            }
        }
        None => {
            body.remove(name);
        }
    }
}

/// PUT mode: the desired profile over the current resource. Attributes
/// Provisio does not manage stay as they are; removed ones are dropped.
pub fn merge_profile(current: &mut Json, desired: &[Attribute], changes: &[Change]) {
    let Some(body) = current.as_object_mut() else {
        return;
    };
    let mut schemas: Vec<Json> = body.get("schemas").and_then(Json::as_array).cloned().unwrap_or_default();
    for (name, value) in profile_to_json(desired) {
        place(body, &mut schemas, &name, value);
    }
    for change in changes.iter().filter(|c| c.value.is_none()) {
        unplace(body, &change.name);
    }
    body.insert("schemas".into(), Json::Array(schemas));
}

/// A SCIM user as an account; extension attributes flattened to URN names.
pub fn account_from(resource: &Json) -> Account {
    let mut flat = Map::new();
    if let Some(object) = resource.as_object() {
        for (k, v) in object {
            if NOT_PROFILE.contains(&k.as_str()) {
                continue;
            }
            match (k.starts_with("urn:"), v.as_object()) {
                (true, Some(ext)) => {
                    for (attr, value) in ext {
                        flat.insert(format!("{k}:{attr}"), value.clone());
                    }
                }
                _ => {
                    flat.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Account {
        id: resource.get("id").and_then(Json::as_str).unwrap_or_default().to_string(),
        login: resource.get("userName").and_then(Json::as_str).map(str::to_string),
        active: resource.get("active").and_then(active_of),
        profile: json_to_profile(&flat),
    }
}

/// `active` as a boolean, or as the strings "true" and "false" in any case
/// (some services send those); anything else is unknown, never a guess.
fn active_of(value: &Json) -> Option<bool> {
    match value {
        Json::Bool(b) => Some(*b),
        Json::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Json::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

pub fn group_from(resource: &Json) -> Group {
    Group {
        id: resource.get("id").and_then(Json::as_str).unwrap_or_default().to_string(),
        name: resource.get("displayName").and_then(Json::as_str).unwrap_or_default().to_string(),
        description: None,
        members: resource.get("members").and_then(Json::as_array).map(|members| {
            members.iter().filter_map(|m| m.get("value").and_then(Json::as_str).map(str::to_string)).collect()
        }),
    }
}

fn attr(name: &str, value_type: ValueType, multi_valued: bool, description: &str) -> AttributeSchema {
    AttributeSchema {
        name: name.into(),
        value_type,
        multi_valued,
        required: false,
        description: description.into(),
        sub_attributes: Vec::new(),
    }
}

fn sub(name: &str, value_type: ValueType) -> SubAttributeSchema {
    SubAttributeSchema { name: name.into(), value_type, required: false, description: String::new() }
}

fn setting(name: &str, setting_type: SettingType, required: bool, description: &str) -> SettingSchema {
    SettingSchema { name: name.into(), setting_type, required, description: description.into() }
}

pub fn descriptor() -> Descriptor {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut name = attr("name", ValueType::Complex, false, "The user's name");
    name.sub_attributes =
        vec![sub("givenName", ValueType::Text), sub("familyName", ValueType::Text), sub("formatted", ValueType::Text)];
    let mut emails = attr("emails", ValueType::Complex, true, "Email addresses");
    emails.sub_attributes =
        vec![sub("value", ValueType::Text), sub("type", ValueType::Text), sub("primary", ValueType::Boolean)];
    let mut user_name = attr("userName", ValueType::Text, false, "Unique login");
    user_name.required = true;
    Descriptor {
        name: "scim".into(),
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
            Operation::ListUsersIncremental,
            Operation::ListGroups,
            Operation::CreateGroup,
            Operation::UpdateGroup,
            Operation::DeleteGroup,
            Operation::AddMembers,
            Operation::RemoveMembers,
            Operation::SetPassword,
        ],
        settings: vec![
            setting("base_url", SettingType::Url, true, "The SCIM service's base URL"),
            setting("update_with_put", SettingType::Boolean, false, "Update with PUT instead of PATCH"),
            setting("deactivate_with_delete", SettingType::Boolean, false, "Deprovision by DELETE"),
            setting("no_filter", SettingType::Boolean, false, "The service has no filter support"),
            setting("members_with_put", SettingType::Boolean, false, "Membership changes by PUT"),
            setting("page_size", SettingType::Integer, false, "Resources per page"),
            setting("filter_404_means_none", SettingType::Boolean, false, "A 404 for a filter means no match"),
        ],
        credentials: vec!["api".into()],
        profile: vec![
            user_name,
            attr("active", ValueType::Boolean, false, "Whether the account may sign in"),
            name,
            attr("displayName", ValueType::Text, false, "Display name"),
            emails,
            attr("title", ValueType::Text, false, "Job title"),
            attr("externalId", ValueType::Text, false, "The provisioning client's id"),
            attr(&format!("{enterprise}:employeeNumber"), ValueType::Text, false, "Employee number"),
            attr(&format!("{enterprise}:department"), ValueType::Text, false, "Department"),
        ],
    }
}
