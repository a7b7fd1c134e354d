//! Workers: one OS thread each, running a tokio current-thread runtime with a `LocalSet`, so
//! futures need not be `Send`. Model time is nanoseconds since one `std::time::Instant`
//! chosen when the [`Kernel`] is built, shared by all workers.
// This backend owns the real clock: the determinism lints do not apply here.
#![allow(clippy::disallowed_methods)]

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use testbed_model::runtime::join_pair;
use testbed_model::worker::WorkerCore;
use testbed_model::{Duration, Instant, JoinError, JoinHandle, Runtime, SeededRng};

/// Configures a [`Kernel`].
#[derive(Clone, Debug)]
pub struct Builder {
    workers: usize,
    seed: u64,
    connect_timeout: Duration,
}

impl Builder {
    /// Number of worker threads (default: available parallelism).
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = n.max(1);
        self
    }
    /// Seed of the workers' `rng()` streams (default 0).
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = seed;
        self
    }
    /// How long `connect` waits for the handshake (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Builder {
        self.connect_timeout = d;
        self
    }
    /// Builds the kernel backend; fixes the time epoch.
    pub fn build(self) -> Kernel {
        Kernel {
            epoch: std::time::Instant::now(),
            cfg: self,
        }
    }
}

/// The kernel backend: a set of workers sharing one time epoch.
#[derive(Clone, Debug)]
pub struct Kernel {
    epoch: std::time::Instant,
    cfg: Builder,
}

impl Kernel {
    /// A builder with defaults.
    pub fn builder() -> Builder {
        Builder {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            seed: 0,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.cfg.workers
    }

    /// Runs `f(worker)` on every worker thread at once and returns each worker's output in
    /// worker order. A worker whose future panicked yields `JoinError::Panicked`. Tasks the
    /// future spawned are dropped when it completes.
    pub fn run<F, Fut, T>(&self, f: F) -> Vec<Result<T, JoinError>>
    where
        F: Fn(Worker) -> Fut + Sync,
        Fut: Future<Output = T> + 'static,
        T: Send,
    {
        let n = self.cfg.workers;
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|index| {
                    let f = &f;
                    let this = self.clone();
                    std::thread::Builder::new()
                        .name(format!("testbed-worker-{index}"))
                        .spawn_scoped(scope, move || this.run_worker(index, f))
                        .expect("spawn worker thread")
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|p| Err(JoinError::Panicked(panic_message(&*p))))
                })
                .collect()
        })
    }

    /// Runs `f(worker)` as worker 0 of `self` on the current thread.
    pub fn block_on<Fut: Future>(&self, f: impl FnOnce(Worker) -> Fut) -> Fut::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let local = tokio::task::LocalSet::new();
        let worker = self.worker(0);
        local.block_on(&rt, f(worker))
    }

    fn worker(&self, index: usize) -> Worker {
        Worker(Arc::new(WorkerInner {
            core: WorkerCore::new("worker", index, self.cfg.workers, self.cfg.seed, self.epoch),
            connect_timeout: self.cfg.connect_timeout,
        }))
    }

    fn run_worker<F, Fut, T>(&self, index: usize, f: &F) -> Result<T, JoinError>
    where
        F: Fn(Worker) -> Fut,
        Fut: Future<Output = T> + 'static,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| JoinError::Panicked(format!("tokio runtime: {e}")))?;
        let local = tokio::task::LocalSet::new();
        let worker = self.worker(index);
        let fut = f(worker);
        local.block_on(&rt, CatchUnwind(Box::pin(fut)))
    }
}

/// `Kernel::builder().workers(1).seed(seed).build().block_on(f)`.
pub fn block_on<Fut: Future>(seed: u64, f: impl FnOnce(Worker) -> Fut) -> Fut::Output {
    Kernel::builder().workers(1).seed(seed).build().block_on(f)
}

struct WorkerInner {
    core: WorkerCore,
    connect_timeout: Duration,
}

/// One worker thread's handle: implements `Runtime` and `Net` around the workers' shared
/// core ([`WorkerCore`]: index, `rng()` streams, clock mapping). It is `Send + Sync` (libraries
/// such as hyper's timer and tonic's executor demand it) but belongs to its thread: `spawn`
/// must be called on that worker's thread, like everything spawned on it.
#[derive(Clone)]
pub struct Worker(Arc<WorkerInner>);

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.core.fmt(f)
    }
}

impl Worker {
    /// This worker's index, `0..count()`.
    pub fn index(&self) -> usize {
        self.0.core.index()
    }
    /// Number of workers in its kernel.
    pub fn count(&self) -> usize {
        self.0.core.count()
    }
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.0.connect_timeout
    }
}

/// Catches a panic of the wrapped future, turning it into `JoinError::Panicked`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(JoinError::Panicked(panic_message(&*p)))),
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

impl Runtime for Worker {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Instant {
        self.0.core.instant(std::time::Instant::now())
    }

    fn wall_clock(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }

    fn sleep_until(&self, deadline: Instant) -> tokio::time::Sleep {
        tokio::time::sleep_until(tokio::time::Instant::from_std(
            self.0.core.deadline(deadline),
        ))
    }

    /// Spawns on this worker's `LocalSet`. Must be called from inside [`Kernel::run`] or
    /// [`Kernel::block_on`]. A panicking task yields `JoinError::Panicked`.
    fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let abort_slot: Rc<Cell<Option<tokio::task::AbortHandle>>> = Rc::new(Cell::new(None));
        let slot = abort_slot.clone();
        let (tx, handle) = join_pair(Some(Box::new(move || {
            if let Some(a) = slot.take() {
                a.abort();
            }
        })));
        let task = tokio::task::spawn_local(async move {
            match CatchUnwind(Box::pin(fut)).await {
                Ok(v) => tx.send(v),
                Err(e) => tx.fail(e),
            }
        });
        abort_slot.set(Some(task.abort_handle()));
        handle
    }

    fn rng(&self) -> SeededRng {
        self.0.core.rng()
    }
}
