//! Entry versions over HTTP (SPEC §8): `get_entry`, `set_if` and `delete_if`
//! of [`HttpStore`].
//!
//! The one rule here: never report a conditional write as done unless the
//! answer proves a flowstore server decided it by entry versions — the
//! `Flowstore-Versioned` marker, and for a write the `ETag` of the very version
//! this client proposed. A server of the original design (or a proxy, or a
//! flowstore server of an earlier release) ignores `If-Match` and writes
//! anyway; its `204` must become `Unsupported`, not `Ok`.

use bytes::Bytes;
use flowstore_core::{
    Condition, Entry, Error, Key, Operation, Result, Ttl, Version, check_value_size,
};
use http::header::{ETAG, HeaderName, HeaderValue, IF_MATCH, IF_NONE_MATCH};
use http::{Method, StatusCode};

use crate::error::in_op;
use crate::protocol::{
    ABSENT_HEADER, ABSENT_VALUE, EXPIRES_AT_HEADER, NEW_VERSION_HEADER, current_of, decode_error,
    etag_value, is_versioned, parse_etag, parse_expires_at,
};
use crate::store::{Answer, HttpStore};

impl HttpStore {
    pub(crate) async fn get_entry_over_http(&self, key: &Key) -> Result<Option<Entry>> {
        let operation = Operation::GetEntry;
        self.refuse_without_versions(operation)?;
        let answer = self
            .send(operation, Method::GET, self.key_url(key), None)
            .await?;
        let versioned = is_versioned(&answer.headers);
        let error = match answer.status {
            StatusCode::OK if versioned => {
                return self.entry_of(answer).map(Some).map_err(in_op(operation));
            }
            StatusCode::NOT_FOUND if versioned && is_absent(&answer) => return Ok(None),
            // A server that does not read by versions (its store keeps none, or
            // it predates them) cannot serve `get_entry`, present key or absent.
            StatusCode::OK => self.unversioned_read(),
            StatusCode::NOT_FOUND if is_absent(&answer) => self.unversioned_read(),
            StatusCode::NOT_FOUND => Error::backend(format!(
                "{} answered a plain HTTP 404, not a flowstore \"absent\" 404: the base URL \
                 may be wrong, or a proxy answered",
                self.inner.base
            )),
            status if status.is_success() => Error::backend(format!(
                "{} answered HTTP {}; expected 200 or 404",
                self.inner.base,
                status.as_u16()
            )),
            _ => self.error_of(&answer),
        };
        Err(in_op(operation)(error))
    }

    pub(crate) async fn set_if_over_http(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        let operation = Operation::SetIf;
        self.refuse_without_versions(operation)?;
        check_value_size(value, self.inner.max_value_size).map_err(in_op(operation))?;
        let mut headers = vec![(
            HeaderName::from_static(NEW_VERSION_HEADER),
            // A version is ASCII letters, digits and `._~-`: a valid header value.
            HeaderValue::try_from(new_version.as_str())
                .map_err(|_| Error::invalid_argument("the entry version cannot be sent"))
                .map_err(in_op(operation))?,
        )];
        match condition {
            Condition::Always => {}
            Condition::Absent => headers.push((IF_NONE_MATCH, HeaderValue::from_static("*"))),
            Condition::Matches(expected) => headers.push((IF_MATCH, etag_value(expected))),
        }
        let body = Bytes::copy_from_slice(value);
        let answer = self
            .send_with(
                operation,
                Method::PUT,
                self.put_url(key, ttl),
                Some(body),
                headers,
            )
            .await?;
        self.decided(operation, &answer, Some(new_version))
    }

    pub(crate) async fn delete_if_over_http(&self, key: &Key, expected: &Version) -> Result<()> {
        let operation = Operation::DeleteIf;
        self.refuse_without_versions(operation)?;
        let answer = self
            .send_with(
                operation,
                Method::DELETE,
                self.key_url(key),
                None,
                vec![(IF_MATCH, etag_value(expected))],
            )
            .await?;
        self.decided(operation, &answer, None)
    }

    /// In plain-404 mode the server is one of the original design, which keeps
    /// no versions and ignores conditions: refuse before anything is sent. The
    /// same when versions were turned off in the builder.
    fn refuse_without_versions(&self, operation: Operation) -> Result<()> {
        if self.inner.plain_404 {
            return Err(in_op(operation)(Error::unsupported(
                "plain-404 mode is for servers of the original design, which keep no entry \
                 versions and ignore conditions; nothing was sent",
            )));
        }
        if !self.inner.versions {
            return Err(in_op(operation)(Error::unsupported(
                "this HTTP store was opened with entry versions off; nothing was sent",
            )));
        }
        Ok(())
    }

    /// The outcome of a conditional write: `Ok` only for a success marked as
    /// decided by versions (and, for a `PUT`, at `written`, the version this
    /// client proposed); `Conflict` for a `412`.
    fn decided(
        &self,
        operation: Operation,
        answer: &Answer,
        written: Option<&Version>,
    ) -> Result<()> {
        if answer.status.is_success() {
            let confirmed = is_versioned(&answer.headers)
                && written.is_none_or(|written| {
                    answer
                        .headers
                        .get(ETAG)
                        .and_then(|value| parse_etag("ETag", value).ok())
                        .is_some_and(|etag| &etag == written)
                });
            if confirmed {
                return Ok(());
            }
            return Err(in_op(operation)(self.unconfirmed_write()));
        }
        if answer.status == StatusCode::PRECONDITION_FAILED {
            return Err(in_op(operation)(self.conflict_of(answer)));
        }
        Err(self.error_from(operation, answer))
    }

    /// The `Conflict` of a `412`, with what the key held when the server's
    /// headers say (only a flowstore server's `412` is read for that).
    fn conflict_of(&self, answer: &Answer) -> Error {
        let current = if is_versioned(&answer.headers) {
            current_of(&answer.headers)
        } else {
            None
        };
        let message = decode_error(answer.status, &answer.body)
            .map(|err| err.message().to_owned())
            .unwrap_or_else(|| {
                format!(
                    "{} answered HTTP 412: the condition failed",
                    self.inner.base
                )
            });
        Error::conflict(message, current)
    }

    /// The entry of a marked `200`: its value, `ETag` and expiry.
    fn entry_of(&self, answer: Answer) -> Result<Entry> {
        let version = answer
            .headers
            .get(ETAG)
            .and_then(|value| parse_etag("ETag", value).ok())
            .ok_or_else(|| {
                Error::backend(format!(
                    "{} answered an entry without a valid ETag",
                    self.inner.base
                ))
            })?;
        let expires_at = match answer.headers.get(EXPIRES_AT_HEADER) {
            None => None,
            Some(value) => Some(value.to_str().ok().and_then(parse_expires_at).ok_or_else(
                || {
                    Error::backend(format!(
                        "{} answered an unreadable {EXPIRES_AT_HEADER} (expected RFC 3339 \
                             UTC, like 2026-12-04T23:16:45.123Z)",
                        self.inner.base
                    ))
                },
            )?),
        };
        Ok(Entry::new(Vec::from(answer.body), version, expires_at))
    }

    /// The error for a read answered without the versions marker.
    fn unversioned_read(&self) -> Error {
        Error::unsupported(format!(
            "{} answered without an entry version: its store keeps none, or it is not a \
             flowstore server that supports entry versions",
            self.inner.base
        ))
    }

    /// The error for a conditional write answered with a success that does not
    /// prove the condition was checked.
    fn unconfirmed_write(&self) -> Error {
        Error::unsupported(format!(
            "{} did not confirm that it checked the condition (no Flowstore-Versioned marker \
             and ETag of the proposed version): it is not a flowstore server with entry \
             versions, and it may have applied the write unconditionally",
            self.inner.base
        ))
    }
}

fn is_absent(answer: &Answer) -> bool {
    answer
        .headers
        .get(ABSENT_HEADER)
        .is_some_and(|value| value.as_bytes() == ABSENT_VALUE.as_bytes())
}
