//! A single-threaded change signal: waiters remember the generation they saw and wake when
//! it moves on.

use std::cell::{Cell, RefCell};
use std::task::{Context, Poll, Waker};

/// Wakes every waiter on [`Notify::notify`].
#[derive(Default)]
pub struct Notify {
    generation: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Notify {
    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// Moves to the next generation and wakes every waiter.
    pub fn notify(&self) {
        self.generation.set(self.generation.get() + 1);
        for w in std::mem::take(&mut *self.wakers.borrow_mut()) {
            w.wake();
        }
    }

    /// Ready once the generation differs from `seen`.
    pub fn poll_changed(&self, cx: &mut Context<'_>, seen: u64) -> Poll<()> {
        if self.generation.get() != seen {
            return Poll::Ready(());
        }
        let mut ws = self.wakers.borrow_mut();
        if !ws.iter().any(|w| w.will_wake(cx.waker())) {
            ws.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
