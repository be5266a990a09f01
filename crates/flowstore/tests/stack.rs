//! `open_stack` and `StackOptions`: the wrappers stacked over real SQLite files
//! (and memory), in the documented order.
//!
//! The wrapper features are on in a plain `cargo test` (this crate's
//! dev-dependency on itself turns them on).

#![cfg(all(
    feature = "sqlite",
    feature = "memory",
    feature = "encrypt",
    feature = "compress",
    feature = "fallback",
    feature = "retry",
    feature = "metrics"
))]

use std::sync::Arc;
use std::time::Duration;

use flowstore::encrypt::{EncryptionKey, Keyring};
use flowstore::retry::RetryPolicy;
use flowstore::{ErrorKind, Key, Namespace, OpenOptions, StackOptions, Store};
use flowstore_core::conformance::doubles::{Op, ScriptedStore};

/// The first bytes of an encrypt envelope, a compress frame and a fallback record.
const ENCRYPT_MAGIC: &[u8] = &[0xFF, b'f', b's', b'e'];
const COMPRESS_MAGIC: &[u8] = &[0xFF, b'f', b's', b'z'];
const FALLBACK_MAGIC: &[u8] = &[0xF5, b'F', b'B'];

const KEY_1: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGho=";
const KEY_2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn keyring(text: &str) -> Keyring {
    Keyring::new(1, EncryptionKey::parse(text).unwrap())
}

fn sqlite_url(dir: &tempfile::TempDir, file: &str) -> String {
    format!("sqlite://{}/{file}", dir.path().display())
}

/// A JSON value that compresses well and holds a recognisable marker.
fn repetitive_json() -> Vec<u8> {
    let item = r#"{"field":"PLAINTEXT-MARKER","step":2},"#;
    format!("[{}{{}}]", item.repeat(40)).into_bytes()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// What the backend itself holds for `key` (no wrapper).
async fn raw(url: &str, key: &Key) -> Option<Vec<u8>> {
    flowstore::open(url).await.unwrap().get(key).await.unwrap()
}

#[tokio::test]
async fn no_wrapper_is_the_plain_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "plain.db");
    let store = flowstore::open_stack(&url, &OpenOptions::new(), &StackOptions::new())
        .await
        .unwrap();
    store.set(&key("k"), b"value", None).await.unwrap();
    assert_eq!(raw(&url, &key("k")).await, Some(b"value".to_vec()));
    assert_eq!(store.max_value_size(), flowstore::DEFAULT_MAX_VALUE_SIZE);
}

#[tokio::test]
async fn encrypt_round_trip_and_only_ciphertext_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "encrypted.db");
    let stack = StackOptions::new().encrypt(keyring(KEY_1));
    let value = repetitive_json();
    {
        let store = flowstore::open_stack(&url, &OpenOptions::new(), &stack)
            .await
            .unwrap();
        store.set(&key("signup:42"), &value, None).await.unwrap();
        assert_eq!(
            store.get(&key("signup:42")).await.unwrap(),
            Some(value.clone())
        );
        assert_eq!(
            store.max_value_size(),
            flowstore::DEFAULT_MAX_VALUE_SIZE - flowstore::encrypt::OVERHEAD
        );
    }

    // The backend holds an encrypt envelope, and the file nowhere the plaintext.
    let stored = raw(&url, &key("signup:42")).await.unwrap();
    assert!(stored.starts_with(ENCRYPT_MAGIC), "{stored:?}");
    assert!(!contains(&stored, b"PLAINTEXT-MARKER"));
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        // The store's threads close in the background after it is dropped; its
        // last connection checkpoints the WAL into the database file and removes
        // the `-wal`/`-shm` files, which may vanish between listing and reading.
        let bytes = match std::fs::read(entry.unwrap().path()) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => panic!("cannot read a file of the store: {err}"),
        };
        assert!(!contains(&bytes, b"PLAINTEXT-MARKER"));
    }

    // Reopened with the key: readable. With another key: Corrupt, not None.
    let again = flowstore::open_stack(&url, &OpenOptions::new(), &stack)
        .await
        .unwrap();
    assert_eq!(again.get(&key("signup:42")).await.unwrap(), Some(value));
    let wrong = StackOptions::new().encrypt(keyring(KEY_2));
    let wrong = flowstore::open_stack(&url, &OpenOptions::new(), &wrong)
        .await
        .unwrap();
    let err = wrong.get(&key("signup:42")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
}

#[tokio::test]
async fn compress_round_trip_stores_fewer_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "compressed.db");
    let store = flowstore::open_stack(
        &url,
        &OpenOptions::new(),
        &StackOptions::new().compress(true),
    )
    .await
    .unwrap();
    let value = repetitive_json();
    store.set(&key("k"), &value, None).await.unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(value.clone()));
    let stored = raw(&url, &key("k")).await.unwrap();
    assert!(stored.starts_with(COMPRESS_MAGIC), "{stored:?}");
    assert!(
        stored.len() < value.len() / 4,
        "{} bytes stored",
        stored.len()
    );
}

/// compress above encrypt: the backend holds an encryption envelope (encrypt
/// is right above it) around a compressed value (shorter than the plaintext).
#[tokio::test]
async fn compress_is_above_encrypt() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "both.db");
    let stack = StackOptions::new().compress(true).encrypt(keyring(KEY_1));
    let store = flowstore::open_stack(&url, &OpenOptions::new(), &stack)
        .await
        .unwrap();
    let value = repetitive_json();
    store.set(&key("k"), &value, None).await.unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(value.clone()));
    let stored = raw(&url, &key("k")).await.unwrap();
    assert!(stored.starts_with(ENCRYPT_MAGIC), "{stored:?}");
    assert!(
        stored.len() < value.len() / 4,
        "{} bytes stored",
        stored.len()
    );
    assert_eq!(
        store.max_value_size(),
        flowstore::DEFAULT_MAX_VALUE_SIZE
            - flowstore::encrypt::OVERHEAD
            - flowstore::compress::OVERHEAD
    );
}

#[tokio::test]
async fn the_namespace_option_reaches_every_store() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (sqlite_url(&dir, "a.db"), sqlite_url(&dir, "b.db"));
    let options = OpenOptions::new().namespace(Namespace::new("drafts").unwrap());
    let stack = StackOptions::new()
        .fallback(second.clone())
        .retry(RetryPolicy::new());
    let store = flowstore::open_stack(&first, &options, &stack)
        .await
        .unwrap();
    assert_eq!(store.namespace().as_str(), "drafts");
    store.set(&key("k"), b"v", None).await.unwrap();
    let second_drafts = flowstore::open_with(&second, &options).await.unwrap();
    assert!(second_drafts.get(&key("k")).await.unwrap().is_some());
    assert_eq!(raw(&second, &key("k")).await, None); // namespace `flow`
}

#[tokio::test]
async fn fallback_writes_both_files_and_each_is_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (sqlite_url(&dir, "first.db"), sqlite_url(&dir, "second.db"));
    let stack = StackOptions::new()
        .fallback(second.clone())
        .encrypt(keyring(KEY_1));
    let store = flowstore::open_stack(&first, &OpenOptions::new(), &stack)
        .await
        .unwrap();
    store
        .set(&key("k"), b"PLAINTEXT-MARKER", None)
        .await
        .unwrap();
    for url in [&first, &second] {
        let stored = raw(url, &key("k")).await.unwrap();
        assert!(stored.starts_with(ENCRYPT_MAGIC), "{url}: {stored:?}");
        assert!(!contains(&stored, b"PLAINTEXT-MARKER"));
    }
    // Through the stack, the value; the fallback layer took its envelope off.
    assert_eq!(
        store.get(&key("k")).await.unwrap(),
        Some(b"PLAINTEXT-MARKER".to_vec())
    );

    // Without encryption, the records are the fallback's envelopes.
    let plain = flowstore::open_stack(
        &sqlite_url(&dir, "p1.db"),
        &OpenOptions::new(),
        &StackOptions::new().fallback(sqlite_url(&dir, "p2.db")),
    )
    .await
    .unwrap();
    plain.set(&key("k"), b"v", None).await.unwrap();
    let stored = raw(&sqlite_url(&dir, "p2.db"), &key("k")).await.unwrap();
    assert!(stored.starts_with(FALLBACK_MAGIC), "{stored:?}");
}

/// The primary is down: reads and writes go to the second SQLite file; when it
/// comes back, the newer value wins and is repaired onto it.
#[tokio::test]
async fn fallback_to_a_second_sqlite_file_while_the_primary_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (sqlite_url(&dir, "first.db"), sqlite_url(&dir, "second.db"));
    let primary = Arc::new(ScriptedStore::new(flowstore::open(&first).await.unwrap()));
    let secondary = flowstore::open(&second).await.unwrap();
    let stack = StackOptions::new().compress(true).encrypt(keyring(KEY_1));
    let store = stack
        .wrap(vec![primary.clone() as Arc<dyn Store>, secondary.clone()])
        .unwrap();

    store.set(&key("k"), b"v1", None).await.unwrap();
    primary.outage(ErrorKind::Unavailable);
    store.set(&key("k"), b"v2", None).await.unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v2".to_vec()));
    assert!(primary.calls(Op::Get) > 0);

    primary.heal();
    // The primary still holds v1, but v2 is newer.
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v2".to_vec()));
    // Read-repair brought the primary up to date: it alone now answers v2.
    let alone = StackOptions::new()
        .compress(true)
        .encrypt(keyring(KEY_1))
        .wrap(vec![
            primary.clone() as Arc<dyn Store>,
            Arc::new(ScriptedStore::new(secondary.clone())),
        ])
        .unwrap();
    assert_eq!(alone.get(&key("k")).await.unwrap(), Some(b"v2".to_vec()));

    // Every store down: an error, never "no saved state".
    let down = Arc::new(ScriptedStore::new(secondary));
    down.outage(ErrorKind::Unavailable);
    primary.outage(ErrorKind::Unavailable);
    let store = StackOptions::new()
        .wrap(vec![primary as Arc<dyn Store>, down])
        .unwrap();
    let err = store.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn a_fallback_that_cannot_be_opened_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let stack = StackOptions::new().fallback("ftp://user:hunter2@example.com/x");
    let err = flowstore::open_stack(&sqlite_url(&dir, "a.db"), &OpenOptions::new(), &stack)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let line = err.to_one_line();
    assert!(line.contains("fallback store 1"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}

#[tokio::test]
async fn retry_absorbs_temporary_failures() {
    let dir = tempfile::tempdir().unwrap();
    let scripted = Arc::new(ScriptedStore::new(
        flowstore::open(&sqlite_url(&dir, "retry.db"))
            .await
            .unwrap(),
    ));
    scripted.fail_next(Op::Set, ErrorKind::Unavailable, 2);
    scripted.fail_next(Op::Get, ErrorKind::Timeout, 2);
    let policy = RetryPolicy::new()
        .max_attempts(3)
        .min_delay(Duration::from_millis(1));
    let store = StackOptions::new()
        .retry(policy.clone())
        .metrics(true)
        .wrap(vec![scripted.clone() as Arc<dyn Store>])
        .unwrap();
    store.set(&key("k"), b"v", None).await.unwrap();
    assert_eq!(scripted.calls(Op::Set), 3);
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(scripted.calls(Op::Get), 3);

    // Out of attempts: the last error, now persistent.
    scripted.fail_next(Op::Get, ErrorKind::Unavailable, 3);
    let err = store.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(!err.is_temporary());
    assert_eq!(scripted.calls(Op::Get), 6);

    // Not temporary: one attempt only.
    scripted.fail_next(Op::Get, ErrorKind::Corrupt, 1);
    assert_eq!(
        store.get(&key("k")).await.unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!(scripted.calls(Op::Get), 7);

    // Without retry, the first failure is the answer.
    scripted.fail_next(Op::Get, ErrorKind::Unavailable, 1);
    let bare = StackOptions::new()
        .wrap(vec![scripted.clone() as Arc<dyn Store>])
        .unwrap();
    assert_eq!(
        bare.get(&key("k")).await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
}

/// Retry sits above the fallback: when every store fails, the whole fallback
/// read is retried.
#[tokio::test]
async fn retry_is_above_fallback() {
    let primary = Arc::new(ScriptedStore::new(
        flowstore::open("memory://").await.unwrap(),
    ));
    let secondary = Arc::new(ScriptedStore::new(
        flowstore::open("memory://").await.unwrap(),
    ));
    let store = StackOptions::new()
        .retry(
            RetryPolicy::new()
                .max_attempts(2)
                .min_delay(Duration::from_millis(1)),
        )
        .wrap(vec![primary.clone() as Arc<dyn Store>, secondary.clone()])
        .unwrap();
    store.set(&key("k"), b"v", None).await.unwrap();
    primary.fail_next(Op::Get, ErrorKind::Unavailable, 1);
    secondary.fail_next(Op::Get, ErrorKind::Unavailable, 1);
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(primary.calls(Op::Get), 2);
    assert_eq!(secondary.calls(Op::Get), 2);
}

#[test]
fn wrap_needs_a_store() {
    let err = StackOptions::new().wrap(Vec::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[test]
fn debug_shows_no_key_and_no_url() {
    let stack = StackOptions::new()
        .encrypt(keyring(KEY_1))
        .fallback("postgres://app:hunter2@db.example/state")
        .compress(true);
    let debug = format!("{stack:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("3q2"), "{debug}");
    assert!(debug.contains("fallback_stores: 1"), "{debug}");
}

/// Versioned entries through every wrapper of the stack, over a fallback of
/// two memory stores (the primary has versions, so the stack claims them).
#[tokio::test]
async fn versioned_entries_pass_through_the_whole_stack() {
    use flowstore::{Condition, Current, StoreExt, Version};

    let primary = flowstore::memory::MemoryStore::new();
    let secondary = flowstore::memory::MemoryStore::new();
    let stack = StackOptions::new()
        .metrics(true)
        .retry(RetryPolicy::new())
        .compress(true)
        .encrypt(keyring(KEY_1));
    let store = stack
        .wrap(vec![Arc::new(primary.clone()), Arc::new(secondary.clone())])
        .unwrap();
    assert!(store.capabilities().versions);
    let k = key("flow");
    let value = repetitive_json();
    let v1 = store.set_if_absent(&k, &value, None).await.unwrap();
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    assert_eq!((&entry.value, &entry.version), (&value, &v1));
    let err = store.set_if_absent(&k, b"again", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&v1));
    let v2 = store
        .set_if(
            &k,
            b"next",
            None,
            &Condition::Matches(v1.clone()),
            &Version::generate(),
        )
        .await;
    v2.unwrap();
    // Encrypted on both stores; the primary's entry version is the stack's.
    let stored = primary.get_entry(&k).await.unwrap().unwrap();
    assert!(stored.value.starts_with(ENCRYPT_MAGIC));
    assert_eq!(
        store.get_entry(&k).await.unwrap().unwrap().version,
        stored.version
    );
    assert!(
        secondary
            .get(&k)
            .await
            .unwrap()
            .unwrap()
            .starts_with(ENCRYPT_MAGIC)
    );
    store.delete_if_version(&k, &stored.version).await.unwrap();
    let err = store
        .delete_if_version(&k, &stored.version)
        .await
        .unwrap_err();
    assert_eq!(err.current(), Some(&Current::Absent));
    assert_eq!(store.get(&k).await.unwrap(), None);
}
