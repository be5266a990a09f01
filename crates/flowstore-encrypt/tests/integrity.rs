//! The encrypt wrapper's own promises: tampering, swapping, rotation, plaintext
//! migration mode, key hygiene.

use flowstore_core::{ErrorKind, Key, Namespace, Operation, Result, Store, StoreExt};
use flowstore_encrypt::{EncryptedStore, EncryptionKey, Keyring, OVERHEAD};
use flowstore_memory::MemoryStore;

const KEY_A5: [u8; 32] = [0xA5; 32];

fn key(byte: u8) -> EncryptionKey {
    EncryptionKey::from_bytes(&[byte; 32]).unwrap()
}

fn k(name: &str) -> Key {
    Key::new(name).unwrap()
}

fn ns(name: &str) -> Namespace {
    Namespace::new(name).unwrap()
}

fn encrypted(inner: &MemoryStore, keyring: Keyring) -> EncryptedStore<MemoryStore> {
    EncryptedStore::new(inner.clone(), keyring)
}

fn assert_corrupt(result: Result<Option<Vec<u8>>>, what: &str) {
    match result {
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
            assert!(!err.is_temporary(), "{what}: Corrupt must not be retried");
            // Made by the wrapper while reading: that is its context.
            assert_eq!(err.operation(), Some(Operation::Get), "{what}: {err}");
            assert_eq!(err.backend_name(), Some("encrypt"), "{what}: {err}");
            assert!(
                err.to_string().starts_with("corrupt: encrypt get: "),
                "{err}"
            );
        }
        Ok(value) => panic!("{what}: expected Corrupt, got Ok({value:?})"),
    }
}

#[tokio::test]
async fn envelope_layout_and_fresh_nonces() {
    let backend = MemoryStore::new();
    let store = encrypted(&backend, Keyring::new(0x0102_0304, key(1)));
    let plaintext = b"the same value twice";
    store.set(&k("a"), plaintext, None).await.unwrap();
    let first = backend.get(&k("a")).await.unwrap().unwrap();
    store.set(&k("a"), plaintext, None).await.unwrap();
    let second = backend.get(&k("a")).await.unwrap().unwrap();

    assert_eq!(first.len(), plaintext.len() + OVERHEAD);
    assert_eq!(OVERHEAD, 37);
    assert_eq!(&first[..4], &[0xFF, b'f', b's', b'e']);
    assert_eq!(first[4], 1, "version");
    assert_eq!(&first[5..9], &[1, 2, 3, 4], "key id, big-endian");
    assert_ne!(&first[9..21], &second[9..21], "a fresh nonce per write");
    assert_ne!(first[21..], second[21..], "so the ciphertexts differ too");
    assert!(
        !first.windows(4).any(|w| w == b"same"),
        "no plaintext in the backend"
    );
    assert_eq!(
        store.get(&k("a")).await.unwrap().as_deref(),
        Some(&plaintext[..])
    );
}

#[tokio::test]
async fn every_flipped_bit_is_corrupt() {
    let backend = MemoryStore::new();
    let store = encrypted(&backend, Keyring::new(9, key(1)));
    store
        .set(&k("a"), b"some secret state", None)
        .await
        .unwrap();
    let good = backend.get(&k("a")).await.unwrap().unwrap();
    // Every region: magic 0..4, version 4, key id 5..9, nonce 9..21, ciphertext,
    // tag (last 16 bytes) — every bit of every byte.
    for index in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[index] ^= 1 << bit;
            backend.set(&k("a"), &bad, None).await.unwrap();
            assert_corrupt(
                store.get(&k("a")).await,
                &format!("bit {bit} of byte {index}"),
            );
        }
    }
    backend.set(&k("a"), &good, None).await.unwrap();
    assert!(store.get(&k("a")).await.unwrap().is_some());
}

#[tokio::test]
async fn truncated_extended_empty_and_foreign_values_are_corrupt() {
    let backend = MemoryStore::new();
    let store = encrypted(&backend, Keyring::new(1, key(1)));
    store.set(&k("a"), b"value", None).await.unwrap();
    let good = backend.get(&k("a")).await.unwrap().unwrap();
    for len in 0..good.len() {
        backend.set(&k("a"), &good[..len], None).await.unwrap();
        assert_corrupt(
            store.get(&k("a")).await,
            &format!("truncated to {len} bytes"),
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    backend.set(&k("a"), &longer, None).await.unwrap();
    assert_corrupt(store.get(&k("a")).await, "one byte appended");

    // An encrypted empty value is not an empty stored value.
    store.set(&k("empty"), b"", None).await.unwrap();
    assert_eq!(store.get(&k("empty")).await.unwrap(), Some(Vec::new()));

    let mut random = vec![0u8; 200];
    junk(&mut random);
    let mut magic_then_random = vec![0xFF, b'f', b's', b'e', 1];
    magic_then_random.extend_from_slice(&random);
    for (what, foreign) in [
        ("plaintext JSON", br#"{"step":2}"#.to_vec()),
        ("random bytes", random.clone()),
        ("magic then random bytes", magic_then_random),
        (
            "unknown version",
            [&[0xFF, b'f', b's', b'e', 2][..], &good[5..]].concat(),
        ),
    ] {
        backend.set(&k("a"), &foreign, None).await.unwrap();
        assert_corrupt(store.get(&k("a")).await, what);
    }
}

/// Deterministic junk bytes (xorshift).
fn junk(buf: &mut [u8]) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for byte in buf {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = x as u8;
    }
}

#[tokio::test]
async fn values_moved_to_another_key_or_namespace_do_not_decrypt() {
    let backend = MemoryStore::new();
    let ring = Keyring::new(1, key(1));
    let store = encrypted(&backend, ring.clone());
    store
        .set(&k("user:1"), b"alice's state", None)
        .await
        .unwrap();
    store.set(&k("user:2"), b"bob's state", None).await.unwrap();
    let alice = backend.get(&k("user:1")).await.unwrap().unwrap();
    let bob = backend.get(&k("user:2")).await.unwrap().unwrap();

    // Swap the two values inside the backend.
    backend.set(&k("user:1"), &bob, None).await.unwrap();
    backend.set(&k("user:2"), &alice, None).await.unwrap();
    assert_corrupt(
        store.get(&k("user:1")).await,
        "bob's value under alice's key",
    );
    assert_corrupt(
        store.get(&k("user:2")).await,
        "alice's value under bob's key",
    );

    // The same key in another namespace, same keyring.
    let other_backend = backend.with_namespace(ns("other"));
    let other = encrypted(&other_backend, ring.clone());
    other_backend.set(&k("user:1"), &alice, None).await.unwrap();
    assert_corrupt(
        other.get(&k("user:1")).await,
        "alice's value in another namespace",
    );

    // Namespace and key are length-prefixed: ("a", "b:c") is not ("a:b", "c").
    let in_a = encrypted(&backend.with_namespace(ns("a")), ring.clone());
    let in_ab = encrypted(&backend.with_namespace(ns("a:b")), ring.clone());
    in_a.set(&k("b:c"), b"x", None).await.unwrap();
    let raw = in_a.get_ref().get(&k("b:c")).await.unwrap().unwrap();
    in_ab.get_ref().set(&k("c"), &raw, None).await.unwrap();
    assert_corrupt(in_ab.get(&k("c")).await, "namespace/key boundary moved");

    // Put back where they belong, they read again.
    backend.set(&k("user:1"), &alice, None).await.unwrap();
    assert_eq!(
        store.get(&k("user:1")).await.unwrap().unwrap(),
        b"alice's state"
    );
}

#[tokio::test]
async fn wrong_key_with_the_same_id_is_corrupt() {
    let backend = MemoryStore::new();
    encrypted(&backend, Keyring::new(1, key(1)))
        .set(&k("a"), b"v", None)
        .await
        .unwrap();
    let wrong = encrypted(&backend, Keyring::new(1, key(2)));
    assert_corrupt(wrong.get(&k("a")).await, "another key under the same id");
}

#[tokio::test]
async fn rotation_reads_old_keys_and_writes_with_the_current_one() {
    let backend = MemoryStore::new();
    let old = encrypted(&backend, Keyring::new(1, key(1)));
    old.set(&k("before"), b"written under key 1", None)
        .await
        .unwrap();

    let rotated = encrypted(
        &backend,
        Keyring::new(2, key(2)).with_read_key(1, key(1)).unwrap(),
    );
    assert_eq!(
        rotated.get(&k("before")).await.unwrap().unwrap(),
        b"written under key 1"
    );
    rotated
        .set(&k("after"), b"written under key 2", None)
        .await
        .unwrap();
    let raw = backend.get(&k("after")).await.unwrap().unwrap();
    assert_eq!(
        &raw[5..9],
        &2u32.to_be_bytes(),
        "new writes use the current key"
    );

    // Rewriting an old value moves it to the current key.
    rotated.set(&k("before"), b"rewritten", None).await.unwrap();
    let raw = backend.get(&k("before")).await.unwrap().unwrap();
    assert_eq!(&raw[5..9], &2u32.to_be_bytes());

    // A reader that does not know key 2 (the old deployment) reports Corrupt,
    // naming the unknown id.
    let err = old.get(&k("after")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.message().contains("key id 2"), "{err}");

    // And once key 1 is retired, values still under it are Corrupt.
    old.set(&k("stale"), b"never rewritten", None)
        .await
        .unwrap();
    let retired = encrypted(&backend, Keyring::new(2, key(2)));
    assert_corrupt(retired.get(&k("stale")).await, "key id 1 retired");
}

#[tokio::test]
async fn plaintext_mode_is_off_by_default_and_reads_plaintext_when_on() {
    let backend = MemoryStore::new();
    backend
        .set(&k("legacy"), br#"{"step":1}"#, None)
        .await
        .unwrap();
    backend.set(&k("empty"), b"", None).await.unwrap();

    let strict = encrypted(&backend, Keyring::new(1, key(1)));
    assert_corrupt(
        strict.get(&k("legacy")).await,
        "plaintext with the mode off",
    );
    assert_corrupt(
        strict.get(&k("empty")).await,
        "empty plaintext with the mode off",
    );

    let migrating = encrypted(&backend, Keyring::new(1, key(1))).accept_plaintext(true);
    assert_eq!(
        migrating.get(&k("legacy")).await.unwrap().unwrap(),
        br#"{"step":1}"#
    );
    assert_eq!(migrating.get(&k("empty")).await.unwrap(), Some(Vec::new()));
    assert_eq!(migrating.get(&k("absent")).await.unwrap(), None);

    // The next set encrypts, and the strict store reads it.
    migrating
        .set(&k("legacy"), br#"{"step":2}"#, None)
        .await
        .unwrap();
    assert!(
        backend
            .get(&k("legacy"))
            .await
            .unwrap()
            .unwrap()
            .starts_with(&[0xFF, b'f', b's', b'e'])
    );
    assert_eq!(
        strict.get(&k("legacy")).await.unwrap().unwrap(),
        br#"{"step":2}"#
    );

    // Envelopes are still checked strictly in migration mode.
    let mut tampered = backend.get(&k("legacy")).await.unwrap().unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    backend.set(&k("legacy"), &tampered, None).await.unwrap();
    assert_corrupt(
        migrating.get(&k("legacy")).await,
        "tampered envelope in migration mode",
    );

    // The documented price of the mode: an envelope whose magic is damaged is no
    // longer recognised, and reads as (garbage) plaintext instead of Corrupt.
    migrating.set(&k("damaged"), b"v", None).await.unwrap();
    let mut damaged = backend.get(&k("damaged")).await.unwrap().unwrap();
    damaged[0] = b'{';
    backend.set(&k("damaged"), &damaged, None).await.unwrap();
    assert_eq!(migrating.get(&k("damaged")).await.unwrap(), Some(damaged));
    assert_corrupt(
        strict.get(&k("damaged")).await,
        "damaged magic, strict mode",
    );

    // A binary plaintext that starts with the magic is never returned as wrong bytes.
    backend
        .set(&k("binary"), &[0xFF, b'f', b's', b'e', 0, 1, 2], None)
        .await
        .unwrap();
    assert_corrupt(
        migrating.get(&k("binary")).await,
        "plaintext starting with the magic",
    );
}

#[tokio::test]
async fn max_value_size_leaves_room_for_the_envelope() {
    let backend = MemoryStore::new().with_max_value_size(1000);
    let store = encrypted(&backend, Keyring::new(1, key(1)));
    assert_eq!(store.max_value_size(), 1000 - OVERHEAD);
    let max = vec![3u8; store.max_value_size()];
    store.set(&k("max"), &max, None).await.unwrap();
    assert_eq!(store.get(&k("max")).await.unwrap(), Some(max));

    let err = store
        .set(&k("over"), &vec![3u8; 1000 - OVERHEAD + 1], None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(
        backend.get(&k("over")).await.unwrap(),
        None,
        "nothing written"
    );

    // An inner limit below the overhead leaves nothing, without underflow.
    let tiny = encrypted(
        &MemoryStore::new().with_max_value_size(10),
        Keyring::new(1, key(1)),
    );
    assert_eq!(tiny.max_value_size(), 0);
}

#[tokio::test]
async fn forwards_namespace_capabilities_ttl_delete_and_clear() {
    let backend = MemoryStore::new().with_namespace(ns("sessions"));
    let store = encrypted(&backend, Keyring::new(1, key(1)));
    assert_eq!(store.namespace().as_str(), "sessions");
    assert_eq!(store.capabilities(), backend.capabilities());

    let neighbour = backend.with_namespace(ns("sessions2"));
    neighbour.set(&k("x"), b"kept", None).await.unwrap();
    store.set(&k("x"), b"gone", None).await.unwrap();
    store.clear().await.unwrap();
    assert_eq!(store.get(&k("x")).await.unwrap(), None);
    assert_eq!(neighbour.get(&k("x")).await.unwrap().unwrap(), b"kept");

    store
        .set(
            &k("t"),
            b"short-lived",
            Some(flowstore_core::Ttl::from_millis(50).unwrap()),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert_eq!(store.get(&k("t")).await.unwrap(), None);

    store.set(&k("d"), b"v", None).await.unwrap();
    store.delete(&k("d")).await.unwrap();
    assert_eq!(backend.get(&k("d")).await.unwrap(), None);
}

#[test]
fn debug_and_errors_never_show_key_material() {
    let key_hex = "a5".repeat(32);
    let store = EncryptedStore::new(
        MemoryStore::new(),
        Keyring::new(1, EncryptionKey::from_bytes(&KEY_A5).unwrap())
            .with_read_key(2, EncryptionKey::parse(&key_hex).unwrap())
            .unwrap(),
    );
    let key = EncryptionKey::from_bytes(&KEY_A5).unwrap();
    let text = format!("{store:?} {store:#?} {:?} {key:?}", store.keyring());
    for needle in ["a5", "A5", "165", "paWl"] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
    assert_eq!(format!("{key:?}"), "EncryptionKey(..)");

    // Errors about key material do not echo it, even in part.
    let errors = [
        EncryptionKey::parse(&format!("{key_hex}ff")).unwrap_err(),
        EncryptionKey::from_hex(&format!("{}g", &key_hex[1..])).unwrap_err(),
        EncryptionKey::from_base64("paWlpaWlpaWl!").unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind(), ErrorKind::Config);
        let text = format!("{err} {err:?} {}", err.to_one_line());
        for needle in ["a5", "paWl", "!"] {
            assert!(!text.contains(needle), "{needle} in {text}");
        }
    }
}

/// Runs `child_reads_key_from_env` in a child process with the variable set: the
/// test binary cannot set its own environment (that needs `unsafe` in a
/// multi-threaded test run).
#[test]
fn key_from_env() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_reads_key_from_env",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FLOWSTORE_ENCRYPT_TEST_CHILD", "1")
        .env(
            "FLOWSTORE_ENCRYPT_TEST_KEY_HEX",
            format!(" {}\n", "a5".repeat(32)),
        )
        .env(
            "FLOWSTORE_ENCRYPT_TEST_KEY_B64",
            "paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU=",
        )
        .env("FLOWSTORE_ENCRYPT_TEST_KEY_BAD", "not-a-key-secret")
        .env("FLOWSTORE_ENCRYPT_TEST_KEY_EMPTY", "")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run: {stdout}"
    );
    assert!(stdout.contains("child checked key_from_env"), "{stdout}");
}

/// The child half of [`key_from_env`]; does nothing in a normal test run.
#[tokio::test]
async fn child_reads_key_from_env() {
    if std::env::var_os("FLOWSTORE_ENCRYPT_TEST_CHILD").is_none() {
        return;
    }
    let from_hex = EncryptionKey::from_env("FLOWSTORE_ENCRYPT_TEST_KEY_HEX").unwrap();
    let from_b64 = EncryptionKey::from_env("FLOWSTORE_ENCRYPT_TEST_KEY_B64").unwrap();
    // Same key material: what one encrypts, the other decrypts.
    let backend = MemoryStore::new();
    encrypted(&backend, Keyring::new(1, from_hex))
        .set(&k("a"), b"v", None)
        .await
        .unwrap();
    let reader = encrypted(&backend, Keyring::new(1, from_b64));
    assert_eq!(reader.get(&k("a")).await.unwrap().unwrap(), b"v");

    for (var, needle) in [
        ("FLOWSTORE_ENCRYPT_TEST_KEY_BAD", "secret"),
        ("FLOWSTORE_ENCRYPT_TEST_KEY_EMPTY", "empty"),
        ("FLOWSTORE_ENCRYPT_TEST_KEY_MISSING", "not set"),
    ] {
        let err = EncryptionKey::from_env(var).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{var}");
        assert!(err.message().contains(var), "names the variable: {err}");
        if var.ends_with("BAD") {
            assert!(!err.to_one_line().contains(needle), "{err}");
        } else {
            assert!(err.message().contains(needle), "{err}");
        }
    }
    println!("child checked key_from_env");
}

/// Conditional writes are sealed like `set`: bound to namespace and key, and
/// the entry version passes through the wrapper unchanged.
#[tokio::test]
async fn conditional_writes_are_bound_to_their_key_and_keep_their_version() {
    let backend = MemoryStore::new();
    let store = encrypted(&backend, Keyring::new(1, key(1)));
    let version = store
        .set_if_absent(&k("user:1"), b"alice's state", None)
        .await
        .unwrap();
    let raw = backend.get_entry(&k("user:1")).await.unwrap().unwrap();
    assert_eq!(
        raw.version, version,
        "the backend holds the caller's version"
    );
    assert!(
        !raw.value.windows(5).any(|w| w == b"alice"),
        "a conditional write reached the backend unsealed"
    );
    let entry = store.get_entry(&k("user:1")).await.unwrap().unwrap();
    assert_eq!(
        (entry.value.as_slice(), &entry.version),
        (&b"alice's state"[..], &version)
    );

    // Copied raw to another key, it does not decrypt, through either read.
    backend.set(&k("user:2"), &raw.value, None).await.unwrap();
    let err = store.get_entry(&k("user:2")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(err.operation(), Some(Operation::GetEntry), "{err}");
    assert_corrupt(store.get(&k("user:2")).await, "alice's value under key 2");

    // A conditional update is sealed too, and still bound to its key.
    let next = store
        .set_if_version(&k("user:1"), b"alice, step 2", None, &version)
        .await
        .unwrap();
    let raw = backend.get_entry(&k("user:1")).await.unwrap().unwrap();
    assert_eq!(raw.version, next);
    backend.set(&k("user:3"), &raw.value, None).await.unwrap();
    assert_corrupt(store.get(&k("user:3")).await, "an updated value moved");
    store.delete_if_version(&k("user:1"), &next).await.unwrap();
    assert_eq!(store.get(&k("user:1")).await.unwrap(), None);
}
