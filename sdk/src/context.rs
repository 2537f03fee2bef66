//! Reading the operation context: typed settings and credential handles.

use serde::de::DeserializeOwned;

use crate::error::{Result, invalid_input};
use crate::values::scalar_to_json;
use crate::{Context, Scalar, Secret};

pub trait ContextExt {
    fn setting(&self, name: &str) -> Option<&Scalar>;
    /// A text or URL setting; an error names the missing setting.
    fn setting_text(&self, name: &str) -> Result<&str>;
    /// A boolean switch; absent means false.
    fn switch(&self, name: &str) -> bool;
    fn credential(&self, name: &str) -> Option<&Secret>;
    /// All settings as the author's own type (serde), e.g. a struct with
    /// `base_url: String` and `#[serde(default)] use_put: bool`.
    fn settings<T: DeserializeOwned>(&self) -> Result<T>;
}

impl ContextExt for Context {
    fn setting(&self, name: &str) -> Option<&Scalar> {
        self.settings.iter().find(|s| s.name == name).map(|s| &s.value)
    }

    fn setting_text(&self, name: &str) -> Result<&str> {
        match self.setting(name) {
            Some(Scalar::Text(t)) => Ok(t),
            Some(_) => Err(invalid_input(format!("setting \"{name}\" is not text"))),
            None => Err(invalid_input(format!("setting \"{name}\" is not set"))),
        }
    }

    fn switch(&self, name: &str) -> bool {
        matches!(self.setting(name), Some(Scalar::Boolean(true)))
    }

    fn credential(&self, name: &str) -> Option<&Secret> {
        self.credentials.iter().find(|c| c.name == name).map(|c| &c.handle)
    }

    fn settings<T: DeserializeOwned>(&self) -> Result<T> {
        let object: serde_json::Map<String, serde_json::Value> =
            self.settings.iter().map(|s| (s.name.clone(), scalar_to_json(&s.value))).collect();
        serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| invalid_input(format!("settings: {e}")))
    }
}
