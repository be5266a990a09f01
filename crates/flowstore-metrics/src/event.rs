//! What the wrapper reports about each operation.

use std::fmt;
use std::time::Duration;

use flowstore_core::{ErrorKind, Key, MaybeSend, MaybeSync, Namespace};

/// A store operation: flowstore-core's, re-exported.
pub use flowstore_core::Operation;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It succeeded (for `get`, whether or not the key was found).
    Ok,
    /// A conditional write (`set_if`, `delete_if`) found its condition false
    /// and wrote nothing: the store answered, and the caller's view of the key
    /// was out of date. Counted apart from errors, because under contention it
    /// is the expected answer, not a failure of the store.
    Conflict,
    /// It failed with an error of this kind (never
    /// [`ErrorKind::Conflict`], which is [`Outcome::Conflict`]).
    Error(ErrorKind),
}

impl Outcome {
    /// How an operation that returned `result` ended.
    pub fn of<T>(result: &flowstore_core::Result<T>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(error) if error.kind() == ErrorKind::Conflict => Outcome::Conflict,
            Err(error) => Outcome::Error(error.kind()),
        }
    }

    /// The value of the `outcome` label: `ok`, `conflict`, or the error kind's
    /// stable name ([`ErrorKind::as_str`]: `unavailable`, `timeout`, `corrupt`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Conflict => "conflict",
            Outcome::Error(kind) => kind.as_str(),
        }
    }

    /// Whether the operation succeeded.
    pub const fn is_ok(self) -> bool {
        matches!(self, Outcome::Ok)
    }

    /// Whether the operation failed with an error: neither `Ok` nor a
    /// [`Conflict`](Outcome::Conflict).
    pub const fn is_failure(self) -> bool {
        matches!(self, Outcome::Error(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finished operation, as passed to the callback.
///
/// It never holds the value itself, only its size. `Debug` leaves the key out
/// (keys often contain user ids); the callback can read it from
/// [`key`](OpEvent::key).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct OpEvent<'a> {
    /// Which operation.
    pub op: Operation,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took, from the call to the inner store until its answer.
    pub duration: Duration,
    /// For a successful `set` or `set_if`, the bytes written (the caller's
    /// value); for a successful `get` or `get_entry` that found the key, the
    /// bytes returned; otherwise `None`.
    pub value_bytes: Option<usize>,
    /// For a successful `get` or `get_entry`, whether the key was found;
    /// otherwise `None`.
    pub found: Option<bool>,
    /// The key, for the operations on one key (`None` for `clear` and `ping`).
    pub key: Option<&'a Key>,
    /// The namespace of the wrapped store.
    pub namespace: &'a Namespace,
    /// The constant store label, if one was given.
    pub store: Option<&'a str>,
}

impl fmt::Debug for OpEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpEvent")
            .field("op", &self.op)
            .field("outcome", &self.outcome)
            .field("duration", &self.duration)
            .field("value_bytes", &self.value_bytes)
            .field("found", &self.found)
            .field("namespace", &self.namespace)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// A callback that receives every [`OpEvent`]: any `Fn(&OpEvent)` (`Send + Sync`
/// on native targets).
///
/// It runs inline, after the operation and before the caller gets the result,
/// so it should be quick (count, push to a channel) and must not panic.
pub trait EventCallback: Fn(&OpEvent<'_>) + MaybeSend + MaybeSync {}

impl<F: Fn(&OpEvent<'_>) + MaybeSend + MaybeSync> EventCallback for F {}
