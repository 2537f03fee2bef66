//! The SCIM connector in the real runtime against a recording server: what it
//! sends, and how it reads the answers. (Behaviour against a real SCIM
//! service is tested in tests/integration/scim.rs against scim2-server.)

use provisio_sdk_harness::provisio_runtime::model::{ConnectorError, NewAccount, Value};
use provisio_sdk_harness::provisio_runtime::{CallContext, CallError};
use provisio_sdk_harness::{Harness, RecordingServer, Reply};
use serde_json::json;

fn call() -> CallContext {
    CallContext::new("op-1")
}

fn new_user(login: &str) -> NewAccount {
    NewAccount {
        login: login.into(),
        active: true,
        profile: [("displayName".to_string(), Value::text("Ada Lovelace"))].into(),
    }
}

#[tokio::test]
async fn create_posts_a_scim_user_with_a_boolean_active_and_the_bearer_token() {
    let server =
        RecordingServer::start(|_| Reply::json(201, json!({"id": "u-1", "userName": "ada", "active": true}))).await;
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await.expect("harness");
    let app =
        harness.app(harness.config_for(&server).setting("base_url", server.url()).bearer("api", "t0ken")).expect("app");

    let account = app.create_user(&call(), &new_user("ada")).await.into_result().expect("created");

    assert_eq!(account.id, "u-1");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/Users");
    assert_eq!(requests[0].header("authorization"), Some("Bearer t0ken"));
    let body = requests[0].json();
    assert_eq!(body["userName"], "ada");
    assert_eq!(body["active"], json!(true));
    assert_eq!(body["displayName"], "Ada Lovelace");
}

#[tokio::test]
async fn a_429_becomes_rate_limited_with_the_retry_after_in_milliseconds() {
    let server = RecordingServer::start(|_| Reply::status(429).header("retry-after", "7")).await;
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await.expect("harness");
    let app =
        harness.app(harness.config_for(&server).setting("base_url", server.url()).bearer("api", "t0ken")).expect("app");

    let err = app.deactivate_user(&call(), "u-1").await.into_result().expect_err("429");

    match err {
        CallError::Connector { error: ConnectorError::RateLimited { retry_after_ms, .. }, .. } => {
            assert_eq!(retry_after_ms, Some(7000))
        }
        other => panic!("expected rate-limited, got {other:?}"),
    }
    let body = server.requests()[0].json();
    assert_eq!(body["Operations"][0]["value"], json!(false), "active must be a JSON boolean");
}

#[tokio::test]
async fn a_base_url_the_operator_did_not_grant_is_refused_before_any_request() {
    let server = RecordingServer::start(|_| Reply::status(200)).await;
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await.expect("harness");
    let mut config = harness.config_for(&server).setting("base_url", server.url()).bearer("api", "t0ken");
    config.0.grants = vec!["https://scim.example.com".into()];

    // Refused when configured, in the words a call would get.
    let err = harness.app(config).expect_err("denied");

    assert!(err.to_string().contains("not granted by the operator"), "{err}");
    assert!(server.requests().is_empty());
}
