//! The shared conformance suite against a real PostgreSQL server.
//!
//! Needs `FLOWSTORE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! without it the cases are ignored, and forced (`--include-ignored`) they fail.
//! Every store opened by the suite has its own pool; all share the default
//! table, and every case works in namespaces of its own.

use flowstore_core::Namespace;
use flowstore_postgres::PostgresBuilder;

fn server_url() -> String {
    std::env::var("FLOWSTORE_TEST_POSTGRES_URL")
        .expect("FLOWSTORE_TEST_POSTGRES_URL is not set: these tests need a PostgreSQL server")
}

flowstore_core::conformance_tests!(
    #[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
    {
        let url = server_url();
        // Every store its own pool, writer and sweep: "a second client" in the
        // suite is a second client for real. They share the default table.
        move |namespace: Namespace| {
            let url = url.clone();
            async move {
                PostgresBuilder::from_url(&url)?
                    .namespace(namespace)
                    .open()
                    .await
            }
        }
    }
);
