//! Detecting a Redis that lost the data it had acknowledged.
//!
//! A Redis server that restarts without persistence, or that someone else
//! flushes (`FLUSHALL`, `FLUSHDB`), comes back empty: every saved key would read
//! as absent, and a client would take "no saved state" for an answer. So the
//! store writes a *marker* key when it connects and checks it:
//!
//! - after every reconnection (fred announces each one), and
//! - after a read that found nothing (`get`, `get_entry` and `get_many` that
//!   answer `None` somewhere, every `list` page), before that answer is given.
//!
//! A marker that is gone, or holds another value than the one this store saw,
//! means the server lost data: the store enters a *data lost* state in which
//! every read fails with [`DataLoss`](flowstore_core::ErrorKind::DataLoss)
//! until [`acknowledge`](Markers::acknowledge) (writes keep working), logs it
//! once, and reports it in its health probe.
//!
//! The loss is the whole fleet's: the store that detects it writes the flag
//! [`LOST_FLAG`]; a store that opens while it is set starts lost, and a lost
//! store reads it again at most once a [`FLAG_REREAD`] (on its refused reads)
//! and leaves the state when it is gone. Acknowledging (from any process)
//! writes every marker afresh with a new token, recorded first under
//! [`ACKNOWLEDGED`], and deletes the flag; a store that finds that token in
//! place of the one it saw adopts it rather than seeing a loss.
//!
//! The marker's name, `flowstore-marker` (on a cluster `flowstore-marker{N}`,
//! see below), has no `:`: every key a namespace holds is `namespace:key`, so
//! no namespaced key can be the marker, and `clear`, listing, `delete_prefix`
//! and copying (which match `namespace:*`) never see or touch it. Its value is
//! a random token: a second store that connects to the emptied server writes
//! its own token, which the first store then reads as a loss too. A store
//! adopts the token it finds when it connects, so any number of stores share
//! one marker.
//!
//! On a Redis Cluster one primary can be wiped alone, so there is one marker per
//! primary: the hash tag `N` is the smallest number whose slot that primary
//! owns. A read that found nothing checks the marker(s) on the primary that
//! owns the key's slot; a reconnection, a listing and a `ping` check them all. A primary
//! added after the store connected has no marker until the next
//! acknowledgement; a marker moved with its slot by resharding is still found.
//!
//! What this cannot see: a server that was emptied while no store was
//! connected (the first store to connect writes the marker afresh), a partial
//! loss that keeps the marker (a restart from an older RDB snapshot or AOF, a
//! failover to a lagging replica), and keys lost one by one (a `DEL` by someone
//! else; under an `allkeys-*` eviction policy the detection is off, since the
//! marker itself could be evicted).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flowstore_core::{Error, ErrorKind, Operation, Result, Version};
use fred::clients::Client;
use fred::interfaces::{ClusterInterface, EventInterface, KeysInterface};
use fred::types::cluster::ClusterRouting;
use fred::types::{Key, SetOptions};
use futures::future::try_join_all;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::auth::Refusals;
use crate::error::{BACKEND, in_op, map_error};

/// The marker's name outside a cluster; on a cluster, followed by a hash tag.
/// Without the namespace separator `:`, so no namespaced key can equal it.
pub const MARKER: &str = "flowstore-marker";

/// The fleet's *data lost* flag: written by the store that detects a loss,
/// deleted by the acknowledgement, so every process sharing the server enters
/// and leaves the data lost state together. One key for the whole server (on a
/// Cluster, on whichever primary owns its slot). No `:`, like the marker.
pub const LOST_FLAG: &str = "flowstore-data-lost";

/// The token the last acknowledgement wrote into every marker: a store whose
/// marker holds another token than it saw, but this one, adopts it instead of
/// taking it for a loss (the loss was acknowledged while it was not looking).
/// No `:`, like the marker.
pub const ACKNOWLEDGED: &str = "flowstore-data-loss-acknowledged";

/// How often a store in the data lost state reads the flag again (on its
/// refused reads), to leave the state once another process acknowledged.
const FLAG_REREAD: Duration = Duration::from_secs(1);

/// How far to look for a hash tag whose slot a primary owns: with 16 384
/// slots, a primary owning even a single slot is found well before.
const MAX_TAG: u32 = 1 << 20;

/// The markers this store expects: their names and the tokens it saw in them.
#[derive(Clone, Debug, Default)]
struct Expected {
    /// Bumped by every acknowledgement, so a check that started before one
    /// cannot mark the store as lost after it.
    generation: u64,
    markers: Arc<Vec<(String, Bytes)>>,
}

/// The data-loss detector of one connection, shared by its namespace handles.
pub(crate) struct Markers {
    expected: Mutex<Expected>,
    lost: AtomicBool,
    /// Off until the markers are established when the store opens, and for
    /// good if they cannot be (see [`Shared::watch_for_data_loss`](crate::store::Shared::watch_for_data_loss)).
    enabled: AtomicBool,
    /// Whether the flag was seen, or written by this process, since it entered
    /// the data lost state: only then does its absence mean "acknowledged".
    flag_seen: AtomicBool,
    /// When the flag was last read in the data lost state.
    flag_read_at: Mutex<Option<Instant>>,
    clustered: bool,
}

impl Markers {
    pub(crate) fn new(clustered: bool) -> Markers {
        Markers {
            expected: Mutex::new(Expected::default()),
            lost: AtomicBool::new(false),
            enabled: AtomicBool::new(false),
            flag_seen: AtomicBool::new(false),
            flag_read_at: Mutex::new(None),
            clustered,
        }
    }

    /// Whether the detection is on (the markers were established at open).
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Turns the detection on, once the markers are established.
    pub(crate) fn enable(&self) {
        self.enabled.store(true, Ordering::Release);
    }

    /// Whether the store is in the data lost state.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// `DataLoss` while the store is in the data lost state; call it before
    /// every read. At most about once a second it reads the fleet's flag
    /// first, and leaves the state if another process acknowledged the loss.
    pub(crate) async fn refuse_if_lost(
        &self,
        client: &Client,
        refusals: &Refusals,
        operation: Operation,
    ) -> Result<()> {
        if !self.is_lost() {
            return Ok(());
        }
        if self.flag_reread_due() && self.left_after_reading_flag(client, refusals).await {
            return Ok(());
        }
        Err(in_op(operation)(lost_error()))
    }

    fn flag_reread_due(&self) -> bool {
        let mut read_at = self
            .flag_read_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if read_at.is_some_and(|at| now.duration_since(at) < FLAG_REREAD) {
            return false;
        }
        *read_at = Some(now);
        true
    }

    /// Reads the flag: gone after it was seen means acknowledged elsewhere,
    /// so the markers are adopted again and the state is left (`true`).
    async fn left_after_reading_flag(&self, client: &Client, refusals: &Refusals) -> bool {
        let reader = client.clone();
        let flag = refusals
            .run(Operation::Get, async move {
                reader.get::<Option<Bytes>, _>(LOST_FLAG).await
            })
            .await;
        match flag {
            Ok(Some(_)) => {
                self.flag_seen.store(true, Ordering::Release);
                return false;
            }
            Ok(None) => {}
            Err(err) => {
                log::debug!(
                    "flowstore-redis: cannot read the data-lost flag: {}",
                    err.to_one_line()
                );
                return false;
            }
        }
        if !self.flag_seen.load(Ordering::Acquire) {
            // This process could not write it when it saw the loss: again.
            self.raise_flag(client, refusals).await;
            return false;
        }
        match self.establish(client, refusals, false).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(err) => {
                log::debug!(
                    "flowstore-redis: cannot adopt the data-loss marker: {}",
                    err.to_one_line()
                );
                return false;
            }
        }
        self.flag_seen.store(false, Ordering::Release);
        if self.lost.swap(false, Ordering::AcqRel) {
            log::warn!(
                "flowstore-redis: data loss acknowledged by another process; reads are served again, and keys lost read as absent"
            );
        }
        true
    }

    /// Writes the fleet's flag; a failure is logged, and the flag written
    /// again at the next reread.
    async fn raise_flag(&self, client: &Client, refusals: &Refusals) {
        let writer = client.clone();
        let command = async move {
            writer
                .set::<(), _, _>(LOST_FLAG, "1", None, None, false)
                .await
        };
        let written = refusals.run(Operation::Get, command).await;
        match written {
            Ok(()) => self.flag_seen.store(true, Ordering::Release),
            Err(err) => log::warn!(
                "flowstore-redis: cannot write the data-lost flag for the other processes: {}",
                err.to_one_line()
            ),
        }
    }

    /// At open, once the markers are established: a flag left by a process
    /// that saw a loss nobody acknowledged yet starts this store lost too.
    pub(crate) async fn adopt_flag(&self, client: &Client, refusals: &Refusals) -> Result<()> {
        let reader = client.clone();
        let flag = refusals
            .run(Operation::Get, async move {
                reader.get::<Option<Bytes>, _>(LOST_FLAG).await
            })
            .await?;
        if flag.is_some() {
            self.flag_seen.store(true, Ordering::Release);
            if !self.lost.swap(true, Ordering::AcqRel) {
                log::error!(
                    "flowstore-redis: another process saw the Redis server lose data it had acknowledged ({LOST_FLAG} is set); reads fail with data_loss until the loss is acknowledged"
                );
            }
        }
        Ok(())
    }

    /// Writes the markers (each only if absent) and adopts what they hold:
    /// when the store opens, and when a loss is acknowledged. `Ok(false)` when
    /// the server refused to write a marker that no store wrote before (see
    /// [`write_and_read`]): nothing to check against, the detection is off.
    ///
    /// With `overwrite` (an acknowledgement) every marker gets a new token,
    /// also recorded under [`ACKNOWLEDGED`] first, so that stores which adopted
    /// another token adopt this one instead of seeing a loss.
    pub(crate) async fn establish(
        &self,
        client: &Client,
        refusals: &Refusals,
        overwrite: bool,
    ) -> Result<bool> {
        let generation = self.lock().generation;
        let names = marker_names(client, self.clustered)?;
        let token = Bytes::from(Version::generate().as_str().to_owned());
        if overwrite {
            let (writer, value) = (client.clone(), token.clone());
            run(refusals, async move {
                writer
                    .set::<(), _, _>(ACKNOWLEDGED, value, None, None, false)
                    .await
            })
            .await
            .map_err(marker_error)?;
        }
        let markers = try_join_all(names.into_iter().map(|name| {
            let token = token.clone();
            async move {
                let seen = write_and_read(client, refusals, &name, token, overwrite).await?;
                Ok::<_, Error>(seen.map(|seen| (name, seen)))
            }
        }))
        .await?;
        let Some(markers) = markers.into_iter().collect::<Option<Vec<_>>>() else {
            return Ok(false);
        };
        let mut expected = self.lock();
        if expected.generation == generation {
            expected.generation += 1;
            expected.markers = Arc::new(markers);
        }
        Ok(true)
    }

    /// Acknowledges a loss, for every process sharing the server: the markers
    /// are written afresh, the fleet's flag deleted, then reads work again
    /// (other processes leave the state at their next reread of the flag).
    pub(crate) async fn acknowledge(&self, client: &Client, refusals: &Refusals) -> Result<()> {
        if !self.is_enabled() {
            // Nothing is detected, so nothing is refused.
            return Ok(());
        }
        if !self.establish(client, refusals, true).await? {
            return Err(Error::backend(
                "cannot write the data-loss marker afresh (the server refuses writes)",
            )
            .with_backend(BACKEND));
        }
        let writer = client.clone();
        let _removed: i64 = refusals
            .run(
                Operation::Delete,
                async move { writer.del(LOST_FLAG).await },
            )
            .await?;
        self.flag_seen.store(false, Ordering::Release);
        if self.lost.swap(false, Ordering::AcqRel) {
            log::warn!(
                "flowstore-redis: data loss acknowledged; reads are served again, and keys lost read as absent"
            );
        }
        Ok(())
    }

    /// Checks every marker (after a reconnection, and for a listing).
    pub(crate) async fn check_all(
        &self,
        client: &Client,
        refusals: &Refusals,
        operation: Operation,
    ) -> Result<()> {
        self.check(client, refusals, operation, None).await
    }

    /// Before answering that the key of `slot` (0 outside a cluster) is
    /// absent: checks the markers on the primary that owns it.
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
        let owner = match (self.clustered, slot) {
            (true, Some(slot)) => client
                .cached_cluster_state()
                .and_then(|state| state.get_server(slot).cloned().map(|owner| (state, owner))),
            _ => None,
        };
        let to_check = markers.iter().filter(|(name, _)| match &owner {
            Some((state, owner)) => {
                state.get_server(ClusterRouting::hash_key(name.as_bytes())) == Some(owner)
            }
            None => true,
        });
        let changed: Vec<(String, Option<Bytes>)> =
            try_join_all(to_check.map(|(name, token)| async move {
                let reader = client.clone();
                let key = Key::from(name.as_str());
                let seen = run(refusals, async move {
                    reader.get::<Option<Bytes>, _>(key).await
                })
                .await
                .map_err(in_op(operation))?;
                Ok::<_, Error>((seen.as_ref() != Some(token)).then(|| (name.clone(), seen)))
            }))
            .await?
            .into_iter()
            .flatten()
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        if self
            .adopted_acknowledgement(client, refusals, generation, &changed)
            .await
            .map_err(in_op(operation))?
        {
            return Ok(());
        }
        let still_current = self.lock().generation == generation;
        if !still_current {
            return Ok(());
        }
        if !self.lost.swap(true, Ordering::AcqRel) {
            log::error!(
                "flowstore-redis: the Redis server lost data it had acknowledged (the flowstore marker key is gone or was replaced: a restart without persistence, FLUSHALL or FLUSHDB); reads fail with data_loss until the loss is acknowledged (`flowstore --store URL acknowledge-data-loss`, POST /admin/acknowledge-data-loss, Store::acknowledge_data_loss)"
            );
            self.raise_flag(client, refusals).await;
        }
        Err(in_op(operation)(lost_error()))
    }

    /// Markers that hold another token than this store saw, all the token of
    /// the last acknowledgement: another process acknowledged a loss this one
    /// did not notice. Adopts the token (`true`) instead of seeing a loss.
    async fn adopted_acknowledgement(
        &self,
        client: &Client,
        refusals: &Refusals,
        generation: u64,
        changed: &[(String, Option<Bytes>)],
    ) -> Result<bool> {
        let reader = client.clone();
        let acknowledged = run(refusals, async move {
            reader.get::<Option<Bytes>, _>(ACKNOWLEDGED).await
        })
        .await?;
        let Some(acknowledged) = acknowledged else {
            return Ok(false);
        };
        if !changed
            .iter()
            .all(|(_, seen)| seen.as_ref() == Some(&acknowledged))
        {
            return Ok(false);
        }
        let mut expected = self.lock();
        if expected.generation != generation {
            return Ok(true);
        }
        let markers = expected
            .markers
            .iter()
            .map(|(name, token)| {
                let adopted = changed.iter().any(|(changed, _)| changed == name);
                let token = if adopted {
                    acknowledged.clone()
                } else {
                    token.clone()
                };
                (name.clone(), token)
            })
            .collect();
        expected.generation += 1;
        expected.markers = Arc::new(markers);
        Ok(true)
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
                // A failed check (the server went away again) proves
                // nothing; the next reconnection or read checks again.
                if let Err(err) = markers.check_all(&client, &refusals, Operation::Get).await
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

/// The error of every read in the data lost state.
fn lost_error() -> Error {
    Error::data_loss(
        "the Redis server lost data it had acknowledged (restarted without persistence, or flushed); reads fail until the loss is acknowledged",
    )
    .with_backend(BACKEND)
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

/// `SET name token NX`, then `GET name`: the token the marker holds now, ours
/// or an earlier store's. A marker that vanishes in between is written again.
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
    overwrite: bool,
) -> Result<Option<Bytes>> {
    for _ in 0..3 {
        let options = if overwrite {
            None
        } else {
            Some(SetOptions::NX)
        };
        let key = Key::from(name);
        let (writer, written_key, value) = (client.clone(), key.clone(), token.clone());
        let written = run_raw(refusals, async move {
            writer
                .set::<Option<String>, _, _>(written_key, value, None, options, false)
                .await
        })
        .await;
        let read = |key: Key| {
            let reader = client.clone();
            async move {
                run(refusals, async move {
                    reader.get::<Option<Bytes>, _>(key).await
                })
                .await
                .map_err(marker_error)
            }
        };
        match written {
            Ok(_) => {}
            Err(Refused::Fred(err)) if !overwrite && falls_back_to_reading(&err) => {
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
async fn run_raw<T, F>(refusals: &Refusals, command: F) -> std::result::Result<T, Refused>
where
    F: std::future::Future<Output = std::result::Result<T, fred::error::Error>> + Send + 'static,
    T: Send + 'static,
{
    let outcome = refusals
        .run(Operation::Get, async move {
            Ok::<_, fred::error::Error>(command.await)
        })
        .await;
    match outcome {
        Ok(result) => result.map_err(Refused::Fred),
        Err(err) => Err(Refused::Mapped(err)),
    }
}

/// [`run_raw`], with fred's errors mapped.
async fn run<T, F>(refusals: &Refusals, command: F) -> Result<T>
where
    F: std::future::Future<Output = std::result::Result<T, fred::error::Error>> + Send + 'static,
    T: Send + 'static,
{
    run_raw(refusals, command)
        .await
        .map_err(|refused| match refused {
            Refused::Fred(err) => map_error(err),
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
    }
}
