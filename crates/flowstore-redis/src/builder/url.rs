//! Parsing the store URL: where the servers are, and flowstore's own options.
//!
//! The whole grammar is documented in the crate README and `docs/backends/redis.md`.
//! fred never sees the URL: this module builds the parts of its `Config` itself,
//! so the cluster and sentinel forms can list several hosts with commas, and no
//! flowstore parameter can reach the client.

use std::fmt;
use std::time::Duration;

use flowstore_core::url::StoreUrl;
use flowstore_core::{Error, Namespace, Result, parse_duration};

/// Port used when a Redis host has none.
pub(crate) const DEFAULT_PORT: u16 = 6379;
/// Port used when a Sentinel host has none.
pub(crate) const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// How the servers are deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server (`redis://`, `rediss://`).
    Single,
    /// A Redis Cluster (`redis-cluster://`); the hosts are seed nodes.
    Cluster,
    /// A primary found through Sentinel (`redis-sentinel://`); the hosts are sentinels.
    Sentinel {
        /// The monitored service (master) name.
        service: String,
    },
}

/// A password (or other secret) that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// What to do when the server may evict keys (`maxmemory-policy` other than
/// `noeviction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EvictionCheck {
    /// Log a warning (through the `log` crate) and report it in
    /// [`RedisStore::eviction_warning`](crate::RedisStore::eviction_warning). The default.
    #[default]
    Warn,
    /// Refuse to open the store: `open` fails with a `Config` error.
    Refuse,
    /// Do not ask the server.
    Ignore,
}

impl EvictionCheck {
    fn parse(text: &str) -> Option<EvictionCheck> {
        match text {
            "warn" => Some(EvictionCheck::Warn),
            "refuse" => Some(EvictionCheck::Refuse),
            "ignore" => Some(EvictionCheck::Ignore),
            _ => None,
        }
    }
}

/// Everything a store URL says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParsedUrl {
    pub(crate) topology: Topology,
    pub(crate) tls: bool,
    pub(crate) hosts: Vec<(String, u16)>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) sentinel_username: Option<String>,
    pub(crate) sentinel_password: Option<Secret>,
    pub(crate) database: Option<u8>,
    pub(crate) namespace: Option<Namespace>,
    pub(crate) command_timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) unresponsive_timeout: Option<Duration>,
    pub(crate) eviction: Option<EvictionCheck>,
    pub(crate) max_value_size: Option<usize>,
    /// `data_loss_detection=on|off`: `None` when the URL does not say.
    pub(crate) data_loss_detection: Option<bool>,
    pub(crate) ca_file: Option<String>,
}

/// Parses a store URL. Errors are `Config` errors that never quote the URL
/// (it may hold a password).
pub(crate) fn parse(url: &str) -> Result<ParsedUrl> {
    let mut store_url = StoreUrl::parse(url)?;
    let scheme = store_url
        .scheme()
        .ok_or_else(|| Error::config("Redis URL has no scheme (expected redis://, rediss://, redis-cluster:// or redis-sentinel://)"))?;
    // The scheme is read once, into the topology; everything after matches on
    // that. A Sentinel's service name comes from the path, filled in below.
    let sentinel = || Topology::Sentinel {
        service: String::new(),
    };
    let (tls, mut topology) = match scheme.as_str() {
        "redis" => (false, Topology::Single),
        "rediss" => (true, Topology::Single),
        "redis-cluster" => (false, Topology::Cluster),
        "rediss-cluster" => (true, Topology::Cluster),
        "redis-sentinel" => (false, sentinel()),
        "rediss-sentinel" => (true, sentinel()),
        _ => {
            return Err(Error::config(format!(
                "unsupported URL scheme `{scheme}` for Redis (expected redis, rediss, redis-cluster, rediss-cluster, redis-sentinel or rediss-sentinel)"
            )));
        }
    };
    if tls && !cfg!(feature = "tls") {
        return Err(Error::config(format!(
            "`{scheme}://` needs TLS: enable the `tls` feature of flowstore-redis"
        )));
    }

    let rest = store_url.rest().to_string();
    // The authority ends at the first `/` after the userinfo: a password may
    // contain `/` (base64 passwords often do).
    let userinfo_end = rest.rfind('@').map_or(0, |at| at + 1);
    let (authority, path) = match rest[userinfo_end..].find('/') {
        Some(slash) => (
            &rest[..userinfo_end + slash],
            &rest[userinfo_end + slash + 1..],
        ),
        None => (rest.as_str(), ""),
    };
    let (userinfo, host_list) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, pass) = match info.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (info, None),
            };
            let user = decode_userinfo(user)?;
            let pass = pass.map(decode_userinfo).transpose()?;
            (
                (!user.is_empty()).then_some(user),
                pass.filter(|pass| !pass.is_empty()).map(Secret),
            )
        }
    };

    let default_port = match topology {
        Topology::Single | Topology::Cluster => DEFAULT_PORT,
        Topology::Sentinel { .. } => DEFAULT_SENTINEL_PORT,
    };
    let mut hosts = Vec::new();
    if !host_list.is_empty() {
        for host in host_list.split(',') {
            hosts.push(parse_host(host, default_port)?);
        }
    }
    if hosts.is_empty() {
        return Err(Error::config("Redis URL has no host"));
    }
    if topology == Topology::Single && hosts.len() > 1 {
        return Err(Error::config(
            "a redis:// URL names one host; use redis-cluster:// or redis-sentinel:// for several",
        ));
    }

    let path = path.trim_end_matches('/');
    let database = match &mut topology {
        Topology::Single => parse_database(path)?,
        Topology::Cluster => {
            if !path.is_empty() && path != "0" {
                return Err(Error::config(
                    "a Redis Cluster has only database 0: remove the path from the redis-cluster:// URL",
                ));
            }
            None
        }
        Topology::Sentinel { service: named } => {
            let (service, db) = match path.split_once('/') {
                Some((service, db)) => (service, parse_database(db)?),
                None => (path, None),
            };
            let service = decode_userinfo(service)?;
            if service.is_empty() {
                return Err(Error::config(
                    "a redis-sentinel:// URL needs the service name as its path: redis-sentinel://host:26379/mymaster",
                ));
            }
            *named = service;
            db
        }
    };

    let namespace = store_url
        .take("namespace")?
        .map(Namespace::new)
        .transpose()?;
    let command_timeout = take_duration(&mut store_url, "command_timeout")?;
    let connect_timeout = take_duration(&mut store_url, "connect_timeout")?;
    let unresponsive_timeout = take_duration(&mut store_url, "unresponsive_timeout")?;
    let eviction = store_url.take_parsed("eviction", EvictionCheck::parse)?;
    let max_value_size = store_url.take_parsed("max_value_size", |text| text.parse().ok())?;
    let data_loss_detection = store_url.take_parsed("data_loss_detection", |text| match text {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    })?;
    let ca_file = store_url.take("ca_file")?;
    if ca_file.is_some() && !tls {
        return Err(Error::config("`ca_file` is only for TLS URLs (rediss://…)"));
    }
    let (sentinel_username, sentinel_password) = match topology {
        Topology::Single | Topology::Cluster => (None, None),
        Topology::Sentinel { .. } => (
            store_url.take("sentinel_username")?,
            store_url.take("sentinel_password")?.map(Secret),
        ),
    };
    store_url.expect_no_more()?;

    Ok(ParsedUrl {
        topology,
        tls,
        hosts,
        username,
        password,
        sentinel_username,
        sentinel_password,
        database,
        namespace,
        command_timeout,
        connect_timeout,
        unresponsive_timeout,
        eviction,
        max_value_size,
        data_loss_detection,
        ca_file,
    })
}

fn take_duration(url: &mut StoreUrl, name: &str) -> Result<Option<Duration>> {
    match url.take(name)? {
        None => Ok(None),
        Some(text) => match parse_duration(&text) {
            Ok(duration) if !duration.is_zero() => Ok(Some(duration)),
            _ => Err(Error::config(format!(
                "URL parameter `{name}` must be a duration such as 500ms or 5s"
            ))),
        },
    }
}

fn parse_database(text: &str) -> Result<Option<u8>> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u8>()
        .map(Some)
        .map_err(|_| Error::config("the database in a Redis URL must be a number from 0 to 255"))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn parse_host(text: &str, default_port: u16) -> Result<(String, u16)> {
    // Never quote `text`: in a malformed URL it may be part of a password.
    let bad = || Error::config("invalid host or port in Redis URL");
    let (host, port) = if let Some(after) = text.strip_prefix('[') {
        let (host, after) = after.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad());
    }
    let port = match port {
        None => default_port,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(bad)?,
    };
    Ok((host.to_string(), port))
}

/// Percent-decoding for the user-info and path parts, where `+` is a plus sign
/// (unlike in query strings).
fn decode_userinfo(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| Error::config("Redis URL has a malformed %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::config("Redis URL %-escapes are not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowstore_core::ErrorKind;

    #[test]
    fn a_slash_in_the_password_is_part_of_the_password() {
        let url = parse("redis://:Ab/cd+ef@cache:6379/2").unwrap();
        assert_eq!(url.password, Some(Secret("Ab/cd+ef".into())));
        assert_eq!(url.hosts, vec![("cache".to_string(), 6379)]);
        assert_eq!(url.database, Some(2));
    }

    #[test]
    fn host_errors_never_quote_the_url() {
        let err = parse("redis://:hunter2@cache:notaport").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(!err.to_one_line().contains("hunter2"), "{err}");
        assert!(!err.to_one_line().contains("notaport"), "{err}");
    }

    #[test]
    fn single_node_with_credentials_database_and_options() {
        let url = parse("redis://app:p%40ss+word@cache.local:6380/3?namespace=signup&command_timeout=2s&eviction=refuse").unwrap();
        assert_eq!(url.topology, Topology::Single);
        assert!(!url.tls);
        assert_eq!(url.hosts, vec![("cache.local".to_string(), 6380)]);
        assert_eq!(url.username.as_deref(), Some("app"));
        assert_eq!(url.password, Some(Secret("p@ss+word".into())));
        assert_eq!(url.database, Some(3));
        assert_eq!(
            url.namespace.as_ref().map(Namespace::as_str),
            Some("signup")
        );
        assert_eq!(url.command_timeout, Some(Duration::from_secs(2)));
        assert_eq!(url.eviction, Some(EvictionCheck::Refuse));
        assert_eq!(url.data_loss_detection, None);
    }

    #[test]
    fn data_loss_detection_is_on_or_off() {
        let url = parse("redis://h?data_loss_detection=off").unwrap();
        assert_eq!(url.data_loss_detection, Some(false));
        let url = parse("redis-cluster://h:7001?data_loss_detection=on").unwrap();
        assert_eq!(url.data_loss_detection, Some(true));
        for value in ["", "no", "false", "OFF", "0"] {
            let err = parse(&format!("redis://h?data_loss_detection={value}")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{value:?}");
        }
    }

    #[test]
    fn password_only_and_defaults() {
        let url = parse("redis://:secret@127.0.0.1").unwrap();
        assert_eq!(url.username, None);
        assert_eq!(url.password, Some(Secret("secret".into())));
        assert_eq!(url.hosts, vec![("127.0.0.1".to_string(), 6379)]);
        assert_eq!(url.database, None);
        let url = parse("redis://[::1]:7000/").unwrap();
        assert_eq!(url.hosts, vec![("::1".to_string(), 7000)]);
    }

    #[test]
    fn cluster_hosts_are_listed_with_commas() {
        let url = parse("redis-cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003").unwrap();
        assert_eq!(url.topology, Topology::Cluster);
        assert_eq!(url.hosts.len(), 3);
        assert_eq!(url.hosts[2], ("127.0.0.1".to_string(), 7003));
        let url = parse("redis-cluster://u:p@h1:7001").unwrap();
        assert_eq!(url.hosts, vec![("h1".to_string(), 7001)]);
        assert_eq!(
            parse("redis-cluster://h:1/2").unwrap_err().kind(),
            ErrorKind::Config
        );
    }

    #[test]
    fn sentinel_service_name_is_the_path() {
        let url = parse("redis-sentinel://127.0.0.1:26380,127.0.0.1:26381/flowstore").unwrap();
        assert_eq!(
            url.topology,
            Topology::Sentinel {
                service: "flowstore".into()
            }
        );
        assert_eq!(url.hosts.len(), 2);
        assert_eq!(url.database, None);
        let url = parse("redis-sentinel://:pw@s1/mymaster/2?sentinel_password=spw").unwrap();
        assert_eq!(url.hosts, vec![("s1".to_string(), 26379)]);
        assert_eq!(url.database, Some(2));
        assert_eq!(url.sentinel_password, Some(Secret("spw".into())));
        assert_eq!(
            parse("redis-sentinel://s1:26379").unwrap_err().kind(),
            ErrorKind::Config
        );
    }

    #[test]
    fn bad_urls_are_config_errors_that_do_not_echo_the_password() {
        for url in [
            "http://h",
            "h:6379",
            "redis://",
            "redis://:hunter2@h:notaport",
            "redis://:hunter2@h:6379/256",
            "redis://:hunter2@h1,h2",
            "redis://:hunter2@h?unknown=1",
            "redis://:hunter2@h?command_timeout=0s",
            "redis://:hunter2@h?eviction=maybe",
            "redis://:hunter2@h?data_loss_detection=maybe",
            "redis://:hunter2@h?namespace=",
            "redis://:hunter2@h?node=h2",
            "redis://:hunter2@h?ca_file=/ca.pem",
        ] {
            let err = parse(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(!err.to_one_line().contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let url = parse("redis-sentinel://u:hunter2@h/m?sentinel_password=swordfish").unwrap();
        let debug = format!("{url:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("swordfish"),
            "{debug}"
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn rediss_needs_the_tls_feature() {
        let err = parse("rediss://h:6380").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("tls"));
    }
}
