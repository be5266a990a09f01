//! The servers the test suite runs against: taken from the environment, or
//! started here (throwaway, see `flowstore-test-servers` in `testing/servers`) and installed first
//! when their binaries are missing.

use std::env;
use std::thread;
use std::time::{Duration, Instant};

use flowstore_test_servers::{
    self as servers, POSTGRES_TLS_URL_VAR, POSTGRES_URL_VAR, Postgres, REDIS_CLUSTER_URL_VAR,
    REDIS_SENTINEL_URL_VAR, REDIS_URL_VAR, RedisCluster, RedisOptions, RedisSentinel, RedisServer,
};

use crate::util::{self, format_duration};

/// One kind of server the tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Postgres,
    Redis,
    RedisCluster,
    RedisSentinel,
}

impl Kind {
    pub(crate) const ALL: [Kind; 4] = [
        Kind::Postgres,
        Kind::Redis,
        Kind::RedisCluster,
        Kind::RedisSentinel,
    ];

    pub(crate) fn var(self) -> &'static str {
        match self {
            Kind::Postgres => POSTGRES_URL_VAR,
            Kind::Redis => REDIS_URL_VAR,
            Kind::RedisCluster => REDIS_CLUSTER_URL_VAR,
            Kind::RedisSentinel => REDIS_SENTINEL_URL_VAR,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "PostgreSQL",
            Kind::Redis => "Redis",
            Kind::RedisCluster => "Redis Cluster",
            Kind::RedisSentinel => "Redis Sentinel",
        }
    }

    /// The URL given in the environment, if any.
    fn url_in_env(self) -> Option<String> {
        env::var(self.var()).ok().filter(|v| !v.trim().is_empty())
    }
}

/// Servers started for this run; dropping it stops them.
#[derive(Debug, Default)]
pub(crate) struct TestServers {
    postgres: Option<Postgres>,
    redis: Option<RedisServer>,
    cluster: Option<RedisCluster>,
    sentinel: Option<RedisSentinel>,
    /// `(variable, url)` for every kind, from the environment or started here;
    /// with PostgreSQL, also [`POSTGRES_TLS_URL_VAR`] when known.
    pub(crate) env: Vec<(&'static str, String)>,
}

/// Gives the URL for each of `kinds`: from the environment when set, else by
/// starting a throwaway server (installing the binaries first when missing).
pub(crate) fn start(kinds: &[Kind]) -> Result<TestServers, String> {
    let mut servers = TestServers::default();
    let mut to_start = Vec::new();
    let tls_url_in_env = env::var(POSTGRES_TLS_URL_VAR)
        .ok()
        .filter(|v| !v.trim().is_empty());
    if let Some(url) = tls_url_in_env
        .clone()
        .filter(|_| kinds.contains(&Kind::Postgres))
    {
        eprintln!("PostgreSQL (TLS): using ${POSTGRES_TLS_URL_VAR} from the environment");
        servers.env.push((POSTGRES_TLS_URL_VAR, url));
    }
    for &kind in kinds {
        match kind.url_in_env() {
            Some(url) => {
                eprintln!(
                    "{}: using ${} from the environment",
                    kind.name(),
                    kind.var()
                );
                if kind == Kind::Postgres && tls_url_in_env.is_none() {
                    // Not a skip: the TLS test fails, naming the variable.
                    eprintln!(
                        "PostgreSQL: ${POSTGRES_TLS_URL_VAR} is not set, so the TLS test \
                         (tls_connections_are_encrypted) will fail; set it to a URL with \
                         sslmode=verify-full&sslrootcert=<CA file> of a TLS server, or unset \
                         ${POSTGRES_URL_VAR} to let xtask start a TLS-capable server"
                    );
                }
                servers.env.push((kind.var(), url));
            }
            None => to_start.push(kind),
        }
    }
    if to_start.is_empty() {
        return Ok(servers);
    }
    let need_redis = to_start.iter().any(|k| *k != Kind::Postgres);
    let need_postgres = to_start.contains(&Kind::Postgres);
    ensure_installed(need_redis, need_postgres)?;

    // Start them side by side: the cluster and initdb take a few seconds each.
    let results = thread::scope(|scope| {
        let handles: Vec<_> = to_start
            .iter()
            .map(|&kind| {
                scope.spawn(move || {
                    let start = Instant::now();
                    let result = match kind {
                        Kind::Postgres => Postgres::start_with_tls().map(Started::Postgres),
                        Kind::Redis => RedisServer::start(RedisOptions::new()).map(Started::Redis),
                        Kind::RedisCluster => RedisCluster::start().map(Started::Cluster),
                        Kind::RedisSentinel => {
                            RedisSentinel::start().map(|s| Started::Sentinel(Box::new(s)))
                        }
                    };
                    (kind, start.elapsed(), result)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("server start thread panicked"))
            .collect::<Vec<_>>()
    });
    let mut errors = Vec::new();
    for (kind, took, result) in results {
        match result {
            Ok(started) => {
                let url = started.url();
                eprintln!(
                    "{}: started at {url} ({})",
                    kind.name(),
                    format_duration(took)
                );
                servers.env.push((kind.var(), url));
                match started {
                    Started::Postgres(s) => {
                        if tls_url_in_env.is_none()
                            && let Some(tls_url) = s.tls_url()
                        {
                            servers.env.push((POSTGRES_TLS_URL_VAR, tls_url));
                        }
                        servers.postgres = Some(s);
                    }
                    Started::Redis(s) => servers.redis = Some(s),
                    Started::Cluster(s) => servers.cluster = Some(s),
                    Started::Sentinel(s) => servers.sentinel = Some(*s),
                }
            }
            Err(e) => errors.push(format!(
                "cannot start a throwaway {} server: {e}",
                kind.name()
            )),
        }
    }
    if errors.is_empty() {
        Ok(servers)
    } else {
        // `servers` drops here and stops whatever did start.
        Err(errors.join("\n"))
    }
}

enum Started {
    Postgres(Postgres),
    Redis(RedisServer),
    Cluster(RedisCluster),
    Sentinel(Box<RedisSentinel>),
}

impl Started {
    fn url(&self) -> String {
        match self {
            Started::Postgres(s) => s.url(),
            Started::Redis(s) => s.url(),
            Started::Cluster(s) => s.url(),
            Started::Sentinel(s) => s.url(),
        }
    }
}

/// Installs `redis-server` / `postgresql` (and `openssl`, which makes the
/// PostgreSQL server's TLS certificate) from Debian when their binaries are
/// missing and we can (root and apt-get); otherwise fails with the command to run.
pub(crate) fn ensure_installed(redis: bool, postgres: bool) -> Result<(), String> {
    let mut packages = Vec::new();
    if redis && servers::redis_server_binary().is_none() {
        packages.push("redis-server");
    }
    if postgres && servers::postgres_bin_dir().is_none() {
        packages.push("postgresql");
    }
    if postgres && util::which("openssl").is_none() {
        packages.push("openssl");
    }
    if packages.is_empty() {
        return Ok(());
    }
    util::apt_install(
        &packages,
        "the tests (or point the FLOWSTORE_TEST_*_URL variables at running servers)",
    )?;
    let still = (redis && servers::redis_server_binary().is_none())
        || (postgres && servers::postgres_bin_dir().is_none())
        || (postgres && util::which("openssl").is_none());
    if still {
        return Err(format!(
            "installed {} but still cannot find its binaries",
            packages.join(" ")
        ));
    }
    Ok(())
}

/// `cargo xtask servers`: start every kind, print export lines, wait for Ctrl-C.
pub(crate) fn serve(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "unexpected argument `{arg}` (usage: cargo xtask servers)"
        ));
    }
    let servers = start(&Kind::ALL)?;
    println!();
    for (var, url) in &servers.env {
        println!("export {var}='{url}'");
    }
    println!();
    eprintln!(
        "xtask servers: running; their files are under {}. Press Ctrl-C to stop them.",
        servers::servers_dir().display()
    );
    // Ctrl-C ends this process; each server's guardian then stops it and removes
    // its directory (see `flowstore-test-servers`).
    let _servers = servers;
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}
