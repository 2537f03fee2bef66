//! The `provisio` command line against a real server, as an operator runs
//! it: logins and names where ids would go, a listing piped into `head`
//! that ends quietly, tables that fit the terminal, and each command
//! family (admins and tokens, hooks, mappings and policy, bulk lifecycle
//! and search, a user's groups and apps, the log newest first).

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
    assert_eq!(users, json!([{ "id": ada, "login": "ada@example.com", "scope": "USER" }]));
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

fn ok_stdout(what: &str, out: &Output) -> String {
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn admins_and_their_tokens_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;

    let made = stdout_json(
        "admins create",
        &run(&p, &["admins", "create", "ops@example.com", "--role", "app-admin", "--json"]),
    );
    assert_eq!((made["login"].as_str(), made["role"].as_str()), (Some("ops@example.com"), Some("app-admin")), "{made}");
    let listed = ok_stdout("admins list", &run(&p, &["admins", "list"]));
    assert!(listed.contains("ops@example.com") && listed.contains("app-admin"), "{listed}");

    let issued =
        stdout_json("tokens create", &run(&p, &["tokens", "create", "ci", "--admin", "OPS@example.com", "--json"]));
    let (token, token_id) = (issued["token"].as_str().unwrap_or_default(), issued["id"].as_str().unwrap_or_default());
    assert_eq!(p.call_as(Some(token), "GET", "/apps", None).await.0, 200, "the new token works");
    let tokens = ok_stdout("tokens list", &run(&p, &["tokens", "list", "--admin", "ops@example.com"]));
    assert!(tokens.contains("ci") && tokens.contains(&token[..8]) && !tokens.contains(token), "{tokens}");

    let out = run(&p, &["admins", "role", "ops@example.com", "read-only"]);
    assert!(ok_stdout("admins role", &out).contains("is now read-only"));
    let me = provisio(&p, &["admins", "me", "--json"]).env("PROVISIO_TOKEN", token).output().expect("run");
    assert_eq!(stdout_json("admins me", &me)["role"], "read-only");

    ok_stdout("tokens revoke", &run(&p, &["tokens", "revoke", token_id, "--admin", "ops@example.com"]));
    assert_eq!(p.call_as(Some(token), "GET", "/apps", None).await.0, 401, "a revoked token stops working");
    ok_stdout("admins deactivate", &run(&p, &["admins", "deactivate", "ops@example.com"]));
    ok_stdout("admins delete", &run(&p, &["admins", "delete", "ops@example.com"]));
    let out = run(&p, &["admins", "get", "ops@example.com"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no admin has the id or login"));
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn hooks_are_registered_listed_and_removed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let args = [
        "hooks",
        "create",
        "ops",
        "http://127.0.0.1:9/hook",
        "--event",
        "user.lifecycle.deactivate",
        "--event",
        "account.fail",
    ];
    let out = ok_stdout("hooks create", &run(&p, &args));
    assert!(out.contains("signing secret, shown this once: whsec_"), "{out}");
    let hooks = stdout_json("hooks list", &run(&p, &["hooks", "list", "--json"]));
    let id = hooks[0]["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(hooks[0]["events"], json!(["user.lifecycle.deactivate", "account.fail"]), "{hooks}");
    assert!(hooks[0].get("secret").is_none(), "the secret is shown once only: {hooks}");
    let deliveries = stdout_json("hooks deliveries", &run(&p, &["hooks", "deliveries", &id, "--json"]));
    assert_eq!(deliveries, json!([]));
    let out = run(&p, &["hooks", "create", "x", "http://127.0.0.1:9/", "--event", "user.deprovisioned"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("user.lifecycle.deactivate"), "the error names the events: {said}");
    ok_stdout("hooks delete", &run(&p, &["hooks", "delete", &id]));
    assert_eq!(stdout_json("hooks list", &run(&p, &["hooks", "list", "--json"])), json!([]));
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn mappings_policy_bulk_lifecycle_and_search_work_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let app = p.create_scim_app("Wiki", "http://127.0.0.1:9", "t").await;
    p.ok("POST", &format!("/apps/{app}/lifecycle/deactivate"), None).await;
    let mut ids = Vec::new();
    for (login, first) in [("ada@example.com", "Ada"), ("alan@example.com", "Alan"), ("grace@example.com", "Grace")] {
        let id = p.create_user(login, first, "X").await;
        p.ok("PUT", &format!("/apps/{app}/users/{id}"), None).await;
        ids.push(id);
    }

    let before = stdout_json("mappings get", &run(&p, &["apps", "mappings", "get", "Wiki"]));
    let draft = dir.path().join("draft.json");
    std::fs::write(&draft, r#"{"attributes": {"displayName": "user.firstName + ' (' + user.login + ')'"}}"#)
        .expect("write");
    let tried = stdout_json(
        "mappings try",
        &run(&p, &["apps", "mappings", "try", "Wiki", "ada@example.com", "--file", draft.to_str().expect("path")]),
    );
    assert_eq!(tried["attributes"]["displayName"], "Ada (ada@example.com)", "{tried}");
    let out = ok_stdout(
        "mappings set --preview",
        &run(&p, &["apps", "mappings", "set", "wiki", draft.to_str().expect("path"), "--preview"]),
    );
    assert!(out.contains("nothing was changed") && out.contains(&app), "{out}");
    assert_eq!(
        stdout_json("mappings get", &run(&p, &["apps", "mappings", "get", "Wiki"])),
        before,
        "a preview changes nothing"
    );
    ok_stdout("mappings set", &run(&p, &["apps", "mappings", "set", "Wiki", draft.to_str().expect("path")]));
    let after = stdout_json("mappings get", &run(&p, &["apps", "mappings", "get", "Wiki"]));
    assert_eq!(after["attributes"]["displayName"], "user.firstName + ' (' + user.login + ')'", "{after}");

    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"deprovision": "delete", "retention_days": 30}"#).expect("write");
    ok_stdout("policy set", &run(&p, &["apps", "policy", "set", "Wiki", policy.to_str().expect("path")]));
    let shown = stdout_json("policy get", &run(&p, &["apps", "policy", "get", "Wiki"]));
    assert_eq!(
        (shown["deprovision"].as_str(), shown["retention_days"].as_u64()),
        (Some("delete"), Some(30)),
        "{shown}"
    );

    let out =
        ok_stdout("bulk --preview", &run(&p, &["users", "bulk", "suspend", "ada@example.com", &ids[1], "--preview"]));
    assert!(out.contains("nothing was changed"), "{out}");
    let suspended = r#"status eq "SUSPENDED""#;
    let none = stdout_json("search", &run(&p, &["users", "list", "--filter", suspended, "--json"]));
    assert_eq!(none, json!([]), "a preview suspends no one");
    let list = dir.path().join("leavers.txt");
    std::fs::write(&list, format!("# leavers\nada@example.com\n{}\n", ids[1])).expect("write");
    let out = ok_stdout("bulk", &run(&p, &["users", "bulk", "suspend", "--file", list.to_str().expect("path")]));
    assert!(out.contains("2 of 2 users changed"), "{out}");
    let found = stdout_json("search", &run(&p, &["users", "list", "--filter", suspended, "--json"]));
    let logins: Vec<&str> =
        found.as_array().into_iter().flatten().filter_map(|u| u["profile"]["login"].as_str()).collect();
    assert_eq!(logins, ["ada@example.com", "alan@example.com"]);
    let found = stdout_json("q", &run(&p, &["users", "list", "--q", "gra", "--json"]));
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["profile"]["login"], "grace@example.com");
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn a_users_apps_name_the_group_they_come_through_and_the_log_shows_the_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let ada = p.create_user("ada@example.com", "Ada", "Lovelace").await;
    let app = p.create_scim_app("Wiki", "http://127.0.0.1:9", "t").await;
    p.ok("POST", &format!("/apps/{app}/lifecycle/deactivate"), None).await;
    let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Engineering" } }))).await;
    let group = group["id"].as_str().unwrap_or_default();
    p.ok("PUT", &format!("/groups/{group}/users/{ada}"), None).await;
    p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;

    let apps = ok_stdout("users apps", &run(&p, &["users", "apps", "ada@example.com"]));
    assert!(apps.contains("Wiki") && apps.contains("through group Engineering"), "{apps}");
    let groups = ok_stdout("users groups", &run(&p, &["users", "groups", "ada@example.com"]));
    assert!(groups.contains("Engineering"), "{groups}");
    let assigned = ok_stdout("assignments list", &run(&p, &["assignments", "list", "Wiki"]));
    assert!(assigned.contains("ada@example.com") && assigned.contains("Engineering"), "logins and names: {assigned}");

    let newest = stdout_json("logs", &run(&p, &["logs", "--limit", "3", "--json"]));
    let types: Vec<&str> = newest.as_array().into_iter().flatten().filter_map(|e| e["eventType"].as_str()).collect();
    assert_eq!(types, ["app.group.assign", "group.member.add", "group.create"], "{newest}");
    let all = stdout_json("logs", &run(&p, &["logs", "--limit", "1000", "--json"]));
    let mut oldest =
        stdout_json("logs --oldest-first", &run(&p, &["logs", "--limit", "1000", "--oldest-first", "--json"]));
    oldest.as_array_mut().expect("a list").reverse();
    assert!(all.as_array().is_some_and(|a| a.len() > 5) && oldest == all, "the same events, the other way round");

    // A table keeps within the terminal's width, wrapping its widest cells.
    let out = provisio(&p, &["logs", "--limit", "20"]).env("COLUMNS", "60").output().expect("run");
    let table = ok_stdout("logs", &out);
    let widest = table.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 60 && table.contains("app.group"), "{widest} columns:\n{table}");
    drop(p);
    db.drop().await;
}
