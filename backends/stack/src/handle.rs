//! The handle tasks hold: `model::Runtime` (wall clock since the stack was built, timers
//! served by the run loop, the stack's executor, seeded randomness) and `model::Net` (TCP
//! and UDP sockets on the stack's smoltcp interface).

use crate::config::StackConfig;
use crate::stack::{Inner, StackStats};
use crate::tcp::{self, StackListener, StackStream};
use crate::udp::{self, StackDatagram};
use std::cell::Cell;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use testbed_model::rng::derive_seed_indexed;
use testbed_model::runtime::join_pair;
use testbed_model::{BindError, ConnectError, Instant, JoinHandle, Net, Runtime, SeededRng};

/// A task's view of its [`crate::Stack`]: `model::Net + model::Runtime`, cheap to clone.
/// Only usable on the thread running the stack, while it runs.
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Rc<Inner>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("ip", &self.inner.core.borrow().cfg.ip)
            .finish()
    }
}

impl Handle {
    pub(crate) fn new(inner: Rc<Inner>) -> Handle {
        Handle { inner }
    }

    /// The stack's counters so far.
    pub fn stats(&self) -> StackStats {
        self.inner.core.borrow().stats
    }

    /// The stack's configuration (with any neighbours added since).
    pub fn config(&self) -> StackConfig {
        self.inner.core.borrow().cfg.clone()
    }

    /// Adds a static neighbour entry; false if the table is full.
    pub fn insert_neighbor(&self, ip: Ipv4Addr, mac: [u8; 6]) -> bool {
        self.inner.core.borrow_mut().add_neighbor(ip, mac)
    }
}

/// The future of [`Runtime::sleep_until`] on a stack: a timer the run loop fires.
pub struct Sleep {
    inner: Rc<Inner>,
    at: Instant,
    key: Option<(Instant, u64)>,
}

impl Sleep {
    fn cancel(&mut self) {
        if let Some(k) = self.key.take() {
            self.inner.core.borrow_mut().timers.remove(&k);
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.cancel();
        let mut core = self.inner.core.borrow_mut();
        if core.now() >= self.at {
            return Poll::Ready(());
        }
        let key = core.add_timer(self.at, cx.waker().clone());
        drop(core);
        if key.is_none() {
            // Timer table full: poll again on the next round.
            cx.waker().wake_by_ref();
        }
        self.key = key;
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl Runtime for Handle {
    type Sleep = Sleep;

    fn now(&self) -> Instant {
        self.inner.core.borrow().now()
    }

    #[allow(clippy::disallowed_methods)] // a real backend reads the real clock
    fn wall_clock(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            inner: self.inner.clone(),
            at: deadline,
            key: None,
        }
    }

    fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let slot: Rc<Cell<Option<(usize, u64)>>> = Rc::default();
        let s2 = slot.clone();
        let weak = Rc::downgrade(&self.inner);
        let (tx, handle) = join_pair(Some(Box::new(move || {
            if let (Some((id, gen)), Some(inner)) = (s2.get(), weak.upgrade()) {
                inner.exec.abort(id, gen);
            }
        })));
        let key = self
            .inner
            .exec
            .spawn(Box::pin(async move { tx.send(fut.await) }));
        slot.set(Some(key));
        handle
    }

    fn rng(&self) -> SeededRng {
        let mut core = self.inner.core.borrow_mut();
        core.rng_draws += 1;
        SeededRng::new(derive_seed_indexed(
            core.cfg.seed,
            "stack-rng",
            core.rng_draws,
        ))
    }
}

impl Net for Handle {
    type Stream = StackStream;
    type Listener = StackListener;
    type Datagram = StackDatagram;

    fn local_ip(&self) -> IpAddr {
        IpAddr::V4(self.inner.core.borrow().cfg.ip.address())
    }

    fn listen(&self, addr: SocketAddr) -> Result<StackListener, BindError> {
        tcp::listen(&self.inner, addr)
    }

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = Result<StackStream, ConnectError>> {
        tcp::connect(self.inner.clone(), addr)
    }

    fn bind_datagram(&self, addr: SocketAddr) -> Result<StackDatagram, BindError> {
        udp::bind(&self.inner, addr)
    }
}
