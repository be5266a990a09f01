//! The shared conformance suite against a Redis Cluster, at the URL in `FLOWSTORE_TEST_REDIS_CLUSTER_URL`.
//!
//! Not run by a plain `cargo test` (ignored); `cargo xtask ci` runs it with
//! `--include-ignored`. Forced without the variable, every case fails.

use flowstore_core::Namespace;
use flowstore_redis::RedisStore;

fn url() -> String {
    std::env::var("FLOWSTORE_TEST_REDIS_CLUSTER_URL").unwrap_or_else(|_| {
        panic!("FLOWSTORE_TEST_REDIS_CLUSTER_URL is not set: this suite needs a Redis Cluster")
    })
}

flowstore_core::conformance_tests!(
    #[ignore = "needs FLOWSTORE_TEST_REDIS_CLUSTER_URL"]
    {
        let url = url();
        move |namespace: Namespace| {
            let url = url.clone();
            async move {
                RedisStore::from_url(&url)?
                    .namespace(namespace)
                    .open()
                    .await
            }
        }
    }
);
