//! [`RedisStore`] and its [`Store`] implementation.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use flowstore_core::health::{Part, PartDown};
use flowstore_core::listing::check_batch_len;
use flowstore_core::{
    Capabilities, Condition, Current, Cursor, Entry, ErrorKind, Health, Key, ListPage, Namespace,
    Operation, Prefix, Result, SetItem, Store, Ttl, Version, async_trait, check_set_items,
    check_value_size,
};
use fred::clients::Client;
use fred::interfaces::{ClientLike, ClusterInterface, KeysInterface};
use fred::types::{ConnectHandle, Expiration};

use crate::auth::Refusals;
use crate::builder::RedisBuilder;
use crate::error::in_op;
use crate::marker::Markers;
use crate::{batch, clear, keys, list, stored, versioned};

/// What every namespace handle of one connection shares.
pub(crate) struct Shared {
    pub(crate) client: Client,
    task: ConnectHandle,
    pub(crate) clustered: bool,
    /// Shared with the task that checks the markers after reconnections.
    pub(crate) refusals: Arc<Refusals>,
    pub(crate) markers: Arc<Markers>,
    marker_watch: Option<tokio::task::JoinHandle<()>>,
    eviction_warning: Option<String>,
}

impl Shared {
    pub(crate) fn new(client: Client, task: ConnectHandle, clustered: bool) -> Shared {
        let refusals = Arc::new(Refusals::watch(&client));
        Shared {
            client,
            task,
            clustered,
            refusals,
            markers: Arc::new(Markers::new(clustered)),
            marker_watch: None,
            eviction_warning: None,
        }
    }

    /// Writes the data-loss markers and starts checking them after every
    /// reconnection (see [`marker`](crate::marker)). Off with
    /// `data_loss_detection=off` (`detection`). A server that refuses to
    /// write a marker (full, read-only replica, ACL) with none to adopt, or
    /// refuses our credentials for it or for the acknowledged token, leaves the
    /// detection off, with a warning: opening must not fail where it worked
    /// without the detection. Under an `allkeys-*` eviction policy
    /// (`evicts_any_key`) the detection is off too: the marker itself could be
    /// evicted, and every read refused for it.
    pub(crate) async fn watch_for_data_loss(
        mut self,
        detection: bool,
        evicts_any_key: bool,
    ) -> Result<Shared> {
        if !detection {
            log::info!("flowstore-redis: data-loss detection is off (data_loss_detection=off)");
            return Ok(self);
        }
        if evicts_any_key {
            log::warn!(
                "flowstore-redis: data-loss detection is off: the server's maxmemory-policy may evict any key, the marker too (keys lost one by one are expected there); set data_loss_detection=off to silence this"
            );
            return Ok(self);
        }
        let lost = match self.markers.establish(&self.client, &self.refusals).await {
            Ok(Some(lost)) => lost,
            Ok(None) => {
                log::warn!(
                    "flowstore-redis: data-loss detection is off: the server refuses to write the marker (full, a read-only replica, or an ACL) and no store wrote it before"
                );
                return Ok(self);
            }
            Err(err) if err.kind() == ErrorKind::Unauthorized => {
                log::warn!(
                    "flowstore-redis: data-loss detection is off: {}",
                    err.to_one_line()
                );
                return Ok(self);
            }
            Err(err) => return Err(err),
        };
        // The acknowledged token too, detection on only once it was read: an
        // ACL that admits the markers but not this key must not make `open`
        // fail, nor the first check after a loss (detection stays off, as
        // when the markers cannot be written).
        match self
            .markers
            .can_read_acknowledged(&self.client, &self.refusals)
            .await
        {
            Ok(()) => {}
            Err(err) if !matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) => {
                log::warn!(
                    "flowstore-redis: data-loss detection is off: the acknowledged token cannot be read ({})",
                    err.to_one_line()
                );
                return Ok(self);
            }
            Err(err) => return Err(err),
        }
        self.markers.enable(lost);
        self.marker_watch = Some(
            self.markers
                .watch_reconnections(&self.client, Arc::clone(&self.refusals)),
        );
        Ok(self)
    }

    /// `DataLoss` in the data lost state (see [`Markers::refuse_if_lost`]).
    pub(crate) async fn refuse_if_lost(&self, operation: Operation) -> Result<()> {
        self.markers
            .refuse_if_lost(&self.client, &self.refusals, operation)
            .await
    }

    /// Before answering "absent" for a key of this connection.
    pub(crate) async fn confirm_absent(
        &self,
        operation: Operation,
        key: &fred::types::Key,
    ) -> Result<()> {
        self.markers
            .confirm_absent(&self.client, &self.refusals, operation, self.slot(key))
            .await
    }

    /// The hash slot of `key` on a cluster, 0 otherwise.
    fn slot(&self, key: &fred::types::Key) -> u16 {
        if self.clustered {
            key.cluster_hash()
        } else {
            0
        }
    }

    /// `GET key`, confirmed against the data-loss marker when absent. A hit
    /// is one `GET`, as a user of fred would write it; only a miss reads the
    /// marker, as a command of its own. Reading both in one round trip was
    /// measured (`cargo xtask bench redis`) and made every hit slower (fred's
    /// per-command cost, twice), for misses, which are the rarer reads of
    /// saved state.
    pub(crate) async fn get_confirmed(&self, key: fred::types::Key) -> Result<Option<Bytes>> {
        let operation = Operation::Get;
        let client = self.client.clone();
        let name = key.clone();
        let stored: Option<Bytes> = self
            .refusals
            .run(operation, async move { client.get(name).await })
            .await?;
        if stored.is_none() {
            self.confirm_absent(operation, &key).await?;
        }
        Ok(stored)
    }

    pub(crate) fn with_eviction_warning(mut self, warning: Option<String>) -> Shared {
        self.eviction_warning = warning;
        self
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The connection task would otherwise keep reconnecting forever.
        self.task.abort();
        if let Some(watch) = &self.marker_watch {
            watch.abort();
        }
    }
}

/// A flowstore [`Store`] on Redis: a single server, a Sentinel-managed primary,
/// or a Redis Cluster.
///
/// One store holds one fred client that pipelines every concurrent command over
/// one connection per server. Clones and [`with_namespace`](RedisStore::with_namespace)
/// handles share it; the connection closes when the last one is dropped.
///
/// Entries live under the Redis key `namespace:key`, one Redis string each: a
/// small header holding the entry version, then the value (docs/formats.md), so
/// plain [`get`](Store::get) and [`set`](Store::set) are one `GET` and one `SET`.
/// The versioned operations ([`get_entry`](Store::get_entry),
/// [`set_if`](Store::set_if), [`delete_if`](Store::delete_if)) are each one Lua
/// script on the entry's key: atomic, and cluster-safe. `Debug` never shows a
/// password.
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
    namespace: Namespace,
    prefix: Box<str>,
    max_value_size: usize,
}

impl RedisStore {
    pub(crate) fn new(
        shared: Arc<Shared>,
        namespace: Namespace,
        prefix: Box<str>,
        max_value_size: usize,
    ) -> RedisStore {
        RedisStore {
            shared,
            namespace,
            prefix,
            max_value_size,
        }
    }

    /// Starts a [`RedisBuilder`] from a URL; same as [`RedisBuilder::from_url`].
    pub fn from_url(url: &str) -> Result<RedisBuilder> {
        RedisBuilder::from_url(url)
    }

    /// Opens a store from a URL with every other setting at its default.
    pub async fn open(url: &str) -> Result<RedisStore> {
        RedisBuilder::from_url(url)?.open().await
    }

    /// A handle on the same connection in `namespace`. A namespace containing
    /// `:` is a `Config` error.
    pub fn with_namespace(&self, namespace: Namespace) -> Result<RedisStore> {
        let prefix = keys::prefix(&namespace)?;
        Ok(RedisStore {
            shared: Arc::clone(&self.shared),
            namespace,
            prefix,
            max_value_size: self.max_value_size,
        })
    }

    /// The same store with another value size limit.
    pub fn with_max_value_size(mut self, max_value_size: usize) -> RedisStore {
        self.max_value_size = max_value_size;
        self
    }

    /// The warning found when connecting, if the server's `maxmemory-policy`
    /// lets it evict keys (anything but `noeviction`), so saved state could
    /// vanish. `None` when the policy is `noeviction`, could not be read, or
    /// the check was off.
    pub fn eviction_warning(&self) -> Option<&str> {
        self.shared.eviction_warning.as_deref()
    }

    /// Whether this store detects a server that lost its data (see the crate
    /// docs, "Data loss"). Off when the server would not let the marker be
    /// written and none was there to adopt, or when its eviction policy may
    /// evict any key.
    pub fn detects_data_loss(&self) -> bool {
        self.shared.markers.is_enabled()
    }

    /// Whether the store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.shared.clustered
    }

    /// The fred client, for commands flowstore does not offer. It stops working
    /// when the last handle of this store is dropped.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    fn key(&self, key: &Key) -> fred::types::Key {
        keys::redis_key(&self.prefix, key)
    }

    /// A conditional write's `Conflict` saying the key is absent is an
    /// answer about state, like a read's "absent": confirmed against the
    /// markers first, so a loss is `DataLoss`, not a conflict.
    async fn confirm_conflict_absent(
        &self,
        operation: Operation,
        key: &fred::types::Key,
        outcome: Result<()>,
    ) -> Result<()> {
        if let Err(err) = &outcome
            && err.kind() == ErrorKind::Conflict
            && err.current() == Some(&Current::Absent)
        {
            self.shared.confirm_absent(operation, key).await?;
        }
        outcome
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.namespace)
            .field("cluster", &self.shared.clustered)
            .field("max_value_size", &self.max_value_size)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.shared.refuse_if_lost(Operation::Get).await?;
        let stored = self.shared.get_confirmed(self.key(key)).await?;
        stored
            .map(stored::value_of)
            .transpose()
            .map_err(in_op(Operation::Get))
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        check_value_size(value, self.max_value_size).map_err(in_op(Operation::Set))?;
        // A SET without options replaces the value and drops any earlier TTL.
        let expire =
            ttl.map(|ttl| Expiration::PX(i64::try_from(ttl.as_millis_ceil()).unwrap_or(i64::MAX)));
        // Every write gives the entry a new version, plain ones too (SPEC §8).
        let stored = Bytes::from(stored::encode(&Version::generate(), value));
        let client = self.shared.client.clone();
        let (key, value) = (self.key(key), stored);
        let () = self
            .shared
            .refusals
            .run(Operation::Set, async move {
                client.set(key, value, expire, None, false).await
            })
            .await?;
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let client = self.shared.client.clone();
        let key = self.key(key);
        let _removed: i64 = self
            .shared
            .refusals
            .run(Operation::Delete, async move { client.del(key).await })
            .await?;
        Ok(())
    }

    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        self.shared.refuse_if_lost(Operation::GetEntry).await?;
        let key = self.key(key);
        let entry = versioned::get_entry(&self.shared, key.clone()).await?;
        if entry.is_none() {
            self.shared
                .confirm_absent(Operation::GetEntry, &key)
                .await?;
        }
        Ok(entry)
    }

    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        check_value_size(value, self.max_value_size).map_err(in_op(Operation::SetIf))?;
        // A write that states what the key holds reads state: after a loss
        // its "absent" is as unreliable as a read's — a create-if-absent
        // (locks, idempotency keys) would succeed over a lost key.
        let reads_state = !matches!(condition, Condition::Always);
        if reads_state {
            self.shared.refuse_if_lost(Operation::SetIf).await?;
        }
        let key = self.key(key);
        let outcome = versioned::set_if(
            &self.shared,
            key.clone(),
            value,
            ttl,
            condition,
            new_version,
        )
        .await;
        if reads_state {
            self.confirm_conflict_absent(Operation::SetIf, &key, outcome)
                .await
        } else {
            outcome
        }
    }

    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        self.shared.refuse_if_lost(Operation::DeleteIf).await?;
        let key = self.key(key);
        let outcome = versioned::delete_if(&self.shared, key.clone(), expected).await;
        self.confirm_conflict_absent(Operation::DeleteIf, &key, outcome)
            .await
    }

    async fn clear(&self) -> Result<()> {
        clear::remove_prefix(&self.shared, Operation::Clear, &self.prefix)
            .await
            .map_err(in_op(Operation::Clear))?;
        Ok(())
    }

    /// SCAN over every primary: unordered, and a key may come more than once
    /// (see the crate docs). `stored_size` counts the version header.
    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        self.shared.refuse_if_lost(Operation::List).await?;
        let page = list::list(&self.shared, &self.prefix, prefix, cursor, limit)
            .await
            .map_err(in_op(Operation::List))?;
        // A page cannot say what is missing from it: every marker is checked.
        self.shared
            .markers
            .check_all(&self.shared.client, &self.shared.refusals, Operation::List)
            .await?;
        Ok(page)
    }

    /// SCAN and batched UNLINK over every primary, like [`clear`](Store::clear).
    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        let full = format!("{}{}", self.prefix, prefix.as_str());
        clear::remove_prefix(&self.shared, Operation::DeletePrefix, &full)
            .await
            .map_err(in_op(Operation::DeletePrefix))
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        check_batch_len(keys.len()).map_err(in_op(Operation::GetMany))?;
        self.shared.refuse_if_lost(Operation::GetMany).await?;
        let names: Vec<fred::types::Key> = keys.iter().map(|key| self.key(key)).collect();
        let values = batch::get_many(&self.shared, names.clone()).await?;
        // One check per primary that owns a missing key (not per slot: a
        // batch of missing keys in many slots costs a `GET` per primary).
        let routing = self
            .shared
            .clustered
            .then(|| self.shared.client.cached_cluster_state())
            .flatten();
        let mut checked = Vec::new();
        for (name, value) in names.iter().zip(&values) {
            if value.is_some() {
                continue;
            }
            let owner = routing
                .as_ref()
                .and_then(|state| state.get_server(name.cluster_hash()).cloned());
            if !checked.contains(&owner) {
                checked.push(owner);
                self.shared.confirm_absent(Operation::GetMany, name).await?;
            }
        }
        Ok(values)
    }

    async fn set_many(&self, items: &[SetItem<'_>]) -> Result<()> {
        check_set_items(self.max_value_size, self.capabilities(), items)
            .map_err(in_op(Operation::SetMany))?;
        batch::set_many(&self.shared, items, |key| self.key(key)).await
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        check_batch_len(keys.len()).map_err(in_op(Operation::DeleteMany))?;
        let names = keys.iter().map(|key| self.key(key)).collect();
        batch::delete_many(&self.shared, names).await
    }

    /// One script: the value stays on the server, only its header (the
    /// version) and the TTL change.
    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        self.shared.refuse_if_lost(Operation::Touch).await?;
        let key = self.key(key);
        let touched =
            versioned::touch(&self.shared, key.clone(), ttl, &Version::generate()).await?;
        if !touched {
            // "Absent", like a read's: confirmed against the markers first.
            self.shared.confirm_absent(Operation::Touch, &key).await?;
        }
        Ok(touched)
    }

    /// `PING`, under the same refusal and timeout rules as every command, then
    /// a `GET` of the data-loss marker(s) (see the crate docs, "Data loss"):
    /// `degraded` with `DataLoss` once the server lost data. On a cluster, fred
    /// sends the `PING` to one node chosen at random, and the marker `GET`s to
    /// every primary.
    async fn ping(&self) -> Result<Health> {
        let client = self.shared.client.clone();
        let _pong: String = self
            .shared
            .refusals
            .run(Operation::Ping, async move { client.ping(None).await })
            .await?;
        // The markers too (every primary's), so that a probe sees a flush
        // before any read does; in the data lost state, the markers and the
        // acknowledged token (at most once a second), so that an
        // acknowledgement elsewhere is seen and a second wipe written back.
        let checked = match self.shared.refuse_if_lost(Operation::Ping).await {
            Ok(()) => {
                self.shared
                    .markers
                    .check_all(&self.shared.client, &self.shared.refusals, Operation::Ping)
                    .await
            }
            lost => lost,
        };
        match checked {
            Ok(()) => Ok(Health::ok()),
            // The store serves writes, not reads: degraded, named by kind.
            Err(err) if err.kind() == ErrorKind::DataLoss => {
                Ok(Health::degraded(vec![PartDown::new(
                    Part::Primary,
                    ErrorKind::DataLoss,
                )]))
            }
            // A marker that cannot be read (one primary down or slow) does not
            // make the whole store down: `PING` answered, so it is degraded.
            Err(err) => Ok(Health::degraded(vec![PartDown::new(
                Part::Primary,
                err.kind(),
            )])),
        }
    }

    /// Leaves the data lost state (see the crate docs, "Data loss"): the
    /// markers are written afresh and reads are served again; keys lost read as
    /// absent from then on. `Ok` and no change when nothing was lost.
    async fn acknowledge_data_loss(&self) -> Result<()> {
        self.shared
            .markers
            .acknowledge(&self.shared.client, &self.shared.refusals)
            .await
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    fn capabilities(&self) -> Capabilities {
        // SCAN is neither ordered nor exactly-once (SPEC §9).
        Capabilities::all().with_list(true, false).with_touch(true)
    }
}
