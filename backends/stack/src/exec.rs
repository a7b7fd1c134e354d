//! The stack's task executor: the shared single-thread executor core
//! ([`testbed_model::local_exec`]) with a locked ready queue, each ready task polled once per
//! round.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use testbed_model::local_exec::{LocalTasks, Schedule, Task};

/// Tasks woken (from any thread), in wake order.
#[derive(Default)]
pub(crate) struct ReadyQueue(Mutex<VecDeque<(usize, u64)>>);

impl ReadyQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(usize, u64)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Schedule for ReadyQueue {
    fn schedule(&self, id: usize, gen: u64) {
        self.lock().push_back((id, gen));
    }
}

pub(crate) struct Exec(LocalTasks<ReadyQueue>);

impl Default for Exec {
    fn default() -> Self {
        Exec(LocalTasks::new(Arc::default()))
    }
}

impl Exec {
    /// Adds a task, ready to run; returns its (slot, generation).
    pub(crate) fn spawn(&self, fut: Task) -> (usize, u64) {
        self.0.spawn(fut)
    }

    /// Drops task `id` of generation `gen` if it is still there.
    pub(crate) fn abort(&self, id: usize, gen: u64) {
        self.0.abort(id, gen);
    }

    /// Polls every task that was ready when called, once; returns how many were polled.
    pub(crate) fn run_ready(&self) -> usize {
        let batch: Vec<(usize, u64)> = self.0.scheduler().lock().drain(..).collect();
        batch
            .into_iter()
            .filter(|&(id, gen)| self.0.poll(id, gen))
            .count()
    }

    /// Whether some task is waiting to be polled.
    pub(crate) fn has_ready(&self) -> bool {
        !self.0.scheduler().lock().is_empty()
    }

    /// Drops every task (at the end of a run), outside any borrow.
    pub(crate) fn clear(&self) {
        self.0.clear();
        self.0.scheduler().lock().clear();
    }
}
