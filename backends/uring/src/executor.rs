//! A worker's task executor: the shared single-thread executor core
//! ([`testbed_model::local_exec`]) woken into a thread-local ready queue (wakes from other
//! threads go through a locked queue and the ring's wake eventfd), run until none is ready,
//! then the ring is parked until a completion or timer.

use crate::driver;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use testbed_model::local_exec::{LocalTasks, Schedule};

/// What the wakers of one executor share across threads: the queue of wakes from other
/// threads (the owner's own wakes go to its thread-local queue, with no lock) and the ring's
/// wake eventfd.
struct Shared {
    remote: Mutex<Vec<(usize, u64)>>,
    remote_pending: AtomicBool,
    wake_fd: Arc<std::os::fd::OwnedFd>,
}

pub(crate) struct Exec {
    tasks: LocalTasks<Shared>,
}

thread_local! {
    /// The `Shared` of the executor installed on this thread (null if none): a wake whose
    /// `Shared` is this one comes from the owner's thread.
    static OWNED: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
    /// Tasks woken on the owner's thread, in wake order.
    static READY: RefCell<VecDeque<(usize, u64)>> = const { RefCell::new(VecDeque::new()) };
}

impl Schedule for Shared {
    fn schedule(&self, id: usize, gen: u64) {
        let mine = OWNED.with(|o| std::ptr::eq(o.get(), self));
        if mine {
            READY.with(|r| r.borrow_mut().push_back((id, gen)));
            return;
        }
        // From another thread: queue under the lock and interrupt the ring's wait.
        self.remote
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, gen));
        self.remote_pending.store(true, Ordering::Release);
        driver::wake_remote(&self.wake_fd);
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
            tasks: LocalTasks::new(shared),
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
    pub(crate) fn spawn(&self, fut: testbed_model::local_exec::Task) -> (usize, u64) {
        self.tasks.spawn(fut)
    }

    /// Drops task `id` of generation `gen` if it is still there.
    pub(crate) fn abort(&self, id: usize, gen: u64) {
        self.tasks.abort(id, gen);
    }

    /// Moves wakes from other threads into the ready queue.
    fn take_remote(&self) {
        let shared = self.tasks.scheduler();
        if !shared.remote_pending.swap(false, Ordering::Acquire) {
            return;
        }
        let mut remote = shared.remote.lock().unwrap_or_else(|p| p.into_inner());
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
            self.tasks.poll(id, gen);
        }
        n > 0
    }

    fn has_ready(&self) -> bool {
        READY.with(|r| !r.borrow().is_empty())
            || self
                .tasks
                .scheduler()
                .remote_pending
                .load(Ordering::Acquire)
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
