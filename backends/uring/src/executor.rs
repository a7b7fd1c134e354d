//! A worker's task executor: `!Send` futures in a slab, woken into a ready queue, run until
//! none is ready, then the ring is parked until a completion or timer.

use crate::driver;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// What the wakers of one executor share across threads: the queue of wakes from other
/// threads (the owner's own wakes go to its thread-local queue, with no lock) and the ring's
/// wake eventfd.
struct Shared {
    remote: Mutex<Vec<(usize, u64)>>,
    remote_pending: AtomicBool,
    wake_fd: Arc<std::os::fd::OwnedFd>,
}

pub(crate) struct Exec {
    shared: Arc<Shared>,
    tasks: RefCell<Vec<Option<Task>>>,
    /// One waker per slot and generation, made once (not per poll).
    wakers: RefCell<Vec<Option<(u64, Waker)>>>,
    free: RefCell<Vec<usize>>,
    /// Generation per slot, so a stale waker of a freed slot never polls its successor.
    gens: RefCell<Vec<u64>>,
}

thread_local! {
    /// The `Shared` of the executor installed on this thread (null if none): a wake whose
    /// `Shared` is this one comes from the owner's thread.
    static OWNED: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
    /// Tasks woken on the owner's thread, in wake order.
    static READY: RefCell<VecDeque<(usize, u64)>> = const { RefCell::new(VecDeque::new()) };
}

struct TaskWaker {
    id: usize,
    gen: u64,
    shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let mine = OWNED.with(|o| std::ptr::eq(o.get(), Arc::as_ptr(&self.shared)));
        if mine {
            READY.with(|r| r.borrow_mut().push_back((self.id, self.gen)));
            return;
        }
        // From another thread: queue under the lock and interrupt the ring's wait.
        self.shared
            .remote
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.id, self.gen));
        self.shared.remote_pending.store(true, Ordering::Release);
        driver::wake_remote(&self.shared.wake_fd);
    }
}

thread_local! {
    static EXEC: RefCell<Option<Rc<Exec>>> = const { RefCell::new(None) };
}

pub(crate) fn current() -> Rc<Exec> {
    EXEC.with(|e| e.borrow().clone().expect("not on a uring worker thread"))
}

impl Exec {
    pub(crate) fn install(wake_fd: Arc<std::os::fd::OwnedFd>) -> Rc<Exec> {
        let shared = Arc::new(Shared {
            remote: Mutex::new(Vec::new()),
            remote_pending: AtomicBool::new(false),
            wake_fd,
        });
        OWNED.with(|o| o.set(Arc::as_ptr(&shared)));
        READY.with(|r| r.borrow_mut().clear());
        let e = Rc::new(Exec {
            shared,
            tasks: RefCell::new(Vec::new()),
            wakers: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            gens: RefCell::new(Vec::new()),
        });
        EXEC.with(|x| *x.borrow_mut() = Some(e.clone()));
        e
    }

    pub(crate) fn uninstall() {
        EXEC.with(|x| x.borrow_mut().take());
        OWNED.with(|o| o.set(std::ptr::null()));
        READY.with(|r| r.borrow_mut().clear());
    }

    /// Adds a task; returns (slot, generation) for aborting it.
    pub(crate) fn spawn(&self, fut: Task) -> (usize, u64) {
        let id = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                self.tasks.borrow_mut().push(None);
                self.wakers.borrow_mut().push(None);
                self.gens.borrow_mut().push(0);
                self.tasks.borrow().len() - 1
            }
        };
        self.tasks.borrow_mut()[id] = Some(fut);
        let gen = self.gens.borrow()[id];
        READY.with(|r| r.borrow_mut().push_back((id, gen)));
        (id, gen)
    }

    /// Drops task `id` of generation `gen` if it is still there.
    pub(crate) fn abort(&self, id: usize, gen: u64) {
        if self.gens.borrow().get(id) != Some(&gen) {
            return;
        }
        let task = self.tasks.borrow_mut()[id].take();
        if task.is_some() {
            self.retire(id);
        } else {
            // Aborted while being polled: the poller sees the new generation, drops the task
            // and frees the slot.
            self.gens.borrow_mut()[id] += 1;
        }
        drop(task); // may run destructors that touch the executor: no borrow held
    }

    fn retire(&self, id: usize) {
        self.gens.borrow_mut()[id] += 1;
        self.free.borrow_mut().push(id);
    }

    /// Moves wakes from other threads into the ready queue.
    fn take_remote(&self) {
        if !self.shared.remote_pending.swap(false, Ordering::Acquire) {
            return;
        }
        let mut remote = self.shared.remote.lock().unwrap_or_else(|p| p.into_inner());
        READY.with(|r| r.borrow_mut().extend(remote.drain(..)));
    }

    /// Polls every task that was ready when called once (tasks woken meanwhile wait for the
    /// next call); returns whether any was ready.
    fn run_ready(&self) -> bool {
        self.take_remote();
        let n = READY.with(|r| r.borrow().len());
        for _ in 0..n {
            let Some((id, gen)) = READY.with(|r| r.borrow_mut().pop_front()) else {
                break;
            };
            if self.gens.borrow().get(id) != Some(&gen) {
                continue;
            }
            let Some(mut task) = self.tasks.borrow_mut()[id].take() else {
                continue; // running (re-entrant wake) or gone
            };
            let waker = self.waker(id, gen);
            let done = task
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready();
            let aborted = self.gens.borrow()[id] != gen;
            if aborted {
                drop(task);
                self.free.borrow_mut().push(id);
            } else if done {
                drop(task);
                self.retire(id);
            } else {
                self.tasks.borrow_mut()[id] = Some(task);
            }
        }
        n > 0
    }

    fn waker(&self, id: usize, gen: u64) -> Waker {
        let mut ws = self.wakers.borrow_mut();
        match &ws[id] {
            Some((g, w)) if *g == gen => w.clone(),
            _ => {
                let w = Waker::from(Arc::new(TaskWaker {
                    id,
                    gen,
                    shared: self.shared.clone(),
                }));
                ws[id] = Some((gen, w.clone()));
                w
            }
        }
    }

    fn has_ready(&self) -> bool {
        READY.with(|r| !r.borrow().is_empty()) || self.shared.remote_pending.load(Ordering::Acquire)
    }

    /// Runs `main` (and every task it spawns) until `main` completes.
    pub(crate) fn block_on<T: 'static>(
        &self,
        main: impl Future<Output = T> + 'static,
    ) -> std::io::Result<T> {
        let out: Rc<RefCell<Option<T>>> = Rc::default();
        let o = out.clone();
        self.spawn(Box::pin(async move {
            *o.borrow_mut() = Some(main.await);
        }));
        loop {
            self.run_ready();
            if let Some(v) = out.borrow_mut().take() {
                return Ok(v);
            }
            let block = !self.has_ready();
            driver::with(|d| d.park(block))?;
        }
    }
}
