//! The management API's contract: authentication, coded errors for bad
//! input with nothing changed, previews, connection checks, mapping
//! previews, provisioning errors and their retry, quarantine and resume.

use std::time::Duration;

use serde_json::json;

use crate::databases::{Backend, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG};
use crate::support::{Fault, RecordingProxy, Scim2Server};

#[tokio::test]
async fn every_endpoint_needs_the_token_and_bad_input_gets_a_coded_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;

    // No token, a wrong token: 401, coded.
    let client = reqwest::Client::new();
    let r = client.get(format!("{}/api/v1/users", p.base)).send().await.expect("answer");
    assert_eq!(r.status().as_u16(), 401);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["errorCode"], "unauthenticated");
    let r = client
        .get(format!("{}/api/v1/users", p.base))
        .header("Authorization", "SSWS not-the-token")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status().as_u16(), 401);
    let health = client.get(format!("{}/healthz", p.base)).send().await.expect("answer");
    assert_eq!(health.status().as_u16(), 200, "health needs no token");

    // Unknown fields, wrong types, missing login: 400 invalid, nothing written.
    for bad in [
        json!({ "profile": { "login": "a@example.com" }, "extra": true }),
        json!({ "profile": { "login": 42 } }),
        json!({ "profile": { "email": "a@example.com" } }),
        json!({ "profile": { "login": "a@example.com", "firstName": ["Ada"] } }),
        json!({ "profile": { "login": " padded@example.com" } }),
    ] {
        let (status, answer) = p.call("POST", "/users", Some(bad.clone())).await;
        assert_eq!((status, answer["errorCode"].as_str()), (400, Some("invalid")), "{bad} → {answer}");
        assert!(answer["errorSummary"].as_str().is_some_and(|s| !s.is_empty()));
    }
    assert_eq!(p.ok("GET", "/users", None).await.as_array().map(Vec::len), Some(0), "nothing was written");

    // A preview of a create writes nothing either.
    let preview = p.ok("POST", "/users?preview=true", Some(json!({ "profile": { "login": "p@example.com" } }))).await;
    assert_eq!(preview["preview"], true);
    assert_eq!(p.ok("GET", "/users", None).await.as_array().map(Vec::len), Some(0));

    // Illegal transitions; a duplicate login; unknown ids and endpoints.
    let staged = p.ok("POST", "/users?activate=false", Some(json!({ "profile": { "login": "s@example.com" } }))).await;
    assert_eq!(staged["status"], "STAGED");
    let id = staged["id"].as_str().expect("id");
    let (status, answer) = p.call("POST", &format!("/users/{id}/lifecycle/suspend"), None).await;
    assert_eq!((status, answer["errorCode"].as_str()), (400, Some("illegal-transition")), "{answer}");
    let (status, answer) = p.call("DELETE", &format!("/users/{id}"), None).await;
    assert_eq!((status, answer["errorCode"].as_str()), (400, Some("illegal-transition")), "{answer}");
    let (status, answer) = p.call("POST", "/users", Some(json!({ "profile": { "login": "S@example.com" } }))).await;
    assert_eq!((status, answer["errorCode"].as_str()), (409, Some("conflict")), "{answer}");
    let (status, _) = p.call("GET", "/users/no-such-user", None).await;
    assert_eq!(status, 404);
    let (status, answer) = p.call("GET", "/nothing-here", None).await;
    assert_eq!((status, answer["errorCode"].as_str()), (404, Some("not-found")));

    // Apps: a connector that is not installed, settings that do not fit,
    // mappings that do not compile.
    let app = |connector: &str, settings: serde_json::Value, mappings: serde_json::Value| json!({ "name": "X", "connector": connector, "settings": settings, "mappings": mappings });
    for (bad, needle) in [
        (app("nope@1.0.0", json!({}), json!({})), "not installed"),
        (app("scim@0.1.0", json!({}), json!({})), "base_url"),
        (
            app(
                "scim@0.1.0",
                json!({ "base_url": "https://x.example/v2" }),
                json!({ "attributes": { "title": "user.title +" } }),
            ),
            "title",
        ),
    ] {
        let (status, answer) = p.call("POST", "/apps", Some(bad)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["errorSummary"].as_str().unwrap_or_default().contains(needle), "{answer}");
    }
    assert_eq!(p.ok("GET", "/apps", None).await.as_array().map(Vec::len), Some(0));

    // What `apps check` would find at the first call is refused at create,
    // in the same words: no credential, no grant for the base URL.
    let scim = |credentials: serde_json::Value, grants: serde_json::Value| {
        json!({ "name": "S", "connector": "scim@0.1.0", "settings": { "base_url": "http://127.0.0.1:9/v2" },
                "credentials": credentials, "grants": grants })
    };
    let bearer = json!({ "api": { "scheme": "bearer", "token": "t" } });
    for (bad, needle) in [
        (
            scim(json!({}), json!(["http://127.0.0.1:9"])),
            "credential \"api\" is declared by the connector but not configured",
        ),
        (scim(bearer.clone(), json!([])), "not granted by the operator for this app (granted: none)"),
        (scim(bearer.clone(), json!(["http://localhost:9"])), "localhost, 127.0.0.1 and [::1] are different origins"),
    ] {
        let (status, answer) = p.call("POST", "/apps", Some(bad)).await;
        assert_eq!((status, answer["errorCode"].as_str()), (400, Some("invalid")), "{answer}");
        assert!(answer["errorSummary"].as_str().unwrap_or_default().contains(needle), "{needle}: {answer}");
    }
    assert_eq!(p.ok("GET", "/apps", None).await.as_array().map(Vec::len), Some(0));
    // The app shows where its credential goes.
    let app = p.ok("POST", "/apps", Some(scim(bearer, json!(["http://127.0.0.1:9"])))).await;
    assert_eq!(app["credentialOrigins"], json!({ "api": ["http://127.0.0.1:9"] }), "{app}");
    drop(p);
    db.drop().await;
}

/// Runs `provisio wait` against `p`: whether it succeeded, and its stderr.
fn provisio_wait(p: &Provisio) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provisio-under-test"))
        .args(["wait", "--timeout-secs", "60", "--url", &p.base])
        .env("PROVISIO_TOKEN", crate::server::TOKEN)
        .output()
        .expect("provisio wait");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn failures_become_errors_an_admin_retries_and_a_failing_app_is_quarantined() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let config = format!("{TEST_CONFIG}quarantine_after = 5\n");
    let p = Provisio::start(dir.path(), &db.url, &config).await;
    let scim = Scim2Server::start().await;
    let proxy = RecordingProxy::start(&scim.origin()).await;
    let app = p.create_scim_app("Picky", &proxy.origin(), &scim.token).await;
    assert_eq!(p.ok("POST", &format!("/apps/{app}/check"), None).await["ok"], true, "the connection works");
    let user = p.create_user("ada@example.com", "Ada", "Lovelace").await;
    let image = p.ok("POST", &format!("/apps/{app}/mappings/preview"), Some(json!({ "userId": user }))).await;
    assert_eq!(image["attributes"]["displayName"], "Ada Lovelace", "{image}");

    // The app refuses the create (400): a provisioning error, not retried.
    proxy.set_faults(|method, _| if method == "POST" { Fault::Status(400) } else { Fault::Pass });
    p.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
    let mut errors = serde_json::Value::Null;
    for _ in 0..100 {
        errors = p.ok("GET", &format!("/apps/{app}/errors"), None).await;
        if errors.as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(errors[0]["userId"], user.as_str(), "{errors}");
    assert!(errors[0]["next_attempt_at"].is_null(), "waits for an admin: {errors}");
    let account = p.ok("GET", &format!("/apps/{app}/accounts/{user}"), None).await;
    assert_eq!(account["syncState"], "ERROR", "{account}");
    assert!(account["nextAttempt"].is_null(), "a refusal is not retried by itself: {account}");
    let posts = proxy.exchanges().iter().filter(|e| e.method == "POST").count();
    assert_eq!(posts, 1, "one create was sent");
    // `provisio wait` does not wait for what only an admin can move.
    let (ok, stderr) = provisio_wait(&p);
    assert!(!ok && stderr.contains("1 account changes wait for an admin"), "{stderr}");
    assert!(stderr.contains(&format!("app Picky ({app}): 1 accounts in ERROR")), "{stderr}");

    // Fixed on the app's side; the admin retries: it goes through.
    proxy.set_faults(|_, _| Fault::Pass);
    assert_eq!(p.ok("POST", &format!("/apps/{app}/errors/{user}/retry"), None).await["retried"], 1);
    p.wait_idle(Duration::from_secs(30)).await;
    assert_eq!(scim.total_users().await, 1);

    // An app that keeps failing (500s) is quarantined with the reason
    // shown, and nothing more is sent until an admin resumes it.
    proxy.set_faults(|_, _| Fault::Status(500));
    for i in 0..3 {
        let other = p.create_user(&format!("u{i}@example.com"), "U", &format!("{i}")).await;
        p.ok("PUT", &format!("/apps/{app}/users/{other}"), None).await;
    }
    let mut shown = serde_json::Value::Null;
    for _ in 0..200 {
        shown = p.ok("GET", &format!("/apps/{app}"), None).await;
        if shown["status"] == "QUARANTINED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(shown["status"], "QUARANTINED", "{shown}");
    assert!(shown["quarantineReason"].as_str().is_some_and(|r| r.contains("500")), "{shown}");
    let sent = proxy.exchanges().len();
    p.wait_for_claims(3).await;
    assert_eq!(proxy.exchanges().len(), sent, "a quarantined app gets no calls");
    let (ok, stderr) = provisio_wait(&p);
    assert!(!ok && stderr.contains("is quarantined (") && stderr.contains("apps resume"), "{stderr}");

    // A user cannot be purged while their deactivation is still to be sent.
    p.ok("POST", &format!("/users/{user}/lifecycle/deactivate"), None).await;
    let (status, answer) = p.call("DELETE", &format!("/users/{user}"), None).await;
    assert_eq!((status, answer["errorCode"].as_str()), (409, Some("conflict")), "{answer}");

    proxy.set_faults(|_, _| Fault::Pass);
    p.ok("POST", &format!("/apps/{app}/lifecycle/activate"), None).await;
    p.wait_idle(Duration::from_secs(60)).await;
    assert_eq!(scim.total_users().await, 4, "resumed: everything converged");
    assert_eq!(scim.users_by_name().await["ada@example.com"]["active"], false);
    let (status, answer) = p.call("DELETE", &format!("/users/{user}"), None).await;
    assert_eq!(status, 204, "deprovisioned everywhere: purged: {answer}");
    drop(p);
    db.drop().await;
}

/// A node whose key cannot open the app's credentials (a second node given
/// the wrong `PROVISIO_SECRET_KEY`) fails every call before it is sent. That
/// is Provisio's fault, not the app's: the error says so, the calls are
/// retried, and the app is not quarantined for it.
#[tokio::test]
async fn a_fault_of_provisio_itself_is_retried_blames_provisio_and_never_quarantines_the_app() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let config = format!("{TEST_CONFIG}quarantine_after = 2\n");
    let scim = Scim2Server::start().await;
    let proxy = RecordingProxy::start(&scim.origin()).await;
    let mut first = Provisio::start(dir.path(), &db.url, &config).await;
    let app = first.create_scim_app("Sealed", &proxy.origin(), &scim.token).await;
    first.kill();
    proxy.clear();

    let other_key = tempfile::tempdir().expect("tempdir");
    let wrong = Provisio::start(other_key.path(), &db.url, &config).await;
    let mut users = Vec::new();
    for i in 0..3 {
        let user = wrong.create_user(&format!("k{i}@example.com"), "K", &format!("{i}")).await;
        wrong.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
        users.push(user);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (accounts, status) = loop {
        let accounts = wrong.accounts(&app).await;
        let status = wrong.ok("GET", &format!("/apps/{app}"), None).await["status"].clone();
        let retried = accounts.iter().filter(|a| a["attempts"].as_i64() >= Some(2)).count();
        if retried == users.len() || status == "QUARANTINED" {
            break (accounts, status);
        }
        assert!(std::time::Instant::now() < deadline, "no retries: {accounts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, "ACTIVE", "six failed calls, none of them the app's fault: {accounts:?}");
    for account in &accounts {
        assert_eq!(account["syncState"], "RETRYING", "{account}");
        let error = account["lastError"].as_str().unwrap_or_default();
        assert!(error.starts_with("Provisio failed, not the app or its connector"), "{error}");
        assert!(!account["nextAttempt"].is_null(), "{account}");
    }
    assert!(proxy.exchanges().is_empty(), "nothing reached the app");
    drop(wrong);

    // The node with the right key takes over: every account is created.
    first.restart().await;
    first.wait_idle(Duration::from_secs(60)).await;
    assert_eq!(scim.total_users().await, 3);
    drop(first);
    db.drop().await;
}

#[tokio::test]
async fn users_are_found_by_a_prefix_and_by_filters_on_both_backends() {
    for backend in crate::databases::BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
        let people = [
            ("ada@example.com", "Ada", "Lovelace", "Engineering", true, 7),
            ("grace@example.com", "Grace", "Hopper", "Engineering", false, 9),
            ("alan@example.com", "Alan", "Turing", "Research and Development", true, 7),
        ];
        for (login, first, last, department, active, level) in people {
            let body = json!({ "profile": {
                "login": login, "email": login, "firstName": first, "lastName": last, "department": department,
                "level": level, "isContractor": !active
            }});
            p.ok("POST", &format!("/users?activate={active}"), Some(body)).await;
        }
        let logins = |users: serde_json::Value| -> Vec<String> {
            let mut l: Vec<String> = users
                .as_array()
                .expect("users")
                .iter()
                .filter_map(|u| u["profile"]["login"].as_str().map(str::to_string))
                .collect();
            l.sort();
            l
        };
        let find = |query: &str| format!("/users?{query}");
        assert_eq!(
            logins(p.ok("GET", &find("q=a"), None).await),
            ["ada@example.com", "alan@example.com"],
            "{backend:?}"
        );
        assert_eq!(logins(p.ok("GET", &find("q=HOP"), None).await), ["grace@example.com"], "by last name, any case");
        assert_eq!(
            logins(p.ok("GET", &find("q=100%25"), None).await),
            Vec::<String>::new(),
            "% is a character, not a wildcard"
        );
        // The login is not stored in the profile, yet found as part of it.
        let by_login = find("filter=profile.login%20eq%20%22GRACE%40example.com%22");
        assert_eq!(logins(p.ok("GET", &by_login, None).await), ["grace@example.com"], "{backend:?}");
        let login_prefix = find("filter=profile.login%20sw%20%22al%22");
        assert_eq!(logins(p.ok("GET", &login_prefix, None).await), ["alan@example.com"], "{backend:?}");
        let staged = find("filter=status%20eq%20%22STAGED%22");
        assert_eq!(logins(p.ok("GET", &staged, None).await), ["grace@example.com"]);
        let eng_active = find("filter=profile.department%20eq%20%22Engineering%22%20and%20status%20eq%20%22ACTIVE%22");
        assert_eq!(logins(p.ok("GET", &eng_active, None).await), ["ada@example.com"]);
        let research = find("filter=profile.department%20sw%20%22Res%22");
        assert_eq!(logins(p.ok("GET", &research, None).await), ["alan@example.com"]);
        // The same answers on both backends: `sw` ignores case, numbers and
        // booleans compare as they are written, and an "and" inside a quoted
        // value is part of it.
        let any_case = find("filter=profile.department%20sw%20%22rESEARCH%22");
        assert_eq!(logins(p.ok("GET", &any_case, None).await), ["alan@example.com"], "{backend:?}: sw ignores case");
        let level = find("filter=profile.level%20eq%20%227%22");
        assert_eq!(logins(p.ok("GET", &level, None).await), ["ada@example.com", "alan@example.com"], "{backend:?}");
        let contractor = find("filter=profile.isContractor%20eq%20%22true%22");
        assert_eq!(logins(p.ok("GET", &contractor, None).await), ["grace@example.com"], "{backend:?}");
        let with_and = find("filter=profile.department%20eq%20%22Research%20and%20Development%22");
        assert_eq!(logins(p.ok("GET", &with_and, None).await), ["alan@example.com"], "{backend:?}");
        let recent = find("filter=lastUpdated%20gt%20%222001-01-01T00:00:00Z%22&limit=2");
        assert_eq!(p.ok("GET", &recent, None).await.as_array().map(Vec::len), Some(2), "paged");
        for bad in
            ["filter=status%20eq%20ACTIVE", "filter=password%20eq%20%22x%22", "filter=profile.a%3Bb%20eq%20%22x%22"]
        {
            let (status, answer) = p.call("GET", &find(bad), None).await;
            assert_eq!((status, answer["errorCode"].as_str()), (400, Some("invalid")), "{bad}: {answer}");
        }
        drop(p);
        db.drop().await;
    }
}

/// The consistency check recomputes every account's desire from the
/// directory: in step after ordinary changes; an account whose stored
/// desire the directory does not imply (written behind Provisio's back
/// here, as a lost race or a bug would) is reported, by the API and by
/// `provisio check consistency`, which then fails.
#[tokio::test]
async fn the_consistency_check_reports_an_account_whose_stored_desire_the_directory_does_not_imply() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    // Nothing listens on port 9: this is about desired state only.
    let app = p.create_scim_app("Checked", "http://127.0.0.1:9", "token").await;
    let (ada, alan) =
        (p.create_user("ada@example.com", "Ada", "L").await, p.create_user("alan@example.com", "Alan", "T").await);
    for user in [&ada, &alan] {
        p.ok("PUT", &format!("/apps/{app}/users/{user}"), None).await;
    }
    p.ok("POST", &format!("/users/{alan}/lifecycle/deactivate"), None).await;
    let checked = p.ok("GET", &format!("/apps/{app}/consistency"), None).await;
    assert_eq!(
        (checked["accounts"].as_u64(), checked["drift"].as_array().map(Vec::len)),
        (Some(2), Some(0)),
        "{checked}"
    );

    let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("sqlite");
    sqlx::query("UPDATE app_accounts SET desired_state = 'inactive' WHERE user_id = ?")
        .bind(&ada)
        .execute(&mut conn)
        .await
        .expect("tamper");
    drop(conn);
    let checked = p.ok("GET", &format!("/apps/{app}/consistency"), None).await;
    let drift = checked["drift"].as_array().expect("drift");
    assert_eq!(drift.len(), 1, "{checked}");
    assert_eq!(
        (drift[0]["userId"].as_str(), drift[0]["stored"].as_str(), drift[0]["implied"].as_str()),
        (Some(ada.as_str()), Some("INACTIVE"), Some("ACTIVE"))
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provisio-under-test"))
        .args(["check", "consistency", "--url", &p.base])
        .env("PROVISIO_TOKEN", "test-admin-token-0123456789")
        .output()
        .expect("provisio check consistency");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a drift fails the check: {stdout} {stderr}");
    assert!(stdout.contains(&ada) && stderr.contains("1 of 2 accounts differ"), "{stdout} {stderr}");
    drop(p);
    db.drop().await;
}

/// `provisio users import` reports every refused row by its line and goes
/// on, skips logins that exist (so a run can be repeated), and checks
/// without creating under `--dry-run`.
#[tokio::test]
async fn a_csv_import_reports_every_bad_row_by_line_skips_existing_logins_and_can_be_dry_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    p.create_user("exists@example.com", "Ex", "Ists").await;
    let csv = dir.path().join("people.csv");
    let mut rows = String::from("login,firstName,lastName\n");
    for i in 0..20 {
        rows.push_str(&format!("u{i}@example.com,U,{i}\n"));
        if i == 4 {
            rows.push_str("bad\u{200b}@example.com,Zero,Width\n"); // line 7
        }
        if i == 9 {
            rows.push_str("exists@example.com,Ex,Ists\n"); // line 13
            rows.push_str("\"quoted,\nacross lines\",A,B\n"); // lines 14-15
        }
    }
    rows.push_str("U3@example.com,Twice,Over\n"); // line 26
    std::fs::write(&csv, rows).expect("write csv");
    let import = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_provisio-under-test"))
            .args(["users", "import", &csv.display().to_string(), "--url", &p.base])
            .args(extra)
            .env("PROVISIO_TOKEN", crate::server::TOKEN)
            .output()
            .expect("provisio users import");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out.status.success(), report, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let lines = |report: &serde_json::Value, part: &str| -> Vec<u64> {
        report[part].as_array().into_iter().flatten().filter_map(|r| r["line"].as_u64()).collect()
    };
    let users = || async { p.ok("GET", "/users?limit=1000", None).await.as_array().map_or(0, Vec::len) };

    let (ok, dry, stderr) = import(&["--dry-run", "--json"]);
    assert!(!ok, "rejected rows fail the run: {stderr}");
    assert_eq!((dry["dryRun"].as_bool(), dry["created"].as_array().map(Vec::len)), (Some(true), Some(20)), "{dry}");
    assert_eq!(lines(&dry, "skipped"), vec![13], "{dry}");
    assert_eq!(lines(&dry, "rejected"), vec![7, 14, 26], "{dry}");
    assert_eq!(users().await, 1, "a dry run creates no one");

    let (ok, first, _) = import(&["--json"]);
    assert!(!ok);
    assert_eq!(first["created"].as_array().map(Vec::len), Some(20), "every good row, past the bad ones: {first}");
    assert_eq!(lines(&first, "rejected"), vec![7, 14, 26], "{first}");
    assert!(first["rejected"][0]["error"].as_str().is_some_and(|e| e.contains("U+200B")), "{first}");
    assert!(first["rejected"][2]["error"].as_str().is_some_and(|e| e.contains("also on line 5")), "{first}");
    assert_eq!(users().await, 21);

    // Again: nothing new, each existing login skipped, nothing rejected twice over.
    let (_, again, _) = import(&["--json"]);
    assert_eq!(again["created"].as_array().map(Vec::len), Some(0), "{again}");
    assert_eq!(lines(&again, "skipped").len(), 21, "{again}");
    let (_, _, stderr) = import(&[]);
    assert!(stderr.contains("people.csv line 7: login \"bad"), "{stderr}");
    assert_eq!(users().await, 21);
    drop(p);
    db.drop().await;
}
