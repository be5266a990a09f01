//! The plain way to use Redis from async code, as the baseline for
//! `flowstore-redis`: ONE fred client (fred pipelines every concurrent command
//! over its connection), with the settings flowstore-redis uses (command
//! timeout, connect timeout, `TCP_NODELAY`, reconnect policy), issuing a plain
//! `SET namespace:key value` per `set` and `GET namespace:key` per `get`, on the
//! same keys as the store under test, the value read copied into an owned
//! `Vec<u8>` as the store returns it. Key names are built once, before the
//! runs (the store builds each one per call). Single-node `redis://` URLs only.

use std::time::Duration;

use flowstore::url::StoreUrl;
use flowstore::{Error, Namespace, async_trait, parse_duration};
use flowstore_redis::fred::bytes::Bytes;
use flowstore_redis::fred::clients::Client;
use flowstore_redis::fred::interfaces::{ClientLike, KeysInterface};
use flowstore_redis::fred::types::config::{
    Config, ConnectionConfig, PerformanceConfig, ReconnectPolicy, TcpConfig,
};
use flowstore_redis::fred::types::{Builder, ConnectHandle, Key};
use flowstore_redis::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RECONNECT_MAX_DELAY,
    DEFAULT_RECONNECT_MIN_DELAY, SEPARATOR,
};

use flowstore_cli::Failure;
use flowstore_cli::bench::{Target, Workload, stamped};

/// flowstore-redis's URL parameters that only the store uses.
const STORE_ONLY_PARAMS: &[&str] = &[
    "namespace",
    "unresponsive_timeout",
    "eviction",
    "max_value_size",
];

/// One fred client, one command per operation.
#[derive(Debug)]
pub(crate) struct RawRedis {
    client: Client,
    task: ConnectHandle,
    keys: Vec<Key>,
    value: Vec<u8>,
}

impl RawRedis {
    pub(crate) const DESCRIPTION: &'static str = "one fred client (pipelined), the store's command timeout and TCP_NODELAY, one SET / GET namespace:key per operation, the value read copied into a Vec<u8>";

    pub(crate) async fn open(
        url: &str,
        namespace: &Namespace,
        workload: &Workload,
    ) -> Result<Self, Failure> {
        let fail = |err: &Error| Failure::store("bench: raw Redis baseline", err);
        let mut parsed = StoreUrl::parse(url).map_err(|err| fail(&err))?;
        if parsed.scheme().as_deref() != Some("redis") {
            return Err(Failure::new(
                "bench: the raw Redis baseline supports single-node redis:// URLs only",
            ));
        }
        let duration = |text: &str| parse_duration(text).ok().filter(|d| !d.is_zero());
        let command_timeout = parsed
            .take_parsed("command_timeout", duration)
            .map_err(|err| fail(&err))?
            .unwrap_or(DEFAULT_COMMAND_TIMEOUT);
        let connect_timeout = parsed
            .take_parsed("connect_timeout", duration)
            .map_err(|err| fail(&err))?
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        for name in STORE_ONLY_PARAMS {
            parsed.take(name).map_err(|err| fail(&err))?;
        }
        let config = Config::from_url_centralized(&parsed.to_client_url()).map_err(|_| {
            // Not the client's message: it may quote the URL and its password.
            Failure::new("bench: raw Redis baseline: invalid redis:// URL")
        })?;
        let config = Config {
            fail_fast: true,
            ..config
        };
        let performance = PerformanceConfig {
            default_command_timeout: command_timeout,
            ..PerformanceConfig::default()
        };
        let connection = ConnectionConfig {
            connection_timeout: connect_timeout,
            internal_command_timeout: command_timeout,
            tcp: TcpConfig {
                nodelay: Some(true),
                ..TcpConfig::default()
            },
            ..ConnectionConfig::default()
        };
        let policy = ReconnectPolicy::new_exponential(
            0,
            millis(DEFAULT_RECONNECT_MIN_DELAY),
            millis(DEFAULT_RECONNECT_MAX_DELAY),
            2,
        );
        let client = Builder::from_config(config)
            .set_performance_config(performance)
            .set_connection_config(connection)
            .set_policy(policy)
            .build()
            .map_err(|err| {
                Failure::new(format!(
                    "bench: raw Redis baseline: client setup failed ({:?})",
                    err.kind()
                ))
            })?;
        let guard = connect_timeout + command_timeout * 4;
        let task = match tokio::time::timeout(guard, client.init()).await {
            Ok(Ok(task)) => task,
            Ok(Err(err)) => {
                return Err(Failure::new(format!(
                    "bench: raw Redis baseline: cannot connect ({:?}: {})",
                    err.kind(),
                    err.details()
                )));
            }
            Err(_) => {
                return Err(Failure::new(
                    "bench: raw Redis baseline: no connection within the timeouts",
                ));
            }
        };
        let prefix = format!("{}{SEPARATOR}", namespace.as_str());
        Ok(RawRedis {
            client,
            task,
            keys: (0..workload.keys)
                .map(|index| Key::from(format!("{prefix}{}", Workload::key_name(index))))
                .collect(),
            value: workload.value(),
        })
    }
}

impl Drop for RawRedis {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

fn redis_error(err: flowstore_redis::fred::error::Error) -> Error {
    Error::backend(format!("raw Redis: {:?}", err.kind())).with_source(err)
}

#[async_trait]
impl Target for RawRedis {
    async fn set(&self, key: usize, stamp: u64) -> Result<(), Error> {
        let value = Bytes::from(stamped(&self.value, stamp));
        let () = self
            .client
            .set(self.keys[key].clone(), value, None, None, false)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn get(&self, key: usize) -> Result<bool, Error> {
        let value: Option<Bytes> = self
            .client
            .get(self.keys[key].clone())
            .await
            .map_err(redis_error)?;
        // Copied into an owned Vec<u8> as `Store::get` returns it (and as the
        // PostgreSQL baseline decodes), so both pay for the copy
        // (`black_box`: the compiler may not drop the unused value).
        let value: Option<Vec<u8>> = std::hint::black_box(value.map(Vec::from));
        Ok(value.is_some())
    }
}
