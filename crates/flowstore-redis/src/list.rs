//! `list`: one page of a namespace's keys by prefix, by SCAN over every
//! primary (SPEC §9).
//!
//! SCAN is neither ordered nor exactly-once: a key present for the whole
//! listing is returned at least once, perhaps more (the store claims
//! `list` without `list_ordered`). A page holds what a few SCAN steps found,
//! so it may be short, even empty, before the end.
//!
//! The cursor is the position of the SCAN: which primary (its index in the
//! address-sorted list of primaries, and its address to notice a changed
//! cluster), the server's SCAN cursor there, and — only when one SCAN step
//! found more keys than a page holds — the last key handed out from that
//! step. Any process can resume from it.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flowstore_core::listing::check_list_limit;
use flowstore_core::{Cursor, Error, Key, ListItem, ListPage, Operation, Prefix, Result, Version};
use fred::types::config::Server;
use fred::types::{Key as RedisKey, Value};
use futures::future::try_join_all;

use crate::clear::{primaries, scan_page};
use crate::error::in_op;
use crate::scripts::LIST_ITEM;
use crate::store::Shared;

/// The tag of this store's cursors (see [`Cursor::encode`]).
const CURSOR_TAG: &str = "redis";

/// The layout of the bytes inside a cursor.
const CURSOR_FORMAT: u8 = 1;

/// SCAN steps one page may take before it is handed out short: bounds a page's
/// latency when the prefix matches few of the keys scanned.
const MAX_STEPS: usize = 16;

/// Where a listing stands.
#[derive(Debug, Default, PartialEq, Eq)]
struct Position {
    /// Index of the primary in [`primaries`] order (0 outside a cluster).
    node: u16,
    /// That primary's address (empty outside a cluster).
    address: String,
    /// The server's SCAN cursor on that primary.
    scan: u64,
    /// When the step at `scan` found more keys than fitted a page: the last
    /// key (without namespace) handed out of it, in byte order; the step is
    /// run again and only the keys after it are kept.
    after: Option<Vec<u8>>,
}

impl Position {
    /// Layout: format byte, node (u16 BE), SCAN cursor (u64 BE), address
    /// length (u8), address, then the `after` key (absent when empty: a key
    /// is never empty).
    fn encode(&self) -> Result<Cursor> {
        let address = self.address.as_bytes();
        let after = self.after.as_deref().unwrap_or_default();
        let mut bytes = Vec::with_capacity(12 + address.len() + after.len());
        bytes.push(CURSOR_FORMAT);
        bytes.extend_from_slice(&self.node.to_be_bytes());
        bytes.extend_from_slice(&self.scan.to_be_bytes());
        // An address is a host name and a port: far below 256 bytes.
        let address_len = u8::try_from(address.len())
            .map_err(|_| Error::backend("a cluster node's address is too long for a cursor"))?;
        bytes.push(address_len);
        bytes.extend_from_slice(address);
        bytes.extend_from_slice(after);
        Cursor::encode(CURSOR_TAG, &bytes)
    }

    fn decode(cursor: &Cursor) -> Result<Position> {
        let foreign = || Error::invalid_argument("this listing cursor was not made by this store");
        let bytes = cursor.decode(CURSOR_TAG)?;
        if bytes.len() < 12 || bytes[0] != CURSOR_FORMAT {
            return Err(foreign());
        }
        let node = u16::from_be_bytes([bytes[1], bytes[2]]);
        let scan = u64::from_be_bytes(bytes[3..11].try_into().map_err(|_| foreign())?);
        let address_end = 12 + usize::from(bytes[11]);
        let address = bytes.get(12..address_end).ok_or_else(foreign)?;
        let address = String::from_utf8(address.to_vec()).map_err(|_| foreign())?;
        let after = bytes[address_end..].to_vec();
        Ok(Position {
            node,
            address,
            scan,
            after: (!after.is_empty()).then_some(after),
        })
    }
}

fn address_of(node: &Option<Server>) -> String {
    node.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// One page of the keys of the namespace at `ns_prefix` (`namespace:`) that
/// start with `prefix`.
pub(crate) async fn list(
    shared: &Shared,
    ns_prefix: &str,
    prefix: &Prefix,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Result<ListPage> {
    check_list_limit(limit)?;
    let mut position = cursor
        .map(Position::decode)
        .transpose()?
        .unwrap_or_default();
    // A new listing reads the slot map first; a resumed one trusts fred's
    // (kept up to date by MOVED replies), saving a round trip per page.
    let nodes = primaries(shared, Operation::List, cursor.is_none()).await?;
    let unchanged = nodes
        .get(usize::from(position.node))
        .is_some_and(|node| address_of(node) == position.address);
    if !unchanged {
        // The cluster changed since the cursor was made (a failover, a node
        // added): start again from the first primary. Keys come again, which
        // an unordered listing allows; none is missed.
        position = Position {
            address: address_of(&nodes[0]),
            ..Position::default()
        };
    }
    let full_prefix = format!("{ns_prefix}{}", prefix.as_str());
    let mut names: Vec<Bytes> = Vec::new();
    let mut next = Some(position);
    for _ in 0..MAX_STEPS {
        let Some(at) = next.take() else { break };
        let room = limit - names.len();
        let node = &nodes[usize::from(at.node)];
        let count = u32::try_from(room).unwrap_or(u32::MAX);
        let (scan, found) = scan_page(
            shared,
            Operation::List,
            node.as_ref(),
            at.scan,
            &full_prefix,
            count,
        )
        .await?;
        // Within one step, each key once; after a cut, only the keys past it.
        let found: BTreeSet<Bytes> = found
            .into_iter()
            .filter(|name| match &at.after {
                Some(after) => &name[ns_prefix.len()..] > after.as_slice(),
                None => true,
            })
            .collect();
        if found.len() > room {
            if !names.is_empty() {
                // Hand out what we have; the next page runs this step again.
                next = Some(at);
                break;
            }
            // One step found more than a page: hand out its first `limit` keys
            // in byte order and run it again next time for the rest.
            let mut found: Vec<Bytes> = found.into_iter().collect();
            found.truncate(limit);
            let last = found[limit - 1][ns_prefix.len()..].to_vec();
            names = found;
            next = Some(Position {
                after: Some(last),
                ..at
            });
            break;
        }
        names.extend(found);
        next = if scan != 0 {
            Some(Position {
                scan,
                after: None,
                ..at
            })
        } else {
            // This primary is done: on to the next one, if any.
            let node = usize::from(at.node) + 1;
            nodes.get(node).map(|server| Position {
                node: node as u16,
                address: address_of(server),
                scan: 0,
                after: None,
            })
        };
        if names.len() == limit {
            break;
        }
    }
    let items = items(shared, ns_prefix, names).await?;
    let next = next.map(|at| at.encode()).transpose()?;
    Ok(ListPage::new(items, next))
}

/// Version, expiry and stored size of each name: one script call per key, all
/// sent at once (fred pipelines them). Keys gone since the SCAN are left out.
async fn items(shared: &Shared, ns_prefix: &str, names: Vec<Bytes>) -> Result<Vec<ListItem>> {
    let mut keys = Vec::with_capacity(names.len());
    for name in names {
        // A name in the namespace that is no valid key (not UTF-8, say) was not
        // written by flowstore and cannot be listed as a `Key`: skip it.
        let Ok(text) = std::str::from_utf8(&name[ns_prefix.len()..]) else {
            log::warn!("skipping a Redis key in a flowstore namespace that is not UTF-8");
            continue;
        };
        let Ok(key) = Key::new(text) else {
            log::warn!(
                "skipping a Redis key in a flowstore namespace that is no valid flowstore key"
            );
            continue;
        };
        keys.push((key, RedisKey::from(name)));
    }
    let replies = try_join_all(keys.iter().map(|(_, name)| {
        let (client, name) = (shared.client.clone(), name.clone());
        shared.refusals.run(Operation::List, async move {
            LIST_ITEM.run(client, name, Vec::new()).await
        })
    }))
    .await?;
    let mut items = Vec::with_capacity(keys.len());
    for ((key, _), reply) in keys.into_iter().zip(replies) {
        if let Some(item) = item_from_reply(key, reply).map_err(in_op(Operation::List))? {
            items.push(item);
        }
    }
    Ok(items)
}

/// The reply of `list_item.lua`: nil (the key is gone), or
/// `[version or nil, PTTL, STRLEN, TIME seconds, TIME microseconds]`.
fn item_from_reply(key: Key, reply: Value) -> Result<Option<ListItem>> {
    let fields = match reply {
        Value::Null => return Ok(None),
        Value::Array(fields) if fields.len() == 5 => fields,
        other => return Err(unexpected(&other)),
    };
    let [version, pttl, size, seconds, micros]: [Value; 5] = fields
        .try_into()
        .map_err(|_| Error::backend("unexpected reply to the list_item script"))?;
    let version = version
        .as_str()
        .and_then(|text| Version::new(text.into_owned()).ok())
        .ok_or_else(|| {
            Error::corrupt("a listed entry's header is damaged or of an unknown format")
        })?;
    let size = size
        .as_i64()
        .and_then(|size| u64::try_from(size).ok())
        .ok_or_else(|| unexpected(&size))?;
    let pttl = pttl.as_i64().ok_or_else(|| unexpected(&pttl))?;
    let expires_at = match pttl {
        -1 => None,
        // Expired between GET and PTTL (cannot happen inside a script, but
        // the reply says so): gone.
        -2 => return Ok(None),
        left => {
            let left = u64::try_from(left).map_err(|_| unexpected(&Value::Integer(left)))?;
            let seconds = seconds
                .as_i64()
                .and_then(|s| u64::try_from(s).ok())
                .ok_or_else(|| unexpected(&seconds))?;
            let micros = micros
                .as_i64()
                .and_then(|m| u64::try_from(m).ok())
                .ok_or_else(|| unexpected(&micros))?;
            let now: SystemTime =
                UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(micros);
            Some(now + Duration::from_millis(left))
        }
    };
    Ok(Some(ListItem::new(key, Some(version), expires_at, size)))
}

/// A reply the script never gives: named by its kind only.
fn unexpected(reply: &Value) -> Error {
    Error::backend(format!(
        "unexpected {} reply from the list_item script",
        reply.kind()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowstore_core::ErrorKind;

    #[test]
    fn positions_round_trip_through_cursors() {
        let positions = [
            Position::default(),
            Position {
                node: 2,
                address: "10.0.0.7:7001".into(),
                scan: u64::MAX,
                after: Some("k/é".as_bytes().to_vec()),
            },
            Position {
                node: 0,
                address: String::new(),
                scan: 17,
                after: None,
            },
        ];
        for position in positions {
            let cursor = position.encode().unwrap();
            assert_eq!(Position::decode(&cursor).unwrap(), position);
        }
        let longest = Position {
            after: Some(vec![b'k'; Key::MAX_LEN]),
            address: "h".repeat(255),
            ..Position::default()
        };
        assert_eq!(
            Position::decode(&longest.encode().unwrap()).unwrap(),
            longest
        );
    }

    #[test]
    fn foreign_cursors_are_invalid_arguments() {
        for text in [
            "memory.6162",
            "redis.02",
            "redis.01",
            "redis.",
            "redis.0100000000000000000005ab",
        ] {
            let cursor = Cursor::new(text).unwrap();
            assert_eq!(
                Position::decode(&cursor).unwrap_err().kind(),
                ErrorKind::InvalidArgument,
                "{text}"
            );
        }
    }

    #[test]
    fn item_replies_carry_version_expiry_and_size() {
        let key = Key::new("k").unwrap();
        let reply = |pttl: i64| {
            Value::Array(vec![
                Value::from("v1"),
                Value::Integer(pttl),
                Value::Integer(42),
                Value::from("1700000000"),
                Value::from("250000"),
            ])
        };
        let item = item_from_reply(key.clone(), reply(1500)).unwrap().unwrap();
        assert_eq!(item.version.as_ref().map(Version::as_str), Some("v1"));
        assert_eq!(item.stored_size, 42);
        assert_eq!(
            item.expires_at,
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_250 + 1500))
        );
        assert_eq!(
            item_from_reply(key.clone(), reply(-1))
                .unwrap()
                .unwrap()
                .expires_at,
            None
        );
        assert!(item_from_reply(key.clone(), reply(-2)).unwrap().is_none());
        assert!(item_from_reply(key.clone(), Value::Null).unwrap().is_none());
        let damaged = Value::Array(vec![
            Value::Null,
            Value::Integer(-1),
            Value::Integer(3),
            Value::from("1"),
            Value::from("0"),
        ]);
        assert_eq!(
            item_from_reply(key, damaged).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
    }
}
