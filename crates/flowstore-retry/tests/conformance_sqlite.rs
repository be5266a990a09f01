//! The shared conformance suite through the retry wrapper, over SQLite (every
//! store of one factory shares one temporary database file).

use std::sync::Arc;

use flowstore_core::{Namespace, conformance_tests};
use flowstore_retry::RetryStore;
use flowstore_sqlite::SqliteStore;
use tokio::sync::OnceCell;

conformance_tests!({
    let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
    let shared: Arc<OnceCell<SqliteStore>> = Arc::new(OnceCell::new());
    move |namespace: Namespace| {
        let dir = dir.clone();
        let shared = shared.clone();
        async move {
            let path = dir.path().join("retry.db");
            let store = shared.get_or_try_init(|| SqliteStore::open(path)).await?;
            Ok(RetryStore::new(store.with_namespace(namespace)))
        }
    }
});
