//! The API speaks one wire format, and its OpenAPI document says all of
//! it: schemathesis (a real, independent client generated from the served
//! document) finds no server error, no undocumented status and no answer
//! off its schema, on both backends; and the conventions hold where they
//! used to differ (names, times, `limit`, a missing object named in a URL).

use std::process::Command;
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::databases::{BACKENDS, Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG, TOKEN};
use crate::support::{Scim2Server, workspace_root};

#[tokio::test]
async fn schemathesis_finds_no_server_error_no_undocumented_status_and_no_answer_off_its_schema() {
    let schemathesis = workspace_root().join(".venv/bin/schemathesis");
    assert!(schemathesis.exists(), "{} is missing: run .ci/run (tests/requirements.txt)", schemathesis.display());
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
        // Something to find, so reads answer 200 as well as 404.
        let user = p.create_user("ada@example.com", "Ada", "Lovelace").await;
        let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Engineering" } }))).await;
        p.ok("PUT", &format!("/groups/{}/users/{user}", group["id"].as_str().unwrap_or_default()), None).await;

        let report = dir.path().join("junit.xml");
        let run = tokio::task::spawn_blocking({
            let (base, report, schemathesis) = (p.base.clone(), report.clone(), schemathesis.clone());
            let scratch = dir.path().to_path_buf();
            move || {
                Command::new(&schemathesis)
                    // Its cache of past failures (replayed on the next run)
                    // goes with the test's directory, not the checkout.
                    .current_dir(&scratch)
                    .args(["run", &format!("{base}/api/v1/openapi.json"), "--url", &base])
                    .args(["--header", &format!("Authorization: SSWS {TOKEN}")])
                    .args([
                        "--checks",
                        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                    ])
                    // Deterministic: the same cases each run, so a failure
                    // is reproducible and no run is luckier than another.
                    .args(["--max-examples", "12", "--seed", "1", "--generation-database", "none", "--workers", "2"])
                    .args(["--phases", "examples,coverage,fuzzing", "--no-color", "--warnings", "off"])
                    .args(["--report", "junit", "--report-junit-path", &report.to_string_lossy()])
                    .output()
                    .expect("run schemathesis")
            }
        })
        .await
        .expect("schemathesis ran");
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{backend:?}: schemathesis found problems:\n{out}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        drop(p);
        db.drop().await;
    }
}

/// Every key of every object in `value` is camelCase (no `_`), every value
/// of a key that names a time is RFC 3339 text, not a number, and every
/// status or state is UPPERCASE.
fn assert_one_convention(what: &str, value: &Json) {
    match value {
        Json::Object(map) => {
            for (key, v) in map {
                assert!(!key.contains('_'), "{what}: key {key:?} is not camelCase in {value}");
                let timeish = ["created", "lastUpdated", "decided", "assigned", "nextAttempt", "statusChanged"];
                if timeish.contains(&key.as_str()) && !v.is_null() {
                    let text = v.as_str().unwrap_or_default();
                    assert!(
                        text.len() >= 20 && text.as_bytes().get(10) == Some(&b'T') && text.ends_with('Z'),
                        "{what}: {key} is not an RFC 3339 time: {v}"
                    );
                }
                let statusish = key == "status" || key.ends_with("State") || key == "stored" || key == "implied";
                if let (true, Some(text)) = (statusish, v.as_str()) {
                    assert_eq!(text, text.to_ascii_uppercase(), "{what}: {key} is not UPPERCASE in {value}");
                }
                // A held plan's change is the engine's own format, shown as
                // stored; an app's settings are named by its connector and
                // its mappings by the app's schema. The rest follows the
                // convention.
                if !["change", "settings", "mappings"].contains(&key.as_str()) {
                    assert_one_convention(what, v);
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|v| assert_one_convention(what, v)),
        _ => {}
    }
}

#[tokio::test]
async fn plans_previews_and_errors_say_camel_case_and_rfc_3339_like_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let scim = Scim2Server::start().await;
    let app = p.create_scim_app("Wiki", &scim.origin(), &scim.token).await;
    p.ok("PUT", &format!("/apps/{app}/policy"), Some(json!({ "guard": { "percent": 10, "floor": 0 } }))).await;
    p.ok("POST", "/groups", Some(json!({ "profile": { "name": "All" } }))).await;
    let group = p.ok("GET", "/groups", None).await[0]["id"].as_str().unwrap_or_default().to_string();
    for i in 0..3 {
        let user = p.create_user(&format!("u{i}@example.com"), "U", "Ser").await;
        p.ok("PUT", &format!("/groups/{group}/users/{user}"), None).await;
    }
    p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;
    // The accounts exist, so taking them away is disruptive: guarded.
    p.wait_idle(Duration::from_secs(60)).await;

    let preview = p.ok("DELETE", &format!("/apps/{app}/groups/{group}?preview=true"), None).await;
    assert_eq!(preview["effects"][0]["appId"], app.as_str(), "{preview}");
    assert_one_convention("a preview", &preview);
    let (status, held) = p.call("DELETE", &format!("/apps/{app}/groups/{group}"), None).await;
    assert_eq!(status, 202, "{held}");
    assert_one_convention("a held change", &held);
    let plan = held["plan"]["id"].as_str().expect("plan id").to_string();
    assert_one_convention("a plan", &p.ok("GET", &format!("/plans/{plan}"), None).await);
    assert_one_convention("the plans", &p.ok("GET", "/plans", None).await);
    let approved = p.ok("POST", &format!("/plans/{plan}/approve"), None).await;
    assert_one_convention("an approved plan", &approved);
    assert!(approved["plan"]["decided"].is_string(), "{approved}");
    assert_one_convention("the work queue", &p.ok("GET", "/work", None).await);
    assert_one_convention("an app's errors", &p.ok("GET", &format!("/apps/{app}/errors"), None).await);
    assert_one_convention("an app's groups", &p.ok("GET", &format!("/apps/{app}/groups"), None).await);
    assert_one_convention("an error", &p.call("GET", "/users/nobody", None).await.1);
    assert_one_convention("the apps", &p.ok("GET", "/apps", None).await);
    assert_one_convention("the users", &p.ok("GET", "/users", None).await);
    assert_one_convention("the accounts", &p.ok("GET", &format!("/apps/{app}/accounts"), None).await);
    assert_one_convention("a check", &p.ok("GET", &format!("/apps/{app}/consistency"), None).await);
    assert_one_convention("the admins", &p.ok("GET", "/admins", None).await);
    assert_one_convention("the tasks", &p.ok("GET", "/tasks?status=all", None).await);

    // A policy written in the snake_case of earlier versions is read, and
    // shown camelCase with its defaults spelled out.
    let old = json!({ "retention_days": 3, "on_suspend": "keep", "deprovision": "delete" });
    let set = p.ok("PUT", &format!("/apps/{app}/policy"), Some(old)).await;
    let shown = p.ok("GET", &format!("/apps/{app}"), None).await;
    assert_one_convention("an app", &shown);
    assert_one_convention("a policy", &shown["policy"]);
    assert_eq!(set["policy"], shown["policy"], "{set}");
    assert_eq!(
        (&shown["policy"]["retentionDays"], &shown["policy"]["onSuspend"], &shown["policy"]["guard"]["max"]),
        (&json!(3), &json!("keep"), &json!(50)),
        "{shown}"
    );
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn every_list_refuses_a_limit_out_of_range_and_names_it_and_pages_with_a_link() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
        let app = p.create_scim_app("Wiki", "http://127.0.0.1:9", "t").await;
        let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "G" } }))).await["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let lists = [
            "/users".to_string(),
            "/groups".into(),
            format!("/groups/{group}/users"),
            format!("/apps/{app}/users"),
            format!("/apps/{app}/accounts"),
            "/plans".into(),
            "/logs".into(),
            "/tasks".into(),
        ];
        for list in &lists {
            for limit in ["0", "1001"] {
                let (status, answer) = p.call("GET", &format!("{list}?limit={limit}"), None).await;
                assert_eq!(
                    (status, answer["errorCode"].as_str()),
                    (400, Some("invalid")),
                    "{backend:?} {list}?limit={limit}: {answer}"
                );
                let summary = answer["errorSummary"].as_str().unwrap_or_default();
                assert!(summary.contains("limit"), "{list}: the error names the parameter: {summary}");
            }
        }
        let mut users = Vec::new();
        for i in 0..3 {
            let user = p.create_user(&format!("p{i}@example.com"), "P", "Age").await;
            p.ok("PUT", &format!("/groups/{group}/users/{user}"), None).await;
            users.push(user);
        }
        // p0 has the app directly as well as through the group.
        p.ok("PUT", &format!("/apps/{app}/users/{}", users[0]), None).await;
        p.ok("PUT", &format!("/apps/{app}/groups/{group}"), None).await;

        let logins = ["p0@example.com", "p1@example.com", "p2@example.com"];
        let login = |u: &Json| u["profile"]["login"].as_str().unwrap_or_default().to_string();
        assert_eq!(walk(&p, "/api/v1/users?limit=2", login).await, logins, "{backend:?} users");
        assert_eq!(walk(&p, &format!("/api/v1/groups/{group}/users?limit=2"), login).await, logins, "{backend:?}");
        let app_user = |u: &Json| {
            format!("{} {}", u["login"].as_str().unwrap_or_default(), u["scope"].as_str().unwrap_or_default())
        };
        assert_eq!(
            walk(&p, &format!("/api/v1/apps/{app}/users?limit=2"), app_user).await,
            ["p0@example.com USER", "p1@example.com GROUP", "p2@example.com GROUP"],
            "{backend:?}: each user once, direct if assigned directly at all"
        );
        drop(p);
        db.drop().await;
    }
}

/// Follows a list's `Link: rel="next"` from `path` to its end, and names
/// each item with `name`, sorted (pages go by id, not by login); a page
/// that repeats fails.
async fn walk(p: &Provisio, path: &str, name: impl Fn(&Json) -> String) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = Some(path.to_string());
    while let Some(path) = next.take() {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", p.base))
            .header("Authorization", format!("SSWS {TOKEN}"))
            .send()
            .await
            .expect("list");
        next = response.headers().get("link").and_then(|l| l.to_str().ok()).map(|l| {
            assert!(l.ends_with("rel=\"next\""), "{l}");
            l.trim_start_matches('<').split('>').next().unwrap_or_default().to_string()
        });
        let page: Vec<Json> = response.json().await.expect("a page");
        assert!(page.len() <= 2, "{path}: a page larger than its limit");
        seen.extend(page.iter().map(&name));
        assert!(seen.len() <= 3, "the pages repeat: {seen:?}");
    }
    seen.sort();
    seen
}

#[tokio::test]
async fn a_missing_user_group_or_app_named_in_an_assignment_or_membership_is_404() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let app = p.create_scim_app("Wiki", "http://127.0.0.1:9", "t").await;
    let user = p.create_user("ada@example.com", "Ada", "Lovelace").await;
    let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "G" } }))).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for (method, path) in [
        ("PUT", format!("/apps/{app}/users/no-such-user")),
        ("DELETE", format!("/apps/{app}/users/no-such-user")),
        ("PUT", format!("/apps/no-such-app/users/{user}")),
        ("PUT", format!("/apps/{app}/groups/no-such-group")),
        ("DELETE", format!("/apps/{app}/groups/no-such-group")),
        ("PUT", format!("/groups/{group}/users/no-such-user")),
        ("DELETE", format!("/groups/{group}/users/no-such-user")),
        ("PUT", format!("/groups/no-such-group/users/{user}")),
    ] {
        let (status, answer) = p.call(method, &path, None).await;
        assert_eq!((status, answer["errorCode"].as_str()), (404, Some("not-found")), "{method} {path}: {answer}");
        let summary = answer["errorSummary"].as_str().unwrap_or_default();
        assert!(summary.contains("no-such-"), "{method} {path}: the error names what is missing: {summary}");
    }
    drop(p);
    db.drop().await;
}
