//! Stacking the wrapper crates around the store(s) a URL names.

use std::fmt;
use std::sync::Arc;

use flowstore_core::{Error, Result, Store};

use crate::open::{OpenOptions, open_with};

/// Which wrappers [`open_stack`] puts around the store, in the recommended order
/// (see `docs/architecture.md`):
///
/// ```text
/// application → metrics → retry → fallback → compress → encrypt → backend(s)
/// ```
///
/// - **metrics** (feature `metrics`) outermost: one event per application call,
///   retries and fallbacks included, reported to the `metrics` facade;
/// - **retry** (feature `retry`): retries what is temporary after the fallback
///   gave up on every store;
/// - **fallback** (feature `fallback`): the URL's store first, then each
///   `fallback` URL, opened with the same [`OpenOptions`];
///   only when at least one fallback URL is given;
/// - **compress** (feature `compress`) above **encrypt** (feature `encrypt`):
///   ciphertext does not compress. Both wrap *each* store of the fallback
///   separately (with the same keyring), so every byte that leaves the
///   process is encrypted whatever store it lands in.
///
/// Each setter exists only when its wrapper's feature is on. Nothing set: the
/// store of the URL, unwrapped (what [`open_with`] returns).
///
/// Every wrapper that adds bytes changes what is stored: a store written through
/// an encrypt, compress or fallback wrapper must be read through the same one
/// (each crate documents its opt-in for reading values written without it).
///
/// ```
/// # #[cfg(all(feature = "memory", feature = "encrypt", feature = "compress", feature = "retry"))]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> flowstore::Result<()> {
/// use flowstore::encrypt::{EncryptionKey, Keyring};
/// use flowstore::retry::RetryPolicy;
/// use flowstore::{Key, OpenOptions, StackOptions};
///
/// let stack = StackOptions::new()
///     .encrypt(Keyring::new(1, EncryptionKey::generate()?))
///     .compress(true)
///     .retry(RetryPolicy::new().max_attempts(3));
/// let store = flowstore::open_stack("memory://", &OpenOptions::new(), &stack).await?;
/// let key = Key::new("signup:42")?;
/// store.set(&key, br#"{"step":2}"#, None).await?;
/// assert_eq!(store.get(&key).await?, Some(br#"{"step":2}"#.to_vec()));
/// # Ok(())
/// # }
/// # #[cfg(not(all(feature = "memory", feature = "encrypt", feature = "compress", feature = "retry")))]
/// # fn main() {}
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct StackOptions {
    #[cfg(feature = "metrics")]
    metrics: bool,
    #[cfg(feature = "retry")]
    retry: Option<flowstore_retry::RetryPolicy>,
    #[cfg(feature = "fallback")]
    fallback: Vec<String>,
    #[cfg(feature = "compress")]
    compress: bool,
    #[cfg(feature = "encrypt")]
    encrypt: Option<flowstore_encrypt::Keyring>,
}

impl StackOptions {
    /// No wrappers.
    pub fn new() -> Self {
        StackOptions::default()
    }

    /// Report every operation to the `metrics` facade (outermost layer).
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Retry temporary errors with `policy`.
    #[cfg(feature = "retry")]
    pub fn retry(mut self, policy: flowstore_retry::RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Adds a fallback store, after the URL's store and the fallbacks added
    /// before. Its URL is never printed (it may hold a password).
    #[cfg(feature = "fallback")]
    pub fn fallback(mut self, url: impl Into<String>) -> Self {
        self.fallback.push(url.into());
        self
    }

    /// Compress values with lz4 (above the encryption, if any).
    #[cfg(feature = "compress")]
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// Encrypt values with AES-256-GCM under `keyring` (right above each store).
    #[cfg(feature = "encrypt")]
    pub fn encrypt(mut self, keyring: flowstore_encrypt::Keyring) -> Self {
        self.encrypt = Some(keyring);
        self
    }

    /// The fallback URLs, in order (empty without feature `fallback`).
    fn fallback_urls(&self) -> &[String] {
        #[cfg(feature = "fallback")]
        return &self.fallback;
        #[cfg(not(feature = "fallback"))]
        return &[];
    }

    /// Builds the stack over stores already opened: `stores[0]` is the primary,
    /// any others are its fallbacks, in order (the URLs given to
    /// `fallback` are not used here). A `Config` error when
    /// `stores` is empty, or holds several stores without feature `fallback`.
    pub fn wrap(&self, stores: Vec<Arc<dyn Store>>) -> Result<Arc<dyn Store>> {
        let mut stores: Vec<Arc<dyn Store>> = stores
            .into_iter()
            .map(|store| self.wrap_one(store))
            .collect();
        let store = match stores.len() {
            0 => return Err(Error::config("a store stack needs at least one store")),
            1 => stores.remove(0),
            _ => self.fallback_over(stores)?,
        };
        #[cfg(feature = "retry")]
        let store: Arc<dyn Store> = match &self.retry {
            Some(policy) => Arc::new(flowstore_retry::RetryStore::with_policy(
                store,
                policy.clone(),
            )),
            None => store,
        };
        #[cfg(feature = "metrics")]
        let store: Arc<dyn Store> = if self.metrics {
            Arc::new(flowstore_metrics::MetricsStore::new(store))
        } else {
            store
        };
        Ok(store)
    }

    /// compress → encrypt → `store`.
    fn wrap_one(&self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        #[cfg(feature = "encrypt")]
        let store: Arc<dyn Store> = match &self.encrypt {
            Some(keyring) => Arc::new(flowstore_encrypt::EncryptedStore::new(
                store,
                keyring.clone(),
            )),
            None => store,
        };
        #[cfg(feature = "compress")]
        let store: Arc<dyn Store> = if self.compress {
            Arc::new(flowstore_compress::CompressedStore::new(store))
        } else {
            store
        };
        store
    }

    #[cfg(feature = "fallback")]
    fn fallback_over(&self, stores: Vec<Arc<dyn Store>>) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(flowstore_fallback::FallbackStore::new(stores)?))
    }

    #[cfg(not(feature = "fallback"))]
    fn fallback_over(&self, _stores: Vec<Arc<dyn Store>>) -> Result<Arc<dyn Store>> {
        Err(Error::config(
            "several stores need the fallback wrapper (cargo feature `fallback` of flowstore)",
        ))
    }
}

impl fmt::Debug for StackOptions {
    /// Shows which wrappers are on; never key material, never a URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("StackOptions");
        #[cfg(feature = "metrics")]
        debug.field("metrics", &self.metrics);
        #[cfg(feature = "retry")]
        debug.field("retry", &self.retry);
        #[cfg(feature = "fallback")]
        debug.field("fallback_stores", &self.fallback.len());
        #[cfg(feature = "compress")]
        debug.field("compress", &self.compress);
        #[cfg(feature = "encrypt")]
        debug.field("encrypt", &self.encrypt);
        debug.finish()
    }
}

/// Opens the store `url` names and each of `stack`'s fallback URLs (all with
/// `options`), and stacks `stack`'s wrappers around them (see [`StackOptions`]
/// for the order). With no wrapper set, the same as [`open_with`].
///
/// A store that cannot be *opened* (bad URL, unreachable database at open time)
/// is an error even when it has fallbacks: the fallback wrapper takes over for
/// failures of operations, not of configuration.
pub async fn open_stack(
    url: &str,
    options: &OpenOptions,
    stack: &StackOptions,
) -> Result<Arc<dyn Store>> {
    let mut stores = vec![open_with(url, options).await?];
    for (index, fallback) in stack.fallback_urls().iter().enumerate() {
        let store = open_with(fallback, options).await.map_err(|err| {
            Error::new(
                err.kind(),
                format!("cannot open fallback store {}", index + 1),
            )
            .with_source(err)
        })?;
        stores.push(store);
    }
    stack.wrap(stores)
}
