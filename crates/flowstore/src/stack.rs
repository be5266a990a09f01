//! Stacking the wrapper crates around the store(s) a URL names.

use std::fmt;
use std::sync::Arc;

use std::collections::BTreeMap;

use flowstore_core::{Error, Layer, Result, Store, apply_layers};

use crate::open::{OpenOptions, open_with};

/// Which wrappers [`open_stack`] puts around the store, in the recommended order
/// (see `docs/architecture.md`):
///
/// ```text
/// application → metrics → retry → default TTL → fallback → compress → encrypt → backend(s)
/// ```
///
/// - **metrics** (feature `metrics`) outermost: one event per application call,
///   retries and fallbacks included, reported to the `metrics` facade;
/// - **retry** (feature `retry`): retries what is temporary after the fallback
///   gave up on every store;
/// - **default TTL** (feature `default-ttl`): the application's writes that carry
///   no TTL get the configured one;
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
    /// The wrappers that are on, each in its slot: the slot says where it goes.
    layers: BTreeMap<Slot, Arc<dyn Layer>>,
    #[cfg(feature = "fallback")]
    fallback: Vec<String>,
}

/// A wrapper's place in the stack. The variants' order is the recommended order,
/// innermost first (see `docs/architecture.md`); adding a wrapper to the facade is
/// a variant here, its [`placement`](Slot::placement) and a setter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    /// Right above each store: everything that leaves the process is sealed.
    #[cfg(feature = "encrypt")]
    Encrypt,
    /// Above encrypt: ciphertext does not compress.
    #[cfg(feature = "compress")]
    Compress,
    /// Above the fallback: application writes get the default, the fallback's own
    /// bookkeeping writes do not.
    #[cfg(feature = "default-ttl")]
    DefaultTtl,
    /// Above the fallback: retries what is temporary after every store failed.
    #[cfg(feature = "retry")]
    Retry,
    /// Outermost: one event per application call, retries included.
    #[cfg(feature = "metrics")]
    Metrics,
}

/// Where a slot's layer is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// Around each store of a fallback chain separately.
    EachStore,
    /// Once, around the fallback (or the one store).
    Outer,
}

impl Slot {
    fn placement(self) -> Placement {
        match self {
            #[cfg(feature = "encrypt")]
            Slot::Encrypt => Placement::EachStore,
            #[cfg(feature = "compress")]
            Slot::Compress => Placement::EachStore,
            #[cfg(feature = "default-ttl")]
            Slot::DefaultTtl => Placement::Outer,
            #[cfg(feature = "retry")]
            Slot::Retry => Placement::Outer,
            #[cfg(feature = "metrics")]
            Slot::Metrics => Placement::Outer,
        }
    }
}

impl StackOptions {
    /// No wrappers.
    pub fn new() -> Self {
        StackOptions::default()
    }

    /// Puts `layer` in `slot` (or takes the slot's layer out), replacing what was there.
    #[allow(dead_code)] // unused when no wrapper feature is on
    fn with(mut self, slot: Slot, layer: Option<Arc<dyn Layer>>) -> Self {
        match layer {
            Some(layer) => self.layers.insert(slot, layer),
            None => self.layers.remove(&slot),
        };
        self
    }

    /// Report every operation to the `metrics` facade (outermost layer).
    #[cfg(feature = "metrics")]
    pub fn metrics(self, on: bool) -> Self {
        let layer = on.then(|| Arc::new(flowstore_metrics::MetricsLayer::new()) as Arc<dyn Layer>);
        self.with(Slot::Metrics, layer)
    }

    /// Retry temporary errors with `policy`.
    #[cfg(feature = "retry")]
    pub fn retry(self, policy: flowstore_retry::RetryPolicy) -> Self {
        let layer = flowstore_retry::RetryLayer::new(policy);
        self.with(Slot::Retry, Some(Arc::new(layer)))
    }

    /// Give every write that carries no TTL this one (the application's
    /// writes, not the fallback's own).
    #[cfg(feature = "default-ttl")]
    pub fn default_ttl(self, ttl: flowstore_core::Ttl) -> Self {
        let layer = flowstore_default_ttl::DefaultTtlLayer::new(ttl);
        self.with(Slot::DefaultTtl, Some(Arc::new(layer)))
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
    pub fn compress(self, on: bool) -> Self {
        let layer =
            on.then(|| Arc::new(flowstore_compress::CompressLayer::new()) as Arc<dyn Layer>);
        self.with(Slot::Compress, layer)
    }

    /// Encrypt values with AES-256-GCM under `keyring` (right above each store).
    #[cfg(feature = "encrypt")]
    pub fn encrypt(self, keyring: flowstore_encrypt::Keyring) -> Self {
        let layer = flowstore_encrypt::EncryptLayer::new(keyring);
        self.with(Slot::Encrypt, Some(Arc::new(layer)))
    }

    /// The fallback URLs, in order (empty without feature `fallback`).
    fn fallback_urls(&self) -> &[String] {
        #[cfg(feature = "fallback")]
        return &self.fallback;
        #[cfg(not(feature = "fallback"))]
        return &[];
    }

    /// The layers placed `placement`, innermost first.
    fn layers(&self, placement: Placement) -> impl Iterator<Item = &dyn Layer> {
        self.layers
            .iter()
            .filter(move |(slot, _)| slot.placement() == placement)
            .map(|(_, layer)| layer.as_ref())
    }

    /// Builds the stack over stores already opened: `stores[0]` is the primary,
    /// any others are its fallbacks, in order (the URLs given to
    /// `fallback` are not used here). A `Config` error when
    /// `stores` is empty, or holds several stores without feature `fallback`.
    pub fn wrap(&self, stores: Vec<Arc<dyn Store>>) -> Result<Arc<dyn Store>> {
        let mut stores: Vec<Arc<dyn Store>> = stores
            .into_iter()
            .map(|store| apply_layers(store, self.layers(Placement::EachStore)))
            .collect();
        let store = match stores.len() {
            0 => return Err(Error::config("a store stack needs at least one store")),
            1 => stores.remove(0),
            _ => fallback_over(stores)?,
        };
        Ok(apply_layers(store, self.layers(Placement::Outer)))
    }
}

#[cfg(feature = "fallback")]
fn fallback_over(stores: Vec<Arc<dyn Store>>) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(flowstore_fallback::FallbackStore::new(stores)?))
}

#[cfg(not(feature = "fallback"))]
fn fallback_over(_stores: Vec<Arc<dyn Store>>) -> Result<Arc<dyn Store>> {
    Err(Error::config(
        "several stores need the fallback wrapper (cargo feature `fallback` of flowstore)",
    ))
}

impl fmt::Debug for StackOptions {
    /// Shows each wrapper's settings, never key material, never a URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("StackOptions");
        debug.field("layers", &self.layers);
        #[cfg(feature = "fallback")]
        debug.field("fallback_stores", &self.fallback.len());
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
