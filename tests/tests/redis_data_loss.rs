//! Issue 15, defect 4: a Redis server that comes back empty (restarted without
//! persistence, or flushed by someone else) must not make saved keys read as
//! absent. Reads fail with `DataLoss` until the loss is acknowledged; writes
//! keep working; the health probe says so; through `flowstore serve` the HTTP
//! client keeps the kind.
//!
//! Each test starts a throwaway `redis-server` of its own (persistence off),
//! never the shared one; ignored under a plain `cargo test`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowstore_core::health::{Part, PartDown};
use flowstore_core::{ErrorKind, Key, Namespace, Prefix, Store};
use flowstore_redis::RedisStore;
use flowstore_test_servers::{RedisOptions, RedisServer};

const COMMAND_TIMEOUT: Duration = Duration::from_millis(800);

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

async fn open(server: &RedisServer, namespace: &str) -> RedisStore {
    RedisStore::from_url(&server.url())
        .unwrap()
        .namespace(Namespace::new(namespace).unwrap())
        .command_timeout(COMMAND_TIMEOUT)
        .reconnect_delays(Duration::from_millis(20), Duration::from_millis(100))
        .open()
        .await
        .unwrap()
}

/// What the single server's marker holds ("" when absent).
fn marker(server: &RedisServer) -> String {
    server
        .cmd(&["GET", flowstore_redis::MARKER])
        .unwrap()
        .text()
}

/// The token of the last acknowledgement ("" when absent).
fn acknowledged(server: &RedisServer) -> String {
    server
        .cmd(&["GET", flowstore_redis::ACKNOWLEDGED])
        .unwrap()
        .text()
}

fn assert_data_loss<T: std::fmt::Debug>(result: flowstore_core::Result<T>, what: &str) {
    match result {
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::DataLoss, "{what}: {err}");
            assert!(!err.is_temporary(), "{what}: DataLoss must be permanent");
        }
        Ok(answer) => panic!("{what}: answered {answer:?} after the server lost its data"),
    }
}

/// Every read fails with `DataLoss`, writes work, the probe is degraded; then
/// acknowledging serves reads again, lost keys as absent.
async fn check_lost_then_acknowledge(store: &RedisStore, lost: &[Key]) {
    assert_data_loss(store.get(&lost[0]).await, "get");
    assert_data_loss(store.get_entry(&lost[0]).await, "get_entry");
    assert_data_loss(store.get_many(lost).await, "get_many");
    assert_data_loss(store.list(&Prefix::all(), None, 100).await, "list");
    // Writes keep working; a key written now still fails to read until the
    // loss is acknowledged (the store cannot tell which keys survived).
    store.set(&key("after"), b"new", None).await.unwrap();
    assert_data_loss(store.get(&key("after")).await, "get of a key written after");
    let health = store.ping().await.unwrap();
    assert_eq!(
        health.down,
        [PartDown::new(Part::Primary, ErrorKind::DataLoss)]
    );

    store.acknowledge_data_loss().await.unwrap();
    for lost_key in lost {
        assert_eq!(store.get(lost_key).await.unwrap(), None);
    }
    assert_eq!(store.get_entry(&lost[0]).await.unwrap(), None);
    assert_eq!(
        store.get(&key("after")).await.unwrap(),
        Some(b"new".to_vec())
    );
    assert!(!store.ping().await.unwrap().is_degraded());
}

async fn write_keys(store: &RedisStore) -> Vec<Key> {
    let keys: Vec<Key> = (0..5).map(|i| key(&format!("saved/{i}"))).collect();
    for k in &keys {
        store.set(k, b"state", None).await.unwrap();
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn a_flushed_server_reads_as_data_loss_until_acknowledged() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let store = open(&server, "lossy").await;
    let other = store
        .with_namespace(Namespace::new("other").unwrap())
        .unwrap();
    let keys = write_keys(&store).await;
    assert_eq!(store.get(&keys[0]).await.unwrap(), Some(b"state".to_vec()));
    // The marker is no key of any namespace: clear and listing never see it.
    other.clear().await.unwrap();
    assert_eq!(
        store
            .list(&Prefix::all(), None, 100)
            .await
            .unwrap()
            .items
            .len(),
        5
    );

    server.cmd(&["FLUSHALL"]).unwrap();
    check_lost_then_acknowledge(&store, &keys).await;
    // Every handle of the connection shares the state, and a second flush
    // after the acknowledgement is seen again.
    server.cmd(&["FLUSHDB"]).unwrap();
    assert_data_loss(other.get(&key("x")).await, "get in another namespace");
    other.acknowledge_data_loss().await.unwrap();
    assert_eq!(store.get(&keys[1]).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn a_server_restarted_without_persistence_is_seen_after_the_reconnection() {
    let mut server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let store = open(&server, "lossy").await;
    let keys = write_keys(&store).await;
    server.restart().expect("restart redis-server");
    // A key written after the restart exists, so only the check made after
    // the reconnection can refuse its read.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.set(&key("after"), b"new", None).await {
            Ok(()) => break,
            Err(err) if err.is_temporary() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("set after the restart: {err}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !store.ping().await.unwrap().is_degraded() {
        assert!(
            Instant::now() < deadline,
            "no data loss seen after the reconnection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check_lost_then_acknowledge(&store, &keys).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn through_flowstore_serve_the_client_keeps_the_kind() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let redis = open(&server, "flow").await;
    let mut config = flowstore_server::ServerConfig::default();
    config.listen = "127.0.0.1:0".into();
    let backing: Arc<dyn Store> = Arc::new(redis);
    let http_server = flowstore_server::bind(backing, config).await.unwrap();
    let addr = http_server.local_addr();
    tokio::spawn(http_server.run(std::future::pending()));
    let client = flowstore_http::HttpStore::builder(format!("http://{addr}"))
        .request_timeout(Duration::from_secs(10))
        .open()
        .unwrap();
    client.set(&key("saved"), b"state", None).await.unwrap();

    server.cmd(&["FLUSHALL"]).unwrap();
    assert_data_loss(client.get(&key("saved")).await, "get over HTTP");
    assert_data_loss(client.get_entry(&key("saved")).await, "get_entry over HTTP");
    assert_data_loss(client.get_many(&[key("saved")]).await, "get_many over HTTP");
    client.set(&key("after"), b"new", None).await.unwrap();

    let (status, body) = tokio::task::spawn_blocking(move || {
        post(addr, flowstore_server::ACKNOWLEDGE_DATA_LOSS_PATH)
    })
    .await
    .unwrap();
    assert_eq!(status, 204, "{body}");
    assert_eq!(client.get(&key("saved")).await.unwrap(), None);

    // The HTTP client acknowledges through the same route.
    server.cmd(&["FLUSHALL"]).unwrap();
    assert_data_loss(client.get(&key("saved")).await, "get over HTTP again");
    client.acknowledge_data_loss().await.unwrap();
    assert_eq!(client.get(&key("saved")).await.unwrap(), None);
    client.set(&key("after"), b"new", None).await.unwrap();
    assert_eq!(
        client.get(&key("after")).await.unwrap(),
        Some(b"new".to_vec())
    );
}

/// One HTTP/1.1 `POST` without a body; the status code and the body.
fn post(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Fills `server` past a `maxmemory` set afterwards: every write is refused
/// with `OOM` under `noeviction`.
fn fill(server: &RedisServer) {
    let big = "x".repeat(2 << 20);
    server.cmd(&["SET", "filler", &big]).unwrap();
    server
        .cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .unwrap();
    server.cmd(&["CONFIG", "SET", "maxmemory", "1mb"]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn a_full_noeviction_server_still_opens() {
    // A marker written before the server filled up is adopted: detection on.
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let before = open(&server, "full").await;
    let keys = write_keys(&before).await;
    fill(&server);
    let store = open(&server, "full").await;
    assert!(store.detects_data_loss());
    assert_eq!(store.get(&keys[0]).await.unwrap(), Some(b"state".to_vec()));
    let err = store.set(&key("more"), b"x", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");

    // No marker to adopt: the store opens with detection off, reads work.
    let empty = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    fill(&empty);
    let store = open(&empty, "full").await;
    assert!(!store.detects_data_loss());
    assert_eq!(store.get(&key("absent")).await.unwrap(), None);
    store.acknowledge_data_loss().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn a_read_only_replica_still_opens() {
    let primary = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    // A replica of a primary no store opened yet has no marker to adopt.
    let replica =
        RedisServer::start(RedisOptions::new().replica_of(primary.port())).expect("start replica");
    let store = open(&replica, "flow").await;
    assert!(!store.detects_data_loss());
    assert_eq!(store.get(&key("absent")).await.unwrap(), None);
    drop(store);

    let writer = open(&primary, "flow").await;
    let keys = write_keys(&writer).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while replica.cmd(&["EXISTS", "flowstore-marker"]).unwrap().text() != "1" {
        assert!(
            Instant::now() < deadline,
            "the marker never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = open(&replica, "flow").await;
    assert!(
        store.detects_data_loss(),
        "the replicated marker is adopted"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.get(&keys[4]).await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the keys never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn under_an_allkeys_policy_detection_is_off() {
    // The marker has no TTL: `allkeys-*` could evict it and refuse every read.
    let server = RedisServer::start(
        RedisOptions::new()
            .arg("--maxmemory-policy")
            .arg("allkeys-lru"),
    )
    .expect("start redis-server");
    let store = open(&server, "evicting").await;
    assert!(!store.detects_data_loss());
    assert!(store.eviction_warning().is_some());
    let keys = write_keys(&store).await;
    assert_eq!(
        server.cmd(&["EXISTS", "flowstore-marker"]).unwrap().text(),
        "0",
        "no marker is written"
    );
    server.cmd(&["FLUSHALL"]).unwrap();
    assert_eq!(store.get(&keys[0]).await.unwrap(), None);
    assert_eq!(
        store
            .list(&Prefix::all(), None, 10)
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    assert!(!store.ping().await.unwrap().is_degraded());
    // `eviction=ignore` silences the warning, not the reason to stay off.
    let quiet = RedisStore::from_url(&format!("{}?eviction=ignore", server.url()))
        .unwrap()
        .open()
        .await
        .unwrap();
    assert!(!quiet.detects_data_loss());
    assert_eq!(quiet.eviction_warning(), None);

    // A volatile-* policy never evicts the marker (it has no TTL).
    let volatile = RedisServer::start(
        RedisOptions::new()
            .arg("--maxmemory-policy")
            .arg("volatile-lru"),
    )
    .expect("start redis-server");
    assert!(open(&volatile, "flow").await.detects_data_loss());
}

/// Polls `store.get(key)` until it stops failing with `DataLoss`, for at most
/// `within`; the answer then.
async fn read_once_acknowledged(
    store: &RedisStore,
    key: &Key,
    within: Duration,
) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    loop {
        match store.get(key).await {
            Err(err) if err.kind() == ErrorKind::DataLoss && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other.unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn the_loss_and_its_acknowledgement_are_fleet_wide() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    // Two processes: two stores with connections of their own.
    let first = open(&server, "fleet").await;
    let second = open(&server, "fleet").await;
    let idle = open(&server, "fleet").await;
    let keys = write_keys(&first).await;
    server.cmd(&["FLUSHALL"]).unwrap();

    // One sees it and marks the fleet's marker lost; writes keep working.
    assert_data_loss(first.get(&keys[0]).await, "get on the first");
    assert_eq!(marker(&server), flowstore_redis::LOST);
    second.set(&key("after"), b"new", None).await.unwrap();
    // A store opened after the loss starts lost.
    let late = open(&server, "fleet").await;
    assert_data_loss(late.get(&key("after")).await, "get on a store opened after");
    assert!(late.ping().await.unwrap().is_degraded());
    // The marker holds the data lost value, not the token the second saw.
    assert_data_loss(second.get(&keys[2]).await, "get on the second");

    // Acknowledged through one: the others read again within about a second.
    late.acknowledge_data_loss().await.unwrap();
    assert_eq!(late.get(&keys[0]).await.unwrap(), None);
    assert_eq!(
        read_once_acknowledged(&first, &keys[0], Duration::from_secs(5)).await,
        None
    );
    // A store that had not noticed the loss adopts the acknowledgement
    // instead of raising the flag again.
    assert_eq!(idle.get(&keys[1]).await.unwrap(), None);
    assert_eq!(
        read_once_acknowledged(&second, &key("after"), Duration::from_secs(5)).await,
        Some(b"new".to_vec())
    );
    assert_eq!(marker(&server), acknowledged(&server));

    // A second loss after the acknowledgement is seen again by everyone.
    server.cmd(&["FLUSHALL"]).unwrap();
    assert_data_loss(idle.get(&keys[1]).await, "get after a second loss");
    let store = open(&server, "fleet").await;
    assert_data_loss(store.get(&keys[1]).await, "get on a store opened after it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn conditional_writes_and_touch_say_data_loss_not_absent() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let store = open(&server, "cond").await;
    let keys = write_keys(&store).await;
    let version = store.get_entry(&keys[0]).await.unwrap().unwrap().version;
    server.cmd(&["FLUSHALL"]).unwrap();
    // The first call to meet the loss sees it, not an "absent" answer.
    assert_data_loss(store.touch(&keys[0], None).await, "touch");
    assert_data_loss(
        store
            .set_if(
                &keys[1],
                b"x",
                None,
                &flowstore_core::Condition::Matches(version.clone()),
                &flowstore_core::Version::generate(),
            )
            .await,
        "set_if with an expected version",
    );
    assert_data_loss(store.delete_if(&keys[2], &version).await, "delete_if");
    // A create-if-absent states that the key was absent: refused too (it
    // would succeed over a lost key); an unconditional write keeps working.
    assert_data_loss(
        store
            .set_if(
                &keys[3],
                b"y",
                None,
                &flowstore_core::Condition::Absent,
                &flowstore_core::Version::generate(),
            )
            .await,
        "set_if only if absent",
    );
    store
        .set_if(
            &keys[3],
            b"y",
            None,
            &flowstore_core::Condition::Always,
            &flowstore_core::Version::generate(),
        )
        .await
        .unwrap();
    store.acknowledge_data_loss().await.unwrap();
    assert!(!store.touch(&keys[0], None).await.unwrap());

    // Each on its own is the first to meet a loss.
    for call in 0..3 {
        server.cmd(&["FLUSHALL"]).unwrap();
        let result = match call {
            0 => store.touch(&keys[0], None).await.map(|_| ()),
            1 => {
                store
                    .set_if(
                        &keys[0],
                        b"x",
                        None,
                        &flowstore_core::Condition::Matches(version.clone()),
                        &flowstore_core::Version::generate(),
                    )
                    .await
            }
            _ => store.delete_if(&keys[0], &version).await,
        };
        assert_data_loss(result, &format!("call {call}"));
        store.acknowledge_data_loss().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn the_health_probe_sees_a_flush_without_a_read() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let store = open(&server, "probe").await;
    let keys = write_keys(&store).await;
    assert!(!store.ping().await.unwrap().is_degraded());
    server.cmd(&["FLUSHALL"]).unwrap();
    assert_eq!(
        store.ping().await.unwrap().down,
        [PartDown::new(Part::Primary, ErrorKind::DataLoss)]
    );
    assert_data_loss(store.get(&keys[0]).await, "get after the probe saw it");
    store.acknowledge_data_loss().await.unwrap();
    assert!(!store.ping().await.unwrap().is_degraded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts a Redis Cluster"]
async fn a_cluster_shard_wiped_alone_reads_as_data_loss() {
    let cluster = flowstore_test_servers::RedisCluster::start().expect("start the Redis Cluster");
    let store = RedisStore::from_url(&cluster.url())
        .unwrap()
        .namespace(Namespace::new("lossy").unwrap())
        .command_timeout(Duration::from_secs(2))
        .open()
        .await
        .unwrap();
    assert!(store.detects_data_loss());
    // Keys of the shard to wipe (primary 1, no replica) and of another one.
    let primary = |name: &Key| -> usize {
        let slot: usize = cluster
            .node(0)
            .cmd(&["CLUSTER", "KEYSLOT", &format!("lossy:{}", name.as_str())])
            .unwrap()
            .text()
            .parse()
            .unwrap();
        // The ranges RedisCluster::start assigns: [i·16384/n, (i+1)·16384/n).
        let n = flowstore_test_servers::RedisCluster::PRIMARIES;
        (0..n)
            .find(|i| (i * 16384 / n..(i + 1) * 16384 / n).contains(&slot))
            .unwrap()
    };
    let keys: Vec<Key> = (0..40).map(|i| key(&format!("saved/{i}"))).collect();
    for k in &keys {
        store.set(k, b"state", None).await.unwrap();
    }
    let wiped = keys
        .iter()
        .find(|k| primary(k) == 1)
        .expect("a key on primary 1");
    let kept = keys
        .iter()
        .find(|k| primary(k) == 2)
        .expect("a key on primary 2");

    cluster.node(1).cmd(&["FLUSHALL"]).unwrap();
    // Another shard's keys are still there; the wiped shard's read as lost.
    assert_eq!(store.get(kept).await.unwrap(), Some(b"state".to_vec()));
    assert_data_loss(store.get(wiped).await, "get of a key on the wiped shard");
    assert_data_loss(store.get(kept).await, "get of a key on another shard");
    assert!(store.ping().await.unwrap().is_degraded());

    store.acknowledge_data_loss().await.unwrap();
    assert_eq!(store.get(wiped).await.unwrap(), None);
    assert_eq!(store.get(kept).await.unwrap(), Some(b"state".to_vec()));
    assert!(!store.ping().await.unwrap().is_degraded());

    // The probe alone sees the next wipe, of another shard.
    cluster.node(2).cmd(&["FLUSHALL"]).unwrap();
    assert!(store.ping().await.unwrap().is_degraded());
}

/// Review of the detection: a second wipe while the fleet was lost removed
/// the lost state from Redis too, and the lost stores took its absence for an
/// acknowledgement. They remember the loss, write it back, and a store that
/// connected in between sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn a_second_wipe_while_lost_is_no_acknowledgement() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let first = open(&server, "twice").await;
    let second = open(&server, "twice").await;
    let keys = write_keys(&first).await;
    server.cmd(&["FLUSHALL"]).unwrap();
    assert_data_loss(first.get(&keys[0]).await, "get after the first wipe");
    assert_data_loss(second.get(&keys[0]).await, "get on the second");

    server.cmd(&["FLUSHALL"]).unwrap();
    assert_eq!(
        marker(&server),
        "",
        "the second wipe took the lost value too"
    );
    // A store that connects now finds an empty server: it writes a marker.
    let between = open(&server, "twice").await;
    assert!(between.detects_data_loss());
    // Past the reread interval, the lost stores read the markers again and
    // find no acknowledgement in them.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_data_loss(first.get(&keys[0]).await, "get after the second wipe");
    assert_data_loss(second.get(&keys[1]).await, "get on the second after it");
    assert_eq!(marker(&server), flowstore_redis::LOST, "written back");
    assert_data_loss(between.get(&keys[2]).await, "get on a store opened between");

    // Only an acknowledgement ends it, everywhere.
    between.acknowledge_data_loss().await.unwrap();
    for store in [&first, &second, &between] {
        assert_eq!(
            read_once_acknowledged(store, &keys[0], Duration::from_secs(5)).await,
            None
        );
    }
}

/// Review of the detection: a store that opened after a wipe that nobody had
/// noticed yet never learnt of the loss. A fresh, empty server is healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn a_store_opened_after_an_unnoticed_wipe_learns_of_it() {
    let fresh = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let store = open(&fresh, "fresh").await;
    assert!(store.detects_data_loss());
    assert_eq!(store.get(&key("absent")).await.unwrap(), None);
    assert!(!store.ping().await.unwrap().is_degraded());
    drop(store);

    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let first = open(&server, "late").await;
    let keys = write_keys(&first).await;
    server.cmd(&["FLUSHALL"]).unwrap();
    // An empty server looks like a fresh one to a store that never saw its
    // markers (docs/backends/redis.md says so): "absent" until someone that
    // saw them checks them.
    let late = open(&server, "late").await;
    assert!(late.detects_data_loss());
    assert_eq!(late.get(&keys[0]).await.unwrap(), None);
    assert_data_loss(first.get(&keys[0]).await, "get on the store that saw them");
    // The late store learns it at its next miss, without waiting.
    assert_data_loss(late.get(&keys[1]).await, "get on the late store");
    assert!(late.ping().await.unwrap().is_degraded());
}

/// Review of the detection: a detection racing an acknowledgement could
/// bring the loss back after the acknowledgement. Every round wipes the
/// server, then acknowledges while the other stores detect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn an_acknowledgement_racing_detections_has_the_last_word() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(open(&server, "race").await);
    }
    let keys = write_keys(&stores[0]).await;
    for round in 0..20 {
        server.cmd(&["FLUSHALL"]).unwrap();
        let acknowledger = stores[5].clone();
        let acknowledgement =
            tokio::spawn(async move { acknowledger.acknowledge_data_loss().await });
        // DataLoss or absent, depending on the order: both are right here.
        let detections: Vec<_> = stores[..5]
            .iter()
            .map(|store| {
                let (store, key) = (store.clone(), keys[0].clone());
                tokio::spawn(async move { store.get(&key).await })
            })
            .collect();
        for detection in detections {
            let _ = detection.await.unwrap();
        }
        acknowledgement.await.unwrap().unwrap();
        assert_eq!(marker(&server), acknowledged(&server), "round {round}");
        for store in &stores {
            assert_eq!(
                read_once_acknowledged(store, &keys[0], Duration::from_secs(5)).await,
                None,
                "round {round}"
            );
        }
    }
}

/// Review of the detection: concurrent acknowledgements could leave the
/// marker and the acknowledged token different, so that every store took
/// the marker for a new loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn concurrent_acknowledgements_agree_on_one_token() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(open(&server, "acks").await);
    }
    let keys = write_keys(&stores[0]).await;
    for round in 0..20 {
        server.cmd(&["FLUSHALL"]).unwrap();
        assert_data_loss(stores[0].get(&keys[0]).await, "get after the wipe");
        let acknowledgements: Vec<_> = stores
            .iter()
            .map(|store| {
                let store = store.clone();
                tokio::spawn(async move { store.acknowledge_data_loss().await })
            })
            .collect();
        for acknowledgement in acknowledgements {
            acknowledgement.await.unwrap().unwrap();
        }
        assert_eq!(marker(&server), acknowledged(&server), "round {round}");
        for store in &stores {
            assert_eq!(
                read_once_acknowledged(store, &keys[0], Duration::from_secs(5)).await,
                None,
                "round {round}"
            );
        }
    }
}

/// `data_loss_detection=off`: no marker, reads never refused, and an
/// acknowledgement through such a store still ends the loss the others saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn with_detection_off_an_acknowledgement_still_ends_the_fleets_loss() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let url = format!("{}?data_loss_detection=off", server.url());
    let off = RedisStore::from_url(&url)
        .unwrap()
        .namespace(Namespace::new("off").unwrap())
        .command_timeout(COMMAND_TIMEOUT)
        .open()
        .await
        .unwrap();
    assert!(!off.detects_data_loss());
    assert_eq!(marker(&server), "", "no marker is written");
    // Nothing to acknowledge: nothing is written either.
    off.acknowledge_data_loss().await.unwrap();
    assert_eq!(
        (marker(&server), acknowledged(&server)),
        (String::new(), String::new())
    );

    let on = open(&server, "off").await;
    let keys = write_keys(&on).await;
    server.cmd(&["FLUSHALL"]).unwrap();
    assert_eq!(off.get(&keys[0]).await.unwrap(), None);
    assert_data_loss(on.get(&keys[0]).await, "get with detection on");
    off.acknowledge_data_loss().await.unwrap();
    assert_eq!(
        read_once_acknowledged(&on, &keys[0], Duration::from_secs(5)).await,
        None
    );

    let err =
        RedisStore::from_url(&format!("{}?data_loss_detection=no", server.url())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

/// An ACL user `name` with password `pw` admitted to `keys` (patterns).
fn acl_user(server: &RedisServer, name: &str, keys: &[&str]) -> String {
    let mut command = vec!["ACL", "SETUSER", name, "reset", "on", ">pw", "+@all"];
    command.extend_from_slice(keys);
    server.cmd(&command).expect("ACL SETUSER");
    format!("redis://{name}:pw@127.0.0.1:{}", server.port())
}

async fn open_url(url: &str, namespace: &str) -> RedisStore {
    RedisStore::from_url(url)
        .unwrap()
        .namespace(Namespace::new(namespace).unwrap())
        .command_timeout(COMMAND_TIMEOUT)
        .open()
        .await
        .unwrap()
}

/// An ACL that admits the markers but not the acknowledged token: the store
/// opens and works, with the detection off (it could not tell an
/// acknowledgement from a loss). Admitted to every `flowstore-*` key, on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn an_acl_without_the_acknowledged_token_leaves_detection_off() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let url = acl_user(&server, "markers-only", &["~acl:*", "~flowstore-marker*"]);
    let store = open_url(&url, "acl").await;
    assert!(!store.detects_data_loss());
    store.set(&key("k"), b"v", None).await.unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.get(&key("absent")).await.unwrap(), None);
    assert!(!store.ping().await.unwrap().is_degraded());

    let url = acl_user(&server, "granted", &["~acl:*", "~flowstore-*"]);
    assert!(open_url(&url, "acl").await.detects_data_loss());
}

/// A probe whose `PING` answers but whose marker reads fail (here: the ACL
/// no longer admits them) is degraded, naming why, not down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn a_probe_whose_marker_reads_fail_is_degraded() {
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let url = acl_user(&server, "probe", &["~probe:*", "~flowstore-*"]);
    let store = open_url(&url, "probe").await;
    assert!(store.detects_data_loss());
    assert!(!store.ping().await.unwrap().is_degraded());
    server
        .cmd(&["ACL", "SETUSER", "probe", "resetkeys", "~probe:*"])
        .unwrap();
    let health = store.ping().await.unwrap();
    assert_eq!(
        health.down,
        [PartDown::new(Part::Primary, ErrorKind::Unauthorized)]
    );
    // The store still serves what the ACL admits; a miss it cannot confirm
    // is an error, never "absent".
    store.set(&key("k"), b"v", None).await.unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v".to_vec()));
    let err = store.get(&key("absent")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
}

/// Review of the detection: after resharding, a primary that no longer owns a
/// marker's slot was not checked at all on a miss. Such a miss now checks
/// every marker. (A wipe of that primary alone is still not seen until the
/// next acknowledgement gives it a marker: docs/backends/redis.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts a Redis Cluster"]
async fn after_resharding_a_miss_on_a_primary_without_a_marker_checks_them_all() {
    use flowstore_redis::fred::interfaces::ClusterInterface;

    let cluster = flowstore_test_servers::RedisCluster::start().expect("start the Redis Cluster");
    let store = RedisStore::from_url(&cluster.url())
        .unwrap()
        .namespace(Namespace::new("reshard").unwrap())
        .command_timeout(Duration::from_secs(2))
        .open()
        .await
        .unwrap();
    assert!(store.detects_data_loss());
    let (from, to) = (cluster.node(1), cluster.node(2));
    let marker = from.cmd(&["KEYS", "flowstore-marker*"]).unwrap();
    let flowstore_test_servers::Reply::Array(Some(names)) = marker else {
        panic!("no marker on primary 1: {marker:?}");
    };
    let marker = names[0].text();
    let slot = from.cmd(&["CLUSTER", "KEYSLOT", &marker]).unwrap().text();
    // Moves the marker's slot, with the marker, from primary 1 to primary 2.
    let id = |node: &RedisServer| node.cmd(&["CLUSTER", "MYID"]).unwrap().text();
    let (from_id, to_id) = (id(from), id(to));
    to.cmd(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id])
        .unwrap();
    from.cmd(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id])
        .unwrap();
    let port = to.port().to_string();
    from.cmd(&["MIGRATE", "127.0.0.1", &port, &marker, "0", "5000"])
        .unwrap();
    for primary in 0..flowstore_test_servers::RedisCluster::PRIMARIES {
        let node = cluster.node(primary);
        node.cmd(&["CLUSTER", "SETSLOT", &slot, "NODE", &to_id])
            .unwrap();
    }
    store.client().sync_cluster().await.unwrap();

    // A key of primary 1, which holds no marker now.
    let on_primary_1 = (0..1000)
        .map(|i| key(&format!("absent/{i}")))
        .find(|k| {
            let name = format!("reshard:{}", k.as_str());
            let key_slot = from.cmd(&["CLUSTER", "KEYSLOT", &name]).unwrap().text();
            let n = flowstore_test_servers::RedisCluster::PRIMARIES as u16;
            key_slot != slot && (16384 / n..2 * 16384 / n).contains(&key_slot.parse().unwrap())
        })
        .expect("a key on primary 1");
    assert_eq!(store.get(&on_primary_1).await.unwrap(), None);
    // Primary 2, with both markers, is wiped: the miss on primary 1 sees it.
    to.cmd(&["FLUSHALL"]).unwrap();
    assert_data_loss(store.get(&on_primary_1).await, "a miss on primary 1");
}
