//! Entry versions through the HTTP pair (SPEC §8): the client against a real
//! `flowstore serve` over a memory store, against servers that ignore
//! conditions (which it must never believe), and a retried conditional write
//! whose first answer was cut off on the way back.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::{client_for, local_config, spawn_server};
use flowstore_core::conformance::doubles::RequiredOnly;
use flowstore_core::conformance::doubles::{Op, ScriptedStore};
use flowstore_core::{
    Condition, Current, ErrorKind, Key, Namespace, Store, StoreExt, Ttl, Version,
};
use flowstore_http::HttpStore;
use flowstore_memory::MemoryStore;
use flowstore_retry::{RetryPolicy, RetryStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn memory() -> MemoryStore {
    MemoryStore::new().with_namespace(Namespace::new("vers").unwrap())
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn client(addr: SocketAddr) -> HttpStore {
    HttpStore::builder(format!("http://{addr}")).open().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_and_conflicts_round_trip() {
    let backing = memory();
    let store = client_for(Arc::new(backing.clone())).await.unwrap();
    assert!(store.capabilities().versions);
    let k = key("k");

    let first = store.set_if_absent(&k, b"one", None).await.unwrap();
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    assert_eq!((&entry.value[..], &entry.version), (&b"one"[..], &first));
    assert_eq!(entry.expires_at, None);
    assert_eq!(
        backing.get_entry(&k).await.unwrap().unwrap().version,
        first,
        "the server wrote the version the client proposed"
    );

    // If-None-Match on a present key: Conflict with the current version.
    let err = store.set_if_absent(&k, b"x", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(!err.is_temporary());
    assert_eq!(err.current_version(), Some(&first));

    let ttl = Ttl::from_secs(60).unwrap();
    let before = SystemTime::now();
    let second = store
        .set_if_version(&k, b"two", Some(ttl), &first)
        .await
        .unwrap();
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    assert_eq!(entry.version, second);
    let expires_at = entry.expires_at.expect("the TTL travels back as an expiry");
    assert!(
        expires_at > before + Duration::from_secs(59),
        "{expires_at:?}"
    );
    assert!(expires_at < SystemTime::now() + Duration::from_secs(61));

    // A stale version: Conflict naming the current one, the value unchanged.
    let err = store
        .set_if_version(&k, b"three", None, &first)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&second));
    assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"two"[..]));

    let err = store.delete_if_version(&k, &first).await.unwrap_err();
    assert_eq!(err.current_version(), Some(&second));
    store.delete_if_version(&k, &second).await.unwrap();
    assert_eq!(store.get_entry(&k).await.unwrap(), None);
    // Absent is a conflict, and says so.
    let err = store.delete_if_version(&k, &second).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current(), Some(&Current::Absent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_404_mode_claims_no_versions_and_sends_nothing() {
    // Nothing listens here: had a request been sent, the answer would be
    // `Unavailable`.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let store = HttpStore::builder(format!("http://{addr}"))
        .plain_404(true)
        .open()
        .unwrap();
    assert!(!store.capabilities().versions);
    let v = Version::generate();
    let results = [
        store.get_entry(&key("k")).await.map(|_| ()),
        store
            .set_if(&key("k"), b"v", None, &Condition::Absent, &v)
            .await,
        store.delete_if(&key("k"), &v).await,
    ];
    for result in results {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");
    }
}

/// A server that answers every request with `answer` and counts requests.
async fn canned(answer: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (addr, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_conditions_is_never_believed() {
    let v = Version::new("proposed").unwrap();
    let expected = Version::new("old").unwrap();
    // The original design's server: 204 to any PUT or DELETE, no marker.
    let (plain, requests) = canned(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").await;
    let store = client(plain);
    for result in [
        store
            .set_if(
                &key("k"),
                b"v",
                None,
                &Condition::Matches(expected.clone()),
                &v,
            )
            .await,
        store.delete_if(&key("k"), &expected).await,
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");
        assert!(err.message().contains("unconditionally"), "{err}");
    }
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    // A 200 without an entry version is no entry.
    let (plain_get, _) =
        canned(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nv").await;
    let err = client(plain_get).get_entry(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");

    // A server that echoes the marker but wrote another version did not write
    // this one.
    let (other_version, _) = canned(
        b"HTTP/1.1 204 No Content\r\nFlowstore-Versioned: 1\r\nETag: \"theirs\"\r\nConnection: close\r\n\r\n",
    )
    .await;
    let err = client(other_version)
        .set_if(&key("k"), b"v", None, &Condition::Absent, &v)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");
    // A generic server's ETag without the marker: same.
    let (etag_only, _) =
        canned(b"HTTP/1.1 204 No Content\r\nETag: \"proposed\"\r\nConnection: close\r\n\r\n").await;
    let err = client(etag_only)
        .set_if(&key("k"), b"v", None, &Condition::Absent, &v)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_store_without_versions_answers_unsupported_and_writes_nothing() {
    let backing = memory();
    let unversioned: Arc<dyn Store> = Arc::new(RequiredOnly(backing.clone()));
    assert!(
        !client_for(unversioned.clone())
            .await
            .unwrap()
            .capabilities()
            .versions,
        "versions(false) claims none"
    );
    let store = common::versioned_client_for(unversioned).await.unwrap();
    store.set(&key("k"), b"kept", None).await.unwrap();
    let err = store
        .set_if_absent(&key("new"), b"v", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");
    for present_or_not in ["k", "absent"] {
        let err = store.get_entry(&key(present_or_not)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");
    }
    let err = store
        .delete_if_version(&key("k"), &Version::generate())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");
    assert_eq!(backing.get(&key("new")).await.unwrap(), None);
    assert_eq!(
        backing.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
}

/// A TCP proxy to `upstream`. On its first connection it forwards the request,
/// waits for the first bytes of the server's answer — so the server has
/// applied the write — and then closes both sides without passing the answer
/// on. Later connections are forwarded both ways.
async fn cutting_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            tokio::spawn(async move {
                let server = TcpStream::connect(upstream).await.unwrap();
                if first {
                    cut_after_the_answer_starts(client, server).await;
                } else {
                    let (mut client, mut server) = (client, server);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (addr, connections)
}

async fn cut_after_the_answer_starts(client: TcpStream, server: TcpStream) {
    let (mut client_read, client_write) = client.into_split();
    let (server_read, mut server_write) = server.into_split();
    let forward = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut server_read = server_read;
    let mut first = [0u8; 1];
    let _ = server_read.read(&mut first).await;
    // The answer is on its way: drop it, and the connection to the client.
    forward.abort();
    drop(client_write);
    drop(server_read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_conditional_write_whose_answer_was_lost_is_ok() {
    let backing = Arc::new(ScriptedStore::new(memory()));
    let addr = spawn_server(backing.clone(), local_config()).await.unwrap();
    let k = key("k");
    let first = backing.set_versioned(&k, b"one", None).await.unwrap();
    let writes_before = backing.calls(Op::SetIf);

    let (proxy, connections) = cutting_proxy(addr).await;
    let store = RetryStore::with_policy(
        client(proxy),
        RetryPolicy::new()
            .max_attempts(3)
            .min_delay(Duration::from_millis(10))
            .jitter(false),
    );
    let written = store
        .set_if_version(&k, b"two", None, &first)
        .await
        .expect("the retry finds its own first attempt: Ok, not Conflict");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        2,
        "the first answer was cut, and the write was retried once"
    );
    assert_eq!(
        backing.calls(Op::SetIf) - writes_before,
        2,
        "both attempts reached the store"
    );
    let entry = backing.get_entry(&k).await.unwrap().unwrap();
    assert_eq!((&entry.value[..], entry.version), (&b"two"[..], written));
}
