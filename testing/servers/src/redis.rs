//! Redis: a single server, a Cluster, and a Sentinel setup.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::binaries::{missing, redis_server_binary};
use crate::dirs::{fresh_dir, log_tail, remove_dir, servers_dir};
use crate::resp::{Reply, info_field, redis_command};
use crate::supervise::Proc;
use crate::wait::{give_up, wait_until};
use crate::{PORT_ATTEMPTS, SENTINEL_SERVICE, START_TIMEOUT, free_port};

/// Options for a single [`RedisServer`].
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    replica_of: Option<u16>,
    cluster: bool,
    args: Vec<String>,
}

impl RedisOptions {
    /// A standalone primary with nothing persisted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Make the server a replica of the Redis at `127.0.0.1:port`.
    pub fn replica_of(mut self, port: u16) -> Self {
        self.replica_of = Some(port);
        self
    }

    /// Start the server with `cluster-enabled yes` (`cluster-node-timeout 2000`, a
    /// cluster bus port of its own).
    pub fn cluster(mut self) -> Self {
        self.cluster = true;
        self
    }

    /// An extra `redis-server` argument, e.g. `"--maxmemory-policy"`, `"allkeys-lru"`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }
}

#[derive(Debug, Clone)]
enum RedisRole {
    Server(RedisOptions),
    /// A sentinel; its config file (which Sentinel rewrites) is in the directory.
    Sentinel,
}

/// A throwaway `redis-server` (or sentinel) on 127.0.0.1. Dropping it kills it
/// and removes its directory.
#[derive(Debug)]
pub struct RedisServer {
    role: RedisRole,
    port: u16,
    bus_port: Option<u16>,
    dir: PathBuf,
    binary: PathBuf,
    proc: Option<Proc>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start(options: RedisOptions) -> io::Result<RedisServer> {
        Self::start_role(RedisRole::Server(options), "redis")
    }

    fn start_role(role: RedisRole, kind: &str) -> io::Result<RedisServer> {
        let binary =
            redis_server_binary().ok_or_else(|| missing("redis-server", "redis-server"))?;
        let dir = fresh_dir(&servers_dir(), kind)?;
        let mut server = RedisServer {
            role,
            port: 0,
            bus_port: None,
            dir,
            binary,
            proc: None,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port()?;
            if matches!(&server.role, RedisRole::Server(o) if o.cluster) {
                server.bus_port = Some(free_port()?);
            }
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e)
                    if fs::read_to_string(server.log_path())
                        .is_ok_and(|l| l.contains("in use")) =>
                {
                    last_error = Some(e);
                    let _ = fs::remove_file(server.log_path());
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no port")))
    }

    fn write_sentinel_config(&self, primary_port: u16) -> io::Result<()> {
        let config = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir:?}\nlogfile {log:?}\n\
             sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {primary_port} 1\n\
             sentinel down-after-milliseconds {SENTINEL_SERVICE} 2000\n\
             sentinel failover-timeout {SENTINEL_SERVICE} 10000\n\
             sentinel parallel-syncs {SENTINEL_SERVICE} 1\n",
            port = self.port,
            // Quoted (Debug of a str), in case the path has spaces.
            dir = self.dir.display().to_string(),
            log = self.log_path().display().to_string(),
        );
        fs::write(self.dir.join("sentinel.conf"), config)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.current_dir(&self.dir);
        match &self.role {
            RedisRole::Sentinel => {
                cmd.arg(self.dir.join("sentinel.conf")).arg("--sentinel");
            }
            RedisRole::Server(options) => {
                let port = self.port.to_string();
                cmd.args(["--port", &port, "--bind", "127.0.0.1", "--daemonize", "no"])
                    .args(["--save", "", "--appendonly", "no"])
                    .arg("--dir")
                    .arg(&self.dir)
                    .arg("--logfile")
                    .arg(self.log_path());
                if let Some(primary) = options.replica_of {
                    cmd.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
                }
                if let (true, Some(bus)) = (options.cluster, self.bus_port) {
                    cmd.args([
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                    ])
                    .args([
                        "--cluster-node-timeout",
                        "2000",
                        "--cluster-port",
                        &bus.to_string(),
                    ]);
                }
                cmd.args(&options.args);
            }
        }
        cmd
    }

    fn spawn(&mut self) -> io::Result<()> {
        let proc = Proc::spawn(
            self.command(),
            &self.dir.join("stdout.log"),
            "KILL",
            &self.dir,
        )?;
        self.proc = Some(proc);
        let port = self.port;
        let result = wait_until(&format!("redis on port {port}"), START_TIMEOUT, || {
            if self.proc.as_mut().is_some_and(Proc::exited) {
                return Err(give_up("redis-server exited"));
            }
            Ok(redis_command(port, &["PING"]).is_ok_and(|r| r.text() == "PONG"))
        });
        result.map_err(|e| {
            if let Some(p) = self.proc.take() {
                p.kill();
            }
            io::Error::other(format!(
                "redis-server on port {port} did not start: {e}\n{}\n{}",
                log_tail(&self.log_path()),
                log_tail(&self.dir.join("stdout.log"))
            ))
        })
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's directory (config, `nodes.conf`, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// Whether the process is running (it was started and not killed, and has not exited).
    pub fn is_running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| !p.exited())
    }

    /// Sends one command to this server (see [`redis_command`]).
    pub fn cmd(&self, args: &[&str]) -> io::Result<Reply> {
        redis_command(self.port, args)
    }

    /// Kills the server with SIGKILL, as a crash would (no-op when not running).
    pub fn kill(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill();
        }
    }

    /// Starts the server again on the same port(s) and directory (killing it
    /// first if it runs) and waits until it answers `PING`. A cluster node comes
    /// back with its `nodes.conf`, a sentinel with its rewritten config.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        remove_dir(&self.dir);
    }
}

/// A throwaway Redis Cluster: three primaries and one replica of primary
/// [`RedisCluster::REPLICATED_PRIMARY`].
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Number of primaries.
    pub const PRIMARIES: usize = 3;
    /// Index (in [`RedisCluster::node`]) of the primary that has a replica.
    pub const REPLICATED_PRIMARY: usize = 0;
    /// Index of the replica node.
    pub const REPLICA: usize = 3;

    /// Starts the nodes, assigns the slots, joins them and attaches the replica;
    /// returns once every node reports `cluster_state:ok` and the replica is in sync.
    pub fn start() -> io::Result<RedisCluster> {
        let nodes = (0..=Self::PRIMARIES)
            .map(|_| {
                RedisServer::start_role(
                    RedisRole::Server(RedisOptions::new().cluster()),
                    "redis-cluster",
                )
            })
            .collect::<io::Result<Vec<_>>>()?;
        let cluster = RedisCluster { nodes };
        cluster.form().map_err(|e| {
            let logs: Vec<String> = cluster
                .nodes
                .iter()
                .map(|n| log_tail(&n.log_path()))
                .collect();
            io::Error::other(format!(
                "cannot form the Redis Cluster: {e}\n{}",
                logs.join("\n")
            ))
        })?;
        Ok(cluster)
    }

    fn form(&self) -> io::Result<()> {
        const SLOTS: u16 = 16384;
        let primaries = Self::PRIMARIES as u16;
        for (i, node) in self.nodes.iter().take(Self::PRIMARIES).enumerate() {
            let i = i as u16;
            let (first, last) = (i * SLOTS / primaries, (i + 1) * SLOTS / primaries);
            let slots: Vec<String> = (first..last).map(|s| s.to_string()).collect();
            let mut args = vec!["CLUSTER", "ADDSLOTS"];
            args.extend(slots.iter().map(String::as_str));
            node.cmd(&args)?;
            node.cmd(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()])?;
        }
        let first = &self.nodes[0];
        for node in &self.nodes[1..] {
            let bus = node.bus_port.unwrap_or(node.port + 10000).to_string();
            first.cmd(&["CLUSTER", "MEET", "127.0.0.1", &node.port.to_string(), &bus])?;
        }
        let all = self.nodes.len();
        wait_until(
            "all cluster nodes to know each other",
            START_TIMEOUT,
            || {
                for node in &self.nodes {
                    let nodes = node.cmd(&["CLUSTER", "NODES"])?.text();
                    let connected = nodes
                        .lines()
                        .filter(|l| {
                            !l.contains("handshake")
                                && !l.contains("noaddr")
                                && l.contains("connected")
                        })
                        .count();
                    if connected < all {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )?;
        let primary_id = self.nodes[Self::REPLICATED_PRIMARY]
            .cmd(&["CLUSTER", "MYID"])?
            .text();
        let replica = &self.nodes[Self::REPLICA];
        replica.cmd(&["CLUSTER", "REPLICATE", &primary_id])?;
        let replica_id = replica.cmd(&["CLUSTER", "MYID"])?.text();
        wait_until("the replica to be known and in sync", START_TIMEOUT, || {
            let info = replica.cmd(&["INFO", "replication"])?.text();
            if info_field(&info, "master_link_status").as_deref() != Some("up") {
                return Ok(false);
            }
            for node in &self.nodes {
                let nodes = node.cmd(&["CLUSTER", "NODES"])?.text();
                let known = nodes.lines().any(|l| {
                    l.starts_with(&replica_id) && l.contains("slave") && l.contains(&primary_id)
                });
                if !known {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        self.wait_ok(START_TIMEOUT)
    }

    /// Waits until every running node reports `cluster_state:ok` (e.g. after a
    /// failover or a restart).
    pub fn wait_ok(&self, timeout: Duration) -> io::Result<()> {
        wait_until("cluster_state:ok on every node", timeout, || {
            let mut any = false;
            for node in &self.nodes {
                let Ok(info) = node.cmd(&["CLUSTER", "INFO"]) else {
                    continue;
                };
                any = true;
                if info_field(&info.text(), "cluster_state").as_deref() != Some("ok") {
                    return Ok(false);
                }
            }
            Ok(any)
        })
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3` (the primaries).
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.nodes[..Self::PRIMARIES]
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis-cluster://{}", hosts.join(","))
    }

    /// The node at `index`: `0..PRIMARIES` are the initial primaries, [`Self::REPLICA`] the replica.
    pub fn node(&self, index: usize) -> &RedisServer {
        &self.nodes[index]
    }

    /// The node at `index`, to kill or restart it.
    pub fn node_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// All nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}

/// A throwaway Sentinel setup: one primary, one replica, one sentinel (quorum 1)
/// monitoring [`SENTINEL_SERVICE`].
#[derive(Debug)]
pub struct RedisSentinel {
    // Field order is drop order: the sentinel first, so it does not fail over
    // while the data nodes go away.
    sentinel: RedisServer,
    replica: RedisServer,
    primary: RedisServer,
}

impl RedisSentinel {
    /// Starts the primary, its replica and the sentinel; returns once the replica
    /// is in sync and the sentinel knows the primary and the replica.
    pub fn start() -> io::Result<RedisSentinel> {
        let primary = RedisServer::start(RedisOptions::new())?;
        let replica = RedisServer::start(RedisOptions::new().replica_of(primary.port))?;
        let sentinel = Self::start_sentinel(primary.port)?;
        let setup = RedisSentinel {
            sentinel,
            replica,
            primary,
        };
        setup.wait_ready().map_err(|e| {
            io::Error::other(format!(
                "Sentinel setup not ready: {e}\n{}\n{}",
                log_tail(&setup.sentinel.log_path()),
                log_tail(&setup.replica.log_path())
            ))
        })?;
        Ok(setup)
    }

    fn start_sentinel(primary_port: u16) -> io::Result<RedisServer> {
        let binary =
            redis_server_binary().ok_or_else(|| missing("redis-server", "redis-server"))?;
        let dir = fresh_dir(&servers_dir(), "redis-sentinel")?;
        let mut sentinel = RedisServer {
            role: RedisRole::Sentinel,
            port: 0,
            bus_port: None,
            dir,
            binary,
            proc: None,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            sentinel.port = free_port()?;
            sentinel.write_sentinel_config(primary_port)?;
            match sentinel.spawn() {
                Ok(()) => return Ok(sentinel),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no port")))
    }

    fn wait_ready(&self) -> io::Result<()> {
        wait_until(
            "the replica to sync and the sentinel to see it",
            START_TIMEOUT,
            || {
                let info = self.replica.cmd(&["INFO", "replication"])?.text();
                if info_field(&info, "master_link_status").as_deref() != Some("up") {
                    return Ok(false);
                }
                let Reply::Array(Some(addr)) = self.sentinel.cmd(&[
                    "SENTINEL",
                    "GET-MASTER-ADDR-BY-NAME",
                    SENTINEL_SERVICE,
                ])?
                else {
                    return Ok(false);
                };
                if addr.get(1).map(Reply::text) != Some(self.primary.port.to_string()) {
                    return Ok(false);
                }
                let replicas = self
                    .sentinel
                    .cmd(&["SENTINEL", "REPLICAS", SENTINEL_SERVICE])?;
                Ok(matches!(replicas, Reply::Array(Some(r)) if !r.is_empty()))
            },
        )
    }

    /// `redis-sentinel://127.0.0.1:SENTINEL_PORT/flowstore`
    pub fn url(&self) -> String {
        format!(
            "redis-sentinel://127.0.0.1:{}/{SENTINEL_SERVICE}",
            self.sentinel.port
        )
    }

    /// The initial primary.
    pub fn primary(&mut self) -> &mut RedisServer {
        &mut self.primary
    }

    /// The initial replica.
    pub fn replica(&mut self) -> &mut RedisServer {
        &mut self.replica
    }

    /// The sentinel.
    pub fn sentinel(&mut self) -> &mut RedisServer {
        &mut self.sentinel
    }
}
