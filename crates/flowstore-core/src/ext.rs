//! String and JSON helpers, so backends implement only the byte primitives.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::key::Key;
use crate::store::Store;
use crate::ttl::Ttl;

/// Text and JSON on top of any [`Store`]. Implemented for every store.
///
/// ```
/// use flowstore_core::{Key, StoreExt};
/// # use flowstore_core::Store;
/// # async fn demo(store: &dyn Store) -> flowstore_core::Result<()> {
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Checkout { step: u32 }
///
/// let key = Key::new("checkout:42")?;
/// store.set_json(&key, &Checkout { step: 2 }, None).await?;
/// let saved: Option<Checkout> = store.get_json(&key).await?;
/// # Ok(()) }
/// ```
#[crate::async_trait]
pub trait StoreExt: Store {
    /// The value under `key` as UTF-8 text. Stored bytes that are not UTF-8 are
    /// `Corrupt` (never `None`).
    async fn get_string(&self, key: &Key) -> Result<Option<String>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|err| Error::corrupt("stored value is not valid UTF-8").with_source(err)),
        }
    }

    /// Stores `value` as UTF-8 bytes.
    async fn set_string(&self, key: &Key, value: &str, ttl: Option<Ttl>) -> Result<()> {
        self.set(key, value.as_bytes(), ttl).await
    }

    /// The value under `key` parsed as JSON into `T`. A value that does not parse
    /// as `T` is `Corrupt` (never `None`).
    async fn get_json<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            // serde's message quotes the offending data, which may be a secret:
            // keep only where and what kind of problem it was.
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|err| {
                Error::corrupt(format!(
                    "stored value is not valid JSON for the requested type ({:?} error at line {}, column {})",
                    err.classify(),
                    err.line(),
                    err.column()
                ))
            }),
        }
    }

    /// Stores `value` serialised as JSON. A value that cannot be serialised is
    /// `InvalidArgument`, and nothing is written.
    async fn set_json<T: Serialize + ?Sized + crate::store::MaybeSync>(
        &self,
        key: &Key,
        value: &T,
        ttl: Option<Ttl>,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|err| {
            Error::invalid_argument("value cannot be serialised as JSON").with_source(err)
        })?;
        self.set(key, &bytes, ttl).await
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
