//! A cheap, cloneable handle that clients (sync or async, any number) record operations into.

use std::sync::{Arc, Mutex, MutexGuard};

use testbed_model::Instant;

use super::op::{History, Op};

/// The index of an invoked operation in its [`Recorder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u32);

/// Why a recording call was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The recorder already holds its limit of operations.
    #[error("history full: the recorder holds at most {limit} operations")]
    Full {
        /// The configured limit.
        limit: usize,
    },
    /// The id was not handed out by this recorder.
    #[error("operation {0:?} was never invoked on this recorder")]
    UnknownOp(OpId),
    /// The operation already completed (ok, fail or indeterminate).
    #[error("operation {0:?} already completed")]
    AlreadyCompleted(OpId),
    /// The completion time precedes the invocation time.
    #[error("operation {id:?} returns at {ret:?}, before its call at {call:?}")]
    ReturnBeforeCall {
        /// The operation.
        id: OpId,
        /// Its invocation time.
        call: Instant,
        /// The offending return time.
        ret: Instant,
    },
}

#[derive(Debug)]
enum Status<O> {
    Pending,
    Ok(O, Instant),
    Failed,
    Indeterminate,
}

#[derive(Debug)]
struct Entry<I, O> {
    client: u32,
    input: I,
    call: Instant,
    status: Status<O>,
}

#[derive(Debug)]
struct Inner<I, O> {
    limit: usize,
    entries: Vec<Entry<I, O>>,
}

/// Records operations with simulated times. Clone it into every client; each clone appends
/// to the same history. Times come in as arguments (`Runtime::now()` in the caller), never
/// from a clock. Operations still pending when [`Recorder::history`] is taken count as
/// indeterminate (possibly applied, return time +∞); failed ones are dropped.
#[derive(Debug)]
pub struct Recorder<I, O> {
    inner: Arc<Mutex<Inner<I, O>>>,
}

impl<I, O> Clone for Recorder<I, O> {
    fn clone(&self) -> Self {
        Recorder {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<I: Clone, O: Clone> Recorder<I, O> {
    /// A recorder that accepts at most `limit` operations.
    pub fn new(limit: usize) -> Recorder<I, O> {
        Recorder {
            inner: Arc::new(Mutex::new(Inner {
                limit,
                entries: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<I, O>> {
        // A panic while holding the lock leaves the Vec consistent (every mutation is a
        // single push or field store), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Client `client` issues `input` at `now`.
    pub fn invoke(&self, client: u32, input: I, now: Instant) -> Result<OpId, RecordError> {
        let mut g = self.lock();
        if g.entries.len() >= g.limit || g.entries.len() >= u32::MAX as usize {
            return Err(RecordError::Full { limit: g.limit });
        }
        let id = OpId(g.entries.len() as u32);
        g.entries.push(Entry {
            client,
            input,
            call: now,
            status: Status::Pending,
        });
        Ok(id)
    }

    fn complete(&self, id: OpId, status: Status<O>) -> Result<(), RecordError> {
        let mut g = self.lock();
        let e = g
            .entries
            .get_mut(id.0 as usize)
            .ok_or(RecordError::UnknownOp(id))?;
        if !matches!(e.status, Status::Pending) {
            return Err(RecordError::AlreadyCompleted(id));
        }
        if let Status::Ok(_, ret) = &status {
            if *ret < e.call {
                return Err(RecordError::ReturnBeforeCall {
                    id,
                    call: e.call,
                    ret: *ret,
                });
            }
        }
        e.status = status;
        Ok(())
    }

    /// The operation completed at `now` with `output`.
    pub fn ok(&self, id: OpId, output: O, now: Instant) -> Result<(), RecordError> {
        self.complete(id, Status::Ok(output, now))
    }

    /// The operation definitely had no effect (e.g. rejected before reaching any replica).
    pub fn fail(&self, id: OpId) -> Result<(), RecordError> {
        self.complete(id, Status::Failed)
    }

    /// The client gave up without knowing whether the operation took effect.
    pub fn indeterminate(&self, id: OpId) -> Result<(), RecordError> {
        self.complete(id, Status::Indeterminate)
    }

    /// Number of operations invoked so far.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing was invoked yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The history so far: completed operations, indeterminate and still-pending ones
    /// (return +∞), without failed ones.
    pub fn history(&self) -> History<I, O> {
        let g = self.lock();
        let ops = g
            .entries
            .iter()
            .filter_map(|e| match &e.status {
                Status::Failed => None,
                Status::Ok(out, ret) => {
                    Some(Op::ok(e.client, e.input.clone(), out.clone(), e.call, *ret))
                }
                Status::Pending | Status::Indeterminate => {
                    Some(Op::indeterminate(e.client, e.input.clone(), e.call))
                }
            })
            .collect();
        History::new(ops)
    }
}
