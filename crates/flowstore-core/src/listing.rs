//! Listing a namespace's keys by prefix, and the batch operations (SPEC §9).
//!
//! A listing comes in pages. Each page ends with an opaque [`Cursor`] that any
//! process can hand back (to a fresh store object, to another replica) to
//! resume where it stopped; a page without one is the last. The
//! [`StoreExt::list_stream`](crate::StoreExt::list_stream) helper turns the
//! pages into a stream of [`ListItem`]s.

use std::fmt;
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::key::Key;
use crate::namespace::Namespace;
use crate::ttl::Ttl;
use crate::version::Version;

/// The most keys one batch call ([`get_many`](crate::Store::get_many),
/// [`set_many`](crate::Store::set_many), [`delete_many`](crate::Store::delete_many))
/// takes, and the most items one listing page holds. A longer batch is
/// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) and does nothing: it
/// keeps one call inside a backend's statement and request limits.
pub const MAX_BATCH_LEN: usize = 1000;

/// The start of the keys to list: literal text (no glob or `LIKE` meaning; `*`,
/// `%`, `_` and `\` match only themselves). Empty lists every key. Follows the
/// key rules except that it may be empty.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix(Box<str>);

impl Prefix {
    /// Checks `prefix`: at most [`Key::MAX_LEN`] bytes, no NUL.
    ///
    /// ```
    /// use flowstore_core::listing::Prefix;
    ///
    /// assert!(Prefix::new("checkout/").is_ok());
    /// assert!(Prefix::new("").unwrap().is_empty());
    /// assert!(Prefix::new("a\0").is_err());
    /// ```
    pub fn new(prefix: impl Into<String>) -> Result<Prefix> {
        let prefix = prefix.into();
        if prefix.is_empty() {
            return Ok(Prefix::default());
        }
        // A non-empty prefix is exactly a key as far as the rules go.
        Key::new(prefix.as_str())?;
        Ok(Prefix(prefix.into_boxed_str()))
    }

    /// The prefix every key starts with.
    pub fn all() -> Prefix {
        Prefix::default()
    }

    /// The prefix as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this prefix lists every key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `key` starts with this prefix.
    pub fn matches(&self, key: &str) -> bool {
        key.starts_with(&*self.0)
    }

    /// The smallest string greater than every string that starts with this
    /// prefix, for a range scan `prefix <= key < upper` in byte order; `None`
    /// when no such bound exists (the empty prefix, or one made of U+10FFFF
    /// alone), so the range is unbounded above.
    ///
    /// ```
    /// use flowstore_core::listing::Prefix;
    ///
    /// assert_eq!(Prefix::new("ab").unwrap().upper_bound().as_deref(), Some("ac"));
    /// assert_eq!(Prefix::all().upper_bound(), None);
    /// ```
    pub fn upper_bound(&self) -> Option<String> {
        let mut chars: Vec<char> = self.0.chars().collect();
        while let Some(last) = chars.pop() {
            // The next scalar value; surrogates are not chars, so skip them.
            let next = match last as u32 {
                0xD7FF => Some('\u{E000}'),
                code => char::from_u32(code + 1),
            };
            if let Some(next) = next {
                chars.push(next);
                return Some(chars.into_iter().collect());
            }
        }
        None
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prefix({:?})", &*self.0)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Key> for Prefix {
    fn from(key: Key) -> Prefix {
        Prefix(key.as_str().into())
    }
}

/// Where a listing resumes: opaque text a store hands out with a page and reads
/// back, in this process or another. Only `[A-Za-z0-9._~-]`, at most
/// [`Cursor::MAX_LEN`] characters, so it travels in a URL query unescaped.
///
/// A store must reject a cursor it did not make with
/// [`InvalidArgument`](crate::ErrorKind::InvalidArgument), never answer it with
/// an empty page.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cursor(Box<str>);

impl Cursor {
    /// The longest cursor.
    pub const MAX_LEN: usize = 4096;

    /// Checks `text` against the cursor alphabet.
    pub fn new(text: impl Into<String>) -> Result<Cursor> {
        let text = text.into();
        let valid = !text.is_empty()
            && text.len() <= Cursor::MAX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
        if !valid {
            return Err(Error::invalid_argument(
                "a listing cursor is 1 to 4096 characters of [A-Za-z0-9._~-], as a store handed it out",
            ));
        }
        Ok(Cursor(text.into_boxed_str()))
    }

    /// A cursor that carries `bytes` (a store's position: a key, a scan
    /// cursor), hex-encoded after the store's `tag`, so that a store can tell
    /// its own cursors from another kind's.
    pub fn encode(tag: &str, bytes: &[u8]) -> Result<Cursor> {
        let mut text = String::with_capacity(tag.len() + 1 + bytes.len() * 2);
        text.push_str(tag);
        text.push('.');
        for byte in bytes {
            text.push_str(&format!("{byte:02x}"));
        }
        Cursor::new(text)
    }

    /// The bytes [`encode`](Cursor::encode) put in with `tag`;
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) for a cursor of
    /// another tag or not hex.
    pub fn decode(&self, tag: &str) -> Result<Vec<u8>> {
        let invalid = || Error::invalid_argument("this listing cursor was not made by this store");
        let hex = self
            .0
            .strip_prefix(tag)
            .and_then(|rest| rest.strip_prefix('.'))
            .ok_or_else(invalid)?;
        if hex.len() % 2 != 0 {
            return Err(invalid());
        }
        (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).map_err(|_| invalid()))
            .collect()
    }

    /// A cursor at `position` in the listing of `prefix` in `namespace`: like
    /// [`encode`](Cursor::encode), with a fingerprint of the listing in front,
    /// so that [`position_in`](Cursor::position_in) refuses a cursor of
    /// another namespace or prefix instead of resuming somewhere meaningless.
    pub fn for_listing(
        tag: &str,
        namespace: &Namespace,
        prefix: &Prefix,
        position: &[u8],
    ) -> Result<Cursor> {
        let mut bytes = listing_fingerprint(namespace, prefix)
            .to_be_bytes()
            .to_vec();
        bytes.extend_from_slice(position);
        Cursor::encode(tag, &bytes)
    }

    /// The position [`for_listing`](Cursor::for_listing) put in, if this cursor
    /// was made with `tag` for the listing of `prefix` in `namespace`;
    /// otherwise [`InvalidArgument`](crate::ErrorKind::InvalidArgument).
    pub fn position_in(
        &self,
        tag: &str,
        namespace: &Namespace,
        prefix: &Prefix,
    ) -> Result<Vec<u8>> {
        let bytes = self.decode(tag)?;
        match bytes.split_at_checked(8) {
            Some((fingerprint, position))
                if fingerprint == listing_fingerprint(namespace, prefix).to_be_bytes() =>
            {
                Ok(position.to_vec())
            }
            _ => Err(Error::invalid_argument(
                "this listing cursor belongs to another store, namespace or prefix",
            )),
        }
    }

    /// The cursor as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// FNV-1a of the namespace and prefix: what a cursor made by
/// [`Cursor::for_listing`] belongs to. Not a secret, a guard against mix-ups.
fn listing_fingerprint(namespace: &Namespace, prefix: &Prefix) -> u64 {
    let bytes = namespace
        .as_str()
        .bytes()
        .chain([0])
        .chain(prefix.as_str().bytes());
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({:?})", &*self.0)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One listed key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListItem {
    /// The key.
    pub key: Key,
    /// Its entry version, `None` from a store without the
    /// [`versions`](crate::Capabilities::versions) capability.
    pub version: Option<Version>,
    /// When it expires, or `None` if it does not.
    pub expires_at: Option<SystemTime>,
    /// The bytes the backend holds for the value. Behind a wrapper that
    /// rewrites values (encryption, compression) this is the stored form's
    /// size, not the value's; a backend that stores a header with the value
    /// (Redis) counts it.
    pub stored_size: u64,
}

impl ListItem {
    /// An item for `key`.
    pub fn new(
        key: Key,
        version: Option<Version>,
        expires_at: Option<SystemTime>,
        stored_size: u64,
    ) -> ListItem {
        ListItem {
            key,
            version,
            expires_at,
            stored_size,
        }
    }
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListPage {
    /// The keys of this page (possibly none, even when more follow).
    pub items: Vec<ListItem>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
}

impl ListPage {
    /// A page of `items`, followed by `next`.
    pub fn new(items: Vec<ListItem>, next: Option<Cursor>) -> ListPage {
        ListPage { items, next }
    }
}

/// One write of a [`set_many`](crate::Store::set_many) batch.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SetItem<'a> {
    /// The key.
    pub key: &'a Key,
    /// The value.
    pub value: &'a [u8],
    /// Its TTL, as for [`set`](crate::Store::set).
    pub ttl: Option<Ttl>,
}

impl<'a> SetItem<'a> {
    /// A write of `value` under `key`, expiring after `ttl`.
    pub fn new(key: &'a Key, value: &'a [u8], ttl: Option<Ttl>) -> SetItem<'a> {
        SetItem { key, value, ttl }
    }
}

/// `InvalidArgument` for a batch of more than [`MAX_BATCH_LEN`] keys. Stores
/// call it before doing anything; the provided batch methods do.
pub fn check_batch_len(len: usize) -> Result<()> {
    if len > MAX_BATCH_LEN {
        return Err(Error::invalid_argument(format!(
            "a batch holds at most {MAX_BATCH_LEN} keys, this one has {len}"
        )));
    }
    Ok(())
}

/// `InvalidArgument` for a page-size limit of zero or over [`MAX_BATCH_LEN`].
pub fn check_list_limit(limit: usize) -> Result<()> {
    if limit == 0 || limit > MAX_BATCH_LEN {
        return Err(Error::invalid_argument(format!(
            "a listing page holds 1 to {MAX_BATCH_LEN} keys, not {limit}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn upper_bound_is_the_next_string_after_the_prefix_range() {
        let bound = |p: &str| Prefix::new(p).unwrap().upper_bound();
        assert_eq!(bound("a").as_deref(), Some("b"));
        assert_eq!(bound("a%").as_deref(), Some("a&"));
        assert_eq!(bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(bound("\u{10FFFF}"), None);
        assert_eq!(bound(""), None);
        // Every string that starts with the prefix sorts below the bound.
        let upper = bound("ab").unwrap();
        for key in ["ab", "ab\u{10FFFF}", "ab~~~"] {
            assert!(key < upper.as_str());
        }
        assert!("ac" >= upper.as_str());
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_text() {
        let cursor = Cursor::encode("sql", "k/é".as_bytes()).unwrap();
        assert_eq!(cursor.decode("sql").unwrap(), "k/é".as_bytes());
        assert_eq!(
            cursor.decode("redis").unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        let odd = Cursor::new("sql.abc").unwrap();
        assert_eq!(
            odd.decode("sql").unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert!(Cursor::new("has space").is_err());
        assert!(Cursor::new("").is_err());
    }

    #[test]
    fn listing_cursors_belong_to_their_listing() {
        let ns = Namespace::new("flow").unwrap();
        let other = Namespace::new("flow2").unwrap();
        let prefix = Prefix::new("a/").unwrap();
        let cursor = Cursor::for_listing("sql", &ns, &prefix, b"a/7").unwrap();
        assert_eq!(cursor.position_in("sql", &ns, &prefix).unwrap(), b"a/7");
        for (ns, prefix) in [(&other, &prefix), (&ns, &Prefix::all())] {
            let err = cursor.position_in("sql", ns, prefix).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        }
        let short = Cursor::encode("sql", b"abc").unwrap();
        assert!(short.position_in("sql", &ns, &prefix).is_err());
    }

    #[test]
    fn batch_and_page_limits() {
        assert!(check_batch_len(MAX_BATCH_LEN).is_ok());
        assert!(check_batch_len(MAX_BATCH_LEN + 1).is_err());
        assert!(check_list_limit(0).is_err());
        assert!(check_list_limit(1).is_ok());
    }
}
