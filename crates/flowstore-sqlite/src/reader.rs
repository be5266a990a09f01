//! Reader threads: each owns a read connection and serves `get` from a shared
//! queue. In WAL mode a reader sees the last commit and never waits for the
//! writer (nor the writer for it).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, UNIX_EPOCH};

use flowstore_core::listing::{Cursor, ListItem, ListPage, Prefix};
use flowstore_core::{Entry, Error, Key, Namespace, Result};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::error::{BACKEND, map_error};
use crate::queue::{Popped, Queue};
use crate::raw;
use crate::writer::{now_millis, stored_version};

/// The most reads one thread takes from the queue at once (the rest are left for
/// the other readers).
const MAX_BATCH: usize = 16;

/// One read and where to send its outcome.
#[derive(Debug)]
pub(crate) struct ReadRequest {
    pub(crate) namespace: Arc<Namespace>,
    pub(crate) read: Read,
}

/// What to read, each with the channel its answer goes to.
#[derive(Debug)]
pub(crate) enum Read {
    /// A `get`: the value alone (the version and expiry are not read).
    Value {
        key: Key,
        reply: oneshot::Sender<Result<Option<Vec<u8>>>>,
    },
    /// A `get_entry`: value, version and expiry.
    Entry {
        key: Key,
        reply: oneshot::Sender<Result<Option<Entry>>>,
    },
    /// A page of `list`: up to `limit` keys that start with `prefix`, after
    /// the key `after` (from the caller's cursor) if any.
    List {
        prefix: Prefix,
        after: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Result<ListPage>>,
    },
    /// A `get_many`: the values of `keys`, in their order.
    Many {
        keys: Vec<Key>,
        reply: oneshot::Sender<Result<Vec<Option<Vec<u8>>>>>,
    },
    /// A health probe: reads the schema table (a few rows whatever users
    /// stored), no entry.
    Probe { reply: oneshot::Sender<Result<()>> },
}

/// Closes the queue when the last reader thread ends, so callers never wait for
/// an answer that cannot come.
struct LastOneCloses {
    queue: Arc<Queue<ReadRequest>>,
    alive: Arc<AtomicUsize>,
}

impl Drop for LastOneCloses {
    fn drop(&mut self) {
        if self.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.queue.close_and_discard();
        }
    }
}

/// A started reader thread and where it reports whether it could open its
/// connection.
pub(crate) struct Started {
    pub(crate) thread: JoinHandle<()>,
    pub(crate) ready: oneshot::Receiver<Result<()>>,
}

/// Starts `count` reader threads on `path`. Each closes its connection as it
/// ends (when the queue is closed).
pub(crate) fn spawn(
    path: PathBuf,
    busy_timeout: Duration,
    wal_size_limit: u64,
    count: usize,
    queue: Arc<Queue<ReadRequest>>,
) -> std::io::Result<Vec<Started>> {
    let alive = Arc::new(AtomicUsize::new(count));
    let mut ready = Vec::with_capacity(count);
    for i in 0..count {
        let (tx, rx) = oneshot::channel();
        let guard = LastOneCloses {
            queue: queue.clone(),
            alive: alive.clone(),
        };
        let path = path.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("flowstore-sqlite-reader-{i}"))
            .spawn(move || {
                let guard = guard;
                let conn = match open(&path, busy_timeout, wal_size_limit) {
                    Ok(conn) => conn,
                    Err(err) => {
                        let _ = tx.send(Err(err));
                        return;
                    }
                };
                if tx.send(Ok(())).is_ok() {
                    serve(&conn, &guard.queue);
                }
            });
        match spawned {
            Ok(thread) => ready.push(Started { thread, ready: rx }),
            Err(err) => {
                // The threads already started stop when the store's queues close.
                return Err(err);
            }
        }
    }
    Ok(ready)
}

fn open(path: &std::path::Path, busy_timeout: Duration, wal_size_limit: u64) -> Result<Connection> {
    let conn = raw::open_plain(path, busy_timeout)
        .map_err(|err| map_error(&err, "cannot open a read connection"))?;
    // The last connection to close checkpoints the log; a reader may be it.
    raw::limit_wal(&conn, wal_size_limit)
        .and_then(|()| conn.pragma_update(None, "query_only", true))
        .map_err(|err| map_error(&err, "cannot open a read connection"))?;
    Ok(conn)
}

fn serve(conn: &Connection, queue: &Queue<ReadRequest>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.pop_batch(&mut batch, MAX_BATCH, 1, None) == Popped::Items {
        let now = now_millis();
        for request in batch.drain(..) {
            let namespace = request.namespace.as_str();
            // A caller that went away (its future was dropped) just misses the answer.
            match request.read {
                Read::Value { key, reply } => {
                    let _ = reply.send(
                        read_value(conn, namespace, &key, now)
                            .map_err(|err| map_error(&err, "cannot read")),
                    );
                }
                Read::Entry { key, reply } => {
                    let _ = reply.send(read_entry(conn, namespace, &key, now));
                }
                Read::List {
                    prefix,
                    after,
                    limit,
                    reply,
                } => {
                    let _ = reply.send(list(conn, namespace, &prefix, after, limit, now));
                }
                Read::Many { keys, reply } => {
                    let _ = reply.send(
                        read_many(conn, namespace, &keys, now)
                            .map_err(|err| map_error(&err, "cannot read")),
                    );
                }
                Read::Probe { reply } => {
                    let _ = reply.send(probe(conn).map_err(|err| map_error(&err, "cannot read")));
                }
            }
        }
    }
}

fn read_value(
    conn: &Connection,
    namespace: &str,
    key: &Key,
    now: i64,
) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached(raw::SELECT)?
        .query_row(params![namespace, key.as_str(), now], |row| {
            row.get::<_, Vec<u8>>(0)
        })
        .optional()
}

fn read_entry(conn: &Connection, namespace: &str, key: &Key, now: i64) -> Result<Option<Entry>> {
    let row = conn
        .prepare_cached(raw::SELECT_ENTRY)
        .and_then(|mut stmt| {
            stmt.query_row(params![namespace, key.as_str(), now], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                ))
            })
            .optional()
        })
        .map_err(|err| map_error(&err, "cannot read"))?;
    let Some((value, version, expires_at)) = row else {
        return Ok(None);
    };
    let version = stored_version(version)?;
    // Unexpired, so after `now`: a positive number of milliseconds.
    let expires_at = stored_expiry(expires_at)?;
    Ok(Some(Entry::new(value, version, expires_at)))
}

/// The tag of this store's listing cursors.
pub(crate) const CURSOR_TAG: &str = "sqlite";

/// One page of a listing: `limit + 1` rows are read so that a page is followed
/// by a cursor only when more keys follow it (no empty last page).
fn list(
    conn: &Connection,
    namespace: &str,
    prefix: &Prefix,
    after: Option<String>,
    limit: usize,
    now: i64,
) -> Result<ListPage> {
    let upper = prefix.upper_bound();
    // Resume strictly after the cursor's key, unless that key sorts before the
    // prefix (a cursor of another listing): then the prefix is the start.
    let (lower, strict) = match after {
        Some(after) if after.as_str() >= prefix.as_str() => (after, true),
        _ => (prefix.as_str().to_string(), false),
    };
    let sql = raw::list_sql(strict, upper.is_some());
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let rows = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            let map = |row: &rusqlite::Row<'_>| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            };
            match &upper {
                Some(upper) => stmt
                    .query_map(params![namespace, lower, now, fetch, upper], map)?
                    .collect::<rusqlite::Result<Vec<_>>>(),
                None => stmt
                    .query_map(params![namespace, lower, now, fetch], map)?
                    .collect::<rusqlite::Result<Vec<_>>>(),
            }
        })
        .map_err(|err| map_error(&err, "cannot list"))?;
    let more = rows.len() > limit;
    let mut items = Vec::with_capacity(rows.len().min(limit));
    for (key, version, expires_at, size) in rows.into_iter().take(limit) {
        let key = Key::new(key).map_err(|_| {
            Error::corrupt("a stored key breaks the key rules").with_backend(BACKEND)
        })?;
        let size = u64::try_from(size)
            .map_err(|_| Error::corrupt("a stored size is negative").with_backend(BACKEND))?;
        items.push(ListItem::new(
            key,
            Some(stored_version(version)?),
            stored_expiry(expires_at)?,
            size,
        ));
    }
    let next = match items.last() {
        Some(last) if more => Some(Cursor::encode(CURSOR_TAG, last.key.as_str().as_bytes())?),
        _ => None,
    };
    Ok(ListPage::new(items, next))
}

/// The values of `keys` in request order (a key named twice answered twice),
/// from one statement.
fn read_many(
    conn: &Connection,
    namespace: &str,
    keys: &[Key],
    now: i64,
) -> rusqlite::Result<Vec<Option<Vec<u8>>>> {
    let json = keys_json(keys);
    let mut found: std::collections::HashMap<String, Vec<u8>> = conn
        .prepare_cached(raw::SELECT_MANY)?
        .query_map(params![namespace, json, now], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut values = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        // The last request of a key takes the value; earlier ones get a copy.
        let again = keys[i + 1..].contains(key);
        values.push(if again {
            found.get(key.as_str()).cloned()
        } else {
            found.remove(key.as_str())
        });
    }
    Ok(values)
}

/// `keys` as a JSON array of strings, the one parameter `json_each` unpacks.
pub(crate) fn keys_json(keys: &[Key]) -> String {
    let keys: Vec<&str> = keys.iter().map(Key::as_str).collect();
    // Serializing a list of strings cannot fail.
    serde_json::to_string(&keys).unwrap_or_default()
}

/// A stored expiry, in milliseconds since the Unix epoch, as a time.
fn stored_expiry(millis: Option<i64>) -> Result<Option<std::time::SystemTime>> {
    millis
        .map(|millis| {
            u64::try_from(millis)
                .map(|millis| UNIX_EPOCH + Duration::from_millis(millis))
                .map_err(|_| Error::corrupt("a stored expiry is not a time").with_backend(BACKEND))
        })
        .transpose()
}

/// Reads the database file (its first page), not only the connection.
fn probe(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached("SELECT count(*) FROM sqlite_master")?
        .query_row([], |row| row.get::<_, i64>(0))?;
    Ok(())
}
