//! The routes of SPEC §9: listing (`GET /states`), the batch routes
//! (`POST /batch/get|set|delete`), the prefix delete in bounded steps
//! (`POST /delete-prefix`) and touch (`PATCH /states/{key}`).
//!
//! Every body is JSON of the shapes in `flowstore_http::protocol`, read under
//! a limit before it is parsed; a body that does not parse is `400
//! invalid_argument` and nothing is written.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderValue, Response, StatusCode, header};
use flowstore_core::listing::{check_batch_len, check_list_limit};
use flowstore_core::{Cursor, Error, ErrorKind, Key, Prefix, Result, SetItem};
use flowstore_http::protocol::{
    DEFAULT_LIST_LIMIT, DELETE_PREFIX_STEP, DeletePrefixAnswer, DeletePrefixBody, EncodedValue,
    KeysBody, SetBody, TOUCH_BODY_LIMIT, TouchBody, ValuesBody, WirePage, batch_answer_budget,
    batch_body_limit, parse_ttl,
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::{AppState, absent_response, empty, failed, key_of, no_proposal};
use crate::query::Query;
use crate::response::store_error_response;

/// The most bytes of a prefix-delete body: a prefix of up to 1 KiB, escaped,
/// and a cursor of up to 4 KiB.
const DELETE_PREFIX_BODY_LIMIT: usize = 64 * 1024;

/// `GET /states?prefix=&cursor=&limit=`: one page of the listing.
pub(crate) async fn list_states(
    State(state): State<Arc<AppState>>,
    Extension(query): Extension<Query>,
) -> Response<Body> {
    let parsed = (|| -> Result<_> {
        let prefix = Prefix::new(query.prefix.unwrap_or_default())?;
        let cursor = query.cursor.map(Cursor::new).transpose()?;
        let limit = query.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        check_list_limit(limit)?;
        Ok((prefix, cursor, limit))
    })();
    let (prefix, cursor, limit) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return store_error_response(&err),
    };
    match state.store.list(&prefix, cursor.as_ref(), limit).await {
        Ok(page) => json_response(&WirePage::from_page(page, state.list_ordered)),
        Err(err) => failed("list", &err),
    }
}

/// `POST /batch/get`: the values of up to `MAX_BATCH_LEN` keys, in request
/// order, `null` where absent.
pub(crate) async fn batch_get(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response<Body> {
    let limit = batch_body_limit(state.max_value_size);
    let keys = match read_json::<KeysBody>(request, limit)
        .await
        .and_then(|body| keys_of(body.keys))
    {
        Ok(keys) => keys,
        Err(err) => return store_error_response(&err),
    };
    match state.store.get_many(&keys).await {
        Ok(values)
            if keys.len() > 1
                && answer_bytes(&values) > batch_answer_budget(state.max_value_size) =>
        {
            store_error_response(&Error::new(
                ErrorKind::ValueTooLarge,
                format!(
                    "the values of this batch add up to more than the {} bytes one answer carries: ask for fewer keys",
                    batch_answer_budget(state.max_value_size)
                ),
            ))
        }
        Ok(values) => json_response(&ValuesBody {
            values: values
                .into_iter()
                .map(|value| value.map(|bytes| EncodedValue::encode(&bytes)))
                .collect(),
        }),
        Err(err) => failed("get_many", &err),
    }
}

fn answer_bytes(values: &[Option<Vec<u8>>]) -> usize {
    values.iter().flatten().map(Vec::len).sum()
}

/// `POST /batch/set`: every write, each with its own TTL. Everything is
/// decoded and checked before the store sees the batch, and the store checks
/// every value and TTL before it writes: a refused batch writes nothing.
pub(crate) async fn batch_set(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response<Body> {
    let limit = batch_body_limit(state.max_value_size);
    let body = match read_json::<SetBody>(request, limit).await {
        Ok(body) => body,
        Err(err) => return store_error_response(&err),
    };
    let decoded = (|| -> Result<Vec<_>> {
        check_batch_len(body.items.len())?;
        let mut decoded = Vec::with_capacity(body.items.len());
        for entry in body.items {
            let key = Key::new(entry.key)?;
            let ttl = parse_ttl(entry.ttl.as_deref())?;
            decoded.push((key, entry.value.decode()?, ttl));
        }
        Ok(decoded)
    })();
    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(err) => return store_error_response(&err),
    };
    let items: Vec<SetItem<'_>> = decoded
        .iter()
        .map(|(key, value, ttl)| SetItem::new(key, value, *ttl))
        .collect();
    match state.store.set_many(&items).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(err) => failed("set_many", &err),
    }
}

/// `POST /batch/delete`: removes up to `MAX_BATCH_LEN` keys.
pub(crate) async fn batch_delete(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response<Body> {
    let limit = batch_body_limit(state.max_value_size);
    let keys = match read_json::<KeysBody>(request, limit)
        .await
        .and_then(|body| keys_of(body.keys))
    {
        Ok(keys) => keys,
        Err(err) => return store_error_response(&err),
    };
    match state.store.delete_many(&keys).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(err) => failed("delete_many", &err),
    }
}

/// `POST /delete-prefix`: one bounded step of a prefix delete — one listing
/// page of up to [`DELETE_PREFIX_STEP`] keys from the body's cursor, removed
/// with one batch delete — answering how many went and where the next step
/// starts. A step stays well inside the request timeout however many keys
/// the prefix covers; the client sends steps until `next` is `null`.
pub(crate) async fn delete_prefix(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response<Body> {
    let body = match read_json::<DeletePrefixBody>(request, DELETE_PREFIX_BODY_LIMIT).await {
        Ok(body) => body,
        Err(err) => return store_error_response(&err),
    };
    let parsed = body
        .checked_prefix()
        .and_then(|prefix| Ok((prefix, body.cursor.map(Cursor::new).transpose()?)));
    let (prefix, cursor) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return store_error_response(&err),
    };
    let page = match state
        .store
        .list(&prefix, cursor.as_ref(), DELETE_PREFIX_STEP)
        .await
    {
        Ok(page) => page,
        Err(err) => return failed("delete_prefix", &err),
    };
    let keys: Vec<Key> = page.items.into_iter().map(|item| item.key).collect();
    if let Err(err) = state.store.delete_many(&keys).await {
        return failed("delete_prefix", &err);
    }
    json_response(&DeletePrefixAnswer {
        deleted: keys.len() as u64,
        next: page.next.map(|next| next.as_str().to_owned()),
    })
}

/// `PATCH /states/{key}` with `{"ttl":"30s"}` or `{"ttl":null}`: a new TTL
/// (or none) without rewriting the value. `204` when the key was there, the
/// "absent" `404` when it was not.
///
/// The answer carries no `ETag`: the store's touch does not say the version
/// it wrote, and a version read afterwards may be a later writer's, which a
/// client would then overwrite unseen with `If-Match`.
pub(crate) async fn touch_state(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response<Body> {
    let key = match key_of(&request) {
        Ok(key) => key,
        Err(err) => return store_error_response(&err),
    };
    if let Err(err) = no_conditions(&request).and_then(|()| no_proposal(&request)) {
        return store_error_response(&err);
    }
    let ttl = match read_json::<TouchBody>(request, TOUCH_BODY_LIMIT).await {
        Ok(body) => match parse_ttl(body.ttl.as_deref()) {
            Ok(ttl) => ttl,
            Err(err) => return store_error_response(&err),
        },
        Err(err) => return store_error_response(&err),
    };
    match state.store.touch(&key, ttl).await {
        Ok(true) => empty(StatusCode::NO_CONTENT),
        Ok(false) => absent_response(),
        Err(err) => failed("touch", &err),
    }
}

/// A touch takes no condition: one silently ignored would lie.
fn no_conditions(request: &Request) -> Result<()> {
    for name in [
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_UNMODIFIED_SINCE,
    ] {
        if request.headers().contains_key(&name) {
            return Err(Error::invalid_argument(format!(
                "{name} is not supported on PATCH (touch is unconditional)"
            )));
        }
    }
    Ok(())
}

fn keys_of(keys: Vec<String>) -> Result<Vec<Key>> {
    check_batch_len(keys.len())?;
    keys.into_iter().map(Key::new).collect()
}

/// The request body as `T`, read under `limit` bytes: `ValueTooLarge` (413)
/// over it, `InvalidArgument` (400) when it is not the expected JSON. The
/// message names where the JSON went wrong, never what it held (a value).
async fn read_json<T: DeserializeOwned>(request: Request, limit: usize) -> Result<T> {
    let too_large = || {
        Error::new(
            ErrorKind::ValueTooLarge,
            format!("the request body is larger than this route's limit of {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|size| size > limit as u64) {
        return Err(too_large());
    }
    let bytes = match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<LengthLimitError>() => return Err(too_large()),
        Err(_) => return Err(Error::invalid_argument("could not read the request body")),
    };
    serde_json::from_slice(&bytes).map_err(|err| {
        let what = match err.classify() {
            serde_json::error::Category::Data => "does not have the expected fields",
            _ => "is not valid JSON",
        };
        Error::invalid_argument(format!(
            "the request body {what} (line {}, column {}); see docs/http.md",
            err.line(),
            err.column()
        ))
    })
}

pub(crate) fn json_response<T: Serialize>(body: &T) -> Response<Body> {
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        Err(_) => {
            return store_error_response(&Error::backend("could not write the answer as JSON"));
        }
    };
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
