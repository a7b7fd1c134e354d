//! A FIFO queue of integers with enqueue and dequeue.

use std::collections::VecDeque;

use crate::history::model::{Model, Step};

/// A queue request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueInput {
    /// Append a value at the tail.
    Enqueue(i64),
    /// Take the value at the head.
    Dequeue,
}

/// A queue response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueOutput {
    /// An enqueue was acknowledged.
    Enqueued,
    /// What a dequeue took (`None`: the queue was empty).
    Dequeued(Option<i64>),
}

/// The FIFO queue model; the state is the queue's contents, head first.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueModel;

impl Model for QueueModel {
    type State = VecDeque<i64>;
    type Input = QueueInput;
    type Output = QueueOutput;
    type Partition = ();

    fn init(&self) -> VecDeque<i64> {
        VecDeque::new()
    }

    fn step(
        &self,
        state: &VecDeque<i64>,
        input: &QueueInput,
        output: Option<&QueueOutput>,
    ) -> Step<VecDeque<i64>> {
        match (input, output) {
            (QueueInput::Enqueue(v), None | Some(QueueOutput::Enqueued)) => {
                let mut next = state.clone();
                next.push_back(*v);
                Step::To(next)
            }
            (QueueInput::Dequeue, Some(QueueOutput::Dequeued(got))) => {
                if state.front() != got.as_ref() {
                    Step::Illegal
                } else if state.is_empty() {
                    Step::Same
                } else {
                    let mut next = state.clone();
                    next.pop_front();
                    Step::To(next)
                }
            }
            // An indeterminate dequeue may have taken the head (or found the queue empty).
            (QueueInput::Dequeue, None) => {
                if state.is_empty() {
                    Step::Same
                } else {
                    let mut next = state.clone();
                    next.pop_front();
                    Step::To(next)
                }
            }
            _ => Step::Illegal,
        }
    }

    fn partition(&self, _: &QueueInput) {}

    fn describe_op(&self, input: &QueueInput, output: Option<&QueueOutput>) -> String {
        match (input, output) {
            (QueueInput::Enqueue(v), Some(_)) => format!("enqueue({v})"),
            (QueueInput::Enqueue(v), None) => format!("enqueue({v}) ?"),
            (QueueInput::Dequeue, Some(QueueOutput::Dequeued(Some(v)))) => {
                format!("dequeue() -> {v}")
            }
            (QueueInput::Dequeue, Some(_)) => "dequeue() -> empty".to_string(),
            (QueueInput::Dequeue, None) => "dequeue() -> ?".to_string(),
        }
    }
}
