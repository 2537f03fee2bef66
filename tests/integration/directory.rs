//! The directory store's behaviour, the same on SQLite and on PostgreSQL: every test
//! runs on both, each on a database of its own.

use std::future::Future;
use std::sync::Arc;

use provisio_directory::{FixedClock, LogCursor, LogQuery, NewLogEvent, NewUser, Store, UserStatus};
use serde_json::{Map, Value, json};

/// A fresh PostgreSQL store; dropped by `drop_postgres`.
async fn postgres_store(clock: Arc<FixedClock>) -> (Store, String) {
    let (url, name) = crate::databases::create_postgres().await;
    (Store::open_with_clock(&url, clock).await.expect("open postgres"), name)
}

async fn drop_postgres(store: Store, name: &str) {
    store.close().await;
    crate::databases::drop_postgres(name).await;
}

/// Runs `test` on a fresh SQLite store, then on a fresh PostgreSQL one.
pub(crate) async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Store, Arc<FixedClock>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(FixedClock::new(1_700_000_000_000));
    let url = format!("sqlite://{}", dir.path().join("provisio.db").display());
    let sqlite = Store::open_with_clock(&url, clock.clone()).await.expect("open sqlite");
    test(sqlite.clone(), clock.clone()).await;
    sqlite.close().await;

    let clock = Arc::new(FixedClock::new(1_700_000_000_000));
    let (pg, name) = postgres_store(clock.clone()).await;
    test(pg.clone(), clock).await;
    drop_postgres(pg, &name).await;
}

fn profile(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

fn new_user(login: &str) -> NewUser {
    NewUser {
        login: login.into(),
        profile: profile(
            json!({"email": format!("{login}@example.com"), "firstName": "Ada", "isContractor": false, "level": 7}),
        ),
        status: UserStatus::Staged,
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("provisio.db");
    let store = Store::open(&format!("sqlite://{}", path.display())).await.expect("open");
    store.create_user("admin", new_user("ada")).await.expect("create");
    for file in ["provisio.db", "provisio.db-wal", "provisio.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(file)).expect(file).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} is {mode:o}: it holds profiles and token hashes");
    }
    store.close().await;
}

#[tokio::test]
async fn a_user_is_created_and_read_back_with_its_profile_types() {
    each_backend(|store, _| async move {
        let u = store.create_user("admin", new_user("ada")).await.expect("create");
        let read = store.user(&u.id).await.expect("read");
        assert_eq!(read, u);
        assert_eq!(read.status, UserStatus::Staged);
        assert_eq!(read.profile["isContractor"], json!(false), "a boolean stays a boolean");
        assert_eq!(read.profile["level"], json!(7));
        assert_eq!(store.user_by_login("ADA").await.expect("by login").map(|x| x.id), Some(u.id));
    })
    .await;
}

#[tokio::test]
async fn logins_are_unique_without_regard_to_case() {
    each_backend(|store, _| async move {
        store.create_user("admin", new_user("ada")).await.expect("create");
        let err = store.create_user("admin", new_user("Ada")).await.expect_err("duplicate");
        assert_eq!(err.code(), "conflict");
        assert!(err.to_string().contains("already exists"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_bad_login_is_refused_and_nothing_is_written() {
    each_backend(|store, _| async move {
        for bad in ["", " ada", "a\u{7}b"] {
            let err = store.create_user("admin", new_user(bad)).await.expect_err("refused");
            assert_eq!(err.code(), "invalid", "{bad:?}");
        }
        assert!(store.list_users(None, 10).await.expect("list").is_empty());
        assert!(store.log(&LogQuery { limit: 10, ..LogQuery::default() }).await.expect("log").is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_profile_update_on_a_stale_version_is_refused_as_a_conflict() {
    each_backend(|store, clock| async move {
        let u = store.create_user("admin", new_user("ada")).await.expect("create");
        clock.advance(1000);
        let v2 = store
            .update_profile("admin", &u.id, profile(json!({"email": "new@example.com"})), Some(u.version))
            .await
            .expect("update");
        assert_eq!(v2.version, u.version + 1);
        assert_eq!(v2.updated_at, u.updated_at + 1000);
        let err = store
            .update_profile("admin", &u.id, profile(json!({"email": "other@example.com"})), Some(u.version))
            .await
            .expect_err("stale");
        assert_eq!(err.code(), "conflict");
        assert_eq!(store.user(&u.id).await.expect("read").profile["email"], "new@example.com", "nothing lost");
        let missing = store.update_profile("admin", "nope", Map::new(), None).await.expect_err("missing");
        assert_eq!(missing.code(), "not-found");
    })
    .await;
}

#[tokio::test]
async fn users_list_in_pages_in_creation_order() {
    each_backend(|store, _| async move {
        let mut ids = Vec::new();
        for i in 0..7 {
            ids.push(store.create_user("admin", new_user(&format!("user{i}"))).await.expect("create").id);
        }
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.list_users(after.as_deref(), 3).await.expect("page");
            if page.is_empty() {
                break;
            }
            after = page.last().map(|u| u.id.clone());
            seen.extend(page.into_iter().map(|u| u.id));
        }
        assert_eq!(seen, ids);
    })
    .await;
}

#[tokio::test]
async fn membership_changes_are_idempotent_and_say_whether_they_changed_anything() {
    each_backend(|store, _| async move {
        let g = store.create_group("admin", "Engineering", "builders").await.expect("group");
        let a = store.create_user("admin", new_user("ada")).await.expect("user");
        assert!(store.add_member("admin", &g.id, &a.id).await.expect("add"));
        assert!(!store.add_member("admin", &g.id, &a.id).await.expect("add again"));
        assert_eq!(store.members(&g.id).await.expect("members"), vec![a.id.clone()]);
        assert_eq!(store.groups_of(&a.id).await.expect("groups"), vec![g.id.clone()]);
        assert!(store.remove_member("admin", &g.id, &a.id).await.expect("remove"));
        assert!(!store.remove_member("admin", &g.id, &a.id).await.expect("remove again"));
        assert!(store.members(&g.id).await.expect("members").is_empty());
        let err = store.add_member("admin", &g.id, "no-such-user").await.expect_err("missing user");
        assert_eq!(err.code(), "not-found");
        let dup = store.create_group("admin", "engineering", "").await.expect_err("duplicate name");
        assert_eq!(dup.code(), "conflict");
    })
    .await;
}

#[tokio::test]
async fn every_change_writes_its_log_event_and_the_log_filters_and_pages() {
    each_backend(|store, clock| async move {
        let u = store.create_user("alice", new_user("ada")).await.expect("create");
        clock.advance(10);
        store.set_status("bob", &u.id, UserStatus::Active).await.expect("activate");
        let g = store.create_group("alice", "Ops", "").await.expect("group");
        store.add_member("alice", &g.id, &u.id).await.expect("add");
        store.add_member("alice", &g.id, &u.id).await.expect("no-op: no event");

        let all = store.log(&LogQuery { limit: 100, ..LogQuery::default() }).await.expect("log");
        let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["user.create", "user.lifecycle.activate", "group.create", "group.member.add"]);

        let by_bob =
            store.log(&LogQuery { actor: Some("bob".into()), limit: 100, ..LogQuery::default() }).await.expect("log");
        assert_eq!(by_bob.len(), 1);
        assert_eq!(by_bob[0].details["status"], "active");
        assert_eq!(by_bob[0].at, 1_700_000_000_010);

        let on_user = store
            .log(&LogQuery {
                target_type: Some("user".into()),
                target_id: Some(u.id.clone()),
                limit: 100,
                ..LogQuery::default()
            })
            .await
            .expect("log");
        assert_eq!(on_user.len(), 2);

        let page1 = store.log(&LogQuery { limit: 2, ..LogQuery::default() }).await.expect("page");
        let page2 =
            store.log(&LogQuery { limit: 2, after: Some(page1[1].cursor), ..LogQuery::default() }).await.expect("page");
        assert_eq!(page2.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["group.create", "group.member.add"]);

        let since = store
            .log(&LogQuery { since_ms: Some(1_700_000_000_005), limit: 100, ..LogQuery::default() })
            .await
            .expect("log");
        assert_eq!(since.len(), 3);
    })
    .await;
}

/// Reads the log from `after` to its current end, a page at a time, as a
/// consumer that follows it does.
async fn read_to_end(store: &Store, after: &mut Option<LogCursor>) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let page = store.log(&LogQuery { limit: 2, after: *after, ..LogQuery::default() }).await.expect("page");
        if page.is_empty() {
            return seen;
        }
        *after = page.last().map(|e| e.cursor);
        seen.extend(page.into_iter().map(|e| e.target_id));
    }
}

/// On PostgreSQL a transaction that took its sequence number first may
/// commit after one that took a later number; a consumer paging by number
/// would have moved past it. (SQLite has one writer at a time: its commit
/// order is its numbering order.)
#[tokio::test]
async fn a_consumer_paging_the_log_never_skips_an_event_that_commits_after_a_later_one() {
    let clock = Arc::new(FixedClock::new(1_700_000_000_000));
    let (store, name) = postgres_store(clock).await;
    let mut after = None;
    store.append_log(&NewLogEvent::success("t", "group.create", "step", "first", json!({}))).await.expect("first");
    assert_eq!(read_to_end(&store, &mut after).await, ["first"]);

    let mut slow = store.write().await.expect("tx");
    slow.log(&NewLogEvent::success("t", "group.create", "step", "slow", json!({}))).await.expect("slow");
    store.append_log(&NewLogEvent::success("t", "group.create", "step", "quick", json!({}))).await.expect("quick");
    let mut seen = read_to_end(&store, &mut after).await;
    slow.commit().await.expect("commit");
    seen.extend(read_to_end(&store, &mut after).await);

    seen.sort();
    assert_eq!(seen, ["quick", "slow"], "every event once, whatever the order of commits");
    drop_postgres(store, &name).await;
}

/// PostgreSQL numbers transactions across the whole server: a write held
/// open in another application's database must not hold Provisio's log back
/// (a reader would miss its own write, and a hook or export would stall).
#[tokio::test]
async fn a_write_held_open_in_another_database_does_not_hold_the_log_back() {
    let clock = Arc::new(FixedClock::new(1_700_000_000_000));
    let (store, name) = postgres_store(clock.clone()).await;
    let (other, other_name) = postgres_store(clock).await;
    let mut elsewhere = other.write().await.expect("tx");
    elsewhere.log(&NewLogEvent::success("t", "group.create", "step", "elsewhere", json!({}))).await.expect("held open");

    store.append_log(&NewLogEvent::success("t", "group.create", "step", "mine", json!({}))).await.expect("mine");
    let page = store.log(&LogQuery { limit: 10, ..LogQuery::default() }).await.expect("log");
    let seen: Vec<_> = page.iter().map(|e| e.target_id.as_str()).collect();
    assert_eq!(seen, ["mine"], "the write is seen at once, whatever runs in another database");

    elsewhere.rollback().await.expect("rollback");
    drop_postgres(other, &other_name).await;
    drop_postgres(store, &name).await;
}

#[tokio::test]
async fn an_sqlite_store_keeps_its_data_across_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("provisio.db").display());
    let id = {
        let store = Store::open(&url).await.expect("open");
        let id = store.create_user("admin", new_user("ada")).await.expect("create").id;
        store.close().await;
        id
    };
    let store = Store::open(&url).await.expect("reopen: migrations are idempotent");
    assert_eq!(store.user(&id).await.expect("read").login, "ada");
}

#[tokio::test]
async fn an_unsupported_database_url_is_refused_without_echoing_credentials() {
    let err = Store::open("mysql://root:hunter2@localhost/db").await.expect_err("unsupported");
    assert_eq!(err.code(), "invalid");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

fn scim_app(name: &str, secret: &str) -> provisio_directory::NewApp {
    provisio_directory::NewApp {
        name: name.into(),
        connector_name: "scim".into(),
        connector_version: "0.1.0".into(),
        settings: json!({"base_url": "https://scim.example.com/v2"}),
        secrets: profile(json!({"api": {"scheme": "bearer", "token": secret}})),
        grants: vec!["https://scim.example.com".into()],
        credential_origins: Default::default(),
        mappings: json!({}),
        policy: json!({"deprovision": "deactivate"}),
    }
}

#[tokio::test]
async fn app_secrets_are_sealed_and_open_only_with_the_directory_key() {
    each_backend(|store, _| async move {
        let key = provisio_directory::Sealer::generate_key();
        let sealer = provisio_directory::Sealer::new(&key);
        store.register_package("admin", "scim", "0.1.0", "sha256-aa", "0.1.0", None).await.expect("package");
        let app = store.create_app("admin", scim_app("Wiki", "s3cr3t-token-value"), &sealer).await.expect("app");
        assert!(app.has_secrets);
        assert_eq!(store.app(&app.id).await.expect("read").name, "Wiki");
        let secrets = store.app_secrets(&app.id, &sealer).await.expect("open");
        assert_eq!(secrets["api"]["token"], "s3cr3t-token-value");

        let other = provisio_directory::Sealer::new(&provisio_directory::Sealer::generate_key());
        let err = store.app_secrets(&app.id, &other).await.expect_err("wrong key");
        assert!(err.to_string().contains("cannot be opened"), "{err}");

        let log = format!("{:?}", store.log(&LogQuery { limit: 100, ..LogQuery::default() }).await.expect("log"));
        assert!(log.contains("app.create") && !log.contains("s3cr3t-token-value"), "{log}");
    })
    .await;
}

#[tokio::test]
async fn an_app_needs_an_installed_connector_and_a_unique_name() {
    each_backend(|store, _| async move {
        let sealer = provisio_directory::Sealer::new(&provisio_directory::Sealer::generate_key());
        let err = store.create_app("admin", scim_app("Wiki", "x"), &sealer).await.expect_err("not installed");
        assert_eq!(err.code(), "invalid");
        assert!(err.to_string().contains("scim@0.1.0 is not installed"), "{err}");
        store.register_package("admin", "scim", "0.1.0", "sha256-aa", "0.1.0", None).await.expect("package");
        store.register_package("admin", "scim", "0.1.0", "sha256-aa", "0.1.0", None).await.expect("same bytes again");
        let other = store
            .register_package("admin", "scim", "0.1.0", "sha256-bb", "0.1.0", None)
            .await
            .expect_err("other bytes");
        assert_eq!(other.code(), "conflict");
        store.create_app("admin", scim_app("Wiki", "x"), &sealer).await.expect("app");
        let dup = store.create_app("admin", scim_app("wiki", "y"), &sealer).await.expect_err("duplicate");
        assert_eq!(dup.code(), "conflict");
        assert_eq!(store.list_apps().await.expect("list").len(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_app_reaches_users_assigned_directly_or_through_any_group() {
    each_backend(|store, _| async move {
        let sealer = provisio_directory::Sealer::new(&provisio_directory::Sealer::generate_key());
        store.register_package("admin", "scim", "0.1.0", "sha256-aa", "0.1.0", None).await.expect("package");
        let app = store.create_app("admin", scim_app("Wiki", "x"), &sealer).await.expect("app");
        let ada = store.create_user("admin", new_user("ada")).await.expect("ada").id;
        let bob = store.create_user("admin", new_user("bob")).await.expect("bob").id;
        let eng = store.create_group("admin", "Engineering", "").await.expect("group").id;
        store.add_member("admin", &eng, &bob).await.expect("member");

        assert!(store.assign_user("admin", &app.id, &ada).await.expect("assign"));
        assert!(!store.assign_user("admin", &app.id, &ada).await.expect("again: no-op"));
        assert!(store.assign_group("admin", &app.id, &eng, 0).await.expect("assign group"));
        let mut both = vec![ada.clone(), bob.clone()];
        both.sort();
        assert_eq!(app_users(&store, &app.id).await, both);
        assert_eq!(store.user_apps(&bob).await.expect("apps"), vec![app.id.clone()]);

        // Bob is also assigned directly: losing the group keeps him in.
        store.assign_user("admin", &app.id, &bob).await.expect("direct");
        store.unassign_group("admin", &app.id, &eng).await.expect("unassign group");
        assert_eq!(app_users(&store, &app.id).await, both);
        store.unassign_user("admin", &app.id, &bob).await.expect("unassign");
        assert_eq!(app_users(&store, &app.id).await, vec![ada.clone()]);
        assert!(store.user_apps(&bob).await.expect("apps").is_empty());

        // A missing side of an assignment is not-found (404), named.
        let err = store.assign_user("admin", &app.id, "no-such-user").await.expect_err("missing");
        assert_eq!((err.code(), err.to_string().contains("no-such-user")), ("not-found", true), "{err}");
    })
    .await;
}

#[tokio::test]
async fn an_sqlite_file_never_holds_a_secret_in_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("provisio.db").display());
    let store = Store::open(&url).await.expect("open");
    let sealer = provisio_directory::Sealer::new(&provisio_directory::Sealer::generate_key());
    store.register_package("admin", "scim", "0.1.0", "sha256-aa", "0.1.0", None).await.expect("package");
    let app = store.create_app("admin", scim_app("Wiki", "s3cr3t-token-value"), &sealer).await.expect("app");
    store.app_secrets(&app.id, &sealer).await.expect("open");
    store.close().await;
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        let found = bytes.windows(b"s3cr3t-token-value".len()).any(|w| w == b"s3cr3t-token-value");
        assert!(!found, "{} holds the secret in clear", path.display());
    }
}

/// A store with one app and `n` users, for the work-model tests.
pub(crate) async fn app_with_users(store: &Store, n: usize) -> (String, Vec<String>) {
    let sealer = provisio_directory::Sealer::new(&provisio_directory::Sealer::generate_key());
    store.register_package("admin", "scim", "0.1.0", "sha256-aa", "0.1.0", None).await.expect("package");
    let app = store.create_app("admin", scim_app("Wiki", "x"), &sealer).await.expect("app").id;
    let mut users = Vec::new();
    for i in 0..n {
        users.push(store.create_user("admin", new_user(&format!("u{i}"))).await.expect("user").id);
    }
    (app, users)
}

use provisio_directory::AccountState;

#[tokio::test]
async fn a_changed_desire_bumps_the_generation_and_the_same_desire_changes_nothing() {
    each_backend(|store, _| async move {
        let (app, users) = app_with_users(&store, 1).await;
        let p = profile(json!({"userName": "u0", "active": true}));
        assert_eq!(store.set_desired(&app, &users[0], AccountState::Active, &p).await.expect("set"), 1);
        assert_eq!(store.set_desired(&app, &users[0], AccountState::Active, &p).await.expect("same"), 1);
        assert_eq!(store.set_desired(&app, &users[0], AccountState::Inactive, &p).await.expect("change"), 2);
        let a = store.account(&app, &users[0]).await.expect("read").expect("exists");
        assert_eq!(
            (a.desired_state, a.pushed_state, a.pushed_generation),
            (AccountState::Inactive, AccountState::Absent, 0)
        );
        assert_eq!(store.pending_accounts().await.expect("pending"), 1);
    })
    .await;
}

/// Logins an earlier version stored byte for byte (NFD, or two forms of one
/// login) are brought to NFC at start; two that are now one are reported,
/// never merged.
#[tokio::test]
async fn stored_logins_are_rekeyed_and_two_that_are_now_one_are_reported_not_merged() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("provisio.db").display());
    let (postgres, name) = crate::databases::create_postgres().await;
    for url in [sqlite, postgres] {
        let store = Store::open(&url).await.expect("open");
        let mut ids = Vec::new();
        for login in ["caf\u{e9}@example.com", "placeholder-1@example.com", "placeholder-2@example.com"] {
            let user = NewUser { login: login.into(), profile: Map::new(), status: UserStatus::Active };
            ids.push(store.create_user("test", user).await.expect("create").id);
        }
        // As an earlier version would have stored them: NFD, keyed as typed.
        sqlx::any::install_default_drivers();
        let mut raw = sqlx::AnyConnection::connect(&url).await.expect("connect");
        for (id, login) in [(&ids[1], "Cafe\u{301}@example.com"), (&ids[2], "Zoe\u{308}@example.com")] {
            sqlx::query("UPDATE users SET login = $1, login_key = $2 WHERE id = $3")
                .bind(login)
                .bind(login.to_lowercase())
                .bind(id.as_str())
                .execute(&mut raw)
                .await
                .expect("plant");
        }
        let collisions = store.rekey_logins().await.expect("rekey");
        assert_eq!(collisions.len(), 1, "{url}: {collisions:?}");
        assert_eq!((collisions[0].holder.as_str(), collisions[0].other.as_str()), (ids[0].as_str(), ids[1].as_str()));
        // Neither merged nor lost; the other is found by its NFC form.
        assert_eq!(store.user(&ids[1]).await.expect("kept").login, "Cafe\u{301}@example.com");
        let zoe = store.user_by_login("zo\u{eb}@EXAMPLE.com").await.expect("lookup").expect("found by NFC");
        assert_eq!((zoe.id.as_str(), zoe.login.as_str()), (ids[2].as_str(), "Zo\u{eb}@example.com"));
        assert_eq!(store.rekey_logins().await.expect("again"), collisions, "{url}: rekeying twice changes nothing");
        drop(raw);
        store.close().await;
    }
    crate::databases::drop_postgres(&name).await;
}

/// Everyone the app is assigned to, directly or through a group, by id.
async fn app_users(store: &Store, app_id: &str) -> Vec<String> {
    let page = store.app_user_page(app_id, None, 1000).await.expect("users");
    page.into_iter().map(|(id, _)| id).collect()
}
