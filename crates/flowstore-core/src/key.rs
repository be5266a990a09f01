//! The key rules of the contract, checked in this one place.
//!
//! A [`Key`] can only be built through [`Key::new`] (or `TryFrom`), so a store that
//! receives a `&Key` knows it is valid UTF-8, 1 to 1024 bytes long and free of NUL.
//! Everything else — `/`, `.`, `..`, `%`, glob and SQL metacharacters, quotes,
//! whitespace, newlines, emoji — is allowed and must round-trip exactly.

use std::borrow::Borrow;
use std::fmt;

use crate::error::{Error, Result};

/// A validated key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Box<str>);

impl Key {
    /// The longest key, in bytes of UTF-8.
    pub const MAX_LEN: usize = 1024;

    /// Checks `key` against the key rules.
    ///
    /// ```
    /// use flowstore_core::{ErrorKind, Key};
    ///
    /// assert!(Key::new("checkout/step:2").is_ok());
    /// assert_eq!(Key::new("").unwrap_err().kind(), ErrorKind::InvalidKey);
    /// assert_eq!(Key::new("a\0b").unwrap_err().kind(), ErrorKind::InvalidKey);
    /// ```
    pub fn new(key: impl Into<String>) -> Result<Key> {
        let key = key.into();
        check(&key)?;
        Ok(Key(key.into_boxed_str()))
    }

    /// Checks raw bytes (from a CLI argument, a URL path, a browser API) against
    /// the key rules, including that they are UTF-8.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key> {
        let key =
            std::str::from_utf8(bytes).map_err(|_| Error::invalid_key("key is not valid UTF-8"))?;
        Key::new(key)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: keys are never empty. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn check(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid_key("key is empty"));
    }
    if key.len() > Key::MAX_LEN {
        return Err(Error::invalid_key(format!(
            "key is {} bytes long, the limit is {}",
            key.len(),
            Key::MAX_LEN
        )));
    }
    if key.contains('\0') {
        return Err(Error::invalid_key("key contains a NUL character"));
    }
    Ok(())
}

impl TryFrom<&str> for Key {
    type Error = Error;

    fn try_from(key: &str) -> Result<Key> {
        Key::new(key)
    }
}

impl TryFrom<String> for Key {
    type Error = Error;

    fn try_from(key: String) -> Result<Key> {
        Key::new(key)
    }
}

impl TryFrom<&String> for Key {
    type Error = Error;

    fn try_from(key: &String) -> Result<Key> {
        Key::new(key.as_str())
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::ErrorKind;

    #[test]
    fn length_is_in_bytes_and_never_empty() {
        let key = Key::new("é/k").unwrap();
        assert_eq!(key.len(), 4);
        assert!(!key.is_empty());
    }

    #[test]
    fn text_views_are_the_key_itself() {
        let key = Key::new("user:42/step").unwrap();
        assert_eq!(AsRef::<str>::as_ref(&key), "user:42/step");
        assert_eq!(key.to_string(), "user:42/step");
        // `Borrow<str>` lets a map keyed by `Key` be searched with a `&str`.
        let map = HashMap::from([(key.clone(), 1)]);
        assert_eq!(map.get("user:42/step"), Some(&1));
        assert_eq!(map.get("user:43/step"), None);
    }

    #[test]
    fn debug_quotes_and_escapes_the_key() {
        let key = Key::new("a\"b\n").unwrap();
        assert_eq!(format!("{key:?}"), r#"Key("a\"b\n")"#);
    }

    #[test]
    fn length_limit_counts_bytes() {
        assert!(Key::new("k".repeat(1024)).is_ok());
        assert_eq!(
            Key::new("k".repeat(1025)).unwrap_err().kind(),
            ErrorKind::InvalidKey
        );
        // 256 four-byte characters are exactly 1024 bytes.
        assert!(Key::new("😀".repeat(256)).is_ok());
        assert!(Key::new(format!("{}k", "😀".repeat(256))).is_err());
    }

    #[test]
    fn invalid_utf8_is_an_invalid_key() {
        let err = Key::from_bytes(&[0x66, 0xff]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
    }

    #[test]
    fn odd_but_legal_keys_are_kept_verbatim() {
        for raw in [
            "..",
            "/",
            "a b",
            "%2e%2e",
            "*?[",
            "line\nbreak",
            " trailing ",
        ] {
            assert_eq!(Key::new(raw).unwrap().as_str(), raw);
        }
    }
}
