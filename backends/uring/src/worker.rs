//! Workers: one thread and one ring each (thread per core), and the handle tasks use as their
//! `model::Runtime`.

use crate::driver::{self, RingConfig, RingStats};
use crate::executor::{self, Exec};
use crate::probe::{self, Features};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use testbed_model::runtime::join_pair;
use testbed_model::worker::WorkerCore;
use testbed_model::{Instant, JoinHandle, Runtime, SeededRng};

/// Builds a set of io_uring workers.
#[derive(Clone, Copy, Debug)]
pub struct Builder {
    workers: usize,
    seed: u64,
    ring: RingConfig,
}

impl Builder {
    /// Number of worker threads (default 1).
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = n.max(1);
        self
    }
    /// Seed of the workers' `rng()` streams.
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = seed;
        self
    }
    /// Submission queue entries per ring (default 256; the kernel clamps to its maximum). A
    /// full submission queue is handed to the kernel early, so this only sets the batch size.
    pub fn entries(mut self, n: u32) -> Builder {
        self.ring.entries = n.max(1);
        self
    }
    /// Completion queue entries per ring (default 8192, at least the SQ's; the kernel clamps
    /// to its maximum). Each live stream has at most one armed recv and one send, so about
    /// four per stream a worker serves keeps the queue from overflowing (an overflow is not
    /// lost, but costs extra kernel entries: see `RingStats::cq_overflows`).
    pub fn cq_entries(mut self, n: u32) -> Builder {
        self.ring.cq_entries = n.max(1);
        self
    }
    /// Provided buffers for multishot recv per ring: `initial` to start with (default 256),
    /// growing with live streams (two per stream, plus a margin, and by half again after an
    /// ENOBUFS) up to `max` (default 4096, rounded up to a power of two, at most 32768).
    pub fn provided_buffers(mut self, initial: u16, max: u16) -> Builder {
        self.ring.bufs_initial = initial;
        self.ring.bufs_max = max.clamp(1, 32768);
        self
    }
    /// Bytes per provided buffer (default 16 KiB, 1 B to 1 MiB).
    pub fn provided_buffer_size(mut self, bytes: usize) -> Builder {
        self.ring.buf_size = bytes.clamp(1, 1 << 20);
        self
    }
    /// SQPOLL: a kernel thread per ring polls the submission queue (sleeping after
    /// `idle_ms` without work), so submitting needs no syscall. Off by default: on a machine
    /// with few cores the polling thread competes with the workers.
    /// SQPOLL cannot be combined with DEFER_TASKRUN, so an SQPOLL ring runs without the
    /// task-run modes.
    pub fn sqpoll(mut self, idle_ms: u32) -> Builder {
        self.ring.sqpoll_idle_ms = Some(idle_ms);
        self
    }
    /// Interrupt coalescing (default 50 µs; `Duration::ZERO` turns it off): while recent
    /// blocking waits each returned several completions (a busy worker), the next wait asks
    /// the kernel for about half as many and lets it hold them back without waking the thread
    /// for at most `wait`, after which any completion ends the wait. An idle or lightly
    /// loaded worker (about one completion per wait) is not delayed. Needs
    /// IORING_FEAT_MIN_TIMEOUT (Linux 6.12); without it, off.
    pub fn coalesce_wait(mut self, wait: std::time::Duration) -> Builder {
        self.ring.coalesce_wait = wait.min(std::time::Duration::from_millis(10));
        self
    }
    /// How long the last send of a dropped stream may take to finish before it is
    /// cancelled (default 30 s). A write reports its bytes written once their send is queued;
    /// dropping the stream lets that send finish, as closing a kernel socket lets unsent data
    /// drain, within this bound (SO_LINGER zero, `Stream::set_linger(Some(ZERO))`: none).
    pub fn drop_linger(mut self, linger: std::time::Duration) -> Builder {
        self.ring.drop_linger = linger;
        self
    }
    /// Checks the kernel's io_uring support first: fails with what is missing.
    pub fn build(self) -> Result<Uring, probe::Unsupported> {
        let features = probe::probe()?;
        Ok(Uring {
            cfg: self,
            features,
        })
    }
}

/// A set of io_uring workers.
#[derive(Debug)]
pub struct Uring {
    cfg: Builder,
    features: Features,
}

impl Uring {
    /// Defaults: one worker, seed 0, 256 SQ and 8192 CQ entries, 256 to 4096 provided
    /// buffers of 16 KiB, SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them.
    pub fn builder() -> Builder {
        Builder {
            workers: 1,
            seed: 0,
            ring: RingConfig {
                entries: 256,
                cq_entries: 8192,
                sqpoll_idle_ms: None,
                bufs_initial: 256,
                bufs_max: 4096,
                buf_size: 16 * 1024,
                coalesce_wait: std::time::Duration::from_micros(50),
                drop_linger: std::time::Duration::from_secs(30),
            },
        }
    }

    /// What the kernel supports.
    pub fn features(&self) -> Features {
        self.features
    }

    /// Runs `f(worker)` on every worker thread until each returns; returns their results and
    /// ring counters in worker order.
    pub fn run<F, Fut, T>(&self, f: F) -> Vec<std::io::Result<(T, RingStats)>>
    where
        F: Fn(Worker) -> Fut + Sync,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let count = self.cfg.workers;
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .map(|index| {
                    let f = &f;
                    let (cfg, features) = (self.cfg, self.features);
                    scope.spawn(move || run_worker(cfg, features, index, count, f))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("uring worker panicked")))
                })
                .collect()
        })
    }
}

fn run_worker<F, Fut, T>(
    cfg: Builder,
    features: Features,
    index: usize,
    count: usize,
    f: &F,
) -> std::io::Result<(T, RingStats)>
where
    F: Fn(Worker) -> Fut,
    Fut: Future<Output = T> + 'static,
    T: 'static,
{
    let wake_fd = driver::install(&cfg.ring, features)?;
    let exec = Exec::install(wake_fd);
    let w = Worker(Rc::new(WorkerCore::new(
        "uring-worker",
        index,
        count,
        cfg.seed,
        std_now(),
    )));
    let r = exec.block_on(f(w));
    let stats = driver::with(|d| d.stats);
    // Drop the remaining tasks (and their buffers) while the ring still exists.
    drop(exec);
    Exec::uninstall();
    driver::uninstall();
    r.map(|v| (v, stats))
}

/// One worker: 1 worker, seed `seed`, running `f` to completion.
pub fn block_on<T: Send + 'static, Fut: Future<Output = T> + 'static>(
    seed: u64,
    f: impl Fn(Worker) -> Fut + Sync,
) -> std::io::Result<T> {
    let u = Uring::builder()
        .seed(seed)
        .build()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::Unsupported, e.to_string()))?;
    u.run(f).pop().expect("one worker").map(|(v, _)| v)
}

#[allow(clippy::disallowed_methods)] // a real backend reads the real clock
fn std_now() -> std::time::Instant {
    std::time::Instant::now()
}

/// A worker's handle: `model::Runtime` (its ring's timers, its executor) and `model::Net`,
/// around the workers' shared core ([`WorkerCore`]: index, `rng()` streams, clock mapping).
/// Bound to its thread (its ring and executor are thread-local), so not `Send`.
#[derive(Clone)]
pub struct Worker(Rc<WorkerCore>);

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Worker {
    /// This worker's index.
    pub fn index(&self) -> usize {
        self.0.index()
    }
    /// How many workers run.
    pub fn count(&self) -> usize {
        self.0.count()
    }
    /// This ring's counters so far.
    pub fn ring_stats(&self) -> RingStats {
        driver::with(|d| d.stats)
    }
}

/// The future of `sleep_until` on a uring worker.
pub struct Sleep {
    at: std::time::Instant,
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std_now() >= self.at {
            if let Some(id) = self.id.take() {
                let at = self.at;
                driver::with(|d| d.remove_timer(at, id));
            }
            return Poll::Ready(());
        }
        let at = self.at;
        if let Some(id) = self.id.take() {
            driver::with(|d| d.remove_timer(at, id));
        }
        self.id = Some(driver::with(|d| d.add_timer(at, cx.waker().clone())));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let at = self.at;
            driver::with(|d| d.remove_timer(at, id));
        }
    }
}

impl Runtime for Worker {
    type Sleep = Sleep;

    fn now(&self) -> Instant {
        self.0.instant(std_now())
    }

    #[allow(clippy::disallowed_methods)] // a real backend reads the real clock
    fn wall_clock(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            at: self.0.deadline(deadline),
            id: None,
        }
    }

    fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let exec = executor::current();
        let slot: Rc<std::cell::Cell<Option<(usize, u64)>>> = Rc::default();
        let s2 = slot.clone();
        let weak = Rc::downgrade(&exec);
        let (tx, handle) = join_pair(Some(Box::new(move || {
            if let (Some((id, gen)), Some(e)) = (s2.get(), weak.upgrade()) {
                e.abort(id, gen);
            }
        })));
        let key = exec.spawn(Box::pin(async move { tx.send(fut.await) }));
        slot.set(Some(key));
        handle
    }

    fn rng(&self) -> SeededRng {
        self.0.rng()
    }
}
