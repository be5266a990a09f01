//! Throwaway PostgreSQL and Redis servers for tests and `cargo xtask`.
//!
//! Each server gets its own data directory and free ports on `127.0.0.1`, and is
//! stopped (and its directory removed) when its handle is dropped — also when the
//! test panics. If the process that started a server dies without unwinding (SIGKILL,
//! Ctrl-C), a small guardian shell process notices the broken pipe and kills the
//! server's process group, so no server outlives its owner.
//!
//! This crate uses only `std` and the servers' own binaries:
//!
//! - Redis: `redis-server` on `PATH` (Debian package `redis-server`). Redis is
//!   spoken to directly over RESP ([`redis_command`]); `redis-cli` is not needed.
//! - PostgreSQL: `initdb`, `postgres`, `pg_ctl`, `pg_isready` and `createdb` from
//!   `$FLOWSTORE_PG_BIN`, else from `PATH`, else from the newest
//!   `/usr/lib/postgresql/<version>/bin` (Debian package `postgresql`). PostgreSQL
//!   refuses to run as root; when run as root, the server runs as the system user
//!   [`POSTGRES_OS_USER`] (created with `useradd` if missing) through `runuser`.
//!
//! [`process`] (`which`, `is_root`, `run`, `output`) is how the launcher runs
//! those binaries; `xtask` uses it too, so the workspace has one copy.
//!
//! # URL forms
//!
//! These are the forms the `FLOWSTORE_TEST_*_URL` variables take (see
//! [`POSTGRES_URL_VAR`] and friends); the backends' test suites read them at run time.
//!
//! | server | variable | URL |
//! |---|---|---|
//! | PostgreSQL ([`Postgres`]) | `FLOWSTORE_TEST_POSTGRES_URL` | `postgres://flowstore@127.0.0.1:PORT/flowstore_test` (trust auth, superuser role `flowstore`) |
//! | single Redis ([`RedisServer`]) | `FLOWSTORE_TEST_REDIS_URL` | `redis://127.0.0.1:PORT` |
//! | Redis Cluster ([`RedisCluster`]) | `FLOWSTORE_TEST_REDIS_CLUSTER_URL` | `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3` (the three primaries) |
//! | Redis Sentinel ([`RedisSentinel`]) | `FLOWSTORE_TEST_REDIS_SENTINEL_URL` | `redis-sentinel://127.0.0.1:SENTINEL_PORT/flowstore` (the service name follows the slash) |
//!
//! # Topologies
//!
//! - [`RedisCluster`]: three primaries (slots split evenly) and one replica of
//!   primary 0 ([`RedisCluster::REPLICATED_PRIMARY`]), `cluster-node-timeout 2000`,
//!   so killing primary 0 promotes the replica within a few seconds.
//! - [`RedisSentinel`]: one primary, one replica and one sentinel (quorum 1,
//!   `down-after-milliseconds 2000`, `failover-timeout 10000`) monitoring the
//!   service [`SENTINEL_SERVICE`].
//!
//! No server persists anything beyond what its topology needs (`save ""`,
//! `appendonly no`; PostgreSQL keeps its default `fsync = on`).
//!
//! # Where the files go
//!
//! Under `$FLOWSTORE_SERVERS_DIR` if set, else `<cargo target dir>/xtask/servers/`
//! (found from the running executable), one directory per server named
//! `<kind>-<pid>-<n>`. PostgreSQL run as root needs a directory its user can
//! reach: when the target dir is not reachable by other users (a checkout under
//! `/root`), it uses `/tmp/flowstore-xtask-<pid>/` instead. Set
//! `FLOWSTORE_KEEP_SERVER_DIRS=1` to keep the directories (and their logs) after
//! the servers stop.
//!
//! # Example
//!
//! ```no_run
//! use flowstore_test_servers::{redis_command, RedisOptions, RedisServer};
//!
//! let mut redis = RedisServer::start(RedisOptions::new())?;
//! redis_command(redis.port(), &["SET", "k", "v"])?;
//! redis.kill(); // SIGKILL, as a crash would
//! redis.restart()?; // same port, empty (nothing was persisted)
//! assert_eq!(redis_command(redis.port(), &["GET", "k"])?, flowstore_test_servers::Reply::Bulk(None));
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::io;
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

mod binaries;
mod dirs;
mod postgres;
pub mod process;
mod proxy;
mod redis;
mod resp;
mod supervise;
mod wait;

pub use binaries::{APT_INSTALL_COMMAND, postgres_bin_dir, redis_server_binary};
pub use dirs::servers_dir;
pub use postgres::Postgres;
pub use proxy::{FaultProxy, ProxyMode};
pub use redis::{RedisCluster, RedisOptions, RedisSentinel, RedisServer};
pub use resp::{Reply, info_field, redis_command};
pub use wait::{give_up, wait_until};

/// Environment variable holding the PostgreSQL URL for server-backed tests.
pub const POSTGRES_URL_VAR: &str = "FLOWSTORE_TEST_POSTGRES_URL";
/// Environment variable holding a PostgreSQL URL that connects with TLS
/// (`sslmode=verify-full` and `sslrootcert`), see [`Postgres::tls_url`].
pub const POSTGRES_TLS_URL_VAR: &str = "FLOWSTORE_TEST_POSTGRES_TLS_URL";
/// Environment variable holding the single-node Redis URL for server-backed tests.
pub const REDIS_URL_VAR: &str = "FLOWSTORE_TEST_REDIS_URL";
/// Environment variable holding the Redis Cluster URL for server-backed tests.
pub const REDIS_CLUSTER_URL_VAR: &str = "FLOWSTORE_TEST_REDIS_CLUSTER_URL";
/// Environment variable holding the Redis Sentinel URL for server-backed tests.
pub const REDIS_SENTINEL_URL_VAR: &str = "FLOWSTORE_TEST_REDIS_SENTINEL_URL";

/// The Sentinel service (primary) name monitored by [`RedisSentinel`].
pub const SENTINEL_SERVICE: &str = "flowstore";
/// The system user PostgreSQL runs as when the tests run as root.
pub const POSTGRES_OS_USER: &str = "flowstore-ci";
/// The PostgreSQL superuser role of a [`Postgres`] server (trust auth, no password).
pub const POSTGRES_ROLE: &str = "flowstore";
/// The database created in a [`Postgres`] server.
pub const POSTGRES_DATABASE: &str = "flowstore_test";

/// How long a server may take to become ready before start fails.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times a start is retried with fresh ports when a port was taken.
pub(crate) const PORT_ATTEMPTS: usize = 4;

/// A free TCP port on 127.0.0.1 (not handed out before by this process).
pub fn free_port() -> io::Result<u16> {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(Default::default);
    for _ in 0..100 {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        if given.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return Ok(port);
        }
    }
    Err(io::Error::other("no free port found"))
}

/// `e` with `msg` in front, keeping its kind.
pub(crate) fn context(e: io::Error, msg: impl Into<String>) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", msg.into()))
}
