//! The signup flow's steps: account → profile → plan → complete.

use flowstore_flow::FlowDefinition;

/// The flow id every run is saved under (`useflow:signup:default:{user}`).
pub(crate) const FLOW_ID: &str = "signup";

/// A step of the signup flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The e-mail address.
    Account,
    /// The user's name.
    Profile,
    /// The plan chosen.
    Plan,
    /// Done: no fields, nothing follows.
    Complete,
}

impl Step {
    /// Where every run starts.
    pub(crate) const FIRST: Step = Step::Account;

    /// The step's id as stored in `state.stepId`.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Step::Account => "account",
            Step::Profile => "profile",
            Step::Plan => "plan",
            Step::Complete => "complete",
        }
    }

    /// The step a client can post fields to, by id (the final step takes none).
    pub(crate) fn with_fields(id: &str) -> Option<Step> {
        match id {
            "account" => Some(Step::Account),
            "profile" => Some(Step::Profile),
            "plan" => Some(Step::Plan),
            _ => None,
        }
    }

    /// The step that follows this one, if any.
    pub(crate) fn next(self) -> Option<Step> {
        match self {
            Step::Account => Some(Step::Profile),
            Step::Profile => Some(Step::Plan),
            Step::Plan => Some(Step::Complete),
            Step::Complete => None,
        }
    }
}

/// The flow's shape, checked against every restored state so a saved run
/// that does not fit (written by a buggy client, say) is an error, not a
/// silent restart.
pub(crate) fn definition() -> FlowDefinition {
    let mut definition = FlowDefinition::new(Step::FIRST.id());
    let mut step = Some(Step::FIRST);
    while let Some(current) = step {
        let successors: Vec<&str> = current.next().map(Step::id).into_iter().collect();
        definition = definition.step(current.id(), successors);
        step = current.next();
    }
    definition
}
