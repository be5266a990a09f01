//! A store whose every byte to its server goes through a
//! [`FaultProxy`]: Redis and PostgreSQL on throwaway servers of their own, and
//! `flowstore serve` (over a memory store) in-process. The fault tests cut,
//! blackhole and slow the proxy and watch what the store reports.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use flowstore_core::{Namespace, Store};
use flowstore_test_servers::{
    FaultProxy, POSTGRES_DATABASE, POSTGRES_ROLE, Postgres, RedisOptions, RedisServer,
};

use crate::serve::spawn_server;

/// The backends that talk to a server over TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remote {
    /// A single Redis server.
    Redis,
    /// PostgreSQL.
    Postgres,
    /// `flowstore serve` over a memory store, through `flowstore-http`'s client.
    Http,
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Remote::Redis => "redis",
            Remote::Postgres => "postgres",
            Remote::Http => "http",
        })
    }
}

/// The server a [`Proxied`] store talks to, kept alive as long as the store.
#[derive(Debug)]
enum Server {
    Redis(#[allow(dead_code, reason = "held for its Drop")] RedisServer),
    Postgres(#[allow(dead_code, reason = "held for its Drop")] Postgres),
    /// In-process: it lives as long as the test's runtime.
    InProcess,
}

/// A store behind a fault proxy, and the bound its own timeouts put on one
/// operation.
#[derive(Debug)]
pub struct Proxied {
    /// The store, talking to its server through [`Proxied::proxy`].
    pub store: Arc<dyn Store>,
    /// The proxy between the store and its server.
    pub proxy: FaultProxy,
    /// The longest one operation can take by the store's configuration when
    /// the server does not answer: the sum of every timeout it may wait out in
    /// turn (waiting for a pooled connection, opening one, the request).
    pub op_bound: Duration,
    _server: Server,
}

/// Starts `remote`'s server and opens a store on it through a fault proxy,
/// every timeout of the store set to `timeout`. `namespace` is the store's
/// (HTTP: the server's default namespace).
pub async fn start(remote: Remote, namespace: &Namespace, timeout: Duration) -> Proxied {
    match remote {
        Remote::Redis => {
            let redis = tokio::task::spawn_blocking(|| RedisServer::start(RedisOptions::new()))
                .await
                .unwrap()
                .expect("start redis-server");
            let proxy = FaultProxy::start(local(redis.port())).unwrap();
            let store = flowstore_redis::RedisStore::from_url(&format!("redis://{}", proxy.addr()))
                .unwrap()
                .namespace(namespace.clone())
                .command_timeout(timeout)
                .connect_timeout(timeout)
                .open()
                .await
                .expect("open the Redis store through the proxy");
            Proxied {
                store: Arc::new(store),
                proxy,
                // A reconnect's handshake, then the command.
                op_bound: timeout * 2,
                _server: Server::Redis(redis),
            }
        }
        Remote::Postgres => {
            let pg = tokio::task::spawn_blocking(Postgres::start)
                .await
                .unwrap()
                .expect("start a throwaway PostgreSQL");
            let proxy = FaultProxy::start(local(pg.port())).unwrap();
            let url = format!(
                "postgres://{POSTGRES_ROLE}@{}/{POSTGRES_DATABASE}",
                proxy.addr()
            );
            let store = flowstore_postgres::PostgresBuilder::from_url(&url)
                .unwrap()
                .namespace(namespace.clone())
                .pool_size(4)
                .wait_timeout(timeout)
                .create_timeout(timeout)
                .recycle_timeout(timeout)
                .operation_timeout(timeout)
                .open()
                .await
                .expect("open the PostgreSQL store through the proxy");
            Proxied {
                store: Arc::new(store),
                proxy,
                // Waiting for a pooled connection, opening or recycling one,
                // then the statement.
                op_bound: timeout * 4,
                _server: Server::Postgres(pg),
            }
        }
        Remote::Http => {
            // The server serves its store's namespace (the default one), which
            // the client takes.
            let addr = spawn_server(Arc::new(flowstore_memory::MemoryStore::new()), None).await;
            let proxy = FaultProxy::start(addr).unwrap();
            let store = flowstore_http::HttpStore::builder(format!("http://{}", proxy.addr()))
                .connect_timeout(timeout)
                .request_timeout(timeout)
                .open()
                .expect("open the HTTP client store");
            Proxied {
                store: Arc::new(store),
                proxy,
                // Connecting, then the request.
                op_bound: timeout * 2,
                _server: Server::InProcess,
            }
        }
    }
}

/// `127.0.0.1:<port>`.
pub fn local(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}
