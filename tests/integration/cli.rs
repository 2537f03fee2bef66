//! The `provisio` command line against a real server, as an operator runs
//! it: logins and names where ids would go, and a listing piped into
//! `head` that ends quietly.

use std::process::{Command, Output, Stdio};

use serde_json::{Value as Json, json};

use crate::databases::{Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG, TOKEN};

fn provisio(p: &Provisio, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provisio-under-test"));
    command.args(args).args(["--url", &p.base]).env("PROVISIO_TOKEN", TOKEN);
    command
}

fn run(p: &Provisio, args: &[&str]) -> Output {
    provisio(p, args).output().expect("run provisio")
}

fn stdout_json(what: &str, out: &Output) -> Json {
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {out:?}"))
}

#[tokio::test]
async fn a_login_a_group_name_or_an_app_name_works_wherever_an_id_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let ada = p.create_user("ada@example.com", "Ada", "Lovelace").await;
    let app = p.create_scim_app("Wiki", "http://127.0.0.1:9", "t").await;
    // Paused, so nothing is pushed to the app that is not there.
    p.ok("POST", &format!("/apps/{app}/lifecycle/deactivate"), None).await;
    let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Engineering" } }))).await;

    let shown = stdout_json("users get by login", &run(&p, &["users", "get", "ADA@example.com", "--json"]));
    assert_eq!(shown["id"], ada.as_str(), "a login finds the user, whatever its case: {shown}");
    let out = run(&p, &["groups", "add", "engineering", "ada@example.com"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let members = p.ok("GET", &format!("/groups/{}/users", group["id"].as_str().unwrap_or_default()), None).await;
    assert_eq!(members[0]["id"], ada.as_str(), "{members}");
    let out = run(&p, &["assignments", "add", "Wiki", "--user", "ada@example.com"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let users = p.ok("GET", &format!("/apps/{app}/users"), None).await;
    assert_eq!(users, json!([{ "id": ada, "scope": "USER" }]));
    let errors = stdout_json("errors list by app name", &run(&p, &["errors", "list", "wiki", "--json"]));
    assert_eq!(errors, json!([]));

    // What is not there, or is ambiguous, is said so; nothing is guessed.
    let out = run(&p, &["users", "suspend", "nobody@example.com"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("no user has the id or login \"nobody@example.com\""), "{said}");
    let paused = stdout_json("apps resume by name", &run(&p, &["apps", "resume", "WIKI", "--json"]));
    assert_eq!((paused["id"].as_str(), paused["status"].as_str()), (Some(app.as_str()), Some("active")), "{paused}");
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn a_listing_piped_into_a_reader_that_stops_ends_quietly_instead_of_panicking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    p.create_user("ada@example.com", "Ada", "Lovelace").await;
    for args in [&["users", "list"][..], &["users", "list", "--json"], &["groups", "list"]] {
        let mut child = provisio(&p, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        // The reader is gone before the command writes a line (as `head`
        // is once it has its lines).
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !said.contains("panicked"), "{args:?}: {:?} {said}", out.status);
    }
    drop(p);
    db.drop().await;
}
