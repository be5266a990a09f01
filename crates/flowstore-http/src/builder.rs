//! Configuring an [`HttpStore`]: base URL, headers, token, timeouts, limits, TLS.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use flowstore_core::url::StoreUrl;
use flowstore_core::{DEFAULT_MAX_VALUE_SIZE, Error, Namespace, Result};
use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Scheme, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::protocol::{NAMESPACE_HEADER, encode_namespace};
use crate::store::{HttpStore, Inner};

/// The environment variable [`HttpStoreBuilder::bearer_token_from_env`] reads by
/// default, the same one `flowstore serve` takes its token from.
pub const TOKEN_ENV: &str = "FLOWSTORE_TOKEN";

/// Builds an [`HttpStore`]. Made by [`HttpStore::builder`] or [`HttpStore::from_url`].
#[derive(Clone)]
pub struct HttpStoreBuilder {
    base: String,
    namespace: Option<String>,
    headers: HeaderMap,
    connect_timeout: Duration,
    request_timeout: Duration,
    pool_idle_timeout: Duration,
    max_value_size: usize,
    plain_404: bool,
    versions: bool,
    list: bool,
    list_ordered: bool,
    touch: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
    error: Option<String>,
}

impl HttpStoreBuilder {
    pub(crate) fn new(base: impl Into<String>) -> Self {
        HttpStoreBuilder {
            base: base.into(),
            namespace: None,
            headers: HeaderMap::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(60),
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            plain_404: false,
            versions: true,
            list: true,
            list_ordered: false,
            touch: true,
            tls: None,
            error: None,
        }
    }

    /// Parses a store URL: `http://host[:port][/base]` or `https://…`, with
    /// optional flowstore parameters: `namespace` (a label, see
    /// [`namespace`](Self::namespace)), `timeout` and `connect_timeout` (duration
    /// grammar, e.g. `10s`), `max_value_size` (bytes), `plain_404`,
    /// `versions`, `list`, `list_ordered` and `touch` (`true`/`false`).
    /// Any other parameter, user info (`user:pass@`) or a fragment is a `Config` error.
    ///
    /// No token is taken from the URL (URLs end up in logs and shell history);
    /// use [`bearer_token`](Self::bearer_token) or
    /// [`bearer_token_from_env`](Self::bearer_token_from_env).
    pub fn from_url(url: &str) -> Result<Self> {
        let mut url = StoreUrl::parse(url)?;
        // Checked now, not only at `open`: a URL with user info holds a
        // password, and a builder must never carry (and print) one.
        parse_base(url.base())?;
        let mut builder = HttpStoreBuilder::new(url.base());
        if let Some(namespace) = url.take("namespace")? {
            builder = builder.namespace(namespace);
        }
        let duration = |text: &str| flowstore_core::parse_duration(text).ok();
        if let Some(timeout) = url.take_parsed("timeout", duration)? {
            builder = builder.request_timeout(timeout);
        }
        if let Some(timeout) = url.take_parsed("connect_timeout", duration)? {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(max) = url.take_parsed("max_value_size", |text| text.parse::<usize>().ok())? {
            builder = builder.max_value_size(max);
        }
        if let Some(plain) = url.take_parsed("plain_404", |text| text.parse::<bool>().ok())? {
            builder = builder.plain_404(plain);
        }
        if let Some(versions) = url.take_parsed("versions", |text| text.parse::<bool>().ok())? {
            builder = builder.versions(versions);
        }
        if let Some(list) = url.take_parsed("list", |text| text.parse::<bool>().ok())? {
            builder = builder.list(list);
        }
        if let Some(ordered) = url.take_parsed("list_ordered", |text| text.parse::<bool>().ok())? {
            builder = builder.list_ordered(ordered);
        }
        if let Some(touch) = url.take_parsed("touch", |text| text.parse::<bool>().ok())? {
            builder = builder.touch(touch);
        }
        url.expect_no_more()?;
        Ok(builder)
    }

    /// The namespace this client expects the server to serve. A flowstore server
    /// serves the one namespace it was started with: the client names the one it
    /// wants in a `flowstore-namespace` request header, and a server serving
    /// another refuses every request with a `Config` error — so a client set up
    /// for namespace `a` never reads, overwrites or clears the keys of `b`. Without
    /// this call no header is sent (any server's namespace is accepted) and the
    /// store reports the default namespace `flow`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sends `Authorization: Bearer <token>` with every request. The token is
    /// marked sensitive and never shown by `Debug`.
    pub fn bearer_token(mut self, token: impl AsRef<str>) -> Self {
        match HeaderValue::try_from(format!("Bearer {}", token.as_ref())) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(AUTHORIZATION, value);
            }
            Err(_) => {
                self.error =
                    Some("the bearer token contains characters not allowed in a header".into())
            }
        }
        self
    }

    /// [`bearer_token`](Self::bearer_token) from the variable `FLOWSTORE_TOKEN`,
    /// when it is set and not empty; otherwise no token.
    pub fn bearer_token_from_env(self) -> Self {
        match std::env::var(TOKEN_ENV) {
            Ok(token) if !token.trim().is_empty() => self.bearer_token(token.trim()),
            _ => self,
        }
    }

    /// Sends the header `name: value` with every request (replacing an earlier
    /// one of that name). Values are never shown by `Debug`; mark secret ones
    /// with [`HeaderValue::set_sensitive`] so HTTP/2 never indexes them.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// How long to wait for a TCP connection (default 5 s). Always set.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a whole request may take, response body included (default 30 s).
    /// Always set. A write that times out has an unknown outcome.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long an idle pooled connection is kept (default 60 s; keep it below
    /// the server's idle timeout, 60 s for `flowstore serve`).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// The largest value `set` sends (default 16 MiB; set it to the server's
    /// limit). Larger values fail with `ValueTooLarge` before any request.
    pub fn max_value_size(mut self, max: usize) -> Self {
        self.max_value_size = max;
        self
    }

    /// Plain-404 mode, for servers of the original design: every `404` on a GET
    /// reads as "absent". Off by default, when only a 404 carrying the
    /// `Flowstore-Absent` header does, and any other 404 (a wrong base URL, a
    /// proxy's error page) is an error instead of a silent `None`.
    pub fn plain_404(mut self, on: bool) -> Self {
        self.plain_404 = on;
        self
    }

    /// Whether to claim the [`versions`](flowstore_core::Capabilities::versions)
    /// capability (default `true`; always `false` in plain-404 mode). Turn it
    /// off for a flowstore server whose store keeps no entry versions, so that
    /// `capabilities()` says so up front; left on, such a server answers every
    /// conditional operation with `Unsupported` (HTTP 501) and writes nothing.
    /// Off, `get_entry`, `set_if` and `delete_if` answer `Unsupported` without
    /// sending anything.
    pub fn versions(mut self, on: bool) -> Self {
        self.versions = on;
        self
    }

    /// Whether to claim the [`list`](flowstore_core::Capabilities::list)
    /// capability (default `true`): turn it off for a server whose store
    /// cannot list, so that code asking the capability knows before it asks
    /// the server (which answers `501 unsupported`, mapped to `Unsupported`).
    pub fn list(mut self, on: bool) -> Self {
        self.list = on;
        self
    }

    /// Whether to claim [`list_ordered`](flowstore_core::Capabilities::list_ordered)
    /// (default `false`): every key exactly once, in key order. Turn it on
    /// for a server over an ordered store (memory, SQLite, PostgreSQL). Every
    /// listing page says whether the server's store lists in order; a page
    /// that says it does not, while this is on, is a `Config` error rather
    /// than a broken promise.
    pub fn list_ordered(mut self, on: bool) -> Self {
        self.list_ordered = on;
        self
    }

    /// Whether to claim the [`touch`](flowstore_core::Capabilities::touch)
    /// capability (default `true`).
    pub fn touch(mut self, on: bool) -> Self {
        self.touch = on;
        self
    }

    /// The TLS configuration for `https://` (default: rustls on the `ring`
    /// provider with the Mozilla roots of `webpki-roots`). Use it for a private
    /// CA or client certificates.
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(Arc::new(config));
        self
    }

    /// The old name of [`open`](HttpStoreBuilder::open), from before every
    /// backend's builder ended in `open`.
    #[deprecated(since = "0.2.0", note = "use `open`")]
    pub fn build(self) -> Result<HttpStore> {
        self.open()
    }

    /// Opens the store. It connects lazily: a server that is down shows up as
    /// `Unavailable` on the first operation, not here, so unlike the other
    /// backends' `open` this one is not `async`. It needs no runtime;
    /// operations run on Tokio.
    pub fn open(self) -> Result<HttpStore> {
        if let Some(error) = self.error {
            return Err(Error::config(error));
        }
        let base = parse_base(&self.base)?;
        let mut headers = self.headers;
        let namespace = match self.namespace {
            Some(namespace) => {
                let namespace = Namespace::new(namespace)?;
                let value = HeaderValue::try_from(encode_namespace(namespace.as_str()))
                    .map_err(|_| Error::config("namespace cannot be sent in a header"))?;
                headers.insert(HeaderName::from_static(NAMESPACE_HEADER), value);
                namespace
            }
            None => Namespace::default(),
        };
        let mut tls = match self.tls {
            Some(tls) => (*tls).clone(),
            None => default_tls()?,
        };
        // The connector announces HTTP/1.1 by ALPN itself (and refuses a preset list).
        tls.alpn_protocols.clear();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .build(connector);
        Ok(HttpStore {
            inner: Arc::new(Inner {
                client,
                base,
                headers,
                namespace,
                max_value_size: self.max_value_size,
                request_timeout: self.request_timeout,
                connect_timeout: self.connect_timeout,
                plain_404: self.plain_404,
                versions: self.versions && !self.plain_404,
                // A server of the original design has none of these routes.
                list: self.list && !self.plain_404,
                list_ordered: self.list && self.list_ordered && !self.plain_404,
                touch: self.touch && !self.plain_404,
            }),
        })
    }
}

/// The default TLS configuration: rustls, `ring`, webpki roots (ALPN is set by the connector).
fn default_tls() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::config("cannot set up TLS").with_source(err))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Checks the base URL and returns it without a trailing `/`.
fn parse_base(base: &str) -> Result<String> {
    let bad = |why: &str| Error::config(format!("invalid HTTP store URL: {why}"));
    let uri: Uri = base
        .parse()
        .map_err(|_| bad("expected http://host[:port][/base] or https://…"))?;
    match uri.scheme() {
        Some(scheme) if *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "user info (user:password@) is not supported; use a bearer token or a header",
        ));
    }
    if authority.host().is_empty() {
        return Err(bad("no host"));
    }
    if base.contains('#') {
        return Err(bad("a fragment (#…) is not allowed"));
    }
    // Keys are appended to the base as a path segment: after a query they would
    // land in the query instead.
    if base.contains('?') {
        return Err(bad("a query (?…) is not allowed in the base URL"));
    }
    Ok(base.trim_end_matches('/').to_string())
}

impl fmt::Debug for HttpStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStoreBuilder")
            .field("base", &DebugBase(&self.base))
            .field("namespace", &self.namespace)
            .field("headers", &HeaderNames(&self.headers))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_value_size", &self.max_value_size)
            .field("plain_404", &self.plain_404)
            .field("versions", &self.versions)
            .field("list", &self.list)
            .field("list_ordered", &self.list_ordered)
            .field("touch", &self.touch)
            .field("custom_tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Shows a base URL, unless it has user info (`user:password@`, refused at
/// `open`): a password must not reach a log through `Debug`.
struct DebugBase<'a>(&'a str);

impl fmt::Debug for DebugBase<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let authority = self
            .0
            .split_once("://")
            .map_or(self.0, |(_, rest)| rest)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if authority.contains('@') {
            f.write_str("\"(hidden: the URL has user info)\"")
        } else {
            fmt::Debug::fmt(self.0, f)
        }
    }
}

/// Shows the names of headers, never their values.
pub(crate) struct HeaderNames<'a>(pub(crate) &'a HeaderMap);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(parse_base("http://h:8080/").unwrap(), "http://h:8080");
        assert_eq!(parse_base("https://h/api/v1").unwrap(), "https://h/api/v1");
        for bad in [
            "ftp://h",
            "h:8080",
            "http://u:p@h",
            "http://h/#x",
            "http://h/api?x=1",
            "http://",
        ] {
            assert!(parse_base(bad).is_err(), "{bad}");
        }
    }

    /// Found by the `store_urls` fuzz target: `https://:password@` passed
    /// `from_url` (user info was refused only at `open`) and `Debug` printed
    /// the password.
    #[test]
    fn user_info_is_refused_by_from_url_and_never_printed() {
        for url in [
            "https://:hunter2@",
            "http://u:hunter2@h/api",
            "http://:hunter2@h?namespace=n",
        ] {
            let err = HttpStoreBuilder::from_url(url).unwrap_err();
            assert_eq!(err.kind(), flowstore_core::ErrorKind::Config, "{url}");
            assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
        }
        let builder = HttpStoreBuilder::new("http://u:hunter2@h/api");
        assert!(!format!("{builder:?}").contains("hunter2"));
        let builder = HttpStoreBuilder::new("http://h/api@v1");
        assert!(format!("{builder:?}").contains("http://h/api@v1"));
    }

    #[test]
    fn url_parameters_are_ours_or_refused() {
        let builder =
            HttpStoreBuilder::from_url("http://h:1/api?namespace=n&timeout=2s&plain_404=true")
                .unwrap();
        assert_eq!(builder.base, "http://h:1/api");
        assert_eq!(builder.namespace.as_deref(), Some("n"));
        assert_eq!(builder.request_timeout, Duration::from_secs(2));
        assert!(builder.plain_404);
        assert!(builder.versions, "entry versions are on by default");
        let builder = HttpStoreBuilder::from_url("http://h:1?versions=false").unwrap();
        assert!(!builder.versions);
        assert!(HttpStoreBuilder::from_url("http://h?versions=maybe").is_err());
        assert!(HttpStoreBuilder::from_url("http://h?sslmode=x").is_err());
        assert!(HttpStoreBuilder::from_url("http://h?timeout=fast").is_err());
    }

    #[test]
    #[allow(deprecated)]
    fn build_is_the_old_name_of_open() {
        let store = HttpStoreBuilder::new("http://h:1/api").build().unwrap();
        assert_eq!(store.base_url(), "http://h:1/api");
        // It refuses what `open` refuses.
        let err = HttpStoreBuilder::new("http://h").namespace("").build();
        assert_eq!(err.unwrap_err().kind(), flowstore_core::ErrorKind::Config);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let builder = HttpStoreBuilder::new("http://h").bearer_token("hunter2");
        let text = format!("{builder:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("authorization"));
    }
}
