//! The PostgreSQL store and its `Store` impl.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use flowstore_core::{
    Capabilities, Condition, Entry, Error, Health, Key, Namespace, Operation, Result, Store, Ttl,
    Version, async_trait, check_value_size,
};

use crate::builder::{Options, PostgresBuilder, Target};
use crate::conditional;
use crate::db::Db;
use crate::error::{Doing, Failure, map_error};
use crate::table::{Sql, TableName};
use crate::writer::{self, Writer};
use crate::{schema, sweep};

/// A flowstore [`Store`] on a PostgreSQL table.
///
/// Cheap to clone; clones and [`with_namespace`](PostgresStore::with_namespace)
/// handles share one pool, one writer and one sweep. The writer lanes and the
/// sweep stop once the last handle is dropped.
///
/// `Debug` shows hosts, ports, database and user, never the password.
#[derive(Clone)]
pub struct PostgresStore {
    namespace: Namespace,
    namespace_arc: Arc<str>,
    shared: Arc<Shared>,
}

/// Everything the handles of one store share.
pub(crate) struct Shared {
    pub(crate) db: Db,
    pub(crate) sql: Arc<Sql>,
    pub(crate) options: Options,
    table: TableName,
    target: Target,
    writer: Writer,
}

impl PostgresStore {
    /// A builder with default settings (connection settings from
    /// [`PostgresBuilder::new`] or [`PostgresBuilder::from_url`] are usually
    /// more useful).
    pub fn builder() -> PostgresBuilder {
        PostgresBuilder::default()
    }

    /// Opens the store a URL describes: `postgres://user:password@host:port/db?table=…&namespace=…`
    /// (see [`PostgresBuilder::from_url`] for every parameter).
    pub async fn open(url: &str) -> Result<PostgresStore> {
        PostgresBuilder::from_url(url)?.open().await
    }

    /// Opens a store on a pool you already have, with the default table and
    /// namespace. For more settings use [`PostgresBuilder::from_pool`].
    pub async fn from_pool(pool: Pool) -> Result<PostgresStore> {
        PostgresBuilder::from_pool(pool).open().await
    }

    pub(crate) async fn open_with(builder: PostgresBuilder) -> Result<PostgresStore> {
        PostgresStore::start(builder)
            .await
            .map_err(|err| Doing::Open.context(err))
    }

    async fn start(builder: PostgresBuilder) -> Result<PostgresStore> {
        let table = match &builder.table {
            Some(name) => TableName::new(name)?,
            None => TableName::default(),
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::config(
                "flowstore-postgres must be opened inside a Tokio runtime",
            ));
        }
        let namespace = builder.effective_namespace();
        let options = builder.options.clone();
        let pool = builder.build_pool()?;
        let checkout_bound = builder.checkout_bound(&pool);
        let db = Db::new(pool, checkout_bound, options.operation_timeout);
        let sql = Arc::new(Sql::new(&table));

        let mut client = db.client().await.map_err(|f| map_error(Doing::Open, f))?;
        let created = tokio::time::timeout(
            options.operation_timeout,
            schema::ensure(&mut client, &table, &sql),
        )
        .await;
        match created {
            Ok(result) => result?,
            Err(_) => {
                drop(deadpool_postgres::Object::take(client));
                return Err(map_error(
                    Doing::Open,
                    Failure::Elapsed(options.operation_timeout),
                ));
            }
        }
        drop(client);

        let writer = Writer::spawn(db.clone(), Arc::clone(&sql), &options);
        let shared = Arc::new(Shared {
            db,
            sql,
            options,
            table,
            target: Target::of(&builder.source),
            writer,
        });
        if let Some(interval) = shared.options.sweep_interval {
            sweep::spawn(Arc::downgrade(&shared), interval);
        }
        Ok(PostgresStore {
            namespace_arc: namespace.as_str().into(),
            namespace,
            shared,
        })
    }

    /// A handle on the same table, pool, writer and sweep, in `namespace`.
    pub fn with_namespace(&self, namespace: Namespace) -> PostgresStore {
        PostgresStore {
            namespace_arc: namespace.as_str().into(),
            namespace,
            shared: Arc::clone(&self.shared),
        }
    }

    /// The table this store uses.
    pub fn table(&self) -> &TableName {
        &self.shared.table
    }

    /// The connection pool (for example to run your own statements, or to
    /// check [`Pool::status`]).
    pub fn pool(&self) -> &Pool {
        &self.shared.db.pool
    }

    /// Deletes every expired row of the table now (every namespace), in
    /// batches, and returns how many. The background sweep does the same.
    pub async fn sweep_expired(&self) -> Result<u64> {
        let shared = &self.shared;
        sweep::sweep(
            &shared.db,
            &shared.sql.sweep_batch,
            shared.options.sweep_batch,
        )
        .await
        .map_err(|f| map_error(Doing::Sweep, f))
    }

    /// The deadline a caller waits for a queued write: checkout plus statement.
    fn write_deadline(&self) -> Duration {
        let options = &self.shared.options;
        options.wait_timeout
            + options.create_timeout
            + options.recycle_timeout
            + options.operation_timeout
    }

    async fn write(&self, kind: writer::Kind, row: writer::Row) -> Result<()> {
        self.shared
            .writer
            .write(kind, row, self.write_deadline())
            .await
    }
}

/// TTL in whole milliseconds (rounded up), as PostgreSQL gets it.
fn ttl_millis(ttl: Ttl) -> i64 {
    i64::try_from(ttl.as_millis_ceil()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for PostgresStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let shared = &*self.shared;
        let db = &shared.db;
        let client = db
            .client()
            .await
            .map_err(|f| map_error(Operation::Get, f))?;
        let result = db
            .timed(async {
                let statement = client.prepare_cached(&shared.sql.get).await?;
                let row = client
                    .query_opt(&statement, &[&&*self.namespace_arc, &key.as_str()])
                    .await?;
                row.map(|row| row.try_get::<_, Vec<u8>>(0)).transpose()
            })
            .await;
        Db::settle(client, result).map_err(|f| map_error(Operation::Get, f))
    }

    /// `SELECT 1` on a pooled connection, under the operation timeout: it
    /// checks the pool and the server, and reads no table.
    async fn ping(&self) -> Result<Health> {
        let db = &self.shared.db;
        let client = db
            .client()
            .await
            .map_err(|f| map_error(Operation::Ping, f))?;
        let result = db.timed(client.simple_query("SELECT 1")).await;
        Db::settle(client, result).map_err(|f| map_error(Operation::Ping, f))?;
        Ok(Health::ok())
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        check_value_size(value, self.shared.options.max_value_size)
            .map_err(|err| Doing::Op(Operation::Set).context(err))?;
        let row = writer::Row::set(
            Arc::clone(&self.namespace_arc),
            key.as_str(),
            value,
            ttl.map(ttl_millis),
        );
        self.write(writer::Kind::Set, row).await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let row = writer::Row::delete(Arc::clone(&self.namespace_arc), key.as_str());
        self.write(writer::Kind::Delete, row).await
    }

    /// One `SELECT` of value, entry version and expiry; expiry is judged by
    /// the server's `now()` and returned as a UTC `SystemTime`.
    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        let shared = &*self.shared;
        let db = &shared.db;
        let client = db
            .client()
            .await
            .map_err(|f| map_error(Operation::GetEntry, f))?;
        let result = db
            .timed(async {
                let statement = client.prepare_cached(&shared.sql.get_entry).await?;
                let row = client
                    .query_opt(&statement, &[&&*self.namespace_arc, &key.as_str()])
                    .await?;
                row.as_ref().map(conditional::read_entry).transpose()
            })
            .await;
        let entry = Db::settle(client, result).map_err(|f| map_error(Operation::GetEntry, f))?;
        entry
            .transpose()
            .map_err(|err| Doing::Op(Operation::GetEntry).context(err))
    }

    /// One statement deciding on the server, through the key's writer lane
    /// (so it keeps its order with plain writes of the key); see
    /// `docs/backends/postgres.md`.
    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        check_value_size(value, self.shared.options.max_value_size)
            .map_err(|err| Doing::Op(Operation::SetIf).context(err))?;
        let row = writer::Row::set_if(
            Arc::clone(&self.namespace_arc),
            key.as_str(),
            value,
            ttl.map(ttl_millis),
            condition.clone(),
            new_version.clone(),
        );
        self.write(writer::Kind::SetIf, row).await
    }

    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        let row = writer::Row::delete_if(
            Arc::clone(&self.namespace_arc),
            key.as_str(),
            Condition::Matches(expected.clone()),
        );
        self.write(writer::Kind::DeleteIf, row).await
    }

    async fn clear(&self) -> Result<()> {
        let shared = &*self.shared;
        // Writes queued before this clear are applied first, so none of them
        // lands after it.
        tokio::time::timeout(self.write_deadline(), shared.writer.barrier())
            .await
            .map_err(|_| map_error(Operation::Clear, Failure::Elapsed(self.write_deadline())))??;
        let limit = i64::try_from(shared.options.clear_batch).unwrap_or(i64::MAX);
        loop {
            let client = shared
                .db
                .client()
                .await
                .map_err(|f| map_error(Operation::Clear, f))?;
            let result = shared
                .db
                .timed(async {
                    let statement = client.prepare_cached(&shared.sql.clear_batch).await?;
                    client
                        .execute(&statement, &[&&*self.namespace_arc, &limit])
                        .await
                })
                .await;
            let deleted = Db::settle(client, result).map_err(|f| map_error(Operation::Clear, f))?;
            if deleted < limit as u64 {
                return Ok(());
            }
        }
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn max_value_size(&self) -> usize {
        self.shared.options.max_value_size
    }

    fn capabilities(&self) -> Capabilities {
        // Listing and touch are not implemented natively yet (SPEC §9).
        Capabilities::all()
            .with_list(false, false)
            .with_touch(false)
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.shared.db.pool.status();
        f.debug_struct("PostgresStore")
            .field("target", &self.shared.target)
            .field("table", &self.shared.table)
            .field("namespace", &self.namespace)
            .field("pool_size", &status.size)
            .field("pool_max_size", &status.max_size)
            .finish_non_exhaustive()
    }
}
