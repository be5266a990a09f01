//! `get_entry`, `set_if` and `delete_if` (SPEC §8): each one script run on the
//! key's server (see [`scripts`](crate::scripts)), so each is one round trip
//! and atomic per key, in a cluster too. The scripts decide; this module builds
//! their arguments and turns their replies into entries and errors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flowstore_core::version::conflict;
use flowstore_core::{Condition, Entry, Error, Operation, Result, Ttl, Version};
use fred::types::{Key, Value};

use crate::error::in_op;
use crate::scripts::{DELETE_IF, GET_ENTRY, SET_IF, TOUCH};
use crate::store::Shared;
use crate::stored;

/// The entry under `key`, read with the server's clock for its expiry.
///
/// One script rather than a pipeline of `GET` and `PTTL`: the script reads
/// value, TTL and clock at one instant (a pipeline could see another client's
/// write between them) and works out the legacy pseudo-version on the server,
/// where the value already is.
pub(crate) async fn get_entry(shared: &Shared, key: Key) -> Result<Option<Entry>> {
    let client = shared.client.clone();
    let reply = shared
        .refusals
        .run(Operation::GetEntry, async move {
            GET_ENTRY.run(client, key, Vec::new()).await
        })
        .await?;
    entry_from_reply(reply).map_err(in_op(Operation::GetEntry))
}

/// Writes `value` at `new_version` if `condition` holds (the script decides).
pub(crate) async fn set_if(
    shared: &Shared,
    key: Key,
    value: &[u8],
    ttl: Option<Ttl>,
    condition: &Condition,
    new_version: &Version,
) -> Result<()> {
    let (condition, expected) = match condition {
        Condition::Always => ("always", ""),
        Condition::Absent => ("absent", ""),
        Condition::Matches(expected) => ("matches", expected.as_str()),
    };
    let ttl_millis = ttl.map_or(0, Ttl::as_millis_ceil);
    let args = vec![
        Value::Bytes(Bytes::from(stored::encode(new_version, value))),
        Value::from(new_version.as_str()),
        Value::from(condition),
        Value::from(expected),
        Value::from(ttl_millis.to_string()),
    ];
    let client = shared.client.clone();
    let reply = shared
        .refusals
        .run(Operation::SetIf, async move {
            SET_IF.run(client, key, args).await
        })
        .await?;
    outcome_from_reply(reply).map_err(in_op(Operation::SetIf))
}

/// Deletes the key if it is at `expected` (the script decides).
pub(crate) async fn delete_if(shared: &Shared, key: Key, expected: &Version) -> Result<()> {
    let args = vec![Value::from(expected.as_str())];
    let client = shared.client.clone();
    let reply = shared
        .refusals
        .run(Operation::DeleteIf, async move {
            DELETE_IF.run(client, key, args).await
        })
        .await?;
    outcome_from_reply(reply).map_err(in_op(Operation::DeleteIf))
}

/// Gives the entry under `key`, if live, `new_version` and `ttl` (none: no
/// expiry) without sending its value: one script on the key's server.
/// Returns whether the key was there.
pub(crate) async fn touch(
    shared: &Shared,
    key: Key,
    ttl: Option<Ttl>,
    new_version: &Version,
) -> Result<bool> {
    let ttl_millis = ttl.map_or(0, Ttl::as_millis_ceil);
    let args = vec![
        Value::from(new_version.as_str()),
        Value::from(ttl_millis.to_string()),
    ];
    let client = shared.client.clone();
    let reply = shared
        .refusals
        .run(Operation::Touch, async move {
            TOUCH.run(client, key, args).await
        })
        .await?;
    touched_from_reply(reply).map_err(in_op(Operation::Touch))
}

/// The reply of `touch.lua`: 1 touched, 0 absent, -1 a damaged header.
fn touched_from_reply(reply: Value) -> Result<bool> {
    match reply {
        Value::Integer(1) => Ok(true),
        Value::Integer(0) => Ok(false),
        Value::Integer(-1) => Err(damaged_header()),
        other => Err(unexpected(&other)),
    }
}

/// The reply of `set_if.lua` or `delete_if.lua`: 1 done, 0 conflict with an
/// absent key, a string conflict with that version, -1 a damaged header.
fn outcome_from_reply(reply: Value) -> Result<()> {
    match reply {
        Value::Integer(1) => Ok(()),
        Value::Integer(0) => Err(conflict(None)),
        Value::Integer(-1) => Err(damaged_header()),
        Value::String(_) | Value::Bytes(_) => {
            let current = version_in(reply)?;
            Err(conflict(Some(current)))
        }
        other => Err(unexpected(&other)),
    }
}

/// The reply of `get_entry.lua`: nil, or
/// `[stored, version or nil, PTTL, TIME seconds, TIME microseconds]`.
fn entry_from_reply(reply: Value) -> Result<Option<Entry>> {
    let fields = match reply {
        Value::Null => return Ok(None),
        Value::Array(fields) if fields.len() == 5 => fields,
        other => return Err(unexpected(&other)),
    };
    let [stored, version, pttl, seconds, micros]: [Value; 5] = fields
        .try_into()
        .map_err(|_| Error::backend("unexpected reply to the get_entry script"))?;
    let stored = stored
        .into_bytes()
        .ok_or_else(|| unexpected(&Value::Null))?;
    if version.is_null() {
        return Err(damaged_header());
    }
    let version = version_in(version)?;
    let value_offset = stored::decode(&stored)?.value_offset;
    let value = if value_offset == 0 {
        Vec::from(stored)
    } else {
        stored[value_offset..].to_vec()
    };
    let expires_at = expiry(&pttl, &seconds, &micros)?;
    Ok(Some(Entry::new(value, version, expires_at)))
}

/// The absolute expiry of a key with `pttl` milliseconds left when the
/// server's clock read `seconds` and `micros`; `None` for no TTL (`-1`).
fn expiry(pttl: &Value, seconds: &Value, micros: &Value) -> Result<Option<SystemTime>> {
    let pttl = pttl.as_i64().ok_or_else(|| unexpected(pttl))?;
    if pttl == -1 {
        return Ok(None);
    }
    let left = u64::try_from(pttl).map_err(|_| unexpected(&Value::Integer(pttl)))?;
    let seconds = seconds
        .as_i64()
        .and_then(|seconds| u64::try_from(seconds).ok())
        .ok_or_else(|| unexpected(seconds))?;
    let micros = micros
        .as_i64()
        .and_then(|micros| u64::try_from(micros).ok())
        .ok_or_else(|| unexpected(micros))?;
    let now = UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(micros);
    Ok(Some(now + Duration::from_millis(left)))
}

/// A version a script read from a stored header.
fn version_in(reply: Value) -> Result<Version> {
    reply
        .as_str()
        .and_then(|text| Version::new(text.into_owned()).ok())
        .ok_or_else(damaged_header)
}

fn damaged_header() -> Error {
    Error::corrupt("the stored entry's header is damaged or of an unknown format")
}

/// A reply the scripts never give: named by its kind only, never its content
/// (it could be a stored value).
fn unexpected(reply: &Value) -> Error {
    Error::backend(format!(
        "unexpected {} reply from a flowstore script",
        reply.kind()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowstore_core::{Current, ErrorKind};

    #[test]
    fn script_outcomes_become_ok_conflict_or_corrupt() {
        outcome_from_reply(Value::Integer(1)).unwrap();
        let err = outcome_from_reply(Value::Integer(0)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(err.current(), Some(&Current::Absent));
        let err = outcome_from_reply(Value::from("abc-1-2")).unwrap_err();
        assert_eq!(err.current_version().map(Version::as_str), Some("abc-1-2"));
        let err = outcome_from_reply(Value::Integer(-1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        let err = outcome_from_reply(Value::from("not a version")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        let err = outcome_from_reply(Value::Integer(7)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend);
    }

    #[test]
    fn touch_replies_become_present_absent_or_corrupt() {
        assert!(touched_from_reply(Value::Integer(1)).unwrap());
        assert!(!touched_from_reply(Value::Integer(0)).unwrap());
        let err = touched_from_reply(Value::Integer(-1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        let err = touched_from_reply(Value::from("x")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend);
    }

    #[test]
    fn entry_replies_carry_value_version_and_server_expiry() {
        let v = Version::new("v1").unwrap();
        let reply = |pttl: i64| {
            Value::Array(vec![
                Value::Bytes(stored::encode(&v, b"payload").into()),
                Value::from("v1"),
                Value::Integer(pttl),
                Value::from("1700000000"),
                Value::from("250000"),
            ])
        };
        let entry = entry_from_reply(reply(1500)).unwrap().unwrap();
        assert_eq!(
            (entry.value.as_slice(), &entry.version),
            (&b"payload"[..], &v)
        );
        assert_eq!(
            entry.expires_at,
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_250 + 1500))
        );
        assert_eq!(
            entry_from_reply(reply(-1)).unwrap().unwrap().expires_at,
            None
        );
        assert!(entry_from_reply(Value::Null).unwrap().is_none());
    }
}
