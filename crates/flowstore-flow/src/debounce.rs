//! [`Debouncer`]: coalesces rapid saves of one instance into one write.
//!
//! A flow UI may save on every keystroke. The debouncer holds the latest state
//! of each instance for an interval and writes only that one; `flush().await`
//! writes everything pending and returns once it is stored.
//!
//! **The loss window**: a save is only in memory until its interval has passed
//! (or `flush` ran). If the process dies inside that window, the save is lost,
//! and the store keeps the previous one. Dropping the debouncer does not lose
//! pending saves while the tokio runtime lives (their timers still write them),
//! but a runtime shut down first takes them with it: call `flush` before
//! shutting down.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flowstore_core::Version;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SaveError;
use crate::model::{FlowInstance, FlowRef};
use crate::persister::{Base, FlowPersister, Saved};

/// Coalesces the saves of each instance made within `interval` into one write.
///
/// Successive saves from the same base are successive edits: when a debounced
/// write has stored a state based on `V0` as `V1`, a later save that still
/// names `V0` as its base is written on top of `V1` (it came from the same
/// writer, through this debouncer), while a save from any other base is checked
/// as given. A conflict (someone else saved) drops the pending state and is
/// returned by the next [`flush`](Debouncer::flush).
pub struct Debouncer<C> {
    persister: FlowPersister<C>,
    interval: Duration,
    shared: Arc<Shared<C>>,
}

struct Shared<C> {
    slots: Mutex<HashMap<FlowRef, Slot<C>>>,
    /// Held for each write, so writes of one debouncer are serial and `flush`
    /// waits for one already running.
    writing: tokio::sync::Mutex<()>,
    /// The first failure of a background write, for the next `flush`.
    failure: Mutex<Option<SaveError<C>>>,
}

struct Slot<C> {
    pending: Option<(FlowInstance<C>, Base)>,
    /// The base of this debouncer's last stored write and the version it made.
    last: Option<(Base, Option<Version>)>,
}

impl<C> Clone for Debouncer<C> {
    fn clone(&self) -> Self {
        Debouncer {
            persister: self.persister.clone(),
            interval: self.interval,
            shared: self.shared.clone(),
        }
    }
}

impl<C> fmt::Debug for Debouncer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Debouncer")
            .field("persister", &self.persister)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl<C> Debouncer<C>
where
    C: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Writes through `persister` at most once per `interval` per instance.
    /// Needs a tokio runtime with timers.
    pub fn new(persister: FlowPersister<C>, interval: Duration) -> Debouncer<C> {
        Debouncer {
            persister,
            interval,
            shared: Arc::new(Shared {
                slots: Mutex::new(HashMap::new()),
                writing: tokio::sync::Mutex::new(()),
                failure: Mutex::new(None),
            }),
        }
    }

    /// Queues `instance` to be saved from `base` once the interval has passed;
    /// a later save of the same instance within it replaces this one (the base
    /// of the first stays: none of them was stored).
    pub fn save(&self, instance: FlowInstance<C>, base: Base) {
        let flow = instance.flow_ref();
        let arm_timer = {
            let mut slots = lock(&self.shared.slots);
            let slot = slots.entry(flow.clone()).or_insert_with(|| Slot {
                pending: None,
                last: None,
            });
            match &mut slot.pending {
                Some((pending, _)) => {
                    *pending = instance;
                    false
                }
                None => {
                    slot.pending = Some((instance, base));
                    true
                }
            }
        };
        if arm_timer {
            let debouncer = self.clone();
            let interval = self.interval;
            tokio::spawn(async move {
                tokio::time::sleep(interval).await;
                debouncer.write(&flow).await;
            });
        }
    }

    /// Writes every pending save now, waits for writes already running, and
    /// returns the first failure since the last flush (a background write's
    /// too). `Ok` means everything saved before the call is stored.
    pub async fn flush(&self) -> Result<(), SaveError<C>> {
        let flows: Vec<FlowRef> = lock(&self.shared.slots)
            .iter()
            .filter(|(_, slot)| slot.pending.is_some())
            .map(|(flow, _)| flow.clone())
            .collect();
        for flow in &flows {
            self.write(flow).await;
        }
        // A write started before this call and finished by now leaves its
        // failure here; one still running holds `writing` until it is done.
        drop(self.shared.writing.lock().await);
        match lock(&self.shared.failure).take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Writes the pending save of `flow`, if any (a timer's or `flush`'s).
    async fn write(&self, flow: &FlowRef) {
        let _writing = self.shared.writing.lock().await;
        let Some((mut instance, named, effective)) = self.take_pending(flow) else {
            return;
        };
        match self.persister.save(&mut instance, effective).await {
            Ok(Saved { version, .. }) => {
                if let Some(slot) = lock(&self.shared.slots).get_mut(flow) {
                    slot.last = Some((named, version));
                }
            }
            Err(err) => {
                lock(&self.shared.failure).get_or_insert(err);
            }
        }
    }

    /// Takes the pending save of `flow` with the base it named and the base
    /// to write it from: this debouncer's last write when that write named the
    /// same base. Called with `writing` held, so `last` reflects every write
    /// before it.
    fn take_pending(&self, flow: &FlowRef) -> Option<(FlowInstance<C>, Base, Base)> {
        let mut slots = lock(&self.shared.slots);
        let slot = slots.get_mut(flow)?;
        let (instance, named) = slot.pending.take()?;
        let effective = match &slot.last {
            Some((last_named, written)) if *last_named == named => match written {
                Some(version) => Base::Version(version.clone()),
                None => Base::Overwrite,
            },
            _ => named.clone(),
        };
        Some((instance, named, effective))
    }
}

/// A poisoned lock only means another thread panicked while holding it; the
/// maps stay consistent (each change is one assignment), so carry on.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
