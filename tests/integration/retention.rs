//! Retention, with the engine, the executor and the real runtime in this
//! process on a clock the test moves: deactivated accounts stay restorable
//! for the app's retention and are then deleted; deprovisioned users are
//! purged after the directory's. A real scim2-server is the app.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;

use provisio_directory::{FixedClock, NewApp, Sealer, Store};
use provisio_lifecycle::{Change, Engine, Executor, ExecutorConfig, Mode, Transition};
use provisio_runtime::{Runtime, RuntimeConfig};
use provisio_server::provisioner::RuntimeConnectors;

use crate::databases::{BACKENDS, TestDatabase};
use crate::support::Scim2Server;

const DAY: i64 = 24 * 3600 * 1000;

async fn settle(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.pending_accounts().await.expect("pending") > 0 {
        assert!(Instant::now() < deadline, "work did not settle");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn deactivated_accounts_are_restorable_until_retention_ends_then_deleted() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDatabase::new(backend, dir.path()).await;
        let clock = Arc::new(FixedClock::new(1_800_000_000_000));
        let store = Store::open_with_clock(&db.url, clock.clone()).await.expect("store");
        let runtime = Runtime::new(RuntimeConfig::new(dir.path())).expect("runtime");
        let scim = provisio_bundled::SCIM;
        let c = runtime.install(scim.manifest, scim.component).await.expect("install");
        let (name, version) = (c.package.name().to_string(), c.package.version().to_string());
        store.register_package("test", &name, &version, &c.package.digest, "0.1.0").await.expect("register");
        let sealer = Arc::new(Sealer::new(&[7; 32]));
        let connectors = Arc::new(RuntimeConnectors::new(runtime, store.clone(), sealer.clone()));
        connectors.describe_installed().await.expect("describe");
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
            mappings: json!({}),
            policy: json!({ "deprovision": "delete", "retention_days": 30 }),
        };
        let app = store.create_app("test", new_app, &sealer).await.expect("app");
        let create =
            Change::CreateUser { login: "grace@example.com".into(), profile: Default::default(), activate: true };
        let user = engine.submit("test", &create, Mode::Apply).await.expect("user").result["id"]
            .as_str()
            .expect("id")
            .to_string();
        let lifecycle = |transition| Change::Lifecycle { user_id: user.clone(), transition };
        engine
            .submit("test", &Change::AssignUser { app_id: app.id.clone(), user_id: user.clone() }, Mode::Apply)
            .await
            .expect("assign");
        settle(&store).await;
        let id = store.account(&app.id, &user).await.expect("read").and_then(|a| a.external_id).expect("created");

        // Deactivated, not deleted; restorable within the retention.
        engine.submit("test", &lifecycle(Transition::Deactivate), Mode::Apply).await.expect("deactivate");
        settle(&store).await;
        assert_eq!(server.user(&id).await["active"], false, "{backend:?}");
        clock.advance(29 * DAY);
        assert_eq!(engine.sweep(Some(90)).await.expect("sweep").accounts, 0, "{backend:?}: still within retention");
        engine.submit("test", &lifecycle(Transition::Activate), Mode::Apply).await.expect("activate");
        settle(&store).await;
        assert_eq!(server.user(&id).await["active"], true, "{backend:?}: restored, same account");

        // Deactivated again: after 30 days the account is deleted.
        engine.submit("test", &lifecycle(Transition::Deactivate), Mode::Apply).await.expect("deactivate");
        settle(&store).await;
        clock.advance(29 * DAY);
        assert_eq!(engine.sweep(Some(90)).await.expect("sweep").accounts, 0, "{backend:?}: the clock restarted");
        clock.advance(2 * DAY);
        let swept = engine.sweep(Some(90)).await.expect("sweep");
        assert_eq!((swept.accounts, swept.users), (1, 0), "{backend:?}");
        settle(&store).await;
        assert_eq!(server.get(&format!("/Users/{id}")).await.0, 404, "{backend:?}: deleted in the app");

        // The user is purged after the directory's 90 days.
        clock.advance(60 * DAY);
        assert_eq!(engine.sweep(Some(90)).await.expect("sweep").users, 1, "{backend:?}");
        assert!(store.user(&user).await.is_err(), "{backend:?}: purged");

        stop.notify_one();
        let _ = worker.await;
        store.close().await;
        db.drop().await;
    }
}
