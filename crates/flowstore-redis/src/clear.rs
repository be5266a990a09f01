//! `clear`: SCAN every primary with an escaped MATCH pattern, UNLINK in batches.
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
use futures::future::try_join_all;

use crate::auth::Refusals;
use crate::error::{in_op, map_error};
use crate::keys::match_pattern;
use crate::store::Shared;

/// Keys asked for per SCAN call (a hint to the server, not a limit).
const SCAN_COUNT: u32 = 1000;

/// Removes every key starting with `prefix` that exists when the call starts.
/// Keys written while it runs may or may not survive.
///
/// Every command goes through [`Refusals::run`], so credentials refused on
/// reconnect stop the clear with `Unauthorized` at once.
pub(crate) async fn clear(shared: &Shared, prefix: &str) -> Result<()> {
    let client = &shared.client;
    let refusals = &shared.refusals;
    let pattern = match_pattern(prefix);
    if !shared.clustered {
        return clear_node(refusals, client, client, false, &pattern).await;
    }
    // Refresh the slot map first, so a primary promoted since the last refresh
    // is scanned and a failed one is not.
    let syncer = client.clone();
    refusals
        .run(Operation::Clear, async move { syncer.sync_cluster().await })
        .await?;
    let primaries = client
        .cached_cluster_state()
        .map(|state| state.unique_primary_nodes())
        .unwrap_or_default();
    if primaries.is_empty() {
        return Err(in_op(Operation::Clear)(Error::unavailable(
            "the cluster's primaries are not known",
        )));
    }
    for primary in primaries {
        let node = client.with_cluster_node(primary);
        clear_node(refusals, &node, client, true, &pattern).await?;
    }
    Ok(())
}

/// Walks one server's keyspace with SCAN through `scanner` (bound to that
/// server in a cluster) and unlinks the matches through `client`.
async fn clear_node<S: KeysInterface + Clone + Send + Sync + 'static>(
    refusals: &Refusals,
    scanner: &S,
    client: &Client,
    clustered: bool,
    pattern: &str,
) -> Result<()> {
    let mut cursor = String::from("0");
    loop {
        let (scanner, pattern) = (scanner.clone(), pattern.to_string());
        let (next, keys): (String, Vec<Bytes>) = refusals
            .run(Operation::Clear, async move {
                scanner
                    .scan_page(cursor, pattern, Some(SCAN_COUNT), None)
                    .await
            })
            .await?;
        if !keys.is_empty() {
            unlink(refusals, client, clustered, keys).await?;
        }
        if next == "0" {
            return Ok(());
        }
        cursor = next;
    }
}

async fn unlink(
    refusals: &Refusals,
    client: &Client,
    clustered: bool,
    keys: Vec<Bytes>,
) -> Result<()> {
    let keys: Vec<Key> = keys.into_iter().map(Key::from).collect();
    if !clustered {
        let client = client.clone();
        let _: i64 = refusals
            .run(Operation::Clear, async move { client.unlink(keys).await })
            .await?;
        return Ok(());
    }
    let groups = fred::util::group_by_hash_slot(keys)
        .map_err(|err| in_op(Operation::Clear)(map_error(err)))?;
    try_join_all(groups.into_values().map(|group| {
        let client = client.clone();
        async move {
            let _: i64 = refusals
                .run(Operation::Clear, async move {
                    client.unlink(Vec::from(group)).await
                })
                .await?;
            Ok::<(), Error>(())
        }
    }))
    .await?;
    Ok(())
}
