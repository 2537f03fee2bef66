//! Who may do what, through a real `provisio serve`: the role matrix taken
//! from the served OpenAPI document, a group admin's reach, tokens' life
//! (shown once, stored hashed, revoked, expired), and secrets that appear
//! nowhere but the app they are for.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::databases::{BACKENDS, Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG};

/// The role matrix: operation → the roles that may call it
/// (S super admin, A app admin, G group admin, R read-only). Every operation
/// in the OpenAPI document must be here, and nothing else: a new route is
/// not reachable by anyone until someone decides who may call it.
const MATRIX: &[(&str, &str)] = &[
    ("createUser", "S"),
    ("listUsers", "SAGR"),
    ("getUser", "SAGR"),
    ("listUserGroups", "SAGR"),
    ("listUserApps", "SAGR"),
    ("updateUser", "SG"),
    ("replaceUser", "SG"),
    ("deleteUser", "SG"),
    ("userLifecycle", "SG"),
    ("bulkUserLifecycle", "SG"),
    ("createGroup", "S"),
    ("listGroups", "SAGR"),
    ("getGroup", "SAGR"),
    ("updateGroup", "S"),
    ("deleteGroup", "S"),
    ("listGroupMembers", "SAGR"),
    ("addGroupMember", "SG"),
    ("removeGroupMember", "SG"),
    ("listPlans", "SAGR"),
    ("getPlan", "SAGR"),
    ("approvePlan", "SA"),
    ("rejectPlan", "SA"),
    ("getWork", "SAGR"),
    ("createApp", "SA"),
    ("listApps", "SAGR"),
    ("getApp", "SAGR"),
    ("updateApp", "SA"),
    ("deleteApp", "SA"),
    ("checkApp", "SA"),
    ("appLifecycle", "SA"),
    ("getMappings", "SAGR"),
    ("setMappings", "SA"),
    ("previewMapping", "SA"),
    ("setPolicy", "SA"),
    ("listAppUsers", "SAR"),
    ("assignUserToApp", "SA"),
    ("unassignUserFromApp", "SA"),
    ("listAppGroups", "SAGR"),
    ("assignGroupToApp", "SAG"),
    ("unassignGroupFromApp", "SAG"),
    ("listAppAccounts", "SAR"),
    ("getAppAccount", "SAR"),
    ("listAppErrors", "SAR"),
    ("retryAppErrors", "SA"),
    ("retryAppError", "SA"),
    ("resolveAppAccount", "SA"),
    ("checkAppConsistency", "SAR"),
    ("listAdmins", "S"),
    ("createAdmin", "S"),
    ("getAdmin", "S"),
    ("updateAdmin", "S"),
    ("deactivateAdmin", "S"),
    ("deleteAdmin", "S"),
    ("listAdminTokens", "S"),
    ("createAdminToken", "S"),
    ("revokeAdminToken", "S"),
    ("getMe", "SAGR"),
    ("listMyTokens", "SAGR"),
    ("createMyToken", "SAGR"),
    ("revokeMyToken", "SAGR"),
    ("listConnectors", "SAGR"),
    ("installConnector", "SA"),
    ("describeConnector", "SAGR"),
    ("removeConnector", "SA"),
    ("setAppConnector", "SA"),
    ("rollBackAppConnector", "SA"),
    ("listHooks", "SR"),
    ("createHook", "S"),
    ("getHook", "SR"),
    ("deleteHook", "S"),
    ("listHookDeliveries", "SR"),
    ("listTasks", "SAR"),
    ("getTask", "SAR"),
    ("completeTask", "SA"),
    ("getMetrics", "SAR"),
    ("listNodes", "SAR"),
    ("listLogEvents", "SAR"),
    ("exportLogEvents", "SAR"),
];

const ROLES: [(char, &str); 4] = [('S', "super-admin"), ('A', "app-admin"), ('G', "group-admin"), ('R', "read-only")];

struct Fixture {
    user: String,
    other_user: String,
    group: String,
    other_group: String,
    app: String,
    spare_admin: String,
    tokens: BTreeMap<char, String>,
}

/// Two users in two groups, an app, and one admin of each role; the group
/// admin is given the first group only.
async fn fixture(p: &Provisio) -> Fixture {
    let user = p.create_user("in.scope@example.com", "In", "Scope").await;
    let other_user = p.create_user("out.of.scope@example.com", "Out", "Scope").await;
    let group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Managed" } }))).await["id"]
        .as_str()
        .expect("group id")
        .to_string();
    let other_group = p.ok("POST", "/groups", Some(json!({ "profile": { "name": "Elsewhere" } }))).await["id"]
        .as_str()
        .expect("group id")
        .to_string();
    p.ok("PUT", &format!("/groups/{group}/users/{user}"), None).await;
    p.ok("PUT", &format!("/groups/{other_group}/users/{other_user}"), None).await;
    // Nothing listens on port 9: the app is only a thing to point at.
    let app = p.create_scim_app("Matrix", "http://127.0.0.1:9", "matrix-app-token").await;
    let spare_admin = p.ok("POST", "/admins", Some(json!({ "login": "spare", "role": "read-only" }))).await["id"]
        .as_str()
        .expect("admin id")
        .to_string();
    let mut tokens = BTreeMap::new();
    for (letter, role) in ROLES {
        let groups: &[&str] = if letter == 'G' { &[group.as_str()] } else { &[] };
        let (_, token) = p.admin_with_token(&format!("{role}@example.com"), role, groups).await;
        tokens.insert(letter, token);
    }
    Fixture { user, other_user, group, other_group, app, spare_admin, tokens }
}

/// A concrete path (from the server's root) for an OpenAPI path template, with the fixture's ids
/// (in scope for the group admin) and ids that do not exist where a real
/// one would change something for good.
fn concrete(template: &str, f: &Fixture) -> String {
    let path = template;
    let resource = path.strip_prefix("/api/v1").unwrap_or(path).split('/').nth(1).unwrap_or_default();
    let id = match resource {
        "users" => f.user.as_str(),
        "groups" => f.group.as_str(),
        "apps" => f.app.as_str(),
        "admins" => f.spare_admin.as_str(),
        _ => "no-such-id",
    };
    path.replace("{id}", id)
        .replace("{user_id}", &f.user)
        .replace("{group_id}", &f.group)
        .replace("{token_id}", "no-such-token")
        .replace("{action}", "no-such-action")
        .replace("{name}", "scim")
        .replace("{version}", "9.9.9")
}

#[tokio::test]
async fn every_route_is_refused_without_a_token_and_answers_each_role_as_the_matrix_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let f = fixture(&p).await;

    // The document is public (it holds no data) and names each
    // operation's permission as its security scope.
    let (status, doc) = p.get_text(None, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Json = serde_json::from_str(&doc).expect("the OpenAPI document is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let matrix: BTreeMap<&str, &str> = MATRIX.iter().copied().collect();
    let mut seen = Vec::new();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let op_id = op["operationId"].as_str().expect("every operation has an id");
            seen.push(op_id.to_string());
            let allowed =
                matrix.get(op_id).unwrap_or_else(|| panic!("{op_id} ({method} {template}) is not in the matrix"));
            let scopes = &op["security"][0]["apiToken"];
            assert_eq!(scopes.as_array().map(Vec::len), Some(1), "{op_id} declares one permission: {scopes}");
            let path = concrete(template, &f);
            // Deleting an admin cannot be previewed: aim it at no one.
            let path = if op_id == "deleteAdmin" { path.replace(&f.spare_admin, "no-such-id") } else { path };
            let takes_preview = op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == "preview");
            let path = if takes_preview { format!("{path}?preview=true") } else { path };
            // A body the server must refuse (unknown field), so that an
            // allowed call changes nothing either.
            let body = op.get("requestBody").map(|_| json!({ "notAField": true }));
            let method = method.to_uppercase();

            for token in [None, Some("pvs_not-a-real-token"), Some("not-even-shaped-like-one")] {
                let (status, answer) = p.call_absolute(token, &method, &path, body.clone()).await;
                assert_eq!(
                    (status, answer["errorCode"].as_str()),
                    (401, Some("unauthenticated")),
                    "{method} {path} with {token:?}"
                );
            }
            for (letter, role) in ROLES {
                let (status, answer) = p.call_absolute(Some(&f.tokens[&letter]), &method, &path, body.clone()).await;
                if allowed.contains(letter) {
                    assert!(
                        status != 401 && status != 403 && status < 500,
                        "{role} may call {op_id} ({method} {path}) but got {status} {answer}"
                    );
                } else {
                    assert_eq!(
                        (status, answer["errorCode"].as_str()),
                        (403, Some("forbidden")),
                        "{role} may not call {op_id} ({method} {path}): {answer}"
                    );
                    assert!(answer["errorSummary"].as_str().is_some_and(|s| s.contains(role)), "{answer}");
                }
                checked += 1;
            }
        }
    }
    let mut expected: Vec<String> = MATRIX.iter().map(|(op, _)| op.to_string()).collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected, "the document's operations are exactly the matrix's");
    assert!(checked >= 4 * MATRIX.len());

    // The refused calls changed nothing: the other user is still active
    // and in their group, and the spare admin kept their role.
    assert_eq!(p.ok("GET", &format!("/users/{}", f.other_user), None).await["status"], "ACTIVE");
    let members = p.ok("GET", &format!("/groups/{}/users", f.other_group), None).await;
    assert_eq!(members.as_array().map(Vec::len), Some(1));
    assert_eq!(p.ok("GET", &format!("/admins/{}", f.spare_admin), None).await["role"], "read-only");
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn a_group_admin_reaches_only_the_users_and_groups_given_to_them() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
        let f = fixture(&p).await;
        let g = Some(f.tokens[&'G'].as_str());
        let (user, other_user, group, other_group, app) = (&f.user, &f.other_user, &f.group, &f.other_group, &f.app);

        // Reads: their own user and group; the others do not exist for them.
        let (status, users) = p.call_as(g, "GET", "/users", None).await;
        assert_eq!(status, 200);
        let ids: Vec<&str> = users.as_array().expect("users").iter().filter_map(|u| u["id"].as_str()).collect();
        assert_eq!(ids, vec![user.as_str()], "{backend:?}");
        let (_, groups) = p.call_as(g, "GET", "/groups", None).await;
        let ids: Vec<&str> = groups.as_array().expect("groups").iter().filter_map(|g| g["id"].as_str()).collect();
        assert_eq!(ids, vec![group.as_str()]);
        assert_eq!(p.call_as(g, "GET", &format!("/users/{user}"), None).await.0, 200);
        for path in
            [format!("/users/{other_user}"), format!("/groups/{other_group}"), format!("/groups/{other_group}/users")]
        {
            let (status, answer) = p.call_as(g, "GET", &path, None).await;
            assert_eq!((status, answer["errorCode"].as_str()), (404, Some("not-found")), "{path}: {answer}");
        }

        // Changes outside their groups are refused, and nothing changes.
        let refused = [
            ("POST", format!("/users/{other_user}/lifecycle/suspend"), None),
            ("POST", format!("/users/{other_user}"), Some(json!({ "profile": { "title": "Changed" } }))),
            ("POST", "/bulk/users/lifecycle/suspend".to_string(), Some(json!({ "userIds": [user, other_user] }))),
            ("PUT", format!("/groups/{other_group}/users/{user}"), None),
            ("PUT", format!("/groups/{group}/users/{other_user}"), None),
            ("DELETE", format!("/groups/{other_group}/users/{other_user}"), None),
            ("PUT", format!("/apps/{app}/groups/{other_group}"), None),
            ("PUT", format!("/apps/{app}/users/{user}"), None),
            ("POST", "/users".to_string(), Some(json!({ "profile": { "login": "new@example.com" } }))),
            ("POST", "/groups".to_string(), Some(json!({ "profile": { "name": "Mine now" } }))),
            ("GET", "/logs".to_string(), None),
        ];
        for (method, path, body) in refused {
            let (status, answer) = p.call_as(g, method, &path, body).await;
            assert!(
                matches!(status, 403 | 404) && answer["errorSummary"].as_str().is_some_and(|s| !s.is_empty()),
                "{backend:?} {method} {path}: {status} {answer}"
            );
        }
        for id in [user, other_user] {
            let u = p.ok("GET", &format!("/users/{id}"), None).await;
            assert_eq!((u["status"].as_str(), u["profile"]["title"].as_str()), (Some("ACTIVE"), Some("Engineer")));
        }
        assert_eq!(p.ok("GET", &format!("/groups/{group}/users"), None).await.as_array().map(Vec::len), Some(1));
        assert_eq!(p.ok("GET", &format!("/apps/{app}/groups"), None).await.as_array().map(Vec::len), Some(0));
        assert_eq!(p.ok("GET", "/groups", None).await.as_array().map(Vec::len), Some(2));

        // Inside their groups they manage: a profile, a lifecycle, the
        // group's assignment to an app. The log names them.
        let (status, answer) =
            p.call_as(g, "POST", &format!("/users/{user}"), Some(json!({ "profile": { "title": "Lead" } }))).await;
        assert_eq!((status, answer["profile"]["title"].as_str()), (200, Some("Lead")), "{answer}");
        let (status, answer) = p.call_as(g, "POST", &format!("/users/{user}/lifecycle/suspend"), None).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("SUSPENDED")), "{answer}");
        let (status, answer) = p.call_as(g, "PUT", &format!("/apps/{app}/groups/{group}"), None).await;
        assert_eq!(status, 200, "{answer}");
        let events = p.ok("GET", "/logs?actor=group-admin@example.com", None).await;
        let types: Vec<&str> =
            events.as_array().expect("events").iter().filter_map(|e| e["eventType"].as_str()).collect();
        assert!(types.len() >= 3, "{backend:?}: the group admin's changes are in the log: {types:?}");
        drop(p);
        db.drop().await;
    }
}

#[tokio::test]
async fn a_token_is_shown_once_stored_hashed_and_stops_working_when_revoked_expired_or_its_admin_is_deactivated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let (admin, token) = p.admin_with_token("ops@example.com", "read-only", &[]).await;
    assert!(token.starts_with("pvs_") && token.len() > 40, "{token}");
    let t = Some(token.as_str());
    let (status, me) = p.call_as(t, "GET", "/admins/me", None).await;
    assert_eq!((status, me["login"].as_str(), me["role"].as_str()), (200, Some("ops@example.com"), Some("read-only")));

    // A second token of their own; listing shows neither value.
    let (status, second) = p.call_as(t, "POST", "/admins/me/tokens", Some(json!({ "name": "laptop" }))).await;
    assert_eq!(status, 201, "{second}");
    let second_value = second["token"].as_str().expect("shown once").to_string();
    let (_, listed) = p.call_as(t, "GET", "/admins/me/tokens", None).await;
    let listed_text = listed.to_string();
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert!(!listed_text.contains(&token) && !listed_text.contains(&second_value), "{listed_text}");
    assert!(listed.as_array().expect("tokens").iter().all(|t| t.get("token").is_none()));
    // Only hashes are stored.
    let database = std::fs::read(dir.path().join("provisio.db")).unwrap_or_default();
    let wal = std::fs::read(dir.path().join("provisio.db-wal")).unwrap_or_default();
    for bytes in [&database, &wal] {
        assert!(!contains(bytes, token.as_bytes()) && !contains(bytes, second_value.as_bytes()));
    }

    // Revoked: refused at once.
    let second_id = second["id"].as_str().expect("id");
    let (status, _) = p.call_as(t, "DELETE", &format!("/admins/me/tokens/{second_id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(p.call_as(Some(&second_value), "GET", "/users", None).await.0, 401);
    assert_eq!(p.call_as(t, "GET", "/users", None).await.0, 200, "the other token still works");

    // Expired: refused once its time has passed; a past expiry is refused.
    let soon = humantime::format_rfc3339(std::time::SystemTime::now() + Duration::from_secs(2)).to_string();
    let expiring =
        p.ok("POST", &format!("/admins/{admin}/tokens"), Some(json!({ "name": "brief", "expiresAt": soon }))).await;
    let expiring = expiring["token"].as_str().expect("token").to_string();
    assert_eq!(p.call_as(Some(&expiring), "GET", "/users", None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(p.call_as(Some(&expiring), "GET", "/users", None).await.0, 401);
    let (status, answer) = p
        .call(
            "POST",
            &format!("/admins/{admin}/tokens"),
            Some(json!({ "name": "old", "expiresAt": "2001-01-01T00:00:00Z" })),
        )
        .await;
    assert_eq!((status, answer["errorCode"].as_str()), (400, Some("invalid")), "{answer}");

    // A deactivated admin's tokens all stop.
    p.ok("POST", &format!("/admins/{admin}/lifecycle/deactivate"), None).await;
    assert_eq!(p.call_as(t, "GET", "/users", None).await.0, 401);
    let (status, answer) = p.call("POST", &format!("/admins/{admin}/tokens"), Some(json!({ "name": "again" }))).await;
    assert_eq!((status, answer["errorCode"].as_str()), (409, Some("conflict")), "{answer}");

    // Bad input: an unknown role, unknown fields, groups for a non-group admin.
    for bad in [
        json!({ "login": "x@example.com", "role": "root" }),
        json!({ "login": "x@example.com", "role": "read-only", "extra": 1 }),
        json!({ "login": "x@example.com", "role": "app-admin", "groups": ["g"] }),
        json!({ "login": "", "role": "read-only" }),
    ] {
        let (status, answer) = p.call("POST", "/admins", Some(bad.clone())).await;
        assert_eq!((status, answer["errorCode"].as_str()), (400, Some("invalid")), "{bad}: {answer}");
    }
    assert_eq!(p.ok("GET", "/admins", None).await.as_array().map(Vec::len), Some(1), "nothing was written");

    // Every one of these changes is in the system log, in order, with its
    // actor; the export gives the same events as CSV.
    let events = p.ok("GET", "/logs?targetType=token&limit=2", None).await;
    assert_eq!(events.as_array().map(Vec::len), Some(2));
    let (status, csv) =
        p.get_text(Some("test-admin-token-0123456789"), "/api/v1/logs/export?format=csv&eventType=token.create").await;
    assert_eq!(status, 200);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.first().copied(), Some("seq,uuid,published,actor,eventType,targetType,targetId,outcome,details"));
    assert_eq!(rows.len(), 1 + 3, "three tokens were made: {csv}");
    assert!(rows[2].contains(",ops@example.com,token.create,token,"), "{csv}");
    drop(p);
    db.drop().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn an_apps_secret_is_in_no_database_file_log_or_answer() {
    const SECRET: &str = "s3cr3t-bearer-Vq8xZ2-never-shown";
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start_with_log(dir.path(), &db.url, TEST_CONFIG, "debug").await;
    let app = p.create_scim_app("Sealed", "http://127.0.0.1:9", SECRET).await;
    let user = p.create_user("sealed@example.com", "Seal", "Ed").await;
    // The connector uses the secret (and fails: nothing listens there), so
    // errors and the call log have their chance to leak it too.
    p.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
    p.ok("POST", &format!("/apps/{app}/check"), None).await;
    // A refused app whose credentials carry the secret: the error names
    // the problem, not the value.
    let bad = json!({
        "name": "Refused", "connector": "scim@0.1.0",
        "settings": { "base_url": "http://127.0.0.1:9/v2" },
        "credentials": { "api": { "scheme": "no-such-scheme", "token": SECRET } },
        "grants": ["http://127.0.0.1:9"]
    });
    let (status, refused) = p.call("POST", "/apps", Some(bad)).await;
    assert_eq!(status, 400, "{refused}");
    // Whatever the executor would log of the app, it has logged by then.
    p.wait_for_claims(2).await;

    let mut answers = vec![refused];
    for path in [
        "/apps".to_string(),
        format!("/apps/{app}"),
        format!("/apps/{app}/accounts"),
        format!("/apps/{app}/errors"),
        "/logs?limit=1000".to_string(),
    ] {
        answers.push(p.ok("GET", &path, None).await);
    }
    for answer in &answers {
        assert!(!answer.to_string().contains(SECRET), "an answer shows the secret: {answer}");
    }
    assert_eq!(answers[2]["hasCredentials"], true);
    for format in ["csv", "json"] {
        let (status, export) =
            p.get_text(Some("test-admin-token-0123456789"), &format!("/api/v1/logs/export?format={format}")).await;
        assert_eq!(status, 200);
        assert!(export.contains("app.create") && !export.contains(SECRET));
    }
    drop(p);
    let files = ["provisio.db", "provisio.db-wal", "provisio.db-shm", "provisio.log"];
    for name in files {
        let bytes = std::fs::read(dir.path().join(name)).unwrap_or_default();
        assert!(!contains(&bytes, SECRET.as_bytes()), "{name} holds the secret in the clear");
    }
    let log = std::fs::read_to_string(dir.path().join("provisio.log")).unwrap_or_default();
    assert!(log.contains("DEBUG"), "the server logged at debug level, so a leak would show");
    db.drop().await;
}
