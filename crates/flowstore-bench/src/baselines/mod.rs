//! Raw baselines: the same workload through a backend's client library used the
//! plain way, so `compare-raw` shows what flowstore adds or saves. One module
//! per backend, each with its own statements and client settings (a baseline is
//! by definition the same work without flowstore); add one line to [`open`]
//! and [`SCHEMES`] for a new one.

use std::sync::Arc;

use flowstore::Namespace;
use flowstore::url::StoreUrl;
use flowstore_cli::Failure;
use flowstore_cli::bench::{Baseline, Workload};

mod http;
mod postgres;
mod redis;
mod sqlite;

/// Schemes that have a raw baseline.
pub(crate) const SCHEMES: &[&str] = &["sqlite", "postgres", "postgresql", "redis", "http"];

/// Refuses a store without a raw baseline, with the list of those that have one.
pub(crate) fn check_scheme(url: &str) -> Result<(), Failure> {
    let scheme = StoreUrl::parse(url)
        .map_err(|err| Failure::store("--store", &err))?
        .scheme();
    match scheme.as_deref() {
        Some(scheme) if SCHEMES.contains(&scheme) => Ok(()),
        other => Err(Failure::new(format!(
            "compare-raw: no raw baseline for {}; baselines exist for: {}",
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

/// The raw baseline for the store at `url`, on the same data (`namespace`).
pub(crate) async fn open(
    url: &str,
    namespace: &Namespace,
    workload: &Workload,
) -> Result<Baseline, Failure> {
    check_scheme(url)?;
    let scheme = StoreUrl::parse(url)
        .map_err(|err| Failure::store("--store", &err))?
        .scheme();
    let baseline = |target, description| Baseline {
        target,
        description,
        label: "raw",
    };
    Ok(match scheme.as_deref() {
        Some("sqlite") => baseline(
            Arc::new(sqlite::RawSqlite::open(url, namespace, workload)?),
            sqlite::RawSqlite::DESCRIPTION,
        ),
        Some("postgres" | "postgresql") => baseline(
            Arc::new(postgres::RawPostgres::open(url, namespace, workload)?),
            postgres::RawPostgres::DESCRIPTION,
        ),
        Some("redis") => baseline(
            Arc::new(redis::RawRedis::open(url, namespace, workload).await?),
            redis::RawRedis::DESCRIPTION,
        ),
        _ => baseline(
            Arc::new(http::RawHttp::open(url, workload)?),
            http::RawHttp::DESCRIPTION,
        ),
    })
}
