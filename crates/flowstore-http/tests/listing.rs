//! The client's listing, batches, prefix deletes and touch against a real
//! `flowstore serve` (over memory), and against servers that lack the routes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;
use common::{local_config, spawn_server};
use flowstore_core::conformance::doubles::RequiredOnly;
use flowstore_core::{ErrorKind, Key, Namespace, Prefix, SetItem, Store, Ttl};
use flowstore_http::HttpStore;
use flowstore_memory::MemoryStore;
use tokio::net::TcpListener;

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn memory() -> MemoryStore {
    MemoryStore::new().with_namespace(Namespace::new("client").unwrap())
}

async fn served(store: Arc<dyn Store>) -> SocketAddr {
    spawn_server(store, local_config()).await.unwrap()
}

async fn spawn_axum(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_in_pages_and_deletes_a_prefix_in_several_steps() {
    let backing = memory();
    let addr = served(Arc::new(backing.clone())).await;
    let store = HttpStore::builder(format!("http://{addr}"))
        .list_ordered(true)
        .open()
        .unwrap();
    assert!(store.capabilities().list_ordered);
    let keys: Vec<Key> = (0..2500).map(|i| key(&format!("p/{i:05}"))).collect();
    for chunk in keys.chunks(1000) {
        let items: Vec<SetItem<'_>> = chunk.iter().map(|k| SetItem::new(k, b"v", None)).collect();
        store.set_many(&items).await.unwrap();
    }
    store.set(&key("q"), b"stays", None).await.unwrap();
    let page = store
        .list(&Prefix::new("p/").unwrap(), None, 7)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 7);
    assert_eq!(page.items[0].key, keys[0]);
    assert_eq!(page.items[0].stored_size, 1);
    assert!(page.items[0].version.is_some());
    let listed: Vec<_> = all_keys(&store, "p/").await;
    assert_eq!(listed, keys, "every key once, in order");
    // 2 500 keys take three steps of at most 1 000 on the server.
    let deleted = store
        .delete_prefix(&Prefix::new("p/").unwrap())
        .await
        .unwrap();
    assert_eq!(deleted, 2500);
    assert_eq!(
        backing.get(&key("q")).await.unwrap().as_deref(),
        Some(&b"stays"[..])
    );
    assert_eq!(store.delete_prefix(&Prefix::all()).await.unwrap(), 1);
    assert_eq!(backing.get(&key("q")).await.unwrap(), None);
}

async fn all_keys(store: &HttpStore, prefix: &str) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(&Prefix::new(prefix).unwrap(), cursor.as_ref(), 300)
            .await
            .unwrap();
        keys.extend(page.items.into_iter().map(|item| item.key));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return keys,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_one_request_is_split_and_reads_back() {
    let backing = memory().with_max_value_size(1000);
    let addr = served(Arc::new(backing.clone())).await;
    let store = HttpStore::builder(format!("http://{addr}"))
        .max_value_size(1000)
        .open()
        .unwrap();
    // 1 000 values of 1 000 bytes that are not UTF-8: base64 in JSON, about
    // 1.4 MB in all, over the server's batch body limit for 1 000-byte values
    // (1 MiB and a little), so the client sends two requests.
    assert!(1000 * 1336 > flowstore_http::protocol::batch_body_limit(1000));
    let keys: Vec<Key> = (0..1000).map(|i| key(&format!("k{i}"))).collect();
    let values: Vec<Vec<u8>> = (0..1000u32)
        .map(|i| {
            let mut value = vec![0xff; 1000];
            value[..4].copy_from_slice(&i.to_be_bytes());
            value
        })
        .collect();
    let ttl: Ttl = "1h".parse().unwrap();
    let items: Vec<SetItem<'_>> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| SetItem::new(k, v, Some(ttl)))
        .collect();
    store.set_many(&items).await.unwrap();
    let read = store.get_many(&keys).await.unwrap();
    assert!(
        read.iter()
            .zip(&values)
            .all(|(got, want)| got.as_ref() == Some(want))
    );
    let entry = backing.get_entry(&keys[999]).await.unwrap().unwrap();
    assert!(entry.expires_at.is_some(), "each entry keeps its TTL");
    let mixed = [key("k1"), key("absent"), key("k1")];
    let read = store.get_many(&mixed).await.unwrap();
    assert_eq!(read[0], Some(values[1].clone()));
    assert_eq!(read[1], None);
    assert_eq!(read[2], Some(values[1].clone()));
    store.delete_many(&keys[..500]).await.unwrap();
    assert_eq!(backing.get(&keys[0]).await.unwrap(), None);
    assert!(backing.get(&keys[500]).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_says_whether_the_key_was_there() {
    let backing = memory();
    let addr = served(Arc::new(backing.clone())).await;
    let store = HttpStore::builder(format!("http://{addr}")).open().unwrap();
    assert!(!store.touch(&key("nope"), None).await.unwrap());
    store
        .set(&key("k"), b"v", Some("1h".parse().unwrap()))
        .await
        .unwrap();
    assert!(store.touch(&key("k"), None).await.unwrap());
    let entry = backing.get_entry(&key("k")).await.unwrap().unwrap();
    assert_eq!(entry.expires_at, None);
    assert_eq!(entry.value, b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_store_cannot_list_is_unsupported() {
    let backing = memory();
    backing.set(&key("k"), b"v", None).await.unwrap();
    let addr = served(Arc::new(RequiredOnly(backing.clone()))).await;
    // Claimed by default: the server's 501 is Unsupported.
    let store = HttpStore::builder(format!("http://{addr}")).open().unwrap();
    let err = store.list(&Prefix::all(), None, 10).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let err = store.delete_prefix(&Prefix::all()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let err = store.touch(&key("k"), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(backing.get(&key("k")).await.unwrap().is_some());
    // Turned off in the builder: not claimed, nothing sent.
    let store = HttpStore::from_url(&format!("http://{addr}?list=false&touch=false"))
        .unwrap()
        .open()
        .unwrap();
    assert!(!store.capabilities().list && !store.capabilities().touch);
    let err = store.list(&Prefix::all(), None, 10).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    // Batches still work.
    assert_eq!(
        store.get_many(&[key("k")]).await.unwrap(),
        vec![Some(b"v".to_vec())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_claim_the_server_denies_is_a_config_error() {
    let app = Router::new().route(
        "/states",
        get(|| async { r#"{"items":[],"next":null,"ordered":false}"# }),
    );
    let addr = spawn_axum(app).await;
    let ordered = HttpStore::builder(format!("http://{addr}"))
        .list_ordered(true)
        .open()
        .unwrap();
    let err = ordered.list(&Prefix::all(), None, 10).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let unordered = HttpStore::builder(format!("http://{addr}")).open().unwrap();
    assert!(
        !unordered.capabilities().list_ordered,
        "not claimed by default"
    );
    let page = unordered.list(&Prefix::all(), None, 10).await.unwrap();
    assert!(page.items.is_empty() && page.next.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_fall_back_to_single_requests_on_a_server_without_the_routes() {
    // An earlier server: `/states/{key}` only, everything else a plain 404.
    let app = Router::new().route(
        "/states/{key}",
        get(|| async {
            let mut headers = HeaderMap::new();
            headers.insert("flowstore-absent", HeaderValue::from_static("1"));
            (StatusCode::NOT_FOUND, headers)
        })
        .delete(|| async { StatusCode::NO_CONTENT }),
    );
    let addr = spawn_axum(app).await;
    let store = HttpStore::builder(format!("http://{addr}")).open().unwrap();
    assert_eq!(
        store.get_many(&[key("a"), key("b")]).await.unwrap(),
        vec![None, None]
    );
    store.delete_many(&[key("a")]).await.unwrap();
    let err = store.list(&Prefix::all(), None, 10).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let err = store.touch(&key("a"), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
}

/// A batch read whose values add up to more than one answer carries is
/// refused by the server (413, so no answer of a thousand largest values is
/// built) and asked again in halves by the client, which gets every value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_read_over_the_answer_budget_is_split_in_halves() {
    let backing = memory();
    let addr = served(Arc::new(backing.clone())).await;
    let store = HttpStore::builder(format!("http://{addr}")).open().unwrap();
    let budget = flowstore_http::protocol::batch_answer_budget(backing.max_value_size());
    let big = vec![b'x'; budget / 3 + 1];
    let keys: Vec<Key> = (0..4).map(|i| key(&format!("big/{i}"))).collect();
    for k in &keys {
        backing.set(k, &big, None).await.unwrap();
    }
    // Straight to the route: four values over the budget are refused.
    let body = serde_json::json!({ "keys": ["big/0", "big/1", "big/2", "big/3"] }).to_string();
    let answer = post_raw(addr, "/batch/get", &body).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // The client splits and reads them all.
    let values = store.get_many(&keys).await.unwrap();
    assert!(
        values
            .iter()
            .all(|value| value.as_deref() == Some(&big[..]))
    );
}

/// One HTTP/1.1 POST over a plain socket; the whole answer as text.
async fn post_raw(addr: SocketAddr, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}
