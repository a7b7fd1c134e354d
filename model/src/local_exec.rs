//! The one single-thread executor core the real backends share (the stack's and the io_uring
//! workers'): `!Send` futures in slots, each with a generation so a stale waker of a freed
//! slot never polls the slot's next task, and one waker per slot and generation (made once,
//! not per poll). Where a wake goes — a locked queue, a thread-local queue, an eventfd that
//! interrupts a ring's wait — is the backend's [`Schedule`]; when to poll is its loop's.
//! No I/O and no clock: the backends drive it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

/// A task: a `!Send` future run to completion on its executor's thread.
pub type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Where wakes go: the executor's ready queue. Wakers may be called from any thread.
pub trait Schedule: Send + Sync + 'static {
    /// Task `id` of generation `gen` is ready to be polled (spawned or woken).
    fn schedule(&self, id: usize, gen: u64);
}

struct TaskWaker<S> {
    id: usize,
    gen: u64,
    sched: Arc<S>,
}

impl<S: Schedule> Wake for TaskWaker<S> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.sched.schedule(self.id, self.gen);
    }
}

/// The tasks of one single-thread executor, scheduled through `S`.
pub struct LocalTasks<S> {
    sched: Arc<S>,
    tasks: RefCell<Vec<Option<Task>>>,
    /// One waker per slot and generation.
    wakers: RefCell<Vec<Option<(u64, Waker)>>>,
    /// Generation per slot.
    gens: RefCell<Vec<u64>>,
    free: RefCell<Vec<usize>>,
}

impl<S> std::fmt::Debug for LocalTasks<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTasks")
            .field("slots", &self.gens.borrow().len())
            .field("free", &self.free.borrow().len())
            .finish()
    }
}

impl<S: Schedule> LocalTasks<S> {
    /// No tasks; wakes go to `sched`.
    pub fn new(sched: Arc<S>) -> LocalTasks<S> {
        LocalTasks {
            sched,
            tasks: RefCell::new(Vec::new()),
            wakers: RefCell::new(Vec::new()),
            gens: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
        }
    }

    /// Where this executor's wakes go.
    pub fn scheduler(&self) -> &Arc<S> {
        &self.sched
    }

    /// Adds a task and schedules it; returns its (slot, generation) for [`LocalTasks::abort`].
    pub fn spawn(&self, fut: Task) -> (usize, u64) {
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
        self.sched.schedule(id, gen);
        (id, gen)
    }

    /// Drops task `id` of generation `gen` if it is still there. Safe to call from inside a
    /// task (even the task itself).
    pub fn abort(&self, id: usize, gen: u64) {
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
        drop(task); // destructors may touch the executor: no borrow held
    }

    fn retire(&self, id: usize) {
        self.gens.borrow_mut()[id] += 1;
        self.free.borrow_mut().push(id);
    }

    /// Polls task `id` of generation `gen` once, if it is still there and not already being
    /// polled (a wake of a finished, aborted or re-entrant task is ignored). Returns whether
    /// it was polled.
    pub fn poll(&self, id: usize, gen: u64) -> bool {
        if self.gens.borrow().get(id) != Some(&gen) {
            return false;
        }
        let Some(mut task) = self.tasks.borrow_mut()[id].take() else {
            return false; // woken twice in one batch, or running
        };
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
        true
    }

    fn waker(&self, id: usize, gen: u64) -> Waker {
        let mut ws = self.wakers.borrow_mut();
        match &ws[id] {
            Some((g, w)) if *g == gen => w.clone(),
            _ => {
                let w = Waker::from(Arc::new(TaskWaker {
                    id,
                    gen,
                    sched: self.sched.clone(),
                }));
                ws[id] = Some((gen, w.clone()));
                w
            }
        }
    }

    /// Tasks alive (spawned, not finished or aborted).
    pub fn len(&self) -> usize {
        self.tasks.borrow().iter().filter(|t| t.is_some()).count()
    }

    /// Whether no task is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every task, outside any borrow (their destructors may touch the executor).
    pub fn clear(&self) {
        let tasks: Vec<Option<Task>> = std::mem::take(&mut *self.tasks.borrow_mut());
        self.wakers.borrow_mut().clear();
        self.gens.borrow_mut().clear();
        self.free.borrow_mut().clear();
        drop(tasks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::sync::Mutex;
    use std::task::Poll;

    #[derive(Default)]
    struct Queue(Mutex<VecDeque<(usize, u64)>>);
    impl Schedule for Queue {
        fn schedule(&self, id: usize, gen: u64) {
            self.0.lock().unwrap().push_back((id, gen));
        }
    }

    fn run(t: &LocalTasks<Queue>) -> usize {
        let mut n = 0;
        loop {
            let next = t.scheduler().0.lock().unwrap().pop_front();
            let Some((id, gen)) = next else { return n };
            n += usize::from(t.poll(id, gen));
        }
    }

    /// Pending until woken `n` times through the waker it saved.
    struct Countdown(u32, Rc<Cell<Option<Waker>>>);
    impl Future for Countdown {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 == 0 {
                return Poll::Ready(());
            }
            self.0 -= 1;
            self.1.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    }

    #[test]
    fn tasks_run_to_completion_and_slots_are_reused() {
        let t = LocalTasks::new(Arc::new(Queue::default()));
        let done = Rc::new(Cell::new(0));
        for _ in 0..3 {
            let d = done.clone();
            t.spawn(Box::pin(async move { d.set(d.get() + 1) }));
        }
        assert_eq!(run(&t), 3);
        assert_eq!(done.get(), 3);
        assert!(t.is_empty());
        let (id, gen) = t.spawn(Box::pin(async {}));
        assert!(id < 3, "a freed slot is reused");
        assert_eq!(gen, 1, "with the next generation");
    }

    #[test]
    fn a_stale_waker_never_polls_the_slots_next_task() {
        let t = LocalTasks::new(Arc::new(Queue::default()));
        let saved = Rc::new(Cell::new(None));
        let (id, gen) = t.spawn(Box::pin(Countdown(5, saved.clone())));
        assert_eq!(run(&t), 1);
        let stale = saved.take().unwrap();
        t.abort(id, gen);
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let (id2, gen2) = t.spawn(Box::pin(std::future::poll_fn(move |_| {
            p.set(p.get() + 1);
            Poll::<()>::Pending
        })));
        assert_eq!((id2, gen2), (id, gen + 1));
        assert_eq!(run(&t), 1);
        stale.wake();
        assert_eq!(run(&t), 0, "the old generation's wake is ignored");
        assert_eq!(polls.get(), 1);
    }

    #[test]
    fn a_task_aborting_itself_frees_its_slot_after_the_poll() {
        let t = Rc::new(LocalTasks::new(Arc::new(Queue::default())));
        let key = Rc::new(Cell::new((0, 0)));
        let (t2, k2) = (t.clone(), key.clone());
        key.set(t.spawn(Box::pin(async move {
            let (id, gen) = k2.get();
            t2.abort(id, gen);
        })));
        assert_eq!(run(&t), 1);
        assert!(t.is_empty());
        let (id, gen) = t.spawn(Box::pin(async {}));
        assert_eq!((id, gen), (key.get().0, key.get().1 + 1));
        t.clear();
    }
}
