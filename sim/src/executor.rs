//! The single-threaded task executor. Tasks are `!Send` futures owned by the thread running
//! the simulation; wakers are `Send + Sync` (they push a task key onto a mutex-guarded ready
//! queue). By default the next task to poll is drawn from the ready queue with the run's
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
    fn push(&self, k: Key) {
        let mut q = self.q.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back(k);
        self.len.store(q.len(), Ordering::Release);
    }
    /// The next task: the oldest wake, or with `pick` a uniformly drawn one (one draw, and
    /// only when more than one task is ready).
    fn pop(&self, pick: Option<&mut SeededRng>) -> Option<Key> {
        if self.is_empty() {
            return None;
        }
        let mut q = self.q.lock().unwrap_or_else(|p| p.into_inner());
        let k = match pick {
            Some(rng) if q.len() > 1 => {
                let i = rng.below(q.len() as u64) as usize;
                q.swap_remove_back(i)
            }
            _ => q.pop_front(),
        };
        self.len.store(q.len(), Ordering::Release);
        k
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
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.push(self.key);
        }
    }
}

struct Task {
    fut: Option<BoxFuture>,
    host: HostId,
    waker: Arc<TaskWaker>,
}

/// A task panicked; the payload is re-raised by the run loop after printing the seed.
pub(crate) struct TaskPanic {
    pub(crate) host: HostId,
    pub(crate) payload: Box<dyn Any + Send>,
}

pub(crate) struct Exec {
    tasks: RefCell<Slab<Task>>,
    pub(crate) ready: Arc<ReadyQueue>,
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
            waker: placeholder,
        });
        let waker = Arc::new(TaskWaker {
            key,
            queued: AtomicBool::new(true),
            ready: self.ready.clone(),
        });
        tasks.get_mut(key).expect("just inserted").waker = waker;
        key
    }

    pub(crate) fn set_future(&self, key: Key, fut: BoxFuture) {
        if let Some(t) = self.tasks.borrow_mut().get_mut(key) {
            t.fut = Some(fut);
            self.ready.push(key);
        }
    }

    pub(crate) fn abort(&self, key: Key) {
        self.aborted.borrow_mut().push(key);
        self.ready.push(key); // make sure the run loop looks at the abort list soon
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

    /// Polls ready tasks until none is ready. A panic stops it and is returned.
    pub(crate) fn run_ready(&self) -> Result<(), TaskPanic> {
        loop {
            let next = self.ready.pop(self.sched.borrow_mut().as_mut());
            let Some(key) = next else { break };
            let (mut fut, waker, host) = {
                let mut tasks = self.tasks.borrow_mut();
                let Some(t) = tasks.get_mut(key) else {
                    continue;
                };
                let Some(fut) = t.fut.take() else { continue };
                (fut, t.waker.clone(), t.host)
            };
            waker.queued.store(false, Ordering::Release);
            let w = Waker::from(waker);
            let mut cx = Context::from_waker(&w);
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
