//! The async driver: runs one call through a [`Stack`] on any `model::Runtime`, sending each
//! attempt with a caller-supplied function and sleeping out the backoffs.

use super::resolve::Resolve;
use super::stack::{Attempt, Next, Rejected, Stack};
use crate::balance::{Balancer, NodeId};
use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use testbed_model::runtime::timeout_at;
use testbed_model::{Instant, Runtime};

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError<E> {
    /// A layer refused the attempt.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejected),
    /// The last attempt failed with this error.
    #[error("attempt {attempts} failed: {error}")]
    Failed {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        error: E,
    },
    /// The last attempt hit its deadline.
    #[error("attempt {attempts} timed out")]
    TimedOut {
        /// Attempts made.
        attempts: u32,
    },
}

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// The service answered.
    Primary,
    /// The call failed and the fallback answered.
    Fallback,
}

/// Runs one call: attempts go to `send(node, addr, attempt_deadline)`, each bounded by its
/// deadline; failures are retried as the stack decides. The stack is borrowed only between
/// awaits, so many calls may share it.
pub async fn call<Rt, B, R, T, E, F, Fut>(
    rt: &Rt,
    stack: &RefCell<Stack<B, R>>,
    key: u64,
    mut send: F,
) -> Result<T, ClientError<E>>
where
    Rt: Runtime,
    B: Balancer,
    R: Resolve,
    F: FnMut(NodeId, SocketAddr, Option<Instant>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut c = stack.borrow_mut().begin(rt.now(), key);
    let mut guard = Guard {
        rt,
        stack,
        attempt: None,
        done: false,
    };
    loop {
        let attempt = match stack.borrow_mut().try_attempt(rt.now(), &mut c) {
            Ok(a) => a,
            Err(e) => {
                guard.done = true;
                return Err(e.into());
            }
        };
        let fut = send(attempt.node, attempt.addr, attempt.deadline);
        let deadline = attempt.deadline;
        guard.attempt = Some(attempt);
        let result: Option<Result<T, E>> = match deadline {
            Some(d) => timeout_at(rt, d, fut).await.ok(),
            None => Some(fut.await),
        };
        let attempt = guard.attempt.take().expect("set before the await");
        let (ok, timed_out) = (matches!(result, Some(Ok(_))), result.is_none());
        let attempts = c.attempts;
        let next = stack
            .borrow_mut()
            .finish(rt.now(), &mut c, attempt, ok, timed_out);
        if let Next::RetryAfter(d) = next {
            rt.sleep(d).await;
            continue;
        }
        guard.done = true;
        return match result {
            Some(Ok(v)) => Ok(v),
            Some(Err(error)) => Err(ClientError::Failed { attempts, error }),
            None => Err(ClientError::TimedOut { attempts }),
        };
    }
}

/// Reports a call dropped mid-way (its caller gave up) to the stack.
struct Guard<'a, Rt: Runtime, B: Balancer, R: Resolve> {
    rt: &'a Rt,
    stack: &'a RefCell<Stack<B, R>>,
    attempt: Option<Attempt>,
    done: bool,
}

impl<Rt: Runtime, B: Balancer, R: Resolve> Drop for Guard<'_, Rt, B, R> {
    fn drop(&mut self) {
        if !self.done {
            if let Ok(mut s) = self.stack.try_borrow_mut() {
                s.abandon(self.rt.now(), self.attempt.take());
            }
        }
    }
}

/// [`call`], answering with `fallback(&error)` when the call fails (counted in the stack's
/// `fallbacks`).
pub async fn call_or_fallback<Rt, B, R, T, E, F, Fut>(
    rt: &Rt,
    stack: &RefCell<Stack<B, R>>,
    key: u64,
    send: F,
    fallback: impl FnOnce(&ClientError<E>) -> T,
) -> (T, Served)
where
    Rt: Runtime,
    B: Balancer,
    R: Resolve,
    F: FnMut(NodeId, SocketAddr, Option<Instant>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match call(rt, stack, key, send).await {
        Ok(v) => (v, Served::Primary),
        Err(e) => {
            stack.borrow_mut().count_fallback();
            (fallback(&e), Served::Fallback)
        }
    }
}
