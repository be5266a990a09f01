//! Running one workload (N tasks issuing `set`, `get` or `set-if`) against one
//! target.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use flowstore::{Error, ErrorKind, Key, Store, StoreExt, Version, async_trait};
use hdrhistogram::Histogram;

use super::args::Op;
use super::cpu::process_cpu_time;
use super::report::{RunResult, new_histogram};
use crate::failure::Failure;

/// Runs started so far in this process.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// When a run stops.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// After this many operations in total, across tasks.
    Ops(u64),
    /// After this long.
    Duration(Duration),
}

/// What every run of one `bench` command does.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The operation every task issues.
    pub op: Op,
    /// Tasks issuing operations at once.
    pub concurrency: u32,
    /// Size of each value, in bytes.
    pub value_size: usize,
    /// Distinct keys; operation `i` uses key `i % keys`, so concurrent tasks
    /// touch distinct keys whenever `keys >= concurrency`.
    pub keys: u64,
    /// When each run stops.
    pub limit: Limit,
}

impl Workload {
    /// The name of key number `index` (the same for every target).
    pub fn key_name(index: u64) -> String {
        format!("bench:{index:08}")
    }

    /// The base of every value `set` writes: `value_size` bytes that do not
    /// compress. See [`stamped`].
    pub fn value(&self) -> Vec<u8> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..self.value_size)
            .map(|_| {
                // xorshift64: cheap, deterministic, incompressible enough.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect()
    }
}

/// `base` with its first bytes replaced by `stamp` (the operation's number), so
/// every write changes the stored bytes. SQLite skips writing a page whose
/// content an update leaves identical; rewriting the same value would measure
/// no disk writes (and no fsyncs) at all.
pub fn stamped(base: &[u8], stamp: u64) -> Vec<u8> {
    let mut value = base.to_vec();
    let stamp = stamp.to_le_bytes();
    let len = value.len().min(stamp.len());
    value[..len].copy_from_slice(&stamp[..len]);
    value
}

/// Something a workload runs against: flowstore itself or a raw baseline.
/// Keys are passed by index so no target pays for formatting them.
#[async_trait]
pub trait Target: Send + Sync + 'static {
    /// Writes the workload's value, [`stamped`] with `stamp`, under key `key`.
    async fn set(&self, key: usize, stamp: u64) -> Result<(), Error>;
    /// Reads key `key`; whether it was found.
    async fn get(&self, key: usize) -> Result<bool, Error>;

    /// Writes like [`set`](Target::set), but only if key `key` is still at the
    /// entry version last seen for it. Default: `Unsupported`.
    async fn set_if(&self, key: usize, stamp: u64) -> Result<(), Error> {
        let _ = (key, stamp);
        Err(Error::unsupported(
            "this bench target has no conditional write",
        ))
    }

    /// Writes key `key` before the runs. Default: [`set`](Target::set).
    async fn populate(&self, key: usize, stamp: u64) -> Result<(), Error> {
        self.set(key, stamp).await
    }
}

/// A flowstore [`Store`] as a bench target.
#[derive(Debug)]
pub struct StoreTarget {
    store: Arc<dyn Store>,
    keys: Vec<Key>,
    value: Vec<u8>,
    /// Per key, the entry version this target last wrote or saw, for `set-if`.
    versions: Vec<Mutex<Option<Version>>>,
}

impl StoreTarget {
    /// A target writing `workload`'s keys and values to `store`.
    pub fn new(store: Arc<dyn Store>, workload: &Workload) -> Result<Self, Error> {
        let keys: Vec<Key> = (0..workload.keys)
            .map(|index| Key::new(Workload::key_name(index)))
            .collect::<Result<_, _>>()?;
        let versions = keys.iter().map(|_| Mutex::new(None)).collect();
        Ok(StoreTarget {
            store,
            keys,
            value: workload.value(),
            versions,
        })
    }

    fn version_slot(&self, key: usize) -> std::sync::MutexGuard<'_, Option<Version>> {
        self.versions[key]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Target for StoreTarget {
    async fn set(&self, key: usize, stamp: u64) -> Result<(), Error> {
        let value = stamped(&self.value, stamp);
        self.store.set(&self.keys[key], &value, None).await
    }

    async fn get(&self, key: usize) -> Result<bool, Error> {
        Ok(self.store.get(&self.keys[key]).await?.is_some())
    }

    async fn set_if(&self, key: usize, stamp: u64) -> Result<(), Error> {
        let value = stamped(&self.value, stamp);
        let k = &self.keys[key];
        let mut expected = self.version_slot(key).clone();
        loop {
            let written = match &expected {
                Some(version) => self.store.set_if_version(k, &value, None, version).await,
                None => self.store.set_if_absent(k, &value, None).await,
            };
            match written {
                Ok(version) => {
                    *self.version_slot(key) = Some(version);
                    return Ok(());
                }
                // Another task wrote the key since: start from its version.
                Err(err) if err.kind() == ErrorKind::Conflict && err.current().is_some() => {
                    expected = err.current_version().cloned();
                }
                Err(err) if err.kind() == ErrorKind::Conflict => {
                    expected = self.store.get_entry(k).await?.map(|entry| entry.version);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Writes with [`StoreExt::set_versioned`] where the store has versions,
    /// so `set-if` runs start from known versions.
    async fn populate(&self, key: usize, stamp: u64) -> Result<(), Error> {
        if !self.store.capabilities().versions {
            return self.set(key, stamp).await;
        }
        let value = stamped(&self.value, stamp);
        let version = self
            .store
            .set_versioned(&self.keys[key], &value, None)
            .await?;
        *self.version_slot(key) = Some(version);
        Ok(())
    }
}

/// Writes every key of the workload once, `concurrency` tasks at a time, so
/// `get` finds them and every measured `set` replaces an existing entry.
pub(crate) async fn populate(target: Arc<dyn Target>, workload: &Workload) -> Result<(), Failure> {
    let next = Arc::new(AtomicU64::new(0));
    let tasks = (0..workload.concurrency.max(16)).map(|_| {
        let target = Arc::clone(&target);
        let next = Arc::clone(&next);
        let keys = workload.keys;
        tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= keys {
                    return Ok::<(), Error>(());
                }
                target.populate(index as usize, index).await?;
            }
        })
    });
    let tasks: Vec<_> = tasks.collect();
    for task in tasks {
        task.await
            .map_err(|err| Failure::new(format!("bench: a task failed: {err}")))?
            .map_err(|err| Failure::store("bench: writing the keys before the runs", &err))?;
    }
    Ok(())
}

/// Runs `workload` once against `target`; `label` names it in progress lines on stderr.
pub(crate) async fn run(
    target: Arc<dyn Target>,
    workload: &Workload,
    label: &str,
) -> Result<RunResult, Failure> {
    // Stamps `run_id << 40 | op number` never repeat across runs (`populate`
    // uses run 0), so no write stores the bytes already there.
    let run_id = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    // Set by the first task that fails, so the others stop early.
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    let deadline = match workload.limit {
        Limit::Duration(duration) => Some(start + duration),
        Limit::Ops(_) => None,
    };
    let max_ops = match workload.limit {
        Limit::Ops(ops) => ops,
        Limit::Duration(_) => u64::MAX,
    };

    let tasks: Vec<_> = (0..workload.concurrency)
        .map(|_| {
            let target = Arc::clone(&target);
            let next = Arc::clone(&next);
            let done = Arc::clone(&done);
            let stop = Arc::clone(&stop);
            let (op, keys) = (workload.op, workload.keys);
            tokio::spawn(async move {
                let mut histogram = new_histogram();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= max_ops
                        || stop.load(Ordering::Relaxed)
                        || deadline.is_some_and(|end| Instant::now() >= end)
                    {
                        return Ok::<Histogram<u64>, Failure>(histogram);
                    }
                    let key = (index % keys) as usize;
                    let began = Instant::now();
                    if let Err(failure) = one_op(&*target, op, key, run_id << 40 | index).await {
                        stop.store(true, Ordering::Relaxed);
                        return Err(failure);
                    }
                    let nanos = u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    histogram.saturating_record(nanos.max(1));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let progress = tokio::spawn(report_progress(Arc::clone(&done), label.to_string()));
    let mut histogram = new_histogram();
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok(task_histogram)) => histogram
                .add(&task_histogram)
                .map_err(|err| Failure::new(format!("bench: merging histograms: {err}")))?,
            Ok(Err(err)) => {
                failure.get_or_insert(err);
            }
            Err(err) => {
                failure.get_or_insert(Failure::new(format!("bench: a task failed: {err}")));
            }
        }
    }
    let elapsed = start.elapsed();
    let cpu = process_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    progress.abort();
    if let Some(failure) = failure {
        return Err(failure);
    }
    Ok(RunResult::new(histogram, elapsed, cpu))
}

async fn one_op(target: &dyn Target, op: Op, key: usize, stamp: u64) -> Result<(), Failure> {
    match op {
        Op::Set => target
            .set(key, stamp)
            .await
            .map_err(|err| Failure::store("bench: set", &err)),
        Op::Get => match target.get(key).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::new(format!(
                "bench: key {:?} written before the run is missing",
                Workload::key_name(key as u64)
            ))),
            Err(err) => Err(Failure::store("bench: get", &err)),
        },
        Op::SetIf => target
            .set_if(key, stamp)
            .await
            .map_err(|err| Failure::store("bench: set-if", &err)),
    }
}

/// One line on stderr per second while a run goes on.
async fn report_progress(done: Arc<AtomicU64>, label: String) {
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let ops = done.load(Ordering::Relaxed);
        let rate = ops as f64 / start.elapsed().as_secs_f64();
        eprintln!("  {label}: {ops} ops, {rate:.0} ops/s so far");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_values_differ_and_keep_their_size() {
        let base = vec![7u8; 1024];
        let (one, two) = (stamped(&base, 1), stamped(&base, 2));
        assert_ne!(one, two);
        assert_eq!((one.len(), two.len()), (1024, 1024));
        assert_eq!(one[8..], base[8..]);
        assert_eq!(stamped(&[], 5), Vec::<u8>::new());
        assert_eq!(stamped(&[0, 0], 0x0102), vec![2, 1]);
    }
}
