#![doc = include_str!("../README.md")]
//!
//! # The stored format
//!
//! [`FlowInstance`] is the original design's JSON field for field
//! (`flowId`, `instanceId`, `variantId`, `state.stepId`, `state.context`,
//! `state.path`, `state.history`, `state.status`, `state.startedAt`,
//! `state.completedAt`, `state.__meta.savedAt`, `state.__meta.version`), times
//! in milliseconds since the Unix epoch. Every level keeps the fields it does
//! not know in an `extra` map, so what a newer front end wrote survives a
//! restore-and-save here (key order may change).
//!
//! # Two versions
//!
//! The **schema version** is the flow's own `__meta.version` string
//! ([`FlowPersister::with_schema_version`], migrated by
//! [`FlowPersister::with_migrate`]). The **entry version** is the store's
//! version of the key ([`flowstore_core::Version`]), which [`Restored::version`]
//! carries and [`Base::Version`] hands back on save to detect a lost update.
//!
//! # Clock skew and the restore TTL
//!
//! `__meta.savedAt` is stamped by whichever machine saved, often a browser,
//! and [`FlowPersister::with_restore_ttl`] judges its age by this machine's
//! clock. A saving clock `d` behind this one makes entries expire `d` early; one
//! `d` ahead keeps them `d` longer (a `savedAt` in the future counts as age
//! zero). Where that matters, add a store-level TTL
//! ([`FlowPersister::with_store_ttl`]), which the store's own clock enforces.
//!
//! # Better than the original, on purpose
//!
//! - An outage is [`FlowError::Store`], never "no saved state"; a stored value
//!   that is not a flow is [`FlowError::NotFlowJson`] (or skipped, by
//!   [`InvalidStored::Skip`]).
//! - Saves name their [`Base`]; a save over someone else's newer one is
//!   [`SaveError::Conflict`] with that save's state and entry version.
//! - An expired entry is deleted only if it is still the one read, so a fresh
//!   save racing the restore survives.
//! - [`FlowDefinition::check`] returns every problem, not a boolean.
//! - "Remove all" is a prefix delete of the layout's prefix, never `clear`.

#![forbid(unsafe_code)]

mod clock;
#[cfg(feature = "debounce")]
mod debounce;
mod definition;
mod error;
mod layout;
mod model;
mod persister;

#[cfg(feature = "debounce")]
pub use debounce::Debouncer;
pub use definition::{FlowDefinition, Problem};
pub use error::{Conflict, FlowError, SaveError};
pub use layout::{DEFAULT_PREFIX, DefaultLayout, KeyLayout};
pub use model::{
    Action, DEFAULT_ID, FlowInstance, FlowRef, FlowState, FlowStatus, Meta, Millis, StepRecord,
};
pub use persister::{Base, FlowPersister, InvalidStored, Restored, Saved, decode_instance};
