//! Namespaces: how stores sharing one database or server keep apart.

use std::fmt;

use crate::error::{Error, Result};

/// A validated namespace: 1 to [`Namespace::MAX_LEN`] bytes of UTF-8 without NUL.
///
/// Two stores with different namespaces on the same backend never see or clear
/// each other's keys, even when one namespace is a prefix of the other or
/// contains glob or SQL `LIKE` characters. A backend may refuse namespaces that
/// contain its own separator with a [`Config`](crate::ErrorKind::Config) error.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(Box<str>);

impl Namespace {
    /// The namespace used when none is given.
    pub const DEFAULT: &'static str = "flow";

    /// The longest namespace, in bytes.
    pub const MAX_LEN: usize = 256;

    /// Checks `namespace` against the namespace rules; a bad one is a `Config` error.
    pub fn new(namespace: impl Into<String>) -> Result<Namespace> {
        let namespace = namespace.into();
        if namespace.is_empty() {
            return Err(Error::config("namespace is empty"));
        }
        if namespace.len() > Namespace::MAX_LEN {
            return Err(Error::config(format!(
                "namespace is {} bytes long, the limit is {}",
                namespace.len(),
                Namespace::MAX_LEN
            )));
        }
        if namespace.contains('\0') {
            return Err(Error::config("namespace contains a NUL character"));
        }
        Ok(Namespace(namespace.into_boxed_str()))
    }

    /// The namespace as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Namespace(Namespace::DEFAULT.into())
    }
}

impl TryFrom<&str> for Namespace {
    type Error = Error;

    fn try_from(namespace: &str) -> Result<Namespace> {
        Namespace::new(namespace)
    }
}

impl TryFrom<String> for Namespace {
    type Error = Error;

    fn try_from(namespace: String) -> Result<Namespace> {
        Namespace::new(namespace)
    }
}

impl AsRef<str> for Namespace {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn rules_refuse_empty_overlong_and_nul_as_config_errors() {
        for bad in [
            String::new(),
            "n".repeat(Namespace::MAX_LEN + 1),
            "a\0b".into(),
        ] {
            let err = Namespace::new(bad.clone()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad:?}");
        }
        // The limit counts bytes: 64 four-byte characters are exactly 256.
        assert!(Namespace::new("😀".repeat(64)).is_ok());
        assert!(Namespace::new(format!("{}n", "😀".repeat(64))).is_err());
    }

    #[test]
    fn conversions_check_the_rules_and_keep_the_text() {
        let from_str = Namespace::try_from("tenant-a").unwrap();
        let from_string = Namespace::try_from(String::from("tenant-a")).unwrap();
        assert_eq!(from_str, from_string);
        assert_eq!(from_string.as_str(), "tenant-a");
        assert!(Namespace::try_from("").is_err());
        assert!(Namespace::try_from(String::new()).is_err());
    }

    #[test]
    fn text_views_are_the_namespace_itself() {
        let namespace = Namespace::new("a\"b").unwrap();
        assert_eq!(AsRef::<str>::as_ref(&namespace), "a\"b");
        assert_eq!(namespace.to_string(), "a\"b");
        assert_eq!(format!("{namespace:?}"), r#"Namespace("a\"b")"#);
        assert_eq!(Namespace::default().as_str(), "flow");
    }
}
