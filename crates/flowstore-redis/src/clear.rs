//! `clear` and `delete_prefix`: SCAN every primary with an escaped MATCH
//! pattern, UNLINK in batches.
//!
//! Never `KEYS` (it blocks the server for the whole keyspace) and never
//! `FLUSHDB` (it would remove other namespaces' keys). In a cluster the keys of
//! one SCAN page are grouped by hash slot, one `UNLINK` per slot, so no command
//! spans slots (no `CROSSSLOT` error); the groups of a page are sent together and
//! pipelined.

use bytes::Bytes;
use flowstore_core::{Error, Operation, Result};
use fred::clients::Client;
use fred::interfaces::{ClusterInterface, KeysInterface};
use fred::types::Key;
use fred::types::config::Server;
use futures::future::try_join_all;

use crate::error::{in_op, map_error};
use crate::keys::match_pattern;
use crate::store::Shared;

/// Keys asked for per SCAN call (a hint to the server, not a limit).
const SCAN_COUNT: u32 = 1000;

/// Removes every key whose name starts with `prefix` (a namespace's prefix,
/// perhaps followed by a key prefix) that exists when the call starts, and
/// returns how many this call removed. Keys written while it runs may or may
/// not survive.
///
/// Every command goes through [`Refusals::run`](crate::auth::Refusals::run),
/// so credentials refused on reconnect stop it with `Unauthorized` at once.
pub(crate) async fn remove_prefix(shared: &Shared, op: Operation, prefix: &str) -> Result<u64> {
    let mut removed = 0;
    for node in primaries(shared, op, true).await? {
        let mut cursor = 0;
        loop {
            let (next, keys) =
                scan_page(shared, op, node.as_ref(), cursor, prefix, SCAN_COUNT).await?;
            removed += unlink(shared, op, keys.into_iter().map(Key::from).collect()).await?;
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(removed)
}

/// The servers a SCAN must visit: `[None]` (the client's own server) outside a
/// cluster; in a cluster each primary, sorted by address so that every process
/// sees them in the same order (a listing cursor names one by its index).
/// With `refresh`, the slot map is read again first, so a primary promoted
/// since the last refresh is scanned and a failed one is not.
pub(crate) async fn primaries(
    shared: &Shared,
    op: Operation,
    refresh: bool,
) -> Result<Vec<Option<Server>>> {
    if !shared.clustered {
        return Ok(vec![None]);
    }
    let client = &shared.client;
    if refresh || client.cached_cluster_state().is_none() {
        let syncer = client.clone();
        shared
            .refusals
            .run(op, async move { syncer.sync_cluster().await })
            .await?;
    }
    // `unique_primary_nodes` comes out of a `BTreeSet`: sorted by address.
    let mut primaries = client
        .cached_cluster_state()
        .map(|state| state.unique_primary_nodes())
        .unwrap_or_default();
    primaries.sort_by_key(|server| (server.host.to_string(), server.port));
    if primaries.is_empty() {
        return Err(in_op(op)(Error::unavailable(
            "the cluster's primaries are not known",
        )));
    }
    Ok(primaries.into_iter().map(Some).collect())
}

/// One `SCAN cursor MATCH <prefix, escaped>* COUNT count` on `node` (the
/// client's own server for `None`). Returns the next cursor (0 at the end) and
/// the names found, checked again against the literal `prefix` (defence in
/// depth: a pattern mistake must never reach another namespace's keys).
pub(crate) async fn scan_page(
    shared: &Shared,
    op: Operation,
    node: Option<&Server>,
    cursor: u64,
    prefix: &str,
    count: u32,
) -> Result<(u64, Vec<Bytes>)> {
    let pattern = match_pattern(prefix);
    let client = shared.client.clone();
    let node = node.cloned();
    let (next, names): (String, Vec<Bytes>) = shared
        .refusals
        .run(op, async move {
            let cursor = cursor.to_string();
            match node {
                Some(node) => {
                    client
                        .with_cluster_node(node)
                        .scan_page(cursor, pattern, Some(count), None)
                        .await
                }
                None => client.scan_page(cursor, pattern, Some(count), None).await,
            }
        })
        .await?;
    let next = next
        .parse()
        .map_err(|_| in_op(op)(Error::backend("the server's SCAN cursor is not a number")))?;
    let names = names
        .into_iter()
        .filter(|name| name.starts_with(prefix.as_bytes()))
        .collect();
    Ok((next, names))
}

/// Unlinks `keys` (one `UNLINK`, or one per hash slot in a cluster, pipelined)
/// and returns how many existed.
pub(crate) async fn unlink(shared: &Shared, op: Operation, keys: Vec<Key>) -> Result<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    let groups = if shared.clustered {
        fred::util::group_by_hash_slot(keys)
            .map_err(|err| in_op(op)(map_error(err)))?
            .into_values()
            .map(Vec::from)
            .collect()
    } else {
        vec![keys]
    };
    let counts = try_join_all(groups.into_iter().map(|group| {
        let client: Client = shared.client.clone();
        shared
            .refusals
            .run(op, async move { client.unlink::<u64, _>(group).await })
    }))
    .await?;
    Ok(counts.into_iter().sum())
}
