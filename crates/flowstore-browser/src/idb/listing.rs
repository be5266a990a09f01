//! Listing by prefix, prefix deletes and touch over the object store (SPEC §9).
//!
//! # Order
//!
//! A namespace's records are the key range `[ns, <key>]`. IndexedDB compares
//! strings by UTF-16 code units, which is the keys' UTF-8 byte order except
//! between characters above U+FFFF (stored as surrogates, `0xD800..=0xDFFF`)
//! and U+E000..=U+FFFF: `"\u{FFFD}" < "😀"` in UTF-8, the other way round in
//! UTF-16. A listing walks that range in IndexedDB's order and resumes after
//! the cursor's key with an open lower bound, so every key comes exactly once
//! (when nothing changes meanwhile) — but not always in key order, so the store
//! does not claim `list_ordered`. Making the order match would mean a second,
//! re-encoded sort key in every record (a new index and a migration of stored
//! records); until then the order is documented instead.
//!
//! The prefix's range is bounded in the same UTF-16 order: from the prefix to
//! the prefix with its last code unit increased (`Prefix::upper_bound` counts
//! in scalar values and would let astral keys of another prefix in).

use std::cmp::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use flowstore_core::listing::check_list_limit;
use flowstore_core::{
    Cursor, Error, Key, ListItem, ListPage, Namespace, Prefix, Result, Ttl, Version,
};
use js_sys::{Array, JsString, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbKeyRange, IdbObjectStore};

use super::event::request;
use super::open::EXPIRY_INDEX;
use super::{LIST, is_expired, versions};
use crate::error::from_js;
use crate::now_millis;

/// The tag of this store's listing cursors (they carry the last key seen).
const CURSOR_TAG: &str = "idb1";

/// One page of the keys of namespace `ns` that start with `prefix`, after the
/// key `cursor` carries, read with one `getAll` inside the caller's
/// transaction.
pub(super) async fn page(
    store: &IdbObjectStore,
    namespace: &Namespace,
    prefix: &Prefix,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Result<ListPage> {
    check_list_limit(limit)?;
    let ns = namespace.as_str();
    let after = cursor
        .map(|cursor| cursor_key(cursor, namespace, prefix))
        .transpose()?;
    let prefix_units: Vec<u16> = prefix.as_str().encode_utf16().collect();
    // Resume after the cursor's key, unless it sorts before the prefix (a
    // cursor of a listing of another prefix): then from the prefix.
    let (lower, lower_open): (Vec<u16>, bool) = match after {
        Some(after) => {
            let after: Vec<u16> = after.encode_utf16().collect();
            if after.cmp(&prefix_units) == Ordering::Less {
                (prefix_units.clone(), false)
            } else {
                (after, true)
            }
        }
        None => (prefix_units.clone(), false),
    };
    let upper = upper_bound(&prefix_units);
    if upper.as_ref().is_some_and(|upper| lower >= *upper) {
        // Past the prefix's keys: IndexedDB refuses a range with lower > upper.
        return Ok(ListPage::new(Vec::new(), None));
    }
    let range = IdbKeyRange::bound_with_lower_open_and_upper_open(
        &Array::of2(&ns.into(), &units_to_js(&lower)),
        &upper_key(ns, upper.as_deref()),
        lower_open,
        true,
    )
    .map_err(|err| from_js(LIST, &err))?;
    // One more than a page: whether it is there says if another page follows.
    let want = u32::try_from(limit + 1).unwrap_or(u32::MAX);
    let read = store
        .get_all_with_key_and_limit(&range, want)
        .map_err(|err| from_js(LIST, &err))?;
    let records: Array = request(&read, LIST).await?.unchecked_into();
    let more = records.length() as usize > limit;
    let mut items = Vec::with_capacity(limit.min(records.length() as usize));
    let mut last = None;
    for record in records.iter().take(limit) {
        let key = record_key(&record)?;
        if let Some(item) = item(&record, &key)? {
            items.push(item);
        }
        last = Some(key);
    }
    let next = match last {
        Some(last) if more => Some(Cursor::for_listing(
            CURSOR_TAG,
            namespace,
            prefix,
            last.as_bytes(),
        )?),
        _ => None,
    };
    Ok(ListPage::new(items, next))
}

/// Deletes the keys of namespace `ns` that start with `prefix` inside the
/// caller's readwrite transaction, and returns how many had not expired.
pub(super) async fn delete_range(store: &IdbObjectStore, ns: &str, prefix: &Prefix) -> Result<u64> {
    const WHAT: &str = "";
    let prefix_units: Vec<u16> = prefix.as_str().encode_utf16().collect();
    let upper = upper_bound(&prefix_units);
    let range = IdbKeyRange::bound_with_lower_open_and_upper_open(
        &Array::of2(&ns.into(), &units_to_js(&prefix_units)),
        &upper_key(ns, upper.as_deref()),
        false,
        true,
    )
    .map_err(|err| from_js(WHAT, &err))?;
    let count = store
        .count_with_key(&range)
        .map_err(|err| from_js(WHAT, &err))?;
    // The namespace's expired keys (the expiry index holds only records with
    // an expiry); those of the prefix go too but are not counted.
    let nsv = JsValue::from_str(ns);
    let expired_range = IdbKeyRange::bound(
        &Array::of2(&nsv, &JsValue::from_f64(f64::MIN)),
        &Array::of2(&nsv, &JsValue::from_f64(now_millis())),
    )
    .map_err(|err| from_js(WHAT, &err))?;
    let expired = store
        .index(EXPIRY_INDEX)
        .and_then(|index| index.get_all_keys_with_key(&expired_range))
        .map_err(|err| from_js(WHAT, &err))?;
    let total = request(&count, WHAT).await?.as_f64().unwrap_or(0.0) as u64;
    let expired: Array = request(&expired, WHAT).await?.unchecked_into();
    let expired_here = expired
        .iter()
        .filter(|primary| {
            Reflect::get_u32(primary, 1)
                .ok()
                .and_then(|key| key.as_string())
                .is_some_and(|key| prefix.matches(&key))
        })
        .count() as u64;
    store.delete(&range).map_err(|err| from_js(WHAT, &err))?;
    Ok(total.saturating_sub(expired_here))
}

/// Gives a record read with `get` (`undefined` when absent) a new expiry and a
/// new entry version, in place; `false` when it is absent or expired (then it
/// is left as it is). The value field is not touched.
pub(super) fn retime(record: &JsValue, ttl: Option<Ttl>) -> Result<bool> {
    if record.is_undefined() {
        return Ok(false);
    }
    let (_value, expires) = fields(record)?;
    if expires.is_some_and(is_expired) {
        return Ok(false);
    }
    const WHAT: &str = "";
    let field = JsValue::from_str("expires");
    match ttl {
        Some(ttl) => Reflect::set(
            record,
            &field,
            &JsValue::from_f64(now_millis() + ttl.as_millis_ceil() as f64),
        ),
        None => Reflect::delete_property(record.unchecked_ref::<js_sys::Object>(), &field),
    }
    .map_err(|err| from_js(WHAT, &err))?;
    Reflect::set(
        record,
        &JsValue::from_str(versions::FIELD),
        &JsValue::from_str(Version::generate().as_str()),
    )
    .map_err(|err| from_js(WHAT, &err))?;
    Ok(true)
}

/// The listed item of `record` (whose key is `key`), `None` when expired. The
/// value is copied into Rust only for a legacy record, whose pseudo-version
/// hashes it.
fn item(record: &JsValue, key: &str) -> Result<Option<ListItem>> {
    let (value, expires) = fields(record)?;
    if expires.is_some_and(is_expired) {
        return Ok(None);
    }
    let has_version = Reflect::get(record, &JsValue::from_str(versions::FIELD))
        .is_ok_and(|field| !field.is_undefined());
    let version = if has_version {
        versions::of_record(record, &[], expires)?
    } else {
        versions::of_record(record, &value.to_vec(), expires)?
    };
    let key = Key::new(key)
        .map_err(|_| Error::corrupt("an IndexedDB record's key is not a valid flowstore key"))?;
    let expires_at = expires.map(|millis| UNIX_EPOCH + Duration::from_millis(millis as u64));
    Ok(Some(ListItem::new(
        key,
        Some(version),
        expires_at,
        u64::from(value.byte_length()),
    )))
}

/// A record's value (left in JavaScript) and expiry; anything else is
/// `Corrupt`, as for a read.
fn fields(record: &JsValue) -> Result<(Uint8Array, Option<f64>)> {
    let field = |name: &str| Reflect::get(record, &JsValue::from_str(name)).ok();
    let value = field("value")
        .and_then(|value| value.dyn_into::<Uint8Array>().ok())
        .ok_or_else(|| Error::corrupt("an IndexedDB record has no byte value"))?;
    let expires = match field("expires") {
        None => None,
        Some(expires) if expires.is_undefined() => None,
        Some(expires) => Some(
            expires
                .as_f64()
                .ok_or_else(|| Error::corrupt("an IndexedDB record has a bad expiry time"))?,
        ),
    };
    Ok((value, expires))
}

/// The `key` field of a listed record.
fn record_key(record: &JsValue) -> Result<String> {
    Reflect::get(record, &JsValue::from_str("key"))
        .ok()
        .and_then(|key| key.as_string())
        .ok_or_else(|| Error::corrupt("an IndexedDB record has no text key"))
}

/// The key a cursor of this store carries.
fn cursor_key(cursor: &Cursor, namespace: &Namespace, prefix: &Prefix) -> Result<String> {
    String::from_utf8(cursor.position_in(CURSOR_TAG, namespace, prefix)?)
        .map_err(|_| Error::invalid_argument("this listing cursor was not made by this store"))
}

/// The smallest UTF-16 string above every string that starts with `prefix`
/// (in code units): its last unit below 0xFFFF increased, the units after it
/// dropped. `None` for the empty prefix and one of 0xFFFF units only. The
/// result may end in a lone surrogate, which a JavaScript string can hold.
pub(crate) fn upper_bound(prefix: &[u16]) -> Option<Vec<u16>> {
    let mut units = prefix.to_vec();
    while let Some(last) = units.pop() {
        if last != u16::MAX {
            units.push(last + 1);
            return Some(units);
        }
    }
    None
}

fn units_to_js(units: &[u16]) -> JsValue {
    JsString::from_char_code(units).into()
}

/// The exclusive upper end of a prefix's range: `[ns, upper]`, or `[ns, []]`
/// when the prefix has no bound (arrays sort after every string).
fn upper_key(ns: &str, upper: Option<&[u16]>) -> Array {
    let ns = JsValue::from_str(ns);
    match upper {
        Some(upper) => Array::of2(&ns, &units_to_js(upper)),
        None => Array::of2(&ns, &Array::new()),
    }
}
