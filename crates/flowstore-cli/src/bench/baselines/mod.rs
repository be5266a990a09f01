//! Raw baselines: the same workload through a backend's client library used the
//! plain way, so `--compare-raw` shows what flowstore adds or saves. One module
//! per backend; add one line to [`open`] and [`SCHEMES`] for a new one.

use std::sync::Arc;

use flowstore::Namespace;
use flowstore::url::StoreUrl;

use super::workload::{Target, Workload};
use crate::failure::Failure;

#[cfg(feature = "sqlite")]
mod sqlite;

/// Schemes that have a raw baseline in this build.
pub(crate) const SCHEMES: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite",
];

/// The raw baseline for the store at `url`, on the same data (`namespace`).
pub(crate) fn open(
    url: &str,
    namespace: &Namespace,
    workload: &Workload,
) -> Result<Arc<dyn Target>, Failure> {
    let scheme = StoreUrl::parse(url)
        .map_err(|err| Failure::store("bench", &err))?
        .scheme();
    // Unused without any baseline feature.
    let _ = (namespace, workload);
    match scheme.as_deref() {
        #[cfg(feature = "sqlite")]
        Some("sqlite") => Ok(Arc::new(sqlite::RawSqlite::open(url, namespace, workload)?)),
        _ => Err(Failure::new(format!(
            "bench: --compare-raw has no raw baseline for this store; baselines exist for: {}",
            if SCHEMES.is_empty() {
                "none in this build".to_string()
            } else {
                SCHEMES
                    .iter()
                    .map(|scheme| format!("{scheme}://"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))),
    }
}
