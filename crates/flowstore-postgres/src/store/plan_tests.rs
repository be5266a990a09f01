//! The listing statements' plans on a real server: an index range scan of the
//! primary key, in key order without a sort. Ignored without
//! `FLOWSTORE_TEST_POSTGRES_URL`.

use flowstore_core::listing::{Prefix, SetItem};
use flowstore_core::{Key, Namespace, Store};

use super::PostgresStore;
use crate::PostgresBuilder;
use crate::table::KeyOrder;

fn server_url() -> String {
    std::env::var("FLOWSTORE_TEST_POSTGRES_URL")
        .expect("FLOWSTORE_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server")
}

async fn explain(
    store: &PostgresStore,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> String {
    let client = store.shared.db.client().await.unwrap();
    let rows = client
        .query(&format!("EXPLAIN {sql}"), params)
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn listing_is_an_index_range_scan_in_key_order() {
    let table = format!("fs_test_plan_{}", std::process::id());
    let store = PostgresBuilder::from_url(&server_url())
        .unwrap()
        .table(table.as_str())
        .namespace(Namespace::new("ns0").unwrap())
        .open()
        .await
        .unwrap();
    // A table this release created: its keys sort in byte order.
    assert_eq!(store.shared.key_order, KeyOrder::Column);
    // Enough rows in several namespaces that a sequential scan would be cheaper
    // than an index scan if the index could not serve the range.
    for ns in 0..5 {
        let handle = store.with_namespace(Namespace::new(format!("ns{ns}")).unwrap());
        for chunk in 0..4 {
            let keys: Vec<Key> = (0..1000)
                .map(|i| Key::new(format!("k{chunk}/{i:04}")).unwrap())
                .collect();
            let items: Vec<SetItem<'_>> =
                keys.iter().map(|k| SetItem::new(k, b"v", None)).collect();
            handle.set_many(&items).await.unwrap();
        }
    }
    let client = store.shared.db.client().await.unwrap();
    client
        .batch_execute(&format!("ANALYZE \"{table}\""))
        .await
        .unwrap();
    drop(client);

    let sql = &store.shared.sql;
    let fetch = 101i64;
    for (after, lower) in [(false, "k1/"), (true, "k1/0500")] {
        let plan = explain(
            &store,
            &sql.list(KeyOrder::Column, after, true),
            &[&"ns1", &lower, &fetch, &"k10"],
        )
        .await;
        assert!(
            plan.contains("Index Scan using") || plan.contains("Index Only Scan using"),
            "{plan}"
        );
        let cond = plan
            .lines()
            .find(|line| line.contains("Index Cond"))
            .unwrap_or_else(|| panic!("no index condition: {plan}"));
        assert!(
            cond.contains("key >") && cond.contains("key <"),
            "the key range is not an index condition: {plan}"
        );
        assert!(
            !plan.contains("Sort") && !plan.contains("Seq Scan"),
            "{plan}"
        );
    }
    let plan = explain(
        &store,
        &sql.list(KeyOrder::Column, false, false),
        &[&"ns1", &"", &fetch],
    )
    .await;
    assert!(
        !plan.contains("Sort") && !plan.contains("Seq Scan"),
        "{plan}"
    );
    let prefix = Prefix::new("k1/").unwrap();
    assert_eq!(
        store
            .with_namespace(Namespace::new("ns1").unwrap())
            .delete_prefix(&prefix)
            .await
            .unwrap(),
        1000
    );

    let client = store.shared.db.client().await.unwrap();
    client
        .batch_execute(&format!(
            "DROP TABLE \"{table}\"; DELETE FROM flowstore_meta WHERE table_name = '{table}'"
        ))
        .await
        .unwrap();
}
