//! What can go wrong, kept apart so that no failure reads as "no saved state".

use std::fmt;

use flowstore_core::Version;

use crate::definition::Problem;
use crate::persister::Restored;

/// A failed persister operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum FlowError {
    /// The store failed (an outage, a timeout, a bad key): nothing is known
    /// about the saved state. Never reported as "absent".
    Store(flowstore_core::Error),
    /// The stored value is not a flow instance in the original design's JSON,
    /// or its context does not fit the application's type. The reason names
    /// the position, never the stored text.
    NotFlowJson {
        /// What did not parse, and where.
        reason: String,
    },
    /// The validate hook refused the stored state.
    Invalid {
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The migrate callback failed.
    Migration {
        /// The stored schema version it was asked to migrate from.
        from: Option<String>,
        /// Why it failed, in the callback's words.
        reason: String,
    },
    /// The state to save cannot be written as JSON.
    Encode {
        /// What serde said.
        reason: String,
    },
}

impl FlowError {
    /// The store error, if this is one.
    pub fn store_error(&self) -> Option<&flowstore_core::Error> {
        match self {
            FlowError::Store(err) => Some(err),
            _ => None,
        }
    }

    /// `reason` of a [`FlowError::NotFlowJson`] from a serde error: its
    /// category and position only, as serde's message can quote the stored text.
    pub(crate) fn not_flow_json(what: &str, err: &serde_json::Error) -> FlowError {
        let category = match err.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "JSON of the wrong shape",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        FlowError::NotFlowJson {
            reason: format!(
                "{what} is {category} (line {}, column {})",
                err.line(),
                err.column()
            ),
        }
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::Store(err) => write!(f, "flow store failed: {err}"),
            FlowError::NotFlowJson { reason } => {
                write!(f, "the stored value is not a saved flow: {reason}")
            }
            FlowError::Invalid { problems } => {
                write!(f, "the saved flow failed validation: ")?;
                for (index, problem) in problems.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{problem}")?;
                }
                Ok(())
            }
            FlowError::Migration { from, reason } => write!(
                f,
                "migrating the saved flow from schema version {} failed: {reason}",
                from.as_deref().unwrap_or("(none)")
            ),
            FlowError::Encode { reason } => {
                write!(f, "the flow state cannot be written as JSON: {reason}")
            }
        }
    }
}

impl std::error::Error for FlowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FlowError::Store(err) => Some(err),
            _ => None,
        }
    }
}

impl From<flowstore_core::Error> for FlowError {
    fn from(err: flowstore_core::Error) -> FlowError {
        FlowError::Store(err)
    }
}

/// A failed save.
#[derive(Debug)]
pub enum SaveError<C> {
    /// Someone else saved the instance since the entry version the save was
    /// based on (or it was not absent, for a new one). Nothing was written.
    Conflict(Box<Conflict<C>>),
    /// Anything else; nothing is known about whether the write happened only
    /// when this is a store timeout or outage.
    Failed(FlowError),
}

/// What a conflicting save found in the store instead.
#[derive(Debug)]
pub struct Conflict<C> {
    /// The saved state now in the store, read after the conflict, with its
    /// entry version: merge into it, or reload. `None` if the instance is gone
    /// (removed, or expired in the store) or its schema version was discarded.
    pub current: Option<Restored<C>>,
    /// The entry version the store reported (`None`: absent).
    pub current_version: Option<Version>,
}

impl<C> SaveError<C> {
    /// The conflict, if this is one.
    pub fn conflict(&self) -> Option<&Conflict<C>> {
        match self {
            SaveError::Conflict(conflict) => Some(conflict),
            SaveError::Failed(_) => None,
        }
    }
}

impl<C> fmt::Display for SaveError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaveError::Conflict(_) => f.write_str(
                "the flow was saved by someone else since the version this save was based on",
            ),
            SaveError::Failed(err) => fmt::Display::fmt(err, f),
        }
    }
}

impl<C: fmt::Debug> std::error::Error for SaveError<C> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SaveError::Conflict(_) => None,
            SaveError::Failed(err) => Some(err),
        }
    }
}

impl<C> From<FlowError> for SaveError<C> {
    fn from(err: FlowError) -> SaveError<C> {
        SaveError::Failed(err)
    }
}

impl<C> From<flowstore_core::Error> for SaveError<C> {
    fn from(err: flowstore_core::Error) -> SaveError<C> {
        SaveError::Failed(FlowError::Store(err))
    }
}
