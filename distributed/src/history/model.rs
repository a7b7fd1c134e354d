//! The sequential specification a history is checked against.

use std::fmt::Debug;
use std::hash::Hash;

/// The result of applying one operation to a model state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<S> {
    /// The output is impossible from this state: the operation cannot be placed here.
    Illegal,
    /// Legal, and the state is unchanged (reads): the checker skips a state copy.
    Same,
    /// Legal, and the state becomes this.
    To(S),
}

/// A sequential specification: a state machine over `Input`s producing `Output`s.
///
/// Implement it for your own service; [`super::models`] has a register, a key-value store
/// and a FIFO queue. The checker calls `step` millions of times, so keep it allocation-free
/// where the state does not change (return [`Step::Same`]).
pub trait Model {
    /// The abstract state. Equal states are merged by the checker's memoization.
    type State: Clone + Eq + Hash + Debug;
    /// A request.
    type Input: Debug;
    /// A response.
    type Output: Debug;
    /// What the history is split by (P-compositionality): operations with different
    /// partitions never interact, so each partition is checked alone, with its own state.
    /// Use `()` when the model does not partition.
    type Partition: Ord + Clone + Debug;

    /// The initial state (of each partition).
    fn init(&self) -> Self::State;

    /// Apply `input` to `state` given the observed `output` (`None`: indeterminate, any
    /// output is acceptable but the effect, if any, must be applied).
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Step<Self::State>;

    /// The partition `input` belongs to.
    fn partition(&self, input: &Self::Input) -> Self::Partition;

    /// A one-line description of an operation, for counterexamples and SVG.
    fn describe_op(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        match output {
            Some(o) => format!("{input:?} -> {o:?}"),
            None => format!("{input:?} -> ?"),
        }
    }

    /// A one-line description of a state.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}
