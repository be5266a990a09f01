//! Options of a store: the builder, its URL form, and the durability mode.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use flowstore_core::url::StoreUrl;
use flowstore_core::{DEFAULT_MAX_VALUE_SIZE, Error, Namespace, Result, parse_duration};

use crate::store::SqliteStore;

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous`).
///
/// The store always runs in WAL mode. What survives what:
///
/// | mode | process crash (kill -9, panic, OOM) | OS crash or power loss |
/// |---|---|---|
/// | `Full` (default) | every acknowledged write | every acknowledged write |
/// | `Normal` | every acknowledged write | the database stays consistent, but the last acknowledged writes may be lost |
/// | `Off` | every acknowledged write | recent writes may be lost and the file may be corrupted |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Synchronous {
    /// `synchronous=FULL`: the WAL is fsynced at every commit, so a `set` that
    /// returned survives power loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is fsynced only at checkpoints. Survives a
    /// process crash; an OS crash or power loss may lose the latest commits.
    Normal,
    /// `synchronous=OFF`: never fsyncs. Survives a process crash; an OS crash or
    /// power loss may corrupt the database.
    Off,
}

impl Synchronous {
    /// The value of `PRAGMA synchronous`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
            Synchronous::Off => "OFF",
        }
    }
}

impl fmt::Display for Synchronous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Synchronous::Full => "full",
            Synchronous::Normal => "normal",
            Synchronous::Off => "off",
        })
    }
}

impl FromStr for Synchronous {
    type Err = Error;

    /// `full`, `normal` or `off` (any case); anything else is a `Config` error.
    fn from_str(text: &str) -> Result<Synchronous> {
        match text.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            "off" => Ok(Synchronous::Off),
            _ => Err(Error::config(format!(
                "invalid synchronous mode {text:?}: expected full, normal or off"
            ))),
        }
    }
}

/// How long a connection waits for a lock held by another connection (or process)
/// before giving up with a `Timeout` error, unless configured otherwise.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the writer looks for expired entries to delete, unless configured
/// otherwise.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The size the write-ahead log (the `-wal` file beside the database) is cut
/// back to, unless configured otherwise: 64 MiB. See
/// [`SqliteBuilder::wal_size_limit`].
pub const DEFAULT_WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// Options for opening a [`SqliteStore`]. Start with [`SqliteStore::builder`] or
/// [`SqliteBuilder::from_url`].
#[derive(Clone, Debug)]
pub struct SqliteBuilder {
    pub(crate) path: PathBuf,
    pub(crate) namespace: Namespace,
    pub(crate) synchronous: Synchronous,
    pub(crate) busy_timeout: Duration,
    pub(crate) max_value_size: usize,
    pub(crate) readers: usize,
    pub(crate) sweep_interval: Duration,
    pub(crate) wal_size_limit: u64,
}

impl SqliteBuilder {
    pub(crate) fn new(path: PathBuf) -> SqliteBuilder {
        SqliteBuilder {
            path,
            namespace: Namespace::default(),
            synchronous: Synchronous::default(),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            readers: default_readers(),
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            wal_size_limit: DEFAULT_WAL_SIZE_LIMIT,
        }
    }

    /// Options from a URL: `sqlite://relative/path.db` (relative to the working
    /// directory) or `sqlite:///absolute/path.db`. Everything after `sqlite://` up
    /// to an optional `?` is the file path, taken literally. Parameters:
    /// `namespace`, `synchronous` (`full`, `normal`, `off`), `busy_timeout` (a
    /// duration such as `500ms` or `5s`), `max_value_size` (bytes),
    /// `read_connections` (1 to 64), `sweep_interval` (a duration) and
    /// `wal_size_limit` (bytes). Anything else is a `Config` error.
    ///
    /// ```
    /// use flowstore_sqlite::{SqliteBuilder, Synchronous};
    ///
    /// let builder = SqliteBuilder::from_url("sqlite://data/state.db?synchronous=normal").unwrap();
    /// assert_eq!(builder.path(), std::path::Path::new("data/state.db"));
    /// assert_eq!(builder.get_synchronous(), Synchronous::Normal);
    /// assert!(SqliteBuilder::from_url("sqlite://x.db?colour=blue").is_err());
    /// ```
    pub fn from_url(url: &str) -> Result<SqliteBuilder> {
        let mut parsed = StoreUrl::parse(url)?;
        if parsed.scheme().as_deref() != Some("sqlite") {
            return Err(Error::config(
                "an SQLite store URL starts with sqlite:// (sqlite://relative/path.db or sqlite:///absolute/path.db)",
            ));
        }
        let path = parsed.rest();
        if path.is_empty() {
            return Err(Error::config(
                "the SQLite store URL names no file (sqlite://relative/path.db or sqlite:///absolute/path.db)",
            ));
        }
        let mut builder = SqliteBuilder::new(PathBuf::from(path));
        if let Some(namespace) = parsed.take("namespace")? {
            builder.namespace = Namespace::new(namespace)?;
        }
        if let Some(synchronous) = parsed.take("synchronous")? {
            builder.synchronous = synchronous.parse()?;
        }
        if let Some(timeout) = parsed.take("busy_timeout")? {
            builder.busy_timeout = parse_duration(&timeout).map_err(|_| {
                Error::config(format!(
                    "URL parameter `busy_timeout` has an invalid value {timeout:?}: expected a duration such as 500ms or 5s"
                ))
            })?;
        }
        if let Some(max) =
            parsed.take_parsed("max_value_size", |text| text.parse::<usize>().ok())?
        {
            builder.max_value_size = max;
        }
        if let Some(readers) = parsed.take_parsed("read_connections", |text| {
            text.parse::<usize>()
                .ok()
                .filter(|&n| (1..=64).contains(&n))
        })? {
            builder = builder.read_connections(readers);
        }
        if let Some(interval) = parsed.take_parsed("sweep_interval", |text| {
            parse_duration(text).ok().filter(|d| !d.is_zero())
        })? {
            builder = builder.sweep_interval(interval);
        }
        if let Some(limit) =
            parsed.take_parsed("wal_size_limit", |text| text.parse::<u64>().ok())?
        {
            builder = builder.wal_size_limit(limit);
        }
        parsed.expect_no_more()?;
        Ok(builder)
    }

    /// The namespace of the store (default `flow`). Overrides a `namespace`
    /// parameter of the URL.
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = namespace;
        self
    }

    /// The durability mode (default [`Synchronous::Full`]).
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// How long to wait for a lock held by another connection or process before
    /// failing with `Timeout` (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The largest value `set` accepts, in bytes (default 16 MiB).
    pub fn max_value_size(mut self, max: usize) -> Self {
        self.max_value_size = max;
        self
    }

    /// How many read connections (each on its own thread) serve `get` (default:
    /// the number of CPUs, at most 4; at least 1).
    pub fn read_connections(mut self, readers: usize) -> Self {
        self.readers = readers.max(1);
        self
    }

    /// How often the writer thread deletes expired entries (default 1 s).
    /// Expired entries read as absent at once; the sweep only reclaims space.
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The size, in bytes, the write-ahead log is brought back under (default
    /// [`DEFAULT_WAL_SIZE_LIMIT`]). A transaction writes all it changes to the
    /// log, so a `clear` of many keys grows it far beyond this for a moment;
    /// the store then checkpoints and truncates it before `clear` returns (if
    /// another process is still reading an old snapshot, the log is cut back to
    /// this size at its next reuse: SQLite's `journal_size_limit`). When the
    /// last handle of the store is dropped, the log is checkpointed and removed
    /// (unless another process still has the file open).
    pub fn wal_size_limit(mut self, bytes: u64) -> Self {
        self.wal_size_limit = bytes;
        self
    }

    /// The configured write-ahead log size limit.
    pub fn get_wal_size_limit(&self) -> u64 {
        self.wal_size_limit
    }

    /// The database file, as given (a relative path is resolved against the
    /// working directory when the store opens).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configured namespace.
    pub fn get_namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The configured durability mode.
    pub fn get_synchronous(&self) -> Synchronous {
        self.synchronous
    }

    /// The configured busy timeout.
    pub fn get_busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// Opens (creating if needed) the database file and starts the store's
    /// writer and reader threads.
    pub async fn open(self) -> Result<SqliteStore> {
        SqliteStore::open_with(self).await
    }
}

fn default_readers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}
