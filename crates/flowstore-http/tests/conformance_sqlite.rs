//! The shared conformance suite: an HttpStore against `flowstore serve` started
//! in-process over SQLite. One server per namespace; all servers of one factory
//! share one database file, so namespace isolation is real.

mod common;

use std::sync::Arc;

use flowstore_core::{Namespace, Store, conformance_tests};
use flowstore_sqlite::SqliteStore;
use tokio::sync::OnceCell;

conformance_tests!({
    let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
    let shared: Arc<OnceCell<SqliteStore>> = Arc::new(OnceCell::new());
    move |namespace: Namespace| {
        let dir = dir.clone();
        let shared = shared.clone();
        async move {
            let path = dir.path().join("conformance.db");
            let sqlite = shared.get_or_try_init(|| SqliteStore::open(path)).await?;
            let store: Arc<dyn Store> = Arc::new(sqlite.with_namespace(namespace));
            common::client_for(store).await
        }
    }
});
