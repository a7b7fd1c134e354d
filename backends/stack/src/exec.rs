//! The stack's task executor: `!Send` futures in slots, woken into a ready queue, each ready
//! task polled once per round. Generations keep a stale waker of a freed slot from polling
//! the slot's next task.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

type Task = Pin<Box<dyn Future<Output = ()>>>;
type ReadyQueue = Arc<Mutex<VecDeque<(usize, u64)>>>;

#[derive(Default)]
pub(crate) struct Exec {
    tasks: RefCell<Vec<Option<Task>>>,
    wakers: RefCell<Vec<Option<(u64, Waker)>>>,
    gens: RefCell<Vec<u64>>,
    free: RefCell<Vec<usize>>,
    ready: ReadyQueue,
}

struct TaskWaker {
    id: usize,
    gen: u64,
    ready: ReadyQueue,
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
    }
}

impl Exec {
    /// Adds a task, ready to run; returns its (slot, generation).
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
        self.push_ready(id, gen);
        (id, gen)
    }

    fn push_ready(&self, id: usize, gen: u64) {
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((id, gen));
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
        drop(task); // destructors may touch the stack: no borrow held
    }

    fn retire(&self, id: usize) {
        self.gens.borrow_mut()[id] += 1;
        self.free.borrow_mut().push(id);
    }

    /// Polls every task that was ready when called, once; returns how many were polled.
    pub(crate) fn run_ready(&self) -> usize {
        let batch: Vec<(usize, u64)> = self
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        let mut polled = 0;
        for (id, gen) in batch {
            if self.gens.borrow().get(id) != Some(&gen) {
                continue;
            }
            let Some(mut task) = self.tasks.borrow_mut()[id].take() else {
                continue; // woken twice in this batch, or gone
            };
            polled += 1;
            let waker = self.waker(id, gen);
            let done = task
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready();
            if self.gens.borrow()[id] != gen {
                drop(task); // aborted while running
                self.free.borrow_mut().push(id);
            } else if done {
                drop(task);
                self.retire(id);
            } else {
                self.tasks.borrow_mut()[id] = Some(task);
            }
        }
        polled
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
                }));
                ws[id] = Some((gen, w.clone()));
                w
            }
        }
    }

    /// Whether some task is waiting to be polled.
    pub(crate) fn has_ready(&self) -> bool {
        !self
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Drops every task (at the end of a run), outside any borrow.
    pub(crate) fn clear(&self) {
        let tasks: Vec<Option<Task>> = std::mem::take(&mut *self.tasks.borrow_mut());
        self.wakers.borrow_mut().clear();
        self.gens.borrow_mut().clear();
        self.free.borrow_mut().clear();
        self.ready.lock().unwrap_or_else(|p| p.into_inner()).clear();
        drop(tasks);
    }
}
