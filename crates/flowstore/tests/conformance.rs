//! The shared conformance suite through `flowstore::open_with`: every store is
//! opened from a `sqlite://` URL on one temporary file, with the namespace given
//! by `OpenOptions`, so the facade's URL handling and namespace override are
//! checked by every case (several independently opened stores share one file).

#![cfg(feature = "sqlite")]

use std::sync::Arc;

use flowstore::{Namespace, OpenOptions};
use flowstore_core::conformance_tests;

conformance_tests!({
    let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
    move |namespace: Namespace| {
        let dir = dir.clone();
        async move {
            // The URL names another namespace: the explicit one must win.
            let url = format!(
                "sqlite://{}/conformance.db?namespace=not-this-one",
                dir.path().display()
            );
            flowstore::open_with(&url, &OpenOptions::new().namespace(namespace)).await
        }
    }
});
