//! String and JSON helpers, so backends implement only the byte primitives.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::key::Key;
use crate::list_stream::ListStream;
use crate::listing::{Cursor, Prefix};
use crate::store::Store;
use crate::ttl::Ttl;
use crate::version::{Condition, Version};

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

    /// Stores `value` under `key` only if the key is absent (or expired), and
    /// returns the entry version written. A present key is `Conflict`.
    async fn set_if_absent(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<Version> {
        let version = Version::generate();
        self.set_if(key, value, ttl, &Condition::Absent, &version)
            .await?;
        Ok(version)
    }

    /// Stores `value` under `key` only if the key's entry version is `expected`,
    /// and returns the new entry version. Otherwise `Conflict`, with the current
    /// version in [`Error::current_version`] when the store knows it.
    ///
    /// ```
    /// use flowstore_core::{ErrorKind, Key, Store, StoreExt};
    /// # async fn demo(store: &dyn Store) -> flowstore_core::Result<()> {
    /// let key = Key::new("checkout:42")?;
    /// // Read, change, write back, and start again if another writer came first.
    /// loop {
    ///     let Some(entry) = store.get_entry(&key).await? else { break };
    ///     let step: u32 = String::from_utf8_lossy(&entry.value).parse().unwrap_or(0);
    ///     let next = (step + 1).to_string();
    ///     match store.set_if_version(&key, next.as_bytes(), None, &entry.version).await {
    ///         Ok(_new_version) => break,
    ///         Err(err) if err.kind() == ErrorKind::Conflict => continue,
    ///         Err(err) => return Err(err),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    async fn set_if_version(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        expected: &Version,
    ) -> Result<Version> {
        let version = Version::generate();
        let condition = Condition::Matches(expected.clone());
        self.set_if(key, value, ttl, &condition, &version).await?;
        Ok(version)
    }

    /// Stores `value` under `key` whatever it holds, like [`Store::set`], and
    /// returns the entry version written.
    async fn set_versioned(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<Version> {
        let version = Version::generate();
        self.set_if(key, value, ttl, &Condition::Always, &version)
            .await?;
        Ok(version)
    }

    /// Every key that starts with `prefix`, as a stream of items fetched
    /// `page_size` at a time (1 to [`MAX_BATCH_LEN`](crate::listing::MAX_BATCH_LEN)),
    /// starting at `cursor` (a page's [`next`](crate::ListPage::next), from any
    /// process) or from the start.
    ///
    /// ```
    /// use flowstore_core::{Prefix, StoreExt};
    /// use futures_core::Stream;
    /// # use flowstore_core::Store;
    /// # async fn demo(store: &dyn Store) -> flowstore_core::Result<()> {
    /// let mut items = std::pin::pin!(store.list_stream(Prefix::new("checkout/")?, None, 100));
    /// while let Some(item) = std::future::poll_fn(|cx| items.as_mut().poll_next(cx)).await {
    ///     println!("{}", item?.key);
    /// }
    /// # Ok(()) }
    /// ```
    fn list_stream(
        &self,
        prefix: Prefix,
        cursor: Option<Cursor>,
        page_size: usize,
    ) -> ListStream<'_, Self> {
        ListStream::new(self, prefix, cursor, page_size)
    }

    /// Removes `key` only if its entry version is `expected`; an absent key, or
    /// one at another version, is `Conflict`.
    async fn delete_if_version(&self, key: &Key, expected: &Version) -> Result<()> {
        self.delete_if(key, expected).await
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
