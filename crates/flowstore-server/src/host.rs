//! DNS-rebinding protection: a server without a token answers only requests
//! addressed to a loopback name.
//!
//! Without a token the server trusts every process on the machine, and a
//! browser is one: a hostile page whose name the attacker re-points at
//! 127.0.0.1 could otherwise drive the server from the user's browser, same
//! origin as far as the browser knows. Such a request still carries the
//! attacker's name in `Host`, so a server without a token refuses any `Host`
//! that is not `localhost`, an address in 127.0.0.0/8 or `[::1]`.

use std::net::{IpAddr, Ipv6Addr};

/// Whether `host` (a `Host` header's value: name or address, optional port)
/// names this machine's loopback interface.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if !(after.is_empty() || is_port(after.strip_prefix(':'))) {
            return false;
        }
        return address.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(Some(port)) => name,
            Some(_) => return false,
            None => host,
        }
    };
    // A fully qualified name may end in a dot.
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<IpAddr>()
        .is_ok_and(|ip| matches!(ip, IpAddr::V4(v4) if v4.is_loopback()))
}

fn is_port(port: Option<&str>) -> bool {
    port.is_some_and(|port| {
        !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_pass() {
        for good in [
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.3.4.5:1",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_loopback_host(good), "{good}");
        }
        for bad in [
            "",
            "evil.example.com",
            "evil.example.com:8080",
            "localhost.evil.com",
            "127.0.0.1.nip.io",
            "10.0.0.1:8080",
            "0.0.0.0",
            "[::2]:80",
            "[::1",
            "[::1]x",
            "::1",
            "localhost:",
            "localhost:http",
            "127.0.0.1:8080:1",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
