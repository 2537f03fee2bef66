//! What an operator's configuration of an app resolves to: settings checked
//! against the connector's schema, the allow-list (declared AND granted),
//! and where each credential may go: the origins the operator grants it,
//! within those the package binds it to. One place, so that creating an app,
//! changing it, `apps check` and every call give the same answer in the same
//! words.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::manifest::{CredentialDecl, Manifest, setting_reference};
use crate::model::Scalar;
use crate::outbound::{OriginPattern, OutboundPolicy};
use crate::runtime::{AppConfig, ConfigError};
use crate::secrets::{AppCredential, CredentialSecret};

/// A configuration that holds together, ready to run.
pub(crate) struct Resolved {
    pub settings: BTreeMap<String, Scalar>,
    pub policy: OutboundPolicy,
    pub credentials: BTreeMap<String, Arc<AppCredential>>,
}

pub(crate) fn resolve(manifest: &Manifest, config: AppConfig) -> Result<Resolved, ConfigError> {
    let settings = crate::settings::resolve(&manifest.settings, &config.settings).map_err(ConfigError)?;
    let origin_of = |template: &str| origin_of(&settings, template);
    let declared = manifest.outbound.hosts.iter().map(|h| origin_of(h)).collect::<Result<Vec<_>, _>>()?;
    let granted = config
        .grants
        .iter()
        .map(|g| OriginPattern::parse(g).map_err(|e| ConfigError(format!("grant {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = OutboundPolicy::new(declared, granted);
    // The app's own URLs (the hosts its settings name) must be reachable.
    let own: Vec<OriginPattern> = manifest
        .outbound
        .hosts
        .iter()
        .filter(|h| setting_reference(h).is_some())
        .map(|h| origin_of(h))
        .collect::<Result<_, _>>()?;
    policy.check_granted(&own).map_err(ConfigError)?;
    if !manifest.outbound.hosts.is_empty() && config.grants.is_empty() {
        return Err(ConfigError(format!(
            "this app is granted no origins, so the connector could reach none of those it declares ({}); grant the ones it needs, e.g. grants = [\"https://app.example.com\"]",
            manifest.outbound.hosts.join(", ")
        )));
    }

    if let Some(unknown) =
        config.credential_origins.keys().find(|n| !manifest.credentials.iter().any(|c| &c.name == *n))
    {
        return Err(unknown_credential(manifest, unknown));
    }
    let mut credentials = BTreeMap::new();
    for (name, secret) in config.credentials {
        let Some(decl) = manifest.credentials.iter().find(|c| c.name == name) else {
            return Err(unknown_credential(manifest, &name));
        };
        check_secret(decl, &secret)?;
        let origins = bind(decl, &settings, config.credential_origins.get(&name))?;
        credentials.insert(name.clone(), AppCredential::new(name, secret, origins));
    }
    if let Some(missing) = manifest.credentials.iter().find(|c| c.required && !credentials.contains_key(&c.name)) {
        return Err(ConfigError(format!(
            "credential \"{}\" is declared by the connector but not configured, so its requests would go out unauthenticated; give it under credentials, e.g. {{\"{}\": {{\"scheme\": \"{}\", …}}}}",
            missing.name,
            missing.name,
            missing.schemes.first().map(scheme_name).unwrap_or_default()
        )));
    }
    Ok(Resolved { settings, policy, credentials })
}

/// Where each credential the connector declares would be sent for this
/// configuration, as a call would see it: for showing the operator. One that
/// cannot be bound (a wildcard with no origins granted) is left out; the
/// configuration is refused for it anyway.
pub fn credential_origins(manifest: &Manifest, config: &AppConfig) -> BTreeMap<String, Vec<String>> {
    let Ok(settings) = crate::settings::resolve(&manifest.settings, &config.settings) else {
        return BTreeMap::new();
    };
    manifest
        .credentials
        .iter()
        .filter_map(|d| {
            let origins = bind(d, &settings, config.credential_origins.get(&d.name)).ok()?;
            Some((d.name.clone(), origins.iter().map(ToString::to_string).collect()))
        })
        .collect()
}

/// The origins one credential is bound to: what the operator granted it,
/// each within the package's binding; or, when the operator said nothing,
/// the package's exact origins (its base URL). A wildcard binding is never
/// a default.
fn bind(
    decl: &CredentialDecl,
    settings: &BTreeMap<String, Scalar>,
    granted: Option<&Vec<String>>,
) -> Result<Vec<OriginPattern>, ConfigError> {
    let name = &decl.name;
    let bound = decl.origins.iter().map(|o| origin_of(settings, o)).collect::<Result<Vec<_>, _>>()?;
    let listed = || bound.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    match granted {
        Some(origins) => {
            if origins.is_empty() {
                return Err(ConfigError(format!(
                    "credentialOrigins.{name} is empty; name where credential \"{name}\" may be sent, or leave it out for the app's base URL"
                )));
            }
            origins
                .iter()
                .map(|o| {
                    let pattern = OriginPattern::parse(o).map_err(|e| ConfigError(format!("credentialOrigins.{name}: {e}")))?;
                    if bound.iter().any(|b| pattern.within(b)) {
                        Ok(pattern)
                    } else {
                        Err(ConfigError(format!(
                            "credentialOrigins.{name}: {pattern} is not among the origins the connector binds credential \"{name}\" to ({})",
                            listed()
                        )))
                    }
                })
                .collect()
        }
        None => {
            let exact: Vec<OriginPattern> = bound.iter().filter(|b| !b.is_wildcard()).cloned().collect();
            if exact.is_empty() {
                return Err(ConfigError(format!(
                    "the connector binds credential \"{name}\" to {}, a wildcard, which Provisio never takes as a default; name where it may be sent with credentialOrigins, e.g. {{\"{name}\": [\"https://app.example.com\"]}}",
                    listed()
                )));
            }
            Ok(exact)
        }
    }
}

fn origin_of(settings: &BTreeMap<String, Scalar>, template: &str) -> Result<OriginPattern, ConfigError> {
    match setting_reference(template) {
        Some(name) => match settings.get(name) {
            Some(Scalar::Text(url)) => OriginPattern::from_url(url).map_err(ConfigError),
            _ => {
                Err(ConfigError(format!("the connector needs setting \"{name}\" to know where it may connect; set it")))
            }
        },
        None => OriginPattern::parse(template).map_err(ConfigError),
    }
}

fn check_secret(decl: &CredentialDecl, secret: &CredentialSecret) -> Result<(), ConfigError> {
    let name = &decl.name;
    if !decl.schemes.contains(&secret.scheme()) {
        return Err(ConfigError(format!(
            "credential \"{name}\" uses scheme {:?}, which this connector does not accept (it takes {:?})",
            secret.scheme(),
            decl.schemes
        )));
    }
    if let CredentialSecret::Oauth2ClientCredentials { token_url, .. } = secret {
        url::Url::parse(token_url)
            .map_err(|e| ConfigError(format!("credential \"{name}\": token_url \"{token_url}\" is not a URL: {e}")))?;
    }
    Ok(())
}

fn unknown_credential(manifest: &Manifest, name: &str) -> ConfigError {
    let known: Vec<&str> = manifest.credentials.iter().map(|c| c.name.as_str()).collect();
    ConfigError(format!(
        "unknown credential \"{name}\"; this connector takes: {}",
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    ))
}

fn scheme_name(scheme: &crate::manifest::AuthScheme) -> String {
    serde_json::to_value(scheme).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}
