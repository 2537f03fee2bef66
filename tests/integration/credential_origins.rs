//! The operator, not the package, decides where a credential goes: by
//! default to the origins its manifest binds it to exactly (the app's base
//! URL), never to a wildcard the package asks for; an app that cannot reach
//! its own URL or lacks a credential it needs is refused when configured,
//! with the words a call would give.

use provisio_runtime::model::NewAccount;
use provisio_runtime::{AppConfig, Blame, Manifest};
use provisio_sdk_harness::{AppConfigBuilder, Harness, RecordingServer, Reply};

use crate::support::{HOSTILE, HOSTILE_MANIFEST, call, hostile};

const TOKEN: &str = "t0ken-value";

/// The hostile package, declaring the test server under a second origin
/// (`localhost`) too.
fn two_hosts_manifest() -> String {
    let two = HOSTILE_MANIFEST
        .replace("hosts = [\"${settings.target}\"", "hosts = [\"${settings.target}\", \"http://localhost:*\"");
    assert_ne!(two, HOSTILE_MANIFEST, "the hosts to add to are in the manifest");
    two
}

/// The same, its credential bound to any origin at all.
fn wide_manifest() -> String {
    let two = two_hosts_manifest();
    let wide = two.replace("origins = [\"${settings.target}\"]", "origins = [\"http://*:*\"]");
    assert_ne!(wide, two, "the binding to widen is in the manifest");
    wide
}

async fn echo_server() -> RecordingServer {
    RecordingServer::start(|_| Reply::status(200)).await
}

/// An app on `harness` granted the test server under both its origins.
fn two_origins(harness: &Harness, server: &RecordingServer) -> AppConfigBuilder {
    let localhost = server.origin().replace("127.0.0.1", "localhost");
    harness.config_for(server).setting("target", server.url()).bearer("api", TOKEN).grant(&localhost)
}

fn authorized_requests(server: &RecordingServer) -> usize {
    server.requests().iter().filter(|r| r.header("authorization").is_some()).count()
}

#[tokio::test]
async fn a_credential_bound_to_a_wildcard_goes_nowhere_until_the_operator_names_its_origins() {
    let wide = wide_manifest();
    let warnings = Manifest::parse(&wide).expect("manifest").access().warnings();
    assert!(warnings.iter().any(|w| w.contains("\"api\"") && w.contains("http://*:*")), "{warnings:?}");

    let (h, s) = (Harness::from_package(&wide, HOSTILE).await.expect("install"), echo_server().await);
    let err = h.app(two_origins(&h, &s)).expect_err("a wildcard is never a default");
    let message = err.to_string();
    assert!(message.contains("wildcard") && message.contains("credentialOrigins"), "{message}");

    // Named by the operator: the token goes there and nowhere else, though
    // the app may reach the second origin.
    let app = h.app(two_origins(&h, &s).credential_origins("api", &[&s.origin()])).expect("app");
    let user = NewAccount { login: "credential-second-origin".into(), active: true, profile: Default::default() };
    let err = app.create_user(&call("second-origin"), &user).await.result.expect_err("refused");
    assert_eq!(err.blame(), Blame::Guest, "{err}");
    assert!(err.to_string().contains("credential \"api\" may only be sent to"), "{err}");
    assert_eq!(authorized_requests(&s), 0, "the token reached the second origin");
}

#[tokio::test]
async fn by_default_a_credential_goes_only_to_the_app_s_base_url() {
    let h = Harness::from_package(&two_hosts_manifest(), HOSTILE).await.expect("install");
    let s = echo_server().await;
    let app = h.app(two_origins(&h, &s)).expect("app");
    let user = NewAccount { login: "credential-second-origin".into(), active: true, profile: Default::default() };
    let err = app.create_user(&call("second-origin"), &user).await.result.expect_err("refused");
    assert!(err.to_string().contains("may only be sent to"), "{err}");
    assert_eq!(authorized_requests(&s), 0);
}

#[tokio::test]
async fn an_operator_cannot_grant_a_credential_beyond_the_package_s_binding() {
    let (h, s) = (hostile().await, echo_server().await);
    let localhost = s.origin().replace("127.0.0.1", "localhost");
    let err = h.app(two_origins(&h, &s).credential_origins("api", &[&localhost])).expect_err("beyond the binding");
    assert!(err.to_string().contains("is not among the origins the connector binds credential \"api\" to"), "{err}");
    let err = h.app(two_origins(&h, &s).credential_origins("nope", &[&s.origin()])).expect_err("unknown credential");
    assert!(err.to_string().contains("unknown credential \"nope\""), "{err}");
}

#[tokio::test]
async fn an_app_without_its_declared_credential_or_a_grant_for_its_base_url_is_refused() {
    let (h, s) = (hostile().await, echo_server().await);
    let without_credential = AppConfig { credentials: Default::default(), ..two_origins(&h, &s).0 };
    let err = h.app(without_credential).expect_err("no credential");
    assert!(err.to_string().contains("credential \"api\" is declared by the connector but not configured"), "{err}");

    // Granted localhost while the base URL says 127.0.0.1: the words a call
    // would get, and the hint.
    let localhost = s.origin().replace("127.0.0.1", "localhost");
    let wrong_host = AppConfig { grants: vec![localhost], ..two_origins(&h, &s).0 };
    let err = h.app(wrong_host).expect_err("base URL not granted");
    let message = err.to_string();
    assert!(message.contains("is declared by the connector but not granted by the operator"), "{message}");
    assert!(message.contains("localhost, 127.0.0.1 and [::1] are different origins"), "{message}");

    let no_grants = AppConfig { grants: Vec::new(), ..two_origins(&h, &s).0 };
    let err = h.app(no_grants).expect_err("no grants");
    assert!(err.to_string().contains("(granted: none)"), "{err}");
    assert!(s.requests().is_empty(), "nothing was sent");
}
