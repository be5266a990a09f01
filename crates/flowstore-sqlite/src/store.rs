//! The SQLite store and its `Store` impl.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flowstore_core::listing::{
    Cursor, ListPage, Prefix, SetItem, check_batch_len, check_list_limit,
};
use flowstore_core::{
    Capabilities, Condition, Entry, Error, Health, Key, Namespace, Operation, Result, Store, Ttl,
    Version, async_trait, check_set_items, check_value_size,
};
use tokio::sync::oneshot;

use crate::builder::{SqliteBuilder, Synchronous};
use crate::error::{BACKEND, in_op};
use crate::queue::Queue;
use crate::reader::{self, Read, ReadRequest};
use crate::writer::{self, BatchItem, WriteOp, WriteRequest};

/// A store in one SQLite file.
///
/// Cloning, and [`with_namespace`](SqliteStore::with_namespace), give more handles
/// on the same writer thread, reader threads and file. Dropping the last handle
/// stops the threads: it waits (blocking the current thread) until they have
/// finished what was queued and closed their connections, so that SQLite
/// checkpoints the write-ahead log into the database and removes the `-wal`
/// file (unless another process still has the database open). That usually
/// takes milliseconds; drop the store before the process exits (a
/// `std::process::exit` skips it).
#[derive(Clone)]
pub struct SqliteStore {
    namespace: Arc<Namespace>,
    shared: Arc<Shared>,
}

/// What every handle of a store family shares.
struct Shared {
    path: PathBuf,
    synchronous: Synchronous,
    max_value_size: usize,
    writes: Arc<Queue<WriteRequest>>,
    reads: Arc<Queue<ReadRequest>>,
    threads: Mutex<Threads>,
}

/// The store's threads, joined when the last handle goes.
#[derive(Default)]
struct Threads {
    writer: Option<JoinHandle<()>>,
    readers: Vec<JoinHandle<()>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The threads finish what is queued, then exit and close their
        // connections. Waiting for that is what lets SQLite checkpoint and remove
        // the log before a process that drops its store exits. The readers go
        // first so that the writer's connection, the one that writes, is the
        // last to close and does the checkpoint.
        let threads = std::mem::take(
            self.threads
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        self.reads.close();
        for reader in threads.readers {
            join(reader);
        }
        self.writes.close();
        if let Some(writer) = threads.writer {
            join(writer);
        }
    }
}

/// Waits for one of the store's threads to end. A thread that panicked has
/// already failed its callers; nothing more to report here.
fn join(thread: JoinHandle<()>) {
    // Never the case today (no store handle lives on its own threads), but
    // joining oneself would deadlock.
    if thread.thread().id() != std::thread::current().id() {
        let _ = thread.join();
    }
}

impl SqliteStore {
    /// Options for a store on the file at `path` (created if missing; a relative
    /// path is resolved against the working directory when the store opens).
    pub fn builder(path: impl Into<PathBuf>) -> SqliteBuilder {
        SqliteBuilder::new(path.into())
    }

    /// Opens the file at `path` with the default options: namespace `flow`,
    /// `synchronous=FULL`, a 5 s busy timeout, a 16 MiB value limit.
    pub async fn open(path: impl Into<PathBuf>) -> Result<SqliteStore> {
        SqliteStore::builder(path).open().await
    }

    /// A handle on the same file, threads and connections, in `namespace`.
    pub fn with_namespace(&self, namespace: Namespace) -> SqliteStore {
        SqliteStore {
            namespace: Arc::new(namespace),
            shared: self.shared.clone(),
        }
    }

    /// The database file (absolute).
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The durability mode.
    pub fn synchronous(&self) -> Synchronous {
        self.shared.synchronous
    }

    pub(crate) async fn open_with(builder: SqliteBuilder) -> Result<SqliteStore> {
        SqliteStore::start(builder)
            .await
            .map_err(|err| err.with_backend(BACKEND))
    }

    async fn start(builder: SqliteBuilder) -> Result<SqliteStore> {
        if builder.path.as_os_str() == ":memory:" || builder.path.as_os_str().is_empty() {
            return Err(Error::config(
                "an SQLite store needs a file: an in-memory database cannot be shared by its connections",
            ));
        }
        let path = if builder.path.is_absolute() {
            builder.path.clone()
        } else {
            std::env::current_dir()
                .map_err(|err| {
                    Error::config("cannot resolve a relative SQLite path: no working directory")
                        .with_source(err)
                })?
                .join(&builder.path)
        };
        // Built first, so that an early return closes the queues and stops the
        // threads already started.
        let shared = Arc::new(Shared {
            path: path.clone(),
            synchronous: builder.synchronous,
            max_value_size: builder.max_value_size,
            writes: Arc::new(Queue::new()),
            reads: Arc::new(Queue::new()),
            threads: Mutex::new(Threads::default()),
        });
        let thread_error =
            |err: std::io::Error| Error::backend("cannot start an SQLite thread").with_source(err);

        // The writer creates the file and the schema before any reader opens it.
        let (ready, writer_ready) = oneshot::channel();
        let writer = writer::spawn(
            writer::WriterConfig {
                path: path.clone(),
                synchronous: builder.synchronous,
                busy_timeout: builder.busy_timeout,
                sweep_interval: builder.sweep_interval,
                wal_size_limit: builder.wal_size_limit,
            },
            shared.writes.clone(),
            ready,
        )
        .map_err(thread_error)?;
        shared.threads().writer = Some(writer);
        writer_ready.await.map_err(|_| stopped())??;

        let readers = reader::spawn(
            path,
            builder.busy_timeout,
            builder.wal_size_limit,
            builder.readers,
            shared.reads.clone(),
        )
        .map_err(thread_error)?;
        let mut ready = Vec::with_capacity(readers.len());
        for started in readers {
            shared.threads().readers.push(started.thread);
            ready.push(started.ready);
        }
        for ready in ready {
            ready.await.map_err(|_| stopped())??;
        }
        Ok(SqliteStore {
            namespace: Arc::new(builder.namespace),
            shared,
        })
    }

    /// Sends a read to the reader threads and waits for its answer; `read`
    /// makes the request around the channel the answer comes back on.
    async fn read<T>(&self, read: impl FnOnce(oneshot::Sender<Result<T>>) -> Read) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let request = ReadRequest {
            namespace: self.namespace.clone(),
            read: read(reply),
        };
        self.shared.reads.push(request).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The expiry of a write with `ttl`, in milliseconds since the Unix epoch
    /// by this process's clock.
    fn expires_at(ttl: Option<Ttl>) -> Option<i64> {
        ttl.map(|ttl| {
            writer::now_millis()
                .saturating_add(i64::try_from(ttl.as_millis_ceil()).unwrap_or(i64::MAX))
        })
    }

    async fn write_value(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        check_value_size(value, self.shared.max_value_size)?;
        self.write(WriteOp::Set {
            key: key.clone(),
            value: value.to_vec(),
            expires_at: SqliteStore::expires_at(ttl),
            // Every write changes the entry version (SPEC §8), plain ones too.
            version: Version::generate(),
        })
        .await
    }

    async fn write_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        check_value_size(value, self.shared.max_value_size)?;
        self.write(WriteOp::SetIf {
            key: key.clone(),
            value: value.to_vec(),
            expires_at: SqliteStore::expires_at(ttl),
            condition: condition.clone(),
            version: new_version.clone(),
        })
        .await
    }

    async fn write(&self, op: WriteOp) -> Result<()> {
        self.write_counted(op).await.map(drop)
    }

    /// A write whose answer is a count (0 for the plain writes).
    async fn write_counted(&self, op: WriteOp) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        let request = WriteRequest {
            namespace: self.namespace.clone(),
            op,
            reply,
        };
        self.shared.writes.push(request).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Shared {
    fn threads(&self) -> std::sync::MutexGuard<'_, Threads> {
        self.threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The threads are gone (a panic, or a failed start).
fn stopped() -> Error {
    Error::unavailable("the SQLite store's threads have stopped").with_temporary(false)
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let key = key.clone();
        self.read(|reply| Read::Value { key, reply })
            .await
            .map_err(in_op(Operation::Get))
    }

    /// A query of the schema table on a reader connection, through the same
    /// queue as `get`: it fails when the reader threads or the file do.
    async fn ping(&self) -> Result<Health> {
        self.read(|reply| Read::Probe { reply })
            .await
            .map_err(in_op(Operation::Ping))?;
        Ok(Health::ok())
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        self.write_value(key, value, ttl)
            .await
            .map_err(in_op(Operation::Set))
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.write(WriteOp::Delete { key: key.clone() })
            .await
            .map_err(in_op(Operation::Delete))
    }

    async fn clear(&self) -> Result<()> {
        self.write(WriteOp::Clear)
            .await
            .map_err(in_op(Operation::Clear))
    }

    /// On a reader thread, like `get`; `expires_at` is the stored expiry (the
    /// writing process's clock, UTC).
    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        let key = key.clone();
        self.read(|reply| Read::Entry { key, reply })
            .await
            .map_err(in_op(Operation::GetEntry))
    }

    /// Decided and applied by the writer thread inside its write transaction
    /// (which holds the file's write lock), in the same group commit as other
    /// writes: a failed condition fails this call alone.
    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        self.write_if(key, value, ttl, condition, new_version)
            .await
            .map_err(in_op(Operation::SetIf))
    }

    /// Decided and applied by the writer thread inside its write transaction,
    /// like [`set_if`](Store::set_if).
    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        self.write(WriteOp::DeleteIf {
            key: key.clone(),
            expected: expected.clone(),
        })
        .await
        .map_err(in_op(Operation::DeleteIf))
    }

    /// A range scan of the `(namespace, key)` index from the prefix (or the
    /// cursor's key) on a reader thread: keys in UTF-8 byte order, each once.
    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        let op = in_op(Operation::List);
        check_list_limit(limit).map_err(op)?;
        let after = cursor
            .map(|cursor| {
                let bytes = cursor.position_in(reader::CURSOR_TAG, &self.namespace, prefix)?;
                String::from_utf8(bytes).map_err(|_| {
                    Error::invalid_argument("this listing cursor was not made by this store")
                })
            })
            .transpose()
            .map_err(op)?;
        let listed = prefix.clone();
        let mut page = self
            .read(|reply| Read::List {
                prefix: listed,
                after,
                limit,
                reply,
            })
            .await
            .map_err(op)?;
        // The reader says whether more follow; the cursor names this listing.
        if let (Some(_), Some(last)) = (&page.next, page.items.last()) {
            let position = last.key.as_str().as_bytes();
            page.next = Some(
                Cursor::for_listing(reader::CURSOR_TAG, &self.namespace, prefix, position)
                    .map_err(op)?,
            );
        }
        Ok(page)
    }

    /// One range delete in the writer's transaction; the count is of the
    /// unexpired entries removed.
    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        self.write_counted(WriteOp::DeletePrefix {
            prefix: prefix.clone(),
        })
        .await
        .map_err(in_op(Operation::DeletePrefix))
    }

    /// One statement on a reader thread.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        let op = in_op(Operation::GetMany);
        check_batch_len(keys.len()).map_err(op)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.read(|reply| Read::Many { keys, reply })
            .await
            .map_err(op)
    }

    /// Atomic as a whole: every item in one savepoint of one writer
    /// transaction, so either all are written or none.
    async fn set_many(&self, items: &[SetItem<'_>]) -> Result<()> {
        let op = in_op(Operation::SetMany);
        check_set_items(self.shared.max_value_size, self.capabilities(), items).map_err(op)?;
        if items.is_empty() {
            return Ok(());
        }
        let items = items
            .iter()
            .map(|item| BatchItem {
                key: item.key.clone(),
                value: item.value.to_vec(),
                expires_at: SqliteStore::expires_at(item.ttl),
                version: Version::generate(),
            })
            .collect();
        self.write(WriteOp::SetMany { items }).await.map_err(op)
    }

    /// One statement in the writer's transaction.
    async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        let op = in_op(Operation::DeleteMany);
        check_batch_len(keys.len()).map_err(op)?;
        if keys.is_empty() {
            return Ok(());
        }
        self.write(WriteOp::DeleteMany {
            keys: keys.to_vec(),
        })
        .await
        .map_err(op)
    }

    /// One `UPDATE` of expiry and version in the writer's transaction.
    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        let touched = self
            .write_counted(WriteOp::Touch {
                key: key.clone(),
                expires_at: SqliteStore::expires_at(ttl),
                version: Version::generate(),
            })
            .await
            .map_err(in_op(Operation::Touch))?;
        Ok(touched > 0)
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn max_value_size(&self) -> usize {
        self.shared.max_value_size
    }

    /// Everything: TTL, `clear`, entry versions, ordered listing and touch.
    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .field("namespace", &self.namespace)
            .field("synchronous", &self.shared.synchronous)
            .field("max_value_size", &self.shared.max_value_size)
            .finish()
    }
}
