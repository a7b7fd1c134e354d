//! The async runtime contract: time, sleeping, spawning, timeouts and per-host randomness.
//!
//! Futures need not be `Send`: the simulator is single-threaded and real backends run one
//! current-thread runtime per core. Runtime *handles* of the simulator are nevertheless
//! `Send + Sync` (quinn's `Runtime` needs that); this trait does not demand it so that
//! thread-per-core backends may use `Rc` internally.

use crate::rng::SeededRng;
use crate::time::{Duration, Instant};
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Time, sleeping and spawning for one host (simulated) or one worker (real).
pub trait Runtime: Clone + 'static {
    /// The future returned by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()> + 'static;

    /// This host's current time. In the simulator this includes the host's clock skew.
    fn now(&self) -> Instant;

    /// Completes once [`Runtime::now`] has reached `deadline` (immediately if it has).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Completes after `d` has elapsed on this host's clock.
    fn sleep(&self, d: Duration) -> Self::Sleep {
        self.sleep_until(self.now().saturating_add(d))
    }

    /// Runs `fut` concurrently on this host. The task ends when it completes, is aborted
    /// through its handle, or its host crashes. Dropping the handle detaches the task.
    fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static;

    /// A fresh random stream for this host, derived from the run's seed (the n-th call on a
    /// host always returns the same stream for the same seed).
    fn rng(&self) -> SeededRng;

    /// This host's wall clock (calendar time, e.g. for an HTTP `Date` header). Unlike
    /// [`Runtime::now`] it may step (an NTP correction, a simulated `clock_skew`): never
    /// measure elapsed time or set deadlines with it. Real backends read the system clock;
    /// the simulator reads the host's skewed wall clock. This default, for runtimes without a
    /// wall clock of their own, counts [`Runtime::now`] from [`WALL_EPOCH_SECS`].
    fn wall_clock(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(WALL_EPOCH_SECS) + self.now().since_epoch()
    }

    /// A buggify point (FoundationDB's BUGGIFY): `true` asks the caller to take a rare but
    /// legal path here — a short read, a delayed flush, an early close — that the component
    /// and its peers must survive. `name` identifies the point (`"<component>.<what>"`). In the
    /// simulator each point is enabled per run with some probability and then fires with some
    /// probability, all drawn from the seed; real backends never fire (this default).
    fn buggify(&self, name: &'static str) -> bool {
        let _ = name;
        false
    }
}

/// Seconds after the Unix epoch that a simulated wall clock reads at time zero
/// (2024-01-01T00:00:00Z): a fixed, plausible date, so runs are reproducible.
pub const WALL_EPOCH_SECS: u64 = 1_704_067_200;

/// Why a task produced no output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was aborted through its [`JoinHandle`].
    #[error("task was aborted")]
    Aborted,
    /// The task was dropped before completing: its host crashed or the runtime shut down.
    #[error("task was cancelled (host crashed or runtime stopped)")]
    Cancelled,
    /// The task panicked (real backends only; a panic in the simulator fails the run).
    #[error("task panicked: {0}")]
    Panicked(String),
}

struct JoinState<T> {
    result: Option<Result<T, JoinError>>,
    waker: Option<Waker>,
}

/// Awaits a spawned task's output. Built by runtimes with [`join_pair`].
pub struct JoinHandle<T> {
    state: Arc<Mutex<JoinState<T>>>,
    abort: Option<Box<dyn Fn()>>,
}

/// The runtime's side of a [`JoinHandle`]: completes it, or cancels it when dropped unsent.
pub struct JoinSender<T> {
    state: Arc<Mutex<JoinState<T>>>,
    sent: bool,
}

/// A connected sender/handle pair. `abort` is what [`JoinHandle::abort`] calls.
pub fn join_pair<T>(abort: Option<Box<dyn Fn()>>) -> (JoinSender<T>, JoinHandle<T>) {
    let state = Arc::new(Mutex::new(JoinState {
        result: None,
        waker: None,
    }));
    (
        JoinSender {
            state: state.clone(),
            sent: false,
        },
        JoinHandle { state, abort },
    )
}

impl<T> JoinSender<T> {
    /// Delivers the task's output.
    pub fn send(mut self, value: T) {
        self.finish(Ok(value));
    }
    /// Delivers an error (e.g. a caught panic).
    pub fn fail(mut self, err: JoinError) {
        self.finish(Err(err));
    }
    fn finish(&mut self, r: Result<T, JoinError>) {
        self.sent = true;
        let waker = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.result.is_none() {
                s.result = Some(r);
            }
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for JoinSender<T> {
    fn drop(&mut self) {
        if !self.sent {
            self.finish(Err(JoinError::Cancelled));
        }
    }
}

impl<T> JoinHandle<T> {
    /// Stops the task at its next await point; awaiting the handle then yields
    /// [`JoinError::Aborted`] (unless the task had already finished).
    pub fn abort(&self) {
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.result.is_none() {
                s.result = Some(Err(JoinError::Aborted));
            }
        }
        if let Some(a) = &self.abort {
            a();
        }
    }
    /// Whether the task has finished (completed, aborted or cancelled).
    pub fn is_finished(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .result
            .is_some()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A deadline passed before the future completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("deadline elapsed")]
pub struct Elapsed;

/// Runs `fut` until it completes or `d` elapses on `rt`'s clock, whichever is first.
/// The future is polled before the timer, so an already-ready future always wins.
pub async fn timeout<R: Runtime, F: Future>(
    rt: &R,
    d: Duration,
    fut: F,
) -> Result<F::Output, Elapsed> {
    let deadline = rt.now().saturating_add(d);
    timeout_at(rt, deadline, fut).await
}

/// Like [`timeout`] with an absolute deadline on `rt`'s clock.
pub async fn timeout_at<R: Runtime, F: Future>(
    rt: &R,
    deadline: Instant,
    fut: F,
) -> Result<F::Output, Elapsed> {
    let mut fut = pin!(fut);
    let mut sleep = pin!(rt.sleep_until(deadline));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Yields once to the scheduler, letting other ready tasks run.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
