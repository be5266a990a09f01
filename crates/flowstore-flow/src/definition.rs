//! A flow's shape (its steps, where it starts, which step may follow which)
//! and the check of a restored state against it.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{Action, FlowState, FlowStatus};

/// The steps of a flow and the successors of each.
///
/// ```
/// use flowstore_flow::{FlowDefinition, FlowState};
///
/// let signup = FlowDefinition::new("account")
///     .step("account", ["profile"])
///     .step("profile", ["done"])
///     .step("done", [] as [&str; 0]);
/// let mut state = FlowState::start("account", (), 1_000);
/// state.advance("profile", 2_000);
/// assert!(signup.check(&state).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowDefinition {
    start: String,
    steps: BTreeMap<String, Vec<String>>,
}

impl FlowDefinition {
    /// A flow that starts at `start` (declare it with [`step`](Self::step) too).
    pub fn new(start: impl Into<String>) -> FlowDefinition {
        FlowDefinition {
            start: start.into(),
            steps: BTreeMap::new(),
        }
    }

    /// Declares `step_id` and the steps that may follow it (none: the step ends
    /// the flow).
    pub fn step<S: Into<String>>(
        mut self,
        step_id: impl Into<String>,
        successors: impl IntoIterator<Item = S>,
    ) -> FlowDefinition {
        self.steps.insert(
            step_id.into(),
            successors.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// The first step.
    pub fn start(&self) -> &str {
        &self.start
    }

    /// The successors of `step_id`, or `None` if the flow has no such step.
    pub fn successors(&self, step_id: &str) -> Option<&[String]> {
        self.steps.get(step_id).map(Vec::as_slice)
    }

    /// Checks `state` against this definition and returns every problem found:
    /// the current step exists; every step of the path and the history exists;
    /// the history starts at the start step and ends at the current step; each
    /// forward move of the path goes to a successor; a complete flow stands on
    /// a step without successors. (An active flow may stand on a final step:
    /// the user is looking at it and has not finished yet.)
    pub fn check<C>(&self, state: &FlowState<C>) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let current = self.steps.get(&state.step_id);
        if current.is_none() {
            problems.push(Problem::UnknownStep {
                step_id: state.step_id.clone(),
            });
        }
        for (list, records) in [("path", &state.path), ("history", &state.history)] {
            for (index, record) in records.iter().enumerate() {
                if !self.steps.contains_key(&record.step_id) {
                    problems.push(Problem::UnknownStepIn {
                        list,
                        index,
                        step_id: record.step_id.clone(),
                    });
                }
            }
        }
        match state.history.first() {
            Some(first) if first.step_id != self.start => {
                problems.push(Problem::HistoryDoesNotStartAtStart {
                    first: first.step_id.clone(),
                    start: self.start.clone(),
                });
            }
            None => problems.push(Problem::EmptyHistory),
            Some(_) => {}
        }
        if let Some(last) = state.history.last()
            && last.step_id != state.step_id
        {
            problems.push(Problem::HistoryDoesNotEndAtCurrent {
                last: last.step_id.clone(),
                current: state.step_id.clone(),
            });
        }
        for (index, pair) in state.path.windows(2).enumerate() {
            let (from, to) = (&pair[0], &pair[1]);
            let forward = matches!(from.action, None | Some(Action::Next));
            let allowed = self
                .steps
                .get(&from.step_id)
                .is_none_or(|successors| successors.contains(&to.step_id));
            if forward && !allowed {
                problems.push(Problem::NotASuccessor {
                    index: index + 1,
                    from: from.step_id.clone(),
                    to: to.step_id.clone(),
                });
            }
        }
        if let (FlowStatus::Complete, Some(successors)) = (&state.status, current)
            && !successors.is_empty()
        {
            problems.push(Problem::CompleteBeforeTheEnd {
                step_id: state.step_id.clone(),
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// One thing wrong with a state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The current step is not one of the flow's.
    UnknownStep {
        /// The current step.
        step_id: String,
    },
    /// A step of the path or the history is not one of the flow's.
    UnknownStepIn {
        /// `"path"` or `"history"`.
        list: &'static str,
        /// Its position.
        index: usize,
        /// The step.
        step_id: String,
    },
    /// The history is empty: a started flow has entered at least its first step.
    EmptyHistory,
    /// The history does not start at the flow's first step.
    HistoryDoesNotStartAtStart {
        /// The history's first step.
        first: String,
        /// The flow's first step.
        start: String,
    },
    /// The history's last step is not the current step.
    HistoryDoesNotEndAtCurrent {
        /// The history's last step.
        last: String,
        /// The current step.
        current: String,
    },
    /// The path moves forward to a step that does not follow the one before.
    NotASuccessor {
        /// The position of the step moved to.
        index: usize,
        /// The step moved from.
        from: String,
        /// The step moved to.
        to: String,
    },
    /// The flow is complete but its current step has successors.
    CompleteBeforeTheEnd {
        /// The current step.
        step_id: String,
    },
    /// A problem an application's own validate hook found.
    Custom(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnknownStep { step_id } => write!(f, "unknown current step {step_id:?}"),
            Problem::UnknownStepIn {
                list,
                index,
                step_id,
            } => write!(f, "unknown step {step_id:?} at {list}[{index}]"),
            Problem::EmptyHistory => f.write_str("the history is empty"),
            Problem::HistoryDoesNotStartAtStart { first, start } => write!(
                f,
                "the history starts at {first:?}, not at the first step {start:?}"
            ),
            Problem::HistoryDoesNotEndAtCurrent { last, current } => write!(
                f,
                "the history ends at {last:?}, not at the current step {current:?}"
            ),
            Problem::NotASuccessor { index, from, to } => {
                write!(
                    f,
                    "path[{index}] moves from {from:?} to {to:?}, which does not follow it"
                )
            }
            Problem::CompleteBeforeTheEnd { step_id } => write!(
                f,
                "the flow is complete but step {step_id:?} has successors"
            ),
            Problem::Custom(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StepRecord;

    fn signup() -> FlowDefinition {
        FlowDefinition::new("account")
            .step("account", ["profile"])
            .step("profile", ["done"])
            .step("done", [] as [&str; 0])
    }

    #[test]
    fn a_state_walked_through_the_flow_passes() {
        let mut state = FlowState::start("account", (), 1);
        state.advance("profile", 2);
        state.advance("done", 3);
        state.complete(4);
        assert_eq!(signup().check(&state), Ok(()));
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let mut state = FlowState::start("profile", (), 1);
        state.history.push(StepRecord::entered("nowhere", 2));
        state.path.push(StepRecord::entered("account", 2));
        state.complete(3);
        let problems = signup().check(&state).unwrap_err();
        assert_eq!(
            problems,
            vec![
                Problem::UnknownStepIn {
                    list: "history",
                    index: 1,
                    step_id: "nowhere".into()
                },
                Problem::HistoryDoesNotStartAtStart {
                    first: "profile".into(),
                    start: "account".into()
                },
                Problem::HistoryDoesNotEndAtCurrent {
                    last: "nowhere".into(),
                    current: "profile".into()
                },
                Problem::NotASuccessor {
                    index: 1,
                    from: "profile".into(),
                    to: "account".into()
                },
                Problem::CompleteBeforeTheEnd {
                    step_id: "profile".into()
                },
            ]
        );
    }

    #[test]
    fn unknown_current_step_and_empty_history_are_problems() {
        let mut state = FlowState::start("account", (), 1);
        state.step_id = "gone".into();
        state.history.clear();
        let problems = signup().check(&state).unwrap_err();
        assert!(problems.contains(&Problem::UnknownStep {
            step_id: "gone".into()
        }));
        assert!(problems.contains(&Problem::EmptyHistory));
    }

    #[test]
    fn going_back_is_not_checked_as_a_forward_move() {
        let mut state = FlowState::start("account", (), 1);
        state.advance("profile", 2);
        state.path[1].action = Some(Action::Back);
        state.path.push(StepRecord::entered("account", 3));
        state.history = state.path.clone();
        state.step_id = "account".into();
        assert_eq!(signup().check(&state), Ok(()));
    }
}
