//! Retention, with the engine, the executor and the real runtime in this
//! process on a clock the test moves: deactivated accounts stay restorable
//! for the app's retention and are then deleted; deprovisioned users are
//! purged after the directory's. Expiry passes the mass-change guard like
//! any fan-out, and never reaches a suspended user. A real scim2-server is
//! the app.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;

use provisio_directory::{FixedClock, NewApp, Store};
use provisio_lifecycle::{Change, Engine, Executor, ExecutorConfig, Mode, Transition};
use provisio_server::provisioner::RuntimeConnectors;

use crate::databases::{BACKENDS, Backend, TestDatabase};
use crate::support::Scim2Server;

const DAY: i64 = 24 * 3600 * 1000;

async fn settle(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.pending_accounts().await.expect("pending") > 0 {
        assert!(Instant::now() < deadline, "work did not settle");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The engine and an executor in this process, a scim2-server, and one app
/// with `policy` over it.
struct Rig {
    store: Store,
    clock: Arc<FixedClock>,
    engine: Engine<RuntimeConnectors>,
    server: Scim2Server,
    app: String,
    stop: Arc<Notify>,
    worker: tokio::task::JoinHandle<Result<(), provisio_directory::StoreError>>,
    db: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(backend: Backend, policy: Value) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let clock = Arc::new(FixedClock::new(1_800_000_000_000));
        let store = Store::open_with_clock(&db.url, clock.clone()).await.expect("store");
        let (connectors, name, version, sealer) = crate::support::scim_connectors(&store, dir.path()).await;
        let work = Arc::new(Notify::new());
        let engine = Engine::new(store.clone(), connectors.clone(), work.clone());
        let config = ExecutorConfig { poll: Duration::from_millis(20), ..ExecutorConfig::default() };
        let executor = Executor::new(store.clone(), connectors, config, work);
        let stop = Arc::new(Notify::new());
        let worker = tokio::spawn(executor.run(stop.clone()));

        let server = Scim2Server::start().await;
        let mut secrets = serde_json::Map::new();
        secrets.insert("api".into(), json!({ "scheme": "bearer", "token": server.token }));
        let new_app = NewApp {
            name: "Kept 30 days".into(),
            connector_name: name,
            connector_version: version,
            settings: json!({ "base_url": server.base_url }),
            secrets,
            grants: vec![server.origin()],
            credential_origins: Default::default(),
            mappings: json!({}),
            policy,
        };
        let app = store.create_app("test", new_app, &sealer).await.expect("app").id;
        Rig { store, clock, engine, server, app, stop, worker, db, _dir: dir }
    }

    async fn submit(&self, change: Change) -> Value {
        self.engine.submit("test", &change, Mode::Apply).await.expect("change").result
    }

    /// An active user assigned to the app, provisioned; returns (user, account id).
    async fn provisioned(&self, login: &str) -> (String, String) {
        let create = Change::CreateUser { login: login.into(), profile: Default::default(), activate: true };
        let user = self.submit(create).await["id"].as_str().expect("id").to_string();
        self.submit(Change::AssignUser { app_id: self.app.clone(), user_id: user.clone() }).await;
        settle(&self.store).await;
        let id = self.store.account(&self.app, &user).await.expect("read").and_then(|a| a.external_id);
        (user, id.expect("created"))
    }

    async fn transition(&self, user: &str, transition: Transition) {
        self.submit(Change::Lifecycle { user_id: user.to_string(), transition }).await;
        settle(&self.store).await;
    }

    async fn end(self) {
        self.stop.notify_one();
        let _ = self.worker.await;
        self.store.close().await;
        self.db.drop().await;
    }
}

#[tokio::test]
async fn deactivated_accounts_are_restorable_until_retention_ends_then_deleted() {
    for backend in BACKENDS {
        // A guard that lets one deletion through: this test is not about it.
        let policy = json!({ "deprovision": "delete", "retentionDays": 30, "guard": { "percent": 100 } });
        let rig = Rig::start(backend, policy).await;
        let (user, id) = rig.provisioned("grace@example.com").await;
        let (engine, clock, server) = (&rig.engine, &rig.clock, &rig.server);

        // Deactivated, not deleted; restorable within the retention.
        rig.transition(&user, Transition::Deactivate).await;
        assert_eq!(server.user(&id).await["active"], false, "{backend:?}");
        clock.advance(29 * DAY);
        assert_eq!(engine.sweep(Some(90)).await.expect("sweep").accounts, 0, "{backend:?}: still within retention");
        rig.transition(&user, Transition::Activate).await;
        assert_eq!(server.user(&id).await["active"], true, "{backend:?}: restored, same account");

        // Deactivated again: after 30 days the account is deleted.
        rig.transition(&user, Transition::Deactivate).await;
        clock.advance(29 * DAY);
        assert_eq!(engine.sweep(Some(90)).await.expect("sweep").accounts, 0, "{backend:?}: the clock restarted");
        clock.advance(2 * DAY);
        let swept = engine.sweep(Some(90)).await.expect("sweep");
        assert_eq!((swept.accounts, swept.users), (1, 0), "{backend:?}");
        settle(&rig.store).await;
        assert_eq!(server.get(&format!("/Users/{id}")).await.0, 404, "{backend:?}: deleted in the app");

        // The user is purged after the directory's 90 days.
        clock.advance(60 * DAY);
        assert_eq!(engine.sweep(Some(90)).await.expect("sweep").users, 1, "{backend:?}");
        assert!(rig.store.user(&user).await.is_err(), "{backend:?}: purged");
        rig.end().await;
    }
}

#[tokio::test]
async fn expiry_is_held_by_the_guard_like_any_fan_out_and_spares_a_suspended_user() {
    // SQLite only: the engine's guard and retention rules are the same on
    // both backends (the store's parts are tested on both above).
    // No floor: the guard holds these few deletions as it would many.
    // Spelled as policies stored by earlier versions are (snake_case).
    let policy = json!({ "deprovision": "delete", "retention_days": 1, "guard": { "floor": 0 } });
    let rig = Rig::start(Backend::Sqlite, policy).await;
    let mut leavers = Vec::new();
    for i in 0..4 {
        leavers.push(rig.provisioned(&format!("leaver{i}@example.com")).await);
    }
    let (suspended, suspended_account) = rig.provisioned("away@example.com").await;
    for (user, _) in &leavers {
        rig.transition(user, Transition::Deactivate).await;
    }
    rig.transition(&suspended, Transition::Suspend).await;
    assert_eq!(rig.server.user(&suspended_account).await["active"], false);
    rig.clock.advance(2 * DAY);

    // Four deletions out of five accounts: over the guard (20%).
    let swept = rig.engine.sweep(None).await.expect("sweep");
    assert_eq!((swept.accounts, swept.held), (0, 1), "held, not deleted");
    assert_eq!(rig.engine.sweep(None).await.expect("sweep").held, 0, "one plan, not one per sweep");
    let plans = rig.store.list_plans(Some("held"), 10).await.expect("plans");
    assert_eq!(plans.len(), 1);
    let held: Vec<String> =
        serde_json::from_value(plans[0].change["user_ids"].clone()).expect("the plan names the accounts");
    assert_eq!(held.len(), 4, "the suspended user's account is not among them: {held:?}");
    assert!(!held.contains(&suspended));
    for (_, id) in &leavers {
        assert_eq!(rig.server.user(id).await["active"], false, "nothing deleted before approval");
    }

    rig.engine.approve("admin", &plans[0].id).await.expect("approve");
    settle(&rig.store).await;
    for (_, id) in &leavers {
        assert_eq!(rig.server.get(&format!("/Users/{id}")).await.0, 404, "deleted once approved");
    }
    rig.clock.advance(30 * DAY);
    rig.engine.sweep(None).await.expect("sweep");
    settle(&rig.store).await;
    assert_eq!(rig.server.get(&format!("/Users/{suspended_account}")).await.0, 200, "a suspended user keeps theirs");
    rig.transition(&suspended, Transition::Unsuspend).await;
    assert_eq!(rig.server.user(&suspended_account).await["active"], true, "and gets it back on return");
    rig.end().await;
}
