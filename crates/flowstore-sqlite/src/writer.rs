//! The writer thread: one connection, group commit, the TTL sweep.
//!
//! Every write of a store family (a store and its `with_namespace` handles) goes
//! through one queue to one thread. The thread blocks for the first request,
//! takes everything else queued (up to [`MAX_BATCH`]), applies it all in one
//! `BEGIN IMMEDIATE` transaction, commits (one fsync under `synchronous=FULL`),
//! and only then answers each caller. While it commits, new requests queue up
//! and form the next batch, so under load many writes share one fsync.
//!
//! Conditional writes (`set_if`, `delete_if`) are requests like the others: the
//! writer reads the key's version and decides inside the batch's transaction,
//! which holds the file's write lock, so the decision is atomic even with other
//! processes writing the file. A failed condition answers its own caller with
//! `Conflict` and the rest of the batch commits.
//!
//! It also keeps the write-ahead log bounded: `journal_size_limit` cuts the log
//! back whenever SQLite reuses it, and after a `clear` (whose one transaction
//! writes every page it empties to the log) the writer checkpoints and
//! truncates the log before answering.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flowstore_core::listing::Prefix;
use flowstore_core::version::{decide_delete, decide_write};
use flowstore_core::{Condition, Error, Key, Namespace, Result, Version};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::Synchronous;
use crate::error::{BACKEND, map_error};
use crate::queue::{Popped, Queue};
use crate::raw;

/// The most writes committed in one transaction. Large enough that a batch is
/// bounded by the number of concurrent callers in practice, small enough that a
/// burst cannot hold the write lock for long.
pub(crate) const MAX_BATCH: usize = 512;

/// The most expired entries one sweep deletes, so a sweep never holds the write
/// lock for long.
const SWEEP_BATCH: i64 = 256;

/// The longest [`Writer::fill_batch`] waits for more requests.
const MAX_FILL_WAIT: Duration = Duration::from_millis(2);

/// How long the truncating checkpoint after a `clear` waits for other
/// connections (readers of an old snapshot, writers in other processes). It
/// holds the write lock while it waits, so it gives up early; the log is then
/// cut back by `journal_size_limit` the next time SQLite reuses it.
const TRUNCATE_BUSY_TIMEOUT: Duration = Duration::from_millis(100);

/// One write.
#[derive(Debug)]
pub(crate) enum WriteOp {
    /// A plain `set`: written whatever the key holds, at `version`.
    Set {
        key: Key,
        value: Vec<u8>,
        /// Milliseconds since the Unix epoch; `None` never expires.
        expires_at: Option<i64>,
        version: Version,
    },
    /// A conditional write (`set_if`), decided against the key's current
    /// version inside the batch's transaction.
    SetIf {
        key: Key,
        value: Vec<u8>,
        expires_at: Option<i64>,
        condition: Condition,
        version: Version,
    },
    Delete {
        key: Key,
    },
    /// A conditional delete (`delete_if`): only at version `expected`.
    DeleteIf {
        key: Key,
        expected: Version,
    },
    Clear,
    /// A `set_many`: every item in one savepoint, so the batch is written
    /// whole or not at all; of a key written twice the last item stays.
    SetMany {
        items: Vec<BatchItem>,
    },
    /// A `delete_many`: one statement.
    DeleteMany {
        keys: Vec<Key>,
    },
    /// A `delete_prefix`: answers how many unexpired entries went.
    DeletePrefix {
        prefix: Prefix,
    },
    /// A `touch`: a new expiry and version for an unexpired entry; answers 1
    /// if there was one, 0 if not.
    Touch {
        key: Key,
        expires_at: Option<i64>,
        version: Version,
    },
}

/// One write of a [`WriteOp::SetMany`].
pub(crate) struct BatchItem {
    pub(crate) key: Key,
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) version: Version,
}

/// The value's length, never its bytes.
impl std::fmt::Debug for BatchItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchItem")
            .field("key", &self.key)
            .field("value_len", &self.value.len())
            .field("expires_at", &self.expires_at)
            .field("version", &self.version)
            .finish()
    }
}

/// One write and where to send its outcome.
#[derive(Debug)]
pub(crate) struct WriteRequest {
    pub(crate) namespace: Arc<Namespace>,
    pub(crate) op: WriteOp,
    /// The outcome: a count for the operations that answer one
    /// (`delete_prefix`, `touch`), 0 for the others.
    pub(crate) reply: oneshot::Sender<Result<u64>>,
}

#[derive(Debug, Clone)]
pub(crate) struct WriterConfig {
    pub(crate) path: PathBuf,
    pub(crate) synchronous: Synchronous,
    pub(crate) busy_timeout: Duration,
    pub(crate) sweep_interval: Duration,
    pub(crate) wal_size_limit: u64,
}

/// Milliseconds since the Unix epoch by the local clock.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// Closes a queue (and drops what is left in it) when its thread ends, however
/// it ends, so callers never wait for an answer that cannot come.
pub(crate) struct CloseOnExit<T>(pub(crate) Arc<Queue<T>>);

impl<T> Drop for CloseOnExit<T> {
    fn drop(&mut self) {
        self.0.close_and_discard();
    }
}

/// Starts the writer thread. It opens and prepares the file, reports the outcome
/// on `ready`, then serves `queue` until it is closed, and closes its
/// connection as it ends.
pub(crate) fn spawn(
    config: WriterConfig,
    queue: Arc<Queue<WriteRequest>>,
    ready: oneshot::Sender<Result<()>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("flowstore-sqlite-writer".into())
        .spawn(move || {
            let _close = CloseOnExit(queue.clone());
            let conn = match open(&config) {
                Ok(conn) => conn,
                Err(err) => {
                    let _ = ready.send(Err(err));
                    return;
                }
            };
            if ready.send(Ok(())).is_err() {
                return;
            }
            Writer {
                conn,
                queue,
                wal_path: wal_path(&config.path),
                wal_size_limit: config.wal_size_limit,
                busy_timeout: config.busy_timeout,
                sweep_interval: config.sweep_interval,
                next_sweep: Instant::now() + config.sweep_interval,
                batch: Vec::with_capacity(MAX_BATCH),
                outcomes: Vec::with_capacity(MAX_BATCH),
                expected: 1,
                last_commit: Duration::ZERO,
            }
            .run();
        })
}

/// The write-ahead log beside the database: its name plus `-wal`.
fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

fn open(config: &WriterConfig) -> Result<Connection> {
    let conn = raw::open_plain(&config.path, config.busy_timeout)
        .map_err(|err| map_error(&err, "cannot open the database"))?;
    raw::prepare(&conn, config.synchronous, config.busy_timeout).map_err(|err| match err {
        raw::SetupError::Sqlite(err) => map_error(&err, "cannot set up the database"),
        other => Error::config(other.describe()).with_backend(BACKEND),
    })?;
    raw::limit_wal(&conn, config.wal_size_limit)
        .map_err(|err| map_error(&err, "cannot set up the database"))?;
    #[cfg(test)]
    crate::disk_full_tests::apply_max_page_count(&conn, &config.path);
    Ok(conn)
}

struct Writer {
    conn: Connection,
    queue: Arc<Queue<WriteRequest>>,
    wal_path: PathBuf,
    wal_size_limit: u64,
    busy_timeout: Duration,
    sweep_interval: Duration,
    next_sweep: Instant,
    batch: Vec<WriteRequest>,
    /// The outcome of each request of the batch, by position.
    outcomes: Vec<Result<u64>>,
    /// How many requests were in flight when the last batch committed.
    expected: usize,
    /// How long the last batch took, from `BEGIN` to the end of `COMMIT`.
    last_commit: Duration,
}

impl Writer {
    fn run(mut self) {
        loop {
            match self
                .queue
                .pop_batch(&mut self.batch, MAX_BATCH, 1, Some(self.next_sweep))
            {
                Popped::Items => {
                    self.fill_batch();
                    let started = Instant::now();
                    self.commit_batch();
                    self.last_commit = started.elapsed();
                }
                Popped::TimedOut => {
                    self.expected = 1;
                    self.sweep_while_idle();
                }
                Popped::Closed => return,
            }
        }
    }

    /// Waits a little for the callers of the last batch to come back, so that
    /// a batch is not cut in two just because its first requests arrived while
    /// the previous batch was being answered. It waits until as many requests
    /// are queued as were in flight when the last batch committed, for at most
    /// half of that commit's time (so the wait costs less than the extra commit
    /// it saves) and never more than [`MAX_FILL_WAIT`]. With one caller (one
    /// request in flight) it never waits.
    fn fill_batch(&mut self) {
        let target = self.expected.min(MAX_BATCH);
        if self.batch.len() >= target {
            return;
        }
        let wait = (self.last_commit / 2).min(MAX_FILL_WAIT);
        if wait.is_zero() {
            return;
        }
        let missing = target - self.batch.len();
        let room = MAX_BATCH - self.batch.len();
        self.queue
            .pop_batch(&mut self.batch, room, missing, Some(Instant::now() + wait));
    }

    /// Applies the whole batch in one transaction, commits, answers everyone.
    fn commit_batch(&mut self) {
        self.outcomes.clear();
        if let Err(err) = self
            .conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut begin| begin.execute([]))
        {
            self.fail_all(&err, "cannot start a write transaction");
            return;
        }
        let now = Instant::now();
        let mut rolled_back = None;
        for request in &self.batch {
            match apply(&self.conn, request) {
                Ok(count) => self.outcomes.push(Ok(count)),
                // A failed condition or an unreadable stored version: this
                // request wrote nothing; the rest of the batch goes on.
                Err(Failure::Refused(err)) => self.outcomes.push(Err(err)),
                Err(Failure::Sqlite(err)) if self.conn.is_autocommit() => {
                    // SQLite rolled the whole transaction back (disk full, I/O
                    // error): nothing of this batch was written.
                    rolled_back = Some(err);
                    break;
                }
                // Only this statement failed; the rest of the batch goes on.
                Err(Failure::Sqlite(err)) => {
                    self.outcomes.push(Err(map_error(&err, "cannot write")))
                }
            }
        }
        if let Some(err) = rolled_back {
            self.fail_all(&err, "cannot write");
            return;
        }
        if now >= self.next_sweep {
            // Under steady load the writer is never idle: sweep a little here.
            match sweep(&self.conn) {
                Err(err) if self.conn.is_autocommit() => {
                    self.fail_all(&err, "cannot write");
                    return;
                }
                swept => self.schedule_sweep(swept.ok()),
            }
        }
        if let Err(err) = self
            .conn
            .prepare_cached("COMMIT")
            .and_then(|mut commit| commit.execute([]))
        {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            self.fail_all(&err, "cannot commit");
            return;
        }
        if self
            .batch
            .iter()
            .any(|request| matches!(request.op, WriteOp::Clear | WriteOp::DeletePrefix { .. }))
        {
            // Before answering, so that a `clear` that returned left a bounded log.
            self.bound_wal();
        }
        // Every caller in flight right now: the next batch waits for this many.
        self.expected = self.batch.len() + self.queue.len();
        for (request, outcome) in self.batch.drain(..).zip(self.outcomes.drain(..)) {
            // A caller that went away (its future was dropped) just misses the answer.
            let _ = request.reply.send(outcome);
        }
    }

    /// Brings the write-ahead log back under its limit after a large delete
    /// (a committed `clear`), in two steps so that writers in other processes
    /// are held up only briefly. A `PASSIVE` checkpoint first copies the log
    /// into the database (the long part) without taking the write lock; a
    /// `TRUNCATE` checkpoint then copies what was written meanwhile and empties
    /// the file, waiting at most [`TRUNCATE_BUSY_TIMEOUT`] for other
    /// connections. Failures change nothing the caller asked for (the clear is
    /// committed), so they are not reported: the log is then cut back at its
    /// next reuse by `journal_size_limit`.
    fn bound_wal(&mut self) {
        let size = std::fs::metadata(&self.wal_path).map_or(0, |meta| meta.len());
        if size <= self.wal_size_limit {
            return;
        }
        let _ = checkpoint(&self.conn, "PASSIVE");
        if self.conn.busy_timeout(TRUNCATE_BUSY_TIMEOUT).is_ok() {
            let _ = checkpoint(&self.conn, "TRUNCATE");
            let _ = self.conn.busy_timeout(self.busy_timeout);
        }
    }

    /// Answers every request of the batch with `err`: nothing was written.
    fn fail_all(&mut self, err: &rusqlite::Error, what: &str) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        for request in self.batch.drain(..) {
            let _ = request.reply.send(Err(map_error(err, what)));
        }
        self.outcomes.clear();
    }

    /// Deletes expired entries when nothing else is queued. Looks first (no
    /// lock, no fsync) and only opens a write transaction if there is work.
    fn sweep_while_idle(&mut self) {
        let now = now_millis();
        let any = self
            .conn
            .prepare_cached(raw::ANY_EXPIRED)
            .and_then(|mut stmt| stmt.query_row([now], |_| Ok(())).optional());
        if !matches!(any, Ok(Some(()))) {
            self.schedule_sweep(Some(0));
            return;
        }
        let result = self
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .and_then(|()| sweep(&self.conn))
            .and_then(|deleted| self.conn.execute_batch("COMMIT").map(|()| deleted));
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        // An error (say, another process holding the lock) is retried next time.
        self.schedule_sweep(result.ok());
    }

    /// Sweeps again soon if the last sweep was cut short by its batch limit.
    fn schedule_sweep(&mut self, deleted: Option<usize>) {
        let now = Instant::now();
        self.next_sweep = match deleted {
            Some(n) if n as i64 >= SWEEP_BATCH && self.queue.is_empty() => now,
            Some(n) if n as i64 >= SWEEP_BATCH => now + Duration::from_millis(10),
            _ => now + self.sweep_interval,
        };
    }
}

/// Why one request of a batch was not applied.
enum Failure {
    /// An SQLite error: the statement failed, or SQLite rolled back the whole
    /// transaction (the caller tells which).
    Sqlite(rusqlite::Error),
    /// The store's own refusal (a failed condition, a stored version that is
    /// not valid): nothing of this request was written, the transaction goes on.
    Refused(Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(err: rusqlite::Error) -> Self {
        Failure::Sqlite(err)
    }
}

fn apply(conn: &Connection, request: &WriteRequest) -> Result<u64, Failure> {
    let namespace = request.namespace.as_str();
    match &request.op {
        WriteOp::SetMany { items } => return set_many(conn, namespace, items),
        WriteOp::DeleteMany { keys } => {
            conn.prepare_cached(raw::DELETE_MANY)?
                .execute(params![namespace, crate::reader::keys_json(keys)])?;
        }
        WriteOp::DeletePrefix { prefix } => return delete_prefix(conn, namespace, prefix),
        WriteOp::Touch {
            key,
            expires_at,
            version,
        } => {
            let changed = conn.prepare_cached(raw::TOUCH)?.execute(params![
                namespace,
                key.as_str(),
                expires_at,
                version.as_str(),
                now_millis()
            ])?;
            return Ok(changed as u64);
        }
        WriteOp::Set {
            key,
            value,
            expires_at,
            version,
        } => upsert(conn, namespace, key, value, *expires_at, version)?,
        WriteOp::SetIf {
            key,
            value,
            expires_at,
            condition,
            version,
        } => {
            // Read and written in the batch's `BEGIN IMMEDIATE` transaction,
            // which holds the file's write lock: no other writer, in this
            // process or another, can change the key in between.
            let current = current_version(conn, namespace, key)?;
            if decide_write(condition, version, current.as_ref()).map_err(Failure::Refused)? {
                upsert(conn, namespace, key, value, *expires_at, version)?;
            }
        }
        WriteOp::Delete { key } => {
            conn.prepare_cached(raw::DELETE)?
                .execute(params![namespace, key.as_str()])?;
        }
        WriteOp::DeleteIf { key, expected } => {
            let current = current_version(conn, namespace, key)?;
            decide_delete(expected, current.as_ref()).map_err(Failure::Refused)?;
            conn.prepare_cached(raw::DELETE)?
                .execute(params![namespace, key.as_str()])?;
        }
        WriteOp::Clear => {
            conn.prepare_cached(raw::CLEAR)?
                .execute(params![namespace])?;
        }
    }
    Ok(0)
}

/// Writes every item inside a savepoint of the batch's transaction: if one
/// fails, the savepoint is rolled back and none of them stays, while the other
/// requests of the group commit go on.
fn set_many(conn: &Connection, namespace: &str, items: &[BatchItem]) -> Result<u64, Failure> {
    conn.prepare_cached("SAVEPOINT flowstore_set_many")?
        .execute([])?;
    let written = items.iter().try_for_each(|item| {
        upsert(
            conn,
            namespace,
            &item.key,
            &item.value,
            item.expires_at,
            &item.version,
        )
    });
    match written {
        Ok(()) => {
            conn.prepare_cached("RELEASE flowstore_set_many")?
                .execute([])?;
            Ok(0)
        }
        Err(err) => {
            // Unless SQLite already rolled the whole transaction back (then
            // the caller fails the batch).
            if !conn.is_autocommit() {
                let _ = conn
                    .execute_batch("ROLLBACK TO flowstore_set_many; RELEASE flowstore_set_many");
            }
            Err(Failure::Sqlite(err))
        }
    }
}

/// Counts the prefix's unexpired entries, then deletes every entry of the
/// prefix; both in the batch's transaction, which holds the write lock, so
/// the count is of exactly the rows that went.
fn delete_prefix(conn: &Connection, namespace: &str, prefix: &Prefix) -> Result<u64, Failure> {
    let now = now_millis();
    let (live, _deleted) = match prefix.upper_bound() {
        Some(upper) => (
            conn.prepare_cached(&raw::count_prefix_sql(true))?
                .query_row(params![namespace, prefix.as_str(), now, upper], |row| {
                    row.get::<_, i64>(0)
                })?,
            conn.prepare_cached(&raw::delete_prefix_sql(true))?
                .execute(params![namespace, prefix.as_str(), upper])?,
        ),
        None => (
            conn.prepare_cached(&raw::count_prefix_sql(false))?
                .query_row(params![namespace, prefix.as_str(), now], |row| {
                    row.get::<_, i64>(0)
                })?,
            conn.prepare_cached(&raw::delete_prefix_sql(false))?
                .execute(params![namespace, prefix.as_str()])?,
        ),
    };
    Ok(u64::try_from(live).unwrap_or(0))
}

fn upsert(
    conn: &Connection,
    namespace: &str,
    key: &Key,
    value: &[u8],
    expires_at: Option<i64>,
    version: &Version,
) -> rusqlite::Result<()> {
    conn.prepare_cached(raw::UPSERT)?.execute(params![
        namespace,
        key.as_str(),
        value,
        expires_at,
        version.as_str()
    ])?;
    Ok(())
}

/// The version of the key's unexpired entry, `None` if it is absent or expired
/// (by this process's clock, as for reads).
fn current_version(
    conn: &Connection,
    namespace: &str,
    key: &Key,
) -> Result<Option<Version>, Failure> {
    let text: Option<String> = conn
        .prepare_cached(raw::SELECT_VERSION)?
        .query_row(params![namespace, key.as_str(), now_millis()], |row| {
            row.get(0)
        })
        .optional()?;
    text.map(stored_version)
        .transpose()
        .map_err(Failure::Refused)
}

/// A version read from the file. One that breaks the version rules was not
/// written by flowstore: `Corrupt` (never "absent", never a guess).
pub(crate) fn stored_version(text: String) -> Result<Version> {
    Version::from_stored(text).map_err(|err| err.with_backend(BACKEND))
}

/// Runs `PRAGMA wal_checkpoint(mode)`. SQLite answers with a row (busy flag,
/// log frames, frames checkpointed) rather than an error when it is blocked.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<()> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
}

/// Deletes up to [`SWEEP_BATCH`] expired entries; returns how many.
fn sweep(conn: &Connection) -> rusqlite::Result<usize> {
    conn.prepare_cached(raw::SWEEP)?
        .execute(params![now_millis(), SWEEP_BATCH])
}
