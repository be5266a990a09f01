//! What a copy checkpoint was made for: one fingerprint per side, so that a
//! checkpoint reused with another `--from` or `--to` is refused instead of
//! skipping the pages it says are done (they were done for other stores).
//!
//! A fingerprint is the SHA-256 of the side's URL *without its credentials*,
//! its namespace and the wrapper options that change the bytes stored
//! (the encryption key's variable name, compression). The credentials are
//! left out, not hashed: a checkpoint file is not a secret, and a hash of a
//! short password can be brute-forced. Options that do not change what is
//! stored (retry, fallback, default TTL) are left out too.

use sha2::{Digest as _, Sha256};

/// One side of a copy, as given on the command line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Side<'a> {
    pub(crate) url: &'a str,
    /// The namespace the opened store uses (the option's, the URL's or the default).
    pub(crate) namespace: &'a str,
    /// The *name* of the variable holding the encryption key, never the key.
    pub(crate) encrypt_key_env: Option<&'a str>,
    pub(crate) compress: bool,
}

impl Side<'_> {
    /// The fingerprint: 64 lowercase hex digits.
    pub(crate) fn fingerprint(&self) -> String {
        let canonical = serde_json::json!([
            "flowstore-copy-side",
            without_credentials(self.url),
            self.namespace,
            self.encrypt_key_env,
            self.compress,
        ]);
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// Query parameters whose name contains one of these carry secrets
/// (`?password=…`, `?token=…`); they are dropped like the userinfo.
const SECRET_PARAMETERS: [&str; 4] = ["pass", "secret", "token", "key"];

/// `url` without the userinfo (`user:password@`) of its authority and without
/// query parameters that look like secrets. Not a URL parser: it only has to
/// remove credentials from whatever text the user gave, parseable or not.
pub(crate) fn without_credentials(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The last `@`: a password may itself hold an unescaped `@`.
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (path, fragment) = match tail.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (tail, None),
    };
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    out.push_str(host);
    out.push_str(path);
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let name = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
                !SECRET_PARAMETERS.iter().any(|secret| name.contains(secret))
            })
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(url: &str) -> Side<'_> {
        Side {
            url,
            namespace: "flow",
            encrypt_key_env: None,
            compress: false,
        }
    }

    #[test]
    fn credentials_are_removed_from_urls() {
        for (url, expected) in [
            (
                "postgres://user:s3cr@t@db:5432/test?sslmode=require&password=hunter2",
                "postgres://db:5432/test?sslmode=require",
            ),
            ("redis://:pw@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            (
                "redis-sentinel://h1,h2/mymaster?sentinel_password=x",
                "redis-sentinel://h1,h2/mymaster",
            ),
            ("sqlite://a.db", "sqlite://a.db"),
            ("memory://", "memory://"),
            ("http://host/base?Token=t#f", "http://host/base#f"),
        ] {
            assert_eq!(without_credentials(url), expected, "{url}");
        }
    }

    #[test]
    fn the_fingerprint_changes_with_the_store_but_not_with_its_password() {
        let a = side("postgres://u:one@db/test").fingerprint();
        assert_eq!(a.len(), 64);
        assert_eq!(a, side("postgres://other:two@db/test").fingerprint());
        assert_ne!(a, side("postgres://u:one@db/prod").fingerprint());
        let mut namespaced = side("postgres://db/test");
        namespaced.namespace = "other";
        assert_ne!(a, namespaced.fingerprint());
        let mut encrypted = side("postgres://db/test");
        encrypted.encrypt_key_env = Some("KEY");
        assert_ne!(a, encrypted.fingerprint());
        let mut compressed = side("postgres://db/test");
        compressed.compress = true;
        assert_ne!(a, compressed.fingerprint());
    }
}
