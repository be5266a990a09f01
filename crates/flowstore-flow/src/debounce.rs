//! [`Debouncer`]: coalesces one writer's rapid saves of one instance into
//! one write.
//!
//! A flow UI may save on every keystroke. The debouncer holds the latest state
//! for an interval and writes only that one; `flush().await` writes what is
//! pending and returns once it is stored.
//!
//! **The loss window**: a save is only in memory until its interval has passed
//! (or `flush` ran). If the process dies inside that window, the save is lost
//! and the store keeps the previous one. Dropping the debouncer does not lose a
//! pending save while the tokio runtime lives (its timer still writes it), but
//! a runtime shut down first takes it along: call `flush` before shutting down.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flowstore_core::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{FlowError, SaveError};
use crate::model::{FlowInstance, FlowRef};
use crate::persister::{Base, FlowPersister, Saved};

/// One writer's saves of one instance, written at most once per interval.
///
/// The debouncer is the writer: it starts from the base it is given and moves
/// it to each version it writes, so its own writes never conflict with one
/// another, while a save by anyone else in between is a conflict, returned by
/// the next [`flush`](Debouncer::flush). After merging, [`rebase`](Debouncer::rebase)
/// onto the version the conflict reported and save again. Give each writer
/// (each tab, each request handler that owns an instance) its own debouncer.
pub struct Debouncer<C> {
    persister: FlowPersister<C>,
    flow: FlowRef,
    interval: Duration,
    shared: Arc<Shared<C>>,
}

struct Shared<C> {
    state: Mutex<State<C>>,
    /// Held for each write, so writes are serial and `flush` waits for one
    /// already running.
    writing: tokio::sync::Mutex<()>,
}

struct State<C> {
    /// The latest unsaved state.
    pending: Option<FlowInstance<C>>,
    /// Whether a timer will write `pending`.
    timer_armed: bool,
    /// What the next write is based on.
    base: Base,
    /// The failure of the last write, for the next `flush`.
    failure: Option<SaveError<C>>,
}

impl<C> Clone for Debouncer<C> {
    fn clone(&self) -> Self {
        Debouncer {
            persister: self.persister.clone(),
            flow: self.flow.clone(),
            interval: self.interval,
            shared: self.shared.clone(),
        }
    }
}

impl<C> fmt::Debug for Debouncer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Debouncer")
            .field("flow", &self.flow)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl<C> Debouncer<C>
where
    C: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Saves of `flow` through `persister`, at most one write per `interval`,
    /// the first based on `base` (what [`FlowPersister::base_of`] gave for
    /// the restored state).
    pub fn new(
        persister: FlowPersister<C>,
        flow: FlowRef,
        base: Base,
        interval: Duration,
    ) -> Debouncer<C> {
        Debouncer {
            persister,
            flow,
            interval,
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    pending: None,
                    timer_armed: false,
                    base,
                    failure: None,
                }),
                writing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Queues `instance` to be written once the interval has passed; a later
    /// save within it replaces this one. `InvalidArgument` if `instance` is not
    /// this debouncer's, `Unsupported` outside a tokio runtime (the timer
    /// needs one); nothing is queued then.
    pub fn save(&self, instance: FlowInstance<C>) -> Result<(), FlowError> {
        if instance.flow_ref() != self.flow {
            return Err(Error::invalid_argument(
                "a debouncer saves one instance: this one is another's",
            )
            .into());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::unsupported("a debounced save needs a tokio runtime for its timer")
        })?;
        let arm_timer = {
            let mut state = lock(&self.shared.state);
            state.pending = Some(instance);
            !std::mem::replace(&mut state.timer_armed, true)
        };
        if arm_timer {
            let debouncer = self.clone();
            runtime.spawn(async move {
                tokio::time::sleep(debouncer.interval).await;
                lock(&debouncer.shared.state).timer_armed = false;
                debouncer.write_pending().await;
            });
        }
        Ok(())
    }

    /// Sets what the next write is based on: after a conflict, the version it
    /// reported (once the pending state has been merged with the current one).
    pub fn rebase(&self, base: Base) {
        lock(&self.shared.state).base = base;
    }

    /// Writes the pending save now, waits for a write already running, and
    /// returns the failure of the last write since the previous flush. `Ok`
    /// means every save made before the call is stored.
    ///
    /// A failed write keeps its state pending (unless a newer save replaced
    /// it), so a later flush retries it.
    pub async fn flush(&self) -> Result<(), SaveError<C>> {
        self.write_pending().await;
        match lock(&self.shared.state).failure.take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Writes what is pending, if anything.
    async fn write_pending(&self) {
        let _writing = self.shared.writing.lock().await;
        let (mut instance, base) = {
            let mut state = lock(&self.shared.state);
            let Some(instance) = state.pending.take() else {
                return;
            };
            (instance, state.base.clone())
        };
        let result = self.persister.save(&mut instance, base.clone()).await;
        let mut state = lock(&self.shared.state);
        match result {
            Ok(Saved { version, .. }) => {
                // Last write wins stays last write wins; a checked write is
                // followed by one checked against it.
                state.base = match (base, version) {
                    (Base::Overwrite, _) | (_, None) => Base::Overwrite,
                    (_, Some(version)) => Base::Version(version),
                };
                state.failure = None;
            }
            Err(err) => {
                state.pending.get_or_insert(instance);
                state.failure = Some(err);
            }
        }
    }

    /// The instance this debouncer saves.
    pub fn flow(&self) -> &FlowRef {
        &self.flow
    }
}

/// A poisoned lock only means another thread panicked while holding it; the
/// state stays consistent (each change is a few assignments), so carry on.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
