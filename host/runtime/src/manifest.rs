//! `connector.toml`: what a connector package declares (identity, WIT version,
//! settings, credentials, outbound hosts, default limits), parsed strictly and
//! validated at install with messages that say how to fix the problem.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::outbound::OriginPattern;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub connector: ConnectorSection,
    #[serde(default)]
    pub settings: Vec<SettingDecl>,
    #[serde(default)]
    pub credentials: Vec<CredentialDecl>,
    #[serde(default)]
    pub outbound: OutboundDecl,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub accounts: AccountsDecl,
}

/// How the connector lets Provisio recognise its own accounts and make its
/// creates safe to repeat.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccountsDecl {
    /// The account attribute in which the connector stores the key Provisio
    /// gives every account it makes (its user id), and returns it in
    /// `get-user`, e.g. SCIM's `externalId`. Provisio then links an account
    /// found by login only when it carries this user's key. Absent: the
    /// application cannot store one, and an account found by login is linked
    /// only when no other user is linked to it.
    #[serde(default)]
    pub correlation: Option<String>,
    /// The HTTP header in which the application takes an idempotency key
    /// (e.g. `Idempotency-Key`). The host then sends one with every request
    /// that changes something, stable across the retries of one intent, so a
    /// create repeated after a lost answer is not carried out twice.
    #[serde(default)]
    pub idempotency_header: Option<String>,
}

/// Headers the host sets itself, which a manifest cannot claim.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "user-agent",
    "cookie",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSection {
    /// Lower-case letters, digits and dashes, e.g. `scim`.
    pub name: String,
    /// Semantic version of the connector itself, e.g. `1.2.0`.
    pub version: String,
    /// The WIT contract version the component is built for, e.g. `0.1.0`.
    pub wit: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SettingType {
    Text,
    Url,
    Integer,
    Boolean,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SettingDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub setting_type: SettingType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
    /// Used when the operator leaves the setting out.
    #[serde(default)]
    pub default: Option<toml::Value>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum AuthScheme {
    Bearer,
    Basic,
    Oauth2ClientCredentials,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CredentialDecl {
    pub name: String,
    /// The schemes the application accepts; the operator picks one per app.
    pub schemes: Vec<AuthScheme>,
    /// Origins the credential may be sent to, e.g. `"${settings.base_url}"`.
    /// An app's credential goes where its operator grants it, within these;
    /// a wildcard here is never a default: the operator must name origins.
    pub origins: Vec<String>,
    /// An app without it is refused (default); `false` for a credential
    /// some applications do without.
    #[serde(default = "required_by_default")]
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

fn required_by_default() -> bool {
    true
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutboundDecl {
    /// Origins the connector may call: `https://api.example.com`,
    /// `https://*.example.com:443`, or `${settings.base_url}`. Absent = none.
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// A manifest problem, with the fix in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connector.toml: {0}")]
pub struct ManifestError(pub String);

fn bad(msg: impl Into<String>) -> ManifestError {
    ManifestError(msg.into())
}

/// What a package asks to reach, for the operator to read before granting:
/// `connectors describe` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    pub hosts: Vec<String>,
    pub credentials: Vec<CredentialAccess>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CredentialAccess {
    pub name: String,
    pub schemes: Vec<AuthScheme>,
    /// Where the package binds it: an app's operator grants within these.
    pub origins: Vec<String>,
    pub required: bool,
    /// Bound to a wildcard: an app must name its origins (`credentialOrigins`).
    pub wildcard: bool,
}

impl Access {
    /// What the operator should know before granting: a credential bound to
    /// a wildcard goes nowhere until each app names its origins.
    pub fn warnings(&self) -> Vec<String> {
        self.credentials
            .iter()
            .filter(|c| c.wildcard)
            .map(|c| {
                format!(
                    "credential \"{}\" is bound to {}, a wildcard: each app must name where it may be sent (credentialOrigins)",
                    c.name,
                    c.origins.join(", ")
                )
            })
            .collect()
    }
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn access(&self) -> Access {
        let credentials = self
            .credentials
            .iter()
            .map(|c| CredentialAccess {
                name: c.name.clone(),
                schemes: c.schemes.clone(),
                origins: c.origins.clone(),
                required: c.required,
                wildcard: c.origins.iter().any(|o| OriginPattern::parse(o).is_ok_and(|p| p.is_wildcard())),
            })
            .collect();
        Access { hosts: self.outbound.hosts.clone(), credentials }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn wit_version(&self) -> Result<semver::Version, ManifestError> {
        semver::Version::parse(&self.connector.wit).map_err(|e| {
            bad(format!(
                "[connector] wit = \"{}\" is not a version ({e}); write the contract version the component was built against, e.g. wit = \"0.1.0\"",
                self.connector.wit
            ))
        })
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let c = &self.connector;
        if !is_identifier(&c.name) {
            return Err(bad(format!(
                "[connector] name = \"{}\": use 1-64 lower-case letters, digits and dashes, starting with a letter (e.g. \"scim\")",
                c.name
            )));
        }
        semver::Version::parse(&c.version).map_err(|e| {
            bad(format!(
                "[connector] version = \"{}\" is not a semantic version ({e}); write e.g. version = \"1.0.0\"",
                c.version
            ))
        })?;
        self.wit_version()?;

        let mut seen = BTreeSet::new();
        for s in &self.settings {
            if !is_setting_name(&s.name) {
                return Err(bad(format!(
                    "[[settings]] name = \"{}\": use letters, digits and underscores, starting with a letter",
                    s.name
                )));
            }
            if !seen.insert(s.name.as_str()) {
                return Err(bad(format!("[[settings]] \"{}\" is declared twice; keep one", s.name)));
            }
            if let Some(default) = &s.default {
                crate::settings::check_type(&s.name, s.setting_type, default)
                    .map_err(|e| bad(format!("[[settings]] default of {e}")))?;
            }
        }
        let mut seen = BTreeSet::new();
        for cred in &self.credentials {
            if !is_setting_name(&cred.name) {
                return Err(bad(format!(
                    "[[credentials]] name = \"{}\": use letters, digits and underscores",
                    cred.name
                )));
            }
            if !seen.insert(cred.name.as_str()) {
                return Err(bad(format!("[[credentials]] \"{}\" is declared twice; keep one", cred.name)));
            }
            if cred.schemes.is_empty() {
                return Err(bad(format!(
                    "[[credentials]] \"{}\" lists no schemes; add one of \"bearer\", \"basic\", \"oauth2-client-credentials\"",
                    cred.name
                )));
            }
            if cred.origins.is_empty() {
                return Err(bad(format!(
                    "[[credentials]] \"{}\" lists no origins; bind it to where it may be sent, e.g. origins = [\"${{settings.base_url}}\"]",
                    cred.name
                )));
            }
            for origin in &cred.origins {
                self.check_origin_template(origin, &format!("[[credentials]] \"{}\"", cred.name))?;
            }
        }
        for host in &self.outbound.hosts {
            self.check_origin_template(host, "[outbound] hosts")?;
        }
        self.limits.validate().map_err(|e| bad(format!("[limits] {e}")))?;
        if let Some(attribute) = &self.accounts.correlation
            && (attribute.trim().is_empty() || attribute.len() > 128)
        {
            return Err(bad(
                "[accounts] correlation names the attribute that stores Provisio's key: 1-128 characters, e.g. \"externalId\"",
            ));
        }
        if let Some(header) = &self.accounts.idempotency_header {
            let valid = reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_ok();
            if !valid || RESERVED_HEADERS.contains(&header.to_ascii_lowercase().as_str()) {
                return Err(bad(format!(
                    "[accounts] idempotency_header = \"{header}\" is not a header the connector may set; name the application's idempotency header, e.g. \"Idempotency-Key\""
                )));
            }
        }
        Ok(())
    }

    /// An origin is either a literal pattern or `${settings.NAME}` naming a
    /// declared `url` setting.
    fn check_origin_template(&self, origin: &str, place: &str) -> Result<(), ManifestError> {
        if let Some(name) = setting_reference(origin) {
            match self.settings.iter().find(|s| s.name == name) {
                Some(s) if s.setting_type == SettingType::Url => Ok(()),
                Some(_) => Err(bad(format!(
                    "{place}: \"{origin}\" names setting \"{name}\", which is not of type \"url\"; declare it with type = \"url\""
                ))),
                None => Err(bad(format!(
                    "{place}: \"{origin}\" names setting \"{name}\", which is not declared; add a [[settings]] entry named \"{name}\" with type = \"url\""
                ))),
            }
        } else {
            OriginPattern::parse(origin).map(|_| ()).map_err(|e| bad(format!("{place}: {e}")))
        }
    }
}

/// `${settings.base_url}` → `Some("base_url")`.
pub(crate) fn setting_reference(template: &str) -> Option<&str> {
    template.strip_prefix("${settings.").and_then(|rest| rest.strip_suffix('}'))
}

fn is_identifier(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_setting_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[connector]
name = "scim"
version = "1.0.0"
wit = "0.1.0"

[[settings]]
name = "base_url"
type = "url"
required = true

[[credentials]]
name = "api"
schemes = ["bearer"]
origins = ["${settings.base_url}"]

[outbound]
hosts = ["${settings.base_url}", "https://*.example.com"]
"#;

    #[test]
    fn a_complete_manifest_parses() {
        let m = Manifest::parse(GOOD).expect("valid");
        assert_eq!(m.connector.name, "scim");
        assert_eq!(m.outbound.hosts.len(), 2);
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let text = GOOD.replace("[outbound]", "[outbound]\nallow_everything = true");
        let err = Manifest::parse(&text).expect_err("unknown field");
        assert!(err.0.contains("allow_everything"), "{err}");
    }

    #[test]
    fn an_origin_naming_an_undeclared_setting_says_how_to_fix_it() {
        let text = GOOD.replace("${settings.base_url}\", \"https", "${settings.api_url}\", \"https");
        let err = Manifest::parse(&text).expect_err("undeclared setting");
        assert!(err.0.contains("api_url") && err.0.contains("add a [[settings]]"), "{err}");
    }

    #[test]
    fn a_bad_connector_name_is_refused() {
        let text = GOOD.replace("name = \"scim\"", "name = \"SCIM Connector\"");
        let err = Manifest::parse(&text).expect_err("bad name");
        assert!(err.0.contains("lower-case"), "{err}");
    }

    #[test]
    fn a_credential_without_origins_is_refused() {
        let text = GOOD.replace("origins = [\"${settings.base_url}\"]", "origins = []");
        let err = Manifest::parse(&text).expect_err("no origins");
        assert!(err.0.contains("no origins"), "{err}");
    }
}
