//! Detecting a Redis that lost the data it had acknowledged.
//!
//! A Redis server that restarts without persistence, or that someone else
//! flushes (`FLUSHALL`, `FLUSHDB`), comes back empty: every saved key would read
//! as absent, and a client would take "no saved state" for an answer. So the
//! store writes a *marker* key when it connects and checks it:
//!
//! - after every reconnection (fred announces each one), every listing page and
//!   every `ping`: every marker;
//! - with every read that finds nothing (`get`, `get_entry`, `get_many`,
//!   `touch`, conditional writes that find the key absent): the marker of the
//!   primary that owns the key (one more command after the miss; a hit costs
//!   nothing extra).
//!
//! # The markers' values
//!
//! A marker holds a random *token*, or [`LOST`]. A store adopts the token it
//! finds when it connects (so any number of stores share one marker), and a
//! marker that is gone, or holds another value than the one this store saw,
//! means the server lost data. The state is the fleet's and lives in the
//! markers themselves:
//!
//! - **Detection.** The store that sees a loss writes [`LOST`] into every
//!   marker, each with a compare-and-set script ([`MARK_LOST`]) that writes only
//!   if the marker still holds what the store read there, and enters the *data
//!   lost* state: every read fails with
//!   [`DataLoss`](flowstore_core::ErrorKind::DataLoss) until the loss is
//!   acknowledged (writes keep working); it logs it once, and its health probe
//!   reports it. Every other store sees [`LOST`] at its next check of that
//!   marker (a miss, a listing, a ping, a reconnection); a store that opens
//!   while a marker holds it starts lost.
//! - **Acknowledgement** (from any process, [`Markers::acknowledge`]): a new
//!   token is written under [`ACKNOWLEDGED`], then into every marker, and
//!   [`ACKNOWLEDGED`] is read again, the markers rewritten with what it holds
//!   until it no longer changes: concurrent acknowledgements all end with every
//!   marker holding the last token written there. A store whose marker holds
//!   another token than it saw, but the one [`ACKNOWLEDGED`] holds, adopts it
//!   instead of seeing a loss; a lost store reads the markers and
//!   [`ACKNOWLEDGED`] again at most once a [`REREAD`] (on its refused reads and
//!   probes), and leaves the state when they all hold the acknowledged token.
//! - **Ordering.** A detection reads the markers, then [`ACKNOWLEDGED`], and
//!   never writes [`LOST`] over a marker that holds the acknowledged token it
//!   read, nor over one that changed since it read it: an acknowledgement made
//!   after the detection read the markers always wins, and a detection cannot
//!   undo it.
//! - **A second wipe** while the fleet is lost removes [`LOST`] too. A lost
//!   store remembers that it saw the loss: at its next reread it finds the
//!   markers gone (or holding the token of a store that connected since) and
//!   no acknowledged token in them, so it writes [`LOST`] again rather than
//!   taking their absence for an acknowledgement.
//!
//! The marker's name, `flowstore-marker` (on a cluster `flowstore-marker{N}`,
//! see below), has no `:`: every key a namespace holds is `namespace:key`, so
//! no namespaced key can be the marker, and `clear`, listing, `delete_prefix`
//! and copying (which match `namespace:*`) never see or touch it.
//!
//! On a Redis Cluster one primary can be wiped alone, so there is one marker per
//! primary: the hash tag `N` is the smallest number whose slot that primary
//! owns. A miss checks the marker on the primary that owns the key's slot, or
//! every marker when that primary has none (one added, or whose marker slot
//! moved away, since the store connected); a reconnection, a listing and a
//! `ping` check them all. A primary added after the store connected has no
//! marker of its own until the next acknowledgement (or a store that opens
//! after it was added), so a wipe of that primary alone is not seen.
//!
//! What this cannot see: a server that was emptied while no store that had
//! seen its markers was connected (a fresh, empty server and a wiped one look
//! the same: the first store to connect writes the markers afresh); a store
//! that connects after a wipe but before any store that had seen the markers
//! checks them writes the markers afresh and serves "absent" until one does
//! (at its next miss, listing, probe or reconnection); a partial loss that
//! keeps the marker (a restart from an older RDB snapshot or AOF, a failover
//! to a lagging replica); and keys lost one by one (a `DEL` by someone else;
//! under an `allkeys-*` eviction policy the detection is off, since the marker
//! itself could be evicted).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flowstore_core::{Error, ErrorKind, Operation, Result, Version};
use fred::clients::Client;
use fred::interfaces::{ClusterInterface, EventInterface, KeysInterface};
use fred::types::cluster::ClusterRouting;
use fred::types::{Key, SetOptions, Value};
use futures::future::try_join_all;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::auth::Refusals;
use crate::error::{BACKEND, in_op, map_error};
use crate::scripts::MARK_LOST;

/// What the commands of an acknowledgement are labelled with in errors.
const ACKNOWLEDGE: Operation = Operation::AcknowledgeDataLoss;

/// The marker's name outside a cluster; on a cluster, followed by a hash tag.
/// Without the namespace separator `:`, so no namespaced key can equal it.
pub const MARKER: &str = "flowstore-marker";

/// The value every marker holds while the fleet is in the data lost state:
/// written by the store that detects a loss, replaced by the acknowledgement's
/// token. No token is ever equal to it.
pub const LOST: &str = "data-lost";

/// The token the last acknowledgement wrote into every marker: a store whose
/// marker holds another token than it saw, but this one, adopts it instead of
/// taking it for a loss (the loss was acknowledged while it was not looking).
/// No `:`, like the marker.
pub const ACKNOWLEDGED: &str = "flowstore-data-loss-acknowledged";

/// How often a store in the data lost state reads the markers again (on its
/// refused reads and probes), to leave the state once another process
/// acknowledged, or to write [`LOST`] again after a second wipe.
const REREAD: Duration = Duration::from_secs(1);

/// How many times a detection or an acknowledgement looks again when other
/// processes changed the markers under it, before giving up.
const SETTLE_ATTEMPTS: usize = 4;

/// How far to look for a hash tag whose slot a primary owns: with 16 384
/// slots, a primary owning even a single slot is found well before.
const MAX_TAG: u32 = 1 << 20;

/// What a read of the markers found: each name with its value (`None`: gone).
type Seen = Vec<(String, Option<Bytes>)>;

/// The markers this store expects: their names and the tokens it saw in them.
#[derive(Clone, Debug, Default)]
struct Expected {
    /// Bumped whenever the expected tokens change (an acknowledgement here, or
    /// one adopted), so that a check that read the markers before cannot mark
    /// the store as lost after it.
    generation: u64,
    markers: Arc<Vec<(String, Bytes)>>,
}

/// The data-loss detector of one connection, shared by its namespace handles.
pub(crate) struct Markers {
    expected: Mutex<Expected>,
    /// Remembered locally, so that markers wiped a second time (and [`LOST`]
    /// with them) are not taken for an acknowledgement.
    lost: AtomicBool,
    /// Off until the markers are established when the store opens, and for
    /// good if they cannot be (see [`Shared::watch_for_data_loss`](crate::store::Shared::watch_for_data_loss)).
    enabled: AtomicBool,
    /// When the markers were last read again in the data lost state.
    reread_at: Mutex<Option<Instant>>,
    clustered: bool,
}

impl Markers {
    pub(crate) fn new(clustered: bool) -> Markers {
        Markers {
            expected: Mutex::new(Expected::default()),
            lost: AtomicBool::new(false),
            enabled: AtomicBool::new(false),
            reread_at: Mutex::new(None),
            clustered,
        }
    }

    /// Whether the detection is on (the markers were established at open).
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Turns the detection on, once the markers are established; in the data
    /// lost state if a marker said so when they were.
    pub(crate) fn enable(&self, lost: bool) {
        if lost {
            self.enter_lost(
                "another process saw the Redis server lose data it had acknowledged (a marker holds the data lost value)",
            );
        }
        self.enabled.store(true, Ordering::Release);
    }

    /// Whether the store is in the data lost state.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    fn enter_lost(&self, why: &str) {
        if !self.lost.swap(true, Ordering::AcqRel) {
            log::error!(
                "flowstore-redis: {why}; reads fail with data_loss until the loss is acknowledged (`flowstore --store URL acknowledge-data-loss`, POST /admin/acknowledge-data-loss, Store::acknowledge_data_loss)"
            );
        }
    }

    fn leave_lost(&self, how: &str) {
        if self.lost.swap(false, Ordering::AcqRel) {
            log::warn!(
                "flowstore-redis: data loss acknowledged{how}; reads are served again, and keys lost read as absent"
            );
        }
    }

    /// `DataLoss` while the store is in the data lost state; call it before
    /// every read. At most once a [`REREAD`] it reads the markers first, and
    /// leaves the state if a process acknowledged the loss.
    pub(crate) async fn refuse_if_lost(
        &self,
        client: &Client,
        refusals: &Refusals,
        operation: Operation,
    ) -> Result<()> {
        if !self.is_lost() {
            return Ok(());
        }
        if self.reread_due() {
            match self.reread(client, refusals, operation).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(err) => log::debug!(
                    "flowstore-redis: cannot read the data-loss markers again: {}",
                    err.to_one_line()
                ),
            }
        }
        Err(in_op(operation)(lost_error()))
    }

    fn reread_due(&self) -> bool {
        let mut read_at = self
            .reread_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if read_at.is_some_and(|at| now.duration_since(at) < REREAD) {
            return false;
        }
        *read_at = Some(now);
        true
    }

    /// In the data lost state: every marker holding the acknowledged token
    /// means acknowledged, so the token is adopted and the state left
    /// (`true`). Anything else keeps the state, and a marker that lost its
    /// [`LOST`] (a second wipe, a store that connected since) gets it again.
    async fn reread(
        &self,
        client: &Client,
        refusals: &Refusals,
        operation: Operation,
    ) -> Result<bool> {
        let generation = self.lock().generation;
        let names = self.names();
        let seen = read_markers(client, refusals, operation, &names).await?;
        let acknowledged = read_acknowledged(client, refusals, operation).await?;
        if let Some(token) = &acknowledged
            && seen.iter().all(|(_, value)| value.as_ref() == Some(token))
        {
            self.adopt(generation, &seen, token);
            self.leave_lost(" by another process");
            return Ok(true);
        }
        // A marker that holds the acknowledged token is left alone: an
        // acknowledgement is under way, and the next reread adopts it.
        let to_mark: Seen = seen
            .into_iter()
            .filter(|(_, value)| value.is_none() || value != &acknowledged)
            .collect();
        mark_lost(client, refusals, operation, &to_mark).await?;
        Ok(false)
    }

    /// Writes the markers (each only if absent) and reads what they hold,
    /// when the store opens: `Some(lost)`, `lost` when a marker holds
    /// [`LOST`]. `None` when the server refused to write a marker that no
    /// store wrote before (see [`write_and_read`]): nothing to check against,
    /// the detection stays off.
    pub(crate) async fn establish(
        &self,
        client: &Client,
        refusals: &Refusals,
    ) -> Result<Option<bool>> {
        let names = marker_names(client, self.clustered)?;
        let token = new_token();
        let markers = try_join_all(names.into_iter().map(|name| {
            let token = token.clone();
            async move {
                let seen = write_and_read(client, refusals, &name, token).await?;
                Ok::<_, Error>(seen.map(|seen| (name, seen)))
            }
        }))
        .await?;
        let Some(markers) = markers.into_iter().collect::<Option<Vec<_>>>() else {
            return Ok(None);
        };
        let lost = markers.iter().any(|(_, value)| value == LOST);
        let mut expected = self.lock();
        expected.generation += 1;
        expected.markers = Arc::new(markers);
        Ok(Some(lost))
    }

    /// Reads [`ACKNOWLEDGED`] once when the store opens: a server (an ACL)
    /// that admits the markers but not this key fails here, not at the first
    /// loss.
    pub(crate) async fn can_read_acknowledged(
        &self,
        client: &Client,
        refusals: &Refusals,
    ) -> Result<()> {
        read_acknowledged(client, refusals, Operation::Get)
            .await
            .map(|_| ())
    }

    /// Acknowledges a loss, for every process sharing the server: the markers
    /// get a new token (see [`converge`]), then reads work again here (other
    /// processes leave the state at their next reread). With the detection
    /// off, the fleet's loss is ended all the same, if any process ever wrote
    /// markers; `Ok` and no change when none did.
    pub(crate) async fn acknowledge(&self, client: &Client, refusals: &Refusals) -> Result<()> {
        let names = marker_names(client, self.clustered).map_err(acknowledge_error)?;
        if !self.is_enabled() {
            let seen = read_markers(client, refusals, ACKNOWLEDGE, &names)
                .await
                .map_err(acknowledge_error)?;
            let acknowledged = read_acknowledged(client, refusals, ACKNOWLEDGE)
                .await
                .map_err(acknowledge_error)?;
            if acknowledged.is_none() && seen.iter().all(|(_, value)| value.is_none()) {
                // No store ever wrote markers here: nothing to acknowledge.
                return Ok(());
            }
            converge(client, refusals, &names)
                .await
                .map_err(acknowledge_error)?;
            return Ok(());
        }
        let token = converge(client, refusals, &names)
            .await
            .map_err(acknowledge_error)?;
        let mut expected = self.lock();
        expected.generation += 1;
        expected.markers = Arc::new(
            names
                .into_iter()
                .map(|name| (name, token.clone()))
                .collect(),
        );
        drop(expected);
        self.leave_lost("");
        Ok(())
    }

    /// Checks every marker (after a reconnection, for a listing and a probe).
    pub(crate) async fn check_all(
        &self,
        client: &Client,
        refusals: &Refusals,
        operation: Operation,
    ) -> Result<()> {
        self.check(client, refusals, operation, None).await
    }

    /// Before answering that the key of `slot` (0 outside a cluster) is
    /// absent: checks the marker on the primary that owns it.
    pub(crate) async fn confirm_absent(
        &self,
        client: &Client,
        refusals: &Refusals,
        operation: Operation,
        slot: u16,
    ) -> Result<()> {
        self.check(client, refusals, operation, Some(slot)).await
    }

    async fn check(
        &self,
        client: &Client,
        refusals: &Refusals,
        operation: Operation,
        slot: Option<u16>,
    ) -> Result<()> {
        if self.is_lost() {
            return Err(in_op(operation)(lost_error()));
        }
        let Expected {
            generation,
            markers,
        } = self.lock().clone();
        let names = self.names_to_check(client, &markers, slot);
        let seen = read_markers(client, refusals, operation, &names).await?;
        if matches_expected(&markers, &seen) {
            return Ok(());
        }
        self.settle(client, refusals, operation, generation)
            .await
            .map_err(in_op(operation))
    }

    /// The markers to read for a miss on `slot` (every marker for `None`):
    /// those on the primary that owns it, or every marker when it has none.
    fn names_to_check(
        &self,
        client: &Client,
        markers: &[(String, Bytes)],
        slot: Option<u16>,
    ) -> Vec<String> {
        let all = || markers.iter().map(|(name, _)| name.clone()).collect();
        let (true, Some(slot)) = (self.clustered, slot) else {
            return all();
        };
        let Some(state) = client.cached_cluster_state() else {
            return all();
        };
        let Some(owner) = state.get_server(slot) else {
            return all();
        };
        let owned: Vec<String> = markers
            .iter()
            .filter(|(name, _)| {
                state.get_server(ClusterRouting::hash_key(name.as_bytes())) == Some(owner)
            })
            .map(|(name, _)| name.clone())
            .collect();
        if owned.is_empty() { all() } else { owned }
    }

    /// A marker differs from what this store saw: an acknowledgement it did
    /// not see (adopted), or a loss ([`LOST`] written, the state entered).
    /// Reads every marker, then [`ACKNOWLEDGED`], and looks again when another
    /// process changed a marker between that read and the write of [`LOST`].
    async fn settle(
        &self,
        client: &Client,
        refusals: &Refusals,
        operation: Operation,
        generation: u64,
    ) -> Result<()> {
        let names = self.names();
        for _ in 0..SETTLE_ATTEMPTS {
            let seen = read_markers(client, refusals, operation, &names).await?;
            let acknowledged = read_acknowledged(client, refusals, operation).await?;
            let expected = self.lock().clone();
            if expected.generation != generation || matches_expected(&expected.markers, &seen) {
                // Acknowledged here in the meantime, or nothing changed.
                return Ok(());
            }
            let is_changed = |(name, value): &(String, Option<Bytes>)| {
                let token = expected
                    .markers
                    .iter()
                    .find(|(expected, _)| expected == name)
                    .map(|(_, token)| token);
                value.as_ref() != token
            };
            let adoptable = |entry: &(String, Option<Bytes>)| {
                is_changed(entry) && entry.1.is_some() && entry.1 == acknowledged
            };
            let changed: Seen = seen.iter().filter(|e| is_changed(e)).cloned().collect();
            if changed.iter().all(adoptable) {
                if let Some(token) = &acknowledged {
                    self.adopt(generation, &changed, token);
                }
                return Ok(());
            }
            // A loss. A marker that changed to the acknowledged token is left
            // alone: an acknowledgement is under way, and it wins.
            let to_mark: Seen = seen.into_iter().filter(|e| !adoptable(e)).collect();
            if mark_lost(client, refusals, operation, &to_mark).await? {
                if self.lock().generation != generation {
                    return Ok(());
                }
                self.enter_lost(
                    "the Redis server lost data it had acknowledged (a flowstore marker key is gone or was replaced: a restart without persistence, FLUSHALL or FLUSHDB)",
                );
                return Err(lost_error());
            }
        }
        // Other processes kept changing the markers: refusing reads is the safe
        // answer; the next reread decides again.
        self.enter_lost("the data-loss markers kept changing while they were checked");
        Err(lost_error())
    }

    /// Adopts `token` for the markers of `changed`, unless the expected tokens
    /// changed since `generation`.
    fn adopt(&self, generation: u64, changed: &Seen, token: &Bytes) {
        let mut expected = self.lock();
        if expected.generation != generation {
            return;
        }
        let markers = expected
            .markers
            .iter()
            .map(|(name, old)| {
                let adopted = changed.iter().any(|(changed, _)| changed == name);
                (
                    name.clone(),
                    if adopted { token.clone() } else { old.clone() },
                )
            })
            .collect();
        expected.generation += 1;
        expected.markers = Arc::new(markers);
    }

    fn names(&self) -> Vec<String> {
        self.lock()
            .markers
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Expected> {
        self.expected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks every marker after each reconnection fred announces, in a task
    /// of its own; dropping the handle stops it.
    /// Its commands go through the store's refusal watch: a server that
    /// refuses our credentials ends the check with `Unauthorized` at once.
    pub(crate) fn watch_reconnections(
        self: &Arc<Self>,
        client: &Client,
        refusals: Arc<Refusals>,
    ) -> JoinHandle<()> {
        let mut reconnects = client.reconnect_rx();
        let markers = Arc::clone(self);
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                match reconnects.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
                // In the data lost state, the reread writes LOST again if the
                // restart wiped it; otherwise every marker is checked. A
                // failed check (the server went away again) proves nothing;
                // the next reconnection or read checks again.
                let checked = if markers.is_lost() {
                    markers
                        .reread(&client, &refusals, Operation::Get)
                        .await
                        .map(|_| ())
                } else {
                    markers.check_all(&client, &refusals, Operation::Get).await
                };
                if let Err(err) = checked
                    && err.kind() != ErrorKind::DataLoss
                {
                    log::debug!(
                        "flowstore-redis: cannot check the data-loss marker after a reconnection: {}",
                        err.to_one_line()
                    );
                }
            }
        })
    }
}

/// Whether every marker of `seen` holds the token `expected` has for it.
fn matches_expected(expected: &[(String, Bytes)], seen: &Seen) -> bool {
    seen.iter().all(|(name, value)| {
        expected
            .iter()
            .any(|(expected, token)| expected == name && value.as_ref() == Some(token))
    })
}

/// The error of every read in the data lost state.
fn lost_error() -> Error {
    Error::data_loss(
        "the Redis server lost data it had acknowledged (restarted without persistence, or flushed); reads fail until the loss is acknowledged",
    )
    .with_backend(BACKEND)
}

fn new_token() -> Bytes {
    Bytes::from(Version::generate().as_str().to_owned())
}

/// The markers' names: one outside a cluster, one per primary on a cluster.
fn marker_names(client: &Client, clustered: bool) -> Result<Vec<String>> {
    if !clustered {
        return Ok(vec![MARKER.to_owned()]);
    }
    let state = client.cached_cluster_state().ok_or_else(|| {
        Error::unavailable("no cluster slot map to place the data-loss markers")
            .with_backend(BACKEND)
    })?;
    Ok(cluster_marker_names(&state))
}

/// One name per primary of `state`: `flowstore-marker{N}` with the smallest
/// `N` whose slot the primary owns.
fn cluster_marker_names(state: &ClusterRouting) -> Vec<String> {
    let mut missing = state.unique_primary_nodes();
    let mut names = Vec::with_capacity(missing.len());
    for tag in 0..MAX_TAG {
        if missing.is_empty() {
            break;
        }
        let name = format!("{MARKER}{{{tag}}}");
        let slot = ClusterRouting::hash_key(name.as_bytes());
        if let Some(owner) = state.get_server(slot)
            && let Some(at) = missing.iter().position(|primary| primary == owner)
        {
            missing.swap_remove(at);
            names.push(name);
        }
    }
    names
}

/// `GET` of every marker of `names`, concurrently (pipelined per server).
async fn read_markers(
    client: &Client,
    refusals: &Refusals,
    operation: Operation,
    names: &[String],
) -> Result<Seen> {
    try_join_all(names.iter().map(|name| async move {
        let reader = client.clone();
        let key = Key::from(name.as_str());
        let value = run(refusals, operation, async move {
            reader.get::<Option<Bytes>, _>(key).await
        })
        .await?;
        Ok::<_, Error>((name.clone(), value))
    }))
    .await
}

async fn read_acknowledged(
    client: &Client,
    refusals: &Refusals,
    operation: Operation,
) -> Result<Option<Bytes>> {
    let reader = client.clone();
    run(refusals, operation, async move {
        reader.get::<Option<Bytes>, _>(ACKNOWLEDGED).await
    })
    .await
}

/// A plain `SET` of a marker (or of [`ACKNOWLEDGED`]), for an acknowledgement.
async fn write(client: &Client, refusals: &Refusals, name: &str, value: Bytes) -> Result<()> {
    let (writer, key) = (client.clone(), Key::from(name));
    run(refusals, ACKNOWLEDGE, async move {
        writer.set::<(), _, _>(key, value, None, None, false).await
    })
    .await
}

/// Writes [`LOST`] into every marker of `seen` that does not hold it yet,
/// each only if it still holds what `seen` says (the [`MARK_LOST`] script).
/// `true` when every write happened (or none was needed); `false` when a
/// marker changed since it was read (an acknowledgement, another store).
async fn mark_lost(
    client: &Client,
    refusals: &Refusals,
    operation: Operation,
    seen: &Seen,
) -> Result<bool> {
    let to_mark = seen
        .iter()
        .filter(|(_, value)| value.as_deref() != Some(LOST.as_bytes()));
    let written = try_join_all(to_mark.map(|(name, value)| async move {
        let client = client.clone();
        let key = Key::from(name.as_str());
        let args = vec![
            Value::Bytes(value.clone().unwrap_or_default()),
            Value::from(LOST),
        ];
        let reply = run(refusals, operation, async move {
            MARK_LOST.run(client, key, args).await
        })
        .await?;
        Ok::<_, Error>(reply.as_i64() == Some(1))
    }))
    .await?;
    Ok(written.into_iter().all(|written| written))
}

/// The acknowledgement: a new token under [`ACKNOWLEDGED`], then every
/// marker set to what [`ACKNOWLEDGED`] holds, read again after the writes
/// until it holds what they wrote. Of concurrent acknowledgements, each one
/// that finds another's token there rewrites the markers with it, so they
/// all end with every marker holding the last token written under
/// [`ACKNOWLEDGED`] (the one returned, as far as this one saw).
async fn converge(client: &Client, refusals: &Refusals, names: &[String]) -> Result<Bytes> {
    let mut token = new_token();
    write(client, refusals, ACKNOWLEDGED, token.clone()).await?;
    for _ in 0..SETTLE_ATTEMPTS {
        try_join_all(
            names
                .iter()
                .map(|name| write(client, refusals, name, token.clone())),
        )
        .await?;
        match read_acknowledged(client, refusals, ACKNOWLEDGE).await? {
            Some(now) if now == token => return Ok(token),
            Some(now) => token = now,
            // Wiped in between: written again.
            None => write(client, refusals, ACKNOWLEDGED, token.clone()).await?,
        }
    }
    Err(Error::backend(
        "the data-loss markers kept changing under concurrent acknowledgements; acknowledge again",
    )
    .with_backend(BACKEND))
}

fn acknowledge_error(err: Error) -> Error {
    err.with_backend(BACKEND).with_operation(ACKNOWLEDGE)
}

/// `SET name token NX`, then `GET name`: the value the marker holds now, ours
/// or an earlier store's (or [`LOST`]). A marker that vanishes in between is
/// written again.
///
/// A server that refuses the write for another reason than being unreachable
/// or refusing our credentials (`OOM` on a full `noeviction` server,
/// `READONLY` on a replica, `NOPERM` for an ACL that forbids the marker) must
/// not make opening fail where it used to work: the marker is then only read,
/// and adopted if some store wrote it; `None` if there is none to adopt.
async fn write_and_read(
    client: &Client,
    refusals: &Refusals,
    name: &str,
    token: Bytes,
) -> Result<Option<Bytes>> {
    for _ in 0..3 {
        let key = Key::from(name);
        let (writer, written_key, value) = (client.clone(), key.clone(), token.clone());
        let written = run_raw(refusals, Operation::Get, async move {
            writer
                .set::<Option<String>, _, _>(written_key, value, None, Some(SetOptions::NX), false)
                .await
        })
        .await;
        let read = |key: Key| {
            let reader = client.clone();
            async move {
                run(refusals, Operation::Get, async move {
                    reader.get::<Option<Bytes>, _>(key).await
                })
                .await
                .map_err(marker_error)
            }
        };
        match written {
            Ok(_) => {}
            Err(Refused::Fred(err)) if falls_back_to_reading(&err) => {
                log::debug!(
                    "flowstore-redis: cannot write the data-loss marker ({}); reading it instead",
                    map_error(err).to_one_line()
                );
                return read(key).await;
            }
            Err(Refused::Fred(err)) => return Err(marker_error(map_error(err))),
            Err(Refused::Mapped(err)) => return Err(marker_error(err)),
        }
        if let Some(seen) = read(key).await? {
            return Ok(Some(seen));
        }
    }
    Err(
        Error::backend("the data-loss marker vanished three times while it was written")
            .with_backend(BACKEND),
    )
}

/// A marker command's failure: fred's own error, to look at its reply, or one
/// the refusal watch already mapped (the server refused our credentials).
enum Refused {
    Fred(fred::error::Error),
    Mapped(Error),
}

/// Runs `command` through the store's refusal watch (so a refusal of our
/// credentials is `Unauthorized` at once, not a timeout),
/// keeping fred's error when the command itself failed.
async fn run_raw<T, F>(
    refusals: &Refusals,
    operation: Operation,
    command: F,
) -> std::result::Result<T, Refused>
where
    F: std::future::Future<Output = std::result::Result<T, fred::error::Error>> + Send + 'static,
    T: Send + 'static,
{
    let outcome = refusals
        .run(operation, async move {
            Ok::<_, fred::error::Error>(command.await)
        })
        .await;
    match outcome {
        Ok(result) => result.map_err(Refused::Fred),
        Err(err) => Err(Refused::Mapped(err)),
    }
}

/// [`run_raw`], with fred's errors mapped.
async fn run<T, F>(refusals: &Refusals, operation: Operation, command: F) -> Result<T>
where
    F: std::future::Future<Output = std::result::Result<T, fred::error::Error>> + Send + 'static,
    T: Send + 'static,
{
    run_raw(refusals, operation, command)
        .await
        .map_err(|refused| match refused {
            Refused::Fred(err) => in_op(operation)(map_error(err)),
            Refused::Mapped(err) => err,
        })
}

/// Whether a refused marker write leaves the store able to open with the
/// marker only read: every refusal but an unreachable server and refused
/// credentials (`READONLY` is a temporary error for commands on entries, but
/// a replica stays read-only, and `NOPERM` concerns the marker key alone).
fn falls_back_to_reading(err: &fred::error::Error) -> bool {
    let prefix = err.details().split_whitespace().next().unwrap_or("");
    if matches!(prefix, "READONLY" | "NOPERM" | "OOM") {
        return true;
    }
    let err = map_error(err.clone());
    !matches!(
        err.kind(),
        ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Unauthorized
    )
}

fn marker_error(err: Error) -> Error {
    let message = format!("cannot write the data-loss marker: {}", err.message());
    Error::new(err.kind(), message)
        .with_temporary(err.is_temporary())
        .with_backend(BACKEND)
        .with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_no_namespaced_key() {
        // Every namespaced key is `namespace:key`.
        assert!(!MARKER.contains(crate::keys::SEPARATOR));
        assert!(!ACKNOWLEDGED.contains(crate::keys::SEPARATOR));
    }

    #[test]
    fn no_token_is_the_lost_value() {
        for _ in 0..100 {
            assert_ne!(new_token(), LOST.as_bytes());
        }
    }

    #[test]
    fn only_the_expected_tokens_match() {
        let expected = vec![
            ("a".to_owned(), Bytes::from_static(b"t1")),
            ("b".to_owned(), Bytes::from_static(b"t2")),
        ];
        let seen = |a: Option<&'static [u8]>| -> Seen {
            vec![("a".to_owned(), a.map(Bytes::from_static))]
        };
        assert!(matches_expected(&expected, &seen(Some(b"t1"))));
        assert!(!matches_expected(&expected, &seen(Some(b"t2"))));
        assert!(!matches_expected(&expected, &seen(None)));
        assert!(!matches_expected(&expected, &seen(Some(LOST.as_bytes()))));
    }
}
