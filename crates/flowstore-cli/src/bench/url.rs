//! What a benchmark reads from the store URL: its scheme, and the namespace it
//! writes to.

use flowstore::Namespace;
use flowstore::url::StoreUrl;

use crate::failure::Failure;

/// The namespace a benchmark writes to unless `--namespace` or the URL names
/// one (or the store is a flowstore server, which serves its own).
pub const BENCH_NAMESPACE: &str = "flowstore-bench";

/// The URL's scheme (`sqlite`, `postgres`, …), for the report; never the rest
/// of the URL, which may hold a password.
pub fn scheme_of(url: &str) -> Result<String, Failure> {
    let parsed = StoreUrl::parse(url).map_err(|err| Failure::store("--store", &err))?;
    Ok(parsed.scheme().unwrap_or_default())
}

/// The namespace to open the store with: `explicit` (`--namespace`) if given;
/// else none (the store's own) when the URL names one or the store is a
/// flowstore server, which serves its own namespace and refuses clients that
/// ask for another; else [`BENCH_NAMESPACE`], so a benchmark never writes into
/// an application's default namespace.
pub fn namespace_for(url: &str, explicit: Option<Namespace>) -> Result<Option<Namespace>, Failure> {
    if explicit.is_some() {
        return Ok(explicit);
    }
    let mut parsed = StoreUrl::parse(url).map_err(|err| Failure::store("--store", &err))?;
    let url_names_namespace = parsed
        .take("namespace")
        .map_err(|err| Failure::store("--store", &err))?
        .is_some();
    let serves_own_namespace = matches!(
        parsed.scheme().unwrap_or_default().as_str(),
        "http" | "https"
    );
    if url_names_namespace || serves_own_namespace {
        Ok(None)
    } else {
        Ok(Some(
            Namespace::new(BENCH_NAMESPACE).expect("a valid constant"),
        ))
    }
}
