//! The compress wrapper's own promises: raw vs compressed, bombs, truncated and
//! inconsistent frames, legacy values, stacking over encryption.

use flowstore_compress::{CompressedStore, DEFAULT_MIN_SIZE, OVERHEAD};
use flowstore_core::{ErrorKind, Key, Namespace, Operation, Result, Store, StoreExt, Ttl};
use flowstore_encrypt::{EncryptedStore, EncryptionKey, Keyring};
use flowstore_memory::MemoryStore;

const MAGIC: [u8; 4] = [0xFF, b'f', b's', b'z'];

fn k(name: &str) -> Key {
    Key::new(name).unwrap()
}

fn assert_corrupt(result: Result<Option<Vec<u8>>>, what: &str) {
    match result {
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
            assert!(!err.is_temporary(), "{what}: Corrupt must not be retried");
            // Made while reading, by this wrapper, or by the encrypt wrapper
            // under it (whose context compress keeps) in the stacked cases.
            assert_eq!(err.operation(), Some(Operation::Get), "{what}: {err}");
            let maker = if what.contains("encrypt") {
                "encrypt"
            } else {
                "compress"
            };
            assert_eq!(err.backend_name(), Some(maker), "{what}: {err}");
            let prefix = format!("corrupt: {maker} get: ");
            assert!(err.to_string().starts_with(&prefix), "{err}");
        }
        Ok(value) => panic!(
            "{what}: expected Corrupt, got Ok({:?})",
            value.map(|v| v.len())
        ),
    }
}

/// A JSON document of about `len` bytes, as a flow's state typically is.
fn json(len: usize) -> Vec<u8> {
    let mut doc = String::from(r#"{"flow":"signup","steps":["#);
    let mut i = 0;
    while doc.len() < len - 3 {
        doc.push_str(&format!(
            r#"{{"step":{i},"done":false,"fields":{{"email":"user{i}@example.com"}}}},"#
        ));
        i += 1;
    }
    doc.truncate(len - 2);
    doc.push_str("]}");
    doc.into_bytes()
}

/// Deterministic incompressible bytes (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A compressed envelope around `block`, declaring `declared` bytes.
fn lz4_envelope(declared: u32, block: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 1]);
    out.extend_from_slice(&declared.to_le_bytes());
    out.extend_from_slice(block);
    out
}

#[tokio::test]
async fn compressible_values_are_compressed_with_the_documented_layout() {
    let backend = MemoryStore::new();
    let store = CompressedStore::new(backend.clone());
    let value = json(1024);
    store.set(&k("doc"), &value, None).await.unwrap();
    let stored = backend.get(&k("doc")).await.unwrap().unwrap();
    assert_eq!(&stored[..4], &MAGIC);
    assert_eq!(stored[4], 1, "version");
    assert_eq!(stored[5], 1, "method lz4");
    assert_eq!(&stored[6..10], &(value.len() as u32).to_le_bytes());
    assert_eq!(
        lz4_flex::block::decompress(&stored[10..], value.len()).unwrap(),
        value,
        "a plain lz4 block"
    );
    assert!(stored.len() < value.len() / 2, "{} bytes", stored.len());
    assert_eq!(store.get(&k("doc")).await.unwrap(), Some(value));
}

#[tokio::test]
async fn small_and_incompressible_values_are_kept_raw() {
    let backend = MemoryStore::new();
    let store = CompressedStore::new(backend.clone());
    let small = vec![b'a'; DEFAULT_MIN_SIZE - 1];
    let incompressible = noise(4096);
    for (name, value) in [
        ("small", &small),
        ("incompressible", &incompressible),
        ("empty", &Vec::new()),
    ] {
        store.set(&k(name), value, None).await.unwrap();
        let stored = backend.get(&k(name)).await.unwrap().unwrap();
        assert_eq!(stored.len(), value.len() + OVERHEAD, "{name}");
        assert_eq!(&stored[..6], &[0xFF, b'f', b's', b'z', 1, 0], "{name}: raw");
        assert_eq!(&stored[6..], &value[..], "{name}");
        assert_eq!(
            store.get(&k(name)).await.unwrap().as_ref(),
            Some(value),
            "{name}"
        );
    }

    // The threshold is configurable: with 0, the same small value is compressed.
    let eager = CompressedStore::new(backend.clone()).min_size(0);
    eager.set(&k("small"), &small, None).await.unwrap();
    let stored = backend.get(&k("small")).await.unwrap().unwrap();
    assert_eq!(stored[5], 1, "compressed");
    assert!(stored.len() < small.len());
    assert_eq!(store.get(&k("small")).await.unwrap(), Some(small));
}

#[tokio::test]
async fn bombs_are_corrupt_before_any_allocation() {
    let backend = MemoryStore::new();
    let store = CompressedStore::new(backend.clone());
    // A real block: 100 'a's.
    let block = lz4_flex::block::compress(&[b'a'; 100]);

    for (what, declared) in [
        ("4 GiB", u32::MAX),
        (
            "one byte over the limit",
            (store.max_value_size() + 1) as u32,
        ),
    ] {
        backend
            .set(&k("bomb"), &lz4_envelope(declared, &block), None)
            .await
            .unwrap();
        let err = store.get(&k("bomb")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}");
        assert!(err.message().contains("limit"), "{what}: {err}");
    }

    // Under the store's limit but far more than a block this small can produce:
    // refused by the ratio bound, also before allocating.
    backend
        .set(&k("bomb"), &lz4_envelope(10_000_000, &block), None)
        .await
        .unwrap();
    assert_corrupt(store.get(&k("bomb")).await, "10 MB from a few bytes");

    // With an unlimited inner store the 4 GiB claim still fails at once.
    let unlimited = CompressedStore::new(MemoryStore::new().with_max_value_size(usize::MAX));
    unlimited
        .get_ref()
        .set(&k("bomb"), &lz4_envelope(u32::MAX, &block), None)
        .await
        .unwrap();
    assert_corrupt(unlimited.get(&k("bomb")).await, "4 GiB, no store limit");
}

#[tokio::test]
async fn the_most_compressible_values_still_round_trip() {
    // Long runs of one byte are lz4's best case (close to 255:1); the bomb bound
    // must not reject them.
    let store = CompressedStore::new(MemoryStore::new());
    for len in [64, 1000, 65_536, 1 << 20, store.max_value_size()] {
        let zeros = vec![0u8; len];
        store.set(&k("zeros"), &zeros, None).await.unwrap();
        assert_eq!(store.get(&k("zeros")).await.unwrap(), Some(zeros), "{len}");
    }
}

#[tokio::test]
async fn truncated_frames_are_corrupt() {
    let backend = MemoryStore::new();
    let store = CompressedStore::new(backend.clone());
    let value = json(2000);
    store.set(&k("doc"), &value, None).await.unwrap();
    let good = backend.get(&k("doc")).await.unwrap().unwrap();
    assert_eq!(good[5], 1);
    for len in 0..good.len() {
        backend.set(&k("doc"), &good[..len], None).await.unwrap();
        assert_corrupt(
            store.get(&k("doc")).await,
            &format!("truncated to {len} bytes"),
        );
    }
}

#[tokio::test]
async fn inconsistent_and_unknown_frames_are_corrupt() {
    let backend = MemoryStore::new();
    let store = CompressedStore::new(backend.clone());
    let value = json(1000);
    let block = lz4_flex::block::compress(&value);
    let n = value.len() as u32;

    let mut unknown_version = lz4_envelope(n, &block);
    unknown_version[4] = 2;
    let mut unknown_method = lz4_envelope(n, &block);
    unknown_method[5] = 7;
    let mut trailing = lz4_envelope(n, &block);
    trailing.push(0);
    for (what, stored) in [
        ("declared one byte more", lz4_envelope(n + 1, &block)),
        ("declared one byte less", lz4_envelope(n - 1, &block)),
        ("declared zero", lz4_envelope(0, &block)),
        ("unknown version", unknown_version),
        ("unknown method", unknown_method),
        ("a byte after the block", trailing),
        ("header only", lz4_envelope(n, &[])),
        (
            "offset pointing before the output",
            lz4_envelope(20, &[0x0F, 0xFF, 0xFF]),
        ),
    ] {
        backend.set(&k("doc"), &stored, None).await.unwrap();
        assert_corrupt(store.get(&k("doc")).await, what);
    }
    backend
        .set(&k("doc"), &lz4_envelope(n, &block), None)
        .await
        .unwrap();
    assert_eq!(store.get(&k("doc")).await.unwrap(), Some(value));
}

#[tokio::test]
async fn damaged_blocks_never_panic() {
    let backend = MemoryStore::new();
    let store = CompressedStore::new(backend.clone());
    let value = json(3000);
    let block = lz4_flex::block::compress(&value);
    let junk = noise(block.len() * 8);
    for (i, chunk) in junk.chunks(8).enumerate() {
        let mut bad = block.clone();
        let at = i % bad.len();
        bad[at] ^= chunk[0] | 1;
        let stored = lz4_envelope(value.len() as u32, &bad);
        backend.set(&k("doc"), &stored, None).await.unwrap();
        // Not an integrity check: a damaged literal may decode to other bytes of the
        // right length. What must never happen is a panic or a non-Corrupt error.
        if let Err(err) = store.get(&k("doc")).await {
            assert_eq!(err.kind(), ErrorKind::Corrupt);
        }
    }
    for len in [1usize, 2, 3, 17, 255, 4096] {
        let stored = lz4_envelope(len as u32, &noise(len));
        backend.set(&k("doc"), &stored, None).await.unwrap();
        if let Err(err) = store.get(&k("doc")).await {
            assert_eq!(err.kind(), ErrorKind::Corrupt);
        }
    }
}

#[tokio::test]
async fn legacy_values_need_the_opt_in_and_are_then_readable() {
    let backend = MemoryStore::new();
    let legacy = json(500);
    backend.set(&k("old"), &legacy, None).await.unwrap();
    backend.set(&k("empty"), b"", None).await.unwrap();

    let strict = CompressedStore::new(backend.clone());
    assert_corrupt(
        strict.get(&k("old")).await,
        "legacy value, legacy reading off",
    );
    assert_corrupt(
        strict.get(&k("empty")).await,
        "empty legacy value, legacy reading off",
    );

    let migrating = CompressedStore::new(backend.clone()).read_legacy(true);
    assert_eq!(
        migrating.get(&k("old")).await.unwrap(),
        Some(legacy.clone())
    );
    assert_eq!(migrating.get(&k("empty")).await.unwrap(), Some(Vec::new()));
    assert_eq!(migrating.get(&k("absent")).await.unwrap(), None);

    // The next set writes an envelope, readable by the strict store.
    migrating.set(&k("old"), &legacy, None).await.unwrap();
    assert!(
        backend
            .get(&k("old"))
            .await
            .unwrap()
            .unwrap()
            .starts_with(&MAGIC)
    );
    assert_eq!(strict.get(&k("old")).await.unwrap(), Some(legacy));

    // The ambiguity rule: anything starting with the magic is an envelope, decoded
    // strictly, also in legacy mode.
    backend
        .set(&k("binary"), &[0xFF, b'f', b's', b'z', 9, 9, 9], None)
        .await
        .unwrap();
    assert_corrupt(
        migrating.get(&k("binary")).await,
        "legacy binary starting with the magic",
    );
    backend
        .set(&k("bomb"), &lz4_envelope(u32::MAX, &[0]), None)
        .await
        .unwrap();
    assert_corrupt(migrating.get(&k("bomb")).await, "bomb in legacy mode");
}

#[tokio::test]
async fn max_value_size_leaves_room_for_the_envelope() {
    let backend = MemoryStore::new().with_max_value_size(1000);
    let store = CompressedStore::new(backend.clone());
    assert_eq!(store.max_value_size(), 1000 - OVERHEAD);
    let max = noise(store.max_value_size());
    store.set(&k("max"), &max, None).await.unwrap();
    assert_eq!(store.get(&k("max")).await.unwrap(), Some(max));
    let err = store.set(&k("over"), &noise(995), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(
        backend.get(&k("over")).await.unwrap(),
        None,
        "nothing written"
    );
    // Even a value that would compress well is judged by its own size.
    let err = store.set(&k("over"), &[0u8; 995], None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
}

#[tokio::test]
async fn forwards_namespace_capabilities_ttl_delete_and_clear() {
    let backend = MemoryStore::new().with_namespace(Namespace::new("drafts").unwrap());
    let store = CompressedStore::new(backend.clone());
    assert_eq!(store.namespace().as_str(), "drafts");
    assert_eq!(store.capabilities(), backend.capabilities());

    let neighbour = backend.with_namespace(Namespace::new("drafts2").unwrap());
    neighbour.set(&k("x"), b"kept", None).await.unwrap();
    store.set(&k("x"), &json(300), None).await.unwrap();
    store.clear().await.unwrap();
    assert_eq!(store.get(&k("x")).await.unwrap(), None);
    assert_eq!(neighbour.get(&k("x")).await.unwrap().unwrap(), b"kept");

    store
        .set(&k("t"), &json(300), Some(Ttl::from_millis(50).unwrap()))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert_eq!(store.get(&k("t")).await.unwrap(), None);

    store.set(&k("d"), b"v", None).await.unwrap();
    store.delete(&k("d")).await.unwrap();
    assert_eq!(backend.get(&k("d")).await.unwrap(), None);
}

#[tokio::test]
async fn compress_over_encrypt_round_trips_and_stores_less() {
    let backend = MemoryStore::new().with_max_value_size(64 * 1024);
    let keyring = Keyring::new(1, EncryptionKey::generate().unwrap());
    let store = CompressedStore::new(EncryptedStore::new(backend.clone(), keyring.clone()));
    assert_eq!(
        store.max_value_size(),
        64 * 1024 - flowstore_encrypt::OVERHEAD - OVERHEAD
    );

    let doc = json(4096);
    store.set(&k("doc"), &doc, None).await.unwrap();
    assert_eq!(store.get(&k("doc")).await.unwrap(), Some(doc.clone()));

    // The backend holds an encrypt envelope, smaller than the document.
    let stored = backend.get(&k("doc")).await.unwrap().unwrap();
    assert!(stored.starts_with(&[0xFF, b'f', b's', b'e']));
    assert!(stored.len() < doc.len() / 2);
    // Under it, the compress envelope.
    let decrypted = EncryptedStore::new(backend.clone(), keyring)
        .get(&k("doc"))
        .await
        .unwrap()
        .unwrap();
    assert!(decrypted.starts_with(&MAGIC));

    // A max-size incompressible value passes through both envelopes.
    let max = noise(store.max_value_size());
    store.set(&k("max"), &max, None).await.unwrap();
    assert_eq!(store.get(&k("max")).await.unwrap(), Some(max));

    // Tampering below both layers is caught by the encrypt layer.
    let mut bad = backend.get(&k("doc")).await.unwrap().unwrap();
    bad[30] ^= 0x40;
    backend.set(&k("doc"), &bad, None).await.unwrap();
    assert_corrupt(
        store.get(&k("doc")).await,
        "tampered under compress over encrypt",
    );
}

/// Conditional writes are framed like `set`, and the entry version passes
/// through the wrapper unchanged in both directions.
#[tokio::test]
async fn conditional_writes_are_framed_and_keep_their_version() {
    let backend = MemoryStore::new();
    let store = CompressedStore::new(backend.clone());
    let value = json(1024);
    let version = store.set_if_absent(&k("doc"), &value, None).await.unwrap();
    let raw = backend.get_entry(&k("doc")).await.unwrap().unwrap();
    assert_eq!(raw.version, version);
    assert_eq!(
        &raw.value[..4],
        &MAGIC,
        "a conditional write reached the backend unframed"
    );
    assert!(
        raw.value.len() < value.len() / 2,
        "{} bytes",
        raw.value.len()
    );

    let entry = store.get_entry(&k("doc")).await.unwrap().unwrap();
    assert_eq!((&entry.value, &entry.version), (&value, &version));
    let err = store
        .set_if_absent(&k("doc"), &value, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&version));
    let next = store
        .set_if_version(&k("doc"), b"short", None, &version)
        .await
        .unwrap();
    assert_eq!(store.get(&k("doc")).await.unwrap(), Some(b"short".to_vec()));
    store.delete_if_version(&k("doc"), &next).await.unwrap();
    assert_eq!(store.get_entry(&k("doc")).await.unwrap(), None);
}
