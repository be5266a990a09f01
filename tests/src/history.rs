//! The history check (issue 15 §3): many tasks run mixed `get`/`set`/`delete`
//! on a few shared keys, each operation recorded with when it started and
//! ended; then every read is checked against what the writes could have
//! produced at that point.
//!
//! Every `set` writes a value no other write uses, so a read of a value names
//! the one write it came from, and the check is the polynomial one for
//! registers with unique values (Gibbons and Korach, "Testing shared
//! memories", 1997; in the zone form of Golab, Li and Shah, "Analyzing
//! consistency properties for fun and profit", 2011), per key:
//!
//! - a read of a value must name a `set` of the same key that started before
//!   the read ended;
//! - a value's *cluster* is its `set` and the reads that returned it. If the
//!   cluster's earliest end comes before its latest start, the value must
//!   have been the key's from that end to that start (its *forward zone*);
//!   otherwise the cluster's operations all overlap (a *backward zone*). Two
//!   forward zones must not overlap, and no backward zone, nor any
//!   acknowledged `delete`, may lie strictly within a forward zone;
//! - deletes all write the same "nothing", so a read of nothing does not name
//!   its write: it is explained when the initial state, or some `delete`,
//!   can have been the last write before it — when the time from that write
//!   to the read overlaps no forward zone (or, if they overlap, lies within
//!   none) and holds no `set`'s backward zone.
//!
//! A write that failed has an unknown outcome: it may take effect at any time
//! after it started, or never. A failed `set` that was read took effect (its
//! reads bound it); one that was not read is taken never to have (which
//! constrains nothing); a failed `delete` may explain a read of nothing but
//! overwrites nothing. Linearizability checking is NP-complete in general,
//! but with unique values it is polynomial; the reads of nothing, which do
//! not name their write, are checked one at a time, so a history whose only
//! flaw involves them may pass (every condition the check applies is
//! necessary: it never flags a linearizable history). Times are compared
//! strictly: operations that touch count as concurrent.

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

/// A stretch of time, `from`..`to`, tied to the operation that reports it.
#[derive(Clone, Copy, Debug)]
struct Zone<'a> {
    from: u64,
    to: u64,
    /// For a value's zone: its read that started last (whom a violation
    /// names); for a write's: the write.
    op: &'a Op,
}

/// What the reads of one written value pin down (the value's *cluster*: its
/// `set` and the reads that returned it). `min_end` is the earliest end, and
/// `max_start` the latest start, among them.
struct Cluster<'a> {
    id: u64,
    min_end: u64,
    max_start: u64,
    latest: &'a Op,
}

impl<'a> Cluster<'a> {
    fn new(id: u64, set: &'a Op) -> Cluster<'a> {
        Cluster {
            id,
            // A failed set that was read took effect, at some time after it
            // started: only its reads bound it.
            min_end: if set.ok { set.end } else { u64::MAX },
            max_start: set.start,
            latest: set,
        }
    }

    fn add_read(&mut self, read: &'a Op) {
        self.min_end = self.min_end.min(read.end);
        if read.start > self.max_start {
            self.max_start = read.start;
            self.latest = read;
        }
    }
}

/// Forward zones — when a value must have been the register's, from its
/// cluster's earliest end to its latest start — indexed to answer "which
/// zone starting before `t` lasts longest" in O(log n).
struct Forward<'a> {
    /// By `from`.
    zones: Vec<Zone<'a>>,
    /// `longest[i]`: the index of the latest `to` among `zones[..=i]`.
    longest: Vec<usize>,
}

impl<'a> Forward<'a> {
    fn new(mut zones: Vec<Zone<'a>>) -> Forward<'a> {
        zones.sort_unstable_by_key(|zone| (zone.from, zone.to));
        let mut longest: Vec<usize> = Vec::with_capacity(zones.len());
        for (i, zone) in zones.iter().enumerate() {
            let best = match longest.last() {
                Some(&j) if zones[j].to >= zone.to => j,
                _ => i,
            };
            longest.push(best);
        }
        Forward { zones, longest }
    }

    /// The zone that starts before `t` and ends latest.
    fn longest_before(&self, t: u64) -> Option<&Zone<'a>> {
        let n = self.zones.partition_point(|zone| zone.from < t);
        n.checked_sub(1).map(|i| &self.zones[self.longest[i]])
    }

    /// A zone strictly around `from`..`to`: its value held throughout, so
    /// nothing else can have been written (or read) there.
    fn around(&self, from: u64, to: u64) -> Option<&Zone<'a>> {
        self.longest_before(from).filter(|zone| zone.to > to)
    }

    /// A zone overlapping `from`..`to` (`None`: since the beginning).
    fn overlapping(&self, from: Option<u64>, to: u64) -> Option<&Zone<'a>> {
        self.longest_before(to)
            .filter(|zone| from.is_none_or(|from| zone.to > from))
    }
}

/// Backward zones of sets — a set's cluster whose operations all overlap,
/// from its latest start to its earliest end: the set happened then or
/// earlier — indexed to answer "does one lie strictly within `a`..`b`".
struct Backward<'a> {
    /// By `from`.
    zones: Vec<Zone<'a>>,
    /// `shortest[i]`: the index of the earliest `to` among `zones[i..]`.
    shortest: Vec<usize>,
}

impl<'a> Backward<'a> {
    fn new(mut zones: Vec<Zone<'a>>) -> Backward<'a> {
        zones.sort_unstable_by_key(|zone| (zone.from, zone.to));
        let mut shortest = vec![0; zones.len()];
        for i in (0..zones.len()).rev() {
            shortest[i] = match shortest.get(i + 1) {
                Some(&j) if zones[j].to <= zones[i].to => j,
                _ => i,
            };
        }
        Backward { zones, shortest }
    }

    /// A zone strictly within `from`..`to` (`None`: since the beginning).
    fn within(&self, from: Option<u64>, to: u64) -> Option<&Zone<'a>> {
        let first = from.map_or(0, |from| {
            self.zones.partition_point(|zone| zone.from <= from)
        });
        self.shortest
            .get(first)
            .map(|&i| &self.zones[i])
            .filter(|zone| zone.to < to)
    }
}

/// The check's view of one key.
struct KeyCheck<'a> {
    forward: Forward<'a>,
    backward: Backward<'a>,
    /// Acknowledged deletes, by start, and the longest one's duration.
    deletes: Vec<&'a Op>,
    longest_delete: u64,
    /// Failed deletes: each may have taken effect at any time after it
    /// started.
    failed_deletes: Vec<&'a Op>,
    /// Acknowledged sets by end, with `latest_start[i]` the latest start
    /// among `sets_by_end[..=i]`: a delete that ended before that start is
    /// overwritten for every read starting after `sets_by_end[i]` ended.
    sets_by_end: Vec<u64>,
    latest_start: Vec<u64>,
}

impl<'a> KeyCheck<'a> {
    /// Whether the absent `read` can have come after the initial state or a
    /// delete with no `set` between: whether, for one of them, the time from
    /// it to the read overlaps no value's forward zone (and lies within none)
    /// and holds no set's backward zone.
    fn absence_explained(&self, read: &Op) -> bool {
        let initial = self.forward.overlapping(None, read.start).is_none()
            && self.backward.within(None, read.start).is_none();
        if initial {
            return true;
        }
        let explains = |delete: &Op, end: u64| {
            if end < read.start {
                self.forward.overlapping(Some(end), read.start).is_none()
                    && self.backward.within(Some(end), read.start).is_none()
            } else {
                let from = delete.start.max(read.start);
                let to = end.min(read.end);
                self.forward.around(from, to).is_none()
            }
        };
        if self
            .failed_deletes
            .iter()
            .any(|delete| delete.start < read.end && explains(delete, u64::MAX))
        {
            return true;
        }
        // A delete that ended before a set that ended before the read began
        // is overwritten: only the deletes from then on are candidates.
        let done = self.sets_by_end.partition_point(|&end| end < read.start);
        let overwritten_before = done.checked_sub(1).map_or(0, |i| self.latest_start[i]);
        let started = self
            .deletes
            .partition_point(|delete| delete.start < read.end);
        self.deletes[..started]
            .iter()
            .rev()
            .take_while(|delete| {
                delete.start.saturating_add(self.longest_delete) >= overwritten_before
            })
            .any(|delete| delete.end >= overwritten_before && explains(delete, delete.end))
    }
}

/// Checks every acknowledged read of `ops`; the reads no linearization
/// explains.
pub fn check(ops: &[Op]) -> Vec<Violation> {
    let mut sets: HashMap<u64, &Op> = HashMap::new();
    for op in ops {
        if let Action::Set(id) = op.action {
            let previous = sets.insert(id, op);
            assert!(
                previous.is_none(),
                "value {id} written twice: ids must be unique"
            );
        }
    }
    let mut violations = Vec::new();
    let mut violation = |read: &Op, why: String| {
        violations.push(Violation {
            read: read.clone(),
            why,
        });
    };
    // Each value's cluster, per key; reads that name no possible write are
    // violations on their own and join none.
    let mut clusters: HashMap<usize, HashMap<u64, Cluster<'_>>> = HashMap::new();
    let mut absent_reads = Vec::new();
    for &set in sets.values() {
        if set.ok {
            let Action::Set(id) = set.action else {
                unreachable!("sets holds sets")
            };
            clusters
                .entry(set.key)
                .or_default()
                .insert(id, Cluster::new(id, set));
        }
    }
    for read in ops.iter().filter(|op| op.ok) {
        let Action::Get(got) = read.action else {
            continue;
        };
        let Some(id) = got else {
            absent_reads.push(read);
            continue;
        };
        match sets.get(&id) {
            None => violation(read, format!("read value {id}, which no set wrote")),
            Some(set) if set.key != read.key => {
                violation(read, format!("read value {id}, written to key {}", set.key));
            }
            Some(set) if set.start >= read.end => violation(
                read,
                format!("read value {id}, whose set started after the read ended ({set:?})"),
            ),
            Some(set) => clusters
                .entry(read.key)
                .or_default()
                .entry(id)
                .or_insert_with(|| Cluster::new(id, set))
                .add_read(read),
        }
    }
    let mut by_key: HashMap<usize, Vec<&Op>> = HashMap::new();
    for op in ops {
        by_key.entry(op.key).or_default().push(op);
    }
    let checks: HashMap<usize, KeyCheck<'_>> = by_key
        .iter()
        .map(|(&key, ops)| {
            let (mut forward, mut backward) = (Vec::new(), Vec::new());
            for cluster in clusters.get(&key).into_iter().flat_map(HashMap::values) {
                if cluster.min_end < cluster.max_start {
                    forward.push(Zone {
                        from: cluster.min_end,
                        to: cluster.max_start,
                        op: cluster.latest,
                    });
                } else {
                    backward.push(Zone {
                        from: cluster.max_start,
                        to: cluster.min_end,
                        op: sets[&cluster.id],
                    });
                }
            }
            let mut deletes: Vec<&Op> = ops
                .iter()
                .copied()
                .filter(|op| op.ok && op.action == Action::Delete)
                .collect();
            deletes.sort_unstable_by_key(|op| op.start);
            let mut sets_by_end: Vec<(u64, u64)> = ops
                .iter()
                .filter(|op| op.ok && matches!(op.action, Action::Set(_)))
                .map(|op| (op.end, op.start))
                .collect();
            sets_by_end.sort_unstable();
            let latest_start = sets_by_end
                .iter()
                .scan(0, |latest, &(_, start)| {
                    *latest = start.max(*latest);
                    Some(*latest)
                })
                .collect();
            let check = KeyCheck {
                forward: Forward::new(forward),
                backward: Backward::new(backward),
                longest_delete: deletes
                    .iter()
                    .map(|op| op.end - op.start)
                    .max()
                    .unwrap_or(0),
                deletes,
                failed_deletes: ops
                    .iter()
                    .copied()
                    .filter(|op| !op.ok && op.action == Action::Delete)
                    .collect(),
                sets_by_end: sets_by_end.iter().map(|&(end, _)| end).collect(),
                latest_start,
            };
            (key, check)
        })
        .collect();
    for check in checks.values() {
        // Two values cannot each have held throughout overlapping times.
        let zones = &check.forward.zones;
        for (i, zone) in zones.iter().enumerate().skip(1) {
            let earlier = &zones[check.forward.longest[i - 1]];
            if earlier.to > zone.from {
                violation(
                    zone.op,
                    format!(
                        "this value held from {} to {}, overlapping the time from {} to {} \
                         when another did, which {:?} read",
                        zone.from, zone.to, earlier.from, earlier.to, earlier.op
                    ),
                );
            }
        }
        // Nor can a value have held while a write happened entirely within.
        let writes = check
            .backward
            .zones
            .iter()
            .map(|zone| (zone.from, zone.to, zone.op))
            .chain(check.deletes.iter().map(|op| (op.start, op.end, *op)));
        for (from, to, write) in writes {
            if let Some(zone) = check.forward.around(from, to) {
                violation(
                    zone.op,
                    format!(
                        "this value held from {} to {}, but {write:?} was written entirely \
                         within that time",
                        zone.from, zone.to
                    ),
                );
            }
        }
    }
    for read in absent_reads {
        if !checks[&read.key].absence_explained(read) {
            violation(
                read,
                "read nothing, but neither the initial state nor any delete can have been the \
                 last write before it"
                    .to_owned(),
            );
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
        for later in [1, 2] {
            let ops = [
                op(0, Action::Set(1), 0, 10),
                op(0, Action::Set(2), 1, 9),
                // While both run, reads may see either, in either order, or
                // the initial state first.
                op(0, Action::Get(None), 2, 3),
                op(0, Action::Get(Some(2)), 4, 5),
                op(0, Action::Get(Some(1)), 6, 7),
                // After both, the last one linearized stays.
                op(0, Action::Get(Some(later)), 11, 12),
                op(0, Action::Get(Some(later)), 11, 13),
                // The overwrite is still running when these reads start.
                op(0, Action::Set(3), 20, 30),
                op(0, Action::Get(Some(later)), 21, 22),
                op(0, Action::Get(Some(3)), 25, 26),
            ];
            let ops = if later == 2 {
                // 1 must come first then: drop the read of 1 after 2.
                ops.into_iter()
                    .filter(|op| !(op.action == Action::Get(Some(1)) && op.start == 6))
                    .collect()
            } else {
                ops.to_vec()
            };
            assert_eq!(check(&ops).len(), 0, "{:?}", check(&ops));
        }
    }

    #[test]
    fn reads_going_back_and_forth_are_caught() {
        // After both sets ended, the value cannot change back and forth.
        let ops = [
            op(0, Action::Set(1), 0, 10),
            op(0, Action::Set(2), 1, 9),
            op(0, Action::Get(Some(1)), 11, 12),
            op(0, Action::Get(Some(2)), 13, 14),
            op(0, Action::Get(Some(1)), 15, 16),
        ];
        assert_eq!(violations(&ops), 1, "{:?}", check(&ops));
        // Two reads after both sets, each reading another: one must be wrong.
        let ops = [
            op(0, Action::Set(1), 0, 10),
            op(0, Action::Set(2), 1, 9),
            op(0, Action::Get(Some(1)), 11, 12),
            op(0, Action::Get(Some(2)), 11, 12),
        ];
        assert_eq!(violations(&ops), 1, "{:?}", check(&ops));
        // Likewise with a delete instead of the second set, either way round.
        let ops = [
            op(0, Action::Set(1), 0, 10),
            op(0, Action::Delete, 1, 9),
            op(0, Action::Get(Some(1)), 11, 12),
            op(0, Action::Get(None), 13, 14),
            op(0, Action::Get(Some(1)), 15, 16),
        ];
        assert_eq!(violations(&ops), 1, "{:?}", check(&ops));
        let ops = [
            op(0, Action::Delete, 0, 10),
            op(0, Action::Set(1), 1, 9),
            op(0, Action::Get(None), 11, 12),
            op(0, Action::Get(Some(1)), 13, 14),
            op(0, Action::Get(None), 15, 16),
        ];
        // Reads of nothing are checked one at a time: each conflicts with the
        // read of 1 between them.
        assert_eq!(violations(&ops), 2, "{:?}", check(&ops));
        // While the writes run, the same reads are fine.
        let ops = [
            op(0, Action::Set(1), 0, 10),
            op(0, Action::Delete, 1, 9),
            op(0, Action::Get(Some(1)), 2, 3),
            op(0, Action::Get(None), 4, 5),
            op(0, Action::Get(None), 11, 12),
        ];
        assert_eq!(check(&ops).len(), 0, "{:?}", check(&ops));
    }

    #[test]
    fn a_value_cannot_hold_across_a_write_a_read_saw_first() {
        // 2 was read before 1's last read, and 1's set ended before 2's read
        // started: 1 must have held across 2's whole cluster.
        let ops = [
            op(0, Action::Set(1), 0, 2),
            op(0, Action::Set(2), 1, 20),
            op(0, Action::Get(Some(2)), 5, 6),
            op(0, Action::Get(Some(1)), 8, 9),
        ];
        assert_eq!(violations(&ops), 1, "{:?}", check(&ops));
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

    /// Histories made by a real register — each operation takes effect at a
    /// random point within its interval — must all pass: the check flags
    /// nothing linearizable.
    #[test]
    fn linearizable_histories_pass() {
        let mut random = XorShift::new(7);
        for _ in 0..200 {
            // (linearization point, op index) of each operation.
            let mut ops = Vec::new();
            let mut points = Vec::new();
            for i in 0..60 {
                let start = random.below(1_000) as u64;
                let end = start + 1 + random.below(100) as u64;
                let point = start + random.below((end - start) as usize) as u64;
                let action = match random.below(3) {
                    0 => Action::Set(i + 1),
                    1 => Action::Delete,
                    _ => Action::Get(None),
                };
                // Some writes fail: applied at their point, or never.
                let ok = matches!(action, Action::Get(_)) || random.below(10) != 0;
                let applied = ok || random.below(2) == 0;
                ops.push(Op {
                    key: random.below(2),
                    action,
                    start,
                    end,
                    ok,
                });
                points.push((point, i as usize, applied));
            }
            points.sort_unstable();
            let mut register = [None, None];
            for (_, i, applied) in points {
                let op = &mut ops[i];
                match op.action {
                    Action::Set(id) if applied => register[op.key] = Some(id),
                    Action::Delete if applied => register[op.key] = None,
                    Action::Get(_) => op.action = Action::Get(register[op.key]),
                    _ => {}
                }
            }
            assert_eq!(check(&ops).len(), 0, "{:?}\n{ops:?}", check(&ops));
        }
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
