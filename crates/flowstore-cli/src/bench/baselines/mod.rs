//! Raw baselines: the same workload through a backend's client library used the
//! plain way, so `--compare-raw` shows what flowstore adds or saves. One module
//! per backend; add one line to [`open`] and [`SCHEMES`] for a new one.

use std::sync::Arc;

use flowstore::Namespace;
use flowstore::url::StoreUrl;

use super::workload::{Target, Workload};
use crate::failure::Failure;

mod http;
mod postgres;
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

/// Schemes that have a raw baseline in this build.
pub(crate) const SCHEMES: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite",
    "postgres",
    "postgresql",
    "redis",
    "http",
];

/// A raw baseline and what it is, in one line (for the report).
pub(crate) struct Baseline {
    pub(crate) target: Arc<dyn Target>,
    pub(crate) description: &'static str,
}

/// The raw baseline for the store at `url`, on the same data (`namespace`).
pub(crate) async fn open(
    url: &str,
    namespace: &Namespace,
    workload: &Workload,
) -> Result<Baseline, Failure> {
    let scheme = StoreUrl::parse(url)
        .map_err(|err| Failure::store("bench", &err))?
        .scheme();
    let baseline = |target: Arc<dyn Target>, description| Baseline {
        target,
        description,
    };
    match scheme.as_deref() {
        #[cfg(feature = "sqlite")]
        Some("sqlite") => Ok(baseline(
            Arc::new(sqlite::RawSqlite::open(url, namespace, workload)?),
            sqlite::RawSqlite::DESCRIPTION,
        )),
        Some("postgres" | "postgresql") => Ok(baseline(
            Arc::new(postgres::RawPostgres::open(url, namespace, workload)?),
            postgres::RawPostgres::DESCRIPTION,
        )),
        Some("redis") => Ok(baseline(
            Arc::new(redis::RawRedis::open(url, namespace, workload).await?),
            redis::RawRedis::DESCRIPTION,
        )),
        Some("http") => Ok(baseline(
            Arc::new(http::RawHttp::open(url, workload)?),
            http::RawHttp::DESCRIPTION,
        )),
        other => Err(Failure::new(format!(
            "bench: --compare-raw has no raw baseline for {}; baselines exist for: {}",
            match other {
                Some("memory") =>
                    "memory:// (an in-memory map has no client library to compare with)".to_string(),
                Some(scheme) => format!("{scheme}:// stores"),
                None => "this store".to_string(),
            },
            SCHEMES
                .iter()
                .map(|scheme| format!("{scheme}://"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
