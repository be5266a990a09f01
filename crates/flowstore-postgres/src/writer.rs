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
//! - Conditional writes (`set_if`, `delete_if`) take the same lanes, so they
//!   keep their order with plain writes of the key, but are never batched:
//!   each is one statement whose answer is its own (written, or `Conflict`).
//! - A key written twice in one batch is sent once, with the last value (ON
//!   CONFLICT may not touch a row twice in one statement); both callers are
//!   answered after the commit.
//! - A write whose caller has already gone (future dropped, timed out) is
//!   skipped: its outcome was unknown anyway.
//! - A write to an idle lane that has had no company lately (one writer at a
//!   time) skips the queue: its caller runs the single-row statement itself,
//!   holding the lane's turn, so a lone writer pays no hand-off to the lane
//!   task and back. Holding the turn keeps the order guarantees above: the
//!   lane task takes the same turn before each batch, and a direct write whose
//!   caller gives up is finished on the runtime, still holding it (see
//!   [`Detached`]).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use deadpool_postgres::Client;
use flowstore_core::{Condition, Operation, Result, Version};
use tokio::runtime::Handle;
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc, oneshot};

use crate::builder::Options;
use crate::conditional;
use crate::db::Db;
use crate::error::{Doing, Failure, SharedFailure, map_error};
use crate::table::Sql;

/// Queued operations per lane before callers wait to enqueue.
const LANE_CAPACITY: usize = 1024;

/// What a write does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Set,
    Delete,
    SetIf,
    DeleteIf,
}

impl Kind {
    fn operation(self) -> Operation {
        match self {
            Kind::Set => Operation::Set,
            Kind::Delete => Operation::Delete,
            Kind::SetIf => Operation::SetIf,
            Kind::DeleteIf => Operation::DeleteIf,
        }
    }

    /// `err` with this backend and the operation as context.
    fn context(self, err: flowstore_core::Error) -> flowstore_core::Error {
        Doing::Op(self.operation()).context(err)
    }

    /// Whether writes of this kind are sent many to a statement; a
    /// conditional write has an answer of its own, so it is sent alone.
    fn batches(self) -> bool {
        matches!(self, Kind::Set | Kind::Delete)
    }
}

/// The row a write touches: for a set, with its value and TTL.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) namespace: Arc<str>,
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
    /// Milliseconds to live, or `None` for no expiry.
    pub(crate) ttl_ms: Option<i64>,
    /// The entry version a set writes (none for a delete).
    pub(crate) version: Option<Version>,
    /// What a conditional write requires of the key (`Always` for the others).
    pub(crate) condition: Condition,
}

impl Row {
    /// A `set` of `value` under `namespace`/`key`, at a new entry version.
    pub(crate) fn set(namespace: Arc<str>, key: &str, value: &[u8], ttl_ms: Option<i64>) -> Row {
        Row::set_if(
            namespace,
            key,
            value,
            ttl_ms,
            Condition::Always,
            Version::generate(),
        )
    }

    /// A `set_if` of `value` at `version` under `namespace`/`key`.
    pub(crate) fn set_if(
        namespace: Arc<str>,
        key: &str,
        value: &[u8],
        ttl_ms: Option<i64>,
        condition: Condition,
        version: Version,
    ) -> Row {
        Row {
            namespace,
            key: key.to_string(),
            value: value.to_vec(),
            ttl_ms,
            version: Some(version),
            condition,
        }
    }

    /// A `delete` of `namespace`/`key`.
    pub(crate) fn delete(namespace: Arc<str>, key: &str) -> Row {
        Row::delete_if(namespace, key, Condition::Always)
    }

    /// A `delete_if` of `namespace`/`key`: `condition` is the version expected.
    pub(crate) fn delete_if(namespace: Arc<str>, key: &str, condition: Condition) -> Row {
        Row {
            namespace,
            key: key.to_string(),
            value: Vec::new(),
            ttl_ms: None,
            version: None,
            condition,
        }
    }

    fn size(&self) -> usize {
        self.namespace.len() + self.key.len() + self.value.len() + 16
    }
}

/// One queued operation.
#[derive(Debug)]
enum Op {
    Write(Kind, Write),
    /// Answered once every operation queued before it has been applied.
    /// Answers once everything queued before it is applied; `Operation` is
    /// the caller's (`clear`, a batch), for the errors of sending it.
    Barrier(Operation, oneshot::Sender<()>),
}

/// A queued write and where its caller waits for the outcome.
#[derive(Debug)]
struct Write {
    row: Row,
    reply: oneshot::Sender<Result<()>>,
}

/// The writer lanes. Dropping it stops the lanes once they have answered
/// everything queued.
#[derive(Debug)]
pub(crate) struct Writer {
    lanes: Vec<LaneHandle>,
    hasher: RandomState,
    statements: Arc<Statements>,
}

/// The caller's side of one lane.
#[derive(Debug)]
struct LaneHandle {
    sender: mpsc::Sender<Op>,
    state: Arc<LaneState>,
}

/// What a lane's callers and its task share.
#[derive(Debug, Default)]
struct LaneState {
    /// Held while one of the lane's statements runs: a batch or a direct write.
    turn: Arc<Mutex<()>>,
    /// Operations sent to the lane task and not yet applied.
    queued: AtomicUsize,
    /// Operations in the lane's last batch: more than one means writers have
    /// company, and a write should join the queue to be batched.
    last_batch: AtomicUsize,
}

/// Running statements: the pool, the SQL and the batch limits.
#[derive(Debug)]
struct Statements {
    db: Db,
    sql: Arc<Sql>,
    max_rows: usize,
    max_bytes: usize,
    /// The runtime the lanes run on, where an abandoned direct write finishes.
    runtime: Handle,
}

impl Writer {
    /// Starts `options.write_lanes` lanes on the current Tokio runtime.
    pub(crate) fn spawn(db: Db, sql: Arc<Sql>, options: &Options) -> Writer {
        let statements = Arc::new(Statements {
            db,
            sql,
            max_rows: options.max_batch_rows,
            max_bytes: options.max_batch_bytes,
            runtime: Handle::current(),
        });
        let lanes = (0..options.write_lanes.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::channel(LANE_CAPACITY);
                let state = Arc::new(LaneState::default());
                tokio::spawn(run_lane(
                    Arc::clone(&statements),
                    Arc::clone(&state),
                    receiver,
                ));
                LaneHandle { sender, state }
            })
            .collect();
        Writer {
            lanes,
            hasher: RandomState::new(),
            statements,
        }
    }

    fn lane_of(&self, namespace: &str, key: &str) -> &LaneHandle {
        let hash = self.hasher.hash_one((namespace, key));
        &self.lanes[(hash % self.lanes.len() as u64) as usize]
    }

    /// Applies a set or delete of `row` and waits for its commit: directly
    /// when its lane is idle and uncontended, else through the lane's queue,
    /// waiting at most `deadline` there.
    pub(crate) async fn write(&self, kind: Kind, row: Row, deadline: Duration) -> Result<()> {
        let lane = self.lane_of(&row.namespace, &row.key);
        if let Some(turn) = lane.state.idle_turn() {
            // No timer of its own: the checkout is bounded by the pool's
            // timeouts and the statement by the operation timeout.
            let statements = Arc::clone(&self.statements);
            let runtime = self.statements.runtime.clone();
            return Detached::new(runtime, async move {
                let _turn = turn;
                statements.apply_one(kind, &row).await
            })
            .await;
        }
        let queued = async {
            let (reply, answer) = oneshot::channel();
            lane.send(Op::Write(kind, Write { row, reply })).await?;
            answer
                .await
                .map_err(|_| map_error(kind.operation(), Failure::WriterGone))?
        };
        match tokio::time::timeout(deadline, queued).await {
            Ok(result) => result,
            Err(_) => Err(map_error(kind.operation(), Failure::Elapsed(deadline))),
        }
    }

    /// Waits until every operation queued before this call has been applied.
    pub(crate) async fn barrier(&self, operation: Operation) -> Result<()> {
        let mut answers = Vec::with_capacity(self.lanes.len());
        for lane in &self.lanes {
            let (reply, answer) = oneshot::channel();
            lane.send(Op::Barrier(operation, reply)).await?;
            answers.push(answer);
        }
        for answer in answers {
            answer
                .await
                .map_err(|_| map_error(operation, Failure::WriterGone))?;
        }
        Ok(())
    }
}

impl LaneHandle {
    async fn send(&self, op: Op) -> Result<()> {
        let operation = match &op {
            Op::Write(kind, _) => kind.operation(),
            Op::Barrier(operation, _) => *operation,
        };
        // Wait for room first (a caller may give up here), then count and send
        // with no await in between: every op the lane task can see is counted
        // before it is sent, so a direct write issued after this call returns
        // sees it and queues behind it, and a caller giving up never leaves a
        // count behind.
        let permit = self
            .sender
            .reserve()
            .await
            .map_err(|_| map_error(operation, Failure::WriterGone))?;
        self.state.queued.fetch_add(1, Ordering::SeqCst);
        permit.send(op);
        Ok(())
    }
}

impl LaneState {
    /// The lane's turn, if a write may run directly now: nothing queued,
    /// nothing running, and the last batch had no company.
    fn idle_turn(&self) -> Option<OwnedMutexGuard<()>> {
        if self.last_batch.load(Ordering::Relaxed) > 1 {
            return None;
        }
        let turn = Arc::clone(&self.turn).try_lock_owned().ok()?;
        // Checked while holding the turn: whatever was queued before must be
        // applied first, and the lane task needs the turn to apply it.
        (self.queued.load(Ordering::SeqCst) == 0).then_some(turn)
    }
}

async fn run_lane(
    statements: Arc<Statements>,
    state: Arc<LaneState>,
    mut receiver: mpsc::Receiver<Op>,
) {
    let mut carried: Option<Op> = None;
    let mut batch: Vec<Write> = Vec::new();
    loop {
        let first = match carried.take() {
            Some(op) => op,
            None => match receiver.recv().await {
                Some(op) => op,
                None => return,
            },
        };
        // A direct write may be running: wait for it, it was issued first.
        let _turn = state.turn.lock().await;
        let (kind, write) = match first {
            Op::Barrier(_, reply) => {
                let _ = reply.send(());
                state.queued.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            Op::Write(kind, write) => (kind, write),
        };
        let mut bytes = write.row.size();
        batch.push(write);
        // Under concurrency (the previous batch had company), callers answered
        // by the previous commit are usually about to queue their next write:
        // let them run once before the batch is closed. A single caller skips
        // this, so it pays no extra scheduling round.
        if state.last_batch.load(Ordering::Relaxed) > 1 && receiver.is_empty() {
            tokio::task::yield_now().await;
        }
        // The connection first: writes queued while waiting for it join this
        // batch, and if the pool stays exhausted they all get the answer at
        // once instead of each waiting out the wait timeout again.
        let client = statements.db.client().await;
        // Gather whatever else is already queued, without waiting for more.
        while kind.batches() && batch.len() < statements.max_rows && bytes < statements.max_bytes {
            let op = match receiver.try_recv() {
                Ok(op) => op,
                Err(_) => break,
            };
            match op {
                Op::Write(next, write) if next == kind => {
                    bytes += write.row.size();
                    batch.push(write);
                }
                other => {
                    carried = Some(other);
                    break;
                }
            }
        }
        let applied = batch.len();
        state.last_batch.store(applied, Ordering::Relaxed);
        statements.apply_batch(kind, &mut batch, client).await;
        state.queued.fetch_sub(applied, Ordering::SeqCst);
    }
}

impl Statements {
    /// Applies one write on a connection of its own.
    async fn apply_one(&self, kind: Kind, row: &Row) -> Result<()> {
        let result = match self.db.client().await {
            Ok(client) => self.execute(kind, &[row], client).await,
            Err(failure) => Err(failure),
        };
        match result {
            Ok(answer) => answer.map_err(|refused| kind.context(refused)),
            Err(failure) => Err(map_error(kind.operation(), failure)),
        }
    }

    /// Applies `batch` as one statement and answers every caller.
    async fn apply_batch(
        &self,
        kind: Kind,
        batch: &mut Vec<Write>,
        client: Result<Client, Failure>,
    ) {
        batch.retain(|write| !write.reply.is_closed());
        if batch.is_empty() {
            return;
        }
        let result = match client {
            Ok(client) => {
                let rows: Vec<&Row> = batch.iter().map(|write| &write.row).collect();
                self.execute(kind, &rows, client).await
            }
            Err(failure) => Err(failure),
        };
        match result {
            Ok(Ok(())) => {
                for write in batch.drain(..) {
                    let _ = write.reply.send(Ok(()));
                }
            }
            // Only a conditional write, alone in its batch, has an answer
            // other than `Ok`.
            Ok(Err(refused)) => {
                let refused = kind.context(refused);
                if let Some(write) = batch.pop() {
                    let _ = write.reply.send(Err(refused));
                }
                batch.clear();
            }
            Err(failure) => {
                let shared = SharedFailure::new(kind.operation(), failure);
                for write in batch.drain(..) {
                    let _ = write.reply.send(Err(shared.to_error()));
                }
            }
        }
    }

    /// Runs the statement for `rows`: the caller's answer (`Ok`, or a
    /// conditional write's `Conflict`), or the failure that left it unknown.
    async fn execute(
        &self,
        kind: Kind,
        rows: &[&Row],
        client: Client,
    ) -> Result<Result<()>, Failure> {
        let result = self
            .db
            .timed(async {
                if let [row] = rows {
                    let version = row.version.as_ref().map(Version::as_str);
                    let (sql, params): (&str, &[&(dyn tokio_postgres::types::ToSql + Sync)]) =
                        match kind {
                            Kind::Set => (
                                &self.sql.upsert_one,
                                &[
                                    &&*row.namespace,
                                    &row.key,
                                    &row.value,
                                    &row.ttl_ms,
                                    &version,
                                ],
                            ),
                            Kind::Delete => (&self.sql.delete_one, &[&&*row.namespace, &row.key]),
                            Kind::SetIf => {
                                return conditional::set_if(&client, &self.sql, row).await;
                            }
                            Kind::DeleteIf => {
                                return conditional::delete_if(&client, &self.sql, row).await;
                            }
                        };
                    let statement = client.prepare_cached(sql).await?;
                    return client.execute(&statement, params).await.map(|_| Ok(()));
                }
                let rows = last_write_per_key(rows);
                let namespaces: Vec<&str> = rows.iter().map(|row| &*row.namespace).collect();
                let keys: Vec<&str> = rows.iter().map(|row| row.key.as_str()).collect();
                match kind {
                    Kind::Set => {
                        let values: Vec<&[u8]> =
                            rows.iter().map(|row| row.value.as_slice()).collect();
                        let ttls: Vec<Option<i64>> = rows.iter().map(|row| row.ttl_ms).collect();
                        let versions: Vec<Option<&str>> = rows
                            .iter()
                            .map(|row| row.version.as_ref().map(Version::as_str))
                            .collect();
                        let statement = client.prepare_cached(&self.sql.upsert_many).await?;
                        client
                            .execute(&statement, &[&namespaces, &keys, &values, &ttls, &versions])
                            .await
                            .map(|_| Ok(()))
                    }
                    Kind::Delete => {
                        let statement = client.prepare_cached(&self.sql.delete_many).await?;
                        client
                            .execute(&statement, &[&namespaces, &keys])
                            .await
                            .map(|_| Ok(()))
                    }
                    // Never batched (see `Kind::batches`).
                    Kind::SetIf | Kind::DeleteIf => Ok(Err(flowstore_core::Error::backend(
                        "a conditional write was batched",
                    ))),
                }
            })
            .await;
        Db::settle(client, result)
    }
}

/// The rows of a batch with each (namespace, key) kept once: its last write.
fn last_write_per_key<'a>(rows: &[&'a Row]) -> Vec<&'a Row> {
    let mut last: HashMap<(&str, &str), usize> = HashMap::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        last.insert((&row.namespace, &row.key), index);
    }
    if last.len() == rows.len() {
        return rows.to_vec();
    }
    rows.iter()
        .enumerate()
        .filter(|(index, row)| last[&(&*row.namespace, row.key.as_str())] == *index)
        .map(|(_, row)| *row)
        .collect()
}

/// A future that is finished on the runtime if its caller drops it early.
///
/// A direct write holds its lane's turn until its statement has finished; if
/// the caller gives up (a timeout, a dropped request), the statement may still
/// be on its way to the server, and a later write to the same key must not
/// overtake it. So instead of being cancelled, the rest of the future is
/// spawned on the writer's runtime and keeps the turn until it completes (it
/// is bounded by the checkout bound and the operation timeout).
///
/// Two cases where it is dropped instead: while the thread is panicking (the
/// future may be the one that panicked, and must not be polled again), and
/// when the writer's runtime has shut down, which stops the lanes as well.
struct Detached<T: Send + 'static> {
    future: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
    runtime: Handle,
}

impl<T: Send + 'static> Detached<T> {
    fn new(runtime: Handle, future: impl Future<Output = T> + Send + 'static) -> Self {
        Detached {
            future: Some(Box::pin(future)),
            runtime,
        }
    }
}

impl<T: Send + 'static> Future for Detached<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let future = self
            .future
            .as_mut()
            .expect("Detached polled after completion");
        let output = std::task::ready!(future.as_mut().poll(cx));
        self.future = None;
        Poll::Ready(output)
    }
}

impl<T: Send + 'static> Drop for Detached<T> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take()
            && !std::thread::panicking()
        {
            self.runtime.spawn(future);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, value: &[u8]) -> Row {
        Row::set("ns".into(), key, value, None)
    }

    #[test]
    fn duplicate_keys_keep_their_last_write() {
        let batch = [
            row("a", b"1"),
            row("b", b"2"),
            row("a", b"3"),
            row("c", b"4"),
        ];
        let rows: Vec<&Row> = batch.iter().collect();
        let got: Vec<(&str, &[u8])> = last_write_per_key(&rows)
            .iter()
            .map(|row| (row.key.as_str(), &row.value[..]))
            .collect();
        assert_eq!(
            got,
            vec![("b", &b"2"[..]), ("a", &b"3"[..]), ("c", &b"4"[..])]
        );
    }

    #[test]
    fn distinct_keys_are_kept_in_order() {
        let batch = [row("a", b"1"), row("b", b"2")];
        let rows: Vec<&Row> = batch.iter().collect();
        assert_eq!(last_write_per_key(&rows).len(), 2);
    }

    #[tokio::test]
    async fn a_detached_write_dropped_early_finishes_and_keeps_its_turn() {
        let state = LaneState::default();
        let turn = state.idle_turn().expect("an idle lane");
        let (release, released) = oneshot::channel::<()>();
        let (done, finished) = oneshot::channel::<&str>();
        let detached = Detached::new(Handle::current(), async move {
            let _turn = turn;
            let _ = released.await;
            let _ = done.send("finished");
        });
        // The caller gives up before the write could finish…
        let gave_up = tokio::time::timeout(Duration::from_millis(10), detached).await;
        assert!(gave_up.is_err());
        // …the rest still holds the lane's turn…
        assert!(state.idle_turn().is_none(), "the turn was released early");
        // …and runs to the end on the runtime, then lets the turn go.
        release.send(()).unwrap();
        assert_eq!(finished.await, Ok("finished"));
        tokio::task::yield_now().await;
        assert!(state.idle_turn().is_some());
    }

    #[tokio::test]
    async fn an_idle_lane_hands_out_its_turn_once() {
        let state = LaneState::default();
        let turn = state.idle_turn().expect("an idle lane");
        assert!(state.idle_turn().is_none(), "the turn is taken");
        drop(turn);
        state.queued.fetch_add(1, Ordering::SeqCst);
        assert!(state.idle_turn().is_none(), "a queued write goes first");
        state.queued.fetch_sub(1, Ordering::SeqCst);
        state.last_batch.store(2, Ordering::Relaxed);
        assert!(
            state.idle_turn().is_none(),
            "writers with company are batched"
        );
        state.last_batch.store(1, Ordering::Relaxed);
        assert!(state.idle_turn().is_some());
    }
}
