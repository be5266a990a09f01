//! The history check (issue 15 §3): many tasks run mixed `get`/`set`/`delete`
//! on a few shared keys, each operation recorded with when it started and
//! ended; then every read is checked against what the writes could have
//! produced at that point.
//!
//! Every `set` writes a value no other write uses, so a read names the one
//! write it came from. A read is explained when:
//!
//! - it returned a value: the `set` that wrote it is of the same key, started
//!   before the read ended, and was not definitely overwritten — no other
//!   acknowledged `set` or `delete` of the key started after that `set` ended
//!   and ended before the read started;
//! - it returned nothing: a `delete` of the key qualifies likewise, or the
//!   initial state does (no acknowledged write of the key ended before the
//!   read started — except one that was itself overwritten by a qualifying
//!   `delete`).
//!
//! A write that failed has an unknown outcome: it may take effect at any time
//! after it started, so it can explain a read but never overwrites anything.
//! This is linearizability's necessary condition per read, not a full
//! linearizability check (which is NP-complete in general): it catches reads
//! from nowhere, reads of another key's values, lost or resurrected writes and
//! stale reads past a completed overwrite.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowstore_core::{Key, Store};

/// What one operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A `get` and what it returned (`None`: absent; a write's id otherwise).
    Get(Option<u64>),
    /// A `set` of the value with this id.
    Set(u64),
    /// A `delete`.
    Delete,
}

/// One recorded operation. Times are nanoseconds since the history began.
#[derive(Clone, Debug)]
pub struct Op {
    /// Which of the shared keys ([`history_key`]).
    pub key: usize,
    /// What it did.
    pub action: Action,
    /// When the call was made.
    pub start: u64,
    /// When its answer came.
    pub end: u64,
    /// Whether the store acknowledged it. A failed write's outcome is unknown;
    /// a failed read is not checked.
    pub ok: bool,
}

/// A read no write explains.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The read.
    pub read: Op,
    /// Why no write explains it.
    pub why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.read, self.why)
    }
}

/// The writes (`set`s and `delete`s) of one key, for the queries of the check.
struct KeyWrites {
    /// Acknowledged writes' (start, end), by start.
    acked: Vec<(u64, u64)>,
    /// `min_end_from[i]`: the earliest end among `acked[i..]`.
    min_end_from: Vec<u64>,
    /// Every delete as a candidate (start, end-or-never), by start, with the
    /// latest end among the first i+1 in `max_delete_end_upto[i]`. A failed
    /// delete's end is `u64::MAX`: it may take effect at any time.
    deletes: Vec<(u64, u64)>,
    max_delete_end_upto: Vec<u64>,
}

/// The end of the initial state: before every operation.
const BEGINNING: Option<u64> = None;

impl KeyWrites {
    fn new(ops: &[&Op]) -> KeyWrites {
        let mut acked: Vec<(u64, u64)> = ops
            .iter()
            .filter(|op| op.ok && !matches!(op.action, Action::Get(_)))
            .map(|op| (op.start, op.end))
            .collect();
        acked.sort_unstable();
        let mut min_end_from = vec![u64::MAX; acked.len() + 1];
        for i in (0..acked.len()).rev() {
            min_end_from[i] = min_end_from[i + 1].min(acked[i].1);
        }
        let mut deletes: Vec<(u64, u64)> = ops
            .iter()
            .filter(|op| op.action == Action::Delete)
            .map(|op| (op.start, if op.ok { op.end } else { u64::MAX }))
            .collect();
        deletes.sort_unstable();
        let mut max_delete_end_upto = Vec::with_capacity(deletes.len());
        let mut latest = 0;
        for &(_, end) in &deletes {
            latest = latest.max(end);
            max_delete_end_upto.push(latest);
        }
        KeyWrites {
            acked,
            min_end_from,
            deletes,
            max_delete_end_upto,
        }
    }

    /// Whether a write that ended at `end` (`None`: the initial state) was
    /// definitely overwritten before `read_start`: an acknowledged write
    /// started after it ended and ended before the read started.
    fn overwritten(&self, end: Option<u64>, read_start: u64) -> bool {
        let first_after = match end {
            None => 0,
            Some(u64::MAX) => return false,
            Some(end) => self.acked.partition_point(|&(start, _)| start <= end),
        };
        self.min_end_from[first_after] < read_start
    }

    /// The latest-ending delete that started before `read_end`: the best
    /// candidate to explain an absent read (a later end is overwritten by
    /// fewer writes).
    fn best_delete(&self, read_end: u64) -> Option<u64> {
        let started = self.deletes.partition_point(|&(start, _)| start < read_end);
        started.checked_sub(1).map(|i| self.max_delete_end_upto[i])
    }
}

/// Checks every acknowledged read of `ops`; the reads no write explains.
pub fn check(ops: &[Op]) -> Vec<Violation> {
    let mut by_key: HashMap<usize, Vec<&Op>> = HashMap::new();
    let mut sets: HashMap<u64, &Op> = HashMap::new();
    for op in ops {
        by_key.entry(op.key).or_default().push(op);
        if let Action::Set(id) = op.action {
            let previous = sets.insert(id, op);
            assert!(
                previous.is_none(),
                "value {id} written twice: ids must be unique"
            );
        }
    }
    let writes: HashMap<usize, KeyWrites> = by_key
        .iter()
        .map(|(&key, ops)| (key, KeyWrites::new(ops)))
        .collect();
    let mut violations = Vec::new();
    for read in ops {
        let Action::Get(got) = read.action else {
            continue;
        };
        if !read.ok {
            continue;
        }
        let writes = &writes[&read.key];
        let why = match got {
            Some(id) => match sets.get(&id) {
                None => Some(format!("read value {id}, which no set wrote")),
                Some(set) if set.key != read.key => {
                    Some(format!("read value {id}, written to key {}", set.key))
                }
                Some(set) if set.start >= read.end => Some(format!(
                    "read value {id}, whose set started after the read ended ({:?})",
                    set
                )),
                Some(set) => {
                    let end = if set.ok { set.end } else { u64::MAX };
                    writes
                        .overwritten(Some(end), read.start)
                        .then(|| format!("read value {id}, overwritten before the read ({set:?})"))
                }
            },
            None => {
                let explained = !writes.overwritten(BEGINNING, read.start)
                    || writes
                        .best_delete(read.end)
                        .is_some_and(|end| !writes.overwritten(Some(end), read.start));
                (!explained).then(|| {
                    "read nothing, but a write had completed before the read and no delete \
                     since explains it"
                        .to_owned()
                })
            }
        };
        if let Some(why) = why {
            violations.push(Violation {
                read: read.clone(),
                why,
            });
        }
    }
    violations
}

/// The size of a history run.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    /// Concurrent tasks.
    pub tasks: usize,
    /// Operations each task makes, one after the other.
    pub ops_per_task: usize,
    /// How many keys the tasks share.
    pub keys: usize,
}

impl Size {
    /// The size CI runs, or with `FLOWSTORE_FAULTS_FULL=1` (what `cargo xtask
    /// faults --full` sets) the full size of issue 15.
    pub fn from_env() -> Size {
        if std::env::var_os(FULL_VAR).is_some_and(|v| v == "1") {
            Size {
                tasks: 200,
                ops_per_task: 2_000,
                keys: 8,
            }
        } else {
            Size {
                tasks: 16,
                ops_per_task: 200,
                keys: 4,
            }
        }
    }
}

/// Set to `1` to run the fault tests at full size.
pub const FULL_VAR: &str = "FLOWSTORE_FAULTS_FULL";

/// What a run recorded, and its latencies.
#[derive(Debug)]
pub struct Run {
    /// Every operation, each task's in order.
    pub ops: Vec<Op>,
    /// The whole run's time.
    pub elapsed: Duration,
}

impl Run {
    /// The `q`-quantile (0.0–1.0) of the operations' durations.
    pub fn latency_quantile(&self, q: f64) -> Duration {
        let mut nanos: Vec<u64> = self.ops.iter().map(|op| op.end - op.start).collect();
        nanos.sort_unstable();
        if nanos.is_empty() {
            return Duration::ZERO;
        }
        // Nearest rank; q is within 0..=1, so the index fits.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a rank within the vector's length"
        )]
        let rank = ((q * nanos.len() as f64).ceil() as usize).clamp(1, nanos.len());
        Duration::from_nanos(nanos[rank - 1])
    }

    /// How many operations failed.
    pub fn failures(&self) -> usize {
        self.ops.iter().filter(|op| !op.ok).count()
    }
}

/// The key a history uses for key number `i`.
pub fn history_key(i: usize) -> Key {
    Key::new(format!("history:{i}")).unwrap()
}

/// Runs `size.tasks` tasks of `size.ops_per_task` operations each on
/// `store` (about half reads, a third sets, the rest deletes, on random
/// keys of `size.keys`), recording each.
pub async fn run(store: Arc<dyn Store>, size: Size) -> Run {
    let began = Instant::now();
    let tasks: Vec<_> = (0..size.tasks)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { run_task(&*store, task, size, began).await })
        })
        .collect();
    let mut ops = Vec::with_capacity(size.tasks * size.ops_per_task);
    for task in tasks {
        ops.extend(task.await.expect("a history task panicked"));
    }
    Run {
        ops,
        elapsed: began.elapsed(),
    }
}

async fn run_task(store: &dyn Store, task: usize, size: Size, began: Instant) -> Vec<Op> {
    let mut random = XorShift::new(task as u64 + 1);
    let mut ops = Vec::with_capacity(size.ops_per_task);
    let since = |instant: Instant| {
        u64::try_from(instant.duration_since(began).as_nanos()).expect("a history of < 584 years")
    };
    for i in 0..size.ops_per_task {
        let key = random.below(size.keys);
        let k = history_key(key);
        let roll = random.below(100);
        let start = Instant::now();
        let (action, ok) = if roll < 50 {
            match store.get(&k).await {
                Ok(value) => (Action::Get(value.map(|bytes| parse_id(&bytes))), true),
                Err(_) => (Action::Get(None), false),
            }
        } else if roll < 85 {
            // Unique across tasks: task-major, 1-based.
            let id = (task * size.ops_per_task + i + 1) as u64;
            let ok = store.set(&k, id.to_string().as_bytes(), None).await.is_ok();
            (Action::Set(id), ok)
        } else {
            (Action::Delete, store.delete(&k).await.is_ok())
        };
        let end = Instant::now();
        ops.push(Op {
            key,
            action,
            start: since(start),
            end: since(end),
            ok,
        });
    }
    ops
}

/// A write's id from its value; a value no write of this module produced
/// reads as id 0, which no write uses, so the check reports it.
fn parse_id(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

/// A small deterministic generator: each task's sequence is reproducible.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        // `n` is a usize, so the remainder fits.
        #[allow(clippy::cast_possible_truncation, reason = "below n, a usize")]
        let value = (self.0 % n as u64) as usize;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(key: usize, action: Action, start: u64, end: u64) -> Op {
        Op {
            key,
            action,
            start,
            end,
            ok: true,
        }
    }

    fn failed(mut op: Op) -> Op {
        op.ok = false;
        op
    }

    fn violations(ops: &[Op]) -> usize {
        check(ops).len()
    }

    #[test]
    fn sequential_history_passes() {
        let ops = [
            op(0, Action::Get(None), 0, 1),
            op(0, Action::Set(1), 2, 3),
            op(0, Action::Get(Some(1)), 4, 5),
            op(0, Action::Delete, 6, 7),
            op(0, Action::Get(None), 8, 9),
            op(0, Action::Set(2), 10, 11),
            op(0, Action::Get(Some(2)), 12, 13),
        ];
        assert_eq!(check(&ops).len(), 0, "{:?}", check(&ops));
    }

    #[test]
    fn a_stale_read_past_a_completed_overwrite_is_caught() {
        let ops = [
            op(0, Action::Set(1), 0, 1),
            op(0, Action::Set(2), 2, 3),
            op(0, Action::Get(Some(1)), 4, 5),
        ];
        assert_eq!(violations(&ops), 1);
        // Overwritten by a completed delete: also stale.
        let ops = [
            op(0, Action::Set(1), 0, 1),
            op(0, Action::Delete, 2, 3),
            op(0, Action::Get(Some(1)), 4, 5),
        ];
        assert_eq!(violations(&ops), 1);
    }

    #[test]
    fn concurrent_writes_may_be_read_either_way() {
        let ops = [
            op(0, Action::Set(1), 0, 10),
            op(0, Action::Set(2), 1, 9),
            op(0, Action::Get(Some(1)), 11, 12),
            op(0, Action::Get(Some(2)), 11, 12),
            // The overwrite is still running when the read starts.
            op(0, Action::Set(3), 20, 30),
            op(0, Action::Get(Some(2)), 25, 26),
            op(0, Action::Get(Some(3)), 25, 26),
        ];
        assert_eq!(check(&ops).len(), 0, "{:?}", check(&ops));
    }

    #[test]
    fn values_from_nowhere_another_key_or_the_future_are_caught() {
        let ops = [
            op(0, Action::Get(Some(7)), 0, 1),
            op(1, Action::Set(1), 0, 1),
            op(0, Action::Get(Some(1)), 2, 3),
            op(0, Action::Set(2), 10, 11),
            op(0, Action::Get(Some(2)), 4, 5),
        ];
        assert_eq!(violations(&ops), 3);
    }

    #[test]
    fn a_lost_write_is_caught_and_a_delete_explains_absence() {
        let lost = [op(0, Action::Set(1), 0, 1), op(0, Action::Get(None), 2, 3)];
        assert_eq!(violations(&lost), 1);
        let deleted = [
            op(0, Action::Set(1), 0, 1),
            op(0, Action::Delete, 1, 5),
            op(0, Action::Get(None), 2, 3),
        ];
        assert_eq!(violations(&deleted), 0);
        // A delete overwritten by a completed set no longer explains it.
        let resurrected = [
            op(0, Action::Set(1), 0, 1),
            op(0, Action::Delete, 2, 3),
            op(0, Action::Set(2), 4, 5),
            op(0, Action::Get(None), 6, 7),
        ];
        assert_eq!(violations(&resurrected), 1);
    }

    #[test]
    fn a_failed_write_may_explain_a_read_but_overwrites_nothing() {
        let ops = [
            op(0, Action::Set(1), 0, 1),
            failed(op(0, Action::Set(2), 2, 3)),
            op(0, Action::Get(Some(1)), 4, 5),
            op(0, Action::Get(Some(2)), 100, 101),
            failed(op(0, Action::Delete, 102, 103)),
            op(0, Action::Get(None), 200, 201),
        ];
        assert_eq!(check(&ops).len(), 0, "{:?}", check(&ops));
        // A failed read is not checked.
        assert_eq!(violations(&[failed(op(0, Action::Get(Some(9)), 0, 1))]), 0);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let run = Run {
            ops: (1..=100)
                .map(|i| op(0, Action::Delete, 0, i * 1_000))
                .collect(),
            elapsed: Duration::ZERO,
        };
        assert_eq!(run.latency_quantile(0.99), Duration::from_micros(99));
        assert_eq!(run.latency_quantile(1.0), Duration::from_micros(100));
    }
}
