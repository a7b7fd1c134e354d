//! One recorded operation and a whole history of them.

use testbed_model::Instant;

/// One client operation: what was asked, what came back, and when (simulated time).
///
/// `output == None` means the client never saw the result (a timeout, a crash, a lost
/// reply): the operation may or may not have taken effect. Such an operation's `ret` is
/// usually [`Instant::MAX`] (+∞), so the checker may place it anywhere after `call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op<I, O> {
    /// The client (process) that issued it; only used for rendering.
    pub client: u32,
    /// The request.
    pub input: I,
    /// The response, or `None` when indeterminate.
    pub output: Option<O>,
    /// When the request was issued.
    pub call: Instant,
    /// When the response arrived (`Instant::MAX` when it never did).
    pub ret: Instant,
}

impl<I, O> Op<I, O> {
    /// A completed operation.
    pub fn ok(client: u32, input: I, output: O, call: Instant, ret: Instant) -> Op<I, O> {
        Op {
            client,
            input,
            output: Some(output),
            call,
            ret,
        }
    }
    /// An operation whose effect is unknown: possibly applied at any time after `call`.
    pub fn indeterminate(client: u32, input: I, call: Instant) -> Op<I, O> {
        Op {
            client,
            input,
            output: None,
            call,
            ret: Instant::MAX,
        }
    }
}

/// A history: the operations every client completed or left indeterminate. Operations that
/// definitely failed (had no effect) are not part of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<I, O> {
    /// The operations, in any order.
    pub ops: Vec<Op<I, O>>,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        History { ops: Vec::new() }
    }
}

impl<I, O> History<I, O> {
    /// A history of `ops`.
    pub fn new(ops: Vec<Op<I, O>>) -> History<I, O> {
        History { ops }
    }
    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
