//! Throwaway PostgreSQL and Redis servers for tests and `cargo xtask`.
//!
//! Each server gets its own data directory and free ports on `127.0.0.1`, and is
//! stopped (and its directory removed) when its handle is dropped — also when the
//! test panics. If the process that started a server dies without unwinding (SIGKILL,
//! Ctrl-C), a small guardian shell process notices the broken pipe and kills the
//! server's process group, so no server outlives its owner.
//!
//! This module uses only `std` and the servers' own binaries:
//!
//! - Redis: `redis-server` on `PATH` (Debian package `redis-server`). Redis is
//!   spoken to directly over RESP ([`redis_command`]); `redis-cli` is not needed.
//! - PostgreSQL: `initdb`, `postgres`, `pg_ctl`, `pg_isready` and `createdb` from
//!   `$FLOWSTORE_PG_BIN`, else from `PATH`, else from the newest
//!   `/usr/lib/postgresql/<version>/bin` (Debian package `postgresql`). PostgreSQL
//!   refuses to run as root; when run as root, the server runs as the system user
//!   [`POSTGRES_OS_USER`] (created with `useradd` if missing) through `runuser`.
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
//! use flowstore_tests::servers::{redis_command, RedisOptions, RedisServer};
//!
//! let mut redis = RedisServer::start(RedisOptions::new())?;
//! redis_command(redis.port(), &["SET", "k", "v"])?;
//! redis.kill(); // SIGKILL, as a crash would
//! redis.restart()?; // same port, empty (nothing was persisted)
//! assert_eq!(redis_command(redis.port(), &["GET", "k"])?, flowstore_tests::servers::Reply::Bulk(None));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::HashSet;
use std::env;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

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
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times a start is retried with fresh ports when a port was taken.
const PORT_ATTEMPTS: usize = 4;

// ---------------------------------------------------------------------------
// Binaries and installation hints
// ---------------------------------------------------------------------------

/// The Debian packages providing the servers, as an install command.
pub const APT_INSTALL_COMMAND: &str = "apt-get install -y redis-server postgresql openssl";

/// The PostgreSQL programs [`Postgres`] uses.
const POSTGRES_PROGRAMS: [&str; 5] = ["initdb", "postgres", "pg_ctl", "pg_isready", "createdb"];

/// The `redis-server` binary on `PATH`, if any.
pub fn redis_server_binary() -> Option<PathBuf> {
    which("redis-server")
}

/// The directory holding PostgreSQL's server binaries (`initdb`, `postgres`,
/// `pg_ctl`, `pg_isready`, `createdb`), if any: `$FLOWSTORE_PG_BIN`, else the directory of `initdb` on
/// `PATH`, else the newest `/usr/lib/postgresql/<version>/bin`.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| POSTGRES_PROGRAMS.iter().all(|b| dir.join(b).is_file());
    if let Some(dir) = env::var_os("FLOWSTORE_PG_BIN") {
        let dir = PathBuf::from(dir);
        return complete(&dir).then_some(dir);
    }
    // `initdb` may be a symlink into the real bin dir (which has the other programs).
    let on_path = which("initdb").and_then(|p| p.canonicalize().ok());
    if let Some(dir) = on_path.and_then(|p| p.parent().map(Path::to_path_buf))
        && complete(&dir)
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(name)).find(|p| {
        p.is_file()
            && p.metadata()
                .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    })
}

fn missing(what: &str, package: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{what} not found; install it with `apt-get install -y {package}` (as root)"),
    )
}

// ---------------------------------------------------------------------------
// Directories, ports, small helpers
// ---------------------------------------------------------------------------

/// The directory under which servers get their data directories (see the module docs).
pub fn servers_dir() -> PathBuf {
    if let Some(dir) = env::var_os("FLOWSTORE_SERVERS_DIR") {
        return PathBuf::from(dir);
    }
    let target = env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    });
    match target {
        Some(target) => target.join("xtask").join("servers"),
        None => env::temp_dir().join("flowstore-servers"),
    }
}

/// Creates a fresh, empty directory `<parent>/<kind>-<pid>-<n>` and removes
/// directories left behind by processes that no longer exist.
fn fresh_dir(parent: &Path, kind: &str) -> io::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    fs::create_dir_all(parent)
        .map_err(|e| context(e, format!("cannot create {}", parent.display())))?;
    remove_stale_dirs(parent);
    let pid = std::process::id();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("{kind}-{pid}-{n}"));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // A leftover of an earlier process with the same pid: reuse the name
                // after clearing it.
                let _ = fs::remove_dir_all(&dir);
            }
            Err(e) => return Err(context(e, format!("cannot create {}", dir.display()))),
        }
    }
}

fn remove_stale_dirs(parent: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let mut parts = name.rsplitn(3, '-');
        let (Some(_n), Some(pid), Some(_kind)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn keep_dirs() -> bool {
    env::var_os("FLOWSTORE_KEEP_SERVER_DIRS").is_some_and(|v| !v.is_empty() && v != "0")
}

fn remove_dir(dir: &Path) {
    if !keep_dirs() {
        let _ = fs::remove_dir_all(dir);
    }
}

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

fn context(e: io::Error, msg: impl Into<String>) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", msg.into()))
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or_else(|_| {
                Command::new("id")
                    .arg("-u")
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            })
    })
}

/// The last few lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    const MAX: u64 = 2000;
    let Ok(mut file) = fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    format!("last lines of {}:\n{}", path.display(), text.trim_end())
}

/// Runs a command to completion; a non-zero exit is an error carrying its output.
fn run(cmd: &mut Command) -> io::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| context(e, format!("cannot run {cmd:?}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// Sends `signal` (a name such as `KILL`) to every process in a process group.
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// An error that makes [`wait_until`] stop waiting at once (marked by its kind).
pub fn give_up(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, msg.into())
}

/// Polls `ready` every 50 ms until it returns `Ok(true)`; gives up with an error
/// when `timeout` passes (naming `what` and the last error `ready` returned) or at
/// once when `ready` returns an error made by [`give_up`].
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> io::Result<bool>,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::Unsupported => return Err(e),
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            let mut msg = format!("timed out after {timeout:?} waiting for {what}");
            if let Some(e) = last_error {
                let _ = write!(msg, " (last error: {e})");
            }
            return Err(io::Error::new(io::ErrorKind::TimedOut, msg));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// Process handling
// ---------------------------------------------------------------------------

/// A server process, leader of its own process group, watched by a guardian.
#[derive(Debug)]
struct Proc {
    child: Child,
    guardian: Option<Guardian>,
    /// The leader has been waited for: its pid may be reused, never signal it again.
    reaped: bool,
}

/// A `sh` process that kills a process group (and removes a directory) when the
/// pipe from its owner closes without the word `done`: i.e. when the owner died
/// without dropping its servers. It ignores terminal signals, so Ctrl-C on the
/// owner does not take it down before it has done its work.
#[derive(Debug)]
struct Guardian {
    child: Child,
    stdin: Option<ChildStdin>,
}

const GUARDIAN_SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
read -r line
if [ "$line" != done ]; then
  kill -s "$2" -- "-$1" 2>/dev/null
  sleep 1
  kill -s KILL -- "-$1" 2>/dev/null
  rm -rf -- "$3"
fi"#;

impl Guardian {
    fn spawn(pgid: u32, first_signal: &str, dir: &Path) -> io::Result<Guardian> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(GUARDIAN_SCRIPT)
            .arg("flowstore-guardian")
            .arg(pgid.to_string())
            .arg(first_signal)
            .arg(if keep_dirs() {
                OsStr::new("")
            } else {
                dir.as_os_str()
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| context(e, "cannot start the guardian shell (sh)"))?;
        let stdin = child.stdin.take();
        Ok(Guardian { child, stdin })
    }

    fn dismiss(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
        let _ = self.child.wait();
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        self.dismiss();
    }
}

impl Proc {
    /// Spawns `cmd` as the leader of a new process group, output to `log`.
    fn spawn(mut cmd: Command, log: &Path, first_signal: &str, dir: &Path) -> io::Result<Proc> {
        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| context(e, format!("cannot open {}", log.display())))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .map_err(|e| context(e, format!("cannot start {cmd:?}")))?;
        let mut proc = Proc {
            child,
            guardian: None,
            reaped: false,
        };
        proc.guardian = Some(Guardian::spawn(proc.child.id(), first_signal, dir)?);
        Ok(proc)
    }

    fn pgid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> bool {
        if !self.reaped {
            self.reaped = !matches!(self.child.try_wait(), Ok(None));
        }
        self.reaped
    }

    /// Waits up to `timeout` for the process to exit by itself.
    fn wait_exit(&mut self, timeout: Duration) -> bool {
        wait_until("exit", timeout, || Ok(self.exited())).is_ok()
    }

    /// SIGKILLs the whole process group and reaps the leader.
    fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        if !self.reaped {
            // While the leader is unreaped its pid (the group id) cannot be reused.
            signal_group(self.pgid(), "KILL");
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
        if let Some(mut g) = self.guardian.take() {
            g.dismiss();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_now();
    }
}

// ---------------------------------------------------------------------------
// A minimal RESP client
// ---------------------------------------------------------------------------

/// A Redis reply (RESP2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR …`
    Error(String),
    /// `:1`
    Integer(i64),
    /// `$…`: a bulk string, `None` for nil.
    Bulk(Option<Vec<u8>>),
    /// `*…`: an array, `None` for a nil array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text: status, error or bulk string (lossy UTF-8), integer in
    /// decimal; empty for nil and arrays.
    pub fn text(&self) -> String {
        match self {
            Reply::Status(s) | Reply::Error(s) => s.clone(),
            Reply::Integer(i) => i.to_string(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Reply::Bulk(None) | Reply::Array(_) => String::new(),
        }
    }
}

/// Sends one command to the Redis (or Sentinel) at `127.0.0.1:port` on a new
/// connection and returns its reply; an error reply is an `Err`.
pub fn redis_command(port: u16, args: &[&str]) -> io::Result<Reply> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    match read_reply(&mut BufReader::new(stream))? {
        Reply::Error(e) => Err(io::Error::other(format!(
            "redis {:?}: {e}",
            args.first().unwrap_or(&"")
        ))),
        reply => Ok(reply),
    }
}

fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad RESP line {line:?}"),
        )
    };
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    let number = || rest.parse::<i64>().map_err(|_| bad());
    Ok(match kind {
        "+" => Reply::Status(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Integer(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Reply::Bulk(None),
            Ok(len) => {
                let mut buf = vec![0; len + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(len);
                Reply::Bulk(Some(buf))
            }
        },
        "*" => match usize::try_from(number()?) {
            Err(_) => Reply::Array(None),
            Ok(len) => Reply::Array(Some(
                (0..len).map(|_| read_reply(r)).collect::<io::Result<_>>()?,
            )),
        },
        _ => return Err(bad()),
    })
}

/// The value of `field` in the `field:value` lines of an `INFO` or `CLUSTER INFO`
/// reply's text, e.g. `info_field(&reply.text(), "role")`.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')
            .map(|v| v.trim().to_string())
    })
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/// A throwaway PostgreSQL server on 127.0.0.1 with trust auth and the database
/// [`POSTGRES_DATABASE`]. Dropping it stops it (`pg_ctl -m immediate`) and
/// removes its directory.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    os_user: Option<String>,
    dir: PathBuf,
    port: u16,
    proc: Option<Proc>,
    /// Whether the server was started with TLS (`ssl = on`), see [`Postgres::start_with_tls`].
    tls: bool,
}

impl Postgres {
    /// Creates a cluster with `initdb`, starts it on a free port and creates the
    /// database. As root, runs everything as [`POSTGRES_OS_USER`] (created if missing).
    pub fn start() -> io::Result<Postgres> {
        Postgres::launch(false)
    }

    /// Like [`start`](Self::start), with TLS on as well: a throwaway CA and a
    /// server certificate for `localhost` and `127.0.0.1` are made with the
    /// `openssl` command-line tool, the server runs with `ssl = on` and accepts
    /// both TLS and plain connections ([`url`](Self::url) is plain,
    /// [`tls_url`](Self::tls_url) verifies the certificate).
    pub fn start_with_tls() -> io::Result<Postgres> {
        Postgres::launch(true)
    }

    fn launch(tls: bool) -> io::Result<Postgres> {
        let bin = postgres_bin_dir().ok_or_else(|| missing("PostgreSQL (initdb)", "postgresql"))?;
        let os_user = if is_root() {
            ensure_os_user(POSTGRES_OS_USER)?;
            Some(POSTGRES_OS_USER.to_string())
        } else {
            None
        };
        let parent = match &os_user {
            Some(_) => {
                let dir = servers_dir();
                fs::create_dir_all(&dir)?;
                if others_can_enter(&dir) {
                    dir
                } else {
                    let tmp =
                        env::temp_dir().join(format!("flowstore-xtask-{}", std::process::id()));
                    fs::create_dir_all(&tmp)?;
                    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
                    tmp
                }
            }
            None => servers_dir(),
        };
        let dir = fresh_dir(&parent, "postgres")?;
        let mut pg = Postgres {
            bin,
            os_user,
            dir,
            port: 0,
            proc: None,
            tls,
        };
        if let Some(user) = &pg.os_user {
            let (uid, gid) = user_ids(user)?;
            std::os::unix::fs::chown(&pg.dir, Some(uid), Some(gid))
                .map_err(|e| context(e, format!("cannot chown {}", pg.dir.display())))?;
        }
        pg.initdb()?;
        if tls {
            pg.write_tls_files()?;
        }
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            pg.port = free_port()?;
            match pg.spawn() {
                Ok(()) => {
                    pg.create_database()?;
                    return Ok(pg);
                }
                Err(e) if fs::read_to_string(pg.log_path()).is_ok_and(|l| l.contains("in use")) => {
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no port")))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server's directory (`data/`, the log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> PathBuf {
        self.data()
    }

    /// The postmaster's pid, from `postmaster.pid` (while the server runs).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let pid_file = fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// A command running `program` from the PostgreSQL bin dir, as the OS user.
    fn pg_command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut cmd = match &self.os_user {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.current_dir(&self.dir);
        cmd
    }

    fn initdb(&self) -> io::Result<()> {
        run(self.pg_command("initdb").arg("-D").arg(self.data()).args([
            "-U",
            POSTGRES_ROLE,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]))?;
        let config = "\n# flowstore throwaway server\nlisten_addresses = '127.0.0.1'\n\
                      unix_socket_directories = ''\nmax_connections = 200\n";
        fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))?
            .write_all(config.as_bytes())
    }

    /// The CA certificate (PEM) that signed the server's certificate, when
    /// started with [`start_with_tls`](Self::start_with_tls).
    pub fn tls_ca_path(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join("tls").join("ca.pem"))
    }

    /// Makes the throwaway CA (`<dir>/tls/ca.pem`; its key is deleted once
    /// used) and the server's `server.crt` / `server.key` in the data directory
    /// (owned by the OS user, the key mode 0600, as PostgreSQL demands).
    fn write_tls_files(&self) -> io::Result<()> {
        let openssl = which("openssl").ok_or_else(|| missing("openssl", "openssl"))?;
        let tls = self.dir.join("tls");
        fs::create_dir_all(&tls)?;
        fs::set_permissions(&tls, fs::Permissions::from_mode(0o755))?;
        let ca = tls.join("ca.pem");
        let ca_key = tls.join("ca.key");
        let csr = tls.join("server.csr");
        let ext = tls.join("server.ext");
        let serial = tls.join("ca.srl");
        let crt = self.data().join("server.crt");
        let key = self.data().join("server.key");
        let p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        run(Command::new(&openssl)
            .args(["req", "-x509", "-nodes", "-days", "30"])
            .args(p256)
            .args(["-subj", "/CN=flowstore throwaway test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca))?;
        run(Command::new(&openssl)
            .args(["req", "-new", "-nodes"])
            .args(p256)
            .args(["-subj", "/CN=localhost"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr))?;
        fs::write(
            &ext,
            "subjectAltName = DNS:localhost, IP:127.0.0.1\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        )?;
        run(Command::new(&openssl)
            .args(["x509", "-req", "-days", "30"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-CAserial")
            .arg(&serial)
            .arg("-CAcreateserial")
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&crt))?;
        for used in [&ca_key, &csr, &ext, &serial] {
            fs::remove_file(used)?;
        }
        fs::set_permissions(&ca, fs::Permissions::from_mode(0o644))?;
        fs::set_permissions(&crt, fs::Permissions::from_mode(0o644))?;
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))?;
        if let Some(user) = &self.os_user {
            let (uid, gid) = user_ids(user)?;
            for file in [&crt, &key] {
                std::os::unix::fs::chown(file, Some(uid), Some(gid))
                    .map_err(|e| context(e, format!("cannot chown {}", file.display())))?;
            }
        }
        Ok(())
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut cmd = self.pg_command("postgres");
        cmd.arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()]);
        if self.tls {
            let data = self.data();
            cmd.args(["-c", "ssl=on", "-c"])
                .arg(format!(
                    "ssl_cert_file={}",
                    data.join("server.crt").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    data.join("server.key").display()
                ));
        }
        // SIGQUIT is PostgreSQL's immediate shutdown: it cleans up shared memory.
        self.proc = Some(Proc::spawn(cmd, &self.log_path(), "QUIT", &self.dir)?);
        let port = self.port.to_string();
        let isready = self.bin.join("pg_isready");
        let result = wait_until(&format!("postgres on port {port}"), START_TIMEOUT, || {
            if self.proc.as_mut().is_some_and(Proc::exited) {
                return Err(give_up("postgres exited"));
            }
            let status = Command::new(&isready)
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    POSTGRES_ROLE,
                    "-d",
                    "postgres",
                ])
                .args(["-t", "2"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match status {
                Ok(status) => Ok(status.success()),
                // Cannot run pg_isready at all: waiting will not help.
                Err(e) => Err(give_up(format!("{}: {e}", isready.display()))),
            }
        });
        result.map_err(|e| {
            self.kill();
            io::Error::other(format!(
                "postgres did not start: {e}\n{}",
                log_tail(&self.log_path())
            ))
        })
    }

    fn create_database(&self) -> io::Result<()> {
        run(Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                POSTGRES_ROLE,
            ])
            .arg(POSTGRES_DATABASE))
        .map(drop)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://flowstore@127.0.0.1:PORT/flowstore_test`
    pub fn url(&self) -> String {
        format!(
            "postgres://{POSTGRES_ROLE}@127.0.0.1:{}/{POSTGRES_DATABASE}",
            self.port
        )
    }

    /// With TLS ([`start_with_tls`](Self::start_with_tls)):
    /// `postgres://flowstore@localhost:PORT/flowstore_test?sslmode=verify-full&sslrootcert=<ca.pem>`;
    /// `None` for a server started without TLS.
    pub fn tls_url(&self) -> Option<String> {
        let ca = self.tls_ca_path()?;
        let mut ca_param = String::new();
        for byte in ca.as_os_str().as_encoded_bytes() {
            if byte.is_ascii_alphanumeric() || b"/-._~".contains(byte) {
                ca_param.push(char::from(*byte));
            } else {
                let _ = write!(ca_param, "%{byte:02X}");
            }
        }
        Some(format!(
            "postgres://{POSTGRES_ROLE}@localhost:{}/{POSTGRES_DATABASE}\
             ?sslmode=verify-full&sslrootcert={ca_param}",
            self.port
        ))
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| !p.exited())
    }

    fn pg_ctl_stop(&mut self, mode: &str) -> io::Result<()> {
        let Some(mut proc) = self.proc.take() else {
            return Ok(());
        };
        let result = run(self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "-t", "30", "stop"]));
        // `runuser` (the group leader) exits once postgres has.
        if !proc.wait_exit(Duration::from_secs(30)) {
            proc.kill();
        }
        result.map(drop)
    }

    /// Stops the server with `pg_ctl stop -m immediate` (like a crash: no
    /// checkpoint, recovery on the next start). No-op when not running.
    pub fn stop_immediate(&mut self) -> io::Result<()> {
        self.pg_ctl_stop("immediate")
    }

    /// Stops the server cleanly with `pg_ctl stop -m fast`. No-op when not running.
    pub fn stop(&mut self) -> io::Result<()> {
        self.pg_ctl_stop("fast")
    }

    /// Kills every process of the server with SIGKILL (the postmaster and its
    /// children, which PostgreSQL makes leaders of their own process groups), like
    /// a machine crash would. No-op when not running.
    pub fn kill(&mut self) {
        let Some(mut proc) = self.proc.take() else {
            return;
        };
        // postmaster.pid: line 1 the postmaster's pid, line 7 "<shm key> <shm id>".
        let pid_file = fs::read_to_string(self.data().join("postmaster.pid")).unwrap_or_default();
        let mut lines = pid_file.lines();
        let postmaster = lines.next().and_then(|l| l.trim().parse::<u32>().ok());
        let shm_id = lines
            .nth(5)
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_string);
        if let Some(postmaster) = postmaster {
            // The postmaster first, so that its parent (`runuser` or us) reaps it:
            // an orphaned zombie would still count as running for the next start.
            let mut pids = children_of(postmaster);
            pids.insert(0, postmaster);
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--"])
                .args(pids.iter().map(u32::to_string))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            proc.wait_exit(Duration::from_secs(10));
        }
        proc.kill();
        // The SysV segment a killed postmaster leaves behind (a restart would
        // remove it; a dropped server would leak it).
        if let Some(id) = shm_id.filter(|id| id.parse::<u64>().is_ok_and(|id| id > 0)) {
            let _ = Command::new("ipcrm")
                .args(["-m", &id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Starts the server again on the same port and data directory (after
    /// [`stop_immediate`](Self::stop_immediate), [`stop`](Self::stop) or
    /// [`kill`](Self::kill)) and waits until it accepts connections.
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.proc.is_some() {
            return Ok(());
        }
        self.spawn()
    }

    /// [`stop_immediate`](Self::stop_immediate), then [`start_again`](Self::start_again).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop_immediate()?;
        self.start_again()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
        self.kill();
        remove_dir(&self.dir);
        if let Some(parent) = self.dir.parent()
            && parent
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("flowstore-xtask-"))
        {
            // Only removed once empty, i.e. by the last server using it.
            let _ = fs::remove_dir(parent);
        }
    }
}

/// The pids of the processes whose parent is `pid` (from Linux's `/proc`; none elsewhere).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
            let after_comm = &stat[stat.rfind(')')? + 1..];
            let ppid: u32 = after_comm.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Whether every directory from `/` down to `dir` can be entered by any user.
fn others_can_enter(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    dir.ancestors().all(|d| {
        d.metadata()
            .is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
    })
}

fn user_ids(user: &str) -> io::Result<(u32, u32)> {
    let id = |flag: &str| -> io::Result<u32> {
        run(Command::new("id").args([flag, user]))?
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("bad output of `id {flag} {user}`")))
    };
    Ok((id("-u")?, id("-g")?))
}

/// Creates the system user `user` unless it exists.
fn ensure_os_user(user: &str) -> io::Result<()> {
    if user_ids(user).is_ok() {
        return Ok(());
    }
    let created = run(Command::new("useradd").args([
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        user,
    ]));
    // Another process may have created it at the same time.
    match (created, user_ids(user)) {
        (_, Ok(_)) => Ok(()),
        (Err(e), Err(_)) | (Ok(_), Err(e)) => Err(context(
            e,
            format!("PostgreSQL refuses to run as root and the user {user} could not be created"),
        )),
    }
}
