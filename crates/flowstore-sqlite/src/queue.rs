//! A small blocking queue between async callers and the store's threads.
//!
//! Callers push without blocking (a short mutex hold); threads take everything
//! queued at once (up to a cap), which is what group commit needs. A thread is
//! only woken (a futex call) when one is actually asleep, and the thread woken is
//! the one that went to sleep last: it is the likeliest to still be warm (caches,
//! CPU not yet in a deep idle state), which matters most for a lone caller
//! issuing one request after another.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::thread::Thread;
use std::time::Instant;

#[derive(Debug)]
pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    /// Consumers asleep in [`Queue::pop_batch`], the most recent last.
    sleepers: Vec<Thread>,
    /// How many queued items a sleeping consumer waits for (1 unless the single
    /// consumer asked for more with [`Queue::pop_batch`]'s `min`).
    wanted: usize,
    closed: bool,
}

impl<T> State<T> {
    /// Takes the most recently parked consumer off the sleepers, to be woken.
    fn pick_sleeper(&mut self) -> Option<Thread> {
        self.sleepers.pop()
    }
}

/// What [`Queue::pop_batch`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Popped {
    /// At least one item was moved into the batch.
    Items,
    /// The deadline passed with nothing queued.
    TimedOut,
    /// The queue is closed and empty.
    Closed,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Queue<T> {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(64),
                sleepers: Vec::new(),
                wanted: 1,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every operation on it is a single collection call).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `item`; gives it back if the queue is closed.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut state = self.lock();
        if state.closed {
            return Err(item);
        }
        state.items.push_back(item);
        let wake = if state.items.len() >= state.wanted {
            state.pick_sleeper()
        } else {
            None
        };
        drop(state);
        if let Some(thread) = wake {
            thread.unpark();
        }
        Ok(())
    }

    /// Waits until `min` items are queued (or the queue closes, or `deadline`
    /// passes), then moves up to `max` queued items into `batch`. Returns
    /// `Items` if it moved any, `TimedOut` if the deadline passed with nothing
    /// queued, `Closed` once the queue is closed and empty (items still queued
    /// when it closes are handed out first).
    ///
    /// A `min` above 1 is only for a queue with a single consumer (the writer).
    pub(crate) fn pop_batch(
        &self,
        batch: &mut Vec<T>,
        max: usize,
        min: usize,
        deadline: Option<Instant>,
    ) -> Popped {
        let min = min.max(1);
        let me = std::thread::current();
        let mut state = self.lock();
        loop {
            let expired = deadline.is_some_and(|deadline| Instant::now() >= deadline);
            if state.items.len() >= min || (state.closed || expired) && !state.items.is_empty() {
                let n = state.items.len().min(max);
                batch.extend(state.items.drain(..n));
                // Leftovers (over `max`) are for another consumer.
                let wake = if state.items.is_empty() {
                    None
                } else {
                    state.pick_sleeper()
                };
                drop(state);
                if let Some(thread) = wake {
                    thread.unpark();
                }
                return Popped::Items;
            }
            if state.closed {
                return Popped::Closed;
            }
            if expired {
                return Popped::TimedOut;
            }
            state.sleepers.push(me.clone());
            state.wanted = min;
            drop(state);
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
                }
            }
            state = self.lock();
            state.wanted = 1;
            // Woken by a timeout or spuriously rather than by a push: still listed.
            if let Some(i) = state.sleepers.iter().position(|t| t.id() == me.id()) {
                state.sleepers.remove(i);
            }
        }
    }

    /// How many items are queued right now.
    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether anything is queued right now.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    /// Refuses further pushes and wakes every sleeping consumer.
    pub(crate) fn close(&self) {
        let sleepers = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.sleepers)
        };
        for thread in sleepers {
            thread.unpark();
        }
    }

    /// Closes the queue and drops everything still queued (so waiting callers
    /// learn that no answer will come).
    pub(crate) fn close_and_discard(&self) {
        let (items, sleepers) = {
            let mut state = self.lock();
            state.closed = true;
            (
                std::mem::take(&mut state.items),
                std::mem::take(&mut state.sleepers),
            )
        };
        for thread in sleepers {
            thread.unpark();
        }
        drop(items);
    }
}
