//! The shared conformance suite against each Redis topology, one module per
//! topology, at the URL in its variable: a single server
//! (`FLOWSTORE_TEST_REDIS_URL`), a Redis Cluster (`FLOWSTORE_TEST_REDIS_CLUSTER_URL`)
//! and a Sentinel setup (`FLOWSTORE_TEST_REDIS_SENTINEL_URL`).
//!
//! Not run by a plain `cargo test` (ignored); `cargo xtask ci` runs it with
//! `--include-ignored`. Forced without a topology's variable, every case of that
//! topology fails.

use flowstore_core::conformance::StoreFactory;
use flowstore_core::{Namespace, Result};
use flowstore_redis::RedisStore;

/// Opens the suite's stores on the Redis at one URL.
struct Redis {
    url: String,
}

impl Redis {
    /// The Redis at the URL in `var`. Panics when `var` is unset, so a forced run
    /// without the server fails instead of passing.
    fn from_env(var: &str, needs: &str) -> Redis {
        let url = std::env::var(var)
            .unwrap_or_else(|_| panic!("{var} is not set: this suite needs {needs}"));
        Redis { url }
    }
}

impl StoreFactory for Redis {
    type Store = RedisStore;

    async fn open(&self, namespace: Namespace) -> Result<RedisStore> {
        RedisStore::from_url(&self.url)?
            .namespace(namespace)
            .open()
            .await
    }
}

mod single {
    use super::*;

    flowstore_core::conformance_tests!(
        #[ignore = "needs FLOWSTORE_TEST_REDIS_URL"]
        Redis::from_env("FLOWSTORE_TEST_REDIS_URL", "a single Redis server")
    );
}

mod cluster {
    use super::*;

    flowstore_core::conformance_tests!(
        #[ignore = "needs FLOWSTORE_TEST_REDIS_CLUSTER_URL"]
        Redis::from_env("FLOWSTORE_TEST_REDIS_CLUSTER_URL", "a Redis Cluster")
    );
}

mod sentinel {
    use super::*;

    flowstore_core::conformance_tests!(
        #[ignore = "needs FLOWSTORE_TEST_REDIS_SENTINEL_URL"]
        Redis::from_env(
            "FLOWSTORE_TEST_REDIS_SENTINEL_URL",
            "a Redis Sentinel setup"
        )
    );
}
