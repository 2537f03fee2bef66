//! Attribute mappings, directory → app, in CEL. An app's mappings name the
//! expression that gives the account's login and one expression per app
//! attribute; each sees the directory user as `user` (profile attributes,
//! plus `id`, `login` and `status`). A missing profile attribute or a `null`
//! result leaves the app attribute out.
//!
//! ```json
//! { "login": "user.login",
//!   "attributes": { "displayName": "user.firstName + ' ' + user.lastName",
//!                   "emails": "[{'value': user.email, 'primary': true}]" } }
//! ```

use std::collections::BTreeMap;

use cel::{Context, ExecutionError, Program};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use provisio_directory::User;

/// Mappings as an admin writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    #[serde(default = "default_login")]
    pub login: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

fn default_login() -> String {
    "user.login".into()
}

impl Default for MappingSpec {
    fn default() -> Self {
        MappingSpec { login: default_login(), attributes: BTreeMap::new() }
    }
}

/// What an app should hold for one user: the login and the mapped
/// attributes. Stored as an account's desired profile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountImage {
    pub login: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl AccountImage {
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// The same attributes with values known to no one: compared with it,
    /// every desired attribute is a change, and every attribute no longer
    /// desired is still removed.
    pub fn unknown(&self) -> AccountImage {
        let attributes = self.attributes.keys().map(|k| (k.clone(), Value::Null)).collect();
        AccountImage { login: self.login.clone(), attributes }
    }

    /// An account's stored profile; an empty one (never pushed) is empty.
    pub fn from_map(map: &Map<String, Value>) -> AccountImage {
        serde_json::from_value(Value::Object(map.clone())).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("mapping of \"{attribute}\": {message}")]
pub struct MappingError {
    pub attribute: String,
    pub message: String,
}

/// Mappings compiled once, evaluated per user.
#[derive(Debug)]
pub struct Mappings {
    login: Program,
    attributes: Vec<(String, Program)>,
}

const LOGIN: &str = "(login)";

thread_local! {
    /// The standard library, built once per thread: building it per
    /// evaluation cost more than the evaluation.
    static STDLIB: Context<'static, 'static> = Context::default();
}

fn compile(attribute: &str, source: &str) -> Result<Program, MappingError> {
    let program = Program::compile(source)
        .map_err(|e| MappingError { attribute: attribute.into(), message: format!("does not compile: {e}") })?;
    // Only `user` is in scope; naming anything else is a typo caught now.
    let references = program.references();
    if let Some(unknown) = references.variables().into_iter().find(|v| *v != "user") {
        return Err(MappingError {
            attribute: attribute.into(),
            message: format!("refers to \"{unknown}\"; expressions see only `user`"),
        });
    }
    Ok(program)
}

impl Mappings {
    /// Parses and compiles an app's stored mappings (`{}` or null: the
    /// defaults, login from `user.login` and no attributes).
    pub fn parse(value: &Value) -> Result<Mappings, MappingError> {
        let spec: MappingSpec = match value {
            Value::Null => MappingSpec::default(),
            Value::Object(o) if o.is_empty() => MappingSpec::default(),
            other => serde_json::from_value(other.clone())
                .map_err(|e| MappingError { attribute: "(mappings)".into(), message: e.to_string() })?,
        };
        Mappings::compile(&spec)
    }

    pub fn compile(spec: &MappingSpec) -> Result<Mappings, MappingError> {
        let login = compile(LOGIN, &spec.login)?;
        let attributes = spec
            .attributes
            .iter()
            .map(|(name, source)| {
                if name.is_empty() || name.len() > 256 {
                    return Err(MappingError { attribute: name.clone(), message: "names 1-256 characters".into() });
                }
                Ok((name.clone(), compile(name, source)?))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Mappings { login, attributes })
    }

    /// What the app should hold for `user`.
    pub fn evaluate(&self, user: &User) -> Result<AccountImage, MappingError> {
        let mut subject = user.profile.clone();
        subject.insert("id".into(), json!(user.id));
        subject.insert("login".into(), json!(user.login));
        subject.insert("status".into(), json!(user.status));
        STDLIB.with(|root| self.evaluate_in(root.new_inner_scope(), user, subject))
    }

    fn evaluate_in(
        &self,
        mut context: Context<'_, '_>,
        user: &User,
        subject: Map<String, Value>,
    ) -> Result<AccountImage, MappingError> {
        context
            .add_variable("user", Value::Object(subject))
            .map_err(|e| MappingError { attribute: "(user)".into(), message: e.to_string() })?;
        let login = match evaluate(&self.login, &context, LOGIN)? {
            Value::String(s) if !s.is_empty() => s,
            other => {
                return Err(MappingError {
                    attribute: LOGIN.into(),
                    message: format!("gave {other} for user {}; a login must be a non-empty string", user.login),
                });
            }
        };
        let mut attributes = Map::new();
        for (name, program) in &self.attributes {
            match evaluate(program, &context, name)? {
                Value::Null => {}
                value => {
                    attributes.insert(name.clone(), value);
                }
            }
        }
        Ok(AccountImage { login, attributes })
    }
}

fn evaluate(program: &Program, context: &Context, attribute: &str) -> Result<Value, MappingError> {
    match program.execute(context) {
        Ok(value) => value
            .json()
            .map_err(|e| MappingError { attribute: attribute.into(), message: format!("gives no JSON value: {e}") }),
        // A profile attribute the user does not have: the app gets none.
        Err(ExecutionError::NoSuchKey(_)) => Ok(Value::Null),
        Err(e) => Err(MappingError { attribute: attribute.into(), message: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio_directory::UserStatus;

    fn user(profile: Value) -> User {
        User {
            id: "u1".into(),
            login: "ada@example.com".into(),
            status: UserStatus::Active,
            profile: match profile {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            version: 1,
            created_at: 0,
            updated_at: 0,
            status_changed_at: 0,
        }
    }

    fn mappings(v: Value) -> Mappings {
        Mappings::parse(&v).expect("valid mappings")
    }

    #[test]
    fn attributes_are_computed_from_the_user_and_missing_ones_are_left_out() {
        let m = mappings(json!({
            "login": "user.login",
            "attributes": {
                "displayName": "user.firstName + ' ' + user.lastName",
                "name": "{'givenName': user.firstName, 'familyName': user.lastName}",
                "emails": "[{'value': user.email, 'primary': true}]",
                "title": "user.title",
            }
        }));
        let image = m.evaluate(&user(json!({"firstName": "Ada", "lastName": "Lovelace", "email": "ada@x.org"})));
        let image = image.expect("evaluates");
        assert_eq!(image.login, "ada@example.com");
        assert_eq!(image.attributes["displayName"], json!("Ada Lovelace"));
        assert_eq!(image.attributes["name"], json!({"givenName": "Ada", "familyName": "Lovelace"}));
        assert_eq!(image.attributes["emails"], json!([{"value": "ada@x.org", "primary": true}]));
        assert!(!image.attributes.contains_key("title"), "no title in the profile: none sent");
    }

    #[test]
    fn a_bad_expression_is_refused_when_saved_naming_the_attribute() {
        let e = Mappings::parse(&json!({"attributes": {"displayName": "user.firstName +"}})).expect_err("refused");
        assert_eq!(e.attribute, "displayName");
        let e = Mappings::parse(&json!({"attributes": {"title": "usr.title"}})).expect_err("refused");
        assert!(e.message.contains("usr"), "{e}");
        let e = Mappings::parse(&json!({"atributes": {}})).expect_err("unknown field refused");
        assert!(e.message.contains("atributes"), "{e}");
    }

    #[test]
    fn a_login_that_is_not_a_string_is_an_error_not_an_empty_login() {
        let m = mappings(json!({"login": "user.employeeNumber"}));
        let e = m.evaluate(&user(json!({"employeeNumber": 7}))).expect_err("refused");
        assert!(e.message.contains("non-empty string"), "{e}");
    }
}
