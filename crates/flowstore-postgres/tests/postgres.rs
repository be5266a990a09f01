//! flowstore-postgres's own cases, beyond the shared suite.
//!
//! Cases that need a server are ignored unless run with `--include-ignored`
//! and `FLOWSTORE_TEST_POSTGRES_URL` (they panic without it); the others run
//! everywhere.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flowstore_core::{ErrorKind, Key, Namespace, Operation, Store, Ttl};
use flowstore_postgres::{PostgresBuilder, PostgresStore, tokio_postgres};

fn server_url() -> String {
    std::env::var("FLOWSTORE_TEST_POSTGRES_URL")
        .expect("FLOWSTORE_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server")
}

/// A table name no other test or run uses.
fn unique_table(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "fs_test_{label}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A plain tokio-postgres connection to the test server, for checks behind
/// the store's back.
async fn raw_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), tokio_postgres::NoTls)
        .await
        .expect("cannot connect to the test server");
    tokio::spawn(connection);
    client
}

/// Drops a test table and its schema-version row.
async fn drop_table(table: &str) {
    let client = raw_client().await;
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""))
        .await
        .unwrap();
    client
        .execute(
            "DELETE FROM flowstore_meta WHERE table_name = $1",
            &[&table],
        )
        .await
        .unwrap();
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

// ---- no server needed -------------------------------------------------------

#[tokio::test]
async fn bad_table_names_fail_before_connecting() {
    // Port 1 on localhost refuses connections: a Config error proves the name
    // was checked first.
    for name in [
        "Flow",
        "x; DROP TABLE y",
        &"a".repeat(64),
        "a\"b",
        "flowstore_meta",
    ] {
        let err = PostgresBuilder::from_url("postgres://u:hunter2@127.0.0.1:1/db")
            .unwrap()
            .table(name)
            .open()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{name:?}: {err}");
    }
    let err = PostgresBuilder::from_url("postgres://u@127.0.0.1:1/db?table=Nope").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn unreachable_server_is_unavailable_and_hides_the_password() {
    let err = PostgresBuilder::from_url(
        "postgres://u:hunter2@127.0.0.1:1/db?create_timeout=2s&wait_timeout=2s",
    )
    .unwrap()
    .open()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.is_temporary());
    assert!(!err.to_one_line().contains("hunter2"));
    assert!(!format!("{err:?}").contains("hunter2"));
    // Opening is no operation; the backend is named as context.
    assert_eq!(
        (err.backend_name(), err.operation()),
        (Some("postgres"), None)
    );
    assert!(
        err.to_string().starts_with("unavailable: postgres: "),
        "{err}"
    );
}

// ---- against a server -------------------------------------------------------

#[tokio::test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn debug_never_shows_the_password() {
    let mut config: tokio_postgres::Config = server_url().parse().unwrap();
    let secret = match config.get_password() {
        Some(password) => String::from_utf8(password.to_vec()).unwrap(),
        None => {
            // A trusting server ignores a password it did not ask for.
            config.password("hunter2-not-needed");
            "hunter2-not-needed".to_string()
        }
    };
    let builder = PostgresBuilder::new(config);
    assert!(!format!("{builder:?}").contains(&secret));
    let store = builder.open().await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains(&secret), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(debug.contains("flowstore"), "{debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn full_pool_gives_unavailable_not_a_hang() {
    let store = PostgresBuilder::from_url(&server_url())
        .unwrap()
        .namespace(Namespace::new("pool-exhaustion").unwrap())
        .pool_size(2)
        .wait_timeout(Duration::from_millis(300))
        .open()
        .await
        .unwrap();
    // Hold both connections.
    let held = (
        store.pool().get().await.unwrap(),
        store.pool().get().await.unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let key = key(&format!("k{i}"));
            let result = if i % 2 == 0 {
                store.get(&key).await.map(drop)
            } else {
                store.set(&key, b"v", None).await
            };
            (i, result)
        }));
    }
    for task in tasks {
        let (i, result) = task.await.unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(err.is_temporary());
        let operation = if i % 2 == 0 {
            Operation::Get
        } else {
            Operation::Set
        };
        assert_eq!(err.operation(), Some(operation), "{err}");
        assert_eq!(err.backend_name(), Some("postgres"), "{err}");
        assert!(!err.message().contains(&format!("k{i}")), "{err}");
    }
    // The health probe goes through the same pool: it cannot serve either.
    let err = store.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    // Released connections serve again.
    drop(held);
    assert!(!store.ping().await.unwrap().is_degraded());
    store.set(&key("after"), b"ok", None).await.unwrap();
    assert_eq!(
        store.get(&key("after")).await.unwrap(),
        Some(b"ok".to_vec())
    );
    store.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn concurrent_startup_creates_the_table_once() {
    let table = unique_table("startup");
    let mut opens = Vec::new();
    for i in 0..8 {
        let table = table.clone();
        opens.push(tokio::spawn(async move {
            PostgresBuilder::from_url(&server_url())
                .unwrap()
                .table(table)
                .namespace(Namespace::new(format!("n{i}")).unwrap())
                .open()
                .await
        }));
    }
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().expect("every concurrent open succeeds"));
    }
    for (i, store) in stores.iter().enumerate() {
        store
            .set(&key("k"), format!("{i}").as_bytes(), None)
            .await
            .unwrap();
    }
    for (i, store) in stores.iter().enumerate() {
        assert_eq!(
            store.get(&key("k")).await.unwrap(),
            Some(format!("{i}").into_bytes())
        );
    }
    let client = raw_client().await;
    let versions: i64 = client
        .query_one(
            "SELECT count(*) FROM flowstore_meta WHERE table_name = $1 AND schema_version = $2",
            &[&table, &flowstore_postgres::SCHEMA_VERSION],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, 1);
    drop(stores);
    drop_table(&table).await;
}

#[tokio::test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn newer_schema_version_is_refused() {
    let table = unique_table("version");
    let open = || {
        PostgresBuilder::from_url(&server_url())
            .unwrap()
            .table(table.clone())
            .open()
    };
    drop(open().await.unwrap());
    let client = raw_client().await;
    client
        .execute(
            "UPDATE flowstore_meta SET schema_version = 999 WHERE table_name = $1",
            &[&table],
        )
        .await
        .unwrap();
    let err = open().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("999"), "{err}");

    // A table of that name that flowstore did not create is refused too.
    client
        .execute(
            "DELETE FROM flowstore_meta WHERE table_name = $1",
            &[&table],
        )
        .await
        .unwrap();
    let err = open().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn sweep_removes_expired_rows() {
    let table = unique_table("sweep");
    let store = PostgresBuilder::from_url(&server_url())
        .unwrap()
        .table(table.clone())
        .sweep_interval(Some(Duration::from_millis(200)))
        .sweep_batch_size(3)
        .open()
        .await
        .unwrap();
    let short = Ttl::from_millis(50).unwrap();
    for i in 0..10 {
        store
            .set(&key(&format!("short{i}")), b"v", Some(short))
            .await
            .unwrap();
    }
    store
        .set(&key("long"), b"v", Some(Ttl::from_secs(3600).unwrap()))
        .await
        .unwrap();
    store.set(&key("forever"), b"v", None).await.unwrap();

    let client = raw_client().await;
    let count_sql = format!("SELECT count(*) FROM \"{table}\"");
    let mut remaining = i64::MAX;
    // Poll: the sweep runs on its own schedule; 10 s is far beyond it.
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        remaining = client.query_one(&count_sql, &[]).await.unwrap().get(0);
        if remaining == 2 {
            break;
        }
    }
    assert_eq!(
        remaining, 2,
        "the sweep should leave only the unexpired rows"
    );
    assert_eq!(store.get(&key("long")).await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(
        store.get(&key("forever")).await.unwrap(),
        Some(b"v".to_vec())
    );
    assert_eq!(store.sweep_expired().await.unwrap(), 0);
    drop(store);
    drop_table(&table).await;
}

#[tokio::test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn background_tasks_stop_when_the_store_is_dropped() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let store = PostgresBuilder::from_url(&server_url())
        .unwrap()
        .sweep_interval(Some(Duration::from_millis(20)))
        .write_lanes(3)
        .open()
        .await
        .unwrap();
    store.set(&key("bg"), b"v", None).await.unwrap();
    store.delete(&key("bg")).await.unwrap();
    // Three lanes, the sweep, and at least one connection task.
    assert!(metrics.num_alive_tasks() >= before + 5);
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(store);
    // The sweep holds only a Weak and the lanes end with their queues; with
    // them the pool and its connection tasks go.
    let mut alive = usize::MAX;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        alive = metrics.num_alive_tasks();
        if alive == before {
            break;
        }
    }
    assert_eq!(alive, before, "background tasks outlived the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn dead_connections_are_replaced_not_handed_out() {
    let app = format!("fs_test_dead_{}", std::process::id());
    let url = server_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = PostgresBuilder::from_url(&format!("{url}{separator}application_name={app}"))
        .unwrap()
        .namespace(Namespace::new("dead-connections").unwrap())
        .pool_size(4)
        .open()
        .await
        .unwrap();
    // Warm up several connections.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.set(&key(&format!("k{i}")), b"v", None).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // Kill every connection of this store behind its back.
    let client = raw_client().await;
    let killed: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1) AS t",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed > 0);
    // Give the connection tasks a moment to see the sockets close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..16 {
        assert_eq!(
            store.get(&key(&format!("k{i}"))).await.unwrap(),
            Some(b"v".to_vec())
        );
    }
    store.clear().await.unwrap();
}

#[tokio::test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn the_pool_hands_out_the_connection_used_last() {
    // No sweep: it would borrow a connection of its own in between.
    let store = PostgresBuilder::from_url(&server_url())
        .unwrap()
        .pool_size(2)
        .sweep_interval(None)
        .open()
        .await
        .unwrap();
    let pool = store.pool();
    let (first, second) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    let pid_of = async |client: &flowstore_postgres::deadpool_postgres::Object| -> i32 {
        client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0)
    };
    let (first_pid, second_pid) = (pid_of(&first).await, pid_of(&second).await);
    assert_ne!(first_pid, second_pid);
    // `second` goes back last, so it serves the next checkout (first-in,
    // first-out would hand out `first`, idle the longest).
    drop(first);
    drop(second);
    for _ in 0..3 {
        let next = pool.get().await.unwrap();
        assert_eq!(pid_of(&next).await, second_pid);
    }
}

#[tokio::test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn server_refusals_map_to_kinds() {
    let mut config: tokio_postgres::Config = server_url().parse().unwrap();
    config.dbname("flowstore_no_such_database");
    let err = PostgresBuilder::new(config.clone())
        .open()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");

    let mut config: tokio_postgres::Config = server_url().parse().unwrap();
    config.user("flowstore_no_such_role");
    let err = PostgresBuilder::new(config).open().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err:?}");
    assert!(!err.is_temporary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn grouped_writes_keep_per_key_order_and_all_land() {
    let store = PostgresStore::open(&server_url())
        .await
        .unwrap()
        .with_namespace(Namespace::new(format!("grouped-{}", std::process::id())).unwrap());
    // 64 tasks, each writing its own key 20 times in order, plus a shared key:
    // the last acknowledged write of each task's key must be what is read.
    let mut tasks = Vec::new();
    for task in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..20 {
                let value = format!("{task}:{n}");
                store
                    .set(&key(&format!("own{task}")), value.as_bytes(), None)
                    .await?;
                store.set(&key("shared"), value.as_bytes(), None).await?;
                if n == 10 {
                    store.delete(&key(&format!("own{task}"))).await?;
                }
            }
            Ok::<(), flowstore_core::Error>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for task in 0..64 {
        let got = store.get(&key(&format!("own{task}"))).await.unwrap();
        assert_eq!(got, Some(format!("{task}:19").into_bytes()));
    }
    let shared = store.get(&key("shared")).await.unwrap().unwrap();
    assert!(String::from_utf8(shared).unwrap().ends_with(":19"));
    store.clear().await.unwrap();
}

/// A lone writer runs its write on its own task. If it gives up while the
/// statement waits on the server (here for a row lock held by another
/// connection), the statement is not cancelled: a later write of the same key
/// and a `clear` wait for it, and the later write's value is what stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn a_write_whose_caller_gave_up_is_not_overtaken() {
    let table = unique_table("gave_up");
    let store = PostgresBuilder::from_url(&server_url())
        .unwrap()
        .table(table.clone())
        .open()
        .await
        .unwrap();
    let namespace = store.namespace().as_str().to_string();
    store.set(&key("step"), b"0", None).await.unwrap();

    let mut holder = raw_client().await;
    let lock = holder.transaction().await.unwrap();
    lock.execute(
        &format!("SELECT 1 FROM \"{table}\" WHERE namespace = $1 AND key = 'step' FOR UPDATE"),
        &[&namespace],
    )
    .await
    .unwrap();

    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        store.set(&key("step"), b"1", None),
    )
    .await;
    assert!(gave_up.is_err(), "the write should wait for the row lock");
    let later = tokio::spawn({
        let store = store.clone();
        async move { store.set(&key("step"), b"2", None).await }
    });
    let cleared_other = tokio::spawn({
        let store = store.with_namespace(Namespace::new("gave-up-other").unwrap());
        async move { store.clear().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !later.is_finished(),
        "the later write overtook the abandoned one"
    );
    assert!(
        !cleared_other.is_finished(),
        "clear did not wait for the write before it"
    );

    lock.commit().await.unwrap();
    later.await.unwrap().unwrap();
    cleared_other.await.unwrap().unwrap();
    assert_eq!(store.get(&key("step")).await.unwrap(), Some(b"2".to_vec()));
    drop_table(&table).await;
}

/// TLS against a server with a certificate: `FLOWSTORE_TEST_POSTGRES_TLS_URL`
/// with `sslmode=verify-full&sslrootcert=<CA file>`. `cargo xtask ci` and
/// `cargo xtask servers` set it for their throwaway server (`ssl = on`, a
/// certificate for `localhost` from a throwaway CA). Forced without the variable
/// (as `--include-ignored --all-features` does), it fails: never a silent pass.
#[cfg(feature = "tls")]
#[tokio::test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_TLS_URL"]
async fn tls_connections_are_encrypted() {
    let url = std::env::var("FLOWSTORE_TEST_POSTGRES_TLS_URL").expect(
        "FLOWSTORE_TEST_POSTGRES_TLS_URL is not set: point it at a PostgreSQL server with TLS \
         (postgres://…?sslmode=verify-full&sslrootcert=<CA file>), or run the tests through \
         `cargo xtask ci` / with the exports of `cargo xtask servers`",
    );
    let store = PostgresStore::open(&url)
        .await
        .unwrap()
        .with_namespace(Namespace::new("tls").unwrap());
    store.set(&key("k"), b"secret", None).await.unwrap();
    assert_eq!(
        store.get(&key("k")).await.unwrap(),
        Some(b"secret".to_vec())
    );
    let client = store.pool().get().await.unwrap();
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the connection is not encrypted");
    drop(client);
    store.clear().await.unwrap();

    // A CA that did not sign the server's certificate: refused, not plain text.
    let other_ca = std::env::temp_dir().join(format!("fs-test-ca-{}.pem", std::process::id()));
    std::fs::write(&other_ca, include_str!("data/unrelated-ca.pem")).unwrap();
    let (base, _) = url.split_once('?').unwrap_or((&url, ""));
    let err = PostgresStore::open(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        other_ca.display()
    ))
    .await
    .unwrap_err();
    std::fs::remove_file(&other_ca).unwrap();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
}
