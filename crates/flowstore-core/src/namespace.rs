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
