//! The configurable rules of a fallback store.

/// When a write (`set`, `delete`) counts as done.
///
/// A write is always sent to **every** store; the policy says which
/// acknowledgements it needs to return `Ok`. When it returns an error the write
/// may still have landed on some stores (its outcome is unknown, as for any
/// failed write): reads then return it wherever it is newest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WritePolicy {
    /// At least one store acknowledged (the default): writes keep working while
    /// any store is up.
    #[default]
    AtLeastOne,
    /// The primary (the first store) acknowledged; the others are best effort.
    Primary,
    /// Every store acknowledged.
    All,
}

/// What `get` returns when no store found the key (no value, no tombstone) but
/// at least one store failed to answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MissingPolicy {
    /// Return the error of the first store (in order) that failed (the
    /// default). An outage is never reported as "no saved state".
    #[default]
    Error,
    /// Treat the key as absent (`Ok(None)`) when every failure is an outage
    /// (`Unavailable` or `Timeout`) and at least one store answered "absent".
    /// Any other failure (`Corrupt`, `Unauthorized`, …) is still returned, and
    /// when no store answered at all the first error is returned.
    ///
    /// Opt in only if showing "no saved state" during a partial outage is
    /// acceptable: a value that exists only on the failed store reads as absent.
    Absent,
}
