//! The plain way to use PostgreSQL from async code, as the baseline for
//! `flowstore-postgres`: a deadpool-postgres pool of the store's default size
//! (or the URL's `pool_size`), with the store's pool timeouts and recycling
//! method, and ONE statement per operation on a pooled connection: an
//! `INSERT … ON CONFLICT (namespace, key) DO UPDATE` per `set` (autocommit, no
//! batching) and the store's `SELECT` with the same expiry filter per `get`,
//! both prepared once per connection (`prepare_cached`). Same table (the URL's
//! `table`, else the store's default) and namespace as the store under test.

use std::time::Duration;

use flowstore::url::StoreUrl;
use flowstore::{Error, Namespace, async_trait, parse_duration};
use flowstore_postgres::deadpool_postgres::{
    Manager, ManagerConfig, Pool, RecyclingMethod, Runtime,
};
use flowstore_postgres::tokio_postgres::{self, NoTls};
use flowstore_postgres::{
    DEFAULT_CREATE_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_RECYCLE_TIMEOUT, DEFAULT_WAIT_TIMEOUT,
    TableName,
};

use flowstore_cli::Failure;
use flowstore_cli::bench::{Target, Workload, stamped};

/// flowstore-postgres's URL parameters that only the store uses.
const STORE_ONLY_PARAMS: &[&str] = &[
    "namespace",
    "operation_timeout",
    "max_value_size",
    "sweep_interval",
];

/// A deadpool pool, one prepared statement per operation.
#[derive(Debug)]
pub(crate) struct RawPostgres {
    pool: Pool,
    upsert: String,
    select: String,
    namespace: String,
    keys: Vec<String>,
    value: Vec<u8>,
}

impl RawPostgres {
    pub(crate) const DESCRIPTION: &'static str = "deadpool-postgres pool (store's size and timeouts), one prepared statement per operation (INSERT … ON CONFLICT DO UPDATE / SELECT), no batching";

    pub(crate) fn open(
        url: &str,
        namespace: &Namespace,
        workload: &Workload,
    ) -> Result<Self, Failure> {
        let fail = |err: &Error| Failure::store("bench: raw PostgreSQL baseline", err);
        let mut parsed = StoreUrl::parse(url).map_err(|err| fail(&err))?;
        let table = match parsed.take("table").map_err(|err| fail(&err))? {
            Some(name) => TableName::new(&name).map_err(|err| fail(&err))?,
            None => TableName::default(),
        };
        let positive = |text: &str| text.parse::<usize>().ok().filter(|n| *n > 0);
        let duration = |text: &str| parse_duration(text).ok().filter(|d| !d.is_zero());
        let mut take_duration = |name: &str, default: Duration| {
            parsed
                .take_parsed(name, duration)
                .map(|value| value.unwrap_or(default))
        };
        let wait = take_duration("wait_timeout", DEFAULT_WAIT_TIMEOUT).map_err(|err| fail(&err))?;
        let create =
            take_duration("create_timeout", DEFAULT_CREATE_TIMEOUT).map_err(|err| fail(&err))?;
        let recycle =
            take_duration("recycle_timeout", DEFAULT_RECYCLE_TIMEOUT).map_err(|err| fail(&err))?;
        let pool_size = parsed
            .take_parsed("pool_size", positive)
            .map_err(|err| fail(&err))?
            .unwrap_or(DEFAULT_POOL_SIZE);
        for name in STORE_ONLY_PARAMS {
            parsed.take(name).map_err(|err| fail(&err))?;
        }
        if let Some(mode) = parsed.take("sslmode").map_err(|err| fail(&err))?
            && !matches!(mode.as_str(), "disable" | "allow" | "prefer")
        {
            return Err(Failure::new(
                "bench: the raw PostgreSQL baseline connects without TLS; use sslmode=disable or prefer",
            ));
        }
        let mut config: tokio_postgres::Config = parsed.to_client_url().parse().map_err(|_| {
            // Not the client's message: it may quote the URL and its password.
            Failure::new("bench: raw PostgreSQL baseline: invalid connection URL")
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(create);
        }
        config.application_name("flowstore-bench-raw");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(wait))
            .create_timeout(Some(create))
            .recycle_timeout(Some(recycle))
            .build()
            .map_err(|err| {
                Failure::new(format!(
                    "bench: raw PostgreSQL baseline: cannot build the pool: {err}"
                ))
            })?;
        let t = format!("\"{}\"", table.as_str());
        Ok(RawPostgres {
            pool,
            // The same statements as flowstore-postgres's single-row paths.
            upsert: format!(
                "INSERT INTO {t} (namespace, key, value, expires_at, version) \
                 VALUES ($1, $2, $3, now() + $4::int8 * interval '1 millisecond', $5) \
                 ON CONFLICT (namespace, key) DO UPDATE \
                 SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 version = EXCLUDED.version"
            ),
            select: format!(
                "SELECT value FROM {t} WHERE namespace = $1 AND key = $2 \
                 AND (expires_at IS NULL OR expires_at > now())"
            ),
            namespace: namespace.as_str().to_string(),
            keys: (0..workload.keys).map(Workload::key_name).collect(),
            value: workload.value(),
        })
    }

    async fn client(&self) -> Result<flowstore_postgres::deadpool_postgres::Object, Error> {
        self.pool
            .get()
            .await
            .map_err(|err| Error::unavailable("raw PostgreSQL pool").with_source(err))
    }
}

fn pg_error(err: tokio_postgres::Error) -> Error {
    Error::backend("raw PostgreSQL").with_source(err)
}

#[async_trait]
impl Target for RawPostgres {
    async fn set(&self, key: usize, stamp: u64) -> Result<(), Error> {
        let value = stamped(&self.value, stamp);
        // The store writes a fresh entry version with every set (schema 2); a
        // write that kept the column would run the table's trigger for
        // writers of the previous release and make the baseline slower.
        let version = flowstore::Version::generate().to_string();
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.upsert)
            .await
            .map_err(pg_error)?;
        client
            .execute(
                &statement,
                &[
                    &self.namespace,
                    &self.keys[key],
                    &value,
                    &None::<i64>,
                    &version,
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn get(&self, key: usize) -> Result<bool, Error> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.select)
            .await
            .map_err(pg_error)?;
        let row = client
            .query_opt(&statement, &[&self.namespace, &self.keys[key]])
            .await
            .map_err(pg_error)?;
        match row {
            Some(row) => {
                // Decoded like the store does, so both pay for the copy
                // (`black_box`: the compiler may not drop the unused value).
                let value: Vec<u8> = row.try_get(0).map_err(pg_error)?;
                std::hint::black_box(value);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
