//! An app's settings checked against the connector's declared schema and turned
//! into typed values for the guest.

use std::collections::BTreeMap;

use crate::manifest::{SettingDecl, SettingType};
use crate::model::Scalar;
use serde_json::Value as Json;

/// Checks one value against its declared type; the error starts with the name.
pub(crate) fn check_type(name: &str, ty: SettingType, value: &toml::Value) -> Result<(), String> {
    let json = serde_json::to_value(value).map_err(|e| format!("\"{name}\": {e}"))?;
    to_scalar(name, ty, &json).map(|_| ())
}

fn to_scalar(name: &str, ty: SettingType, value: &Json) -> Result<Scalar, String> {
    match (ty, value) {
        (SettingType::Text, Json::String(s)) => Ok(Scalar::Text(s.clone())),
        (SettingType::Url, Json::String(s)) => {
            let url = url::Url::parse(s).map_err(|e| {
                format!("\"{name}\": \"{s}\" is not a URL ({e}); write e.g. \"https://app.example.com/scim/v2\"")
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!("\"{name}\": \"{s}\" must be an http or https URL"));
            }
            Ok(Scalar::Text(s.clone()))
        }
        (SettingType::Integer, Json::Number(n)) if n.is_i64() => Ok(Scalar::Integer(n.as_i64().unwrap_or_default())),
        (SettingType::Boolean, Json::Bool(b)) => Ok(Scalar::Boolean(*b)),
        (ty, other) => Err(format!("\"{name}\" must be of type {ty:?}, got {other}")),
    }
}

/// Resolves the operator's settings: unknown names are refused, required ones
/// must be present, defaults fill the rest.
pub fn resolve(decls: &[SettingDecl], given: &BTreeMap<String, Json>) -> Result<BTreeMap<String, Scalar>, String> {
    if let Some(unknown) = given.keys().find(|k| !decls.iter().any(|d| &d.name == *k)) {
        let known: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
        return Err(format!("unknown setting \"{unknown}\"; this connector takes: {}", known.join(", ")));
    }
    let mut out = BTreeMap::new();
    for d in decls {
        let default = d.default.as_ref().and_then(|v| serde_json::to_value(v).ok());
        match given.get(&d.name).or(default.as_ref()) {
            Some(v) => {
                out.insert(d.name.clone(), to_scalar(&d.name, d.setting_type, v)?);
            }
            None if d.required => {
                return Err(format!(
                    "setting \"{}\" is required ({})",
                    d.name,
                    if d.description.is_empty() { "no description" } else { &d.description }
                ));
            }
            None => {}
        }
    }
    Ok(out)
}
