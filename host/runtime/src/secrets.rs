//! Secrets stay in the host. The guest holds `secret` handles (WIT resources in
//! its own store's table) that the host resolves only where it allows: an app
//! credential into the Authorization header of a request to the credential's
//! origins, an end-user password into a JSON body field for `send-with-secret`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::manifest::AuthScheme;
use crate::outbound::OriginPattern;

/// A secret string: never printed, wiped from memory when dropped.
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(Zeroizing::new(value.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

/// An app credential as the operator configured it.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CredentialSecret {
    Bearer {
        token: SecretString,
    },
    Basic {
        username: String,
        password: SecretString,
    },
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: SecretString,
        #[serde(default)]
        scope: Option<String>,
    },
}

impl CredentialSecret {
    /// The secret values in this credential, to scrub from what the app echoes.
    pub(crate) fn values(&self) -> Vec<&SecretString> {
        match self {
            CredentialSecret::Bearer { token } => vec![token],
            CredentialSecret::Basic { password, .. } => vec![password],
            CredentialSecret::Oauth2ClientCredentials { client_secret, .. } => vec![client_secret],
        }
    }

    pub fn scheme(&self) -> AuthScheme {
        match self {
            CredentialSecret::Bearer { .. } => AuthScheme::Bearer,
            CredentialSecret::Basic { .. } => AuthScheme::Basic,
            CredentialSecret::Oauth2ClientCredentials { .. } => AuthScheme::Oauth2ClientCredentials,
        }
    }
}

/// One configured credential of an app, with the origins it is bound to and,
/// for OAuth2, the token the host fetched and caches across operations.
#[derive(Debug)]
pub struct AppCredential {
    pub name: String,
    pub secret: CredentialSecret,
    pub origins: Vec<OriginPattern>,
    pub(crate) token: Mutex<Option<CachedToken>>,
}

#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    pub value: SecretString,
    pub expires: Instant,
}

impl AppCredential {
    pub fn new(name: String, secret: CredentialSecret, origins: Vec<OriginPattern>) -> Arc<Self> {
        Arc::new(AppCredential { name, secret, origins, token: Mutex::new(None) })
    }

    pub fn may_be_sent_to(&self, url: &url::Url) -> bool {
        self.origins.iter().any(|o| o.matches(url))
    }
}

/// What a guest's `secret` handle stands for; lives in the store's table.
#[derive(Debug)]
pub enum SecretHandle {
    AppCredential(Arc<AppCredential>),
    EndUserPassword(SecretString),
}

/// The OAuth2 token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Tokens are refreshed this long before they expire.
pub(crate) const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(5);
