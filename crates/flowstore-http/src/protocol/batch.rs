//! The JSON bodies of listing, the batch routes, prefix deletes and touch
//! (SPEC §9), and their paths.
//!
//! The batch and prefix-delete routes live outside `{base}/states/{key}` (a
//! user key may be named `batch`), and a prefix delete is a `POST` with a
//! body: a server or proxy that drops query strings can never turn it into
//! `DELETE {base}/states`, which clears the namespace.

use std::time::SystemTime;

use flowstore_core::listing::MAX_BATCH_LEN;
use flowstore_core::{Cursor, Error, Key, ListItem, ListPage, Prefix, Result, Ttl, Version};
use serde::{Deserialize, Serialize};

use super::expiry::{format_expires_at, parse_expires_at};
use super::value::EncodedValue;

/// `POST {base}/batch/get`: [`KeysBody`] in, [`ValuesBody`] out.
pub const BATCH_GET_PATH: &str = "/batch/get";
/// `POST {base}/batch/set`: [`SetBody`] in, `204` out.
pub const BATCH_SET_PATH: &str = "/batch/set";
/// `POST {base}/batch/delete`: [`KeysBody`] in, `204` out.
pub const BATCH_DELETE_PATH: &str = "/batch/delete";
/// `POST {base}/delete-prefix`: [`DeletePrefixBody`] in,
/// [`DeletePrefixAnswer`] out.
pub const DELETE_PREFIX_PATH: &str = "/delete-prefix";

/// The query parameters of `GET {base}/states` (a listing).
pub const PREFIX_PARAMETER: &str = "prefix";
/// See [`PREFIX_PARAMETER`].
pub const CURSOR_PARAMETER: &str = "cursor";
/// See [`PREFIX_PARAMETER`].
pub const LIMIT_PARAMETER: &str = "limit";

/// The page size of a listing that names no `limit`. The most is
/// [`MAX_BATCH_LEN`].
pub const DEFAULT_LIST_LIMIT: usize = 100;

/// The most keys one `POST {base}/delete-prefix` request removes; the client
/// sends the next step with the cursor it got back. One step is one listing
/// page and one batch delete, well inside a request timeout.
pub const DELETE_PREFIX_STEP: usize = MAX_BATCH_LEN;

/// The most bytes of a touch body (`{"ttl":"…"}`).
pub const TOUCH_BODY_LIMIT: usize = 4096;

/// One listed key on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireItem {
    /// The key.
    pub key: String,
    /// Its entry version, `null` from a store without entry versions.
    pub version: Option<String>,
    /// RFC 3339 UTC with milliseconds, `null` when it does not expire.
    pub expires_at: Option<String>,
    /// The bytes the server's store holds for it.
    pub size: u64,
}

/// The answer of `GET {base}/states?prefix=&cursor=&limit=`.
#[derive(Debug, Serialize, Deserialize)]
pub struct WirePage {
    /// The page's keys.
    pub items: Vec<WireItem>,
    /// The cursor of the next page, `null` after the last.
    pub next: Option<String>,
    /// Whether the server's store lists every key exactly once, in key order
    /// (its `list_ordered` capability).
    pub ordered: bool,
}

impl WirePage {
    /// `page` on the wire.
    pub fn from_page(page: ListPage, ordered: bool) -> WirePage {
        WirePage {
            items: page
                .items
                .into_iter()
                .map(|item| WireItem {
                    key: item.key.as_str().to_owned(),
                    version: item.version.map(|version| version.as_str().to_owned()),
                    expires_at: item.expires_at.map(format_expires_at),
                    size: item.stored_size,
                })
                .collect(),
            next: page.next.map(|next| next.as_str().to_owned()),
            ordered,
        }
    }

    /// The page again; `Backend` for an item the server should never send.
    pub fn into_page(self) -> Result<ListPage> {
        let bad = |what: &str| Error::backend(format!("the server listed {what}"));
        let mut items = Vec::with_capacity(self.items.len());
        for item in self.items {
            let key = Key::new(item.key).map_err(|_| bad("an invalid key"))?;
            let version = match item.version {
                Some(text) => Some(Version::new(text).map_err(|_| bad("an invalid version"))?),
                None => None,
            };
            let expires_at: Option<SystemTime> = match item.expires_at {
                Some(text) => Some(parse_expires_at(&text).ok_or_else(|| bad("a bad expiry"))?),
                None => None,
            };
            items.push(ListItem::new(key, version, expires_at, item.size));
        }
        let next = match self.next {
            Some(text) => Some(Cursor::new(text).map_err(|_| bad("an invalid cursor"))?),
            None => None,
        };
        Ok(ListPage::new(items, next))
    }
}

/// The body of `POST {base}/batch/get` and `/batch/delete`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysBody {
    /// The keys, at most [`MAX_BATCH_LEN`].
    pub keys: Vec<String>,
}

/// The answer of `POST {base}/batch/get`: one entry per requested key, in
/// request order, `null` where absent.
#[derive(Debug, Serialize, Deserialize)]
pub struct ValuesBody {
    /// The values.
    pub values: Vec<Option<EncodedValue>>,
}

/// One write of `POST {base}/batch/set`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetEntry {
    /// The key.
    pub key: String,
    /// The value and its encoding.
    #[serde(flatten)]
    pub value: EncodedValue,
    /// Its TTL (`30s`, the `ttl` parameter's grammar), `null` or absent for
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// The body of `POST {base}/batch/set`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBody {
    /// The writes, at most [`MAX_BATCH_LEN`], applied in order.
    pub items: Vec<SetEntry>,
}

/// The body of `POST {base}/delete-prefix`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletePrefixBody {
    /// The literal prefix. Empty only with [`all`](Self::all).
    pub prefix: String,
    /// Must be `true` for the empty prefix (every key of the namespace), and
    /// only then: no prefix can be left out by mistake and clear everything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Where the previous step stopped (its answer's `next`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl DeletePrefixBody {
    /// The prefix, checked: `InvalidArgument` for an empty one without
    /// `"all": true`, or `"all": true` with a non-empty one.
    pub fn checked_prefix(&self) -> Result<Prefix> {
        match (self.prefix.is_empty(), self.all) {
            (true, false) => Err(Error::invalid_argument(
                "an empty prefix deletes every key: say so with \"all\": true",
            )),
            (false, true) => Err(Error::invalid_argument(
                "\"all\": true is for the empty prefix only",
            )),
            _ => Prefix::new(self.prefix.as_str()),
        }
    }
}

/// The answer of one `POST {base}/delete-prefix` step.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeletePrefixAnswer {
    /// The keys this step removed.
    pub deleted: u64,
    /// The cursor of the next step, `null` when none is left.
    pub next: Option<String>,
}

/// The body of `PATCH {base}/states/{key}` (touch).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TouchBody {
    /// The new TTL (`30s`), or `null`: the entry no longer expires. Required,
    /// so that an empty body never removes a TTL by accident (`deserialize_with`
    /// makes serde refuse a missing field where an `Option` would default).
    #[serde(deserialize_with = "Option::deserialize")]
    pub ttl: Option<String>,
}

/// `text` as a TTL of a JSON body, `InvalidArgument` when it is not one.
pub fn parse_ttl(text: Option<&str>) -> Result<Option<Ttl>> {
    text.map(str::parse::<Ttl>).transpose()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn pages_round_trip() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_780_000_000_123);
        let page = ListPage::new(
            vec![
                ListItem::new(
                    Key::new("a b").unwrap(),
                    Some(Version::new("v1").unwrap()),
                    Some(at),
                    3,
                ),
                ListItem::new(Key::new("c").unwrap(), None, None, 0),
            ],
            Some(Cursor::new("m.6162").unwrap()),
        );
        let json = serde_json::to_string(&WirePage::from_page(page.clone(), true)).unwrap();
        assert!(
            json.contains(r#""expires_at":"2026-05-28T20:26:40.123Z""#),
            "{json}"
        );
        let back: WirePage = serde_json::from_str(&json).unwrap();
        assert!(back.ordered);
        assert_eq!(back.into_page().unwrap(), page);
    }

    #[test]
    fn an_empty_prefix_must_say_all() {
        let body = |prefix: &str, all| DeletePrefixBody {
            prefix: prefix.into(),
            all,
            cursor: None,
        };
        assert!(body("", false).checked_prefix().is_err());
        assert!(body("a", true).checked_prefix().is_err());
        assert!(body("", true).checked_prefix().unwrap().is_empty());
        assert_eq!(body("a*", false).checked_prefix().unwrap().as_str(), "a*");
        let parsed: std::result::Result<DeletePrefixBody, _> = serde_json::from_str("{}");
        assert!(parsed.is_err(), "the prefix is required");
        let parsed: std::result::Result<TouchBody, _> = serde_json::from_str("{}");
        assert!(parsed.is_err(), "the ttl is required (null removes it)");
    }

    #[test]
    fn set_entries_flatten_the_value() {
        let json = r#"{"items":[{"key":"k","value":"AP8=","encoding":"base64","ttl":"30s"}]}"#;
        let body: SetBody = serde_json::from_str(json).unwrap();
        let entry = body.items.into_iter().next().unwrap();
        assert_eq!(entry.ttl.as_deref(), Some("30s"));
        assert_eq!(entry.value.decode().unwrap(), vec![0, 0xff]);
        assert!(serde_json::from_str::<SetBody>(r#"{"items":[],"x":1}"#).is_err());
    }
}
