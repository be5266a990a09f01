//! `get_many`, `set_many` and `delete_many` (SPEC §9): atomic per key, not per
//! batch.
//!
//! Outside a cluster a batch read is one `MGET` and a batch delete one
//! `UNLINK`. In a cluster no command may span hash slots (`CROSSSLOT`), so the
//! keys are grouped by slot, one command per group, and the groups are sent
//! together: fred pipelines concurrent commands on each server's connection,
//! so a batch costs about one round trip per server, not one per key. Writes
//! carry a TTL each, so they are one `SET` per key, pipelined the same way.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use flowstore_core::{Error, Operation, Result, SetItem, Version};
use fred::interfaces::KeysInterface;
use fred::types::{Expiration, Key as RedisKey, Value};
use futures::future::try_join_all;

use crate::clear::unlink;
use crate::error::in_op;
use crate::store::Shared;
use crate::stored;

/// The values under `names`, in the same order.
pub(crate) async fn get_many(
    shared: &Shared,
    names: Vec<RedisKey>,
) -> Result<Vec<Option<Vec<u8>>>> {
    let op = Operation::GetMany;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    // Positions of the request per slot (one group outside a cluster).
    let mut groups: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    for (at, name) in names.iter().enumerate() {
        let slot = if shared.clustered {
            name.cluster_hash()
        } else {
            0
        };
        groups.entry(slot).or_default().push(at);
    }
    let replies = try_join_all(groups.values().map(|positions| {
        let client = shared.client.clone();
        let group: Vec<RedisKey> = positions.iter().map(|&at| names[at].clone()).collect();
        shared
            .refusals
            .run(op, async move { client.mget::<Vec<Value>, _>(group).await })
    }))
    .await?;
    let mut values: Vec<Option<Vec<u8>>> = vec![None; names.len()];
    let mut nils = Vec::new();
    for (positions, reply) in groups.values().zip(replies) {
        if reply.len() != positions.len() {
            return Err(in_op(op)(Error::backend(format!(
                "MGET of {} keys answered {} values",
                positions.len(),
                reply.len()
            ))));
        }
        for (&at, value) in positions.iter().zip(reply) {
            values[at] = match value {
                Value::Null => {
                    nils.push(at);
                    None
                }
                other => {
                    let stored = other.into_bytes().ok_or_else(|| {
                        in_op(op)(Error::backend("MGET answered a value that is not a string"))
                    })?;
                    Some(stored::value_of(stored).map_err(in_op(op))?)
                }
            };
        }
    }
    refuse_other_types(shared, &names, &nils).await?;
    Ok(values)
}

/// `MGET` answers nil for a key that holds a list, a hash or another non-string
/// type, where `GET` fails with `WRONGTYPE`. A failure must not read as
/// "absent", so the nil positions are asked their `TYPE` (pipelined; only when
/// some key was nil): `none` is absent, `string` was written since the `MGET`
/// (absent at the time it read), anything else is the `get` error.
async fn refuse_other_types(shared: &Shared, names: &[RedisKey], nils: &[usize]) -> Result<()> {
    let op = Operation::GetMany;
    let types = try_join_all(nils.iter().map(|&at| {
        let (client, name) = (shared.client.clone(), names[at].clone());
        shared
            .refusals
            .run(op, async move { client.r#type::<String, _>(name).await })
    }))
    .await?;
    if types.iter().any(|kind| kind != "none" && kind != "string") {
        return Err(in_op(op)(Error::backend(
            "WRONGTYPE a key of this batch holds a Redis value of another type than a string",
        )));
    }
    Ok(())
}

/// Writes every item (values and TTLs already checked), each at a fresh
/// version. Of a key written twice only the last write is sent: the same
/// outcome as writing both in order, without relying on the order in which
/// concurrent commands reach the server.
pub(crate) async fn set_many(
    shared: &Shared,
    items: &[SetItem<'_>],
    name_of: impl Fn(&flowstore_core::Key) -> RedisKey,
) -> Result<()> {
    let op = Operation::SetMany;
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (at, item) in items.iter().enumerate() {
        last.insert(item.key.as_str(), at);
    }
    let writes = items
        .iter()
        .enumerate()
        .filter(|(at, item)| last.get(item.key.as_str()) == Some(at))
        .map(|(_, item)| {
            let expire = item
                .ttl
                .map(|ttl| Expiration::PX(i64::try_from(ttl.as_millis_ceil()).unwrap_or(i64::MAX)));
            let stored = Bytes::from(stored::encode(&Version::generate(), item.value));
            let (client, name) = (shared.client.clone(), name_of(item.key));
            shared.refusals.run(op, async move {
                client
                    .set::<(), _, _>(name, stored, expire, None, false)
                    .await
            })
        });
    try_join_all(writes).await?;
    Ok(())
}

/// Removes every key in `names`.
pub(crate) async fn delete_many(shared: &Shared, names: Vec<RedisKey>) -> Result<()> {
    unlink(shared, Operation::DeleteMany, names).await?;
    Ok(())
}
