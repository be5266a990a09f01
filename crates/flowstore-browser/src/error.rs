//! Mapping the browser's exceptions to flowstore's error kinds, in one place.

use std::fmt;

use flowstore_core::{Error, ErrorKind, Operation};
use wasm_bindgen::{JsCast, JsValue};

/// A browser exception (a `DOMException` or another JavaScript error), kept as the
/// [`source`](std::error::Error::source) of a flowstore [`Error`].
///
/// JavaScript values cannot cross threads, so only the exception's `name` and
/// `message` are kept. Match on [`DomError::name`] when the error kind is not
/// precise enough, or use [`is_quota_exceeded`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomError {
    name: String,
    message: String,
}

impl DomError {
    /// The exception's name, such as `QuotaExceededError` or `InvalidStateError`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The browser's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn new(name: &str, message: &str) -> DomError {
        DomError {
            name: name.to_owned(),
            message: message.to_owned(),
        }
    }

    /// Reads the name and message of a thrown JavaScript value.
    pub(crate) fn from_js(value: &JsValue) -> DomError {
        if let Some(exception) = value.dyn_ref::<web_sys::DomException>() {
            return DomError {
                name: exception.name(),
                message: exception.message(),
            };
        }
        if let Some(error) = value.dyn_ref::<js_sys::Error>() {
            return DomError {
                name: String::from(error.name()),
                message: String::from(error.message()),
            };
        }
        DomError {
            name: "Error".to_owned(),
            message: value
                .as_string()
                .unwrap_or_else(|| "a non-error value was thrown".to_owned()),
        }
    }

    /// Whether this is the browser's "storage is full" error, under any of the
    /// names browsers have used for it.
    fn is_quota(&self) -> bool {
        matches!(
            self.name.as_str(),
            "QuotaExceededError" | "NS_ERROR_DOM_QUOTA_REACHED"
        )
    }
}

impl fmt::Display for DomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}: {}", self.name, self.message)
        }
    }
}

impl std::error::Error for DomError {}

/// Whether `err` came from the browser's storage quota (`QuotaExceededError`).
///
/// Such errors have the kind [`ErrorKind::ValueTooLarge`]: the value did not fit
/// in what the origin may still store, nothing was written, and retrying without
/// freeing space cannot help.
pub fn is_quota_exceeded(err: &Error) -> bool {
    err.kind() == ErrorKind::ValueTooLarge && dom_error(err).is_some_and(DomError::is_quota)
}

/// The browser exception behind `err`, if there is one.
pub fn dom_error(err: &Error) -> Option<&DomError> {
    std::error::Error::source(err)?.downcast_ref::<DomError>()
}

/// Records `operation` and `backend` (`indexeddb`, `localstorage`,
/// `sessionstorage`) on an error of a store; context it has is kept.
pub(crate) fn in_op(backend: &'static str, operation: Operation) -> impl FnOnce(Error) -> Error {
    move |err| err.with_backend(backend).with_operation(operation)
}

/// `what: why`, or `why` alone when `what` is empty: the steps of a store
/// operation pass an empty `what`, since the error's context names the
/// operation and the backend.
pub(crate) fn phrase(what: &str, why: &str) -> String {
    if what.is_empty() {
        why.to_owned()
    } else {
        format!("{what}: {why}")
    }
}

/// Maps an exception thrown while doing `what` (a short phrase, no user data,
/// empty during a store operation) to a flowstore error.
pub(crate) fn from_js(what: &str, value: &JsValue) -> Error {
    from_dom(what, DomError::from_js(value))
}

/// Maps a browser exception to a flowstore error kind.
pub(crate) fn from_dom(what: &str, dom: DomError) -> Error {
    let (kind, temporary, why) = match dom.name.as_str() {
        _ if dom.is_quota() => (
            ErrorKind::ValueTooLarge,
            false,
            "the browser's storage quota for this site is exceeded; nothing was written",
        ),
        // Storage disabled by the user or a policy, a sandboxed or opaque origin.
        "SecurityError" => (
            ErrorKind::Unavailable,
            false,
            "the browser denies this page access to storage",
        ),
        // A closed connection (another tab upgraded the database), or a browser
        // that refuses IndexedDB in private browsing.
        "InvalidStateError" => (
            ErrorKind::Unavailable,
            true,
            "the storage is not usable right now",
        ),
        "AbortError" | "TransactionInactiveError" => (
            ErrorKind::Unavailable,
            true,
            "the browser aborted the transaction",
        ),
        "TimeoutError" => (
            ErrorKind::Timeout,
            true,
            "the browser timed the operation out",
        ),
        // Not a DOMException: flowstore's name for an `indexedDB.open` whose
        // upgrade is blocked by another open connection (its `blocked` event).
        "BlockedError" => (
            ErrorKind::Unavailable,
            true,
            "the database upgrade is blocked by another open connection (another tab?)",
        ),
        "VersionError" => (
            ErrorKind::Unavailable,
            true,
            "the database was upgraded by another connection meanwhile",
        ),
        "NotFoundError" => (
            ErrorKind::Config,
            false,
            "the object store or index is missing",
        ),
        // Includes Chromium's I/O failures (`UnknownError`), often transient.
        "UnknownError" => (ErrorKind::Backend, true, "the browser's storage failed"),
        _ => (ErrorKind::Backend, false, "the browser's storage failed"),
    };
    Error::new(kind, phrase(what, why))
        .with_temporary(temporary)
        .with_source(dom)
}
