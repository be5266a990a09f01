//! The shared conformance suite over SQLite: every store of one factory shares
//! one temporary database file (and one writer), so the namespace cases test
//! isolation inside one file.

use std::sync::Arc;

use flowstore_core::{Namespace, conformance_tests};
use flowstore_sqlite::SqliteStore;
use tokio::sync::OnceCell;

conformance_tests!({
    let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
    let shared: Arc<OnceCell<SqliteStore>> = Arc::new(OnceCell::new());
    move |namespace: Namespace| {
        // The directory lives as long as the factory and its stores' futures.
        let dir = dir.clone();
        let shared = shared.clone();
        async move {
            let path = dir.path().join("conformance.db");
            let store = shared.get_or_try_init(|| SqliteStore::open(path)).await?;
            Ok(store.with_namespace(namespace))
        }
    }
});
