//! The mass-change guard holds what an app would feel, not what the
//! directory's bookkeeping shows: withdrawing creates an app never got is
//! no deactivation; a small app is not held for every change (the floor);
//! a preview says whether the change would be held, and `-q` prints the
//! plan that holds it.

use std::time::Duration;

use serde_json::json;

use crate::databases::{Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG, TOKEN};
use crate::support::Scim2Server;

fn title_mapping(title: &str) -> serde_json::Value {
    json!({ "login": "user.login", "attributes": {
        "displayName": "user.firstName + ' ' + user.lastName",
        "title": format!("'{title}'"),
    }})
}

#[tokio::test]
async fn the_guard_counts_only_what_the_app_would_feel_and_a_preview_says_whether_it_would_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;

    // Thirty creates wait on a paused app: it holds none of the accounts.
    let paused = p.create_scim_app("Paused", "http://127.0.0.1:9", "token").await;
    p.ok("POST", &format!("/apps/{paused}/lifecycle/deactivate"), None).await;
    let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Staff" } }))).await;
    let group = group["id"].as_str().expect("group id").to_string();
    for i in 0..30 {
        let user = p.create_user(&format!("u{i}@example.com"), "U", &format!("{i}")).await;
        p.ok("PUT", &format!("/groups/{group}/users/{user}"), None).await;
    }
    p.ok("PUT", &format!("/apps/{paused}/groups/{group}"), None).await;
    let unassign = format!("/apps/{paused}/groups/{group}");
    let preview = p.ok("DELETE", &format!("{unassign}?preview=true"), None).await;
    assert_eq!(preview["wouldBeHeld"], false, "{preview}");
    assert_eq!(preview["effects"][0]["counts"], json!({ "cancel": 30 }), "no account to deactivate: {preview}");
    assert_eq!(p.call("DELETE", &unassign, None).await.0, 204, "withdrawn creates are not held");
    // Nor do they keep the app from being deleted: it holds no account.
    assert_eq!(p.call("DELETE", &format!("/apps/{paused}"), None).await.0, 204);

    // A small app: three accounts, each changed. Under the floor (5).
    let scim = Scim2Server::start().await;
    let app = p.create_scim_app("Wiki", &scim.origin(), &scim.token).await;
    let wiki_users = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Wiki users" } }))).await;
    let wiki_users = wiki_users["id"].as_str().expect("group id").to_string();
    for i in 0..3 {
        let user = p.ok("GET", &format!("/users?q=u{i}%40"), None).await[0]["id"].as_str().expect("id").to_string();
        p.ok("PUT", &format!("/groups/{wiki_users}/users/{user}"), None).await;
    }
    p.ok("PUT", &format!("/apps/{app}/groups/{wiki_users}"), None).await;
    p.wait_idle(Duration::from_secs(60)).await;
    let mappings = format!("/apps/{app}/mappings");
    let preview = p.ok("PUT", &format!("{mappings}?preview=true"), Some(title_mapping("Engineer"))).await;
    assert_eq!((&preview["wouldBeHeld"], &preview["effects"][0]["counts"]), (&json!(false), &json!({ "update": 3 })));
    let (status, answer) = p.call("PUT", &mappings, Some(title_mapping("Engineer"))).await;
    assert_eq!((status, &answer["held"]), (200, &serde_json::Value::Null), "under the floor: {answer}");

    // With no floor, the same kind of change is held; the preview said so,
    // and `provisio -q` prints the plan's id.
    p.ok("PUT", &format!("/apps/{app}/policy"), Some(json!({ "guard": { "floor": 0 } }))).await;
    let preview = p.ok("PUT", &format!("{mappings}?preview=true"), Some(title_mapping("Manager"))).await;
    assert_eq!(preview["wouldBeHeld"], true, "{preview}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provisio-under-test"))
        .args(["-q", "assignments", "remove", &app, "--group", &wiki_users, "--url", &p.base])
        .env("PROVISIO_TOKEN", TOKEN)
        .output()
        .expect("provisio");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout} {stderr}");
    let held = p.ok("GET", "/plans?status=held", None).await;
    assert_eq!(held.as_array().map(Vec::len), Some(1), "{held}");
    assert_eq!(stdout.trim(), held[0]["id"].as_str().unwrap_or_default(), "-q prints the held plan's id");
    drop(p);
    db.drop().await;
}
