//! The checker's entry point: validate, partition (P-compositionality), search each
//! partition in order, and report a verdict with a counterexample.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use super::counterexample::Counterexample;
use super::model::Model;
use super::op::History;
use super::search::{Budget, Outcome, Partition, Poll, Search};

/// Model steps one partition runs before the next partition's turn.
const SLICE: u64 = 1 << 14;

/// The most operations one check accepts (ids are 32-bit).
pub const MAX_OPS: usize = (u32::MAX / 2) as usize;

/// Bounds on one check.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions<'a> {
    /// At most this many model steps over all partitions; then the verdict is
    /// [`Verdict::Unknown`]. The search is exponential in the worst case: keep a bound.
    pub max_steps: u64,
    /// At most this many bytes for the memo tables (the (linearized set, state) pairs
    /// seen); then the verdict is [`Verdict::Unknown`].
    pub max_memo_bytes: u64,
    /// Polled every 1,024 steps; when set, the check stops with [`Verdict::Unknown`]. Set it
    /// from a timer thread for a wall-clock deadline (the checker itself reads no clock).
    pub cancel: Option<&'a AtomicBool>,
}

impl Default for CheckOptions<'_> {
    /// A budget of 10⁹ steps (tens of seconds), 4 GiB of memo tables, no cancel flag.
    fn default() -> Self {
        CheckOptions {
            max_steps: 1_000_000_000,
            max_memo_bytes: 4 << 30,
            cancel: None,
        }
    }
}

/// Why a history could not be checked at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// More than [`MAX_OPS`] operations.
    #[error("history has {ops} operations; at most {max} are supported")]
    TooManyOps {
        /// Operations in the history.
        ops: usize,
        /// The limit.
        max: usize,
    },
    /// An operation returns before it was called.
    #[error("operation {index} returns before it was called")]
    ReturnBeforeCall {
        /// Its index in the history.
        index: usize,
    },
}

/// Why the checker gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownReason {
    /// `max_steps` model steps were spent.
    StepBudget,
    /// The memo tables reached `max_memo_bytes`.
    MemoryBudget,
    /// The cancel flag was set.
    Cancelled,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Some order of the operations, consistent with real time, satisfies the model.
    Linearizable,
    /// No such order exists; here is the smallest evidence found.
    NotLinearizable(Box<Counterexample>),
    /// The budget ran out before an answer.
    Unknown(UnknownReason),
}

impl Verdict {
    /// Whether the verdict is [`Verdict::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
    /// The counterexample, when not linearizable.
    pub fn counterexample(&self) -> Option<&Counterexample> {
        match self {
            Verdict::NotLinearizable(c) => Some(c),
            _ => None,
        }
    }
}

/// A verdict and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// The answer.
    pub verdict: Verdict,
    /// Partitions in the history.
    pub partitions: usize,
    /// Model steps taken.
    pub steps: u64,
}

/// Checks `history` against `model` within `opts`.
pub fn check<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    opts: &CheckOptions<'_>,
) -> Result<CheckReport, CheckError> {
    let ops = &history.ops;
    if ops.len() > MAX_OPS {
        return Err(CheckError::TooManyOps {
            ops: ops.len(),
            max: MAX_OPS,
        });
    }
    if let Some(index) = ops.iter().position(|o| o.ret < o.call) {
        return Err(CheckError::ReturnBeforeCall { index });
    }
    // Partition, in the model's key order (deterministic).
    let mut by_key: BTreeMap<M::Partition, Vec<u32>> = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        by_key
            .entry(model.partition(&o.input))
            .or_default()
            .push(i as u32);
    }
    let mut budget = Budget {
        steps_left: opts.max_steps,
        steps_done: 0,
        memo_bytes_left: opts.max_memo_bytes,
        memo_exhausted: false,
        cancel: opts.cancel,
    };
    let partitions = by_key.len();
    // Every partition gets a slice of steps in turn (round robin), so an illegal partition
    // is found without first exhausting a hard legal one; the order, and so the verdict and
    // counterexample, depend only on the history.
    struct Active<'h, M: Model> {
        key: M::Partition,
        part: Partition,
        inputs: Vec<&'h M::Input>,
        outputs: Vec<Option<&'h M::Output>>,
        search: Search<M::State>,
    }
    let mut active: Vec<Active<'_, M>> = by_key
        .into_iter()
        .map(|(key, members)| {
            let part = partition(history, members);
            let inputs = part.ops.iter().map(|&g| &ops[g as usize].input).collect();
            let outputs = part
                .ops
                .iter()
                .map(|&g| ops[g as usize].output.as_ref())
                .collect();
            let search = Search::new(model.init(), &part);
            Active {
                key,
                part,
                inputs,
                outputs,
                search,
            }
        })
        .collect();
    while !active.is_empty() {
        let mut i = 0;
        while i < active.len() {
            let a = &mut active[i];
            match a
                .search
                .run(model, &a.inputs, &a.outputs, &mut budget, SLICE)
            {
                Poll::Pending => i += 1,
                Poll::Done(Outcome::Linearizable) => {
                    active.remove(i);
                }
                Poll::Done(Outcome::Stopped) => {
                    let reason = if budget.memo_exhausted {
                        UnknownReason::MemoryBudget
                    } else if budget.steps_left > 0 || budget.steps_done < opts.max_steps {
                        UnknownReason::Cancelled
                    } else {
                        UnknownReason::StepBudget
                    };
                    return Ok(CheckReport {
                        verdict: Verdict::Unknown(reason),
                        partitions,
                        steps: budget.steps_done,
                    });
                }
                Poll::Done(Outcome::Illegal {
                    prefix,
                    stuck,
                    state,
                }) => {
                    let part = &a.part;
                    let g = |l: u32| part.ops[l as usize] as usize;
                    let describe = |i: usize| {
                        let o = &ops[i];
                        model.describe_op(&o.input, o.output.as_ref())
                    };
                    let cx = Counterexample {
                        partition: format!("{:?}", a.key),
                        partition_ops: part.ops.iter().map(|&o| o as usize).collect(),
                        prefix: prefix.iter().map(|&l| g(l)).collect(),
                        prefix_described: prefix.iter().map(|&l| describe(g(l))).collect(),
                        stuck: g(stuck),
                        stuck_described: describe(g(stuck)),
                        state_after_prefix: state,
                    };
                    return Ok(CheckReport {
                        verdict: Verdict::NotLinearizable(Box::new(cx)),
                        partitions,
                        steps: budget.steps_done,
                    });
                }
            }
        }
    }
    Ok(CheckReport {
        verdict: Verdict::Linearizable,
        partitions,
        steps: budget.steps_done,
    })
}

/// Orders one partition's call and return events by time, calls first at equal times
/// (intervals are closed: operations touching at an instant are concurrent).
fn partition<I, O>(history: &History<I, O>, members: Vec<u32>) -> Partition {
    let mut keyed: Vec<(u64, bool, u32)> = Vec::with_capacity(members.len() * 2);
    for (local, &g) in members.iter().enumerate() {
        let o = &history.ops[g as usize];
        keyed.push((o.call.as_nanos(), false, local as u32));
        keyed.push((o.ret.as_nanos(), true, local as u32));
    }
    keyed.sort_unstable();
    Partition {
        ops: members,
        events: keyed.into_iter().map(|(_, r, l)| (l, !r)).collect(),
    }
}
