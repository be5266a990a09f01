//! The stored JSON of one flow instance, field for field as the original
//! design writes it (`../USEFLOW-DATA.md` in the repository's shared notes).
//!
//! Every struct keeps the fields it does not know in an `extra` map, so a value
//! written by a newer front end survives a load-and-save round trip through
//! this crate untouched (their order may change; their content does not).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Milliseconds since the Unix epoch, as JavaScript's `Date.now()` gives them.
pub type Millis = u64;

/// The id the original design uses when a variant or instance id is missing.
pub const DEFAULT_ID: &str = "default";

fn default_id() -> String {
    DEFAULT_ID.to_owned()
}

fn id_or_default<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_else(default_id))
}

/// Which saved flow: the flow, its variant (an A/B branch, say) and the
/// instance (one user's or one tab's run). Missing ids are [`DEFAULT_ID`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowRef {
    /// Which flow (`onboarding`, `checkout`).
    pub flow_id: String,
    /// Which variant of it.
    pub variant_id: String,
    /// Which run of it.
    pub instance_id: String,
}

impl FlowRef {
    /// The `default` variant and instance of `flow_id`.
    pub fn new(flow_id: impl Into<String>) -> FlowRef {
        FlowRef {
            flow_id: flow_id.into(),
            variant_id: default_id(),
            instance_id: default_id(),
        }
    }

    /// The same flow and variant, instance `instance_id`.
    pub fn instance(mut self, instance_id: impl Into<String>) -> FlowRef {
        self.instance_id = instance_id.into();
        self
    }

    /// The same flow and instance, variant `variant_id`.
    pub fn variant(mut self, variant_id: impl Into<String>) -> FlowRef {
        self.variant_id = variant_id.into();
        self
    }
}

/// One saved flow instance: the value under its key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowInstance<C> {
    /// Which flow.
    pub flow_id: String,
    /// Which run of it (`default` when the writer left it out or wrote `null`).
    #[serde(default = "default_id", deserialize_with = "id_or_default")]
    pub instance_id: String,
    /// Which variant (`default` when the writer left it out or wrote `null`).
    #[serde(default = "default_id", deserialize_with = "id_or_default")]
    pub variant_id: String,
    /// Where the user is.
    pub state: FlowState<C>,
    /// Top-level fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<C> FlowInstance<C> {
    /// A new instance of `flow` in `state`.
    pub fn new(flow: FlowRef, state: FlowState<C>) -> FlowInstance<C> {
        FlowInstance {
            flow_id: flow.flow_id,
            instance_id: flow.instance_id,
            variant_id: flow.variant_id,
            state,
            extra: Map::new(),
        }
    }

    /// The ids of this instance.
    pub fn flow_ref(&self) -> FlowRef {
        FlowRef {
            flow_id: self.flow_id.clone(),
            variant_id: self.variant_id.clone(),
            instance_id: self.instance_id.clone(),
        }
    }
}

// The context is the application's data (often personal): Debug leaves it out.
impl<C> fmt::Debug for FlowInstance<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowInstance")
            .field("flow_id", &self.flow_id)
            .field("variant_id", &self.variant_id)
            .field("instance_id", &self.instance_id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The state of one run: the current step, the application's context, the
/// route taken and the record of every move.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowState<C> {
    /// The step the user is on.
    pub step_id: String,
    /// The application's own data.
    pub context: C,
    /// The route used for "back".
    #[serde(default)]
    pub path: Vec<StepRecord>,
    /// Every move, in order.
    #[serde(default)]
    pub history: Vec<StepRecord>,
    /// Whether the flow is still going.
    pub status: FlowStatus,
    /// When the run started.
    #[serde(deserialize_with = "millis::required")]
    pub started_at: Millis,
    /// When it completed (present once [`FlowStatus::Complete`]).
    #[serde(
        default,
        deserialize_with = "millis::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<Millis>,
    /// `__meta`: when it was saved, under which schema version, and whatever
    /// else the writer put there.
    #[serde(rename = "__meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<C> FlowState<C> {
    /// A run that starts at `step_id` now (`started_at`), with `context`.
    pub fn start(step_id: impl Into<String>, context: C, started_at: Millis) -> FlowState<C> {
        let step_id = step_id.into();
        let first = StepRecord::entered(step_id.clone(), started_at);
        FlowState {
            step_id,
            context,
            path: vec![first.clone()],
            history: vec![first],
            status: FlowStatus::Active,
            started_at,
            completed_at: None,
            meta: None,
            extra: Map::new(),
        }
    }

    /// Moves forward to `step_id` at `now`: the current step is recorded as
    /// left by `next`, and the new one entered, in both path and history.
    pub fn advance(&mut self, step_id: impl Into<String>, now: Millis) {
        let step_id = step_id.into();
        for records in [&mut self.path, &mut self.history] {
            if let Some(last) = records.last_mut() {
                last.completed_at.get_or_insert(now);
                last.action.get_or_insert(Action::Next);
            }
            records.push(StepRecord::entered(step_id.clone(), now));
        }
        self.step_id = step_id;
    }

    /// Marks the run complete at `now`.
    pub fn complete(&mut self, now: Millis) {
        self.status = FlowStatus::Complete;
        self.completed_at = Some(now);
    }

    /// `__meta.savedAt`, if the writer stamped it.
    pub fn saved_at(&self) -> Option<Millis> {
        self.meta.as_ref().and_then(|meta| meta.saved_at)
    }

    /// `__meta.version`: the flow's schema version, if the writer stamped it.
    pub fn schema_version(&self) -> Option<&str> {
        self.meta.as_ref().and_then(|meta| meta.version.as_deref())
    }

    /// The same state with its context turned into another type.
    pub fn map_context<D>(self, map: impl FnOnce(C) -> D) -> FlowState<D> {
        FlowState {
            step_id: self.step_id,
            context: map(self.context),
            path: self.path,
            history: self.history,
            status: self.status,
            started_at: self.started_at,
            completed_at: self.completed_at,
            meta: self.meta,
            extra: self.extra,
        }
    }
}

impl<C> fmt::Debug for FlowState<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowState")
            .field("step_id", &self.step_id)
            .field("status", &self.status)
            .field("path_len", &self.path.len())
            .field("history_len", &self.history.len())
            .field("started_at", &self.started_at)
            .field("completed_at", &self.completed_at)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// One step of the path or the history.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// Which step.
    pub step_id: String,
    /// When the user entered it.
    #[serde(deserialize_with = "millis::required")]
    pub started_at: Millis,
    /// When the user left it (absent while still there).
    #[serde(
        default,
        deserialize_with = "millis::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<Millis>,
    /// How the user left it (absent while still there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// Fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl StepRecord {
    /// `step_id`, entered at `started_at` and not left yet.
    pub fn entered(step_id: impl Into<String>, started_at: Millis) -> StepRecord {
        StepRecord {
            step_id: step_id.into(),
            started_at,
            completed_at: None,
            action: None,
            extra: Map::new(),
        }
    }
}

/// `__meta`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// When it was saved, by the saving machine's clock.
    #[serde(
        default,
        deserialize_with = "millis::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub saved_at: Option<Millis>,
    /// The flow's schema version (not the store's entry version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `status`. A value other than the two the original writes is kept as it was
/// (a newer front end may add one) rather than refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum FlowStatus {
    /// `"active"`: the user is somewhere in the flow.
    Active,
    /// `"complete"`: the flow is finished.
    Complete,
    /// Any other status, kept verbatim.
    Other(String),
}

impl From<String> for FlowStatus {
    fn from(text: String) -> FlowStatus {
        match text.as_str() {
            "active" => FlowStatus::Active,
            "complete" => FlowStatus::Complete,
            _ => FlowStatus::Other(text),
        }
    }
}

impl From<FlowStatus> for String {
    fn from(status: FlowStatus) -> String {
        status.as_str().to_owned()
    }
}

impl FlowStatus {
    /// The status as stored.
    pub fn as_str(&self) -> &str {
        match self {
            FlowStatus::Active => "active",
            FlowStatus::Complete => "complete",
            FlowStatus::Other(text) => text,
        }
    }
}

impl fmt::Display for FlowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a step was left. Unknown actions are kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Action {
    /// `"next"`.
    Next,
    /// `"back"`.
    Back,
    /// Any other action, kept verbatim.
    Other(String),
}

impl From<String> for Action {
    fn from(text: String) -> Action {
        match text.as_str() {
            "next" => Action::Next,
            "back" => Action::Back,
            _ => Action::Other(text),
        }
    }
}

impl From<Action> for String {
    fn from(action: Action) -> String {
        match action {
            Action::Next => "next".to_owned(),
            Action::Back => "back".to_owned(),
            Action::Other(text) => text,
        }
    }
}

// Unknown fields can hold anything the front end put there: Debug names them
// and leaves their values out.
impl fmt::Debug for StepRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepRecord")
            .field("step_id", &self.step_id)
            .field("started_at", &self.started_at)
            .field("completed_at", &self.completed_at)
            .field("action", &self.action)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Debug for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meta")
            .field("saved_at", &self.saved_at)
            .field("version", &self.version)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Drops from `extra` the names of the fields the struct writes itself: a
/// flattened map holding one would write that field twice (and `JSON.parse`
/// keeps the last).
fn drop_known(extra: &mut Map<String, Value>, known: &[&str]) {
    extra.retain(|name, _| !known.contains(&name.as_str()));
}

impl<C> FlowInstance<C> {
    /// Removes from every `extra` map the names the format itself uses, so the
    /// written JSON has each field once.
    pub(crate) fn drop_shadowed_extras(&mut self) {
        drop_known(
            &mut self.extra,
            &["flowId", "instanceId", "variantId", "state"],
        );
        let state = &mut self.state;
        drop_known(
            &mut state.extra,
            &[
                "stepId",
                "context",
                "path",
                "history",
                "status",
                "startedAt",
                "completedAt",
                "__meta",
            ],
        );
        if let Some(meta) = &mut state.meta {
            drop_known(&mut meta.extra, &["savedAt", "version"]);
        }
        for record in state.path.iter_mut().chain(state.history.iter_mut()) {
            drop_known(
                &mut record.extra,
                &["stepId", "startedAt", "completedAt", "action"],
            );
        }
    }
}

/// Times as JavaScript writes them: any non-negative JSON number. A fraction
/// (from `performance.now()` arithmetic, say) is rounded to the millisecond,
/// the only change a round trip makes to a time.
mod millis {
    use serde::{Deserialize, Deserializer, de::Error};

    use super::Millis;

    pub(super) fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Millis, D::Error> {
        from_number(f64::deserialize(deserializer)?)
    }

    pub(super) fn optional<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Millis>, D::Error> {
        Option::<f64>::deserialize(deserializer)?
            .map(from_number)
            .transpose()
    }

    fn from_number<E: Error>(number: f64) -> Result<Millis, E> {
        // 2^53: beyond it an f64 no longer holds every millisecond, and no
        // clock of ours is there (it is the year 287396).
        const MAX: f64 = 9_007_199_254_740_992.0;
        if number.is_finite() && (0.0..=MAX).contains(&number) {
            Ok(number.round() as Millis)
        } else {
            Err(E::custom(
                "a time is a non-negative number of milliseconds since the Unix epoch",
            ))
        }
    }
}
