//! Hostile or careless input is refused at the door with a coded 400, the
//! same on SQLite and PostgreSQL, and nothing it carried can break a search
//! afterwards.

use serde_json::json;

use crate::databases::{BACKENDS, TestDatabase};
use crate::server::{Provisio, TEST_CONFIG};

fn assert_invalid(what: &str, (status, answer): (u16, serde_json::Value), says: &str) {
    assert_eq!((status, answer["errorCode"].as_str()), (400, Some("invalid")), "{what}: {answer}");
    let summary = answer["errorSummary"].as_str().unwrap_or_default();
    assert!(summary.contains(says), "{what}: the error should say {says:?}: {summary}");
}

#[tokio::test]
async fn a_nul_a_key_twice_or_a_huge_filter_is_refused_the_same_on_both_backends() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
        let id = p.create_user("ada@example.com", "Ada", "Lovelace").await;

        // A NUL in a profile value, a login, a key; a group admin could
        // otherwise store one and break every search on PostgreSQL.
        for body in [
            json!({ "profile": { "login": "nul@example.com", "title": "a\u{0}b" } }),
            json!({ "profile": { "login": "nul\u{0}@example.com" } }),
            json!({ "profile": { "login": "nul@example.com", "ti\u{0}tle": "x" } }),
        ] {
            assert_invalid(&format!("{backend:?} {body}"), p.call("POST", "/users", Some(body.clone())).await, "NUL");
        }
        let patch = json!({ "profile": { "title": "\u{0}" } });
        assert_invalid("update", p.call("POST", &format!("/users/{id}"), Some(patch)).await, "NUL");

        // `%00` in an id or a query parameter.
        for path in ["/users/%00", "/users?q=a%00", "/users?filter=profile.login%20eq%20%22a%00%22", "/apps/%00/users"]
        {
            assert_invalid(&format!("{backend:?} {path}"), p.call("GET", path, None).await, "NUL");
        }

        // A key twice in one object: last-wins would hide what was meant.
        let twice = r#"{ "profile": { "login": "twice@example.com", "title": "A", "title": "B" } }"#;
        assert_invalid("a key twice", p.call_raw("POST", "/users", twice).await, "names \"title\" twice");

        // A filter far larger than any search: 400, not the backend's 503.
        let terms = vec!["status%20eq%20%22ACTIVE%22"; 1000].join("%20and%20");
        assert_invalid(
            "1,000 terms",
            p.call("GET", &format!("/users?filter={terms}"), None).await,
            "more than 50 terms",
        );

        // Nothing was written, and every search still answers.
        let users = p.ok("GET", "/users", None).await;
        assert_eq!(users.as_array().map(Vec::len), Some(1), "{backend:?}: {users}");
        let found = p.ok("GET", "/users?filter=profile.title%20eq%20%22Engineer%22", None).await;
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{backend:?}: {found}");
        drop(p);
        db.drop().await;
    }
}

#[tokio::test]
async fn a_method_an_endpoint_does_not_have_answers_405_naming_the_ones_it_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(crate::databases::Backend::Sqlite, dir.path()).await;
    let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
    let (status, answer) = p.call("PUT", "/users", Some(json!({}))).await;
    assert_eq!((status, answer["errorCode"].as_str()), (405, Some("method-not-allowed")), "{answer}");
    assert!(answer["errorSummary"].as_str().is_some_and(|s| s.contains("GET, POST")), "{answer}");
    // Still authenticated first: no token, no hint about the endpoint.
    let (status, _) = p.call_as(None, "PUT", "/users", None).await;
    assert_eq!(status, 401);
    drop(p);
    db.drop().await;
}

#[tokio::test]
async fn a_profile_past_its_limits_is_refused_and_an_error_never_echoes_it_whole() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
        let user = |extra: serde_json::Map<String, serde_json::Value>| {
            let mut profile = extra;
            profile.insert("login".into(), json!("big@example.com"));
            json!({ "profile": profile })
        };
        let one = |name: &str, value: serde_json::Value| [(name.to_string(), value)].into_iter().collect();

        // A body past the endpoint's 1 MiB: 413. (Just past it: a client
        // still writing a far larger one when the server answers finds the
        // socket closed under it.)
        let (status, answer) =
            p.call("POST", "/users", Some(user(one("title", json!("x".repeat((1 << 20) + 1024)))))).await;
        assert_eq!((status, answer["errorCode"].as_str()), (413, Some("too-large")), "{backend:?}: {answer}");
        // Within the body, past a value's or the profile's limit.
        let (status, answer) = p.call("POST", "/users", Some(user(one("title", json!("x".repeat(100 << 10)))))).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["errorSummary"].as_str().is_some_and(|s| s.contains("at most 64 KiB")), "{answer}");
        let many = (0..1000).map(|i| (format!("a{i}"), json!(i))).collect();
        let (status, answer) = p.call("POST", "/users", Some(user(many))).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["errorSummary"].as_str().is_some_and(|s| s.contains("at most 500")), "{answer}");
        // A 512 KiB login: refused, and the error quotes only its start.
        let login = "l".repeat(512 << 10);
        let (status, answer) = p.call("POST", "/users", Some(json!({ "profile": { "login": login } }))).await;
        assert_eq!(status, 400, "{answer}");
        let summary = answer["errorSummary"].as_str().unwrap_or_default();
        assert!(summary.len() < 500 && summary.contains("bytes)"), "{} bytes: {}", summary.len(), &summary[..200]);

        assert_eq!(p.ok("GET", "/users", None).await.as_array().map(Vec::len), Some(0), "nothing was written");
        // An update is held to the same limits.
        let id = p.create_user("ada@example.com", "Ada", "Lovelace").await;
        let patch = json!({ "profile": { "title": "x".repeat(100 << 10) } });
        let (status, answer) = p.call("POST", &format!("/users/{id}"), Some(patch)).await;
        assert_eq!(status, 400, "{answer}");
        drop(p);
        db.drop().await;
    }
}

#[tokio::test]
async fn a_login_is_one_whatever_its_unicode_form_or_case_and_look_alikes_are_refused() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let p = Provisio::start(dir.path(), &db.url, TEST_CONFIG).await;
        let create = |login: &str| json!({ "profile": { "login": login } });

        // Typed as e + combining accent: stored composed (NFC).
        let nfd = p.ok("POST", "/users", Some(create("Cafe\u{301}@example.com"))).await;
        assert_eq!(nfd["profile"]["login"], "Caf\u{e9}@example.com", "{backend:?}: {nfd}");
        for same in ["caf\u{e9}@example.com", "CAFE\u{301}@EXAMPLE.COM"] {
            let (status, answer) = p.call("POST", "/users", Some(create(same))).await;
            assert_eq!(
                (status, answer["errorCode"].as_str()),
                (409, Some("conflict")),
                "{backend:?} {same:?}: {answer}"
            );
        }
        // Found by either form.
        let filter = "/users?filter=profile.login%20eq%20%22cafe%CC%81%40example.com%22";
        let found = p.ok("GET", filter, None).await;
        assert_eq!(found[0]["id"], nfd["id"], "{backend:?}: {found}");

        for (login, says) in [
            ("ada\u{200b}@example.com", "U+200B"),
            ("ada\u{202e}moc.elpmaxe@", "U+202E"),
            ("ada\u{2066}@example.com", "U+2066"),
            ("\u{ff41}da@example.com", "write it as \"ada@example.com\""),
        ] {
            assert_invalid(
                &format!("{backend:?} {login:?}"),
                p.call("POST", "/users", Some(create(login))).await,
                says,
            );
        }
        assert_eq!(p.ok("GET", "/users", None).await.as_array().map(Vec::len), Some(1), "{backend:?}");
        drop(p);
        db.drop().await;
    }
}
