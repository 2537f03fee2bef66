//! The `provisio` command line against a real server, as an operator runs
//! it: logins and names where ids would go, a listing piped into `head`
//! that ends quietly, tables that fit the terminal, and each command
//! family (admins and tokens, hooks, mappings and policy, bulk lifecycle
//! and search, a user's groups and apps, the log newest first, connectors,
//! plans and tasks, errors, nodes and local packages).

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::databases::{Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG, TOKEN};
use crate::support::{Fault, RecordingProxy, Scim2Server, create_only_app, create_only_package};

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
    assert_eq!((paused["id"].as_str(), paused["status"].as_str()), (Some(app.as_str()), Some("ACTIVE")), "{paused}");
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
    std::fs::write(&policy, r#"{"deprovision": "delete", "retentionDays": 30}"#).expect("write");
    ok_stdout("policy set", &run(&p, &["apps", "policy", "set", "Wiki", policy.to_str().expect("path")]));
    let shown = stdout_json("policy get", &run(&p, &["apps", "policy", "get", "Wiki"]));
    assert_eq!((shown["deprovision"].as_str(), shown["retentionDays"].as_u64()), (Some("delete"), Some(30)), "{shown}");

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

#[tokio::test]
async fn connectors_plans_and_tasks_are_worked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scim = Scim2Server::start().await;
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;

    // A package folder installed from the command line, then described as
    // a person reads it and as a program does.
    let package = create_only_package(dir.path());
    let installed = ok_stdout("install", &run(&p, &["connectors", "install", package.to_str().expect("path")]));
    assert!(installed.contains("installed create-only@0.1.0"), "{installed}");
    let listed = ok_stdout("connectors list", &run(&p, &["connectors", "list"]));
    assert!(listed.contains("create-only") && listed.contains("scim"), "{listed}");
    let described = ok_stdout("describe", &run(&p, &["connectors", "describe", "create-only@0.1.0"]));
    for part in ["operations: ", "create-user", "Settings", "base_url", "Credentials", "bearer"] {
        assert!(described.contains(part), "the description says {part:?}:\n{described}");
    }
    assert!(!described.contains("deactivate-user"), "it cannot deactivate:\n{described}");
    let d = stdout_json("describe --json", &run(&p, &["connectors", "describe", "create-only@0.1.0", "--json"]));
    assert_eq!(
        (&d["label"], &d["settings"][0]["name"], &d["settings"][0]["type"], &d["credentials"][0]["schemes"]),
        (&json!("create-only@0.1.0"), &json!("base_url"), &json!("url"), &json!(["bearer"])),
        "{d}"
    );

    // Installed already: creating the app installs nothing more.
    let app = create_only_app(&p, "Create only", &scim.origin(), &scim.token).await;
    for login in ["lee@example.com", "vera@example.com"] {
        let user = p.create_user(login, "L", "V").await;
        p.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
    }
    p.wait_idle(Duration::from_secs(30)).await;
    p.ok("PUT", &format!("/apps/{app}/policy"), Some(json!({ "guard": { "floor": 0 } }))).await;

    // A held change, rejected: nothing of it happens.
    let leavers = ["users", "bulk", "deactivate", "lee@example.com", "vera@example.com"];
    let held = |p: &Provisio| {
        let out = provisio(p, &leavers).arg("-q").output().expect("run");
        ok_stdout("bulk deactivate", &out).trim().to_string()
    };
    let plan = held(&p);
    let plans = stdout_json("plans list", &run(&p, &["plans", "list", "--status", "held", "--json"]));
    assert_eq!((plans[0]["id"].as_str(), plans[0]["status"].as_str()), (Some(plan.as_str()), Some("HELD")), "{plans}");
    let shown = ok_stdout("plans get", &run(&p, &["plans", "get", &plan]));
    for part in ["users.lifecycle", "HELD", "Create only: 2 deactivate", "deactivate lee@example.com"] {
        assert!(shown.contains(part), "the plan says {part:?}, the app and the users by name:\n{shown}");
    }
    ok_stdout("plans reject", &run(&p, &["plans", "reject", &plan]));
    let rejected = stdout_json("plans list", &run(&p, &["plans", "list", "--status", "REJECTED", "--json"]));
    assert_eq!(rejected[0]["id"].as_str(), Some(plan.as_str()), "{rejected}");
    let lee = p.ok("GET", "/users/lee@example.com", None).await;
    assert_eq!(lee["status"], "ACTIVE", "a rejected plan changes no one");

    // The same change approved: the connector cannot deactivate, so each
    // leaver's account becomes a task, worked from the command line.
    let plan = held(&p);
    ok_stdout("plans approve", &run(&p, &["plans", "approve", &plan]));
    crate::server::eventually("a task per leaver", Duration::from_secs(30), || async {
        (p.ok("GET", "/tasks", None).await.as_array().map(Vec::len) == Some(2)).then_some(())
    })
    .await;
    let open = ok_stdout("tasks list", &run(&p, &["tasks", "list"]));
    assert!(open.contains("lee@example.com") && open.contains("vera@example.com") && open.contains("OPEN"), "{open}");
    let tasks = stdout_json("tasks list", &run(&p, &["tasks", "list", "--json"]));
    let first = tasks[0]["id"].as_str().expect("task id").to_string();
    ok_stdout("tasks done", &run(&p, &["tasks", "done", &first]));
    let done = stdout_json("tasks list", &run(&p, &["tasks", "list", "--status", "done", "--json"]));
    assert_eq!((done[0]["id"].as_str(), done[0]["status"].as_str()), (Some(first.as_str()), Some("DONE")), "{done}");
    let bad = run(&p, &["tasks", "list", "--status", "finished"]);
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && said.contains("OPEN, DONE, CANCELLED"), "the error lists the statuses: {said}");
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn errors_are_retried_and_resolved_and_nodes_and_local_packages_shown_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let scim = Scim2Server::start().await;
    // The proxy decides each request's fate: it makes the errors an admin
    // works on. (A real app that refuses a create or loses an answer on
    // cue does not exist.)
    let proxy = RecordingProxy::start(&scim.origin()).await;
    let app = create_only_app(&p, "No lookups", &proxy.origin(), &scim.token).await;

    // A refused create waits for an admin, who retries it once the app
    // takes it.
    proxy.set_faults(|method: &str, _: &str| if method == "POST" { Fault::Status(400) } else { Fault::Pass });
    let ada = p.create_user("ada@example.com", "Ada", "L").await;
    p.ok("PUT", &format!("/apps/{app}/users/{ada}"), None).await;
    p.account_reaching(&format!("/apps/{app}/accounts/{ada}"), "ERROR").await;
    let listed = ok_stdout("errors list", &run(&p, &["errors", "list", "No lookups"]));
    assert!(listed.contains("ada@example.com") && listed.contains("waits for an admin"), "{listed}");
    proxy.set_faults(|_: &str, _: &str| Fault::Pass);
    let retried = ok_stdout("errors retry", &run(&p, &["errors", "retry", "No lookups", "--user", "ada@example.com"]));
    assert!(retried.contains("retrying 1"), "{retried}");
    p.account_reaching(&format!("/apps/{app}/accounts/{ada}"), "SYNCED").await;

    // A create whose answer was lost: the admin says what the app holds,
    // and it is linked, not made again.
    proxy.set_faults(|method: &str, _: &str| match method {
        "POST" => Fault::DropAfter,
        "GET" => Fault::Status(400),
        _ => Fault::Pass,
    });
    let alan = p.create_user("alan@example.com", "Alan", "T").await;
    p.ok("PUT", &format!("/apps/{app}/users/{alan}"), None).await;
    p.account_reaching(&format!("/apps/{app}/accounts/{alan}"), "OUTCOME_UNKNOWN").await;
    proxy.set_faults(|_: &str, _: &str| Fault::Pass);
    let made = scim.users_by_name().await["alan@example.com"]["id"].as_str().expect("made").to_string();
    ok_stdout("errors resolve", &run(&p, &["errors", "resolve", "No lookups", "alan@example.com", "--found", &made]));
    let account = p.account_reaching(&format!("/apps/{app}/accounts/{alan}"), "SYNCED").await;
    assert_eq!(account["externalId"].as_str(), Some(made.as_str()), "{account}");
    assert_eq!(scim.users_by_name().await.keys().filter(|k| k.starts_with("alan")).count(), 1, "made once");

    // The server's own run, live.
    let node = p.ok("GET", "/nodes", None).await[0]["id"].as_str().expect("node").to_string();
    let nodes = ok_stdout("nodes", &run(&p, &["nodes"]));
    assert!(nodes.contains(&node) && nodes.contains("true"), "{nodes}");

    // A package installed and described locally, on a data directory of
    // its own (no server involved).
    let package = create_only_package(dir.path());
    let local = dir.path().join("local");
    let local_args = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", local.to_str().expect("path")]);
        run(&p, &all)
    };
    ok_stdout("package install", &local_args(&["package", "install", package.to_str().expect("path")]));
    let listed = ok_stdout("package list", &local_args(&["package", "list"]));
    assert!(listed.contains("create-only") && listed.contains("scim"), "the built-in ones and the new: {listed}");
    let described = ok_stdout("package describe", &local_args(&["package", "describe", "create-only@0.1.0"]));
    assert!(described.contains("Settings") && described.contains("base_url"), "{described}");
    drop(p);
    db.drop().await;
}
