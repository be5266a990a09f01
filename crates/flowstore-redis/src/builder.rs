//! [`RedisBuilder`]: from a URL (or by hand) to an open [`RedisStore`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use flowstore_core::{DEFAULT_MAX_VALUE_SIZE, Error, Namespace, Result};
use fred::clients::Client;
use fred::interfaces::ClientLike;
use fred::types::Builder;
use fred::types::config::{
    Config, ConnectionConfig, PerformanceConfig, ReconnectPolicy, Server, ServerConfig, TcpConfig,
    UnresponsiveConfig,
};

use crate::error::{BACKEND, map_error};
use crate::store::{RedisStore, Shared};
use crate::{eviction, keys};

// The URL grammar is the builder's alone, so its parser is a submodule here.
mod url;

pub use self::url::EvictionCheck;
use self::url::{Secret, Topology};

/// Default time one command may take before it fails with `Timeout`: 5 s.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time to open a TCP (and TLS) connection: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default first delay before reconnecting after a connection is lost: 100 ms.
/// Each failed attempt doubles it, up to [`DEFAULT_RECONNECT_MAX_DELAY`].
pub const DEFAULT_RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);
/// Default longest delay between two reconnection attempts: 2 s.
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(2);

/// Builds a [`RedisStore`]. Start from [`RedisBuilder::from_url`] (or
/// [`RedisStore::from_url`]), adjust, then [`open`](RedisBuilder::open).
///
/// `Debug` never shows a password.
#[derive(Clone)]
pub struct RedisBuilder {
    topology: Topology,
    tls: bool,
    hosts: Vec<(String, u16)>,
    username: Option<String>,
    password: Option<Secret>,
    sentinel_username: Option<String>,
    sentinel_password: Option<Secret>,
    database: Option<u8>,
    namespace: Namespace,
    command_timeout: Duration,
    connect_timeout: Duration,
    reconnect_min_delay: Duration,
    reconnect_max_delay: Duration,
    unresponsive_timeout: Option<Duration>,
    eviction: EvictionCheck,
    data_loss_detection: bool,
    max_value_size: usize,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    ca_file: Option<String>,
}

impl RedisBuilder {
    /// Reads a store URL (see the crate documentation for every form):
    ///
    /// - `redis://[[user]:password@]host[:port][/db]`
    /// - `rediss://…` (TLS, feature `tls`)
    /// - `redis-cluster://[[user]:password@]host:port[,host:port…]`
    /// - `redis-sentinel://[[user]:password@]host:port[,host:port…]/service[/db]`
    ///
    /// with flowstore's own query parameters `namespace`, `command_timeout`,
    /// `connect_timeout`, `unresponsive_timeout`, `eviction=warn|refuse|ignore`,
    /// `data_loss_detection=on|off`, `max_value_size`,
    /// `ca_file` (TLS) and `sentinel_username`/`sentinel_password` (Sentinel).
    /// A bad URL is a `Config` error whose message does not quote the URL.
    pub fn from_url(url: &str) -> Result<RedisBuilder> {
        let parsed = url::parse(url)?;
        Ok(RedisBuilder {
            topology: parsed.topology,
            tls: parsed.tls,
            hosts: parsed.hosts,
            username: parsed.username,
            password: parsed.password,
            sentinel_username: parsed.sentinel_username,
            sentinel_password: parsed.sentinel_password,
            database: parsed.database,
            namespace: parsed.namespace.unwrap_or_default(),
            command_timeout: parsed.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
            connect_timeout: parsed.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            reconnect_min_delay: DEFAULT_RECONNECT_MIN_DELAY,
            reconnect_max_delay: DEFAULT_RECONNECT_MAX_DELAY,
            unresponsive_timeout: parsed.unresponsive_timeout,
            eviction: parsed.eviction.unwrap_or_default(),
            data_loss_detection: parsed.data_loss_detection.unwrap_or(true),
            max_value_size: parsed.max_value_size.unwrap_or(DEFAULT_MAX_VALUE_SIZE),
            ca_file: parsed.ca_file,
        })
    }

    /// The namespace of the store (default `flow`), overriding the URL's
    /// `namespace` parameter. A namespace containing `:` is refused by
    /// [`open`](RedisBuilder::open) with a `Config` error.
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = namespace;
        self
    }

    /// How long one command may take before it fails with `Timeout`
    /// (default [`DEFAULT_COMMAND_TIMEOUT`]). Also bounds the commands the client
    /// sends on its own (`AUTH`, `SELECT`, `CLUSTER SLOTS`). Zero is refused.
    /// A command waiting for a reconnection that the server refuses for our
    /// credentials does not wait this long: it fails with `Unauthorized` as soon
    /// as the refusal comes.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long opening a connection may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The reconnection backoff: the first delay, doubled after each failed
    /// attempt, capped at `max`. Reconnection never gives up. Defaults
    /// [`DEFAULT_RECONNECT_MIN_DELAY`] and [`DEFAULT_RECONNECT_MAX_DELAY`].
    pub fn reconnect_delays(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min_delay = min;
        self.reconnect_max_delay = max;
        self
    }

    /// Opt-in detection of connections that stopped answering without being
    /// closed (a network partition without a reset): when a command has waited
    /// `timeout` for its reply, fred closes the connection and reconnects,
    /// resending the commands still in flight. Off by default: it adds a timer to
    /// every pass of fred's routing loop. Without it such a connection keeps
    /// failing commands with `Timeout` until the operating system drops it.
    pub fn unresponsive_timeout(mut self, timeout: Duration) -> Self {
        self.unresponsive_timeout = Some(timeout);
        self
    }

    /// What to do when the server's `maxmemory-policy` may evict keys
    /// (default [`EvictionCheck::Warn`]).
    pub fn eviction_check(mut self, check: EvictionCheck) -> Self {
        self.eviction = check;
        self
    }

    /// Whether the store detects a server that lost its data (default on; see
    /// the crate docs, "Data loss"). Off, the store writes no marker and reads
    /// never fail with `DataLoss`; [`acknowledge_data_loss`](flowstore_core::Store::acknowledge_data_loss)
    /// still ends a loss other processes detected. For servers whose eviction
    /// policy cannot be read (`CONFIG` forbidden) and may evict any key.
    pub fn data_loss_detection(mut self, on: bool) -> Self {
        self.data_loss_detection = on;
        self
    }

    /// The largest value `set` accepts (default 16 MiB).
    pub fn max_value_size(mut self, max_value_size: usize) -> Self {
        self.max_value_size = max_value_size;
        self
    }

    /// The ACL user name (instead of putting it in the URL).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password (instead of putting it in the URL).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret(password.into()));
        self
    }

    /// A PEM file of CA certificates to trust instead of the system's roots
    /// (TLS URLs only).
    #[cfg(feature = "tls")]
    pub fn ca_file(mut self, path: impl Into<String>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Connects, checks the server's eviction policy, and returns the store.
    ///
    /// Fails with `Unavailable`/`Timeout` when no server answers, `Unauthorized`
    /// when the credentials are refused, and `Config` for a bad namespace or
    /// option, or an evicting server with [`EvictionCheck::Refuse`].
    pub async fn open(self) -> Result<RedisStore> {
        let prefix = keys::prefix(&self.namespace)?;
        if self.command_timeout.is_zero()
            || self.connect_timeout.is_zero()
            || self
                .unresponsive_timeout
                .is_some_and(|timeout| timeout.is_zero())
        {
            return Err(Error::config("Redis timeouts must be greater than zero"));
        }
        let client = self.build_client()?;
        // fred bounds each step of connecting (TCP/TLS by the connection timeout,
        // AUTH/SELECT/CLUSTER SLOTS/sentinel queries by the internal command
        // timeout); this outer bound only guards against a step we did not foresee.
        let guard = self.connect_timeout + self.command_timeout * 4;
        let task = match tokio::time::timeout(guard, client.init()).await {
            Ok(Ok(task)) => task,
            Ok(Err(err)) => return Err(map_error(err)),
            Err(_) => {
                return Err(
                    Error::timeout("cannot connect: no connection within the timeouts")
                        .with_backend(BACKEND),
                );
            }
        };
        let clustered = self.topology == Topology::Cluster;
        // Read even with `eviction=ignore`: the data-loss detection depends on it.
        let eviction = eviction::check(&client, clustered).await;
        let warning = match self.eviction {
            EvictionCheck::Ignore => None,
            check => {
                if let Some(message) = &eviction.warning {
                    if check == EvictionCheck::Refuse {
                        task.abort();
                        return Err(Error::config(format!(
                            "{message} (refused because of eviction=refuse)"
                        )));
                    }
                    log::warn!("flowstore-redis: {message}");
                }
                eviction.warning
            }
        };
        let shared = Shared::new(client, task, clustered)
            .watch_for_data_loss(self.data_loss_detection, eviction.evicts_any_key)
            .await?;
        Ok(RedisStore::new(
            Arc::new(shared.with_eviction_warning(warning)),
            self.namespace,
            prefix,
            self.max_value_size,
        ))
    }

    fn build_client(&self) -> Result<Client> {
        let server = match &self.topology {
            Topology::Single => {
                let (host, port) = &self.hosts[0];
                ServerConfig::Centralized {
                    server: Server::new(host.as_str(), *port),
                }
            }
            Topology::Cluster => ServerConfig::new_clustered(
                self.hosts
                    .iter()
                    .map(|(host, port)| (host.as_str(), *port))
                    .collect(),
            ),
            Topology::Sentinel { service } => ServerConfig::Sentinel {
                hosts: self
                    .hosts
                    .iter()
                    .map(|(host, port)| Server::new(host.as_str(), *port))
                    .collect(),
                service_name: service.clone(),
                username: self.sentinel_username.clone(),
                password: self
                    .sentinel_password
                    .as_ref()
                    .map(|secret| secret.0.clone()),
            },
        };
        #[allow(unused_mut)]
        let mut config = Config {
            // The first connection's failure is returned by `open`, not retried.
            fail_fast: true,
            server,
            username: self.username.clone(),
            password: self.password.as_ref().map(|secret| secret.0.clone()),
            database: self.database,
            ..Config::default()
        };
        #[cfg(feature = "tls")]
        if self.tls {
            config.tls = Some(crate::tls::config(self.ca_file.as_deref())?);
        }
        let performance = PerformanceConfig {
            // fred's default (zero) waits forever: a get would hang after a restart.
            default_command_timeout: self.command_timeout,
            ..PerformanceConfig::default()
        };
        let connection = ConnectionConfig {
            connection_timeout: self.connect_timeout,
            internal_command_timeout: self.command_timeout,
            tcp: TcpConfig {
                nodelay: Some(true),
                ..TcpConfig::default()
            },
            unresponsive: UnresponsiveConfig {
                max_timeout: self.unresponsive_timeout,
                // fred checks at this interval; keep it well under the timeout.
                interval: self
                    .unresponsive_timeout
                    .map_or(Duration::from_secs(2), |timeout| {
                        (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(2))
                    }),
            },
            ..ConnectionConfig::default()
        };
        let policy = ReconnectPolicy::new_exponential(
            0, // never give up
            millis(self.reconnect_min_delay).max(1),
            millis(self.reconnect_max_delay)
                .max(millis(self.reconnect_min_delay))
                .max(1),
            2,
        );
        Builder::from_config(config)
            .set_performance_config(performance)
            .set_connection_config(connection)
            .set_policy(policy)
            .build()
            .map_err(map_error)
    }
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

impl fmt::Debug for RedisBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBuilder")
            .field("topology", &self.topology)
            .field("tls", &self.tls)
            .field("hosts", &self.hosts)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("sentinel_username", &self.sentinel_username)
            .field("sentinel_password", &self.sentinel_password)
            .field("database", &self.database)
            .field("namespace", &self.namespace)
            .field("command_timeout", &self.command_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_min_delay", &self.reconnect_min_delay)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .field("unresponsive_timeout", &self.unresponsive_timeout)
            .field("eviction", &self.eviction)
            .field("data_loss_detection", &self.data_loss_detection)
            .field("max_value_size", &self.max_value_size)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_passwords() {
        let builder = RedisBuilder::from_url(
            "redis-sentinel://admin:hunter2@127.0.0.1:26379/mymaster?sentinel_password=swordfish",
        )
        .unwrap()
        .password("correct-horse");
        let debug = format!("{builder:?}");
        for secret in ["hunter2", "swordfish", "correct-horse"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(
            debug.contains("admin") && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    #[test]
    fn defaults_always_bound_commands_and_reconnect() {
        let builder = RedisBuilder::from_url("redis://127.0.0.1").unwrap();
        assert_eq!(builder.command_timeout, DEFAULT_COMMAND_TIMEOUT);
        assert_eq!(builder.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(builder.namespace.as_str(), "flow");
        assert_eq!(builder.eviction, EvictionCheck::Warn);
        assert_eq!(builder.max_value_size, DEFAULT_MAX_VALUE_SIZE);
        let url = "redis://127.0.0.1?namespace=a&command_timeout=250ms";
        let builder = RedisBuilder::from_url(url).unwrap();
        assert_eq!(builder.command_timeout, Duration::from_millis(250));
        let builder = builder.namespace(Namespace::new("b").unwrap());
        assert_eq!(
            builder.namespace.as_str(),
            "b",
            "the builder's namespace beats the URL's"
        );
    }

    #[tokio::test]
    async fn bad_namespace_and_zero_timeout_fail_before_connecting() {
        // Nothing listens on port 1: reaching the network would be Unavailable.
        let builder = RedisBuilder::from_url("redis://127.0.0.1:1").unwrap();
        let err = builder
            .clone()
            .namespace(Namespace::new("a:b").unwrap())
            .open()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), flowstore_core::ErrorKind::Config, "{err:?}");
        let err = builder
            .command_timeout(Duration::ZERO)
            .open()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), flowstore_core::ErrorKind::Config, "{err:?}");
    }
}
