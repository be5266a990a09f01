//! The console's flow routes: `GET /flows` (which flow ids have keys),
//! `GET /flows/{flowId}/summary` (how many active instances sit at each step,
//! how many are complete) and `GET /flows/{flowId}/instances` (one row per
//! instance).
//!
//! `GET /flows` pages through the keys of every flow (`{prefix}:`) with one
//! `list` of at most [`MAX_BATCH_LEN`] keys and reads no value: the flow id is
//! the key's second segment. The other two page through the flow's keys
//! (`{prefix}:{flowId}:`, the original design's default layout, `useflow`
//! unless `prefix` names another first segment) with one `list` and batch
//! reads of what it listed, at most [`MAX_BATCH_LEN`] keys per request: a
//! large flow costs many small requests, each bounded in time and memory,
//! never one that loads the namespace: values are read 100 at a time and each
//! chunk is reduced to the few fields shown (stored strings cut to 200
//! characters) before the next is read. An answer with a `next` cursor
//! stopped early; the console asks again with it.
//!
//! A value that is not a flow instance is counted (`invalid`), never an error:
//! one bad entry must not hide the rest. A store failure is an error, never an
//! empty flow.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{Response, Uri};
use flowstore_core::listing::{MAX_BATCH_LEN, check_list_limit};
use flowstore_core::url::percent_decode_exact;
use flowstore_core::{Cursor, Error, Key, ListItem, Prefix, Result};
use flowstore_flow::{DefaultLayout, FlowInstance, FlowStatus, KeyLayout};
use flowstore_http::protocol::format_expires_at;
use serde::Serialize;

use crate::app::{AppState, failed};
use crate::batch::json_response;
use crate::query::Query;
use crate::response::store_error_response;

/// Keys a summary reads per request when the client names no `limit`.
const DEFAULT_SUMMARY_LIMIT: usize = MAX_BATCH_LEN;
/// Keys a discovery lists per request when the client names no `limit`.
const DEFAULT_DISCOVER_LIMIT: usize = MAX_BATCH_LEN;
/// Rows of an instances page when the client names no `limit`.
const DEFAULT_INSTANCES_LIMIT: usize = 50;
/// Keys per batch read: a thousand large values at once would hold them all
/// in memory together.
const READ_CHUNK: usize = 100;

/// The answer of `GET /flows/{flowId}/summary`.
#[derive(Debug, Default, Serialize)]
struct Summary {
    /// The key prefix that was scanned.
    prefix: String,
    /// Keys read by this request.
    scanned: usize,
    /// Active instances per step id (key order).
    steps: BTreeMap<String, u64>,
    /// Instances whose status is `complete`.
    completed: u64,
    /// Instances with a status other than `active` or `complete`.
    other: u64,
    /// Values under the prefix that are not flow instances.
    invalid: u64,
    /// Keys listed but gone before they were read.
    vanished: u64,
    /// Where to go on, `null` when the flow was read to its end.
    next: Option<String>,
    /// The store's `list_ordered`: `false` when a key may be listed twice
    /// (a Redis `SCAN`), so that counts added up over pages may count it twice.
    ordered: bool,
}

/// The answer of `GET /flows`: the flow ids found in one page of keys.
#[derive(Debug, Serialize)]
struct Discovered {
    /// The key prefix that was scanned (`{prefix}:`).
    prefix: String,
    /// Keys listed by this request.
    scanned: usize,
    /// The flow ids of those keys, in id order, with how many keys each had
    /// in this page (a flow can span pages: add the counts up).
    flows: Vec<FlowKeys>,
    /// Keys under the prefix that are not `{prefix}:{flowId}:…`.
    other: u64,
    /// Where to go on, `null` when every key under the prefix was listed.
    next: Option<String>,
    /// The store's `list_ordered`: `false` when a key may be listed twice
    /// (a Redis `SCAN`), so that counts added up over pages may count it twice.
    ordered: bool,
}

#[derive(Debug, Serialize)]
struct FlowKeys {
    flow_id: String,
    keys: u64,
}

/// One row of `GET /flows/{flowId}/instances`. Field names are snake_case
/// like the listing's (`expires_at`).
#[derive(Debug, Serialize)]
struct InstanceRow {
    key: String,
    /// The store's entry version of the key, as the listing saw it.
    version: Option<String>,
    expires_at: Option<String>,
    size: u64,
    /// `null` when the value is not a flow instance (then `invalid` says why).
    instance_id: Option<String>,
    variant_id: Option<String>,
    step: Option<String>,
    status: Option<String>,
    saved_at: Option<u64>,
    schema_version: Option<String>,
    invalid: Option<String>,
}

#[derive(Debug, Serialize)]
struct InstancesPage {
    prefix: String,
    items: Vec<InstanceRow>,
    next: Option<String>,
}

/// One listed key and what its value showed: `None` if it was deleted since
/// it was listed, `Some(None)` if it is not a flow instance. The value itself
/// is dropped as soon as its chunk is read, so a request holds at most one
/// chunk of values, never a whole page.
struct Read {
    item: ListItem,
    glance: Option<Option<Glance>>,
}

/// The fields the console shows of an instance, each cut to
/// [`MAX_SHOWN_CHARS`] (stored ids and step names can be any length).
struct Glance {
    instance_id: String,
    variant_id: String,
    step: String,
    status: FlowStatus,
    saved_at: Option<u64>,
    schema_version: Option<String>,
}

/// The longest stored string an answer repeats, in characters.
const MAX_SHOWN_CHARS: usize = 200;

fn shown(text: String) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

impl Glance {
    fn of(value: &[u8]) -> Option<Glance> {
        // The context is skipped, not kept: only the shown fields stay.
        let instance: FlowInstance<serde::de::IgnoredAny> = serde_json::from_slice(value).ok()?;
        Some(Glance {
            saved_at: instance.state.saved_at(),
            schema_version: instance.state.schema_version().map(|v| shown(v.to_owned())),
            instance_id: shown(instance.instance_id),
            variant_id: shown(instance.variant_id),
            step: shown(instance.state.step_id),
            status: match instance.state.status {
                FlowStatus::Other(other) => FlowStatus::Other(shown(other)),
                known => known,
            },
        })
    }
}

struct Scan {
    prefix: Prefix,
    reads: Vec<Read>,
    next: Option<Cursor>,
}

/// `GET /flows?prefix=&cursor=&limit=`: one `list` under `{prefix}:`, no
/// value read.
pub(crate) async fn discover(
    State(state): State<Arc<AppState>>,
    Extension(query): Extension<Query>,
) -> Response<Body> {
    let parsed = (|| -> Result<_> {
        let layout = layout(query.prefix)?;
        let cursor = query.cursor.map(Cursor::new).transpose()?;
        let limit = query.limit.unwrap_or(DEFAULT_DISCOVER_LIMIT);
        check_list_limit(limit)?;
        Ok((layout.all_prefix(), cursor, limit))
    })();
    let (prefix, cursor, limit) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return store_error_response(&err),
    };
    let page = match state.store.list(&prefix, cursor.as_ref(), limit).await {
        Ok(page) => page,
        Err(err) => return failed("list", &err),
    };
    let mut flows: BTreeMap<&str, u64> = BTreeMap::new();
    let mut other = 0;
    for item in &page.items {
        match flow_id_of(item.key.as_str(), prefix.as_str()) {
            Some(flow_id) => *flows.entry(flow_id).or_default() += 1,
            None => other += 1,
        }
    }
    json_response(&Discovered {
        prefix: prefix.as_str().to_owned(),
        scanned: page.items.len(),
        flows: flows
            .into_iter()
            .map(|(flow_id, keys)| FlowKeys {
                flow_id: flow_id.to_owned(),
                keys,
            })
            .collect(),
        other,
        next: page.next.map(|next| next.as_str().to_owned()),
        ordered: state.list_ordered,
    })
}

/// The flow id of `key` under `prefix` (`{prefix}{flowId}:…`): the text up
/// to the next `:`, `None` when there is no such non-empty segment.
fn flow_id_of<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let (flow_id, _) = key.strip_prefix(prefix)?.split_once(':')?;
    (!flow_id.is_empty()).then_some(flow_id)
}

/// The flow id of a `/flows/{flowId}/…` request, decoded exactly once from
/// the raw path, as a key is: a malformed escape or bytes that are not UTF-8
/// are a JSON `400 invalid_argument` like every other bad request, not the
/// router's plain-text rejection. (The router matched `/flows/{id}/…`, and
/// strips any prefix it is nested under, so the path has that shape.)
fn requested_flow_id(uri: &Uri) -> Result<String> {
    let raw = uri
        .path()
        .strip_prefix("/flows/")
        .and_then(|rest| rest.split_once('/'))
        .map_or("", |(id, _)| id);
    percent_decode_exact(raw)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Error::invalid_argument("the flow id is not valid percent-encoded UTF-8"))
}

/// The layout whose first segment is `prefix`, `useflow` when not given.
fn layout(prefix: Option<String>) -> Result<DefaultLayout> {
    match prefix {
        Some(first) => DefaultLayout::with_prefix(first),
        None => Ok(DefaultLayout::new()),
    }
}

/// `GET /flows/{flowId}/summary?prefix=&cursor=&limit=`.
pub(crate) async fn summary(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    Extension(query): Extension<Query>,
) -> Response<Body> {
    let flow_id = match requested_flow_id(&uri) {
        Ok(flow_id) => flow_id,
        Err(err) => return store_error_response(&err),
    };
    let scan = match scan(&state, &flow_id, query, DEFAULT_SUMMARY_LIMIT).await {
        Ok(scan) => scan,
        Err(response) => return response,
    };
    let mut summary = Summary {
        prefix: scan.prefix.as_str().to_owned(),
        scanned: scan.reads.len(),
        next: scan.next.map(|next| next.as_str().to_owned()),
        ordered: state.list_ordered,
        ..Summary::default()
    };
    for read in scan.reads {
        match read.glance {
            None => summary.vanished += 1,
            Some(None) => summary.invalid += 1,
            Some(Some(glance)) => match glance.status {
                FlowStatus::Active => *summary.steps.entry(glance.step).or_default() += 1,
                FlowStatus::Complete => summary.completed += 1,
                FlowStatus::Other(_) => summary.other += 1,
            },
        }
    }
    json_response(&summary)
}

/// `GET /flows/{flowId}/instances?prefix=&cursor=&limit=`.
pub(crate) async fn instances(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    Extension(query): Extension<Query>,
) -> Response<Body> {
    let flow_id = match requested_flow_id(&uri) {
        Ok(flow_id) => flow_id,
        Err(err) => return store_error_response(&err),
    };
    let scan = match scan(&state, &flow_id, query, DEFAULT_INSTANCES_LIMIT).await {
        Ok(scan) => scan,
        Err(response) => return response,
    };
    let items = scan
        .reads
        .into_iter()
        .filter_map(|read| Some(row(read.item, read.glance?)))
        .collect();
    json_response(&InstancesPage {
        prefix: scan.prefix.as_str().to_owned(),
        items,
        next: scan.next.map(|next| next.as_str().to_owned()),
    })
}

fn row(item: ListItem, glance: Option<Glance>) -> InstanceRow {
    let mut row = InstanceRow {
        key: item.key.as_str().to_owned(),
        version: item.version.map(|version| version.as_str().to_owned()),
        expires_at: item.expires_at.map(format_expires_at),
        size: item.stored_size,
        instance_id: None,
        variant_id: None,
        step: None,
        status: None,
        saved_at: None,
        schema_version: None,
        invalid: None,
    };
    match glance {
        Some(glance) => {
            row.saved_at = glance.saved_at;
            row.schema_version = glance.schema_version;
            row.instance_id = Some(glance.instance_id);
            row.variant_id = Some(glance.variant_id);
            row.status = Some(glance.status.as_str().to_owned());
            row.step = Some(glance.step);
        }
        // The kind of problem only: the parser's message may quote stored data.
        None => row.invalid = Some("not a flow instance".to_owned()),
    }
    row
}

/// One bounded step through the flow's keys: one `list` of up to `limit`
/// keys, then their values in batch reads.
async fn scan(
    state: &AppState,
    flow_id: &str,
    query: Query,
    default_limit: usize,
) -> std::result::Result<Scan, Response<Body>> {
    let parsed = (|| -> Result<_> {
        let layout = layout(query.prefix)?;
        if flow_id.is_empty() {
            return Err(flowstore_core::Error::invalid_argument(
                "the flow id is empty",
            ));
        }
        let prefix = layout.flow_prefix(flow_id)?;
        let cursor = query.cursor.map(Cursor::new).transpose()?;
        let limit = query.limit.unwrap_or(default_limit);
        check_list_limit(limit)?;
        Ok((prefix, cursor, limit))
    })();
    let (prefix, cursor, limit) = parsed.map_err(|err| store_error_response(&err))?;
    let page = state
        .store
        .list(&prefix, cursor.as_ref(), limit)
        .await
        .map_err(|err| failed("list", &err))?;
    let mut reads = Vec::with_capacity(page.items.len());
    for chunk in page.items.chunks(READ_CHUNK) {
        let keys: Vec<Key> = chunk.iter().map(|item| item.key.clone()).collect();
        let values = state
            .store
            .get_many(&keys)
            .await
            .map_err(|err| failed("get_many", &err))?;
        reads.extend(chunk.iter().cloned().zip(values).map(|(item, value)| Read {
            item,
            glance: value.map(|value| Glance::of(&value)),
        }));
    }
    Ok(Scan {
        prefix,
        reads,
        next: page.next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_ids_are_the_second_segment() {
        let prefix = "useflow:";
        assert_eq!(
            flow_id_of("useflow:onboarding:default:u1", prefix),
            Some("onboarding")
        );
        assert_eq!(flow_id_of("useflow:a:", prefix), Some("a"));
        for not_a_flow in ["useflow:loose", "useflow::x", "other:a:b", "useflow"] {
            assert_eq!(flow_id_of(not_a_flow, prefix), None, "{not_a_flow}");
        }
    }
}
