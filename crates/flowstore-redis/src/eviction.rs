//! The `maxmemory-policy` check made when a store opens.
//!
//! A server that may evict keys would make saved state vanish without an error.
//! The check asks each primary for `CONFIG GET maxmemory-policy`; `CONFIG` is
//! often renamed or forbidden on managed services, so an error only means "unknown".

use fred::clients::Client;
use fred::interfaces::{ClusterInterface, ConfigInterface};
use fred::types::config::Server;

/// What the check learned.
#[derive(Debug, Default)]
pub(crate) struct Eviction {
    /// A warning when some primary's policy lets it evict keys, `None` when
    /// every answer was `noeviction` or nothing could be learned.
    pub(crate) warning: Option<String>,
    /// Whether some primary may evict *any* key (an `allkeys-*` policy): the
    /// data-loss marker too, which has no TTL, so the detection is off there.
    pub(crate) evicts_any_key: bool,
}

pub(crate) async fn check(client: &Client, clustered: bool) -> Eviction {
    if !clustered {
        return Eviction::of(None, read_policy(client).await);
    }
    let primaries = client
        .cached_cluster_state()
        .map(|state| state.unique_primary_nodes())
        .unwrap_or_default();
    let mut found = Eviction::default();
    for primary in primaries {
        let policy = read_policy(&client.with_cluster_node(primary.clone())).await;
        let eviction = Eviction::of(Some(&primary), policy);
        // The first warning, unless a later primary's is about any key.
        let worse = eviction.evicts_any_key && !found.evicts_any_key;
        if eviction.warning.is_some() && (found.warning.is_none() || worse) {
            found.warning = eviction.warning;
        }
        found.evicts_any_key |= eviction.evicts_any_key;
    }
    found
}

impl Eviction {
    fn of(server: Option<&Server>, policy: Option<String>) -> Eviction {
        Eviction {
            evicts_any_key: policy
                .as_deref()
                .is_some_and(|policy| policy.starts_with("allkeys-")),
            warning: policy_warning(server, policy),
        }
    }
}

async fn read_policy<C: ConfigInterface + Sync>(client: &C) -> Option<String> {
    match client
        .config_get::<Vec<String>, _>("maxmemory-policy")
        .await
    {
        // RESP2 answers with [name, value].
        Ok(pair) => pair.into_iter().nth(1),
        Err(err) => {
            log::debug!("flowstore-redis: cannot read maxmemory-policy: {err}");
            None
        }
    }
}

/// The warning for `policy` (as read from `server`), if it may evict keys.
pub(crate) fn policy_warning(server: Option<&Server>, policy: Option<String>) -> Option<String> {
    let policy = policy?;
    if policy == "noeviction" {
        return None;
    }
    let on = server
        .map(|server| format!(" on {server}"))
        .unwrap_or_default();
    let victims = if policy.starts_with("volatile-") {
        "entries with a TTL may vanish before they expire"
    } else {
        "any entry may vanish"
    };
    Some(format!(
        "Redis{on} has maxmemory-policy {policy}: once it reaches maxmemory it evicts keys, so {victims}; set maxmemory-policy noeviction"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_noeviction_is_quiet() {
        assert_eq!(policy_warning(None, Some("noeviction".into())), None);
        assert_eq!(policy_warning(None, None), None);
        let warning = policy_warning(None, Some("allkeys-lru".into())).unwrap();
        assert!(
            warning.contains("allkeys-lru") && warning.contains("any entry"),
            "{warning}"
        );
        let warning = policy_warning(None, Some("volatile-ttl".into())).unwrap();
        assert!(warning.contains("with a TTL"), "{warning}");
        assert!(Eviction::of(None, Some("allkeys-random".into())).evicts_any_key);
        assert!(!Eviction::of(None, Some("volatile-lru".into())).evicts_any_key);
        assert!(!Eviction::of(None, None).evicts_any_key);
    }
}
