//! Issue 14 §2: the flow persister (`flowstore-flow`) does the same on every
//! backend — memory, SQLite, PostgreSQL, Redis, and over `flowstore serve`:
//!
//! - a flow saved in the original design's JSON (the crate's fixture, with
//!   fields the Rust side does not know) restores, and saves back with every
//!   unknown field intact;
//! - two writers saving one instance from the same base: exactly one wins, the
//!   other gets [`SaveError::Conflict`] with the winner's state and version;
//! - list, `remove`, `remove_flow` and `remove_all` leave unrelated keys alone;
//! - a restore past the restore TTL deletes the expired entry.
//!
//! Each backend gets two handles on the same data (two SQLite connections to
//! one file, two PostgreSQL pools, two Redis clients, two HTTP clients): the
//! "two writers" are two clients for real, and what one wrote is checked
//! through the other.
//!
//! PostgreSQL and Redis read `FLOWSTORE_TEST_POSTGRES_URL` /
//! `FLOWSTORE_TEST_REDIS_URL` and are ignored without `--include-ignored`
//! (`cargo xtask ci` sets both); every test works in a namespace of its own,
//! so parallel tests and runs never see each other's keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use flowstore_core::{Key, Namespace, Store};
use flowstore_flow::{Base, FlowInstance, FlowPersister, FlowRef, FlowState, Restored, SaveError};
use flowstore_tests::serve::{client, spawn_server};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The crate's fixture: an instance the original design saved, with unknown
/// fields at the top, in the state, in `__meta` and in path/history entries.
const FIXTURE: &str =
    include_str!("../../crates/flowstore-flow/tests/fixtures/active-v2-with-unknown-fields.json");
/// Where the original design's default layout stores it.
const FIXTURE_KEY: &str = "useflow:onboarding:default:user-42";

#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    Sqlite,
    Postgres,
    Redis,
    Served,
}

/// Two handles on one backend's data, and what keeps it alive.
struct Backend {
    writers: [Arc<dyn Store>; 2],
    /// The SQLite file's directory.
    _dir: Option<tempfile::TempDir>,
}

/// A namespace no other test, or run, uses.
fn unique_namespace(kind: Kind) -> Namespace {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Namespace::new(format!(
        "flow-persister-{kind:?}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
    .unwrap()
}

fn server_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: this test needs the server"))
}

async fn open(kind: Kind) -> Backend {
    let namespace = unique_namespace(kind);
    let (writers, dir): ([Arc<dyn Store>; 2], _) = match kind {
        Kind::Memory => {
            let store: Arc<dyn Store> = Arc::new(flowstore_memory::MemoryStore::new());
            ([store.clone(), store], None)
        }
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("flows.db");
            let first = flowstore_sqlite::SqliteStore::open(&path).await.unwrap();
            let second = flowstore_sqlite::SqliteStore::open(&path).await.unwrap();
            ([Arc::new(first), Arc::new(second)], Some(dir))
        }
        Kind::Postgres => {
            let url = server_url("FLOWSTORE_TEST_POSTGRES_URL");
            let open = || async {
                flowstore_postgres::PostgresBuilder::from_url(&url)
                    .unwrap()
                    .namespace(namespace.clone())
                    .open()
                    .await
                    .unwrap()
            };
            ([Arc::new(open().await), Arc::new(open().await)], None)
        }
        Kind::Redis => {
            let url = server_url("FLOWSTORE_TEST_REDIS_URL");
            let open = || async {
                flowstore_redis::RedisStore::from_url(&url)
                    .unwrap()
                    .namespace(namespace.clone())
                    .open()
                    .await
                    .unwrap()
            };
            ([Arc::new(open().await), Arc::new(open().await)], None)
        }
        Kind::Served => {
            let backing = flowstore_memory::MemoryStore::new().with_namespace(namespace);
            let addr = spawn_server(Arc::new(backing), None).await;
            (
                [Arc::new(client(addr, None)), Arc::new(client(addr, None))],
                None,
            )
        }
    };
    Backend { writers, _dir: dir }
}

impl Backend {
    /// Removes the test's namespace from a shared server (a failed test leaves
    /// it behind; its name is never used again).
    async fn finish(self) {
        self.writers[0].clear().await.unwrap();
    }
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Signup {
    email: Option<String>,
    plan: Option<String>,
}

fn signup(instance_id: &str) -> FlowRef {
    FlowRef::new("signup").instance(instance_id)
}

fn fresh(flow: FlowRef) -> FlowInstance<Signup> {
    FlowInstance::new(flow, FlowState::start("account", Signup::default(), 1_000))
}

/// A value written by the original design's `APIStore` restores; saved back,
/// it is the same JSON but for the new `__meta.savedAt`.
async fn fixture_round_trips_with_unknown_fields(backend: &Backend) {
    let [front_end, service] = &backend.writers;
    front_end
        .set(&key(FIXTURE_KEY), FIXTURE.as_bytes(), None)
        .await
        .unwrap();

    let saved_at = 1_733_300_009_000;
    let flows = FlowPersister::<Value>::new(service.clone())
        .with_schema_version("2")
        .with_clock(move || saved_at);
    let flow = FlowRef::new("onboarding").instance("user-42");
    let restored = flows
        .restore(&flow)
        .await
        .unwrap()
        .expect("the fixture is under the default layout's key");
    assert_eq!(restored.key.as_str(), FIXTURE_KEY);
    let state = &restored.instance.state;
    assert_eq!(state.step_id, "profile");
    assert_eq!(state.context["name"], "Ada");
    assert_eq!(state.history.len(), 2);
    assert_eq!(state.saved_at(), Some(1_733_300_007_000));
    let base = Base::of(Some(&restored));
    assert!(
        matches!(base, Base::Version(_)),
        "every backend here keeps entry versions"
    );

    let mut instance = restored.instance;
    let saved = flows.save(&mut instance, base.clone()).await.unwrap();
    assert_eq!(saved.saved_at, saved_at);
    assert_ne!(Base::Version(saved.version.clone().unwrap()), base);

    let stored = front_end.get(&key(FIXTURE_KEY)).await.unwrap().unwrap();
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    let mut expected: Value = serde_json::from_str(FIXTURE).unwrap();
    expected["state"]["__meta"]["savedAt"] = json!(saved_at);
    assert_eq!(
        stored, expected,
        "only savedAt changes; unknown fields survive"
    );
}

/// Both writers restore the same version, then save at once: one wins, the
/// other's conflict carries the winner's state and version. Three rounds, each
/// from the winner of the last.
async fn two_writers_from_one_base_one_wins(backend: &Backend) {
    let persisters = backend.writers.clone().map(FlowPersister::<Signup>::new);
    let flow = signup("42");
    persisters[0]
        .save(&mut fresh(flow.clone()), Base::New)
        .await
        .unwrap();

    for round in 0..3 {
        let seen_by_a = persisters[0].restore(&flow).await.unwrap().unwrap();
        let seen_by_b = persisters[1].restore(&flow).await.unwrap().unwrap();
        assert_eq!(seen_by_a.version, seen_by_b.version, "round {round}");
        let base = Base::of(Some(&seen_by_a));

        let save_as = |flows: &FlowPersister<Signup>, seen: Restored<Signup>, plan: &str| {
            let (flows, base) = (flows.clone(), base.clone());
            let mut instance = seen.instance;
            instance.state.context.plan = Some(format!("{plan}-{round}"));
            tokio::spawn(async move {
                let result = flows.save(&mut instance, base).await;
                (instance, result)
            })
        };
        let a = save_as(&persisters[0], seen_by_a, "pro");
        let b = save_as(&persisters[1], seen_by_b, "free");
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let ((winner, saved), loser) = match (a, b) {
            ((winner, Ok(saved)), (_, Err(loser))) | ((_, Err(loser)), (winner, Ok(saved))) => {
                ((winner, saved), loser)
            }
            (a, b) => panic!(
                "round {round}: exactly one save must win, got {:?} and {:?}",
                a.1, b.1
            ),
        };
        let SaveError::Conflict(conflict) = loser else {
            panic!("round {round}: the loser must get a conflict, got {loser:?}")
        };
        assert_eq!(conflict.current_version, saved.version, "round {round}");
        let current = conflict.current.expect("the winner's state");
        assert_eq!(current.version, saved.version, "round {round}");
        assert_eq!(
            current.instance.state.context, winner.state.context,
            "round {round}"
        );

        let stored = persisters[1].restore(&flow).await.unwrap().unwrap();
        assert_eq!(stored.instance.state.context, winner.state.context);
        assert_eq!(stored.version, saved.version);
    }
}

/// Listing finds one flow's instances (every variant), removal takes exactly
/// what it names, and "remove all" is not `clear`.
async fn list_and_remove_leave_unrelated_keys(backend: &Backend) {
    let [store, other] = &backend.writers;
    let flows = FlowPersister::<Signup>::new(store.clone());
    for flow in [
        signup("a"),
        signup("b"),
        signup("c"),
        signup("d").variant("short"),
        FlowRef::new("signup-v2").instance("a"),
    ] {
        flows.save(&mut fresh(flow), Base::New).await.unwrap();
    }
    // Keys that are not flows, or look almost like the layout's prefixes.
    let unrelated = [
        "session:1",
        "useflow",
        "useflowx:signup:default:a",
        "signup:default:a",
    ];
    for name in unrelated {
        other.set(&key(name), name.as_bytes(), None).await.unwrap();
    }

    let listed = FlowPersister::<Signup>::new(other.clone())
        .list("signup")
        .await
        .unwrap();
    let mut found: Vec<(String, String)> = listed
        .iter()
        .map(|item| {
            assert!(item.version.is_some(), "listed with its entry version");
            (
                item.instance.variant_id.clone(),
                item.instance.instance_id.clone(),
            )
        })
        .collect();
    found.sort();
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(v, i)| (v.to_string(), i.to_string()))
            .collect()
    };
    assert_eq!(
        found,
        pairs(&[
            ("default", "a"),
            ("default", "b"),
            ("default", "c"),
            ("short", "d")
        ]),
        "signup-v2 is another flow"
    );

    flows.remove(&signup("a")).await.unwrap();
    assert_eq!(flows.list("signup").await.unwrap().len(), 3);
    assert_eq!(flows.remove_flow("signup").await.unwrap(), 3);
    assert!(flows.list("signup").await.unwrap().is_empty());
    assert_eq!(flows.list("signup-v2").await.unwrap().len(), 1);
    assert_eq!(flows.remove_all().await.unwrap(), 1);
    assert!(flows.list("signup-v2").await.unwrap().is_empty());

    for name in unrelated {
        assert_eq!(
            other.get(&key(name)).await.unwrap().as_deref(),
            Some(name.as_bytes()),
            "{name} is not a flow and stays"
        );
    }
}

/// A restore exactly at the TTL finds the state; one past it answers "none"
/// and deletes the entry from the store.
async fn restore_ttl_deletes_an_expired_entry(backend: &Backend) {
    let [store, other] = &backend.writers;
    let now = Arc::new(AtomicU64::new(10_000));
    let clock = now.clone();
    let flows = FlowPersister::<Signup>::new(store.clone())
        .with_restore_ttl(Duration::from_millis(500))
        .with_clock(move || clock.load(Ordering::SeqCst));
    let flow = signup("expiring");
    let untouched = signup("fresh");
    flows
        .save(&mut fresh(flow.clone()), Base::New)
        .await
        .unwrap();
    now.store(10_400, Ordering::SeqCst);
    flows
        .save(&mut fresh(untouched.clone()), Base::New)
        .await
        .unwrap();
    let stored_key = key("useflow:signup:default:expiring");

    now.store(10_500, Ordering::SeqCst);
    assert!(
        flows.restore(&flow).await.unwrap().is_some(),
        "exactly the TTL old"
    );
    now.store(10_501, Ordering::SeqCst);
    assert!(flows.restore(&flow).await.unwrap().is_none(), "expired");
    assert!(
        other.get(&stored_key).await.unwrap().is_none(),
        "the expired entry is deleted"
    );
    assert!(
        flows.restore(&untouched).await.unwrap().is_some(),
        "a younger instance stays"
    );
}

/// One module per backend, each running every scenario on a backend of its own.
macro_rules! on_backend {
    ($module:ident, $kind:expr $(, #[$attr:meta])*) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn fixture_round_trips_with_unknown_fields() {
                let backend = open($kind).await;
                super::fixture_round_trips_with_unknown_fields(&backend).await;
                backend.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn two_writers_from_one_base_one_wins() {
                let backend = open($kind).await;
                super::two_writers_from_one_base_one_wins(&backend).await;
                backend.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn list_and_remove_leave_unrelated_keys() {
                let backend = open($kind).await;
                super::list_and_remove_leave_unrelated_keys(&backend).await;
                backend.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn restore_ttl_deletes_an_expired_entry() {
                let backend = open($kind).await;
                super::restore_ttl_deletes_an_expired_entry(&backend).await;
                backend.finish().await;
            }
        }
    };
}

on_backend!(memory, Kind::Memory);
on_backend!(sqlite, Kind::Sqlite);
on_backend!(
    postgres,
    Kind::Postgres,
    #[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
);
on_backend!(
    redis,
    Kind::Redis,
    #[ignore = "needs FLOWSTORE_TEST_REDIS_URL"]
);
on_backend!(served, Kind::Served);
