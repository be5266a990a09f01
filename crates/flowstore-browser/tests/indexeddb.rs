//! IndexedDB beyond the shared suite: schema upgrades, a blocked upgrade, the
//! expiry sweep, damaged records.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use flowstore_browser::{IndexedDbStore, dom_error};
use flowstore_core::conformance::{rt, unique_namespace};
use flowstore_core::{ErrorKind, Key, Namespace, Operation, Store, Ttl};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::IdbDatabase;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn ns(label: &str) -> Namespace {
    Namespace::new(unique_namespace(label)).unwrap()
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn unique_db(label: &str) -> String {
    unique_namespace(label)
}

/// Opens `name` with the plain IndexedDB API (no version: the current one) and
/// keeps the connection open, without any `versionchange` handler: the kind of
/// connection an older version of an app in another tab holds.
async fn raw_open(name: &str) -> IdbDatabase {
    let factory = web_sys::window().unwrap().indexed_db().unwrap().unwrap();
    let request = factory.open(name).unwrap();
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let ok = request.clone();
        let on_success = wasm_bindgen::closure::Closure::once_into_js(move || {
            resolve
                .call1(&JsValue::NULL, &ok.result().unwrap())
                .unwrap();
        });
        let on_error = wasm_bindgen::closure::Closure::once_into_js(move || {
            reject.call0(&JsValue::NULL).unwrap();
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise).await.unwrap().unchecked_into()
}

/// A connection that does not close for a version change blocks the upgrade a
/// store needs: opening fails at once with a clear error (not a hang, not a
/// timeout), and succeeds once that connection is gone.
#[wasm_bindgen_test]
async fn blocked_upgrade_is_a_clear_error_not_a_hang() {
    let db = unique_db("blocked");
    let first = IndexedDbStore::builder()
        .database(&db)
        .open()
        .await
        .unwrap();
    first.set(&key("k"), b"v", None).await.unwrap();
    let holder = raw_open(&db).await;
    assert_eq!(holder.version(), 1.0);

    // A second object store needs version 2: blocked by `holder`.
    let err = IndexedDbStore::builder()
        .database(&db)
        .object_store("second")
        .open_timeout(Duration::from_secs(120))
        .open()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.is_temporary());
    assert_eq!(dom_error(&err).unwrap().name(), "BlockedError");

    // Once the old connection is closed, the upgrade goes through.
    holder.close();
    let second = IndexedDbStore::builder()
        .database(&db)
        .object_store("second")
        .open()
        .await
        .unwrap();
    second.set(&key("k"), b"in second", None).await.unwrap();
    // The first store's connection closed itself for the upgrade and reopens.
    assert_eq!(
        first.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(
        second.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"in second"[..])
    );
}

/// An open that gets no answer (here: queued behind another connection's upgrade
/// that never finishes) fails with `Timeout` after the open timeout instead of
/// hanging, and leaves nothing behind once the other upgrade ends.
#[wasm_bindgen_test]
async fn stuck_open_times_out_instead_of_hanging() {
    let db = unique_db("stuck");
    // Another connection upgrades the database and keeps its upgrade transaction
    // busy until told to stop.
    let hold = js_sys::Function::new_with_args(
        "name",
        "return new Promise((resolve) => {
            const request = indexedDB.open(name, 1);
            let stop = false;
            request.onupgradeneeded = () => {
                const store = request.result.createObjectStore('spin');
                const spin = () => { if (!stop) store.get(0).onsuccess = spin; };
                spin();
                resolve(() => { stop = true; });
            };
            request.onsuccess = () => request.result.close();
        })",
    );
    let promise: js_sys::Promise = hold
        .call1(&JsValue::NULL, &db.as_str().into())
        .unwrap()
        .unchecked_into();
    let stop: js_sys::Function = JsFuture::from(promise).await.unwrap().unchecked_into();

    let err = IndexedDbStore::builder()
        .database(&db)
        .open_timeout(Duration::from_millis(300))
        .open()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.is_temporary());

    stop.call0(&JsValue::NULL).unwrap();
    let store = IndexedDbStore::builder()
        .database(&db)
        .open_timeout(Duration::from_secs(120))
        .open()
        .await
        .unwrap();
    store.set(&key("k"), b"v", None).await.unwrap();
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

/// flowstore's own connections never block another's upgrade: they close on
/// `versionchange` and reopen on their next operation.
#[wasm_bindgen_test]
async fn own_connections_make_way_for_upgrades() {
    let db = unique_db("upgrade");
    let a = IndexedDbStore::builder()
        .database(&db)
        .open()
        .await
        .unwrap();
    a.set(&key("k"), b"a", None).await.unwrap();
    for (i, name) in ["b", "c", "d"].into_iter().enumerate() {
        let b = IndexedDbStore::builder()
            .database(&db)
            .object_store(name)
            .open_timeout(Duration::from_secs(120))
            .open()
            .await
            .unwrap_or_else(|err| panic!("upgrade {i} failed: {err:?}"));
        b.set(&key("k"), name.as_bytes(), None).await.unwrap();
        assert_eq!(a.get(&key("k")).await.unwrap().as_deref(), Some(&b"a"[..]));
    }
    let raw = raw_open(&db).await;
    assert_eq!(raw.version(), 4.0);
    let names = raw.object_store_names();
    for name in ["entries", "b", "c", "d"] {
        assert!(names.contains(name), "{name} missing");
    }
    raw.close();
}

/// An object store flowstore did not create is a `Config` error, not overwritten.
#[wasm_bindgen_test]
async fn foreign_object_store_is_a_config_error() {
    let db = unique_db("foreign");
    // Make a database whose `entries` store has another key path.
    let factory = web_sys::window().unwrap().indexed_db().unwrap().unwrap();
    let request = factory.open_with_u32(&db, 1).unwrap();
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let upgrading = request.clone();
        let on_upgrade = wasm_bindgen::closure::Closure::once_into_js(move || {
            let db: IdbDatabase = upgrading.result().unwrap().unchecked_into();
            let params = web_sys::IdbObjectStoreParameters::new();
            params.set_key_path(&"id".into());
            db.create_object_store_with_optional_parameters("entries", &params)
                .unwrap();
        });
        let done = request.clone();
        let on_success = wasm_bindgen::closure::Closure::once_into_js(move || {
            done.result()
                .unwrap()
                .unchecked_into::<IdbDatabase>()
                .close();
            resolve.call0(&JsValue::NULL).unwrap();
        });
        request.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
        request.set_onsuccess(Some(on_success.unchecked_ref()));
    });
    JsFuture::from(promise).await.unwrap();
    let err = IndexedDbStore::builder()
        .database(&db)
        .open()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
}

/// Empty names are refused.
#[wasm_bindgen_test]
async fn empty_names_are_config_errors() {
    for builder in [
        IndexedDbStore::builder().database(""),
        IndexedDbStore::builder().object_store(""),
    ] {
        assert_eq!(builder.open().await.unwrap_err().kind(), ErrorKind::Config);
    }
}

/// The sweep removes exactly the namespace's expired entries, through the
/// expiry index; a read of an expired entry removes it too.
#[wasm_bindgen_test]
async fn expired_entries_are_swept() {
    let store = IndexedDbStore::builder()
        .database("flowstore-sweep")
        .namespace(ns("sweep"))
        .open()
        .await
        .unwrap();
    let other = store.with_namespace(ns("sweep-other"));
    let short = Some(Ttl::from_millis(5).unwrap());
    let long = Some(Ttl::from_secs(3600).unwrap());
    for i in 0..3 {
        store
            .set(&key(&format!("short{i}")), b"x", short)
            .await
            .unwrap();
    }
    other.set(&key("short"), b"x", short).await.unwrap();
    store.set(&key("long"), b"kept", long).await.unwrap();
    store.set(&key("plain"), b"kept", None).await.unwrap();
    rt::sleep(Duration::from_millis(50)).await;

    // A read removes the entry it finds expired...
    assert_eq!(store.get(&key("short0")).await.unwrap(), None);
    // ... and the sweep the other two, of this namespace only.
    assert_eq!(store.sweep_expired().await.unwrap(), 2);
    assert_eq!(store.sweep_expired().await.unwrap(), 0);
    assert_eq!(other.sweep_expired().await.unwrap(), 1);
    assert_eq!(
        store.get(&key("long")).await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(
        store.get(&key("plain")).await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    store.clear().await.unwrap();
}

/// A record that is not flowstore's reads as `Corrupt`, never `None`.
#[wasm_bindgen_test]
async fn damaged_record_is_corrupt_not_absent() {
    let db = unique_db("damaged");
    let namespace = ns("damaged");
    let store = IndexedDbStore::builder()
        .database(&db)
        .namespace(namespace.clone())
        .open()
        .await
        .unwrap();
    store.set(&key("k"), b"v", None).await.unwrap();
    // Overwrite the record with a string value, through the plain API.
    let raw = raw_open(&db).await;
    let tx = raw
        .transaction_with_str_and_mode("entries", web_sys::IdbTransactionMode::Readwrite)
        .unwrap();
    let record = js_sys::Object::new();
    js_sys::Reflect::set(&record, &"ns".into(), &namespace.as_str().into()).unwrap();
    js_sys::Reflect::set(&record, &"key".into(), &"k".into()).unwrap();
    js_sys::Reflect::set(&record, &"value".into(), &"not bytes".into()).unwrap();
    tx.object_store("entries").unwrap().put(&record).unwrap();
    let done = js_sys::Promise::new(&mut |resolve, _reject| {
        tx.set_oncomplete(Some(&resolve));
    });
    JsFuture::from(done).await.unwrap();
    raw.close();
    let err = store.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err:?}");
    assert_eq!(err.operation(), Some(Operation::Get), "{err}");
    assert_eq!(err.backend_name(), Some("indexeddb"), "{err}");
}

/// Writes `record` into the `entries` object store of `db` with the plain
/// IndexedDB API: a record exactly as an earlier release wrote it.
async fn put_raw(db: &str, record: &js_sys::Object) {
    let raw = raw_open(db).await;
    let tx = raw
        .transaction_with_str_and_mode("entries", web_sys::IdbTransactionMode::Readwrite)
        .unwrap();
    tx.object_store("entries").unwrap().put(record).unwrap();
    let done = js_sys::Promise::new(&mut |resolve, _reject| {
        tx.set_oncomplete(Some(&resolve));
    });
    JsFuture::from(done).await.unwrap();
    raw.close();
}

/// Reads the record of `key` in `namespace` with the plain IndexedDB API.
async fn get_raw(db: &str, namespace: &Namespace, key: &str) -> JsValue {
    let raw = raw_open(db).await;
    let tx = raw.transaction_with_str("entries").unwrap();
    let id = js_sys::Array::of2(&namespace.as_str().into(), &key.into());
    let request = tx.object_store("entries").unwrap().get(&id).unwrap();
    let done = js_sys::Promise::new(&mut |resolve, _reject| {
        request.set_onsuccess(Some(&resolve));
    });
    JsFuture::from(done).await.unwrap();
    let record = request.result().unwrap();
    raw.close();
    record
}

/// A record of the previous release's layout: `{ns, key, value, expires?}`,
/// no `version` field.
fn legacy_record(
    namespace: &Namespace,
    key: &str,
    value: &[u8],
    expires: Option<f64>,
) -> js_sys::Object {
    let record = js_sys::Object::new();
    js_sys::Reflect::set(&record, &"ns".into(), &namespace.as_str().into()).unwrap();
    js_sys::Reflect::set(&record, &"key".into(), &key.into()).unwrap();
    let bytes = js_sys::Uint8Array::from(value);
    js_sys::Reflect::set(&record, &"value".into(), &bytes).unwrap();
    if let Some(expires) = expires {
        js_sys::Reflect::set(&record, &"expires".into(), &expires.into()).unwrap();
    }
    record
}

/// Records written before entry versions existed stay readable, get a stable
/// pseudo-version, and can be replaced and deleted conditionally.
#[wasm_bindgen_test]
async fn records_from_before_versions_have_a_stable_pseudo_version() {
    use flowstore_core::{Current, StoreExt, Version};

    let db = unique_db("legacy");
    let namespace = ns("legacy");
    let store = IndexedDbStore::builder()
        .database(&db)
        .namespace(namespace.clone())
        .open()
        .await
        .unwrap();
    let far = js_sys::Date::now() + 3_600_000.0;
    put_raw(&db, &legacy_record(&namespace, "plain", b"old state", None)).await;
    put_raw(
        &db,
        &legacy_record(&namespace, "ttl", b"old state", Some(far)),
    )
    .await;

    assert_eq!(
        store.get(&key("plain")).await.unwrap(),
        Some(b"old state".to_vec())
    );
    let first = store.get_entry(&key("plain")).await.unwrap().unwrap();
    let again = store.get_entry(&key("plain")).await.unwrap().unwrap();
    assert_eq!(first.value, b"old state");
    assert_eq!(first.version, again.version, "the pseudo-version is stable");
    assert_eq!(first.expires_at, None);
    let with_ttl = store.get_entry(&key("ttl")).await.unwrap().unwrap();
    assert_ne!(with_ttl.version, first.version, "the expiry is part of it");
    assert!(with_ttl.expires_at.is_some());

    // An older release in another tab rewriting the key changes it.
    put_raw(
        &db,
        &legacy_record(&namespace, "plain", b"other state", None),
    )
    .await;
    let rewritten = store.get_entry(&key("plain")).await.unwrap().unwrap();
    assert_ne!(rewritten.version, first.version);
    let err = store
        .set_if_version(&key("plain"), b"lost", None, &first.version)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&rewritten.version));

    // Conditional writes on the current pseudo-version work, and store a version.
    let next = store
        .set_if_version(&key("plain"), b"new state", None, &rewritten.version)
        .await
        .unwrap();
    let record = get_raw(&db, &namespace, "plain").await;
    let stored = js_sys::Reflect::get(&record, &"version".into()).unwrap();
    assert_eq!(stored.as_string().as_deref(), Some(next.as_str()));
    assert_eq!(
        store.get(&key("plain")).await.unwrap(),
        Some(b"new state".to_vec())
    );
    store
        .delete_if_version(&key("ttl"), &with_ttl.version)
        .await
        .unwrap();
    assert_eq!(store.get(&key("ttl")).await.unwrap(), None);
    let err = store
        .delete_if_version(&key("ttl"), &Version::generate())
        .await
        .unwrap_err();
    assert_eq!(err.current(), Some(&Current::Absent));
}

/// A plain `set` stores a version in the same `put`, a new one every time.
#[wasm_bindgen_test]
async fn plain_set_writes_a_new_version_each_time() {
    let db = unique_db("setversion");
    let namespace = ns("setversion");
    let store = IndexedDbStore::builder()
        .database(&db)
        .namespace(namespace.clone())
        .open()
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        store.set(&key("k"), b"same", None).await.unwrap();
        let record = get_raw(&db, &namespace, "k").await;
        let stored = js_sys::Reflect::get(&record, &"version".into()).unwrap();
        let stored = stored.as_string().expect("a version field");
        let entry = store.get_entry(&key("k")).await.unwrap().unwrap();
        assert_eq!(entry.version.as_str(), stored);
        assert!(!seen.contains(&stored), "a version repeated");
        seen.push(stored);
    }
    // A damaged version field is Corrupt, never another version.
    let record = legacy_record(&namespace, "k", b"v", None);
    js_sys::Reflect::set(&record, &"version".into(), &"not a version!".into()).unwrap();
    put_raw(&db, &record).await;
    let err = store.get_entry(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err:?}");
    assert_eq!(err.operation(), Some(Operation::GetEntry));
}
