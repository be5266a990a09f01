//! Group commit: writes queue up in a few writer lanes; each lane sends what
//! has queued as one multi-row statement and answers every caller after the
//! commit.
//!
//! - A key always maps to the same lane, and a lane runs its statements one
//!   after another in arrival order, so writes to one key are applied in the
//!   order they were issued — also when an earlier caller gave up waiting.
//! - Consecutive upserts form one `INSERT … SELECT … FROM unnest(…) ON CONFLICT
//!   DO UPDATE`; consecutive deletes one `DELETE … USING unnest(…)`. A batch
//!   ends where the kind of operation changes, so order is kept across kinds.
//! - A key written twice in one batch is sent once, with the last value (ON
//!   CONFLICT may not touch a row twice in one statement); both callers are
//!   answered after the commit.
//! - A write whose caller has already gone (future dropped, timed out) is
//!   skipped: its outcome was unknown anyway.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

use deadpool_postgres::Client;
use flowstore_core::Result;
use tokio::sync::{mpsc, oneshot};

use crate::config::Options;
use crate::db::Db;
use crate::error::{Failure, SharedFailure, map_error};
use crate::table::Sql;

/// Queued operations per lane before callers wait to enqueue.
const LANE_CAPACITY: usize = 1024;

/// One queued operation.
#[derive(Debug)]
pub(crate) enum Op {
    Set(Write),
    Delete(Write),
    /// Answered once every operation queued before it has been applied.
    Barrier(oneshot::Sender<()>),
}

/// A write of one key: an upsert (with `value`) or a delete.
#[derive(Debug)]
pub(crate) struct Write {
    pub(crate) namespace: Arc<str>,
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
    /// Milliseconds to live, or `None` for no expiry.
    pub(crate) ttl_ms: Option<i64>,
    pub(crate) reply: oneshot::Sender<Result<()>>,
}

impl Write {
    fn size(&self) -> usize {
        self.namespace.len() + self.key.len() + self.value.len() + 16
    }
}

/// The senders of every lane. Dropping it stops the lanes once they have
/// answered everything queued.
#[derive(Debug)]
pub(crate) struct Writer {
    lanes: Vec<mpsc::Sender<Op>>,
    hasher: RandomState,
}

/// What a lane needs.
#[derive(Debug)]
struct Lane {
    db: Db,
    sql: Arc<Sql>,
    max_rows: usize,
    max_bytes: usize,
}

impl Writer {
    /// Starts `options.write_lanes` lanes on the current Tokio runtime.
    pub(crate) fn spawn(db: Db, sql: Arc<Sql>, options: &Options) -> Writer {
        let lane = Arc::new(Lane {
            db,
            sql,
            max_rows: options.max_batch_rows,
            max_bytes: options.max_batch_bytes,
        });
        let lanes = (0..options.write_lanes.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::channel(LANE_CAPACITY);
                tokio::spawn(run_lane(Arc::clone(&lane), receiver));
                sender
            })
            .collect();
        Writer {
            lanes,
            hasher: RandomState::new(),
        }
    }

    fn lane_of(&self, namespace: &str, key: &str) -> &mpsc::Sender<Op> {
        let hash = self.hasher.hash_one((namespace, key));
        &self.lanes[(hash % self.lanes.len() as u64) as usize]
    }

    /// Queues `op` (a set or delete) and waits for its commit.
    pub(crate) async fn write(&self, op: fn(Write) -> Op, write: WriteArgs) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let WriteArgs {
            namespace,
            key,
            value,
            ttl_ms,
        } = write;
        let lane = self.lane_of(&namespace, &key);
        let op = op(Write {
            namespace,
            key,
            value,
            ttl_ms,
            reply,
        });
        let gone = || map_error("write", Failure::WriterGone);
        lane.send(op).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Waits until every operation queued before this call has been applied.
    pub(crate) async fn barrier(&self) -> Result<()> {
        let mut answers = Vec::with_capacity(self.lanes.len());
        for lane in &self.lanes {
            let (reply, answer) = oneshot::channel();
            lane.send(Op::Barrier(reply))
                .await
                .map_err(|_| map_error("clear", Failure::WriterGone))?;
            answers.push(answer);
        }
        for answer in answers {
            answer
                .await
                .map_err(|_| map_error("clear", Failure::WriterGone))?;
        }
        Ok(())
    }
}

/// The parts of a [`Write`] a caller supplies.
#[derive(Debug)]
pub(crate) struct WriteArgs {
    pub(crate) namespace: Arc<str>,
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
    pub(crate) ttl_ms: Option<i64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Set,
    Delete,
}

async fn run_lane(lane: Arc<Lane>, mut receiver: mpsc::Receiver<Op>) {
    let mut carried: Option<Op> = None;
    let mut batch: Vec<Write> = Vec::new();
    let mut previous_len = 0;
    loop {
        let first = match carried.take() {
            Some(op) => op,
            None => match receiver.recv().await {
                Some(op) => op,
                None => return,
            },
        };
        let (kind, write) = match first {
            Op::Barrier(reply) => {
                let _ = reply.send(());
                continue;
            }
            Op::Set(write) => (Kind::Set, write),
            Op::Delete(write) => (Kind::Delete, write),
        };
        let mut bytes = write.size();
        batch.push(write);
        // Under concurrency (the previous batch had company), callers answered
        // by the previous commit are usually about to queue their next write:
        // let them run once before the batch is closed. A single caller skips
        // this, so it pays no extra scheduling round.
        if previous_len > 1 && receiver.is_empty() {
            tokio::task::yield_now().await;
        }
        // The connection first: writes queued while waiting for it join this
        // batch, and if the pool stays exhausted they all get the answer at
        // once instead of each waiting out the wait timeout again.
        let client = lane.db.client().await;
        // Gather whatever else is already queued, without waiting for more.
        while batch.len() < lane.max_rows && bytes < lane.max_bytes {
            let op = match receiver.try_recv() {
                Ok(op) => op,
                Err(_) => break,
            };
            match (kind, op) {
                (Kind::Set, Op::Set(write)) | (Kind::Delete, Op::Delete(write)) => {
                    bytes += write.size();
                    batch.push(write);
                }
                (_, other) => {
                    carried = Some(other);
                    break;
                }
            }
        }
        previous_len = batch.len();
        lane.apply(kind, &mut batch, client).await;
        batch.clear();
    }
}

impl Lane {
    /// Applies `batch` as one statement and answers every caller.
    async fn apply(&self, kind: Kind, batch: &mut Vec<Write>, client: Result<Client, Failure>) {
        batch.retain(|write| !write.reply.is_closed());
        if batch.is_empty() {
            return;
        }
        let op = match kind {
            Kind::Set => "set",
            Kind::Delete => "delete",
        };
        let result = match client {
            Ok(client) => self.execute(kind, batch, client).await,
            Err(failure) => Err(failure),
        };
        match result {
            Ok(()) => {
                for write in batch.drain(..) {
                    let _ = write.reply.send(Ok(()));
                }
            }
            Err(failure) => {
                let shared = SharedFailure::new(op, failure);
                for write in batch.drain(..) {
                    let _ = write.reply.send(Err(shared.to_error()));
                }
            }
        }
    }

    async fn execute(&self, kind: Kind, batch: &[Write], client: Client) -> Result<(), Failure> {
        let result = self
            .db
            .timed(async {
                if let [write] = batch {
                    let (sql, params): (&str, &[&(dyn tokio_postgres::types::ToSql + Sync)]) =
                        match kind {
                            Kind::Set => (
                                &self.sql.upsert_one,
                                &[&&*write.namespace, &write.key, &write.value, &write.ttl_ms],
                            ),
                            Kind::Delete => {
                                (&self.sql.delete_one, &[&&*write.namespace, &write.key])
                            }
                        };
                    let statement = client.prepare_cached(sql).await?;
                    return client.execute(&statement, params).await.map(drop);
                }
                let rows = last_write_per_key(batch);
                let namespaces: Vec<&str> = rows.iter().map(|w| &*w.namespace).collect();
                let keys: Vec<&str> = rows.iter().map(|w| w.key.as_str()).collect();
                match kind {
                    Kind::Set => {
                        let values: Vec<&[u8]> = rows.iter().map(|w| w.value.as_slice()).collect();
                        let ttls: Vec<Option<i64>> = rows.iter().map(|w| w.ttl_ms).collect();
                        let statement = client.prepare_cached(&self.sql.upsert_many).await?;
                        client
                            .execute(&statement, &[&namespaces, &keys, &values, &ttls])
                            .await
                            .map(drop)
                    }
                    Kind::Delete => {
                        let statement = client.prepare_cached(&self.sql.delete_many).await?;
                        client
                            .execute(&statement, &[&namespaces, &keys])
                            .await
                            .map(drop)
                    }
                }
            })
            .await;
        Db::settle(client, result)
    }
}

/// The writes of `batch` with each (namespace, key) kept once: its last write.
fn last_write_per_key(batch: &[Write]) -> Vec<&Write> {
    let mut last: HashMap<(&str, &str), usize> = HashMap::with_capacity(batch.len());
    for (index, write) in batch.iter().enumerate() {
        last.insert((&write.namespace, &write.key), index);
    }
    if last.len() == batch.len() {
        return batch.iter().collect();
    }
    batch
        .iter()
        .enumerate()
        .filter(|(index, write)| last[&(&*write.namespace, write.key.as_str())] == *index)
        .map(|(_, write)| write)
        .collect()
}

/// A `set` of `value` under `namespace`/`key`, for [`Writer::write`].
pub(crate) fn set_args(
    namespace: Arc<str>,
    key: &str,
    value: &[u8],
    ttl_ms: Option<i64>,
) -> WriteArgs {
    WriteArgs {
        namespace,
        key: key.to_string(),
        value: value.to_vec(),
        ttl_ms,
    }
}

/// A `delete` of `namespace`/`key`, for [`Writer::write`].
pub(crate) fn delete_args(namespace: Arc<str>, key: &str) -> WriteArgs {
    WriteArgs {
        namespace,
        key: key.to_string(),
        value: Vec::new(),
        ttl_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: &str, value: &[u8]) -> Write {
        let (reply, _) = oneshot::channel();
        Write {
            namespace: "ns".into(),
            key: key.into(),
            value: value.to_vec(),
            ttl_ms: None,
            reply,
        }
    }

    #[test]
    fn duplicate_keys_keep_their_last_write() {
        let batch = vec![
            write("a", b"1"),
            write("b", b"2"),
            write("a", b"3"),
            write("c", b"4"),
        ];
        let rows = last_write_per_key(&batch);
        let got: Vec<(&str, &[u8])> = rows
            .iter()
            .map(|w| (w.key.as_str(), &w.value[..]))
            .collect();
        assert_eq!(
            got,
            vec![("b", &b"2"[..]), ("a", &b"3"[..]), ("c", &b"4"[..])]
        );
    }

    #[test]
    fn distinct_keys_are_kept_in_order() {
        let batch = vec![write("a", b"1"), write("b", b"2")];
        assert_eq!(last_write_per_key(&batch).len(), 2);
    }
}
