//! `clear`: SCAN every primary with an escaped MATCH pattern, UNLINK in batches.
//!
//! Never `KEYS` (it blocks the server for the whole keyspace) and never
//! `FLUSHDB` (it would remove other namespaces' keys). In a cluster the keys of
//! one SCAN page are grouped by hash slot, one `UNLINK` per slot, so no command
//! spans slots (no `CROSSSLOT` error); the groups of a page are sent together and
//! pipelined.

use bytes::Bytes;
use flowstore_core::{Error, Result};
use fred::clients::Client;
use fred::interfaces::{ClusterInterface, KeysInterface};
use fred::types::Key;
use futures::future::try_join_all;

use crate::error::map_error;
use crate::keys::match_pattern;

/// Keys asked for per SCAN call (a hint to the server, not a limit).
const SCAN_COUNT: u32 = 1000;

/// Removes every key starting with `prefix` that exists when the call starts.
/// Keys written while it runs may or may not survive.
pub(crate) async fn clear(client: &Client, clustered: bool, prefix: &str) -> Result<()> {
    let pattern = match_pattern(prefix);
    if !clustered {
        return clear_node(client, client, false, &pattern).await;
    }
    // Refresh the slot map first, so a primary promoted since the last refresh
    // is scanned and a failed one is not.
    client
        .sync_cluster()
        .await
        .map_err(|err| map_error(err, "CLUSTER SLOTS"))?;
    let primaries = client
        .cached_cluster_state()
        .map(|state| state.unique_primary_nodes())
        .unwrap_or_default();
    if primaries.is_empty() {
        return Err(Error::unavailable(
            "Redis clear: the cluster's primaries are not known",
        ));
    }
    for primary in primaries {
        let node = client.with_cluster_node(primary);
        clear_node(&node, client, true, &pattern).await?;
    }
    Ok(())
}

/// Walks one server's keyspace with SCAN through `scanner` (bound to that
/// server in a cluster) and unlinks the matches through `client`.
async fn clear_node<S: KeysInterface + Sync>(
    scanner: &S,
    client: &Client,
    clustered: bool,
    pattern: &str,
) -> Result<()> {
    let mut cursor = String::from("0");
    loop {
        let (next, keys): (String, Vec<Bytes>) = scanner
            .scan_page(cursor, pattern.to_string(), Some(SCAN_COUNT), None)
            .await
            .map_err(|err| map_error(err, "SCAN"))?;
        if !keys.is_empty() {
            unlink(client, clustered, keys).await?;
        }
        if next == "0" {
            return Ok(());
        }
        cursor = next;
    }
}

async fn unlink(client: &Client, clustered: bool, keys: Vec<Bytes>) -> Result<()> {
    let keys: Vec<Key> = keys.into_iter().map(Key::from).collect();
    if !clustered {
        let _: i64 = client
            .unlink(keys)
            .await
            .map_err(|err| map_error(err, "UNLINK"))?;
        return Ok(());
    }
    let groups = fred::util::group_by_hash_slot(keys).map_err(|err| map_error(err, "UNLINK"))?;
    try_join_all(groups.into_values().map(|group| async move {
        let _: i64 = client
            .unlink(Vec::from(group))
            .await
            .map_err(|err| map_error(err, "UNLINK"))?;
        Ok::<(), Error>(())
    }))
    .await?;
    Ok(())
}
