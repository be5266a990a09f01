//! Versioned entries: the entry version every write gives a key, and the
//! conditions a write can be made on (SPEC §8).
//!
//! The **entry version** is the store's opaque version of one key's current
//! value. It changes on every successful write of the key and never repeats for
//! that key — not after a delete and re-create, not across restarts, not after a
//! backend lost its data — because each one holds the writer's clock and a random
//! number drawn once per process, not only a counter. It is unrelated to any
//! schema version an application keeps inside its values.
//!
//! # Why the writer proposes the new version
//!
//! A conditional write whose answer is lost (a timeout, a connection cut after
//! the request was sent) may or may not have been applied. If a retry then found
//! the version its own first attempt wrote, a store that made up versions itself
//! would answer `Conflict` against the caller's own write. So the caller passes
//! the version it wants the write to have ([`Version::generate`], which the
//! [`StoreExt`](crate::StoreExt) helpers call once per logical write), and a store
//! that finds the key already at that version answers `Ok`: the write is the one
//! it already made. Every retry of one logical write reuses the same proposed
//! version, through the retry wrapper and through the HTTP pair alike.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::error::{Error, Result};

/// The longest entry version, in bytes.
pub const MAX_VERSION_LEN: usize = 64;

/// A key's entry version: 1 to 64 ASCII letters, digits, `.`, `_`, `~` or `-`,
/// so it can be written verbatim inside an HTTP strong ETag, a URL, a SQL text
/// column or a Redis value. Compared only for equality; its text means nothing.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(Box<str>);

impl Version {
    /// Checks `text` against the version rules.
    pub fn new(text: impl Into<String>) -> Result<Version> {
        let text = text.into();
        if text.is_empty() || text.len() > MAX_VERSION_LEN {
            return Err(Error::invalid_argument(format!(
                "an entry version is 1 to {MAX_VERSION_LEN} bytes, got {}",
                text.len()
            )));
        }
        if let Some(bad) = text.bytes().find(|byte| !is_version_byte(*byte)) {
            return Err(Error::invalid_argument(format!(
                "an entry version holds only ASCII letters, digits, '.', '_', '~' and '-', not byte {bad:#04x}"
            )));
        }
        Ok(Version(text.into_boxed_str()))
    }

    /// A version no writer has used before: the clock in milliseconds, a random
    /// number drawn once per process, and a counter.
    pub fn generate() -> Version {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        Version::from_parts(clock::unix_millis(), process_random(), count)
    }

    /// A version made of a clock reading, a random number and a counter: what
    /// [`generate`](Version::generate) makes, for stores that keep their own
    /// clock or counter (a database sequence, say).
    pub fn from_parts(unix_millis: u64, random: u64, counter: u64) -> Version {
        Version(format!("{unix_millis:x}-{random:x}-{counter:x}").into_boxed_str())
    }

    /// A version read back from storage. Text that breaks the version rules
    /// was not written by flowstore (a row edited by hand, a damaged file):
    /// `Corrupt`, never "absent" and never a guess.
    pub fn from_stored(text: impl Into<String>) -> Result<Version> {
        Version::new(text).map_err(|_| {
            Error::corrupt(
                "a stored entry version breaks the version rules (1-64 of A-Z a-z 0-9 . _ ~ -)",
            )
        })
    }

    /// The version's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The version as an HTTP strong entity tag: `"<version>"`.
    pub fn to_etag(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

fn is_version_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'~' | b'-')
}

/// Drawn once per process (per page load in a browser), so two processes
/// writing in the same millisecond with the same counter still differ.
fn process_random() -> u64 {
    static RANDOM: OnceLock<u64> = OnceLock::new();
    *RANDOM.get_or_init(clock::random_u64)
}

#[cfg(not(target_arch = "wasm32"))]
mod clock {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::time::{SystemTime, UNIX_EPOCH};

    pub(super) fn unix_millis() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or_default()
    }

    /// std seeds every `RandomState` from the operating system's random source;
    /// hashing the clock and the process id with one yields a random number
    /// without a dependency.
    pub(super) fn random_u64() -> u64 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or_default(),
        );
        hasher.write_u32(std::process::id());
        hasher.finish()
    }
}

#[cfg(target_arch = "wasm32")]
mod clock {
    // std's clock panics and its hash seeds are fixed on wasm32-unknown-unknown;
    // ask JavaScript.
    pub(super) fn unix_millis() -> u64 {
        js_sys::Date::now() as u64
    }

    pub(super) fn random_u64() -> u64 {
        let high = (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
        let low = (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
        (high << 32) ^ low
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({:?})", &*self.0)
    }
}

impl std::str::FromStr for Version {
    type Err = Error;

    fn from_str(text: &str) -> Result<Version> {
        Version::new(text)
    }
}

impl AsRef<str> for Version {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One key's entry, as [`Store::get_entry`](crate::Store::get_entry) reads it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The value.
    pub value: Vec<u8>,
    /// The entry version of that value.
    pub version: Version,
    /// When the entry expires (judged by the backend's clock where it has one),
    /// or `None` if it does not.
    pub expires_at: Option<SystemTime>,
}

impl Entry {
    /// An entry of `value` at `version`, expiring at `expires_at`.
    pub fn new(value: Vec<u8>, version: Version, expires_at: Option<SystemTime>) -> Entry {
        Entry {
            value,
            version,
            expires_at,
        }
    }
}

// The value is left out: it can be personal data, and it can be large.
impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("value_len", &self.value.len())
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What a conditional write requires of the key before it writes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Nothing: the write happens whatever the key holds (a plain `set` that
    /// also names the version it writes).
    Always,
    /// The key is absent (an expired entry counts as absent).
    Absent,
    /// The key's entry version equals this one.
    Matches(Version),
}

impl Condition {
    /// Whether a key at `current` (`None` = absent or expired) meets the
    /// condition. A write whose proposed version is already the key's is the
    /// caller's own earlier attempt: stores check that before this.
    pub fn holds_for(&self, current: Option<&Version>) -> bool {
        match (self, current) {
            (Condition::Always, _) => true,
            (Condition::Absent, current) => current.is_none(),
            (Condition::Matches(expected), Some(current)) => expected == current,
            (Condition::Matches(_), None) => false,
        }
    }
}

/// What a key held when a condition failed, as a `Conflict` error carries it
/// ([`Error::current`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Current {
    /// The key was absent (or expired).
    Absent,
    /// The key was at this entry version.
    Version(Version),
}

impl Current {
    /// `current` as a [`Current`].
    pub fn from_option(current: Option<Version>) -> Current {
        current.map_or(Current::Absent, Current::Version)
    }

    /// The entry version, if the key was present.
    pub fn version(&self) -> Option<&Version> {
        match self {
            Current::Absent => None,
            Current::Version(version) => Some(version),
        }
    }
}

/// Decides a conditional write against what the key holds now, the way every
/// store must: `Ok(true)` to write, `Ok(false)` when the key already holds the
/// proposed version (the caller's own earlier attempt: answer `Ok` without
/// writing again), and a `Conflict` error naming the current version otherwise.
///
/// Stores that can read the current version next to the write (memory, SQLite
/// inside its transaction) call this; stores that decide on the server (a SQL
/// statement, a Redis script) follow the same three answers.
pub fn decide_write(
    condition: &Condition,
    proposed: &Version,
    current: Option<&Version>,
) -> Result<bool> {
    if current == Some(proposed) {
        return Ok(false);
    }
    if condition.holds_for(current) {
        return Ok(true);
    }
    Err(conflict(current.cloned()))
}

/// Decides a conditional delete against what the key holds now: `Ok` to
/// delete when it is at `expected`, else a `Conflict` naming what it holds (an
/// absent key is a conflict too).
pub fn decide_delete(expected: &Version, current: Option<&Version>) -> Result<()> {
    if current == Some(expected) {
        Ok(())
    } else {
        Err(conflict(current.cloned()))
    }
}

/// The `Conflict` error of a failed condition, with what the key held.
pub fn conflict(current: Option<Version>) -> Error {
    let message = match &current {
        None => "the condition failed: the key is absent",
        Some(_) => "the condition failed: the key is at another entry version",
    };
    Error::conflict(message, Some(Current::from_option(current)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn generated_versions_are_valid_and_distinct() {
        let first = Version::generate();
        let second = Version::generate();
        assert_ne!(first, second);
        assert_eq!(Version::new(first.as_str()).unwrap(), first);
        assert!(first.as_str().len() <= MAX_VERSION_LEN);
    }

    #[test]
    fn version_rules_are_checked() {
        for bad in ["", "a b", "\"x\"", "x,y", "é", &"v".repeat(65)] {
            let err = Version::new(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
        }
        for good in ["1", "a.b_c~d-E", &"v".repeat(64)] {
            Version::new(good).unwrap();
        }
        assert_eq!(Version::new("abc").unwrap().to_etag(), "\"abc\"");
    }

    #[test]
    fn decide_write_answers_the_three_ways() {
        let old = Version::new("old").unwrap();
        let new = Version::new("new").unwrap();
        let other = Version::new("other").unwrap();
        let matches = Condition::Matches(old.clone());
        assert!(decide_write(&matches, &new, Some(&old)).unwrap());
        assert!(!decide_write(&matches, &new, Some(&new)).unwrap());
        let err = decide_write(&matches, &new, Some(&other)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(err.current_version(), Some(&other));
        let err = decide_write(&matches, &new, None).unwrap_err();
        assert_eq!(err.current(), Some(&Current::Absent));
        assert!(decide_write(&Condition::Absent, &new, None).unwrap());
        assert!(decide_write(&Condition::Absent, &new, Some(&old)).is_err());
        assert!(decide_write(&Condition::Always, &new, Some(&old)).unwrap());
    }

    #[test]
    fn decide_delete_needs_the_expected_version() {
        let old = Version::new("old").unwrap();
        let new = Version::new("new").unwrap();
        decide_delete(&old, Some(&old)).unwrap();
        let err = decide_delete(&old, Some(&new)).unwrap_err();
        assert_eq!(err.current_version(), Some(&new));
        let err = decide_delete(&old, None).unwrap_err();
        assert_eq!(err.current(), Some(&Current::Absent));
    }

    #[test]
    fn a_stored_version_that_breaks_the_rules_is_corrupt() {
        assert_eq!(Version::from_stored("v1").unwrap().as_str(), "v1");
        assert_eq!(
            Version::from_stored("a b").unwrap_err().kind(),
            ErrorKind::Corrupt
        );
    }

    #[test]
    fn entry_debug_hides_the_value() {
        let entry = Entry::new(b"secret".to_vec(), Version::new("v1").unwrap(), None);
        let debug = format!("{entry:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("value_len: 6"), "{debug}");
    }
}
