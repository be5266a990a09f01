//! Versioned entries over several stores (SPEC §8): the primary decides.
//!
//! A condition can only be judged atomically in one place, so `get_entry`,
//! `set_if` and `delete_if` go to the primary (the first store) and never
//! fall back: while it is down they fail with its error. Answering from a
//! secondary would let two writers each win a condition on a different store
//! and fork the key's history.
//!
//! What the primary stores is a fallback record (or a plain value written
//! before the wrapper was added), so "the key is absent" means what it means to
//! the fallback's `get`: nothing stored, a tombstone, or a value past its
//! expiry. A conditional write therefore reads the primary's entry first,
//! judges the caller's condition against that, and then writes the primary on
//! the condition that it still holds exactly the entry version just read. The
//! backend makes that second step atomic, so of many racing writers exactly one
//! succeeds; one that lost the race reads again and is judged again.
//!
//! The read also asks the secondaries (concurrently, so it costs no extra
//! time): a primary that came back from an outage may hold an older record than
//! a secondary that took writes meanwhile. Then the newer record is first
//! copied onto the primary — conditionally, so a write that reached the
//! primary in between is not overwritten — and the condition is judged against
//! it. A secondary that fails to answer is passed over: the primary's answer
//! stands.
//!
//! A successful conditional write is then written through to the secondaries
//! (with `set`, as the fallback's own `set` does), so a later outage of the
//! primary does not serve an older value. Under [`WritePolicy::All`] the write
//! fails if a secondary did not take it (it was applied on the primary: a retry
//! with the same proposed version finds it there and writes the secondaries
//! again); under the other policies the secondaries are best effort.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flowstore_core::version::conflict;
use flowstore_core::{
    Condition, Entry, Error, ErrorKind, Key, Result, Store, Ttl, Version, check_value_size,
};
use futures::future::join_all;

use crate::envelope::{self, Decoded, HEADER_LEN, Header, Kind};
use crate::{FallbackStore, WritePolicy, own};

/// How many times a conditional operation reads the key again after it
/// changed between the read and the write (or after a repair of the primary).
/// Each round means another writer succeeded, so running out takes sustained
/// contention on one key.
const ROUNDS: usize = 8;

/// What the primary holds for a key.
struct Primary {
    /// The primary's entry version, `None` when it holds nothing.
    version: Option<Version>,
    /// What it holds, read as a fallback record.
    decoded: Option<Decoded>,
    /// The primary's own expiry of the entry (used for plain values only: a
    /// record carries its own).
    expires_at: Option<SystemTime>,
}

impl Primary {
    fn absent() -> Primary {
        Primary {
            version: None,
            decoded: None,
            expires_at: None,
        }
    }

    /// The entry version a caller sees: the primary's, when it holds a visible
    /// value; `None` when the key is absent to the fallback.
    fn visible_version(&self, now: u64) -> Option<&Version> {
        let decoded = self.decoded.as_ref()?;
        is_visible(decoded, now).then_some(self.version.as_ref()?)
    }

    /// The stored bytes, as they would be written to another store.
    fn stored_bytes(&self) -> Option<&[u8]> {
        match self.decoded.as_ref()? {
            Decoded::Plain(value) => Some(value),
            Decoded::Record(_, bytes) => Some(bytes),
        }
    }

    fn into_entry(self, now: u64) -> Option<Entry> {
        let version = self.version?;
        match self.decoded? {
            Decoded::Plain(value) => Some(Entry::new(value, version, self.expires_at)),
            Decoded::Record(header, mut bytes) => {
                if !is_visible_record(&header, now) {
                    return None;
                }
                bytes.drain(..HEADER_LEN);
                Some(Entry::new(bytes, version, expiry_time(header.expires_at)))
            }
        }
    }
}

pub(crate) fn is_visible(decoded: &Decoded, now: u64) -> bool {
    match decoded {
        Decoded::Plain(_) => true,
        Decoded::Record(header, _) => is_visible_record(header, now),
    }
}

fn is_visible_record(header: &Header, now: u64) -> bool {
    header.kind == Kind::Value && (header.expires_at == 0 || now < header.expires_at)
}

/// A record's expiry (microseconds since the Unix epoch, 0 = never) as a time.
pub(crate) fn expiry_time(expires_at: u64) -> Option<SystemTime> {
    (expires_at != 0).then(|| UNIX_EPOCH + Duration::from_micros(expires_at))
}

/// The primary's `Absent`, or a match of the version it was read at: the
/// condition under which the primary still holds what was read.
fn unchanged(version: Option<&Version>) -> Condition {
    version.map_or(Condition::Absent, |version| {
        Condition::Matches(version.clone())
    })
}

fn is_conflict(error: &Error) -> bool {
    error.kind() == ErrorKind::Conflict
}

fn kept_changing() -> Error {
    own(Error::unavailable(
        "the key kept changing while the fallback tried to write it conditionally; try again",
    ))
}

impl FallbackStore {
    fn versions_supported(&self) -> Result<()> {
        if self.capabilities.versions {
            return Ok(());
        }
        Err(own(Error::unsupported(
            "the primary of this fallback has no entry versions (SPEC §8)",
        )))
    }

    /// The primary's entry for `key`, after copying a newer record that a
    /// secondary holds onto it.
    async fn read_primary(&self, key: &Key) -> Result<Primary> {
        let (primary, secondaries) = self.stores.split_first().expect("at least one store");
        for _ in 0..ROUNDS {
            let (entry, others) = futures::join!(
                primary.get_entry(key),
                join_all(secondaries.iter().map(|store| store.get(key)))
            );
            let found = match entry? {
                None => Primary::absent(),
                Some(entry) => Primary {
                    decoded: Some(envelope::decode(entry.value).map_err(own)?),
                    version: Some(entry.version),
                    expires_at: entry.expires_at,
                },
            };
            let now = self.clock.wall();
            if let Some(decoded) = &found.decoded
                && let Decoded::Record(header, _) = decoded
            {
                self.clock.observe(header.version.stamp);
            }
            let Some(newer) = self.newer_elsewhere(&found, others, now) else {
                return Ok(found);
            };
            self.repair_primary(key, found.version.as_ref(), newer, now)
                .await?;
        }
        Err(kept_changing())
    }

    /// The newest record among the secondaries' answers, if it outranks what
    /// the primary holds (by the fallback's order of records) and is still
    /// worth keeping.
    fn newer_elsewhere(
        &self,
        primary: &Primary,
        answers: Vec<Result<Option<Vec<u8>>>>,
        now: u64,
    ) -> Option<Decoded> {
        let mut newest: Option<Decoded> = None;
        // Failed, damaged or unreadable answers are passed over: the
        // primary's answer stands.
        for decoded in answers
            .into_iter()
            .filter_map(|answer| answer.ok().flatten())
            .filter_map(|bytes| envelope::decode(bytes).ok())
        {
            if let Decoded::Record(header, _) = &decoded
                && self.keep_for(header, now) == Some(None)
            {
                continue;
            }
            if newest
                .as_ref()
                .is_none_or(|best| decoded.version() > best.version())
            {
                newest = Some(decoded);
            }
        }
        let newest = newest?;
        let outranks = match &primary.decoded {
            Some(held) => newest.version() > held.version(),
            // Nothing on the primary: only a visible value there is missing.
            None => is_visible(&newest, now),
        };
        outranks.then_some(newest)
    }

    /// Copies `newer` onto the primary if it still holds `version`. A conflict
    /// means another write reached the primary meanwhile: the caller reads
    /// again either way.
    async fn repair_primary(
        &self,
        key: &Key,
        version: Option<&Version>,
        newer: Decoded,
        now: u64,
    ) -> Result<()> {
        let (bytes, ttl) = match newer {
            Decoded::Plain(value) => (value, None),
            Decoded::Record(header, bytes) => {
                self.clock.observe(header.version.stamp);
                (bytes, self.keep_for(&header, now).flatten())
            }
        };
        let primary = &self.stores[0];
        let ttl = ttl.filter(|_| primary.capabilities().ttl);
        let repaired = primary
            .set_if(key, &bytes, ttl, &unchanged(version), &Version::generate())
            .await;
        match repaired {
            Err(error) if !is_conflict(&error) => Err(error),
            _ => Ok(()),
        }
    }

    /// Writes a record the primary took to the secondaries, and applies the
    /// write policy to them.
    async fn write_secondaries(&self, key: &Key, bytes: &[u8], ttl: Option<Ttl>) -> Result<()> {
        let writes = self.stores[1..].iter().map(|store| {
            let ttl = ttl.filter(|_| store.capabilities().ttl);
            store.set(key, bytes, ttl)
        });
        let results = join_all(writes).await;
        match self.write_policy {
            WritePolicy::All => results
                .into_iter()
                .find_map(Result::err)
                .map_or(Ok(()), Err),
            // The primary, which these policies need, took it.
            WritePolicy::AtLeastOne | WritePolicy::Primary => Ok(()),
        }
    }

    pub(crate) async fn conditional_get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        self.versions_supported()?;
        let primary = self.read_primary(key).await?;
        Ok(primary.into_entry(self.clock.wall()))
    }

    pub(crate) async fn conditional_set(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        self.versions_supported()?;
        check_value_size(value, self.max_value_size).map_err(own)?;
        self.check_ttl(ttl)?;
        let primary_store = &self.stores[0];
        for _ in 0..ROUNDS {
            let primary = self.read_primary(key).await?;
            if primary.version.as_ref() == Some(new_version) {
                // The caller's own earlier attempt: make sure the secondaries
                // have it too, then answer as the first attempt would have.
                let bytes = primary.stored_bytes().unwrap_or_default();
                let kept = match &primary.decoded {
                    Some(Decoded::Record(header, _)) => {
                        match self.keep_for(header, self.clock.wall()) {
                            Some(None) => return Ok(()),
                            kept => kept.flatten(),
                        }
                    }
                    _ => None,
                };
                return self.write_secondaries(key, bytes, kept).await;
            }
            let current = primary.visible_version(self.clock.wall());
            if !condition.holds_for(current) {
                return Err(own(conflict(current.cloned())));
            }
            let header = self.value_header(ttl);
            let bytes = envelope::encode(&header, value);
            let stored_ttl = self.stored_ttl(ttl);
            let written = primary_store
                .set_if(
                    key,
                    &bytes,
                    stored_ttl.filter(|_| primary_store.capabilities().ttl),
                    &unchanged(primary.version.as_ref()),
                    new_version,
                )
                .await;
            match written {
                Ok(()) => return self.write_secondaries(key, &bytes, stored_ttl).await,
                // Another write came between the read and this one: judge again.
                Err(error) if is_conflict(&error) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(kept_changing())
    }

    pub(crate) async fn conditional_delete(&self, key: &Key, expected: &Version) -> Result<()> {
        self.versions_supported()?;
        let primary_store = &self.stores[0];
        for _ in 0..ROUNDS {
            let primary = self.read_primary(key).await?;
            let current = primary.visible_version(self.clock.wall());
            if current != Some(expected) {
                return Err(own(conflict(current.cloned())));
            }
            // A tombstone, as the fallback's `delete` writes, so that a
            // secondary that missed it cannot bring the value back.
            let bytes = envelope::encode(&self.tombstone_header(), &[]);
            let ttl = Some(self.tombstone_ttl);
            let written = primary_store
                .set_if(
                    key,
                    &bytes,
                    ttl.filter(|_| primary_store.capabilities().ttl),
                    &Condition::Matches(expected.clone()),
                    &Version::generate(),
                )
                .await;
            match written {
                Ok(()) => return self.write_secondaries(key, &bytes, ttl).await,
                Err(error) if is_conflict(&error) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(kept_changing())
    }
}
