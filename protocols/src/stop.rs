//! A one-shot stop signal that any number of tasks on any threads wait for: one waker slot
//! per waiter, replaced (not appended) when the waiter is polled again and freed when it is
//! dropped, so the memory held is bounded by the number of live waiters, never by the number
//! of polls. (A future that pushes a waker clone on every poll grows without end when it is
//! polled from a task that wakes on every I/O event.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The signal. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    fired: AtomicBool,
    waiters: Mutex<Slots>,
}

/// Waker slots; `free` lists the empty ones for reuse.
#[derive(Debug, Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Stop {
    /// A signal not yet triggered.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Triggers the signal and wakes every waiter (once; later calls do nothing more).
    pub fn trigger(&self) {
        self.0.fired.store(true, Ordering::SeqCst);
        let wakers: Vec<Waker> = self
            .slots()
            .wakers
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        self.0.fired.load(Ordering::SeqCst)
    }

    /// A future that completes once the signal is triggered.
    pub fn wait(&self) -> Wait {
        Wait {
            stop: self.clone(),
            slot: None,
        }
    }

    /// Wakers currently held (one per pending, polled, undropped [`Wait`]).
    pub fn waiters(&self) -> usize {
        self.slots().wakers.iter().filter(|w| w.is_some()).count()
    }

    /// Slots allocated (the high-water mark of simultaneous waiters).
    pub fn capacity(&self) -> usize {
        self.slots().wakers.len()
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // A waiter never panics while holding the lock; recover the data if one did.
        self.0.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Waits for a [`Stop`]; see [`Stop::wait`].
#[derive(Debug)]
pub struct Wait {
    stop: Stop,
    slot: Option<usize>,
}

impl Wait {
    /// Polls without pinning (`Wait` is `Unpin`).
    pub fn poll_stop(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(self).poll(cx)
    }
}

impl Future for Wait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.stop.is_triggered() {
            return Poll::Ready(());
        }
        let stop = self.stop.clone();
        let mut s = stop.slots();
        match self.slot {
            Some(i) => match &mut s.wakers[i] {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            },
            None => {
                let i = match s.free.pop() {
                    Some(i) => {
                        s.wakers[i] = Some(cx.waker().clone());
                        i
                    }
                    None => {
                        s.wakers.push(Some(cx.waker().clone()));
                        s.wakers.len() - 1
                    }
                };
                self.slot = Some(i);
            }
        }
        drop(s);
        // Triggered between the first check and the registration: its wake may have missed us.
        if stop.is_triggered() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            let mut s = self.stop.slots();
            s.wakers[i] = None;
            s.free.push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The regression for the 16-bytes-per-request leak: a waiter re-polled a million times
    /// (as the worker's main future is on every I/O event) holds one waker, not a million.
    #[test]
    fn repolling_holds_one_waker() {
        let stop = Stop::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut w = stop.wait();
        for _ in 0..1_000_000 {
            assert!(w.poll_stop(&mut cx).is_pending());
        }
        assert_eq!(stop.waiters(), 1);
        assert_eq!(stop.capacity(), 1);
        // Another waker (the task moved): replaced, not appended.
        let other = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        assert!(w.poll_stop(&mut Context::from_waker(&other)).is_pending());
        assert_eq!((stop.waiters(), stop.capacity()), (1, 1));
        assert!(w.poll_stop(&mut cx).is_pending());
        stop.trigger();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "the last waker is woken once"
        );
        assert!(w.poll_stop(&mut cx).is_ready());
    }

    #[test]
    fn dropped_waiters_free_their_slots() {
        let stop = Stop::new();
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        for _ in 0..10_000 {
            let mut a = stop.wait();
            let mut b = stop.wait();
            assert!(a.poll_stop(&mut cx).is_pending());
            assert!(b.poll_stop(&mut cx).is_pending());
        }
        assert_eq!(stop.waiters(), 0);
        assert_eq!(stop.capacity(), 2, "slots are reused");
    }

    #[test]
    fn a_waiter_created_after_the_trigger_is_ready() {
        let stop = Stop::new();
        stop.trigger();
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        assert!(stop
            .wait()
            .poll_stop(&mut Context::from_waker(&waker))
            .is_ready());
        assert_eq!(stop.capacity(), 0);
    }

    #[test]
    fn wakes_across_threads() {
        let stop = Stop::new();
        let s2 = stop.clone();
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let t = std::thread::spawn(move || {
            let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
            let mut w = s2.wait();
            while w.poll_stop(&mut Context::from_waker(&waker)).is_pending() {
                std::thread::park();
            }
        });
        while stop.waiters() == 0 {
            std::thread::yield_now();
        }
        stop.trigger();
        t.join().unwrap();
    }
}
