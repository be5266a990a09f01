//! Behaviour against throwaway `redis-server` processes this test starts itself
//! (from `PATH`, each on its own free port and data directory): recovery after
//! a server restart, the eviction-policy check, and refused credentials.
//!
//! Ignored by a plain `cargo test`; `cargo xtask ci` runs them with
//! `--include-ignored`. Without `redis-server` on `PATH` they fail.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowstore_core::{
    ErrorKind, Key, Namespace, Operation, Prefix, SetItem, Store, StoreExt, Ttl, Version,
};
use flowstore_redis::fred::interfaces::ClientLike;
use flowstore_redis::fred::types::CustomCommand;
use flowstore_redis::{EvictionCheck, RedisStore};

/// A `redis-server` child process, SIGKILLed when dropped. `{port}` in an extra
/// argument stands for the server's port.
struct Server {
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
    child: Option<Child>,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut server = Server {
            port,
            dir,
            extra: extra.iter().map(|arg| arg.to_string()).collect(),
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", path_str(self.dir.path())])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(
                self.extra
                    .iter()
                    .map(|arg| arg.replace("{port}", &self.port.to_string())),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start redis-server: is it installed and on PATH?");
        self.child = Some(child);
        wait_for_port(self.port);
    }

    /// SIGKILL, like a crash: no shutdown save, connections reset.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill redis-server");
            child.wait().expect("reap redis-server");
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary path is UTF-8")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

/// Bounds an operation that must never hang; far above the store's own timeouts.
async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH"]
async fn store_fails_cleanly_while_the_server_is_down_and_recovers_by_itself() {
    let mut server = Server::start(&[]);
    let store = RedisStore::from_url(&server.url())
        .unwrap()
        .namespace(Namespace::new("restart").unwrap())
        .command_timeout(Duration::from_millis(500))
        .open()
        .await
        .unwrap();
    let k = key("user:1");
    store.set(&k, b"saved", None).await.unwrap();

    server.kill();
    for round in 0..5 {
        let result = bounded("get while down", store.get(&k)).await;
        let err = result.expect_err("get answered while the server was down");
        assert!(
            matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) && err.is_temporary(),
            "round {round}: expected a temporary Unavailable/Timeout, got {err:?}"
        );
        assert_eq!(err.operation(), Some(Operation::Get), "{err}");
        assert_eq!(err.backend_name(), Some("redis"), "{err}");
        assert!(!err.to_one_line().contains("user:1"), "{err}");
        let err = bounded("set while down", store.set(&k, b"x", None))
            .await
            .unwrap_err();
        assert!(err.is_temporary(), "{err:?}");
        assert_eq!(err.operation(), Some(Operation::Set), "{err}");
        assert_eq!(err.backend_name(), Some("redis"), "{err}");
        // The health probe sees the outage too, and says so in time.
        let err = bounded("ping while down", store.ping()).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
            "round {round}: {err:?}"
        );
    }

    // The same server comes back with its data (AOF, fsync always).
    server.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    let value = loop {
        match bounded("get after restart", store.get(&k)).await {
            Ok(value) => break value,
            Err(err) => {
                assert!(err.is_temporary(), "{err:?}");
                assert!(
                    Instant::now() < deadline,
                    "the store did not recover: {err:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(
        value.as_deref(),
        Some(&b"saved"[..]),
        "an existing key must not read as absent"
    );
    store.set(&k, b"after", None).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"after"[..]));
    assert!(!store.ping().await.unwrap().is_degraded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH"]
async fn open_fails_with_unavailable_when_nothing_listens() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let err = bounded("open", RedisStore::open(&url)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.is_temporary());
    // Opening is no operation; the backend is named as context.
    assert_eq!((err.backend_name(), err.operation()), (Some("redis"), None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH"]
async fn evicting_server_is_reported_or_refused() {
    let evicting = Server::start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let store = RedisStore::open(&evicting.url()).await.unwrap();
    let warning = store
        .eviction_warning()
        .expect("allkeys-lru must be reported");
    assert!(warning.contains("allkeys-lru"), "{warning}");

    let err = RedisStore::open(&format!("{}?eviction=refuse", evicting.url()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    let ignored = RedisStore::from_url(&evicting.url())
        .unwrap()
        .eviction_check(EvictionCheck::Ignore)
        .open()
        .await
        .unwrap();
    assert_eq!(ignored.eviction_warning(), None);

    let safe = Server::start(&["--maxmemory-policy", "noeviction"]);
    let store = RedisStore::open(&format!("{}?eviction=refuse", safe.url()))
        .await
        .unwrap();
    assert_eq!(store.eviction_warning(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH"]
async fn disabled_config_command_is_tolerated() {
    let server = Server::start(&["--rename-command", "CONFIG", ""]);
    let store = RedisStore::open(&format!("{}?eviction=refuse", server.url()))
        .await
        .unwrap();
    assert_eq!(store.eviction_warning(), None);
    store.set(&key("k"), b"v", None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH"]
async fn refused_credentials_are_unauthorized_and_never_printed() {
    let server = Server::start(&["--requirepass", "s3cret-pw"]);
    let port = server.port;

    let err = RedisStore::open(&server.url()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err:?}");
    let wrong = format!("redis://:hunter2-wrong@127.0.0.1:{port}");
    let err = RedisStore::open(&wrong).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err:?}");
    assert!(!format!("{err:?}{err}").contains("hunter2"), "{err:?}");

    let url = format!("redis://:s3cret-pw@127.0.0.1:{port}/2");
    let builder = RedisStore::from_url(&url).unwrap();
    assert!(!format!("{builder:?}").contains("s3cret"), "{builder:?}");
    let store = builder.open().await.unwrap();
    assert!(!format!("{store:?}").contains("s3cret"), "{store:?}");
    store.set(&key("k"), b"v", None).await.unwrap();
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

/// An ACL user that may not run the versioned operations' scripts, or a
/// command inside them, gets the permanent `Unauthorized`, never an absent
/// entry or a generic backend error, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH"]
async fn versioned_operations_refused_by_acl_are_unauthorized() {
    let server = Server::start(&[]);
    let port = server.port;
    let admin = RedisStore::open(&server.url()).await.unwrap();
    for rules in [
        "noscripts on >pw ~* +@all -evalsha -eval",
        "nowrites on >pw ~* +@all -set -del",
    ] {
        let mut args = vec!["SETUSER"];
        args.extend(rules.split(' '));
        let () = admin
            .client()
            .custom(CustomCommand::new_static("ACL", None, false), args)
            .await
            .unwrap();
    }
    let open = |user: &str| {
        let url = format!("redis://{user}:pw@127.0.0.1:{port}");
        async move { RedisStore::open(&url).await.unwrap() }
    };
    let k = key("acl");

    let noscripts = open("noscripts").await;
    noscripts.set(&k, b"v", None).await.unwrap();
    let unauthorized = |err: flowstore_core::Error, operation: Operation| {
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err:?}");
        assert!(!err.is_temporary(), "{err:?}");
        assert_eq!(err.operation(), Some(operation), "{err}");
    };
    unauthorized(
        noscripts.get_entry(&k).await.unwrap_err(),
        Operation::GetEntry,
    );
    unauthorized(
        noscripts.set_if_absent(&k, b"w", None).await.unwrap_err(),
        Operation::SetIf,
    );
    unauthorized(
        noscripts
            .delete_if_version(&k, &Version::generate())
            .await
            .unwrap_err(),
        Operation::DeleteIf,
    );

    // Allowed to run the scripts, not the SET or DEL inside them.
    let nowrites = open("nowrites").await;
    nowrites.delete(&k).await.unwrap_err();
    let version = nowrites.get_entry(&k).await.unwrap().unwrap().version;
    unauthorized(
        nowrites
            .set_if_version(&k, b"w", None, &version)
            .await
            .unwrap_err(),
        Operation::SetIf,
    );
    unauthorized(
        nowrites.delete_if_version(&k, &version).await.unwrap_err(),
        Operation::DeleteIf,
    );
    assert_eq!(nowrites.get(&k).await.unwrap().as_deref(), Some(&b"v"[..]));
}

/// The ACL rules of docs/backends/redis.md ("ACL permissions") are enough for
/// listing, batches and touch; a user without `MGET` gets `Unauthorized` from
/// a batch read, never absent values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH"]
async fn documented_acl_runs_listing_batches_and_touch() {
    let server = Server::start(&[]);
    let port = server.port;
    let admin = RedisStore::open(&server.url()).await.unwrap();
    let documented = "+get +set +del +unlink +scan +mget +evalsha +eval +pttl +time";
    for rules in [
        format!("minimal on >pw ~flow:* -@all {documented}"),
        "nomget on >pw ~* +@all -mget".to_string(),
    ] {
        let mut args = vec!["SETUSER"];
        args.extend(rules.split(' '));
        let () = admin
            .client()
            .custom(CustomCommand::new_static("ACL", None, false), args)
            .await
            .unwrap();
    }
    let open = |user: &str| {
        let url = format!("redis://{user}:pw@127.0.0.1:{port}");
        async move { RedisStore::open(&url).await.unwrap() }
    };
    let minimal = open("minimal").await;
    let (a, b) = (key("acl/a"), key("acl/b"));
    let ttl = Ttl::new(Duration::from_secs(60)).unwrap();
    minimal
        .set_many(&[
            SetItem::new(&a, b"1", None),
            SetItem::new(&b, b"2", Some(ttl)),
        ])
        .await
        .unwrap();
    assert_eq!(
        minimal.get_many(&[a.clone(), b.clone()]).await.unwrap(),
        vec![Some(b"1".to_vec()), Some(b"2".to_vec())]
    );
    let page = minimal
        .list(&Prefix::new("acl/").unwrap(), None, 10)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(minimal.touch(&a, Some(ttl)).await.unwrap());
    minimal.delete_many(std::slice::from_ref(&b)).await.unwrap();
    assert_eq!(minimal.delete_prefix(&Prefix::all()).await.unwrap(), 1);

    let nomget = open("nomget").await;
    nomget.set(&a, b"1", None).await.unwrap();
    let err = nomget.get_many(std::slice::from_ref(&a)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err:?}");
    assert_eq!(err.operation(), Some(Operation::GetMany), "{err}");
}

/// Writes a throwaway CA (`ca.crt`) and a server certificate for 127.0.0.1 and
/// localhost signed by it (`server.crt`, `server.key`) into `dir`.
#[cfg(feature = "tls")]
fn write_test_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "flowstore test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), server_cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (built with TLS) on PATH"]
async fn rediss_verifies_the_server_against_the_ca_file() {
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    write_test_certificates(dir);
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (cert, key_file, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
    let server = Server::start(&[
        "--port",
        "0",
        "--tls-port",
        "{port}",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key_file,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ]);

    let url = format!("rediss://127.0.0.1:{}?ca_file={ca}", server.port);
    let store = RedisStore::open(&url).await.unwrap();
    store.set(&key("tls"), b"secret", None).await.unwrap();
    assert_eq!(
        store.get(&key("tls")).await.unwrap().as_deref(),
        Some(&b"secret"[..])
    );

    // Plain TCP to a TLS port, or TLS without trusting the CA, does not connect.
    let plain = RedisStore::from_url(&format!("redis://127.0.0.1:{}", server.port))
        .unwrap()
        .command_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .open()
        .await;
    assert!(plain.is_err(), "plain TCP to a TLS port connected");
    let untrusted = RedisStore::from_url(&format!("rediss://127.0.0.1:{}", server.port))
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .open()
        .await;
    assert!(
        untrusted.is_err(),
        "a certificate from an unknown CA was accepted"
    );
}
