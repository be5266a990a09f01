#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod clock;
mod conditional;
mod envelope;
mod listing;
mod policy;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use flowstore_core::health::{Part, PartDown, PartsDown};
use flowstore_core::{
    Capabilities, Condition, Entry, Error, ErrorKind, Health, Key, Namespace, Operation, Result,
    Store, Ttl, check_value_size,
};
use futures::future::join_all;

use clock::Hlc;
use envelope::{Decoded, HEADER_LEN, Header, Kind, Version};

pub use policy::{MissingPolicy, WritePolicy};

/// Bytes the envelope adds to every value (the fallback store's
/// `max_value_size` is the smallest inner limit minus this).
pub const ENVELOPE_OVERHEAD: usize = HEADER_LEN;

/// An ordered list of stores that reads past failures and keeps working while
/// some of them are down. See the [crate docs](crate) for the rules.
pub struct FallbackStore {
    stores: Vec<Arc<dyn Store>>,
    write_policy: WritePolicy,
    missing_policy: MissingPolicy,
    read_repair: bool,
    tombstone_ttl: Ttl,
    clock: Hlc,
    writer: u64,
    max_value_size: usize,
    capabilities: Capabilities,
}

impl fmt::Debug for FallbackStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackStore")
            .field("stores", &self.stores)
            .field("write_policy", &self.write_policy)
            .field("missing_policy", &self.missing_policy)
            .field("read_repair", &self.read_repair)
            .field("tombstone_ttl", &self.tombstone_ttl)
            .finish_non_exhaustive()
    }
}

/// Builds a [`FallbackStore`].
#[derive(Debug)]
pub struct FallbackBuilder {
    stores: Vec<Arc<dyn Store>>,
    write_policy: WritePolicy,
    missing_policy: MissingPolicy,
    read_repair: bool,
    tombstone_ttl: Ttl,
    max_clock_skew: Duration,
    clock_offset: i64,
}

impl Default for FallbackBuilder {
    fn default() -> Self {
        FallbackBuilder {
            stores: Vec::new(),
            write_policy: WritePolicy::default(),
            missing_policy: MissingPolicy::default(),
            read_repair: true,
            tombstone_ttl: Ttl::new(FallbackBuilder::DEFAULT_TOMBSTONE_TTL)
                .expect("7 days is a valid TTL"),
            max_clock_skew: FallbackBuilder::DEFAULT_MAX_CLOCK_SKEW,
            clock_offset: 0,
        }
    }
}

impl FallbackBuilder {
    /// How long tombstones (and expired values) are kept by default: 7 days.
    pub const DEFAULT_TOMBSTONE_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

    /// The default bound on clock skew between processes: 5 minutes.
    pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

    /// Adds a store after the ones added so far (the first one is the primary).
    pub fn store(mut self, store: impl Store + 'static) -> Self {
        self.stores.push(Arc::new(store));
        self
    }

    /// Adds an already shared store after the ones added so far.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.stores.push(store);
        self
    }

    /// Which acknowledgements a write needs (default [`WritePolicy::AtLeastOne`]).
    pub fn write_policy(mut self, policy: WritePolicy) -> Self {
        self.write_policy = policy;
        self
    }

    /// What a read returns when nothing was found but a store failed (default
    /// [`MissingPolicy::Error`]).
    pub fn missing_policy(mut self, policy: MissingPolicy) -> Self {
        self.missing_policy = policy;
        self
    }

    /// Whether a read copies the newest record to the stores that answered with
    /// an older one or without the value (default on).
    pub fn read_repair(mut self, enabled: bool) -> Self {
        self.read_repair = enabled;
        self
    }

    /// How long a delete's tombstone — and an expired value — stays in the
    /// stores, outranking older values there (default 7 days). A store that
    /// missed a delete or a newer write must be repaired (by a read or a write of
    /// that key) within this time, or its old value comes back.
    pub fn tombstone_ttl(mut self, ttl: Ttl) -> Self {
        self.tombstone_ttl = ttl;
        self
    }

    /// The assumed bound on clock differences between processes sharing the
    /// stores (default 5 minutes). A stamp read from a store more than this far
    /// ahead of the local clock is not adopted by the local clock.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// Shifts this store's clock (for tests that model clock skew between
    /// processes). Not a stable API.
    #[doc(hidden)]
    pub fn clock_offset_for_tests(mut self, offset: Duration, ahead: bool) -> Self {
        let micros = i64::try_from(offset.as_micros()).unwrap_or(i64::MAX);
        self.clock_offset = if ahead { micros } else { -micros };
        self
    }

    /// Builds the store. `Config` error without any store, or when a store's
    /// value limit is smaller than the envelope.
    pub fn build(self) -> Result<FallbackStore> {
        let Some(first) = self.stores.first() else {
            return Err(Error::config("a fallback store needs at least one store"));
        };
        let smallest = self
            .stores
            .iter()
            .map(|store| store.max_value_size())
            .min()
            .unwrap_or_default();
        let Some(max_value_size) = smallest.checked_sub(HEADER_LEN) else {
            return Err(Error::config(format!(
                "a store of the fallback accepts only {smallest} bytes, less than the {HEADER_LEN}-byte envelope"
            )));
        };
        let capabilities = self
            .stores
            .iter()
            .fold(first.capabilities(), |caps, store| {
                caps.intersect(store.capabilities())
            })
            // Conditional operations go to the primary only (see the crate
            // docs): the secondaries need no versions of their own.
            .with_versions(first.capabilities().versions)
            // A listing is the primary's, a prefix delete goes through every
            // store (see `listing`), so every store must list; a TTL lives in
            // the envelope, so changing it means rewriting the value.
            .with_list(
                self.stores.iter().all(|store| store.capabilities().list),
                first.capabilities().list_ordered,
            )
            .with_touch(false);
        Ok(FallbackStore {
            write_policy: self.write_policy,
            missing_policy: self.missing_policy,
            read_repair: self.read_repair,
            tombstone_ttl: self.tombstone_ttl,
            clock: Hlc::new(self.max_clock_skew, self.clock_offset),
            writer: writer_id(),
            max_value_size,
            capabilities,
            stores: self.stores,
        })
    }
}

/// A random id for this store instance: the tie-breaker between two writes with
/// the same stamp.
fn writer_id() -> u64 {
    let nanos = web_time::SystemTime::now()
        .duration_since(web_time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    #[cfg(not(target_arch = "wasm32"))]
    let process = u64::from(std::process::id()) << 32;
    #[cfg(target_arch = "wasm32")]
    let process = 0;
    let id = fastrand::u64(..) ^ u64::from(nanos) ^ process;
    // 0 is the version of plain values; keep clear of it.
    id.max(1)
}

/// What one store answered to a read.
enum Answer {
    Absent,
    Found(Version),
    Failed,
}

impl FallbackStore {
    /// A builder with the default policies.
    pub fn builder() -> FallbackBuilder {
        FallbackBuilder::default()
    }

    /// A fallback over `stores` (the first is the primary) with the default
    /// policies.
    pub fn new(stores: Vec<Arc<dyn Store>>) -> Result<FallbackStore> {
        FallbackBuilder {
            stores,
            ..FallbackBuilder::default()
        }
        .build()
    }

    /// The stores, in order.
    pub fn stores(&self) -> &[Arc<dyn Store>] {
        &self.stores
    }

    /// The write policy.
    pub fn write_policy(&self) -> WritePolicy {
        self.write_policy
    }

    /// The missing policy.
    pub fn missing_policy(&self) -> MissingPolicy {
        self.missing_policy
    }

    fn micros(ttl: Ttl) -> u64 {
        u64::try_from(ttl.as_duration().as_micros()).unwrap_or(u64::MAX)
    }

    /// How long a record should stay in a store, from `now`: `None` for a value
    /// without expiry, `Some(None)` when it need not be kept any more.
    fn keep_for(&self, header: &Header, now: u64) -> Option<Option<Ttl>> {
        let grace = Self::micros(self.tombstone_ttl);
        let until = match header.kind {
            Kind::Value if header.expires_at == 0 => return None,
            Kind::Value => header.expires_at.saturating_add(grace),
            Kind::Tombstone => header.version.stamp.saturating_add(grace),
        };
        let remaining = until.saturating_sub(now);
        if remaining == 0 {
            return Some(None);
        }
        let remaining = Duration::from_micros(remaining).clamp(Ttl::MIN, Ttl::MAX);
        Some(Ttl::new(remaining).ok())
    }

    /// Writes `bytes` to every store and applies the write policy.
    async fn write_all(&self, key: &Key, bytes: &[u8], ttl: Option<Ttl>) -> Result<()> {
        let writes = self.stores.iter().map(|store| {
            // A store without TTL keeps tombstones for good rather than refusing.
            let ttl = ttl.filter(|_| store.capabilities().ttl);
            store.set(key, bytes, ttl)
        });
        let results = join_all(writes).await;
        let acked = |result: &Result<()>| result.is_ok();
        let done = match self.write_policy {
            WritePolicy::AtLeastOne => results.iter().any(acked),
            WritePolicy::Primary => results.first().is_some_and(acked),
            WritePolicy::All => results.iter().all(acked),
        };
        if done {
            return Ok(());
        }
        Err(results
            .into_iter()
            .find_map(Result::err)
            .unwrap_or_else(|| own(Error::backend("fallback write failed"))))
    }

    /// Copies the newest record to the stores that answered with an older one
    /// (or, for a value, without it). Best effort: failures are ignored.
    async fn repair(
        &self,
        key: &Key,
        newest: Version,
        header: &Header,
        bytes: &[u8],
        answers: &[Answer],
    ) {
        let now = self.clock.wall();
        let ttl = match self.keep_for(header, now) {
            None => None,
            Some(None) => return,
            Some(Some(ttl)) => Some(ttl),
        };
        let repairs = self
            .stores
            .iter()
            .zip(answers)
            .filter(|(_, answer)| match answer {
                Answer::Found(version) => *version < newest,
                // Nothing there to come back: only a value is worth copying.
                Answer::Absent => header.kind == Kind::Value && !self.is_expired(header, now),
                Answer::Failed => false,
            })
            .map(|(store, _)| async move {
                // Look again right before writing: a write that landed on this
                // store since the read must not be overwritten by an older record.
                // (Without compare-and-set a write in the gap between this read
                // and the repair can still be lost; see the crate docs.)
                let still_older = match store.get(key).await {
                    Ok(None) => true,
                    Ok(Some(found)) => {
                        envelope::decode(found).is_ok_and(|found| found.version() < newest)
                    }
                    Err(_) => false,
                };
                if still_older {
                    let ttl = ttl.filter(|_| store.capabilities().ttl);
                    let _ = store.set(key, bytes, ttl).await;
                }
            });
        join_all(repairs).await;
    }

    /// `Unsupported` for a TTL when a store lacks TTL support.
    fn check_ttl(&self, ttl: Option<Ttl>) -> Result<()> {
        if ttl.is_some() && !self.capabilities.ttl {
            return Err(own(Error::unsupported(
                "a store of this fallback does not support TTL",
            )));
        }
        Ok(())
    }

    /// The header of a value written now with `ttl`.
    fn value_header(&self, ttl: Option<Ttl>) -> Header {
        let stamp = self.clock.next();
        let expires_at = ttl.map_or(0, |ttl| {
            self.clock.wall().saturating_add(Self::micros(ttl)).max(1)
        });
        Header {
            kind: Kind::Value,
            version: Version {
                stamp,
                writer: self.writer,
            },
            expires_at,
        }
    }

    /// The header of a tombstone written now.
    fn tombstone_header(&self) -> Header {
        Header {
            kind: Kind::Tombstone,
            version: Version {
                stamp: self.clock.next(),
                writer: self.writer,
            },
            expires_at: 0,
        }
    }

    /// The backend TTL of a value written with `ttl`: expired values stay
    /// behind as tombstones for `tombstone_ttl`.
    fn stored_ttl(&self, ttl: Option<Ttl>) -> Option<Ttl> {
        ttl.map(|ttl| {
            let grace = ttl
                .as_duration()
                .saturating_add(self.tombstone_ttl.as_duration())
                .min(Ttl::MAX);
            Ttl::new(grace).unwrap_or(ttl)
        })
    }

    fn is_expired(&self, header: &Header, now: u64) -> bool {
        header.expires_at != 0 && now >= header.expires_at
    }
}

/// This wrapper's name in the context of the errors it makes itself (a record
/// it cannot read, an operation a store of it lacks). Errors of its stores keep
/// their own context: a `delete` here is a tombstone written with each store's
/// `set`, so a store's error from it says `set`.
const BACKEND: &str = "fallback";

/// Records this wrapper as the maker of an error it made.
fn own(err: Error) -> Error {
    err.with_backend(BACKEND)
}

fn is_outage(error: &Error) -> bool {
    matches!(error.kind(), ErrorKind::Unavailable | ErrorKind::Timeout)
}

#[flowstore_core::async_trait]
impl Store for FallbackStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        // Every error of this operation names it, unless it names its own.
        async {
            let results = join_all(self.stores.iter().map(|store| store.get(key))).await;
            let mut answers = Vec::with_capacity(results.len());
            let mut errors = Vec::new();
            let mut newest: Option<Decoded> = None;
            for result in results {
                let decoded = match result.and_then(|found| {
                    found
                        .map(|found| envelope::decode(found).map_err(own))
                        .transpose()
                }) {
                    Ok(None) => {
                        answers.push(Answer::Absent);
                        continue;
                    }
                    Ok(Some(decoded)) => decoded,
                    Err(error) => {
                        answers.push(Answer::Failed);
                        errors.push(error);
                        continue;
                    }
                };
                let version = decoded.version();
                answers.push(Answer::Found(version));
                // Strictly newer only: on a tie the earlier store wins.
                if newest.as_ref().is_none_or(|best| version > best.version()) {
                    newest = Some(decoded);
                }
            }

            match newest {
                Some(Decoded::Plain(value)) => Ok(Some(value)),
                Some(Decoded::Record(header, bytes)) => {
                    self.clock.observe(header.version.stamp);
                    if self.read_repair {
                        self.repair(key, header.version, &header, &bytes, &answers)
                            .await;
                    }
                    let visible =
                        header.kind == Kind::Value && !self.is_expired(&header, self.clock.wall());
                    if visible {
                        let mut bytes = bytes;
                        bytes.drain(..HEADER_LEN);
                        Ok(Some(bytes))
                    } else {
                        Ok(None)
                    }
                }
                None => {
                    if errors.is_empty() {
                        return Ok(None);
                    }
                    let some_answered = answers
                        .iter()
                        .any(|answer| matches!(answer, Answer::Absent));
                    match self.missing_policy {
                        MissingPolicy::Absent if some_answered && errors.iter().all(is_outage) => {
                            Ok(None)
                        }
                        MissingPolicy::Absent if some_answered => {
                            let position = errors.iter().position(|error| !is_outage(error));
                            Err(errors.swap_remove(position.unwrap_or(0)))
                        }
                        _ => Err(errors.swap_remove(0)),
                    }
                }
            }
        }
        .await
        .map_err(|err| err.with_operation(Operation::Get))
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        // Every error of this operation names it, unless it names its own.
        async {
            check_value_size(value, self.max_value_size).map_err(own)?;
            self.check_ttl(ttl)?;
            let bytes = envelope::encode(&self.value_header(ttl), value);
            self.write_all(key, &bytes, self.stored_ttl(ttl)).await
        }
        .await
        .map_err(|err| err.with_operation(Operation::Set))
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        // Every error of this operation names it, unless it names its own.
        async {
            let bytes = envelope::encode(&self.tombstone_header(), &[]);
            self.write_all(key, &bytes, Some(self.tombstone_ttl)).await
        }
        .await
        .map_err(|err| err.with_operation(Operation::Delete))
    }

    async fn clear(&self) -> Result<()> {
        // Every error of this operation names it, unless it names its own.
        async {
            if !self.capabilities.clear {
                return Err(own(Error::unsupported(
                    "a store of this fallback does not support this operation",
                )));
            }
            let results = join_all(self.stores.iter().map(|store| store.clear())).await;
            match results.into_iter().find_map(Result::err) {
                None => Ok(()),
                Some(error) => Err(error),
            }
        }
        .await
        .map_err(|err| err.with_operation(Operation::Clear))
    }

    /// Pings every store at once. The fallback can serve when the stores that
    /// answered are enough for the write policy (any one for `AtLeastOne`, the
    /// primary for `Primary`, all for `All`): then `Ok`, listing the stores
    /// that did not answer (by role and position) as degraded. Otherwise the
    /// error of the first store that failed, with every failed store named in
    /// a [`PartsDown`] source.
    async fn ping(&self) -> Result<Health> {
        let results = join_all(self.stores.iter().map(|store| store.ping())).await;
        let answered: Vec<bool> = results.iter().map(Result::is_ok).collect();
        let serves = match self.write_policy {
            WritePolicy::AtLeastOne => answered.iter().any(|ok| *ok),
            WritePolicy::Primary => answered.first().copied().unwrap_or(false),
            WritePolicy::All => answered.iter().all(|ok| *ok),
        };
        let results_ok: Vec<Option<Health>> = results
            .iter()
            .map(|result| result.as_ref().ok().cloned())
            .collect();
        let failures: Vec<(Part, Error)> = results
            .into_iter()
            .enumerate()
            .filter_map(|(index, result)| result.err().map(|error| (Part::at(index), error)))
            .collect();
        let mut down: Vec<PartDown> = failures
            .iter()
            .map(|(part, error)| PartDown::new(*part, error.kind()))
            .collect();
        if serves {
            // A store that answered may still report itself degraded (a Redis
            // store that lost its data): it is named by its place here.
            for (index, health) in results_ok.iter().enumerate() {
                if let Some(health) = health {
                    down.extend(
                        health
                            .down
                            .iter()
                            .map(|inner| PartDown::new(Part::at(index), inner.kind)),
                    );
                }
            }
            down.sort_by_key(|part| match part.part {
                Part::Primary => 0,
                Part::Fallback(n) => n,
                _ => usize::MAX,
            });
            return Ok(Health::degraded(down));
        }
        let details = failures
            .iter()
            .map(|(part, error)| format!("{part}: {}", error.message()))
            .collect::<Vec<_>>()
            .join("; ");
        let kind = down.first().map_or(ErrorKind::Backend, |first| first.kind);
        Err(Error::new(
            kind,
            format!("the fallback cannot serve under its write policy ({details})"),
        )
        .with_source(PartsDown(down)))
    }

    /// Acknowledged on every store that detects data loss; `Unsupported` only
    /// when none does. The first other error is returned, after every store
    /// was asked.
    async fn acknowledge_data_loss(&self) -> Result<()> {
        let results = join_all(
            self.stores
                .iter()
                .map(|store| store.acknowledge_data_loss()),
        )
        .await;
        let mut supported = false;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(()) => supported = true,
                Err(error) if error.kind() == ErrorKind::Unsupported => {}
                Err(error) => {
                    supported = true;
                    first_error.get_or_insert(error);
                }
            }
        }
        match (first_error, supported) {
            (Some(error), _) => Err(error),
            (None, true) => Ok(()),
            (None, false) => Err(own(Error::unsupported(
                "no store of this fallback detects data loss",
            ))),
        }
    }

    /// The primary's entry, read as the fallback's `get` reads it (see the
    /// crate docs, "Versioned entries"). `Unsupported` when the primary has no
    /// entry versions; the primary's error while it is down.
    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        self.conditional_get_entry(key)
            .await
            .map_err(|err| err.with_operation(Operation::GetEntry))
    }

    /// Judged and written on the primary, then written through to the
    /// secondaries (see the crate docs, "Versioned entries").
    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &flowstore_core::Version,
    ) -> Result<()> {
        self.conditional_set(key, value, ttl, condition, new_version)
            .await
            .map_err(|err| err.with_operation(Operation::SetIf))
    }

    /// A tombstone written on the primary if it is at `expected`, then written
    /// through to the secondaries (see the crate docs, "Versioned entries").
    async fn delete_if(&self, key: &Key, expected: &flowstore_core::Version) -> Result<()> {
        self.conditional_delete(key, expected)
            .await
            .map_err(|err| err.with_operation(Operation::DeleteIf))
    }

    /// The primary's visible keys (see the crate docs, "Listing"). Batches and
    /// `delete_prefix` are the provided loops over this store's own `get`,
    /// `set`, `delete` and `list`, so they keep every rule above.
    async fn list(
        &self,
        prefix: &flowstore_core::Prefix,
        cursor: Option<&flowstore_core::Cursor>,
        limit: usize,
    ) -> Result<flowstore_core::ListPage> {
        if !self.capabilities.list {
            return Err(own(Error::unsupported(
                "a store of this fallback cannot list its keys",
            ))
            .with_operation(Operation::List));
        }
        self.list_primary(prefix, cursor, limit)
            .await
            .map_err(|err| err.with_operation(Operation::List))
    }

    /// Every visible key with `prefix`, in every store (see the crate docs,
    /// "Listing"), deleted with tombstones.
    async fn delete_prefix(&self, prefix: &flowstore_core::Prefix) -> Result<u64> {
        if !self.capabilities.list {
            return Err(own(Error::unsupported(
                "a store of this fallback cannot list its keys",
            ))
            .with_operation(Operation::DeletePrefix));
        }
        self.delete_prefix_everywhere(prefix)
            .await
            .map_err(|err| err.with_operation(Operation::DeletePrefix))
    }

    fn namespace(&self) -> &Namespace {
        self.stores[0].namespace()
    }

    fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }
}
