//! The single-threaded task executor. Tasks are `!Send` futures owned by the thread running
//! the simulation; wakers are `Send + Sync`: a wake on the thread running the simulation
//! pushes the task key onto the executor's own ready queue (no lock), any other wake onto a
//! mutex-guarded queue that joins it, in arrival order, before the next task is taken. By default the next task to poll is drawn from the ready queue with the run's
//! scheduling stream (`derive_seed(seed, "sched")`), so races that depend on poll order are
//! explored across seeds; with `SimConfig::perturb_schedule` off the queue is FIFO in wake
//! order. Both are deterministic: every wake comes from the same thread in an order fixed by
//! the seed.

use crate::slab::{Key, Slab};
use crate::world::HostId;
use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use testbed_model::{Rng, SeededRng};

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

#[derive(Default)]
pub(crate) struct ReadyQueue {
    q: Mutex<VecDeque<Key>>,
    /// Length of `q`, readable without the lock (the run loop asks after every event).
    len: AtomicUsize,
}

impl ReadyQueue {
    /// A wake from outside the running simulation (another thread, or between runs).
    fn push(&self, k: Key) {
        let mut q = self.q.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(k);
        self.len.store(q.len(), Ordering::Release);
    }
    /// Moves every queued key to the back of `to`, in arrival order.
    fn drain_into(&self, to: &mut VecDeque<Key>) {
        let mut q = self.q.lock().unwrap_or_else(|p| p.into_inner());
        to.extend(q.drain(..));
        self.len.store(0, Ordering::Release);
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }
}

struct TaskWaker {
    key: Key,
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // On the thread running this simulation: its executor's own queue, without a lock.
        let local = CURRENT
            .try_with(|c| match c.try_borrow().as_deref() {
                Ok(Some(exec)) if Arc::ptr_eq(&exec.ready, &self.ready) => {
                    exec.local.borrow_mut().push_back(self.key);
                    true
                }
                _ => false,
            })
            .unwrap_or(false);
        if !local {
            self.ready.push(self.key);
        }
    }
}

struct Task {
    fut: Option<BoxFuture>,
    host: HostId,
    /// The task's waker (its queued flag is reset before every poll).
    waker: Arc<TaskWaker>,
    /// The same waker as a `Waker`, made once: a poll clones the `Rc`, not the `Arc`.
    std_waker: Rc<Waker>,
}

/// A task panicked; the payload is re-raised by the run loop after printing the seed.
pub(crate) struct TaskPanic {
    pub(crate) host: HostId,
    pub(crate) payload: Box<dyn Any + Send>,
}

pub(crate) struct Exec {
    tasks: RefCell<Slab<Task>>,
    /// Keys of ready tasks, in wake order (wakes on this thread while the executor is
    /// current, and spawns).
    local: RefCell<VecDeque<Key>>,
    /// Wakes from elsewhere; they join `local` before the next task is taken.
    ready: Arc<ReadyQueue>,
    aborted: RefCell<Vec<Key>>,
    polls: std::cell::Cell<u64>,
    /// The scheduling stream when poll order is perturbed; `None` is FIFO.
    sched: RefCell<Option<SeededRng>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Exec>>> = const { RefCell::new(None) };
}

/// The executor of the simulation running on this thread.
pub(crate) fn current() -> Rc<Exec> {
    CURRENT.with(|c| c.borrow().clone()).expect(
        "testbed-sim: spawn called outside a running simulation (call it from a task inside Sim::run)",
    )
}

/// Installs `exec` as this thread's current executor until the guard drops.
pub(crate) struct EnterGuard(Option<Rc<Exec>>);

impl Exec {
    /// An executor polling in FIFO wake order, or with `sched` in an order drawn from it.
    pub(crate) fn new(sched: Option<SeededRng>) -> Rc<Exec> {
        Rc::new(Exec {
            tasks: RefCell::new(Slab::default()),
            local: RefCell::new(VecDeque::new()),
            ready: Arc::new(ReadyQueue::default()),
            aborted: RefCell::new(Vec::new()),
            polls: std::cell::Cell::new(0),
            sched: RefCell::new(sched),
        })
    }

    /// Whether poll order is drawn from the seed.
    pub(crate) fn perturbed(&self) -> bool {
        self.sched.borrow().is_some()
    }

    pub(crate) fn enter(self: &Rc<Self>) -> EnterGuard {
        let prev = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        EnterGuard(prev)
    }

    /// Reserves a task slot on `host`; the future is set with [`Exec::set_future`].
    pub(crate) fn reserve(&self, host: HostId) -> Key {
        let mut tasks = self.tasks.borrow_mut();
        let placeholder = Arc::new(TaskWaker {
            key: Key {
                index: 0,
                generation: 0,
            },
            queued: AtomicBool::new(true),
            ready: self.ready.clone(),
        });
        let key = tasks.insert(Task {
            fut: None,
            host,
            std_waker: Rc::new(Waker::from(placeholder.clone())),
            waker: placeholder,
        });
        let waker = Arc::new(TaskWaker {
            key,
            queued: AtomicBool::new(true),
            ready: self.ready.clone(),
        });
        let t = tasks.get_mut(key).expect("just inserted");
        t.std_waker = Rc::new(Waker::from(waker.clone()));
        t.waker = waker;
        key
    }

    pub(crate) fn set_future(&self, key: Key, fut: BoxFuture) {
        if let Some(t) = self.tasks.borrow_mut().get_mut(key) {
            t.fut = Some(fut);
            self.local.borrow_mut().push_back(key);
        }
    }

    pub(crate) fn abort(&self, key: Key) {
        self.aborted.borrow_mut().push(key);
        self.local.borrow_mut().push_back(key); // make sure the run loop looks at the abort list soon
    }

    /// Drops aborted tasks. Returns whether any were dropped.
    pub(crate) fn drop_aborted(&self) -> bool {
        if self.aborted.borrow().is_empty() {
            return false;
        }
        let keys: Vec<Key> = std::mem::take(&mut *self.aborted.borrow_mut());
        let mut any = false;
        for k in keys {
            let t = self.tasks.borrow_mut().remove(k);
            any |= t.is_some();
            drop(t); // outside the borrow: destructors may touch the world
        }
        any
    }

    /// Drops every task of `host` (it crashed).
    pub(crate) fn kill_host(&self, host: HostId) {
        let keys: Vec<Key> = {
            let tasks = self.tasks.borrow();
            tasks
                .keys()
                .into_iter()
                .filter(|k| tasks.get(*k).is_some_and(|t| t.host == host))
                .collect()
        };
        let _restore = RestoreHost(crate::context::set_host(host));
        for k in keys {
            let t = self.tasks.borrow_mut().remove(k);
            drop(t);
        }
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.get()
    }

    /// Whether no task is ready.
    pub(crate) fn nothing_ready(&self) -> bool {
        self.local.borrow().is_empty() && self.ready.is_empty()
    }

    /// The next task: the oldest wake, or with `pick` a uniformly drawn one (one draw, and
    /// only when more than one task is ready).
    fn pop_ready(&self, pick: Option<&mut SeededRng>) -> Option<Key> {
        let mut q = self.local.borrow_mut();
        if !self.ready.is_empty() {
            self.ready.drain_into(&mut q);
        }
        match pick {
            Some(rng) if q.len() > 1 => {
                let i = rng.below(q.len() as u64) as usize;
                q.swap_remove_back(i)
            }
            _ => q.pop_front(),
        }
    }

    /// Polls ready tasks until none is ready. A panic stops it and is returned.
    pub(crate) fn run_ready(&self) -> Result<(), TaskPanic> {
        loop {
            let next = self.pop_ready(self.sched.borrow_mut().as_mut());
            let Some(key) = next else { break };
            let (mut fut, waker, host) = {
                let mut tasks = self.tasks.borrow_mut();
                let Some(t) = tasks.get_mut(key) else {
                    continue;
                };
                let Some(fut) = t.fut.take() else { continue };
                t.waker.queued.store(false, Ordering::Release);
                (fut, t.std_waker.clone(), t.host)
            };
            let mut cx = Context::from_waker(&waker);
            self.polls.set(self.polls.get() + 1);
            let outer = crate::context::set_host(host);
            let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
            // Restored after the match: a finished task's destructors run as its host.
            let _restore = RestoreHost(outer);
            match polled {
                Ok(Poll::Ready(())) => {
                    self.tasks.borrow_mut().remove(key);
                    drop(fut);
                }
                Ok(Poll::Pending) => {
                    let mut tasks = self.tasks.borrow_mut();
                    match tasks.get_mut(key) {
                        Some(t) => t.fut = Some(fut),
                        None => {
                            drop(tasks);
                            drop(fut); // aborted or killed while running
                        }
                    }
                }
                Err(payload) => return Err(TaskPanic { host, payload }),
            }
        }
        Ok(())
    }

    /// Drops every task (end of run), outside any borrow.
    pub(crate) fn clear(&self) {
        let keys = self.tasks.borrow().keys();
        for k in keys {
            let t = self.tasks.borrow_mut().remove(k);
            drop(t);
        }
    }
}

/// Restores the current host (see [`crate::context`]) when dropped.
struct RestoreHost(HostId);

impl Drop for RestoreHost {
    fn drop(&mut self) {
        crate::context::set_host(self.0);
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}
