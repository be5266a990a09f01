//! Entry versions on PostgreSQL beyond the shared suite: the migration of
//! tables written by schema-1 code, and conditional writes racing across
//! stores that share nothing but the server.
//!
//! Every case needs `FLOWSTORE_TEST_POSTGRES_URL` and is ignored unless run
//! with `--include-ignored`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use flowstore_core::{Condition, Current, ErrorKind, Key, Namespace, Store, StoreExt, Version};
use flowstore_postgres::{PostgresBuilder, PostgresStore, SCHEMA_VERSION, tokio_postgres};

fn server_url() -> String {
    std::env::var("FLOWSTORE_TEST_POSTGRES_URL")
        .expect("FLOWSTORE_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server")
}

/// A table name no other test or run uses.
fn unique_table(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "fs_test_{label}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn raw_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), tokio_postgres::NoTls)
        .await
        .expect("cannot connect to the test server");
    tokio::spawn(connection);
    client
}

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

async fn open(table: &str, namespace: &str) -> PostgresStore {
    PostgresBuilder::from_url(&server_url())
        .unwrap()
        .table(table)
        .namespace(Namespace::new(namespace).unwrap())
        .open()
        .await
        .unwrap()
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

async fn version_of(store: &PostgresStore, k: &Key) -> Version {
    store.get_entry(k).await.unwrap().expect("absent").version
}

/// What flowstore-postgres at da248d2 (schema 1) did at open on an empty
/// database: the meta table, the table, its index, the version record.
async fn create_schema_1_table(client: &tokio_postgres::Client, table: &str) {
    client
        .batch_execute(
            "SELECT pg_advisory_xact_lock(7380396448182202226); \
             CREATE TABLE IF NOT EXISTS \"flowstore_meta\" (\
             table_name text PRIMARY KEY, \
             schema_version integer NOT NULL, \
             created_at timestamptz NOT NULL DEFAULT now(), \
             updated_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
    client
        .batch_execute(&format!(
            "CREATE TABLE \"{table}\" (\
             namespace text NOT NULL, \
             key text NOT NULL, \
             value bytea NOT NULL, \
             expires_at timestamptz NULL, \
             PRIMARY KEY (namespace, key)); \
             CREATE INDEX ON \"{table}\" (expires_at) WHERE expires_at IS NOT NULL"
        ))
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO \"flowstore_meta\" (table_name, schema_version) VALUES ($1, $2) \
             ON CONFLICT (table_name) DO UPDATE \
             SET schema_version = EXCLUDED.schema_version, updated_at = now()",
            &[&table, &1i32],
        )
        .await
        .unwrap();
}

/// Writes a row exactly as schema-1 `set` did (its one-row upsert).
async fn schema_1_set(
    client: &tokio_postgres::Client,
    table: &str,
    namespace: &str,
    key: &str,
    value: &[u8],
    ttl_ms: Option<i64>,
) {
    client
        .execute(
            &format!(
                "INSERT INTO \"{table}\" (namespace, key, value, expires_at) \
                 VALUES ($1, $2, $3, now() + $4::int8 * interval '1 millisecond') \
                 ON CONFLICT (namespace, key) DO UPDATE \
                 SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
            ),
            &[&namespace, &key, &value, &ttl_ms],
        )
        .await
        .unwrap();
}

async fn recorded_schema_version(client: &tokio_postgres::Client, table: &str) -> i32 {
    client
        .query_one(
            "SELECT schema_version FROM flowstore_meta WHERE table_name = $1",
            &[&table],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn schema_1_tables_are_migrated_and_their_rows_versioned() {
    let table = unique_table("upgrade");
    let ns = "legacy";
    let client = raw_client().await;
    create_schema_1_table(&client, &table).await;
    schema_1_set(&client, &table, ns, "plain", b"one", None).await;
    schema_1_set(&client, &table, ns, "hour", b"two", Some(3_600_000)).await;
    schema_1_set(&client, &table, ns, "gone", b"three", Some(1)).await;
    schema_1_set(&client, &table, ns, "doomed", b"four", None).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let before = SystemTime::now();
    // Two processes starting at once: one migrates, the other waits for it
    // (the advisory lock) and finds schema 2.
    let (store, other) = tokio::join!(open(&table, ns), open(&table, ns));
    assert_eq!(
        recorded_schema_version(&client, &table).await,
        SCHEMA_VERSION
    );
    assert_eq!(SCHEMA_VERSION, 2);
    assert_eq!(
        other.get(&key("plain")).await.unwrap(),
        Some(b"one".to_vec())
    );
    drop(other);

    // Values written by schema 1 read as before…
    assert_eq!(
        store.get(&key("plain")).await.unwrap(),
        Some(b"one".to_vec())
    );
    assert_eq!(
        store.get(&key("hour")).await.unwrap(),
        Some(b"two".to_vec())
    );
    assert_eq!(store.get(&key("gone")).await.unwrap(), None);
    // …and carry stable pseudo-versions, unlike any generated one.
    let plain = store.get_entry(&key("plain")).await.unwrap().unwrap();
    assert_eq!(plain.value, b"one");
    assert!(
        plain.version.as_str().starts_with("pg.xmin."),
        "{:?}",
        plain.version
    );
    assert_eq!(plain.expires_at, None);
    assert_eq!(version_of(&store, &key("plain")).await, plain.version);
    let hour = store.get_entry(&key("hour")).await.unwrap().unwrap();
    assert_ne!(
        hour.version, plain.version,
        "rows written apart share a version"
    );
    let expires_at = hour.expires_at.expect("the TTL was lost");
    assert!(
        expires_at > before + Duration::from_secs(3000),
        "{expires_at:?}"
    );
    assert!(
        expires_at < before + Duration::from_secs(3700),
        "{expires_at:?}"
    );
    assert!(store.get_entry(&key("gone")).await.unwrap().is_none());

    // Conditional writes work on them: a stale pseudo-version conflicts…
    let err = store
        .set_if_version(&key("hour"), b"x", None, &plain.version)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&hour.version));
    assert_eq!(
        store.get(&key("hour")).await.unwrap(),
        Some(b"two".to_vec())
    );
    // …the current one matches and gives a real version.
    let written = store
        .set_if_version(&key("plain"), b"one'", None, &plain.version)
        .await
        .unwrap();
    let entry = store.get_entry(&key("plain")).await.unwrap().unwrap();
    assert_eq!(
        (entry.value.as_slice(), &entry.version),
        (&b"one'"[..], &written)
    );
    // An expired schema-1 row is absent for conditions.
    store
        .set_if_absent(&key("gone"), b"new", None)
        .await
        .unwrap();
    assert_eq!(
        store.get(&key("gone")).await.unwrap(),
        Some(b"new".to_vec())
    );
    // delete_if at a pseudo-version.
    let doomed = version_of(&store, &key("doomed")).await;
    store
        .delete_if_version(&key("doomed"), &doomed)
        .await
        .unwrap();
    assert_eq!(store.get(&key("doomed")).await.unwrap(), None);
    // Plain writes version the row too.
    store.set(&key("hour"), b"two'", None).await.unwrap();
    let replaced = store.get_entry(&key("hour")).await.unwrap().unwrap();
    assert!(!replaced.version.as_str().starts_with("pg."));
    assert_eq!(replaced.expires_at, None, "a plain set kept the TTL");

    // A process still running schema-1 code keeps writing during a rolling
    // upgrade: an update of a versioned row must not keep the old version…
    schema_1_set(&client, &table, ns, "plain", b"from v1", None).await;
    let after_v1 = store.get_entry(&key("plain")).await.unwrap().unwrap();
    assert_eq!(after_v1.value, b"from v1");
    assert_ne!(
        after_v1.version, written,
        "a schema-1 update kept the version"
    );
    let err = store
        .set_if_version(&key("plain"), b"lost update", None, &written)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&after_v1.version));
    // …and a row it creates reads as a pseudo-version that its next write changes.
    schema_1_set(&client, &table, ns, "created_by_v1", b"a", None).await;
    let first = version_of(&store, &key("created_by_v1")).await;
    schema_1_set(&client, &table, ns, "created_by_v1", b"a", None).await;
    let second = version_of(&store, &key("created_by_v1")).await;
    assert!(second.as_str().starts_with("pg.xmin."));
    assert_ne!(first, second, "a schema-1 rewrite kept the pseudo-version");

    // Opening again finds schema 2 and changes nothing.
    drop(store);
    let store = open(&table, ns).await;
    assert_eq!(
        recorded_schema_version(&client, &table).await,
        SCHEMA_VERSION
    );
    assert_eq!(version_of(&store, &key("created_by_v1")).await, second);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn new_tables_have_the_version_column_and_no_pseudo_versions() {
    let table = unique_table("fresh");
    let store = open(&table, "fresh").await;
    let client = raw_client().await;
    assert_eq!(
        recorded_schema_version(&client, &table).await,
        SCHEMA_VERSION
    );
    store.set(&key("k"), b"v", None).await.unwrap();
    let stored: Option<String> = client
        .query_one(&format!("SELECT version FROM \"{table}\""), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stored.as_deref(),
        Some(version_of(&store, &key("k")).await.as_str())
    );
    drop_table(&table).await;
}

/// Two stores with their own pools and writer lanes (as two processes would
/// be): the server alone orders their conditional writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn conditional_writes_race_correctly_across_stores() {
    let table = unique_table("race");
    let stores = [
        Arc::new(open(&table, "race").await),
        Arc::new(open(&table, "race").await),
    ];
    let k = key("raced");
    let start = stores[0].set_versioned(&k, b"start", None).await.unwrap();
    let mut racers = Vec::new();
    for i in 0..32 {
        let (store, k, start) = (Arc::clone(&stores[i % 2]), k.clone(), start.clone());
        racers.push(tokio::spawn(async move {
            let value = format!("racer-{i}");
            match store
                .set_if_version(&k, value.as_bytes(), None, &start)
                .await
            {
                Ok(version) => Some((value, version)),
                Err(err) if err.kind() == ErrorKind::Conflict => None,
                Err(err) => panic!("{err:?}"),
            }
        }));
    }
    let mut winners = Vec::new();
    for racer in racers {
        winners.extend(racer.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let entry = stores[1].get_entry(&k).await.unwrap().unwrap();
    assert_eq!(entry.value, winners[0].0.as_bytes());
    assert_eq!(entry.version, winners[0].1);

    // Creation races too: one of many `set_if_absent`s wins.
    let created = key("created");
    let mut creators = Vec::new();
    for i in 0..16 {
        let (store, k) = (Arc::clone(&stores[i % 2]), created.clone());
        creators.push(tokio::spawn(async move {
            store.set_if_absent(&k, b"mine", None).await.ok()
        }));
    }
    let mut made = Vec::new();
    for creator in creators {
        made.extend(creator.await.unwrap());
    }
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(version_of(&stores[0], &created).await, made[0]);

    // A counter incremented from both stores loses no update.
    let counter = key("counter");
    stores[0].set_if_absent(&counter, b"0", None).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, k) = (Arc::clone(&stores[i % 2]), counter.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                loop {
                    let entry = store.get_entry(&k).await.unwrap().unwrap();
                    let count: u32 = std::str::from_utf8(&entry.value).unwrap().parse().unwrap();
                    let next = (count + 1).to_string();
                    match store
                        .set_if_version(&k, next.as_bytes(), None, &entry.version)
                        .await
                    {
                        Ok(_) => break,
                        Err(err) if err.kind() == ErrorKind::Conflict => continue,
                        Err(err) => panic!("{err:?}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        stores[0].get(&counter).await.unwrap(),
        Some(b"200".to_vec())
    );
    drop_table(&table).await;
}

/// Waits until a session of the store waits for a lock.
async fn wait_for_a_blocked_statement(client: &tokio_postgres::Client, table: &str) {
    for _ in 0..500 {
        let blocked: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'",
                &[&table],
            )
            .await
            .unwrap()
            .get(0);
        if blocked > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the conditional write never waited for the row lock");
}

/// A conditional write that started before a concurrent write committed (its
/// snapshot still shows the expected version) but reached the row after it:
/// the statement does not write, and the conflict names the version that won,
/// not the one its snapshot saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn a_write_overtaken_while_waiting_names_the_winner() {
    let table = unique_table("overtaken");
    let store = Arc::new(open(&table, "overtaken").await);
    for (name, is_delete) in [("set", false), ("delete", true)] {
        let k = key(name);
        let expected = store.set_versioned(&k, b"start", None).await.unwrap();
        // Another client updates the row and holds the lock, uncommitted.
        let mut other = raw_client().await;
        let tx = other.transaction().await.unwrap();
        tx.execute(
            &format!(
                "UPDATE \"{table}\" SET value = 'other', version = 'winner-{name}' \
                 WHERE namespace = 'overtaken' AND key = $1"
            ),
            &[&name],
        )
        .await
        .unwrap();
        let loser = {
            let (store, k, expected) = (Arc::clone(&store), k.clone(), expected.clone());
            tokio::spawn(async move {
                if is_delete {
                    store.delete_if(&k, &expected).await
                } else {
                    let proposed = Version::generate();
                    let condition = Condition::Matches(expected);
                    store.set_if(&k, b"mine", None, &condition, &proposed).await
                }
            })
        };
        wait_for_a_blocked_statement(&raw_client().await, &table).await;
        tx.commit().await.unwrap();
        let err = loser.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{name}: {err}");
        let winner = Version::new(format!("winner-{name}")).unwrap();
        assert_eq!(err.current(), Some(&Current::Version(winner)), "{name}");
        assert_eq!(
            store.get(&k).await.unwrap(),
            Some(b"other".to_vec()),
            "{name}"
        );
    }
    drop_table(&table).await;
}

/// The trigger's function runs inside every write and sees the values: it is
/// looked up in the table's schema only, and one flowstore did not create there
/// (another body, say one that copies values away) is refused, not used.
#[tokio::test]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn a_trigger_function_flowstore_did_not_create_is_refused() {
    let client = raw_client().await;
    let (ours, foreign) = (unique_table("own_schema"), unique_table("foreign_schema"));
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{ours}\"; CREATE SCHEMA \"{foreign}\"; \
             CREATE FUNCTION \"{foreign}\".flowstore_forget_version() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$"
        ))
        .await
        .unwrap();
    let open_in = |schema: &str, table: &str| {
        let url = format!("{}?options=-csearch_path%3D{schema}", server_url());
        let table = table.to_string();
        async move {
            PostgresBuilder::from_url(&url)
                .unwrap()
                .table(&table)
                .open()
                .await
        }
    };
    let err = open_in(&foreign, "entries").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    assert!(err.message().contains("flowstore_forget_version"), "{err}");

    // In a schema of its own, flowstore creates the function there, and a
    // second table of that schema uses the same one.
    let first = open_in(&ours, "first").await.unwrap();
    let second = open_in(&ours, "second").await.unwrap();
    for store in [&first, &second] {
        store.set(&key("k"), b"v", None).await.unwrap();
        let entry = store.get_entry(&key("k")).await.unwrap().unwrap();
        assert_eq!(entry.value, b"v");
    }
    let functions: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.proname = 'flowstore_forget_version'",
            &[&ours],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(functions, 1);
    drop((first, second));
    client
        .batch_execute(&format!(
            "DROP SCHEMA \"{ours}\" CASCADE; DROP SCHEMA \"{foreign}\" CASCADE"
        ))
        .await
        .unwrap();
}

/// A table of the previous release keeps the collation its database gave the
/// key column; listing must still be byte order, each key once, legacy rows at
/// the pseudo-versions `get_entry` reports. The column is switched to an ICU
/// English collation (where `a` < `B` < `é` < `z`, unlike byte order) when the
/// server has one, as a database created with that default would have it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn schema_1_tables_in_another_collation_list_in_byte_order() {
    let table = unique_table("collation");
    let client = raw_client().await;
    create_schema_1_table(&client, &table).await;
    let icu: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'en-x-icu')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    if icu {
        client
            .batch_execute(&format!(
                "ALTER TABLE \"{table}\" ALTER COLUMN key TYPE text COLLATE \"en-x-icu\""
            ))
            .await
            .unwrap();
    }
    let keys = ["z", "B", "a", "é", "_x", "a-b", "ab", "Z"];
    for k in keys {
        schema_1_set(&client, &table, "flow", k, k.as_bytes(), None).await;
    }
    schema_1_set(&client, &table, "other", "a", b"x", None).await;

    let store = open(&table, "flow").await;
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(&flowstore_core::listing::Prefix::all(), cursor.as_ref(), 3)
            .await
            .unwrap();
        for item in page.items {
            let entry = store.get_entry(&item.key).await.unwrap().unwrap();
            assert_eq!(item.version.as_ref(), Some(&entry.version));
            assert!(entry.version.as_str().starts_with("pg.xmin."));
            assert_eq!(item.stored_size, entry.value.len() as u64);
            listed.push(item.key.as_str().to_string());
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, expected);
    let a_range: Vec<String> = store
        .list(
            &flowstore_core::listing::Prefix::new("a").unwrap(),
            None,
            10,
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|item| item.key.as_str().to_string())
        .collect();
    assert_eq!(a_range, ["a", "a-b", "ab"]);

    // Touching an old row gives it a real version; a schema-1 writer still
    // running then rewrites it, and the trigger moves the version on again.
    let a = key("a");
    let legacy = version_of(&store, &a).await;
    assert!(
        store
            .touch(&a, Some(flowstore_core::Ttl::from_secs(60).unwrap()))
            .await
            .unwrap()
    );
    let touched = version_of(&store, &a).await;
    assert_ne!(touched, legacy);
    schema_1_set(&client, &table, "flow", "a", b"schema 1 again", None).await;
    let rewritten = version_of(&store, &a).await;
    assert_ne!(rewritten, touched);
    assert_eq!(
        store.get(&a).await.unwrap(),
        Some(b"schema 1 again".to_vec())
    );
    assert_eq!(
        store
            .delete_prefix(&flowstore_core::listing::Prefix::new("a").unwrap())
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .with_namespace(Namespace::new("other").unwrap())
            .get(&a)
            .await
            .unwrap(),
        Some(b"x".to_vec())
    );
    drop(store);
    drop_table(&table).await;
}
