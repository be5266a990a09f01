//! The axum router: routes, handlers, and the front door (auth, timeout, logs, metrics).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use axum::middleware::{self, Next};
use axum::routing::{MethodRouter, get, post};
use flowstore_core::health::{PartDown, parts_down};
use flowstore_core::{Condition, Error, ErrorKind, Key, Result, Store, Ttl, Version};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use flowstore_http::protocol::{
    ABSENT_HEADER, ABSENT_VALUE, BATCH_DELETE_PATH, BATCH_GET_PATH, BATCH_SET_PATH,
    DELETE_PREFIX_PATH, EXPIRES_AT_HEADER, NAMESPACE_HEADER, NEW_VERSION_HEADER, VERSIONED_HEADER,
    decode_key, decode_namespace, delete_condition, proposed_version, put_condition,
    refuse_get_conditions,
};

use crate::batch;
use crate::config::{ServerConfig, Token};
use crate::console;
use crate::flows;
use crate::host::is_loopback_host;
use crate::query::{Query, known_parameters_only};
use crate::response::{error_response, store_error_response};
use crate::telemetry;
use crate::versioned;

/// The OpenAPI 3 document of the protocol, as served at `GET /openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// The key `/healthz` used to read. It reads no key any more (a key users can
/// write made every probe as costly as what they stored there): it asks the
/// store's [`Store::ping`].
#[deprecated(note = "`/healthz` calls `Store::ping` and reads no key")]
pub const HEALTHZ_KEY: &str = "__flowstore_healthz__";

const STATES_PREFIX: &str = "/states/";

/// `POST`: acknowledges that the store lost data ([`Store::acknowledge_data_loss`]).
pub const ACKNOWLEDGE_DATA_LOSS_PATH: &str = "/admin/acknowledge-data-loss";

pub(crate) struct AppState {
    pub(crate) store: Arc<dyn Store>,
    token: Option<Token>,
    request_timeout: Duration,
    pub(crate) max_value_size: usize,
    metrics: bool,
    /// The store keeps entry versions: reads answer with an `ETag`, writes
    /// honour conditions (SPEC §8).
    versions: bool,
    /// The store lists every key once, in key order: said in every listing
    /// page, so that a client claims it only when true.
    pub(crate) list_ordered: bool,
    /// The console's files are served (and public).
    console: bool,
    /// Answer only requests addressed to a loopback name (the request
    /// target's authority, else `Host`; see [`addressed_to_loopback`]) and
    /// that no other site's page sent: on when there is no token and nothing
    /// in front of the server authenticates.
    loopback_hosts_only: bool,
    /// The origins CORS admits (`--allow-origin`): pages a user chose to let
    /// call this server, also when it has no token.
    allowed_origins: Vec<String>,
}

/// The router of a flowstore server over `store`, for embedding in an axum
/// application (for example under `Router::nest("/api", …)`). [`crate::bind`]
/// and [`crate::serve`] use it; they add the listener, timeouts on connections
/// and graceful shutdown.
///
/// Auth, the request timeout, request logs and metrics are applied to every
/// route; CORS when `config.allow_origins` is not empty. A bad CORS origin is a
/// `Config` error.
pub fn router(store: Arc<dyn Store>, config: &ServerConfig) -> Result<Router> {
    let cors = cors_layer(&config.allow_origins)?;
    if config.metrics {
        telemetry::prometheus();
    }
    let state = Arc::new(AppState {
        max_value_size: store.max_value_size(),
        versions: store.capabilities().versions,
        list_ordered: store.capabilities().list_ordered,
        store,
        token: config.token.clone(),
        request_timeout: config.request_timeout,
        metrics: config.metrics,
        console: config.console,
        loopback_hosts_only: config.token.is_none() && !config.insecure_no_token,
        allowed_origins: config.allow_origins.clone(),
    });
    let mut app = Router::new()
        .route(
            "/states/{key}",
            checked(
                get(get_state)
                    .put(put_state)
                    .delete(delete_state)
                    .patch(batch::touch_state),
            ),
        )
        .route(
            "/states",
            checked(get(batch::list_states).delete(clear_states)),
        )
        .route(BATCH_GET_PATH, checked(post(batch::batch_get)))
        .route(BATCH_SET_PATH, checked(post(batch::batch_set)))
        .route(BATCH_DELETE_PATH, checked(post(batch::batch_delete)))
        .route(DELETE_PREFIX_PATH, checked(post(batch::delete_prefix)))
        .route(
            ACKNOWLEDGE_DATA_LOSS_PATH,
            checked(post(acknowledge_data_loss)),
        )
        .route("/healthz", checked(get(healthz)))
        .route("/metrics", checked(get(metrics_text)))
        .route("/openapi.yaml", checked(get(openapi)))
        .route("/flows", checked(get(flows::discover)))
        .route("/flows/{flow_id}/summary", checked(get(flows::summary)))
        .route("/flows/{flow_id}/instances", checked(get(flows::instances)));
    if config.console {
        app = app
            .route("/console", checked(get(console::redirect)))
            .route("/console/", checked(get(console::index)))
            .route("/console/{file}", checked(get(console::asset)));
    }
    let mut app = app
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            front_door,
        ))
        .with_state(state);
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    // A stored value is served as `application/octet-stream`: a browser must
    // never guess it is HTML or script. Outermost, so that every answer says
    // it, also the CORS preflights that never reach the front door.
    Ok(app.layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    )))
}

/// `route` with the query check ([`known_parameters_only`]) in front of its
/// handlers only: a method the route does not have stays `405 Method Not
/// Allowed` whatever its query, as the OpenAPI document says, and an unknown
/// route a plain 404 (the fallback has no check). Every route goes through
/// this.
fn checked(route: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    route.route_layer(middleware::from_fn(known_parameters_only))
}

fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        let mut values = Vec::with_capacity(origins.len());
        for origin in origins {
            values.push(parse_origin(origin)?);
        }
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::PUT,
                Method::DELETE,
                Method::POST,
                Method::PATCH,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static(NEW_VERSION_HEADER),
            ])
            .expose_headers([
                HeaderName::from_static(ABSENT_HEADER),
                header::ETAG,
                HeaderName::from_static(EXPIRES_AT_HEADER),
                HeaderName::from_static(VERSIONED_HEADER),
            ])
            .max_age(Duration::from_secs(600)),
    ))
}

fn parse_origin(origin: &str) -> Result<HeaderValue> {
    let bad = || {
        Error::config(format!(
            "allowed origin {origin:?} is not an origin: expected scheme://host[:port] without a path, or *"
        ))
    };
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(bad)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(bad());
    }
    HeaderValue::from_str(origin).map_err(|_| bad())
}

/// Auth, request timeout, request log and metrics, around every route.
async fn front_door(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let started = Instant::now();
    let method = telemetry::method_label(request.method());
    let route = telemetry::route_label(request.uri().path());
    // Decided by the path itself, never by a metrics label.
    let public = is_public(request.uri().path(), state.console);
    let response = if state.loopback_hosts_only && !addressed_to_loopback(&request) {
        error_response(
            StatusCode::MISDIRECTED_REQUEST,
            &Error::new(
                ErrorKind::Unauthorized,
                "this server has no token and answers only requests addressed to localhost, \
                 127.0.0.0/8 or [::1] (the Host header names another host)",
            ),
        )
    } else if state.loopback_hosts_only && !same_site_or_allowed(&state, request.headers()) {
        // Without a token a page on any other site could otherwise write and
        // delete through the user's browser (a "simple" cross-site POST needs
        // no preflight); browsers name the sending page in `Origin`.
        error_response(
            StatusCode::FORBIDDEN,
            &Error::new(
                ErrorKind::Unauthorized,
                "this server has no token and refuses requests sent by another site's page \
                 (the Origin header names a host that is not loopback and not allowed)",
            ),
        )
    } else if !public && !authorized(state.token.as_ref(), request.headers()) {
        let mut response = error_response(
            StatusCode::UNAUTHORIZED,
            &Error::new(ErrorKind::Unauthorized, "missing or wrong bearer token"),
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    } else if !serves_namespace(state.store.namespace().as_str(), request.headers()) {
        error_response(
            StatusCode::BAD_REQUEST,
            &Error::config("this server serves a different namespace than the client asked for"),
        )
    } else {
        match tokio::time::timeout(state.request_timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => error_response(
                StatusCode::GATEWAY_TIMEOUT,
                &Error::timeout(format!(
                    "the request took longer than the server's limit of {} ms",
                    state.request_timeout.as_millis()
                )),
            ),
        }
    };
    telemetry::record(method, route, response.status(), started.elapsed());
    response
}

/// The routes anyone may call: `/healthz`, and the console's files when it
/// is on.
fn is_public(path: &str, console: bool) -> bool {
    path == "/healthz" || (console && (path == "/console" || path.starts_with("/console/")))
}

/// Whether a request without a token may be served as far as its sender is
/// concerned: no `Origin` (not sent by a page, or a same-origin GET), a
/// loopback origin, or one CORS was told to admit.
fn same_site_or_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if state
        .allowed_origins
        .iter()
        .any(|allowed| allowed == origin)
    {
        return true;
    }
    origin
        .split_once("://")
        .is_some_and(|(scheme, host)| matches!(scheme, "http" | "https") && is_loopback_host(host))
}

/// Whether the authority the request is addressed to is a loopback name. No
/// authority at all is refused too.
///
/// The request target's authority wins over `Host` when there is one: an
/// absolute-form target (`GET http://host/states HTTP/1.1`) names the host
/// and `Host` is to be ignored (RFC 9112 §3.2.2), and in HTTP/2 hyper puts
/// `:authority`, which takes precedence over `Host` (RFC 9113 §8.3.1), in
/// the URI. Judging `Host` alone would let such a request pass on a header
/// the server does not go by.
///
/// Of the authority, only `host[:port]` is judged: the userinfo a target may
/// carry (`http://user@localhost/`) names no host (`http://localhost@evil/`
/// is addressed to `evil`).
fn addressed_to_loopback(request: &Request) -> bool {
    let host = match request.uri().authority() {
        Some(authority) => Some(
            authority
                .as_str()
                .rsplit_once('@')
                .map_or(authority.as_str(), |(_userinfo, host_port)| host_port),
        ),
        None => request
            .headers()
            .get(header::HOST)
            .and_then(|value| value.to_str().ok()),
    };
    host.is_some_and(is_loopback_host)
}

/// False when the request names (in [`NAMESPACE_HEADER`]) a namespace other than
/// the one this server serves. A request that names none is served.
fn serves_namespace(served: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(NAMESPACE_HEADER) else {
        return true;
    };
    decode_namespace(value).is_some_and(|asked| asked == served)
}

fn authorized(token: Option<&Token>, headers: &HeaderMap) -> bool {
    let Some(token) = token else {
        return true;
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    // `Bearer <token>`, scheme case-insensitive (RFC 9110 §11.1).
    match value.split_at_checked(7) {
        Some((scheme, candidate)) if scheme.eq_ignore_ascii_case(b"bearer ") => {
            token.matches(candidate)
        }
        _ => false,
    }
}

/// The key of a `/states/{key}` request, from the raw (still percent-encoded)
/// path, decoded exactly once.
pub(crate) fn key_of(request: &Request) -> Result<Key> {
    let raw = request
        .uri()
        .path()
        .strip_prefix(STATES_PREFIX)
        .unwrap_or_default();
    decode_key(raw)
}

pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

pub(crate) fn failed(operation: &'static str, err: &Error) -> Response<Body> {
    // A failed condition is an answer, not a failure of the store.
    if let Some(response) = versioned::conflict_response(err) {
        return response;
    }
    if !matches!(
        err.kind(),
        ErrorKind::InvalidKey | ErrorKind::InvalidArgument | ErrorKind::ValueTooLarge
    ) {
        tracing::warn!(
            target: "flowstore_server::store",
            operation,
            kind = err.kind().as_str(),
            error = %err.to_one_line(),
            "store operation failed"
        );
    }
    store_error_response(err)
}

/// `GET`: on a store with entry versions, `get_entry` (still one read of the
/// store), answering with the `ETag` and the expiry too; otherwise `get`.
///
/// When the store cannot say the version right now but may still serve the
/// value — a fallback whose primary is down (its versions are the primary's),
/// a Redis user allowed `GET` but not the scripts — the answer is `get`'s,
/// without an `ETag`: an original-design client keeps being served exactly as
/// before, and a versioned client learns that no version is known.
async fn get_state(State(state): State<Arc<AppState>>, request: Request) -> Response<Body> {
    let key = match key_of(&request) {
        Ok(key) => key,
        Err(err) => return store_error_response(&err),
    };
    if let Err(err) = refuse_get_conditions(request.headers()).and_then(|()| no_proposal(&request))
    {
        return store_error_response(&err);
    }
    if state.versions {
        match state.store.get_entry(&key).await {
            Ok(Some(entry)) => {
                let mut headers = HeaderMap::new();
                versioned::entry_headers(&entry, &mut headers);
                let mut response = value_response(entry.value);
                response.headers_mut().extend(headers);
                return response;
            }
            Ok(None) => {
                let mut response = absent_response();
                versioned::mark(response.headers_mut());
                return response;
            }
            Err(err) if !may_serve_without_version(&err) => return failed("get", &err),
            Err(_) => {}
        }
    }
    match state.store.get(&key).await {
        Ok(Some(value)) => value_response(value),
        Ok(None) => absent_response(),
        Err(err) => failed("get", &err),
    }
}

/// `POST /admin/acknowledge-data-loss`: after a store reported `data_loss`
/// (its backend came back empty), reads are served again and lost keys read as
/// absent. `204`; `501` for a store that does not detect data loss. Behind the
/// token like every route but `/healthz`.
async fn acknowledge_data_loss(State(state): State<Arc<AppState>>) -> Response<Body> {
    match state.store.acknowledge_data_loss().await {
        Ok(()) => {
            tracing::warn!(
                target: "flowstore_server::store",
                "data loss acknowledged: reads are served again"
            );
            empty(StatusCode::NO_CONTENT)
        }
        Err(err) => failed("acknowledge_data_loss", &err),
    }
}

/// Errors of a versioned call after which the plain call may still answer:
/// the versioned path is down, slow or refused while the plain one may not be
/// (a fallback's versions are its primary's, and a primary that stopped
/// answering makes `get_entry` time out where `get` moves on to the next
/// store). A store that is down altogether fails the plain call too, after
/// as long again; a corrupt entry or a backend error is answered as it is.
fn may_serve_without_version(err: &Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::Unavailable
            | ErrorKind::Timeout
            | ErrorKind::Unsupported
            | ErrorKind::Unauthorized
    )
}

/// `Flowstore-New-Version` names the version a write gives the key: on a
/// request that writes none, it is a mistake worth saying.
pub(crate) fn no_proposal(request: &Request) -> Result<()> {
    if request.headers().contains_key(NEW_VERSION_HEADER) {
        return Err(Error::invalid_argument(format!(
            "{NEW_VERSION_HEADER} is only for PUT: this request writes no version"
        )));
    }
    Ok(())
}

fn value_response(value: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::from(value));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(crate) fn absent_response() -> Response<Body> {
    let mut response = empty(StatusCode::NOT_FOUND);
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static(ABSENT_HEADER),
        HeaderValue::from_static(ABSENT_VALUE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn put_state(
    State(state): State<Arc<AppState>>,
    Extension(query): Extension<Query>,
    request: Request,
) -> Response<Body> {
    let key = match key_of(&request) {
        Ok(key) => key,
        Err(err) => return store_error_response(&err),
    };
    // The headers are checked before the body is read: a refused condition
    // costs no upload.
    let (condition, proposed) = match put_condition(request.headers())
        .and_then(|condition| Ok((condition, proposed_version(request.headers())?)))
    {
        Ok(parsed) => parsed,
        Err(err) => return store_error_response(&err),
    };
    if !state.versions && (condition.is_some() || proposed.is_some()) {
        return store_error_response(&versioned::no_versions());
    }
    let limit = state.max_value_size;
    let too_large = |size: Option<u64>| {
        let message = match size {
            Some(size) => format!("value is {size} bytes, this store's limit is {limit} bytes"),
            None => format!("value is larger than this store's limit of {limit} bytes"),
        };
        store_error_response(&Error::new(ErrorKind::ValueTooLarge, message))
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|size| size > limit as u64) {
        return too_large(declared);
    }
    let value = match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<LengthLimitError>() => return too_large(None),
        Err(_) => {
            return store_error_response(&Error::invalid_argument(
                "could not read the request body",
            ));
        }
    };
    if !state.versions {
        return match state.store.set(&key, &value, query.ttl).await {
            Ok(()) => empty(StatusCode::NO_CONTENT),
            Err(err) => failed("set", &err),
        };
    }
    let Some(condition) = condition else {
        return plain_put(&state, &key, &value, query.ttl, proposed).await;
    };
    let version = proposed.unwrap_or_else(Version::generate);
    match state
        .store
        .set_if(&key, &value, query.ttl, &condition, &version)
        .await
    {
        Ok(()) => versioned::written(Some(&version)),
        Err(err) => failed("set", &err),
    }
}

/// An unconditional `PUT` on a store with entry versions: `set_if(Always, …)`,
/// so that it answers with the version it wrote.
///
/// When the versioned write is unavailable, unsupported or refused while a
/// plain one may still succeed — a fallback whose primary is down (its
/// versions are the primary's), a Redis user allowed `SET` but not the
/// scripts — the `PUT` is the store's plain `set`, answered without an `ETag`,
/// as the original design's server answered it. A write whose answer was
/// lost may then be written twice with the same value, which an
/// unconditional write allows. With a proposed version there is no such
/// retreat: the client asked for that version, and gets it or an error.
async fn plain_put(
    state: &AppState,
    key: &Key,
    value: &[u8],
    ttl: Option<Ttl>,
    proposed: Option<Version>,
) -> Response<Body> {
    let asked_for_a_version = proposed.is_some();
    let version = proposed.unwrap_or_else(Version::generate);
    match state
        .store
        .set_if(key, value, ttl, &Condition::Always, &version)
        .await
    {
        Ok(()) => return versioned::written(Some(&version)),
        Err(err) if asked_for_a_version || !may_serve_without_version(&err) => {
            return failed("set", &err);
        }
        Err(_) => {}
    }
    match state.store.set(key, value, ttl).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(err) => failed("set", &err),
    }
}

async fn delete_state(State(state): State<Arc<AppState>>, request: Request) -> Response<Body> {
    let key = match key_of(&request) {
        Ok(key) => key,
        Err(err) => return store_error_response(&err),
    };
    let expected = match delete_condition(request.headers())
        .and_then(|expected| no_proposal(&request).map(|()| expected))
    {
        Ok(expected) => expected,
        Err(err) => return store_error_response(&err),
    };
    if let Some(expected) = expected {
        if !state.versions {
            return store_error_response(&versioned::no_versions());
        }
        return match state.store.delete_if(&key, &expected).await {
            Ok(()) => versioned::written(None),
            Err(err) => failed("delete", &err),
        };
    }
    match state.store.delete(&key).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(err) => failed("delete", &err),
    }
}

async fn clear_states(State(state): State<Arc<AppState>>) -> Response<Body> {
    match state.store.clear().await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(err) => failed("clear", &err),
    }
}

/// The store's [`Store::ping`]: `200 ok` when every store answers, `200
/// degraded` when the stack still serves but a store of it does not, `503
/// down` when it cannot serve. The route needs no token, so the body names
/// stores by role and position and says why by error kind only; the messages
/// go to the log.
async fn healthz(State(state): State<Arc<AppState>>) -> Response<Body> {
    match state.store.ping().await {
        Ok(health) if !health.is_degraded() => {
            health_response(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
        }
        Ok(health) => {
            let down = parts_json(&health.down);
            tracing::warn!(
                target: "flowstore_server::store",
                operation = "ping",
                down = %down,
                "the store serves, but some of its stores do not"
            );
            health_response(
                StatusCode::OK,
                format!(r#"{{"status":"degraded","down":{down}}}"#),
            )
        }
        Err(err) => {
            tracing::warn!(
                target: "flowstore_server::store",
                operation = "ping",
                kind = err.kind().as_str(),
                error = %err.to_one_line(),
                "the store cannot serve"
            );
            let down = parts_json(&parts_down(&err));
            let kind = err.kind().as_str();
            health_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(r#"{{"status":"down","error":"{kind}","down":{down}}}"#),
            )
        }
    }
}

/// `[{"store":"primary","error":"unavailable"}, …]`. Written by hand: role
/// names and error kinds are fixed ASCII words that need no escaping.
fn parts_json(parts: &[PartDown]) -> String {
    let items: Vec<String> = parts
        .iter()
        .map(|down| {
            format!(
                r#"{{"store":"{}","error":"{}"}}"#,
                down.part,
                down.kind.as_str()
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn health_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // A cached "ok" would hide an outage from the next probe.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response<Body> {
    let handle = if state.metrics {
        telemetry::prometheus()
    } else {
        None
    };
    let Some(handle) = handle else {
        return store_error_response(&Error::unsupported(
            "metrics are off, or another metrics recorder is installed in this process",
        ));
    };
    let mut response = Response::new(Body::from(handle.render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn openapi() -> Response<Body> {
    let mut response = Response::new(Body::from(OPENAPI_YAML));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    response
}

async fn fallback(request: Request) -> Response<Body> {
    if request.uri().path().starts_with(STATES_PREFIX) {
        return store_error_response(&Error::invalid_key(
            "the key must be exactly one non-empty path segment (percent-encode `/` as %2F)",
        ));
    }
    let mut response = Response::new(Body::from("no such route\n"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_exact() {
        let token = Token::new("abc").unwrap();
        let check = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            authorized(Some(&token), &headers)
        };
        assert!(check("Bearer abc"));
        assert!(check("bearer abc"));
        assert!(!check("Bearer abcd"));
        assert!(!check("Bearer  abc"));
        assert!(!check("Basic abc"));
        assert!(!check("Bearer"));
        assert!(!authorized(Some(&token), &HeaderMap::new()));
        assert!(authorized(None, &HeaderMap::new()));
    }

    #[test]
    fn origins_are_checked() {
        assert!(parse_origin("https://app.example.com").is_ok());
        assert!(parse_origin("http://localhost:3000").is_ok());
        for bad in [
            "app.example.com",
            "https://a.com/",
            "https://",
            "ftp://x",
            "https://a b",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
