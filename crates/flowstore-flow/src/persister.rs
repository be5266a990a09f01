//! [`FlowPersister`]: save, restore, list and remove flow instances on any store.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use flowstore_core::{
    Cursor, ErrorKind, Key, Store, StoreExt, Ttl, Version, listing::MAX_BATCH_LEN,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock;
use crate::definition::{FlowDefinition, Problem};
use crate::error::{Conflict, FlowError, SaveError};
use crate::layout::{DefaultLayout, KeyLayout};
use crate::model::{DEFAULT_ID, FlowInstance, FlowRef, FlowState, Meta, Millis};

/// What a save is based on: the guard against lost updates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// The instance must not exist yet (a new run).
    New,
    /// The instance must still be at this entry version (the one
    /// [`restore`](FlowPersister::restore) returned): nobody saved in between.
    Version(Version),
    /// Overwrite whatever is there: the original design's last write wins.
    /// The only choice on a store without versioned entries.
    Overwrite,
}

impl Base {
    /// [`Base::Version`] of a restored instance's version, [`Base::Overwrite`]
    /// if it has none (a store without versions), or [`Base::New`] if nothing
    /// was restored — which a store without versions cannot check:
    /// [`FlowPersister::base_of`] knows the store and answers `Overwrite` there.
    pub fn of<C>(restored: Option<&Restored<C>>) -> Base {
        match restored {
            Some(Restored {
                version: Some(version),
                ..
            }) => Base::Version(version.clone()),
            Some(Restored { version: None, .. }) => Base::Overwrite,
            None => Base::New,
        }
    }
}

/// A restored instance.
pub struct Restored<C> {
    /// The instance (migrated, if its schema version was an older one).
    pub instance: FlowInstance<C>,
    /// Its entry version: pass it back as [`Base::Version`] when saving. `None`
    /// on a store without versioned entries.
    pub version: Option<Version>,
    /// The key it is stored under.
    pub key: Key,
    /// `__meta.version` as stored: the schema version it was migrated from
    /// when it differs from `instance`'s (which is the current one after a
    /// migration). The stored value changes only when it is saved again.
    pub stored_schema_version: Option<String>,
}

impl<C> fmt::Debug for Restored<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Restored")
            .field("instance", &self.instance)
            .field("version", &self.version)
            .field("key", &self.key)
            .field("stored_schema_version", &self.stored_schema_version)
            .finish()
    }
}

/// A stored save.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Saved {
    /// The new entry version (`None` on a store without versions).
    pub version: Option<Version>,
    /// The `__meta.savedAt` stamped.
    pub saved_at: Millis,
}

/// What to do with a stored value that is not a valid flow (not the JSON
/// format, or refused by the validate hook).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InvalidStored {
    /// Fail with [`FlowError::NotFlowJson`] or [`FlowError::Invalid`].
    #[default]
    Fail,
    /// Report it to the error hook and treat it as absent (restore) or leave it
    /// out (list). The value stays in the store.
    Skip,
}

type Migrate = dyn Fn(FlowState<Value>, Option<&str>) -> Result<Option<FlowState<Value>>, String>
    + Send
    + Sync;
type Validate<C> = dyn Fn(&FlowState<C>) -> Result<(), Vec<Problem>> + Send + Sync;
type InstanceHook<C> = dyn Fn(&FlowInstance<C>) + Send + Sync;
type ErrorHook = dyn Fn(&FlowError) + Send + Sync;
type Clock = dyn Fn() -> Millis + Send + Sync;

/// Saves and restores flow instances of context type `C` on any store, in
/// the original design's JSON and key layout.
///
/// Cheap to clone (the configuration is shared).
pub struct FlowPersister<C = Value> {
    store: Arc<dyn Store>,
    config: Arc<Config<C>>,
    _context: PhantomData<fn() -> C>,
}

struct Config<C> {
    layout: Arc<dyn KeyLayout>,
    schema_version: Option<String>,
    migrate: Option<Arc<Migrate>>,
    validate: Option<Arc<Validate<C>>>,
    restore_ttl: Option<Duration>,
    store_ttl: Option<Ttl>,
    invalid: InvalidStored,
    on_save: Option<Arc<InstanceHook<C>>>,
    on_restore: Option<Arc<InstanceHook<C>>>,
    on_error: Option<Arc<ErrorHook>>,
    clock: Arc<Clock>,
}

impl<C> Clone for Config<C> {
    fn clone(&self) -> Self {
        Config {
            layout: self.layout.clone(),
            schema_version: self.schema_version.clone(),
            migrate: self.migrate.clone(),
            validate: self.validate.clone(),
            restore_ttl: self.restore_ttl,
            store_ttl: self.store_ttl,
            invalid: self.invalid,
            on_save: self.on_save.clone(),
            on_restore: self.on_restore.clone(),
            on_error: self.on_error.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<C> Clone for FlowPersister<C> {
    fn clone(&self) -> Self {
        FlowPersister {
            store: self.store.clone(),
            config: self.config.clone(),
            _context: PhantomData,
        }
    }
}

impl<C> fmt::Debug for FlowPersister<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        f.debug_struct("FlowPersister")
            .field("store", &self.store)
            .field("layout", &config.layout)
            .field("schema_version", &config.schema_version)
            .field("migrate", &config.migrate.is_some())
            .field("validate", &config.validate.is_some())
            .field("restore_ttl", &config.restore_ttl)
            .field("store_ttl", &config.store_ttl)
            .field("invalid", &config.invalid)
            .finish_non_exhaustive()
    }
}

/// What a stored value turned out to be.
// Made and matched once per read: boxing the large variant would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
enum Decoded<C> {
    /// The instance, and the schema version it was stored at.
    Present(FlowInstance<C>, Option<String>),
    /// Older than the restore TTL by its `savedAt`.
    Expired,
    /// Of another schema version, and the migration (or its absence) dropped it.
    Discarded,
}

impl<C: Serialize + DeserializeOwned> FlowPersister<C> {
    /// A persister on `store`, with the default key layout
    /// (`useflow:{flowId}:{variantId}:{instanceId}`), no schema version, no TTL.
    pub fn new(store: Arc<dyn Store>) -> FlowPersister<C> {
        FlowPersister {
            store,
            config: Arc::new(Config {
                layout: Arc::new(DefaultLayout::new()),
                schema_version: None,
                migrate: None,
                validate: None,
                restore_ttl: None,
                store_ttl: None,
                invalid: InvalidStored::Fail,
                on_save: None,
                on_restore: None,
                on_error: None,
                clock: Arc::new(clock::unix_millis),
            }),
            _context: PhantomData,
        }
    }

    fn configure(mut self, change: impl FnOnce(&mut Config<C>)) -> FlowPersister<C> {
        change(Arc::make_mut(&mut self.config));
        self
    }

    /// Stores instances under `layout` instead of the default one.
    pub fn with_layout(self, layout: impl KeyLayout + 'static) -> FlowPersister<C> {
        self.configure(|config| config.layout = Arc::new(layout))
    }

    /// Stamps `__meta.version = version` on every save; a restored state of
    /// another schema version goes through the migrate callback (without one,
    /// it is discarded, as in the original design).
    pub fn with_schema_version(self, version: impl Into<String>) -> FlowPersister<C> {
        let version = version.into();
        self.configure(|config| config.schema_version = Some(version))
    }

    /// Turns a state of an older schema version (the second argument; `None` if
    /// it had none) into the current one: `Ok(Some(state))` to keep it,
    /// `Ok(None)` to discard it (restore answers "no saved state"), `Err` to fail
    /// the restore with [`FlowError::Migration`]. The context arrives as raw
    /// JSON because the old one need not fit `C`.
    pub fn with_migrate(
        self,
        migrate: impl Fn(FlowState<Value>, Option<&str>) -> Result<Option<FlowState<Value>>, String>
        + Send
        + Sync
        + 'static,
    ) -> FlowPersister<C> {
        self.configure(|config| config.migrate = Some(Arc::new(migrate)))
    }

    /// Checks every restored state: one that fails is [`FlowError::Invalid`]
    /// (or skipped, with [`InvalidStored::Skip`]).
    pub fn with_validate(
        self,
        validate: impl Fn(&FlowState<C>) -> Result<(), Vec<Problem>> + Send + Sync + 'static,
    ) -> FlowPersister<C> {
        self.configure(|config| config.validate = Some(Arc::new(validate)))
    }

    /// Checks every restored state against `definition` ([`FlowDefinition::check`]).
    pub fn with_definition(self, definition: FlowDefinition) -> FlowPersister<C> {
        self.with_validate(move |state| definition.check(state))
    }

    /// Restores treat a state whose `__meta.savedAt` is older than `ttl` as
    /// absent, and delete it if nobody saved it since it was read. `savedAt` is
    /// the saving machine's clock and the age is judged by this one: see the
    /// crate documentation on clock skew.
    pub fn with_restore_ttl(self, ttl: Duration) -> FlowPersister<C> {
        self.configure(|config| config.restore_ttl = Some(ttl))
    }

    /// Every save also gives the entry a store-level TTL, so an abandoned flow
    /// disappears without a restore ever reading it.
    pub fn with_store_ttl(self, ttl: Ttl) -> FlowPersister<C> {
        self.configure(|config| config.store_ttl = Some(ttl))
    }

    /// What to do with stored values that are not valid flows.
    pub fn with_invalid_stored(self, invalid: InvalidStored) -> FlowPersister<C> {
        self.configure(|config| config.invalid = invalid)
    }

    /// Called after every save, with what was stored.
    pub fn on_save(
        self,
        hook: impl Fn(&FlowInstance<C>) + Send + Sync + 'static,
    ) -> FlowPersister<C> {
        self.configure(|config| config.on_save = Some(Arc::new(hook)))
    }

    /// Called after every restore that found a state, with what it returns.
    pub fn on_restore(
        self,
        hook: impl Fn(&FlowInstance<C>) + Send + Sync + 'static,
    ) -> FlowPersister<C> {
        self.configure(|config| config.on_restore = Some(Arc::new(hook)))
    }

    /// Called with every error an operation returns and every stored value
    /// skipped under [`InvalidStored::Skip`]. A report, not a handler: the
    /// error is still returned.
    pub fn on_error(self, hook: impl Fn(&FlowError) + Send + Sync + 'static) -> FlowPersister<C> {
        self.configure(|config| config.on_error = Some(Arc::new(hook)))
    }

    /// Reads "now" from `clock` (milliseconds since the Unix epoch) instead of
    /// the system clock: for tests, or a service with a clock of its own.
    pub fn with_clock(
        self,
        clock: impl Fn() -> Millis + Send + Sync + 'static,
    ) -> FlowPersister<C> {
        self.configure(|config| config.clock = Arc::new(clock))
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The key layout.
    pub fn layout(&self) -> &dyn KeyLayout {
        &*self.config.layout
    }

    /// The base for saving after `restored` (what [`restore`](Self::restore)
    /// returned): its entry version, [`Base::New`] if nothing was restored, and
    /// [`Base::Overwrite`] on a store without versioned entries (which cannot
    /// check either).
    pub fn base_of(&self, restored: Option<&Restored<C>>) -> Base {
        if self.store.capabilities().versions {
            Base::of(restored)
        } else {
            Base::Overwrite
        }
    }

    /// Stores `instance` under its key, if the instance is still at `base`.
    /// Stamps `__meta.savedAt` (now) and `__meta.version` (the schema version,
    /// if one is configured) into `instance` first, so what the caller holds is
    /// what was stored.
    ///
    /// A save that finds someone else's newer save is
    /// [`SaveError::Conflict`], which hands back that save's state and entry
    /// version; nothing is written.
    pub async fn save(
        &self,
        instance: &mut FlowInstance<C>,
        base: Base,
    ) -> Result<Saved, SaveError<C>> {
        let result = self.save_inner(instance, base).await;
        if let Err(SaveError::Failed(err)) = &result {
            self.report(err);
        }
        result
    }

    async fn save_inner(
        &self,
        instance: &mut FlowInstance<C>,
        base: Base,
    ) -> Result<Saved, SaveError<C>> {
        let key = self.config.layout.key(&instance.flow_ref())?;
        let saved_at = (self.config.clock)();
        let meta = instance.state.meta.get_or_insert_with(Meta::default);
        meta.saved_at = Some(saved_at);
        if let Some(version) = &self.config.schema_version {
            meta.version = Some(version.clone());
        }
        instance.drop_shadowed_extras();
        let bytes = serde_json::to_vec(&*instance).map_err(|err| FlowError::Encode {
            reason: err.to_string(),
        })?;
        let ttl = self.config.store_ttl;
        let written = match &base {
            Base::Overwrite if !self.store.capabilities().versions => {
                self.store.set(&key, &bytes, ttl).await.map(|()| None)
            }
            Base::Overwrite => self.store.set_versioned(&key, &bytes, ttl).await.map(Some),
            Base::New => self.store.set_if_absent(&key, &bytes, ttl).await.map(Some),
            Base::Version(expected) => self
                .store
                .set_if_version(&key, &bytes, ttl, expected)
                .await
                .map(Some),
        };
        match written {
            Ok(version) => {
                if let Some(hook) = &self.config.on_save {
                    hook(instance);
                }
                Ok(Saved { version, saved_at })
            }
            Err(err) if err.kind() == ErrorKind::Conflict => {
                let flow = instance.flow_ref();
                Err(SaveError::Conflict(Box::new(
                    self.conflict(&key, &flow, &err).await,
                )))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// What the store holds now, after a conflict. Never fails: the save
    /// certainly wrote nothing, and that must not read as "maybe written"; what
    /// could not be read is in `read_error`. The restore TTL is not applied:
    /// the entry is there, whatever its age, and its version is what a retry
    /// needs.
    async fn conflict(
        &self,
        key: &Key,
        flow: &FlowRef,
        err: &flowstore_core::Error,
    ) -> Conflict<C> {
        let entry = match self.store.get_entry(key).await {
            Ok(entry) => entry,
            Err(read) => {
                return Conflict {
                    current: None,
                    current_version: err.current_version().cloned(),
                    read_error: Some(read.into()),
                };
            }
        };
        let Some(entry) = entry else {
            return Conflict {
                current: None,
                current_version: None,
                read_error: None,
            };
        };
        let (current, read_error) = match self.decode(key, &entry.value, Expect::Ref(flow), false) {
            Ok(Decoded::Present(instance, stored_schema_version)) => (
                Some(Restored {
                    instance,
                    version: Some(entry.version.clone()),
                    key: key.clone(),
                    stored_schema_version,
                }),
                None,
            ),
            Ok(Decoded::Expired | Decoded::Discarded) => (None, None),
            Err(err) => (None, Some(err)),
        };
        Conflict {
            current,
            current_version: Some(entry.version),
            read_error,
        }
    }

    /// The saved instance `flow`, or `None` if there is none (or it expired by
    /// the restore TTL, or its schema version was discarded: both are then
    /// deleted, if nobody saved since they were read).
    ///
    /// Every failure is an `Err`: an unreachable store is
    /// [`FlowError::Store`], a stored value that is not a flow
    /// [`FlowError::NotFlowJson`] (unless [`InvalidStored::Skip`]).
    pub async fn restore(&self, flow: &FlowRef) -> Result<Option<Restored<C>>, FlowError> {
        let result = self.restore_inner(flow).await;
        match &result {
            Ok(Some(restored)) => self.restored(restored),
            Ok(None) => {}
            Err(err) => self.report(err),
        }
        result
    }

    async fn restore_inner(&self, flow: &FlowRef) -> Result<Option<Restored<C>>, FlowError> {
        let key = self.config.layout.key(flow)?;
        let (value, version) = if self.store.capabilities().versions {
            match self.store.get_entry(&key).await? {
                Some(entry) => (entry.value, Some(entry.version)),
                None => return Ok(None),
            }
        } else {
            match self.store.get(&key).await? {
                Some(value) => (value, None),
                None => return Ok(None),
            }
        };
        match self.skip_invalid(self.decode(&key, &value, Expect::Ref(flow), true))? {
            Some(Decoded::Present(instance, stored_schema_version)) => Ok(Some(Restored {
                instance,
                version,
                key,
                stored_schema_version,
            })),
            Some(Decoded::Expired | Decoded::Discarded) => {
                self.delete_if_unchanged(&key, version.as_ref()).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// `decoded`, or `None` for a value at fault when such values are skipped
    /// (after reporting it).
    fn skip_invalid(
        &self,
        decoded: Result<Decoded<C>, FlowError>,
    ) -> Result<Option<Decoded<C>>, FlowError> {
        match decoded {
            Ok(decoded) => Ok(Some(decoded)),
            Err(err) if err.is_invalid_stored() && self.config.invalid == InvalidStored::Skip => {
                self.report(&err);
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// Deletes an entry found expired or discarded, but only if it is still the
    /// entry that was read: a fresh save racing the restore must survive. On a
    /// store without versions that cannot be told, so nothing is deleted (a
    /// store TTL, [`with_store_ttl`](Self::with_store_ttl), cleans up there).
    async fn delete_if_unchanged(
        &self,
        key: &Key,
        read: Option<&Version>,
    ) -> Result<(), FlowError> {
        let Some(read) = read else { return Ok(()) };
        match self.store.delete_if(key, read).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == ErrorKind::Conflict => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    fn decode(
        &self,
        key: &Key,
        value: &[u8],
        expect: Expect<'_>,
        apply_ttl: bool,
    ) -> Result<Decoded<C>, FlowError> {
        let raw = self.decode_raw(key, value, expect)?;
        // A savedAt ahead of this clock (skew) counts as age zero.
        if apply_ttl
            && let (Some(ttl), Some(saved_at)) = (self.config.restore_ttl, raw.state.saved_at())
            && u128::from((self.config.clock)().saturating_sub(saved_at)) > ttl.as_millis()
        {
            return Ok(Decoded::Expired);
        }
        let stored_schema_version = raw.state.schema_version().map(str::to_owned);
        let (raw, migrated_from) = match self.migrate(raw)? {
            Migrated::Unchanged(raw) => (raw, None),
            Migrated::From(raw, from) => (raw, Some(from)),
            Migrated::Discarded => return Ok(Decoded::Discarded),
        };
        let instance = typed(raw).map_err(|err| match migrated_from {
            // The migration's output, not the stored value, does not fit.
            Some(from) => FlowError::Migration {
                from,
                reason: format!("the migrated state does not fit the context type: {err}"),
            },
            None => err.at(key),
        })?;
        if let Some(validate) = &self.config.validate {
            validate(&instance.state).map_err(|problems| FlowError::Invalid {
                key: Some(key.clone()),
                problems,
            })?;
        }
        Ok(Decoded::Present(instance, stored_schema_version))
    }

    /// Parses the stored JSON and checks that it is the instance its key is
    /// for. Ids it leaves out are the ones the key was made from.
    fn decode_raw(
        &self,
        key: &Key,
        value: &[u8],
        expect: Expect<'_>,
    ) -> Result<FlowInstance<Value>, FlowError> {
        let stored: StoredInstance = serde_json::from_slice(value)
            .map_err(|err| FlowError::not_flow_json("the stored value", &err).at(key))?;
        let raw = match expect {
            Expect::Ref(flow) => stored.with_missing_ids_from(flow),
            Expect::Key => stored.with_missing_ids_from(&FlowRef::new(String::new())),
        };
        let names_its_key = match expect {
            Expect::Ref(flow) => raw.flow_ref() == *flow,
            // A listed key has no ids of its own: the value's must lead back to it.
            Expect::Key => self
                .config
                .layout
                .key(&raw.flow_ref())
                .is_ok_and(|made| made == *key),
        };
        if !names_its_key {
            return Err(FlowError::Misplaced {
                key: key.clone(),
                stored: raw.flow_ref(),
            });
        }
        Ok(raw)
    }

    fn migrate(&self, mut raw: FlowInstance<Value>) -> Result<Migrated, FlowError> {
        let Some(current) = &self.config.schema_version else {
            return Ok(Migrated::Unchanged(raw));
        };
        let stored = raw.state.schema_version().map(str::to_owned);
        if stored.as_deref() == Some(current.as_str()) {
            return Ok(Migrated::Unchanged(raw));
        }
        let Some(migrate) = &self.config.migrate else {
            return Ok(Migrated::Discarded);
        };
        match migrate(raw.state, stored.as_deref()) {
            Ok(Some(state)) => {
                raw.state = state;
                // What restore returns is at the current schema version now.
                raw.state.meta.get_or_insert_with(Meta::default).version = Some(current.clone());
                Ok(Migrated::From(raw, stored))
            }
            Ok(None) => Ok(Migrated::Discarded),
            Err(reason) => Err(FlowError::Migration {
                from: stored,
                reason,
            }),
        }
    }

    /// Removes one instance (absent is fine).
    pub async fn remove(&self, flow: &FlowRef) -> Result<(), FlowError> {
        let result = async {
            let key = self.config.layout.key(flow)?;
            self.store.delete(&key).await?;
            Ok(())
        }
        .await;
        self.reported(result)
    }

    /// Removes every instance of `flow_id` (a prefix delete of the layout's
    /// flow prefix) and returns how many went.
    pub async fn remove_flow(&self, flow_id: &str) -> Result<u64, FlowError> {
        let result = async {
            let prefix = self.config.layout.flow_prefix(flow_id)?;
            Ok(self.store.delete_prefix(&prefix).await?)
        }
        .await;
        self.reported(result)
    }

    /// Removes every instance of every flow under the layout's prefix (never
    /// the store's other keys: this is not `clear`) and returns how many went.
    pub async fn remove_all(&self) -> Result<u64, FlowError> {
        let result = self
            .store
            .delete_prefix(&self.config.layout.all_prefix())
            .await
            .map_err(FlowError::from);
        self.reported(result)
    }

    /// Every saved instance of `flow_id`, each once, as restore would return
    /// it (old schema versions migrated; expired and discarded ones left out,
    /// but not deleted: that is restore's job, which reads the entry's version
    /// with its value). Needs a store that lists; fetches
    /// [`list_page`](Self::list_page) after page.
    pub async fn list(&self, flow_id: &str) -> Result<Vec<Restored<C>>, FlowError> {
        let mut all = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor = None;
        loop {
            let (page, next) = self.list_page(flow_id, cursor.as_ref(), 100).await?;
            // A store that lists at least once (Redis's SCAN) may repeat a key.
            all.extend(
                page.into_iter()
                    .filter(|restored| seen.insert(restored.key.clone())),
            );
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// One page of the instances of `flow_id`: at most `limit` (1 to 1000) keys
    /// are read, from `cursor` (the `next` of an earlier page) or the start.
    /// On a store whose listing is not ordered (Redis), a key may appear on two
    /// pages.
    pub async fn list_page(
        &self,
        flow_id: &str,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<(Vec<Restored<C>>, Option<Cursor>), FlowError> {
        let result = self
            .list_page_inner(flow_id, cursor, limit.min(MAX_BATCH_LEN))
            .await;
        if let Ok((page, _)) = &result {
            for restored in page {
                self.restored(restored);
            }
        }
        self.reported(result)
    }

    async fn list_page_inner(
        &self,
        flow_id: &str,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<(Vec<Restored<C>>, Option<Cursor>), FlowError> {
        let prefix = self.config.layout.flow_prefix(flow_id)?;
        let page = self.store.list(&prefix, cursor, limit).await?;
        let keys: Vec<Key> = page.items.iter().map(|item| item.key.clone()).collect();
        let values = self.store.get_many(&keys).await?;
        let mut restored = Vec::with_capacity(keys.len());
        // The version listed can be older than the value read after it; a save
        // based on it then conflicts (never the other way round, which could
        // lose an update).
        for (item, value) in page.items.into_iter().zip(values) {
            let Some(value) = value else { continue };
            let decoded = self.decode(&item.key, &value, Expect::Key, true);
            if let Some(Decoded::Present(instance, stored_schema_version)) =
                self.skip_invalid(decoded)?
            {
                restored.push(Restored {
                    instance,
                    version: item.version,
                    key: item.key,
                    stored_schema_version,
                });
            }
        }
        Ok((restored, page.next))
    }

    fn restored(&self, restored: &Restored<C>) {
        if let Some(hook) = &self.config.on_restore {
            hook(&restored.instance);
        }
    }

    fn reported<T>(&self, result: Result<T, FlowError>) -> Result<T, FlowError> {
        if let Err(err) = &result {
            self.report(err);
        }
        result
    }

    fn report(&self, err: &FlowError) {
        if let Some(hook) = &self.config.on_error {
            hook(err);
        }
    }
}

/// What the key of a stored value tells about the ids it must name.
#[derive(Clone, Copy)]
enum Expect<'a> {
    /// Read for this instance: missing ids are its ids, present ones must match.
    Ref(&'a FlowRef),
    /// Listed: missing ids are `default` (the original's rule), and the ids
    /// must lead back to the key through the layout.
    Key,
}

/// A schema migration's outcome.
enum Migrated {
    Unchanged(FlowInstance<Value>),
    /// Migrated from this stored schema version.
    From(FlowInstance<Value>, Option<String>),
    Discarded,
}

/// The stored JSON with its ids as written: a missing or `null` id is filled
/// from the key it was read under, not assumed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredInstance {
    flow_id: Option<String>,
    #[serde(default)]
    instance_id: Option<String>,
    #[serde(default)]
    variant_id: Option<String>,
    state: FlowState<Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl StoredInstance {
    fn with_missing_ids_from(self, flow: &FlowRef) -> FlowInstance<Value> {
        let or_default = |id: Option<String>, from: &str| {
            id.unwrap_or_else(|| {
                if from.is_empty() {
                    DEFAULT_ID.to_owned()
                } else {
                    from.to_owned()
                }
            })
        };
        FlowInstance {
            flow_id: self.flow_id.unwrap_or_else(|| flow.flow_id.clone()),
            instance_id: or_default(self.instance_id, &flow.instance_id),
            variant_id: or_default(self.variant_id, &flow.variant_id),
            state: self.state,
            extra: self.extra,
        }
    }
}

/// A raw instance with its context parsed into the application's type.
fn typed<C: DeserializeOwned>(raw: FlowInstance<Value>) -> Result<FlowInstance<C>, FlowError> {
    let FlowInstance {
        flow_id,
        instance_id,
        variant_id,
        mut state,
        extra,
    } = raw;
    let context = serde_json::from_value(state.context.take())
        .map_err(|err| FlowError::not_flow_json("the stored context", &err))?;
    Ok(FlowInstance {
        flow_id,
        instance_id,
        variant_id,
        state: state.map_context(|_| context),
        extra,
    })
}

/// Parses a stored value as a flow instance with raw JSON context, without any
/// of a persister's policies: for tools that show what is stored.
pub fn decode_instance(value: &[u8]) -> Result<FlowInstance<Value>, FlowError> {
    serde_json::from_slice(value).map_err(|err| FlowError::not_flow_json("the stored value", &err))
}
