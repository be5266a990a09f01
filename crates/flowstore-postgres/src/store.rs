//! The PostgreSQL store and its `Store` impl.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use flowstore_core::listing::{
    Cursor, ListItem, ListPage, Prefix, SetItem, check_batch_len, check_list_limit,
};
use flowstore_core::{
    Capabilities, Condition, Entry, Error, Health, Key, Namespace, Operation, Result, Store, Ttl,
    Version, async_trait, check_set_items, check_value_size,
};

use crate::builder::{Options, PostgresBuilder, Target};
use crate::conditional;
use crate::db::Db;
use crate::error::{Doing, Failure, map_error};
use crate::table::{KeyOrder, Sql, TableName};
use crate::writer::{self, Writer};
use crate::{schema, sweep};

#[cfg(test)]
mod plan_tests;

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
    /// How listing compares keys (see [`KeyOrder`]), found when the store opened.
    key_order: KeyOrder,
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
        let created = tokio::time::timeout(options.operation_timeout, async {
            schema::ensure(&mut client, &table, &sql).await?;
            schema::key_order(&client, &table).await
        })
        .await;
        let key_order = match created {
            Ok(result) => result?,
            Err(_) => {
                drop(deadpool_postgres::Object::take(client));
                return Err(map_error(
                    Doing::Open,
                    Failure::Elapsed(options.operation_timeout),
                ));
            }
        };
        drop(client);

        let writer = Writer::spawn(db.clone(), Arc::clone(&sql), &options);
        let shared = Arc::new(Shared {
            db,
            sql,
            options,
            key_order,
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

    /// Waits until the writes queued before this call are applied (as
    /// `clear` does), so that a batch sent outside the writer lanes never
    /// lands before an earlier write of one of its keys.
    async fn after_queued_writes(&self, operation: Operation) -> Result<()> {
        let deadline = self.write_deadline();
        tokio::time::timeout(deadline, self.shared.writer.barrier(operation))
            .await
            .map_err(|_| map_error(operation, Failure::Elapsed(deadline)))?
    }

    /// Runs `statement` on a pooled connection under the operation timeout.
    async fn run<T>(
        &self,
        operation: Operation,
        statement: impl AsyncFnOnce(&deadpool_postgres::Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T> {
        let db = &self.shared.db;
        let client = db.client().await.map_err(|f| map_error(operation, f))?;
        let result = db.timed(statement(&client)).await;
        Db::settle(client, result).map_err(|f| map_error(operation, f))
    }

    async fn write(&self, kind: writer::Kind, row: writer::Row) -> Result<()> {
        self.shared
            .writer
            .write(kind, row, self.write_deadline())
            .await
    }
}

/// The tag of this store's listing cursors.
const CURSOR_TAG: &str = "pg";

/// The items of a batch with only the last write of each key, in the order of
/// those last writes.
fn last_of_each_key<'a, 'b>(items: &'b [SetItem<'a>]) -> Vec<&'b SetItem<'a>> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        last.insert(item.key.as_str(), i);
    }
    items
        .iter()
        .enumerate()
        .filter(|(i, item)| last.get(item.key.as_str()) == Some(i))
        .map(|(_, item)| item)
        .collect()
}

/// Consecutive runs of `items` whose values add up to at most `max_bytes`
/// (at least one item each).
fn chunk_by_bytes<'a, 'b>(
    items: &[&'b SetItem<'a>],
    max_bytes: usize,
) -> Vec<Vec<&'b SetItem<'a>>> {
    let mut chunks: Vec<Vec<&SetItem<'a>>> = Vec::new();
    let mut bytes = 0usize;
    for &item in items {
        let len = item.value.len();
        match chunks.last_mut() {
            Some(chunk) if bytes.saturating_add(len) <= max_bytes => {
                chunk.push(item);
                bytes += len;
            }
            _ => {
                chunks.push(vec![item]);
                bytes = len;
            }
        }
    }
    chunks
}

/// The parameters of one `upsert_many` statement: one array per column.
struct UpsertChunk<'a> {
    namespaces: Vec<&'a str>,
    keys: Vec<&'a str>,
    values: Vec<&'a [u8]>,
    ttls: Vec<Option<i64>>,
    versions: Vec<String>,
}

impl<'a> UpsertChunk<'a> {
    fn new(namespace: &'a str, items: Vec<&'a SetItem<'a>>) -> UpsertChunk<'a> {
        UpsertChunk {
            namespaces: vec![namespace; items.len()],
            keys: items.iter().map(|item| item.key.as_str()).collect(),
            values: items.iter().map(|item| item.value).collect(),
            ttls: items.iter().map(|item| item.ttl.map(ttl_millis)).collect(),
            // A fresh version for every row written (SPEC §8).
            versions: items
                .iter()
                .map(|_| Version::generate().as_str().to_string())
                .collect(),
        }
    }

    async fn send(
        &self,
        client: &deadpool_postgres::Client,
        statement: &tokio_postgres::Statement,
    ) -> Result<u64, tokio_postgres::Error> {
        client
            .execute(
                statement,
                &[
                    &self.namespaces,
                    &self.keys,
                    &self.values,
                    &self.ttls,
                    &self.versions,
                ],
            )
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
        tokio::time::timeout(
            self.write_deadline(),
            shared.writer.barrier(Operation::Clear),
        )
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

    /// A keyset page: a range scan of the primary key `(namespace, key)` from
    /// the prefix (or strictly after the cursor's key), in byte order.
    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        let context = |err| Doing::Op(Operation::List).context(err);
        check_list_limit(limit).map_err(context)?;
        let after = cursor
            .map(|cursor| {
                let position = cursor.position_in(CURSOR_TAG, &self.namespace, prefix)?;
                String::from_utf8(position).map_err(|_| {
                    Error::invalid_argument("this listing cursor was not made by this store")
                })
            })
            .transpose()
            .map_err(context)?;
        let upper = prefix.upper_bound();
        // Resume strictly after the cursor's key, unless it sorts before the
        // prefix (a cursor of another listing): then from the prefix.
        let (lower, strict) = match after {
            Some(after) if after.as_bytes() >= prefix.as_str().as_bytes() => (after, true),
            _ => (prefix.as_str().to_string(), false),
        };
        let sql = self
            .shared
            .sql
            .list(self.shared.key_order, strict, upper.is_some());
        // One row more than the page, so that a cursor follows only when more
        // keys do.
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let namespace = &*self.namespace_arc;
        let rows = self
            .run(Operation::List, async |client| {
                let statement = client.prepare_cached(&sql).await?;
                let rows = match &upper {
                    Some(upper) => {
                        client
                            .query(&statement, &[&namespace, &lower, &fetch, upper])
                            .await?
                    }
                    None => {
                        client
                            .query(&statement, &[&namespace, &lower, &fetch])
                            .await?
                    }
                };
                rows.iter()
                    .map(|row| {
                        Ok((
                            row.try_get::<_, String>(0)?,
                            row.try_get::<_, String>(1)?,
                            row.try_get::<_, Option<std::time::SystemTime>>(2)?,
                            row.try_get::<_, i32>(3)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            })
            .await?;
        let more = rows.len() > limit;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        for (key, version, expires_at, size) in rows.into_iter().take(limit) {
            let key = Key::new(key)
                .map_err(|_| context(Error::corrupt("a stored key breaks the key rules")))?;
            let version = Version::from_stored(version).map_err(context)?;
            let size = u64::try_from(size)
                .map_err(|_| context(Error::corrupt("a stored size is negative")))?;
            items.push(ListItem::new(key, Some(version), expires_at, size));
        }
        let next = match items.last() {
            Some(last) if more => {
                let position = last.key.as_str().as_bytes();
                let cursor = Cursor::for_listing(CURSOR_TAG, &self.namespace, prefix, position);
                Some(cursor.map_err(context)?)
            }
            _ => None,
        };
        Ok(ListPage::new(items, next))
    }

    /// Range deletes of at most `clear_batch_size` rows each, after the
    /// writes queued before; counts the unexpired rows removed.
    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        let operation = Operation::DeletePrefix;
        self.after_queued_writes(operation).await?;
        let shared = &*self.shared;
        let upper = prefix.upper_bound();
        let sql = shared
            .sql
            .delete_prefix_batch(shared.key_order, upper.is_some());
        let limit = i64::try_from(shared.options.clear_batch).unwrap_or(i64::MAX);
        let (namespace, lower) = (&*self.namespace_arc, prefix.as_str());
        let mut live_deleted = 0u64;
        loop {
            let (deleted, live) = self
                .run(operation, async |client| {
                    let statement = client.prepare_cached(&sql).await?;
                    let row = match &upper {
                        Some(upper) => {
                            client
                                .query_one(&statement, &[&namespace, &lower, &limit, upper])
                                .await?
                        }
                        None => {
                            client
                                .query_one(&statement, &[&namespace, &lower, &limit])
                                .await?
                        }
                    };
                    Ok((row.try_get::<_, i64>(0)?, row.try_get::<_, i64>(1)?))
                })
                .await?;
            live_deleted += u64::try_from(live).unwrap_or(0);
            if deleted < limit {
                return Ok(live_deleted);
            }
        }
    }

    /// One `SELECT … key = ANY($2)`, mapped back to the request order.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        let operation = Operation::GetMany;
        check_batch_len(keys.len()).map_err(|err| Doing::Op(operation).context(err))?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = keys.iter().map(Key::as_str).collect();
        let namespace = &*self.namespace_arc;
        let sql = &self.shared.sql.get_many;
        let found = self
            .run(operation, async |client| {
                let statement = client.prepare_cached(sql).await?;
                client
                    .query(&statement, &[&namespace, &names])
                    .await?
                    .iter()
                    .map(|row| Ok((row.try_get::<_, String>(0)?, row.try_get::<_, Vec<u8>>(1)?)))
                    .collect::<Result<HashMap<String, Vec<u8>>, tokio_postgres::Error>>()
            })
            .await?;
        Ok(keys
            .iter()
            .map(|key| found.get(key.as_str()).cloned())
            .collect())
    }

    /// One multi-row upsert (`INSERT … SELECT FROM unnest(…) ON CONFLICT`):
    /// atomic as a whole. Of a key written twice only the last item is sent,
    /// as `ON CONFLICT` may not change a row twice in one statement. A batch
    /// whose values add up to more than `max_batch_bytes` is sent as several
    /// such statements in one transaction (still atomic), so that no array
    /// parameter nears PostgreSQL's 1 GB limit for one value.
    async fn set_many(&self, items: &[SetItem<'_>]) -> Result<()> {
        let operation = Operation::SetMany;
        check_set_items(
            self.shared.options.max_value_size,
            self.capabilities(),
            items,
        )
        .map_err(|err| Doing::Op(operation).context(err))?;
        if items.is_empty() {
            return Ok(());
        }
        let items = last_of_each_key(items);
        let chunks: Vec<UpsertChunk<'_>> =
            chunk_by_bytes(&items, self.shared.options.max_batch_bytes)
                .into_iter()
                .map(|chunk| UpsertChunk::new(&self.namespace_arc, chunk))
                .collect();
        self.after_queued_writes(operation).await?;
        let sql = &self.shared.sql.upsert_many;
        self.run(operation, async |client| {
            let statement = client.prepare_cached(sql).await?;
            if let [chunk] = chunks.as_slice() {
                return chunk.send(client, &statement).await;
            }
            client.batch_execute("BEGIN").await?;
            for chunk in &chunks {
                if let Err(err) = chunk.send(client, &statement).await {
                    // The connection goes back to the pool: leave no
                    // transaction open on it. (A timeout discards it instead.)
                    let _ = client.batch_execute("ROLLBACK").await;
                    return Err(err);
                }
            }
            client.batch_execute("COMMIT").await.map(|()| 0)
        })
        .await
        .map(drop)
    }

    /// One `DELETE … key = ANY($2)`, after the writes queued before.
    async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        let operation = Operation::DeleteMany;
        check_batch_len(keys.len()).map_err(|err| Doing::Op(operation).context(err))?;
        if keys.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = keys.iter().map(Key::as_str).collect();
        self.after_queued_writes(operation).await?;
        let namespace = &*self.namespace_arc;
        let sql = &self.shared.sql.delete_keys;
        self.run(operation, async |client| {
            let statement = client.prepare_cached(sql).await?;
            client.execute(&statement, &[&namespace, &names]).await
        })
        .await
        .map(drop)
    }

    /// One `UPDATE` of expiry and version on an unexpired row (by the
    /// server's clock), after the writes queued before.
    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        let operation = Operation::Touch;
        self.after_queued_writes(operation).await?;
        let (namespace, key) = (&*self.namespace_arc, key.as_str());
        let ttl = ttl.map(ttl_millis);
        let version = Version::generate();
        let sql = &self.shared.sql.touch;
        let changed = self
            .run(operation, async |client| {
                let statement = client.prepare_cached(sql).await?;
                client
                    .execute(&statement, &[&namespace, &key, &ttl, &version.as_str()])
                    .await
            })
            .await?;
        Ok(changed > 0)
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn max_value_size(&self) -> usize {
        self.shared.options.max_value_size
    }

    /// Everything: TTL, `clear`, entry versions, ordered listing and touch.
    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
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
