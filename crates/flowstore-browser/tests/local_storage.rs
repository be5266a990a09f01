//! localStorage beyond the shared suite: the quota, damaged entries, keys that
//! are not flowstore's. In its own test binary, so its own browser session: the
//! quota test fills the origin's storage.
#![cfg(target_arch = "wasm32")]

use flowstore_browser::{LocalStorageStore, StorageArea, dom_error, is_quota_exceeded};
use flowstore_core::conformance::unique_namespace;
use flowstore_core::{ErrorKind, Key, Namespace, Operation, Store, Ttl};
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn ns(label: &str) -> Namespace {
    Namespace::new(unique_namespace(label)).unwrap()
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn raw_storage(area: StorageArea) -> web_sys::Storage {
    let window = web_sys::window().unwrap();
    match area {
        StorageArea::Local => window.local_storage(),
        StorageArea::Session => window.session_storage(),
    }
    .unwrap()
    .unwrap()
}

/// Fills the storage area until the browser refuses: the refusal is a permanent
/// `ValueTooLarge` error recognisable as the quota, the previous value of the
/// key is intact, and `clear` gives the space back.
async fn fill_until_quota(area: StorageArea) {
    let store = LocalStorageStore::open(area)
        .unwrap()
        .with_namespace(ns("quota"))
        .with_max_value_size(16 * 1024 * 1024);
    let kept = key("kept");
    store.set(&kept, b"old value", None).await.unwrap();
    let chunk = vec![0xa5u8; 1024 * 1024];
    let mut written = 0;
    let err = loop {
        match store
            .set(&key(&format!("filler:{written}")), &chunk, None)
            .await
        {
            Ok(()) => written += 1,
            Err(err) => break err,
        }
        assert!(written < 200, "{area} accepted 200 MiB: no quota?");
    };
    assert!(written >= 1, "{area} should hold at least 1 MiB");
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge, "{err:?}");
    assert!(is_quota_exceeded(&err), "{err:?}");
    assert!(!err.is_temporary());
    assert_eq!(dom_error(&err).unwrap().name(), "QuotaExceededError");
    // The operation and the storage area are the error's context, and the
    // message names no key.
    let backend = match area {
        StorageArea::Local => "localstorage",
        StorageArea::Session => "sessionstorage",
    };
    assert_eq!(err.operation(), Some(Operation::Set), "{err}");
    assert_eq!(err.backend_name(), Some(backend), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("value_too_large: {backend} set: ")),
        "{err}"
    );
    // (Only the error's own text: the browser's exception, kept as the source,
    // quotes the storage key.)
    assert!(!err.to_string().contains("filler"), "{err}");
    // The failed write left nothing behind.
    assert_eq!(
        store.get(&key(&format!("filler:{written}"))).await.unwrap(),
        None
    );

    // Replacing a value with one that does not fit keeps the old value.
    let err = store.set(&kept, &chunk, None).await.unwrap_err();
    assert!(is_quota_exceeded(&err), "{err:?}");
    assert_eq!(
        store.get(&kept).await.unwrap().as_deref(),
        Some(&b"old value"[..])
    );
    // Earlier entries are intact.
    assert_eq!(
        store.get(&key("filler:0")).await.unwrap(),
        Some(chunk.clone())
    );

    store.clear().await.unwrap();
    assert_eq!(store.get(&kept).await.unwrap(), None);
    store.set(&kept, &chunk, None).await.unwrap();
    store.clear().await.unwrap();
}

#[wasm_bindgen_test]
async fn local_storage_quota_is_value_too_large_and_writes_nothing() {
    fill_until_quota(StorageArea::Local).await;
}

#[wasm_bindgen_test]
async fn session_storage_quota_is_value_too_large_and_writes_nothing() {
    fill_until_quota(StorageArea::Session).await;
}

/// An entry that is not in flowstore's format reads as `Corrupt`, never `None`.
#[wasm_bindgen_test]
async fn damaged_entry_is_corrupt_not_absent() {
    let store = LocalStorageStore::new()
        .unwrap()
        .with_namespace(ns("damaged"));
    let raw = raw_storage(StorageArea::Local);
    for damaged in ["plain text", "1;;5;\u{4000}", "9;;0;", "1;soon;0;"] {
        raw.set_item(&store.storage_key(&key("k")), damaged)
            .unwrap();
        let err = store.get(&key("k")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{damaged:?}: {err:?}");
        assert_eq!(err.operation(), Some(Operation::Get), "{err}");
        assert_eq!(err.backend_name(), Some("localstorage"), "{err}");
    }
    store.clear().await.unwrap();
}

/// `clear` leaves keys of other libraries and other namespaces alone, and the
/// documented key layout is what is stored.
#[wasm_bindgen_test]
async fn clear_touches_only_its_namespace() {
    let raw = raw_storage(StorageArea::Local);
    raw.set_item("unrelated", "kept").unwrap();
    raw.set_item("flowstore/", "odd but not ours").unwrap();
    let base = unique_namespace("layout");
    let store = LocalStorageStore::new()
        .unwrap()
        .with_namespace(Namespace::new(base.clone()).unwrap());
    let longer = store.with_namespace(Namespace::new(format!("{base}2")).unwrap());
    store.set(&key("a"), b"1", None).await.unwrap();
    longer.set(&key("a"), b"2", None).await.unwrap();
    assert_eq!(
        store.storage_key(&key("a/b")),
        format!("flowstore/{}:{base}/a/b", base.len())
    );
    assert!(
        raw.get_item(&store.storage_key(&key("a")))
            .unwrap()
            .is_some()
    );

    store.clear().await.unwrap();
    assert_eq!(store.get(&key("a")).await.unwrap(), None);
    assert_eq!(
        longer.get(&key("a")).await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(raw.get_item("unrelated").unwrap().as_deref(), Some("kept"));
    assert_eq!(
        raw.get_item("flowstore/").unwrap().as_deref(),
        Some("odd but not ours")
    );
    longer.clear().await.unwrap();
    raw.remove_item("unrelated").unwrap();
    raw.remove_item("flowstore/").unwrap();
}

/// An expired entry is removed from storage when it is read.
#[wasm_bindgen_test]
async fn expired_entries_are_removed_lazily() {
    let store = LocalStorageStore::new().unwrap().with_namespace(ns("lazy"));
    let raw = raw_storage(StorageArea::Local);
    let k = key("short");
    store
        .set(&k, b"v", Some(Ttl::from_millis(5).unwrap()))
        .await
        .unwrap();
    assert!(raw.get_item(&store.storage_key(&k)).unwrap().is_some());
    flowstore_core::conformance::rt::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(store.get(&k).await.unwrap(), None);
    assert_eq!(raw.get_item(&store.storage_key(&k)).unwrap(), None);
}

/// Values are packed 15 bits per UTF-16 code unit: 1 MiB takes 559,241 code units
/// (plus a short header), not base64's 1,398,102.
#[wasm_bindgen_test]
async fn encoding_is_compact() {
    let store = LocalStorageStore::new()
        .unwrap()
        .with_namespace(ns("compact"));
    let raw = raw_storage(StorageArea::Local);
    let k = key("mib");
    store.set(&k, &vec![7u8; 1024 * 1024], None).await.unwrap();
    let text = raw.get_item(&store.storage_key(&k)).unwrap().unwrap();
    let units = text.encode_utf16().count();
    assert!(
        (559_241..559_241 + 16).contains(&units),
        "{units} code units"
    );
    store.clear().await.unwrap();
}
