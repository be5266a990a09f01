//! What can go wrong, kept apart so that no failure reads as "no saved state".

use std::fmt;

use flowstore_core::{Key, Version};

use crate::definition::Problem;
use crate::model::FlowRef;
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
        /// The key it is stored under (kept out of the message: a key often
        /// names a user).
        key: Option<Key>,
        /// What did not parse, and where.
        reason: String,
    },
    /// The validate hook refused the stored state.
    Invalid {
        /// The key it is stored under.
        key: Option<Key>,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// The stored value names another instance than the one its key is for
    /// (copied by hand, or written under another layout): restoring it would
    /// make the next save write somewhere else.
    Misplaced {
        /// The key it is stored under.
        key: Key,
        /// The ids the value names.
        stored: FlowRef,
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

    /// Whether the stored value itself is at fault (not a flow, refused by
    /// validation, stored under the wrong key): what
    /// [`InvalidStored::Skip`](crate::InvalidStored::Skip) skips.
    pub fn is_invalid_stored(&self) -> bool {
        matches!(
            self,
            FlowError::NotFlowJson { .. } | FlowError::Invalid { .. } | FlowError::Misplaced { .. }
        )
    }

    /// The same error, naming the key of the stored value it is about.
    pub(crate) fn at(mut self, at: &Key) -> FlowError {
        match &mut self {
            FlowError::NotFlowJson { key, .. } | FlowError::Invalid { key, .. } => {
                key.get_or_insert_with(|| at.clone());
            }
            _ => {}
        }
        self
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
            key: None,
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
            FlowError::NotFlowJson { reason, .. } => {
                write!(f, "the stored value is not a saved flow: {reason}")
            }
            FlowError::Misplaced { .. } => f.write_str(
                "the stored flow names another flow, variant or instance than its key is for",
            ),
            FlowError::Invalid { problems, .. } => {
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
pub enum SaveError<C> {
    /// Someone else saved the instance since the entry version the save was
    /// based on (or it was not absent, for a new one). Nothing was written.
    Conflict(Box<Conflict<C>>),
    /// Anything else; nothing is known about whether the write happened only
    /// when this is a store timeout or outage.
    Failed(FlowError),
}

/// What a conflicting save found in the store instead.
pub struct Conflict<C> {
    /// The saved state now in the store, read after the conflict, with its
    /// entry version: merge into it, or reload. `None` if the instance is gone
    /// (removed, or expired in the store), or what is stored cannot be read
    /// as a flow of this persister (not a flow, another schema version that was
    /// discarded, or the read itself failed: [`read_error`](Self::read_error)).
    pub current: Option<Restored<C>>,
    /// The entry version now in the store (`None`: absent, or unknown after a
    /// failed read). A save based on it overwrites what is there.
    pub current_version: Option<Version>,
    /// Why the current state could not be read, if it could not.
    pub read_error: Option<FlowError>,
}

// No `C: Debug` bound: the context is left out anyway (FlowInstance's Debug).
impl<C> fmt::Debug for SaveError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaveError::Conflict(conflict) => f.debug_tuple("Conflict").field(conflict).finish(),
            SaveError::Failed(err) => f.debug_tuple("Failed").field(err).finish(),
        }
    }
}

impl<C> fmt::Debug for Conflict<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conflict")
            .field("current", &self.current)
            .field("current_version", &self.current_version)
            .field("read_error", &self.read_error)
            .finish()
    }
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

impl<C> std::error::Error for SaveError<C> {
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
