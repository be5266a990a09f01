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
