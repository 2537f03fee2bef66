//! OAuth2 client credentials run by the host: it fetches, caches and refreshes
//! the token, and on a 401 fetches a new one once and retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use provisio_runtime::model::{NewAccount, Value};
use provisio_runtime::{CredentialSecret, SecretString};
use provisio_sdk_harness::{AppConfigBuilder, RecordingServer, Reply};
use serde_json::json;

use crate::support::{Scim2Server, call, scim_harness};

/// A token endpoint that hands out the given tokens in turn (the last one
/// again when it runs out) and counts its calls.
struct TokenEndpoint {
    server: RecordingServer,
    calls: Arc<AtomicUsize>,
}

async fn token_endpoint(tokens: Vec<String>, expires_in: u64) -> TokenEndpoint {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let tokens = Mutex::new(tokens);
    let server = RecordingServer::start(move |req| {
        // client_id:client_secret by HTTP basic auth, as RFC 6749 recommends.
        if req.header("authorization") != Some("Basic Y2xpZW50OnNoaC1zZWNyZXQ=") {
            return Reply::json(401, json!({"error": "invalid_client"}));
        }
        counter.fetch_add(1, Ordering::SeqCst);
        let mut tokens = tokens.lock().expect("lock");
        let token = if tokens.len() > 1 { tokens.remove(0) } else { tokens[0].clone() };
        Reply::json(200, json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in}))
    })
    .await;
    TokenEndpoint { server, calls }
}

fn oauth(token_url: String) -> CredentialSecret {
    CredentialSecret::Oauth2ClientCredentials {
        token_url,
        client_id: "client".into(),
        client_secret: SecretString::new("shh-secret"),
        scope: Some("scim".into()),
    }
}

/// The SCIM app on `scim`, authenticating with `credential`.
fn oauth_app(scim: &Scim2Server, credential: CredentialSecret) -> AppConfigBuilder {
    AppConfigBuilder::default()
        .setting("base_url", scim.base_url.clone())
        .credential("api", credential)
        .grant(&scim.origin())
}

fn user(login: &str) -> NewAccount {
    NewAccount { login: login.into(), active: true, profile: [("displayName".to_string(), Value::text(login))].into() }
}

#[tokio::test]
async fn a_401_makes_the_host_fetch_a_new_token_once_and_retry() {
    let scim = Scim2Server::start().await;
    // The first token is already revoked at the app; the second is good.
    let tokens = token_endpoint(vec!["revoked".into(), scim.token.clone()], 3600).await;
    let harness = scim_harness().await;
    let app = harness.app(oauth_app(&scim, oauth(format!("{}/token", tokens.server.url())))).expect("app");

    let inv = app.create_user(&call("c1"), &user("ada")).await;
    let account = inv.result.expect("created after one refresh");
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 2, "fetched, then fetched again once after the 401");
    assert_eq!(inv.report.requests, 2, "the guest's request and the host's one retry, both counted");
    assert_eq!(scim.user(&account.id).await["userName"], "ada");
    assert_eq!(scim.total_users().await, 1);

    // The good token is cached: the next operation fetches nothing.
    app.create_user(&call("c2"), &user("bob")).await.into_result().expect("created");
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_short_lived_token_is_refreshed_when_it_expires() {
    let scim = Scim2Server::start().await;
    // expires_in 6 s minus the host's 5 s margin: usable for about a second.
    let tokens = token_endpoint(vec![scim.token.clone()], 6).await;
    let harness = scim_harness().await;
    let app = harness.app(oauth_app(&scim, oauth(format!("{}/token", tokens.server.url())))).expect("app");
    app.check(&call("k1")).await.into_result().expect("check");
    app.check(&call("k2")).await.into_result().expect("check");
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 1, "cached while valid");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.check(&call("k3")).await.into_result().expect("check");
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 2, "refreshed after expiry");
}

#[tokio::test]
async fn a_rejected_client_secret_fails_the_call_without_reaching_the_app() {
    let scim = Scim2Server::start().await;
    let tokens = token_endpoint(vec![scim.token.clone()], 3600).await;
    let harness = scim_harness().await;
    let mut secret = oauth(format!("{}/token", tokens.server.url()));
    if let CredentialSecret::Oauth2ClientCredentials { client_secret, .. } = &mut secret {
        *client_secret = SecretString::new("wrong");
    }
    let app = harness.app(oauth_app(&scim, secret)).expect("app");
    let err = app.check(&call("k")).await.into_result().expect_err("no token");
    assert!(err.to_string().contains("token endpoint"), "{err}");
    assert!(!err.to_string().contains("wrong"), "the secret is not in the error");
    let create = app.create_user(&call("k2"), &user("nobody@example.com")).await.into_result();
    assert!(create.is_err(), "no token, no create");
    assert_eq!(scim.total_users().await, 0, "the app received nothing");
}
