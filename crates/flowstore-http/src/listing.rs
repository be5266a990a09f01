//! Listing, batches, prefix deletes and touch over HTTP (SPEC §9): `list`,
//! `delete_prefix`, `get_many`, `set_many`, `delete_many` and `touch` of
//! [`HttpStore`], over the routes of `flowstore_http::protocol`.
//!
//! Against a server without the batch routes (a server of the original
//! design in plain-404 mode, or a flowstore server of an earlier release,
//! which answers a plain 404 or 405 for a route it lacks) the batch
//! operations fall back to one request per key: a batch works on every
//! store. Listing, prefix deletes and touch have no such fallback: there they
//! are `Unsupported`.

use flowstore_core::listing::{check_batch_len, check_list_limit};
use flowstore_core::url::percent_encode;
use flowstore_core::{
    Cursor, Error, Key, ListPage, Operation, Prefix, Result, SetItem, Store, Ttl, check_set_items,
};
use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::in_op;
use crate::protocol::{
    ABSENT_HEADER, ABSENT_VALUE, BATCH_DELETE_PATH, BATCH_GET_PATH, BATCH_SET_PATH,
    CURSOR_PARAMETER, DELETE_PREFIX_PATH, DeletePrefixAnswer, DeletePrefixBody, EncodedValue,
    KeysBody, LIMIT_PARAMETER, PREFIX_PARAMETER, STATES_PATH, SetBody, SetEntry, TouchBody,
    ValuesBody, WirePage, batch_answer_limit, batch_body_limit, escaped_len,
};
use crate::store::{Answer, HttpStore, RESPONSE_SLACK};

/// Room for a batch entry's field names, TTL and punctuation on top of its
/// key's and value's JSON lengths.
const ENTRY_SLACK: usize = 64;

impl HttpStore {
    pub(crate) async fn list_over_http(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        let operation = Operation::List;
        self.refuse_unclaimed(operation, self.inner.list, "listing")?;
        check_list_limit(limit).map_err(in_op(operation))?;
        let mut url = format!(
            "{}{STATES_PATH}?{PREFIX_PARAMETER}={}&{LIMIT_PARAMETER}={limit}",
            self.inner.base,
            percent_encode(prefix.as_str())
        );
        if let Some(cursor) = cursor {
            // The cursor alphabet is unreserved: it needs no escaping.
            url.push_str(&format!("&{CURSOR_PARAMETER}={}", cursor.as_str()));
        }
        let answer = self.send(operation, Method::GET, url, None).await?;
        if answer.status != StatusCode::OK {
            return Err(self.route_error(operation, &answer));
        }
        let page: WirePage = self.json_of(operation, &answer)?;
        if self.inner.list_ordered && !page.ordered {
            return Err(in_op(operation)(Error::config(format!(
                "this HTTP store was opened with list_ordered on, but {} says its store does \
                 not list in key order; open it with list_ordered off",
                self.inner.base
            ))));
        }
        page.into_page().map_err(in_op(operation))
    }

    pub(crate) async fn delete_prefix_over_http(&self, prefix: &Prefix) -> Result<u64> {
        let operation = Operation::DeletePrefix;
        self.refuse_unclaimed(operation, self.inner.list, "prefix deletes")?;
        let url = format!("{}{DELETE_PREFIX_PATH}", self.inner.base);
        let mut deleted = 0u64;
        let mut cursor = None;
        loop {
            let body = DeletePrefixBody {
                prefix: prefix.as_str().to_owned(),
                // The empty prefix removes everything: the server wants it said.
                all: prefix.is_empty(),
                cursor,
            };
            let answer = self
                .send_json(
                    operation,
                    Method::POST,
                    url.clone(),
                    to_json(&body)?,
                    small(),
                )
                .await?;
            if answer.status != StatusCode::OK {
                return Err(self.route_error(operation, &answer));
            }
            let step: DeletePrefixAnswer = self.json_of(operation, &answer)?;
            deleted += step.deleted;
            match step.next {
                Some(next) => cursor = Some(next),
                None => return Ok(deleted),
            }
        }
    }

    pub(crate) async fn get_many_over_http(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        let operation = Operation::GetMany;
        check_batch_len(keys.len()).map_err(in_op(operation))?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if self.inner.plain_404 {
            return self.get_one_by_one(keys).await;
        }
        let body = to_json(&KeysBody {
            keys: keys.iter().map(|key| key.as_str().to_owned()).collect(),
        })?;
        // The server answers at most `batch_answer_budget` value bytes (413
        // beyond), so the answer is bounded whatever the keys hold.
        let limit = batch_answer_limit(self.inner.max_value_size, keys.len())
            .saturating_add(RESPONSE_SLACK);
        let url = format!("{}{BATCH_GET_PATH}", self.inner.base);
        let answer = self
            .send_json(operation, Method::POST, url, body, limit)
            .await?;
        if self.lacks_route(&answer) {
            return self.get_one_by_one(keys).await;
        }
        if answer.status == StatusCode::PAYLOAD_TOO_LARGE && keys.len() > 1 {
            // Over one answer's budget: ask again in halves.
            let (first, second) = keys.split_at(keys.len() / 2);
            let mut values = Box::pin(self.get_many_over_http(first)).await?;
            values.extend(Box::pin(self.get_many_over_http(second)).await?);
            return Ok(values);
        }
        if answer.status != StatusCode::OK {
            return Err(self.error_from(operation, &answer));
        }
        let values: ValuesBody = self.json_of(operation, &answer)?;
        if values.values.len() != keys.len() {
            return Err(in_op(operation)(Error::backend(format!(
                "{} answered {} values for {} keys",
                self.inner.base,
                values.values.len(),
                keys.len()
            ))));
        }
        values
            .values
            .into_iter()
            .map(|value| value.map(EncodedValue::decode).transpose())
            .collect::<Result<_>>()
            .map_err(|err| in_op(operation)(Error::backend(err.message().to_owned())))
    }

    pub(crate) async fn set_many_over_http(&self, items: &[SetItem<'_>]) -> Result<()> {
        let operation = Operation::SetMany;
        // Everything is checked before the first request: a refused batch
        // writes nothing, even when it would have taken several requests.
        check_set_items(self.inner.max_value_size, self.capabilities(), items)
            .map_err(in_op(operation))?;
        if items.is_empty() {
            return Ok(());
        }
        if self.inner.plain_404 {
            return self.set_one_by_one(items).await;
        }
        let url = format!("{}{BATCH_SET_PATH}", self.inner.base);
        let limit = batch_body_limit(self.inner.max_value_size);
        let mut chunk: Vec<SetEntry> = Vec::new();
        let mut chunk_len = 0;
        let mut first = true;
        let mut start = 0;
        for (at, item) in items.iter().enumerate() {
            let value = EncodedValue::encode(item.value);
            let len = value.json_len() + escaped_len(item.key.as_str()) + ENTRY_SLACK;
            if !chunk.is_empty() && chunk_len + len > limit {
                let sent = std::mem::take(&mut chunk);
                if !self.send_set_chunk(&url, sent, first).await? {
                    return self.set_one_by_one(&items[start..]).await;
                }
                first = false;
                start = at;
                chunk_len = 0;
            }
            chunk_len += len;
            chunk.push(SetEntry {
                key: item.key.as_str().to_owned(),
                value,
                ttl: item.ttl.map(|ttl| ttl.to_string()),
            });
        }
        if !self.send_set_chunk(&url, chunk, first).await? {
            return self.set_one_by_one(&items[start..]).await;
        }
        Ok(())
    }

    /// Sends one chunk of a batch set; `false` when the server has no batch
    /// route (only possible for the first chunk: the caller then writes the
    /// rest one by one).
    async fn send_set_chunk(&self, url: &str, items: Vec<SetEntry>, first: bool) -> Result<bool> {
        let operation = Operation::SetMany;
        let body = to_json(&SetBody { items })?;
        let answer = self
            .send_json(operation, Method::POST, url.to_owned(), body, small())
            .await?;
        if first && self.lacks_route(&answer) {
            return Ok(false);
        }
        if answer.status.is_success() {
            Ok(true)
        } else {
            Err(self.error_from(operation, &answer))
        }
    }

    pub(crate) async fn delete_many_over_http(&self, keys: &[Key]) -> Result<()> {
        let operation = Operation::DeleteMany;
        check_batch_len(keys.len()).map_err(in_op(operation))?;
        if keys.is_empty() {
            return Ok(());
        }
        if self.inner.plain_404 {
            return self.delete_one_by_one(keys).await;
        }
        let body = to_json(&KeysBody {
            keys: keys.iter().map(|key| key.as_str().to_owned()).collect(),
        })?;
        let url = format!("{}{BATCH_DELETE_PATH}", self.inner.base);
        let answer = self
            .send_json(operation, Method::POST, url, body, small())
            .await?;
        if self.lacks_route(&answer) {
            return self.delete_one_by_one(keys).await;
        }
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.error_from(operation, &answer))
        }
    }

    pub(crate) async fn touch_over_http(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        let operation = Operation::Touch;
        self.refuse_unclaimed(operation, self.inner.touch, "touch")?;
        let body = to_json(&TouchBody {
            ttl: ttl.map(|ttl| ttl.to_string()),
        })?;
        let answer = self
            .send_json(operation, Method::PATCH, self.key_url(key), body, small())
            .await?;
        if answer.status.is_success() {
            return Ok(true);
        }
        let absent = answer
            .headers
            .get(ABSENT_HEADER)
            .is_some_and(|value| value.as_bytes() == ABSENT_VALUE.as_bytes());
        if answer.status == StatusCode::NOT_FOUND && absent {
            return Ok(false);
        }
        Err(self.route_error(operation, &answer))
    }

    /// `Unsupported`, nothing sent, when the builder turned `what` off (or
    /// plain-404 mode did).
    fn refuse_unclaimed(&self, operation: Operation, claimed: bool, what: &str) -> Result<()> {
        if claimed {
            return Ok(());
        }
        Err(in_op(operation)(Error::unsupported(format!(
            "this HTTP store was opened without {what} (its server's store cannot, or it is \
             a server of the original design); nothing was sent"
        ))))
    }

    /// A route this server does not have: a `405`, or a `404` that is not a
    /// flowstore "absent" nor a flowstore error (an older server's fallback
    /// answers `no such route` as plain text).
    fn lacks_route(&self, answer: &Answer) -> bool {
        let flowstore_404 = answer.headers.contains_key(ABSENT_HEADER)
            || answer
                .headers
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
        answer.status == StatusCode::METHOD_NOT_ALLOWED
            || (answer.status == StatusCode::NOT_FOUND && !flowstore_404)
    }

    /// The error of an answer to a route that may be missing: `Unsupported`
    /// when it is, else the server's error.
    fn route_error(&self, operation: Operation, answer: &Answer) -> Error {
        if self.lacks_route(answer) {
            return in_op(operation)(Error::unsupported(format!(
                "{} answered HTTP {} for the {} route: it is not a flowstore server with \
                 listing, batches and touch (an earlier release, or the original design)",
                self.inner.base,
                answer.status.as_u16(),
                operation.as_str()
            )));
        }
        if answer.status.is_success() {
            return in_op(operation)(Error::backend(format!(
                "{} answered HTTP {}; expected 200",
                self.inner.base,
                answer.status.as_u16()
            )));
        }
        self.error_from(operation, answer)
    }

    fn json_of<T: DeserializeOwned>(&self, operation: Operation, answer: &Answer) -> Result<T> {
        serde_json::from_slice(&answer.body).map_err(|_| {
            in_op(operation)(Error::backend(format!(
                "{} answered a body that is not the expected JSON",
                self.inner.base
            )))
        })
    }

    async fn get_one_by_one(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    async fn set_one_by_one(&self, items: &[SetItem<'_>]) -> Result<()> {
        for item in items {
            self.set(item.key, item.value, item.ttl).await?;
        }
        Ok(())
    }

    async fn delete_one_by_one(&self, keys: &[Key]) -> Result<()> {
        for key in keys {
            self.delete(key).await?;
        }
        Ok(())
    }
}

/// The answer limit of a route whose answer is small (no values).
fn small() -> usize {
    RESPONSE_SLACK
}

fn to_json<T: Serialize>(body: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(body)
        .map_err(|_| Error::invalid_argument("the request could not be written as JSON"))
}
