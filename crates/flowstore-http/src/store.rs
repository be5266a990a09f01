//! [`HttpStore`]: the `Store` over `GET/PUT/DELETE {base}/states/{key}`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flowstore_core::{
    Capabilities, Error, ErrorKind, Health, Key, Namespace, Result, Store, Ttl, async_trait,
    check_value_size,
};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::builder::{HeaderNames, HttpStoreBuilder};
use crate::protocol::{
    ABSENT_HEADER, ABSENT_VALUE, HEALTH_PATH, STATES_PATH, TTL_PARAMETER, decode_error, encode_key,
};

/// Room for an error body on top of the value limit when reading responses.
const RESPONSE_SLACK: usize = 64 * 1024;

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
}

/// What came back: status, headers, whole body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
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

    fn key_url(&self, key: &Key) -> String {
        let encoded = encode_key(key.as_str());
        let mut url = String::with_capacity(self.inner.base.len() + 8 + encoded.len() + 16);
        url.push_str(&self.inner.base);
        url.push_str(STATES_PATH);
        url.push('/');
        url.push_str(&encoded);
        url
    }

    async fn send(&self, method: Method, url: String, body: Option<Bytes>) -> Result<Answer> {
        let inner = &*self.inner;
        let uri = Uri::try_from(url)
            .map_err(|err| Error::config("cannot build the request URL").with_source(err))?;
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in &inner.headers {
            request = request.header(name, value.clone());
        }
        if body.is_some() {
            request = request.header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|err| Error::config("cannot build the request").with_source(err))?;
        let limit = inner.max_value_size.saturating_add(RESPONSE_SLACK);
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

    fn transport_error(&self, err: hyper_util::client::legacy::Error) -> Error {
        let base = &self.inner.base;
        let timed_out = io_kind_in_chain(&err) == Some(std::io::ErrorKind::TimedOut);
        let error = if timed_out && err.is_connect() {
            Error::timeout(format!(
                "cannot connect to {base} within {} ms",
                self.inner.connect_timeout.as_millis()
            ))
        } else if err.is_connect() {
            Error::unavailable(format!("cannot connect to {base}"))
        } else if hyper_error_in_chain(&err).is_some_and(hyper::Error::is_parse) {
            Error::backend(format!(
                "{base} sent something that is not a valid HTTP response"
            ))
            .with_temporary(true)
        } else {
            Error::unavailable(format!(
                "the connection to {base} failed before an answer arrived"
            ))
        };
        error.with_source(err)
    }

    fn body_error(&self, err: Box<dyn std::error::Error + Send + Sync>, limit: usize) -> Error {
        if err.is::<LengthLimitError>() {
            return Error::backend(format!(
                "{} sent a response body over {limit} bytes",
                self.inner.base
            ));
        }
        Error::unavailable(format!(
            "the response body from {} was cut short",
            self.inner.base
        ))
        .with_source(err)
    }

    /// The error for a response that is not a success.
    fn error_from(&self, answer: &Answer) -> Error {
        let status = answer.status;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "authentication failed: {} answered HTTP {}",
                    self.inner.base,
                    status.as_u16()
                ),
            );
        }
        if let Some(error) = decode_error(status, &answer.body) {
            return error;
        }
        let message = format!("{} answered HTTP {}", self.inner.base, status.as_u16());
        match status.as_u16() {
            413 => Error::new(ErrorKind::ValueTooLarge, message),
            429 | 502 | 503 => Error::unavailable(message),
            408 | 504 => Error::timeout(message),
            300..=399 => Error::backend(format!(
                "{message} (a redirect; point the store at the final URL)"
            )),
            500..=599 => Error::backend(message).with_temporary(true),
            _ => Error::backend(message),
        }
    }
}

fn io_kind_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cause = err.source();
    }
    None
}

fn hyper_error_in_chain<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a hyper::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = cause {
        if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
            return Some(hyper);
        }
        cause = err.source();
    }
    None
}

#[async_trait]
impl Store for HttpStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let answer = self.send(Method::GET, self.key_url(key), None).await?;
        match answer.status {
            StatusCode::OK => Ok(Some(Vec::from(answer.body))),
            StatusCode::NOT_FOUND
                if self.inner.plain_404
                    || answer
                        .headers
                        .get(ABSENT_HEADER)
                        .is_some_and(|value| value.as_bytes() == ABSENT_VALUE.as_bytes()) =>
            {
                Ok(None)
            }
            StatusCode::NOT_FOUND => Err(Error::backend(format!(
                "{} answered a plain HTTP 404, not a flowstore \"absent\" 404: the base URL may \
                 be wrong, or a proxy answered; for a server of the original design, turn on \
                 plain-404 mode",
                self.inner.base
            ))),
            status if status.is_success() => Err(Error::backend(format!(
                "{} answered HTTP {} to a GET; expected 200 or 404",
                self.inner.base,
                status.as_u16()
            ))),
            _ => Err(self.error_from(&answer)),
        }
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        check_value_size(value, self.inner.max_value_size)?;
        let mut url = self.key_url(key);
        if let Some(ttl) = ttl {
            url.push('?');
            url.push_str(TTL_PARAMETER);
            url.push('=');
            url.push_str(&ttl.to_string());
        }
        let body = Bytes::copy_from_slice(value);
        let answer = self.send(Method::PUT, url, Some(body)).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.error_from(&answer))
        }
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let answer = self.send(Method::DELETE, self.key_url(key), None).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.error_from(&answer))
        }
    }

    async fn clear(&self) -> Result<()> {
        let url = format!("{}{STATES_PATH}", self.inner.base);
        let answer = self.send(Method::DELETE, url, None).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.error_from(&answer))
        }
    }

    /// `GET {base}/healthz`: the server's own probe, which reads no user data.
    /// A degraded server (one whose fallback serves) still serves: `Ok`.
    async fn ping(&self) -> Result<Health> {
        let url = format!("{}{HEALTH_PATH}", self.inner.base);
        let answer = self.send(Method::GET, url, None).await?;
        match answer.status {
            StatusCode::OK => Ok(Health::ok()),
            // The health body is not an error body: say what the status means.
            StatusCode::SERVICE_UNAVAILABLE => Err(Error::unavailable(
                "the flowstore server reports that none of its stores can serve",
            )),
            _ => Err(self.error_from(&answer)),
        }
    }

    fn namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    fn max_value_size(&self) -> usize {
        self.inner.max_value_size
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
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
            .finish_non_exhaustive()
    }
}
