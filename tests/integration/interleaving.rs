//! Two changes at once on PostgreSQL end as some serial order of them would,
//! and neither fails for having raced the other. Every ordered pair of
//! change kinds is interleaved exactly: the first is held at the engine's
//! fail point just before it commits (applied, reconciled, its rows locked),
//! the second runs until it finishes or waits on a lock, then the first
//! commits. Afterwards every account's stored desire must be what the
//! directory implies, recomputed from one snapshot (`Engine::drift_in`).
//!
//! SQLite needs no such test: its changes take the one writer in turn
//! (`Store::write`), so two of them never interleave.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use sqlx::Connection;
use tokio::sync::Notify;

use provisio_directory::{NewApp, Store};
use provisio_lifecycle::{Change, Engine, EngineError, Mode, Outcome, Transition};
use provisio_server::provisioner::RuntimeConnectors;

use crate::databases::{Backend, TestDatabase};

type Shared = Arc<Engine<RuntimeConnectors>>;

/// One trial's directory: an app with a group assignment (G) and two direct
/// ones (V, S); U reaches the app through G; V is also in H, which is not
/// assigned; S is suspended; D is deprovisioned and assigned nowhere.
struct Scene {
    app: String,
    g: String,
    h: String,
    u: String,
    v: String,
    s: String,
    d: String,
}

struct Rig {
    store: Store,
    engine: Shared,
    connector: (String, String),
    sealer: Arc<provisio_directory::Sealer>,
}

impl Rig {
    async fn submit(&self, change: Change) -> Value {
        self.engine.submit("setup", &change, Mode::Apply).await.expect("setup change").result
    }

    async fn user(&self, login: String) -> String {
        let profile = json!({ "title": "Engineer" }).as_object().cloned().unwrap_or_default();
        let created = self.submit(Change::CreateUser { login, profile, activate: true }).await;
        created["id"].as_str().expect("id").to_string()
    }

    async fn scene(&self, n: usize) -> Scene {
        let new_app = NewApp {
            name: format!("App {n}"),
            connector_name: self.connector.0.clone(),
            connector_version: self.connector.1.clone(),
            // No executor runs: nothing is sent.
            settings: json!({ "base_url": "http://127.0.0.1:9/v2" }),
            secrets: Map::new(),
            grants: Vec::new(),
            credential_origins: Default::default(),
            mappings: json!({ "login": "user.login", "attributes": { "title": "user.title" } }),
            // These fan-outs are a few accounts: the guard is not under test.
            policy: json!({ "guard": { "percent": 100 } }),
        };
        let app = self.store.create_app("setup", new_app, &self.sealer).await.expect("app").id;
        let g = self.store.create_group("setup", &format!("G{n}"), "").await.expect("group").id;
        let h = self.store.create_group("setup", &format!("H{n}"), "").await.expect("group").id;
        let [u, v, s, d] = ["u", "v", "s", "d"].map(|who| format!("{who}{n}@example.com"));
        let (u, v, s, d) = (self.user(u).await, self.user(v).await, self.user(s).await, self.user(d).await);
        for change in [
            Change::AddMember { group_id: g.clone(), user_id: u.clone() },
            Change::AssignGroup { app_id: app.clone(), group_id: g.clone(), priority: 0 },
            Change::AssignUser { app_id: app.clone(), user_id: v.clone() },
            Change::AddMember { group_id: h.clone(), user_id: v.clone() },
            Change::AssignUser { app_id: app.clone(), user_id: s.clone() },
            Change::Lifecycle { user_id: s.clone(), transition: Transition::Suspend },
            Change::Lifecycle { user_id: d.clone(), transition: Transition::Deactivate },
        ] {
            self.submit(change).await;
        }
        Scene { app, g, h, u, v, s, d }
    }
}

/// One change of every kind an admin (or the sweeper) makes, each touching
/// what the others touch.
fn changes(s: &Scene) -> Vec<(&'static str, Change)> {
    let user = |id: &String, transition| Change::Lifecycle { user_id: id.clone(), transition };
    vec![
        (
            "update U",
            Change::UpdateProfile {
                user_id: s.u.clone(),
                profile: json!({ "title": "Director" }).as_object().cloned().unwrap_or_default(),
                expected_version: None,
            },
        ),
        ("deactivate U", user(&s.u, Transition::Deactivate)),
        ("suspend U", user(&s.u, Transition::Suspend)),
        ("unsuspend S", user(&s.s, Transition::Unsuspend)),
        ("activate D", user(&s.d, Transition::Activate)),
        (
            "deactivate U and V",
            Change::BulkLifecycle { user_ids: vec![s.u.clone(), s.v.clone()], transition: Transition::Deactivate },
        ),
        ("delete D", Change::DeleteUser { user_id: s.d.clone() }),
        ("add V to G", Change::AddMember { group_id: s.g.clone(), user_id: s.v.clone() }),
        ("add D to G", Change::AddMember { group_id: s.g.clone(), user_id: s.d.clone() }),
        ("remove U from G", Change::RemoveMember { group_id: s.g.clone(), user_id: s.u.clone() }),
        ("assign U", Change::AssignUser { app_id: s.app.clone(), user_id: s.u.clone() }),
        ("assign D", Change::AssignUser { app_id: s.app.clone(), user_id: s.d.clone() }),
        ("unassign V", Change::UnassignUser { app_id: s.app.clone(), user_id: s.v.clone() }),
        ("assign H", Change::AssignGroup { app_id: s.app.clone(), group_id: s.h.clone(), priority: 1 }),
        ("unassign G", Change::UnassignGroup { app_id: s.app.clone(), group_id: s.g.clone() }),
        (
            "map the title",
            Change::SetMappings {
                app_id: s.app.clone(),
                mappings: json!({ "login": "user.login", "attributes": { "title": "'Staff ' + user.title" } }),
            },
        ),
        (
            "delete leavers, keep the suspended",
            Change::SetPolicy {
                app_id: s.app.clone(),
                policy: json!({ "deprovision": "delete", "onSuspend": "keep", "guard": { "percent": 100 } }),
            },
        ),
    ]
}

/// Changes waiting on a lock in this database, by a connection of its own.
async fn lock_waits(db: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE NOT l.granted AND a.datname = current_database()",
    )
    .fetch_one(db)
    .await
    .expect("pg_locks")
}

type Answer = Result<Outcome, EngineError>;

fn spawn(engine: &Shared, change: Change) -> tokio::task::JoinHandle<Answer> {
    let engine = engine.clone();
    tokio::spawn(async move { engine.submit("admin", &change, Mode::Apply).await })
}

/// Runs `first` up to its commit, then `second` until it is done or waits on
/// `first`'s locks, then lets `first` commit.
async fn interleave(engine: &Shared, db: &mut sqlx::PgConnection, first: Change, second: Change) -> (Answer, Answer) {
    let mut held = engine.pause_before_commit();
    let mut a = spawn(engine, first);
    let mut first_done = None;
    tokio::select! {
        _ = held.reached() => {}
        // Refused before its commit (an illegal transition): nothing to hold.
        answer = &mut a => first_done = Some(answer.expect("first change")),
    }
    if first_done.is_some() {
        held.release();
    }
    let b = spawn(engine, second);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.is_finished() && lock_waits(db).await == 0 {
        assert!(Instant::now() < deadline, "the second change neither finished nor waited on a lock");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    held.release();
    let first = match first_done {
        Some(answer) => answer,
        None => a.await.expect("first change"),
    };
    (first, b.await.expect("second change"))
}

/// A refusal a user could get from either change alone is fine; losing a
/// race is not.
fn acceptable(answer: &Answer) -> bool {
    match answer {
        Ok(_) => true,
        Err(e) => matches!(e.code(), "illegal-transition" | "conflict" | "not-found" | "invalid"),
    }
}

#[tokio::test]
async fn every_pair_of_concurrent_changes_ends_as_some_serial_order_would_on_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::new(Backend::Postgres, dir.path()).await;
    let store = Store::open(&db.url).await.expect("store");
    let (connectors, name, version, sealer) = crate::support::scim_connectors(&store, dir.path()).await;
    let engine = Arc::new(Engine::new(store.clone(), connectors, Arc::new(Notify::new())));
    let rig = Rig { store: store.clone(), engine: engine.clone(), connector: (name, version), sealer };
    let mut watcher = sqlx::PgConnection::connect(&db.url).await.expect("watcher");

    let kinds = changes(&rig.scene(0).await).len();
    let mut trials = 0;
    let mut failures = Vec::new();
    for i in 0..kinds {
        for j in 0..kinds {
            trials += 1;
            let scene = rig.scene(trials).await;
            let list = changes(&scene);
            let ((first_name, first), (second_name, second)) = (list[i].clone(), list[j].clone());
            let (a, b) = interleave(&engine, &mut watcher, first, second).await;
            for (who, answer) in [(first_name, &a), (second_name, &b)] {
                if !acceptable(answer) {
                    failures.push(format!("{first_name} | {second_name}: {who} failed: {:?}", answer.as_ref().err()));
                }
            }
            let drift = engine.drift_in(&scene.app).await.expect("drift").drift;
            if !drift.is_empty() {
                failures.push(format!("{first_name} | {second_name}: {drift:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {trials} interleavings went wrong:\n{}", failures.len(), failures.join("\n"));
    store.close().await;
    db.drop().await;
}
