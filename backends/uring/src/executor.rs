//! A worker's task executor: `!Send` futures in a slab, woken into a ready queue, run until
//! none is ready, then the ring is parked until a completion or timer.

use crate::driver;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

type Task = Pin<Box<dyn Future<Output = ()>>>;

pub(crate) struct Exec {
    wake_fd: Arc<std::os::fd::OwnedFd>,
    owner: std::thread::ThreadId,
    tasks: RefCell<Vec<Option<Task>>>,
    /// One waker per slot and generation, made once (not per poll).
    wakers: RefCell<Vec<Option<(u64, Waker)>>>,
    free: RefCell<Vec<usize>>,
    /// Generation per slot, so a stale waker of a freed slot never polls its successor.
    gens: RefCell<Vec<u64>>,
    ready: Arc<Mutex<VecDeque<(usize, u64)>>>,
}

struct TaskWaker {
    id: usize,
    gen: u64,
    ready: Arc<Mutex<VecDeque<(usize, u64)>>>,
    /// The owning worker's thread and its ring's wake eventfd: a wake from elsewhere must
    /// interrupt the ring's wait.
    owner: std::thread::ThreadId,
    wake_fd: Arc<std::os::fd::OwnedFd>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((self.id, self.gen));
        if std::thread::current().id() != self.owner {
            driver::wake_remote(&self.wake_fd);
        }
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
        let e = Rc::new(Exec {
            wake_fd,
            owner: std::thread::current().id(),
            tasks: RefCell::new(Vec::new()),
            wakers: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            gens: RefCell::new(Vec::new()),
            ready: Arc::new(Mutex::new(VecDeque::new())),
        });
        EXEC.with(|x| *x.borrow_mut() = Some(e.clone()));
        e
    }

    pub(crate) fn uninstall() {
        EXEC.with(|x| x.borrow_mut().take());
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
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((id, gen));
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

    /// Polls every ready task once; returns whether any was ready.
    fn run_ready(&self) -> bool {
        let batch: Vec<(usize, u64)> = self
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        let any = !batch.is_empty();
        for (id, gen) in batch {
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
        any
    }

    fn waker(&self, id: usize, gen: u64) -> Waker {
        let mut ws = self.wakers.borrow_mut();
        match &ws[id] {
            Some((g, w)) if *g == gen => w.clone(),
            _ => {
                let w = Waker::from(Arc::new(TaskWaker {
                    id,
                    gen,
                    ready: self.ready.clone(),
                    owner: self.owner,
                    wake_fd: self.wake_fd.clone(),
                }));
                ws[id] = Some((gen, w.clone()));
                w
            }
        }
    }

    fn has_ready(&self) -> bool {
        !self
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
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
