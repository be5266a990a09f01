//! The shared conformance suite over a fallback from SQLite (primary) to a memory
//! store, and from a memory store to SQLite: the stores of one factory share one
//! temporary database file and one memory map.

use std::sync::Arc;

use flowstore_core::{Namespace, conformance_tests};
use flowstore_fallback::FallbackStore;
use flowstore_memory::MemoryStore;
use flowstore_sqlite::SqliteStore;
use tokio::sync::OnceCell;

mod sqlite_then_memory {
    use super::*;

    conformance_tests!({
        let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
        let shared: Arc<OnceCell<SqliteStore>> = Arc::new(OnceCell::new());
        let memory = MemoryStore::new();
        move |namespace: Namespace| {
            let dir = dir.clone();
            let shared = shared.clone();
            let memory = memory.with_namespace(namespace.clone());
            async move {
                let path = dir.path().join("fallback.db");
                let sqlite = shared.get_or_try_init(|| SqliteStore::open(path)).await?;
                FallbackStore::builder()
                    .store(sqlite.with_namespace(namespace))
                    .store(memory)
                    .build()
            }
        }
    });
}

mod memory_then_sqlite {
    use super::*;

    conformance_tests!({
        let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
        let shared: Arc<OnceCell<SqliteStore>> = Arc::new(OnceCell::new());
        let memory = MemoryStore::new();
        move |namespace: Namespace| {
            let dir = dir.clone();
            let shared = shared.clone();
            let memory = memory.with_namespace(namespace.clone());
            async move {
                let path = dir.path().join("fallback.db");
                let sqlite = shared.get_or_try_init(|| SqliteStore::open(path)).await?;
                FallbackStore::builder()
                    .store(memory)
                    .store(sqlite.with_namespace(namespace))
                    .build()
            }
        }
    });
}
