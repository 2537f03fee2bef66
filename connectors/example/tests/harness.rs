//! The example connector in the real runtime, against a local server that
//! records what it was sent.

use provisio_sdk_harness::{
    AccountKey, AppConfigBuilder, CallContext, ConnectorError, Harness, ListRequest, NewAccount, RecordingServer,
    Reply, Value,
};
use serde_json::json;

/// An app on the test server, with the token the manifest requires.
fn config(harness: &Harness, server: &RecordingServer) -> AppConfigBuilder {
    harness.config_for(server).setting("base_url", server.url()).bearer("token", "s3cret")
}

fn ada() -> NewAccount {
    NewAccount {
        login: "ada".into(),
        active: true,
        profile: [("email".to_string(), Value::text("ada@example.com"))].into(),
    }
}

#[tokio::test]
async fn create_user_posts_the_profile_with_the_token_the_host_adds() {
    let server = RecordingServer::start(|_| Reply::json(201, json!({"id": "7", "login": "ada", "active": true}))).await;
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await.expect("build and install");
    let app = harness.app(config(&harness, &server)).expect("app");

    let account = app.create_user(&CallContext::new("op-1"), &ada()).await.into_result().expect("created");

    assert_eq!(account.id, "7");
    let sent = &server.requests()[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/users"));
    assert_eq!(sent.header("authorization"), Some("Bearer s3cret"));
    assert_eq!(sent.json(), json!({"login": "ada", "active": true, "email": "ada@example.com"}));
}

#[tokio::test]
async fn a_taken_login_is_a_conflict_carrying_the_existing_account() {
    let server = RecordingServer::start(|req| match req.method.as_str() {
        "POST" => Reply::status(409),
        _ => Reply::json(200, json!([{"id": "3", "login": "ada", "active": false}])),
    })
    .await;
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await.expect("build and install");
    let app = harness.app(config(&harness, &server)).expect("app");

    let err = app.create_user(&CallContext::new("op-1"), &ada()).await.into_result().expect_err("conflict");

    match err.connector_error() {
        Some(ConnectorError::Conflict { existing: Some(account), .. }) => assert_eq!(account.id, "3"),
        other => panic!("expected a conflict with the existing account, got {other:?}"),
    }
    assert_eq!(server.requests()[1].path, "/users?login=ada");
}

#[tokio::test]
async fn a_lookup_sends_the_login_as_written_whatever_it_holds() {
    let server = RecordingServer::start(|req| {
        let asked = req.query("login").unwrap_or_default();
        Reply::json(200, json!([{"id": 12, "login": asked, "active": true}]))
    })
    .await;
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await.expect("build and install");
    let app = harness.app(config(&harness, &server)).expect("app");

    for login in ["grace+ops@example.com", "Zoë Ng", "o'hara&co=1"] {
        let key = AccountKey::Login(login.into());
        let found = app.get_user(&CallContext::new("find"), &key).await.into_result().expect("lookup");
        let found = found.expect("the server knows the login it was asked for");
        // A numeric id comes back as its digits, never as an empty id.
        assert_eq!((found.id.as_str(), found.login.as_deref()), ("12", Some(login)));
    }
}

#[tokio::test]
async fn a_user_without_an_id_is_an_error_not_an_empty_id() {
    let server = RecordingServer::start(|_| Reply::json(201, json!({"login": "ada", "active": true}))).await;
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await.expect("build and install");
    let app = harness.app(config(&harness, &server)).expect("app");

    let err = app.create_user(&CallContext::new("op-1"), &ada()).await.into_result().expect_err("no id");

    assert!(err.to_string().contains("without an id"), "{err}");
}

#[tokio::test]
async fn deactivate_sends_active_false_as_a_json_boolean() {
    let server = RecordingServer::start(|_| Reply::json(200, json!({}))).await;
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await.expect("build and install");
    let app = harness.app(config(&harness, &server)).expect("app");

    app.deactivate_user(&CallContext::new("op-1"), "7").await.into_result().expect("deactivated");

    let sent = &server.requests()[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("PATCH", "/users/7"));
    assert_eq!(sent.json(), json!({"active": false}));
}

#[tokio::test]
async fn listing_follows_the_cursor_across_pages() {
    let server = RecordingServer::start(|req| {
        let offset: u64 = req
            .path
            .split("offset=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let users: Vec<_> =
            (offset..(offset + 2).min(5)).map(|i| json!({"id": i.to_string(), "login": format!("u{i}")})).collect();
        Reply::json(200, json!({"users": users, "total": 5}))
    })
    .await;
    let harness = Harness::for_crate(env!("CARGO_MANIFEST_DIR")).await.expect("build and install");
    let app = harness.app(config(&harness, &server)).expect("app");

    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let req = ListRequest { cursor, since: None, page_size: 2 };
        let page = app.list_users(&CallContext::new("list"), &req).await.into_result().expect("page");
        ids.extend(page.items.into_iter().map(|a| a.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(ids, ["0", "1", "2", "3", "4"]);
    assert_eq!(server.requests().len(), 3);
}
