//! [`HttpStore`]: the `Store` over `GET/PUT/DELETE {base}/states/{key}`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flowstore_core::{
    Capabilities, Condition, Cursor, Entry, Error, Health, Key, ListPage, Namespace, Operation,
    Prefix, Result, SetItem, Store, Ttl, Version, async_trait, check_value_size,
};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::builder::{HeaderNames, HttpStoreBuilder};
use crate::error::in_op;
use crate::protocol::{
    ABSENT_HEADER, ABSENT_VALUE, ACKNOWLEDGE_DATA_LOSS_PATH, HEALTH_PATH, STATES_PATH,
    TTL_PARAMETER, encode_key,
};

/// Room for an error body on top of the value limit when reading responses.
pub(crate) const RESPONSE_SLACK: usize = 64 * 1024;

/// A store that talks to `flowstore serve`, or any server of the original
/// design's REST shape, over HTTP/1.1 (TLS by rustls on `ring`).
///
/// Cloning is cheap and shares the connection pool. See the crate docs for the
/// protocol and how errors map to kinds.
#[derive(Clone)]
pub struct HttpStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `scheme://authority[/path]`, no trailing `/`.
    pub(crate) base: String,
    pub(crate) headers: HeaderMap,
    pub(crate) namespace: Namespace,
    pub(crate) max_value_size: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) plain_404: bool,
    /// Entry versions are claimed and sent (never in plain-404 mode).
    pub(crate) versions: bool,
    /// Listing and prefix deletes are claimed (never in plain-404 mode).
    pub(crate) list: bool,
    /// Listings are claimed to be in key order, exactly once.
    pub(crate) list_ordered: bool,
    /// Touch is claimed (never in plain-404 mode).
    pub(crate) touch: bool,
}

/// What came back: status, headers, whole body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl HttpStore {
    /// A builder for the server at `base_url` (`http://host:port[/base]` or
    /// `https://…`); requests go to `{base_url}/states/{key}`.
    pub fn builder(base_url: impl Into<String>) -> HttpStoreBuilder {
        HttpStoreBuilder::new(base_url)
    }

    /// A builder from a store URL with flowstore parameters
    /// (see [`HttpStoreBuilder::from_url`]).
    pub fn from_url(url: &str) -> Result<HttpStoreBuilder> {
        HttpStoreBuilder::from_url(url)
    }

    /// The base URL requests go under (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The URL of a `PUT` of `key`, with the `ttl` parameter when there is one.
    pub(crate) fn put_url(&self, key: &Key, ttl: Option<Ttl>) -> String {
        let mut url = self.key_url(key);
        if let Some(ttl) = ttl {
            url.push('?');
            url.push_str(TTL_PARAMETER);
            url.push('=');
            url.push_str(&ttl.to_string());
        }
        url
    }

    pub(crate) fn key_url(&self, key: &Key) -> String {
        let encoded = encode_key(key.as_str());
        let mut url = String::with_capacity(self.inner.base.len() + 8 + encoded.len() + 16);
        url.push_str(&self.inner.base);
        url.push_str(STATES_PATH);
        url.push('/');
        url.push_str(&encoded);
        url
    }

    /// Sends one request for `operation`, whose errors it names.
    pub(crate) async fn send(
        &self,
        operation: Operation,
        method: Method,
        url: String,
        body: Option<Bytes>,
    ) -> Result<Answer> {
        self.send_with(operation, method, url, body, Vec::new())
            .await
    }

    /// [`send`](Self::send) with `extra` request headers (a condition, a
    /// proposed version).
    pub(crate) async fn send_with(
        &self,
        operation: Operation,
        method: Method,
        url: String,
        body: Option<Bytes>,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<Answer> {
        let limit = self.inner.max_value_size.saturating_add(RESPONSE_SLACK);
        self.exchange(method, url, body, extra, limit)
            .await
            .map_err(in_op(operation))
    }

    /// Sends a JSON `body` (already encoded) for `operation`, reading an
    /// answer of up to `response_limit` bytes.
    pub(crate) async fn send_json(
        &self,
        operation: Operation,
        method: Method,
        url: String,
        body: Vec<u8>,
        response_limit: usize,
    ) -> Result<Answer> {
        let json = vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        self.exchange(method, url, Some(Bytes::from(body)), json, response_limit)
            .await
            .map_err(in_op(operation))
    }

    async fn exchange(
        &self,
        method: Method,
        url: String,
        body: Option<Bytes>,
        extra: Vec<(HeaderName, HeaderValue)>,
        limit: usize,
    ) -> Result<Answer> {
        let inner = &*self.inner;
        let uri = Uri::try_from(url)
            .map_err(|err| Error::config("cannot build the request URL").with_source(err))?;
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in &inner.headers {
            request = request.header(name, value.clone());
        }
        let typed = extra.iter().any(|(name, _)| name == CONTENT_TYPE);
        for (name, value) in extra {
            request = request.header(name, value);
        }
        if body.is_some() && !typed {
            request = request.header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|err| Error::config("cannot build the request").with_source(err))?;
        let exchange = async {
            let response = inner
                .client
                .request(request)
                .await
                .map_err(|err| self.transport_error(err))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|err| self.body_error(err, limit))?
                .to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(inner.request_timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::timeout(format!(
                "{} did not answer within {} ms",
                inner.base,
                inner.request_timeout.as_millis()
            ))),
        }
    }
}

#[async_trait]
impl Store for HttpStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let answer = self
            .send(Operation::Get, Method::GET, self.key_url(key), None)
            .await?;
        let unexpected = match answer.status {
            StatusCode::OK => return Ok(Some(Vec::from(answer.body))),
            StatusCode::NOT_FOUND
                if self.inner.plain_404
                    || answer
                        .headers
                        .get(ABSENT_HEADER)
                        .is_some_and(|value| value.as_bytes() == ABSENT_VALUE.as_bytes()) =>
            {
                return Ok(None);
            }
            StatusCode::NOT_FOUND => Error::backend(format!(
                "{} answered a plain HTTP 404, not a flowstore \"absent\" 404: the base URL may \
                 be wrong, or a proxy answered; for a server of the original design, turn on \
                 plain-404 mode",
                self.inner.base
            )),
            status if status.is_success() => Error::backend(format!(
                "{} answered HTTP {}; expected 200 or 404",
                self.inner.base,
                status.as_u16()
            )),
            _ => self.error_of(&answer),
        };
        Err(in_op(Operation::Get)(unexpected))
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        check_value_size(value, self.inner.max_value_size).map_err(in_op(Operation::Set))?;
        let url = self.put_url(key, ttl);
        let body = Bytes::copy_from_slice(value);
        let answer = self
            .send(Operation::Set, Method::PUT, url, Some(body))
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.error_from(Operation::Set, &answer))
        }
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let answer = self
            .send(Operation::Delete, Method::DELETE, self.key_url(key), None)
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.error_from(Operation::Delete, &answer))
        }
    }

    async fn clear(&self) -> Result<()> {
        let url = format!("{}{STATES_PATH}", self.inner.base);
        let answer = self
            .send(Operation::Clear, Method::DELETE, url, None)
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.error_from(Operation::Clear, &answer))
        }
    }

    /// `GET {base}/healthz`: the server's own probe, which reads no user data.
    /// A degraded server (one whose fallback serves) still serves: `Ok`.
    async fn ping(&self) -> Result<Health> {
        let url = format!("{}{HEALTH_PATH}", self.inner.base);
        let answer = self.send(Operation::Ping, Method::GET, url, None).await?;
        match answer.status {
            StatusCode::OK => Ok(Health::ok()),
            // The health body is not an error body: say what the status means.
            StatusCode::SERVICE_UNAVAILABLE => Err(in_op(Operation::Ping)(Error::unavailable(
                "the flowstore server reports that none of its stores can serve",
            ))),
            _ => Err(self.error_from(Operation::Ping, &answer)),
        }
    }

    /// `POST {base}/admin/acknowledge-data-loss`: the server's store leaves
    /// its data lost state (`204`). A store there that does not detect data
    /// loss answers `501`, which is `Unsupported` here.
    async fn acknowledge_data_loss(&self) -> Result<()> {
        let operation = Operation::AcknowledgeDataLoss;
        let url = format!("{}{ACKNOWLEDGE_DATA_LOSS_PATH}", self.inner.base);
        let answer = self
            .send(operation, Method::POST, url, Some(Bytes::new()))
            .await?;
        match answer.status {
            StatusCode::NO_CONTENT => Ok(()),
            _ => Err(self.error_from(operation, &answer)),
        }
    }

    /// `GET` with the entry's `ETag` and expiry (see the crate docs).
    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        self.get_entry_over_http(key).await
    }

    /// `PUT` with `If-Match` / `If-None-Match: *` and `Flowstore-New-Version`.
    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        self.set_if_over_http(key, value, ttl, condition, new_version)
            .await
    }

    /// `DELETE` with `If-Match`.
    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        self.delete_if_over_http(key, expected).await
    }

    /// `GET {base}/states?prefix=&cursor=&limit=` (see the crate docs).
    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        self.list_over_http(prefix, cursor, limit).await
    }

    /// `POST {base}/delete-prefix`, one bounded step after another.
    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        self.delete_prefix_over_http(prefix).await
    }

    /// `POST {base}/batch/get`.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        self.get_many_over_http(keys).await
    }

    /// `POST {base}/batch/set`, split by size so that no request exceeds the
    /// server's body limit.
    async fn set_many(&self, items: &[SetItem<'_>]) -> Result<()> {
        self.set_many_over_http(items).await
    }

    /// `POST {base}/batch/delete`.
    async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        self.delete_many_over_http(keys).await
    }

    /// `PATCH {base}/states/{key}` with `{"ttl":…}`.
    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        self.touch_over_http(key, ttl).await
    }

    fn namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    fn max_value_size(&self) -> usize {
        self.inner.max_value_size
    }

    /// Everything against a flowstore server; no entry versions in plain-404
    /// mode (a server of the original design ignores conditions) or when
    /// [`versions(false)`](HttpStoreBuilder::versions) says the server's store
    /// keeps none. Listing and touch as the builder said (on by default, in
    /// key order only when [`list_ordered`](HttpStoreBuilder::list_ordered)
    /// says so, never in plain-404 mode).
    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
            .with_versions(self.inner.versions)
            .with_list(self.inner.list, self.inner.list_ordered)
            .with_touch(self.inner.touch)
    }
}

impl fmt::Debug for HttpStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("HttpStore")
            .field("base", &inner.base)
            .field("namespace", &inner.namespace)
            .field("headers", &HeaderNames(&inner.headers))
            .field("max_value_size", &inner.max_value_size)
            .field("request_timeout", &inner.request_timeout)
            .field("connect_timeout", &inner.connect_timeout)
            .field("plain_404", &inner.plain_404)
            .field("versions", &inner.versions)
            .field("list", &inner.list)
            .field("list_ordered", &inner.list_ordered)
            .field("touch", &inner.touch)
            .finish_non_exhaustive()
    }
}
