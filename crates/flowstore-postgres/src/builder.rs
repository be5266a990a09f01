//! [`PostgresBuilder`]: URL parsing, options, defaults, and a `Debug` that never
//! shows a password.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, QueueMode, RecyclingMethod, Runtime};
use flowstore_core::url::StoreUrl;
use flowstore_core::{DEFAULT_MAX_VALUE_SIZE, Error, Namespace, Result, parse_duration};
use tokio_postgres::config::{Host, SslMode};

use crate::store::PostgresStore;
use crate::table::TableName;

/// Default largest pool: connections opened on demand, at most this many.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Default time a caller waits for a free pooled connection before `Unavailable`.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time to open (connect + authenticate) a new connection.
pub const DEFAULT_CREATE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time to check a pooled connection before reuse.
pub const DEFAULT_RECYCLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time one statement may take once it has a connection, before `Timeout`.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Default pause between two background sweeps of expired rows.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Default number of expired rows one sweep statement deletes.
pub const DEFAULT_SWEEP_BATCH: usize = 500;
/// Default number of rows one `clear` statement deletes.
pub const DEFAULT_CLEAR_BATCH: usize = 1000;
/// Default number of writer lanes (concurrent group-commit statements).
pub const DEFAULT_WRITE_LANES: usize = 2;
/// Default largest number of writes one group-commit statement carries.
pub const DEFAULT_MAX_BATCH_ROWS: usize = 512;
/// Default largest payload one group-commit statement carries (at least one write
/// is always sent, whatever its size).
pub const DEFAULT_MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Tunables shared by every handle on one store.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) pool_size: usize,
    pub(crate) wait_timeout: Duration,
    pub(crate) create_timeout: Duration,
    pub(crate) recycle_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) max_value_size: usize,
    pub(crate) sweep_interval: Option<Duration>,
    pub(crate) sweep_batch: usize,
    pub(crate) clear_batch: usize,
    pub(crate) write_lanes: usize,
    pub(crate) max_batch_rows: usize,
    pub(crate) max_batch_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pool_size: DEFAULT_POOL_SIZE,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            create_timeout: DEFAULT_CREATE_TIMEOUT,
            recycle_timeout: DEFAULT_RECYCLE_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
            sweep_batch: DEFAULT_SWEEP_BATCH,
            clear_batch: DEFAULT_CLEAR_BATCH,
            write_lanes: DEFAULT_WRITE_LANES,
            max_batch_rows: DEFAULT_MAX_BATCH_ROWS,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
        }
    }
}

/// Where connections come from.
#[derive(Clone)]
pub(crate) enum Source {
    /// flowstore builds and owns the pool.
    Config(Box<tokio_postgres::Config>),
    /// The user's own pool.
    Pool(Pool),
}

/// What a store is connected to, for `Debug`: never the password.
#[derive(Clone)]
pub(crate) enum Target {
    Config {
        hosts: Vec<String>,
        ports: Vec<u16>,
        dbname: Option<String>,
        user: Option<String>,
        has_password: bool,
        tls: bool,
    },
    Pool,
}

impl Target {
    pub(crate) fn of(source: &Source) -> Target {
        match source {
            Source::Pool(_) => Target::Pool,
            Source::Config(config) => Target::Config {
                hosts: config
                    .get_hosts()
                    .iter()
                    .map(|host| match host {
                        Host::Tcp(name) => name.clone(),
                        #[cfg(unix)]
                        Host::Unix(path) => path.display().to_string(),
                    })
                    .collect(),
                ports: config.get_ports().to_vec(),
                dbname: config.get_dbname().map(str::to_string),
                user: config.get_user().map(str::to_string),
                has_password: config.get_password().is_some(),
                tls: config.get_ssl_mode() == SslMode::Require,
            },
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pool => f.write_str("<user-supplied pool>"),
            Target::Config {
                hosts,
                ports,
                dbname,
                user,
                has_password,
                tls,
            } => {
                let mut debug = f.debug_struct("Target");
                debug
                    .field("hosts", hosts)
                    .field("ports", ports)
                    .field("dbname", dbname)
                    .field("user", user)
                    .field("tls", tls);
                if *has_password {
                    debug.field("password", &format_args!("<redacted>"));
                }
                debug.finish()
            }
        }
    }
}

/// Builds a [`PostgresStore`]: from a URL, from a `tokio_postgres::Config`, or
/// from a pool you already have.
///
/// Every timeout has a default (see the `DEFAULT_*` constants and
/// `docs/backends/postgres.md`); none can be switched off, so no call waits
/// forever.
///
/// `Debug` shows hosts, ports, database and user, never the password.
#[derive(Clone)]
pub struct PostgresBuilder {
    pub(crate) source: Source,
    pub(crate) url_namespace: Option<Namespace>,
    pub(crate) namespace: Option<Namespace>,
    pub(crate) table: Option<String>,
    pub(crate) options: Options,
    /// PEM file of the CA certificates to trust for TLS (feature `tls`).
    pub(crate) tls_ca_file: Option<PathBuf>,
}

impl Default for PostgresBuilder {
    fn default() -> Self {
        PostgresBuilder::new(tokio_postgres::Config::new())
    }
}

impl PostgresBuilder {
    /// A builder connecting with `config` (host, port, user, password, dbname, …).
    pub fn new(config: tokio_postgres::Config) -> PostgresBuilder {
        PostgresBuilder {
            source: Source::Config(Box::new(config)),
            url_namespace: None,
            namespace: None,
            table: None,
            options: Options::default(),
            tls_ca_file: None,
        }
    }

    /// A builder for stores on `pool`, a pool you built yourself. Its own size,
    /// timeouts and recycling method apply; if it has no wait timeout, flowstore
    /// bounds every checkout by this builder's wait + create + recycle timeouts.
    pub fn from_pool(pool: Pool) -> PostgresBuilder {
        PostgresBuilder {
            source: Source::Pool(pool),
            ..PostgresBuilder::default()
        }
    }

    /// Parses `postgres://user:password@host:port/dbname?params` (or
    /// `postgresql://…`, or a key/value string such as `host=… user=…`).
    ///
    /// flowstore's own parameters are taken off the URL; every other parameter
    /// (`connect_timeout`, `application_name`, `options`, …) goes to
    /// [`tokio_postgres::Config`]. Ours: `namespace`, `table`, `pool_size`,
    /// `wait_timeout`, `create_timeout`, `recycle_timeout`, `operation_timeout`
    /// (durations such as `500ms`, `5s`), `max_value_size` (bytes),
    /// `sweep_interval` (a duration, or `off`), and `sslmode` (libpq's values:
    /// `disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`) and
    /// `sslrootcert` (a CA file) for TLS (feature `tls`). A bad value is a
    /// `Config` error. A key/value string goes to tokio-postgres as it is.
    pub fn from_url(url: &str) -> Result<PostgresBuilder> {
        let mut builder = PostgresBuilder::default();
        if !url.contains("://") {
            // A key/value connection string (`host=… user=…`): all the client's.
            builder.source = Source::Config(Box::new(parse_client_config(url)?));
            return Ok(builder);
        }
        let mut url = StoreUrl::parse(url)?;
        match url.scheme().as_deref() {
            Some("postgres" | "postgresql") => {}
            other => {
                return Err(Error::config(format!(
                    "unsupported URL scheme `{}` for PostgreSQL (expected postgres:// or postgresql://)",
                    other.unwrap_or_default()
                )));
            }
        }
        if let Some(namespace) = url.take("namespace")? {
            builder.url_namespace = Some(Namespace::new(namespace)?);
        }
        if let Some(table) = url.take("table")? {
            TableName::new(&table)?;
            builder.table = Some(table);
        }
        let options = &mut builder.options;
        let positive = |text: &str| text.parse::<usize>().ok().filter(|n| *n > 0);
        let duration = |text: &str| parse_duration(text).ok().filter(|d| !d.is_zero());
        if let Some(n) = url.take_parsed("pool_size", positive)? {
            options.pool_size = n;
        }
        if let Some(d) = url.take_parsed("wait_timeout", duration)? {
            options.wait_timeout = d;
        }
        if let Some(d) = url.take_parsed("create_timeout", duration)? {
            options.create_timeout = d;
        }
        if let Some(d) = url.take_parsed("recycle_timeout", duration)? {
            options.recycle_timeout = d;
        }
        if let Some(d) = url.take_parsed("operation_timeout", duration)? {
            options.operation_timeout = d;
        }
        if let Some(n) = url.take_parsed("max_value_size", positive)? {
            options.max_value_size = n;
        }
        if let Some(sweep) = url.take_parsed("sweep_interval", |text| match text {
            "off" => Some(None),
            text => duration(text).map(Some),
        })? {
            options.sweep_interval = sweep;
        }
        // libpq's sslmode values, which tokio-postgres only partly knows.
        let ssl_mode = url.take_parsed("sslmode", |mode| match mode {
            "disable" => Some(SslMode::Disable),
            "allow" | "prefer" => Some(SslMode::Prefer),
            "require" | "verify-ca" | "verify-full" => Some(SslMode::Require),
            _ => None,
        })?;
        if let Some(path) = url.take("sslrootcert")? {
            builder.tls_ca_file = Some(PathBuf::from(path));
        }
        let mut config = parse_client_config(&url.to_client_url())?;
        if let Some(mode) = ssl_mode {
            config.ssl_mode(mode);
        }
        builder.source = Source::Config(Box::new(config));
        Ok(builder)
    }

    /// The namespace of the store (default `flow`); beats a `namespace` URL parameter.
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// The table (default `flowstore`). Checked by [`TableName::new`] when the
    /// store is opened, before connecting: a bad name is a `Config` error.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// The most connections the pool opens (default 16). Idle connections are
    /// handed out last-in, first-out, so a quiet period keeps reusing the few
    /// that are warm. Ignored with [`from_pool`](Self::from_pool).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.options.pool_size = size.max(1);
        self
    }

    /// How long a caller waits for a free connection before `Unavailable` (default 5 s).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.options.wait_timeout = timeout;
        self
    }

    /// How long opening a connection may take (default 5 s); also tokio-postgres's
    /// `connect_timeout` unless the URL sets one.
    pub fn create_timeout(mut self, timeout: Duration) -> Self {
        self.options.create_timeout = timeout;
        self
    }

    /// How long checking a pooled connection before reuse may take (default 5 s).
    pub fn recycle_timeout(mut self, timeout: Duration) -> Self {
        self.options.recycle_timeout = timeout;
        self
    }

    /// How long one statement may take once it has a connection (default 30 s).
    /// After it: `Timeout`, the outcome of a write is unknown, and the
    /// connection is discarded rather than reused.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.options.operation_timeout = timeout;
        self
    }

    /// The largest value `set` accepts (default 16 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.options.max_value_size = bytes;
        self
    }

    /// The pause between background sweeps of expired rows (default 60 s);
    /// `None` turns the sweep off (expired rows are still never returned).
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.options.sweep_interval = interval.filter(|d| !d.is_zero());
        self
    }

    /// How many expired rows one sweep statement deletes (default 500).
    pub fn sweep_batch_size(mut self, rows: usize) -> Self {
        self.options.sweep_batch = rows.max(1);
        self
    }

    /// How many rows one `clear` statement deletes (default 1000).
    pub fn clear_batch_size(mut self, rows: usize) -> Self {
        self.options.clear_batch = rows.max(1);
        self
    }

    /// How many group-commit writer lanes run at once (default 2). Writes to
    /// one key always go through the same lane, in order.
    pub fn write_lanes(mut self, lanes: usize) -> Self {
        self.options.write_lanes = lanes.max(1);
        self
    }

    /// The most writes one group-commit statement carries (default 512).
    pub fn max_batch_rows(mut self, rows: usize) -> Self {
        self.options.max_batch_rows = rows.max(1);
        self
    }

    /// The most value bytes one write statement carries (default 4 MiB): a
    /// group commit of the lanes, or one statement of a `set_many` (a larger
    /// batch is sent as several statements in one transaction). One write is
    /// always sent, whatever its size.
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.options.max_batch_bytes = bytes.max(1);
        self
    }

    /// The CA certificates (a PEM file) that a TLS server's certificate must
    /// chain to, instead of the Mozilla roots. Same as the URL parameter
    /// `sslrootcert`. TLS is used with `sslmode=require` (or `verify-ca`,
    /// `verify-full`), and always verifies the certificate and host name.
    #[cfg(feature = "tls")]
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_file = Some(path.into());
        self
    }

    /// Builds the pool (unless one was given), creates the table if it is
    /// missing, checks its schema version, and starts the writer lanes and
    /// the sweep. Must run inside a Tokio runtime.
    pub async fn open(self) -> Result<PostgresStore> {
        PostgresStore::open_with(self).await
    }

    /// The bound the store puts around each checkout from `pool` itself: none
    /// for a pool it built (every timeout set, `Fast` recycling without I/O),
    /// else the pool's wait + create + recycle timeouts, with this builder's for
    /// any the pool lacks. A user's pool is not trusted to bound its own
    /// checkouts: its timeouts may be missing, and its recycling method may run
    /// a query per checkout that deadpool retries on the next connection when
    /// it fails.
    pub(crate) fn checkout_bound(&self, pool: &Pool) -> Option<Duration> {
        let Source::Pool(_) = self.source else {
            return None;
        };
        let timeouts = pool.timeouts();
        let options = &self.options;
        Some(
            timeouts.wait.unwrap_or(options.wait_timeout)
                + timeouts.create.unwrap_or(options.create_timeout)
                + timeouts.recycle.unwrap_or(options.recycle_timeout),
        )
    }

    /// Builds the pool this builder describes, with every timeout set.
    pub(crate) fn build_pool(&self) -> Result<Pool> {
        let config = match &self.source {
            Source::Pool(pool) => return Ok(pool.clone()),
            Source::Config(config) => config,
        };
        let mut config = (**config).clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.options.create_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("flowstore");
        }
        let manager_config = ManagerConfig {
            // Fast: a connection whose socket closed is caught by the
            // `is_closed` check every recycle does; a round trip per checkout
            // (Verified) would cost as much as the `get` itself. A connection
            // that fails or times out mid-statement is discarded by the store.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if config.get_ssl_mode() == SslMode::Require {
            self.tls_manager(config, manager_config)?
        } else {
            if self.tls_ca_file.is_some() {
                return Err(Error::config(
                    "a TLS CA file (sslrootcert) is set but sslmode is not require, verify-ca or verify-full",
                ));
            }
            // `prefer` (the default) and `disable`: no TLS.
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(self.options.pool_size)
            .runtime(Runtime::Tokio1)
            // Lifo: the connection used last is handed out next. Fifo (the
            // default) rotates through every idle connection, so after one
            // burst a lone caller meets a cold server backend on each call,
            // which costs more than the statement itself.
            .queue_mode(QueueMode::Lifo)
            .wait_timeout(Some(self.options.wait_timeout))
            .create_timeout(Some(self.options.create_timeout))
            .recycle_timeout(Some(self.options.recycle_timeout))
            .build()
            .map_err(|err| {
                Error::config("cannot build the PostgreSQL connection pool").with_source(err)
            })?;
        Ok(pool)
    }

    #[cfg(feature = "tls")]
    fn tls_manager(
        &self,
        config: tokio_postgres::Config,
        manager_config: ManagerConfig,
    ) -> Result<Manager> {
        let tls = crate::tls::connector(self.tls_ca_file.as_deref())?;
        Ok(Manager::from_config(config, tls, manager_config))
    }

    #[cfg(not(feature = "tls"))]
    fn tls_manager(&self, _: tokio_postgres::Config, _: ManagerConfig) -> Result<Manager> {
        Err(Error::config(
            "sslmode=require needs TLS: enable the `tls` feature of flowstore-postgres",
        ))
    }

    /// The explicit namespace, else the URL's, else `flow`.
    pub(crate) fn effective_namespace(&self) -> Namespace {
        self.namespace
            .clone()
            .or_else(|| self.url_namespace.clone())
            .unwrap_or_default()
    }
}

/// Hands a URL or key/value string to tokio-postgres.
fn parse_client_config(text: &str) -> Result<tokio_postgres::Config> {
    text.parse().map_err(|err: tokio_postgres::Error| {
        // Only the client's top-level message ("invalid connection string"):
        // its cause can quote the URL, and so the password.
        Error::config(format!(
            "invalid PostgreSQL connection URL or string ({err})"
        ))
    })
}

impl fmt::Debug for PostgresBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBuilder")
            .field("target", &Target::of(&self.source))
            .field("namespace", &self.effective_namespace())
            .field(
                "table",
                &self.table.as_deref().unwrap_or(TableName::DEFAULT),
            )
            .field("options", &self.options)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use flowstore_core::ErrorKind;

    use super::*;

    #[test]
    fn url_parameters_are_ours_or_the_clients() {
        let builder = PostgresBuilder::from_url(
            "postgres://app:s3cret@db.example:6543/state?table=flow_state&namespace=signup&pool_size=4&wait_timeout=250ms&sweep_interval=off&application_name=x",
        )
        .unwrap();
        assert_eq!(builder.table.as_deref(), Some("flow_state"));
        assert_eq!(builder.effective_namespace().as_str(), "signup");
        assert_eq!(builder.options.pool_size, 4);
        assert_eq!(builder.options.wait_timeout, Duration::from_millis(250));
        assert_eq!(builder.options.sweep_interval, None);
        let Source::Config(config) = &builder.source else {
            panic!("expected a config")
        };
        assert_eq!(config.get_user(), Some("app"));
        assert_eq!(config.get_dbname(), Some("state"));
        assert_eq!(config.get_ports(), &[6543]);
        assert_eq!(config.get_application_name(), Some("x"));
        assert_eq!(config.get_password(), Some(&b"s3cret"[..]));
    }

    #[test]
    fn postgresql_scheme_and_explicit_namespace() {
        let builder = PostgresBuilder::from_url("postgresql://u@h/db?namespace=a")
            .unwrap()
            .namespace(Namespace::new("b").unwrap());
        assert_eq!(builder.effective_namespace().as_str(), "b");
        let builder = PostgresBuilder::from_url("postgresql://u@h/db").unwrap();
        assert_eq!(builder.effective_namespace().as_str(), "flow");
    }

    #[test]
    fn bad_urls_are_config_errors_without_the_password() {
        for url in [
            "redis://h",
            "postgres://u:hunter2@h/db?table=Bad-Name",
            "postgres://u:hunter2@h/db?pool_size=0",
            "postgres://u:hunter2@h/db?wait_timeout=soon",
            "postgres://u:hunter2@h/db?namespace=",
            "postgres://u:hunter2@h:notaport/db",
            "postgres://u:hunter2@h/db?no_such_param=1",
        ] {
            let err = PostgresBuilder::from_url(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(!err.to_one_line().contains("hunter2"), "{url}: {err:?}");
            assert!(!format!("{err:?}").contains("hunter2"), "{url}");
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let builder =
            PostgresBuilder::from_url("postgres://app:hunter2@db.example:5432/state").unwrap();
        let debug = format!("{builder:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("db.example"), "{debug}");
        assert!(debug.contains("app"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    #[cfg(unix)]
    fn unix_socket_hosts_survive_our_parameter_handling() {
        let builder = PostgresBuilder::from_url(
            "postgresql://app@/state?host=/run/postgresql&table=t&application_name=a%20b",
        )
        .unwrap();
        let Source::Config(config) = &builder.source else {
            panic!("expected a config")
        };
        assert_eq!(config.get_hosts(), &[Host::Unix("/run/postgresql".into())]);
        assert_eq!(config.get_application_name(), Some("a b"));
    }

    #[test]
    fn key_value_strings_work_too() {
        let builder =
            PostgresBuilder::from_url("host=localhost user=postgres dbname=test").unwrap();
        let Source::Config(config) = &builder.source else {
            panic!("expected a config")
        };
        assert_eq!(config.get_dbname(), Some("test"));
    }

    #[test]
    #[cfg(not(feature = "tls"))]
    fn require_tls_is_refused_without_the_feature() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let builder =
                PostgresBuilder::from_url(&format!("postgres://u@h/db?sslmode={mode}")).unwrap();
            assert_eq!(builder.build_pool().unwrap_err().kind(), ErrorKind::Config);
        }
    }

    #[test]
    fn sslmode_values_and_ca_file() {
        let builder = PostgresBuilder::from_url("postgres://u@h/db?sslmode=disable").unwrap();
        builder.build_pool().unwrap();
        let err = PostgresBuilder::from_url("postgres://u@h/db?sslmode=bogus").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        // A CA file without a TLS sslmode is a mistake, not silently plain text.
        let builder =
            PostgresBuilder::from_url("postgres://u@h/db?sslrootcert=/tmp/ca.pem").unwrap();
        assert_eq!(builder.build_pool().unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    #[cfg(feature = "tls")]
    fn tls_needs_a_readable_ca_file() {
        let builder = PostgresBuilder::from_url(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap();
        assert_eq!(builder.build_pool().unwrap_err().kind(), ErrorKind::Config);
        // With the Mozilla roots.
        let builder = PostgresBuilder::from_url("postgres://u@h/db?sslmode=require").unwrap();
        builder.build_pool().unwrap();
    }
}
