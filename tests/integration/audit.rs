//! The audit trail answers "who did what, and who tried": refused calls are
//! logged with the caller, a profile change records each attribute's old
//! and new value (secrets masked), a status that does not move logs
//! nothing, every event type is named one way and documented, the log reads
//! newest first on request, and a user's groups and apps say why.

use provisio_directory::{EVENT_TYPES, LogQuery, NewUser, UserStatus};
use serde_json::{Value as Json, json};

use crate::databases::{Backend, TestDatabase};
use crate::directory::each_backend;
use crate::server::{Provisio, TEST_CONFIG};

fn profile(v: Json) -> serde_json::Map<String, Json> {
    v.as_object().cloned().expect("object")
}

#[tokio::test]
async fn an_app_is_quarantined_once_however_many_failing_workers_report_it() {
    each_backend(|store, _| async move {
        let sealer = provisio_directory::Sealer::new(&provisio_directory::Sealer::generate_key());
        store.register_package("admin", "scim", "0.1.0", "sha256-aa", "0.1.0", None).await.expect("package");
        let new = provisio_directory::NewApp {
            name: "Wiki".into(),
            connector_name: "scim".into(),
            connector_version: "0.1.0".into(),
            settings: json!({ "base_url": "https://scim.example.com/v2" }),
            secrets: Default::default(),
            grants: vec!["https://scim.example.com".into()],
            credential_origins: Default::default(),
            mappings: json!({}),
            policy: json!({}),
        };
        let app = store.create_app("admin", new, &sealer).await.expect("app");
        // Four workers whose calls failed at once each cross the threshold.
        let reports = (0..4).map(|i| {
            let store = store.clone();
            let id = app.id.clone();
            async move { store.set_app_status("executor", &id, "quarantined", Some(&format!("failure {i}"))).await }
        });
        for result in futures::future::join_all(reports).await {
            result.expect("quarantine");
        }
        store.set_app_status("alice", &app.id, "active", None).await.expect("resume");
        store.set_app_status("bob", &app.id, "active", None).await.expect("resume again: nothing moves");
        let log = store.log(&LogQuery { target_id: Some(app.id.clone()), limit: 100, ..LogQuery::default() }).await;
        let actions: Vec<String> = log.expect("log").into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["app.create", "app.lifecycle.quarantine", "app.lifecycle.activate"]);
        let missing = store.set_app_status("alice", "no-such-app", "active", None).await;
        assert!(matches!(missing, Err(provisio_directory::StoreError::NotFound { .. })), "{missing:?}");
    })
    .await;
}

#[tokio::test]
async fn a_profile_change_is_logged_attribute_by_attribute_with_secrets_masked() {
    each_backend(|store, _| async move {
        let new = NewUser {
            login: "ada".into(),
            profile: profile(json!({ "email": "ada@x", "title": "Dev", "initialPassword": "hunter2-hunter2" })),
            status: UserStatus::Active,
        };
        let ada = store.create_user("alice", new).await.expect("create");
        let mut changed = ada.profile.clone();
        changed.insert("title".into(), json!("CTO"));
        changed.insert("initialPassword".into(), json!("swordfish-swordfish"));
        changed.remove("email");
        store.update_profile("bob", &ada.id, changed, None).await.expect("update");
        let q = LogQuery { action: Some("user.update".into()), limit: 10, ..LogQuery::default() };
        let events = store.log(&q).await.expect("log");
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].actor, "bob");
        assert_eq!(
            events[0].details,
            json!({ "login": "ada", "profile": {
                "email": { "old": "ada@x", "new": null },
                "initialPassword": { "old": "********", "new": "********" },
                "title": { "old": "Dev", "new": "CTO" },
            }})
        );
        let text = events[0].details.to_string();
        assert!(!text.contains("hunter2") && !text.contains("swordfish"), "{text}");
    })
    .await;
}

#[tokio::test]
async fn the_log_reads_newest_first_and_pages_on_backwards() {
    each_backend(|store, clock| async move {
        for i in 0..5 {
            clock.advance(1);
            store.create_group("alice", &format!("g{i}"), "").await.expect("group");
        }
        let q = LogQuery { limit: 2, newest_first: true, ..LogQuery::default() };
        let first = store.log(&q).await.expect("page");
        let names = |page: &[provisio_directory::LogEvent]| -> Vec<String> {
            page.iter().map(|e| e.details["name"].as_str().unwrap_or_default().to_string()).collect()
        };
        assert_eq!(names(&first), ["g4", "g3"]);
        let next = store.log(&LogQuery { after: Some(first[1].cursor), ..q.clone() }).await.expect("page");
        assert_eq!(names(&next), ["g2", "g1"]);
    })
    .await;
}

/// The verbs an event type may end with: present tense, one word.
const VERBS: &[&str] = &[
    "activate",
    "add",
    "acquire",
    "apply",
    "assign",
    "cancel",
    "change",
    "complete",
    "create",
    "deactivate",
    "delete",
    "discard",
    "expire",
    "fail",
    "find",
    "hold",
    "install",
    "purge",
    "quarantine",
    "reactivate",
    "refuse",
    "reject",
    "remove",
    "resolve",
    "retire",
    "retry",
    "revoke",
    "set",
    "suspend",
    "unassign",
    "unsuspend",
    "update",
];

#[test]
fn every_event_type_is_object_then_verb_and_the_operators_guide_lists_each() {
    let guide = std::fs::read_to_string(crate::support::workspace_root().join("docs/operators.md")).expect("guide");
    let table_start = guide.find("### The system log's events").expect("the guide lists the events");
    let table =
        &guide[table_start..guide[table_start..].find("\n### Reading").map_or(guide.len(), |e| e + table_start)];
    let listed: Vec<&str> =
        table.lines().filter_map(|l| l.strip_prefix("| `")).filter_map(|l| l.split('`').next()).collect();
    let known: Vec<&str> = EVENT_TYPES.iter().map(|(name, _)| *name).collect();
    assert_eq!(listed, known, "docs/operators.md lists every event type, in the code's order");
    for name in known {
        let parts: Vec<&str> = name.split('.').collect();
        assert!(parts.len() >= 2 && parts.iter().all(|p| !p.is_empty()), "{name}");
        let verb = parts[parts.len() - 1];
        assert!(VERBS.contains(&verb), "{name} ends with \"{verb}\", not a present-tense verb");
    }
    for hook in provisio_directory::HOOK_EVENTS {
        assert!(EVENT_TYPES.iter().any(|(name, _)| *name == hook), "hooks hear log events: {hook}");
    }
}

async fn refusals(p: &Provisio) -> Vec<Json> {
    let events = p.ok("GET", "/logs?eventType=api.refuse&limit=100", None).await;
    events.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_refused_call_is_logged_with_who_tried_and_what_for_but_never_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Postgres, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let (_, reader) = p.admin_with_token("auditor@example.com", "read-only", &[]).await;

    assert_eq!(p.call_as(None, "GET", "/users", None).await.0, 401);
    let wrong = "not-a-token-but-looks-like-one-123456";
    assert_eq!(p.call_as(Some(wrong), "GET", "/users?limit=5", None).await.0, 401);
    let body = json!({ "profile": { "login": "mallory@example.com" } });
    assert_eq!(p.call_as(Some(&reader), "POST", "/users", Some(body)).await.0, 403);

    let events = refusals(&p).await;
    assert_eq!(events.len(), 3, "{events:?}");
    let seen: Vec<(&str, &str, &str, i64)> = events
        .iter()
        .map(|e| {
            let d = &e["details"];
            let (actor, method, path) = (e["actor"].as_str(), d["method"].as_str(), d["path"].as_str());
            (
                actor.unwrap_or_default(),
                method.unwrap_or_default(),
                path.unwrap_or_default(),
                d["status"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("anonymous", "GET", "/api/v1/users", 401),
            ("anonymous", "GET", "/api/v1/users", 401),
            ("auditor@example.com", "POST", "/api/v1/users", 403),
        ]
    );
    assert!(events.iter().all(|e| e["outcome"] == "failure"), "{events:?}");
    assert!(events[0]["details"].get("tokenHash").is_none(), "no token was presented: {}", events[0]);
    assert_eq!(events[1]["details"]["tokenHash"].as_str().map(str::len), Some(12), "{}", events[1]);
    assert!(events[2]["details"]["reason"].as_str().is_some_and(|r| r.contains("users:create")), "{}", events[2]);
    let text = serde_json::to_string(&events).expect("json");
    assert!(!text.contains(wrong) && !text.contains(&reader), "no token is ever logged: {text}");
    // A call let in is not a refusal.
    assert_eq!(p.call_as(Some(&reader), "GET", "/users", None).await.0, 200);
    assert_eq!(refusals(&p).await.len(), 3);
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn a_users_groups_and_apps_say_why_they_have_each_app() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let ada = p.create_user("ada@example.com", "Ada", "Lovelace").await;
    let wiki = p.create_scim_app("Wiki", "http://127.0.0.1:9", "t").await;
    let crm = p.create_scim_app("CRM", "http://127.0.0.1:9", "t").await;
    for app in [&wiki, &crm] {
        // Paused, so nothing is pushed to the app that is not there.
        p.ok("POST", &format!("/apps/{app}/lifecycle/deactivate"), None).await;
    }
    let mut groups = Vec::new();
    for name in ["Sales", "Engineering", "Alumni"] {
        let g = p.ok("POST", "/groups", Some(json!({ "profile": { "name": name } }))).await;
        groups.push(g["id"].as_str().unwrap_or_default().to_string());
    }
    let (sales, engineering) = (&groups[0], &groups[1]);
    for g in [sales, engineering] {
        p.ok("PUT", &format!("/groups/{g}/users/{ada}"), None).await;
    }
    p.ok("PUT", &format!("/apps/{wiki}/users/{ada}"), None).await;
    p.ok("PUT", &format!("/apps/{wiki}/groups/{engineering}?priority=2"), None).await;
    p.ok("PUT", &format!("/apps/{crm}/groups/{sales}?priority=1"), None).await;
    p.ok("PUT", &format!("/apps/{crm}/groups/{engineering}?priority=5"), None).await;

    let in_groups = p.ok("GET", "/users/ada@example.com/groups", None).await;
    let names: Vec<&str> =
        in_groups.as_array().into_iter().flatten().filter_map(|g| g["profile"]["name"].as_str()).collect();
    assert_eq!(names, ["Engineering", "Sales"], "by name, and not Alumni: {in_groups}");

    let apps = p.ok("GET", &format!("/users/{ada}/apps"), None).await;
    assert_eq!(
        apps,
        json!([
            { "id": crm, "name": "CRM", "direct": false, "through": [
                { "id": sales, "name": "Sales", "priority": 1 },
                { "id": engineering, "name": "Engineering", "priority": 5 },
            ]},
            { "id": wiki, "name": "Wiki", "direct": true, "through": [
                { "id": engineering, "name": "Engineering", "priority": 2 },
            ]},
        ])
    );
    let (status, answer) = p.call("GET", "/users/nobody@example.com/apps", None).await;
    assert_eq!((status, answer["errorCode"].as_str()), (404, Some("not-found")), "{answer}");
    drop(p);
    db.drop().await;
}
