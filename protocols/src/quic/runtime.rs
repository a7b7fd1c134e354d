//! quinn's `Runtime` on a model runtime: timers on model time, tasks spawned on the model
//! runtime, and quinn's `std::time::Instant`s mapped onto model time through a fixed base
//! chosen once by the caller (only differences reach quinn, so the run stays deterministic).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use testbed_model::{Instant, Runtime};

/// Maps model time onto `std::time::Instant` (and back) around a fixed base.
#[derive(Clone, Copy, Debug)]
pub struct TimeBase {
    base: std::time::Instant,
}

impl TimeBase {
    /// Model time zero is `base`.
    pub fn new(base: std::time::Instant) -> TimeBase {
        TimeBase { base }
    }
    /// The std instant of model time `t`.
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.base + t.since_epoch()
    }
    /// The model time of std instant `i` (instants before the base map to zero).
    pub fn from_std(&self, i: std::time::Instant) -> Instant {
        Instant::ZERO + i.saturating_duration_since(self.base)
    }
}

/// quinn's runtime over a model runtime `R`.
pub struct QuinnRuntime<R> {
    rt: R,
    time: TimeBase,
}

impl<R> fmt::Debug for QuinnRuntime<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuinnRuntime")
            .field("time", &self.time)
            .finish()
    }
}

impl<R> QuinnRuntime<R>
where
    R: Runtime + Send + Sync + 'static,
    R::Sleep: Send,
{
    /// A runtime for quinn on `rt`, its model time zero at `time`'s base.
    pub fn new(rt: R, time: TimeBase) -> Arc<QuinnRuntime<R>> {
        Arc::new(QuinnRuntime { rt, time })
    }
}

/// A quinn timer on model time.
struct Timer<R: Runtime> {
    rt: R,
    time: TimeBase,
    deadline: Instant,
    sleep: Pin<Box<R::Sleep>>,
}

// The sleep is boxed and nothing else is pinned: moving a Timer is fine.
impl<R: Runtime> Unpin for Timer<R> {}

impl<R: Runtime> fmt::Debug for Timer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timer({})", self.deadline)
    }
}

impl<R> quinn::AsyncTimer for Timer<R>
where
    R: Runtime + Send + Sync + 'static,
    R::Sleep: Send,
{
    fn reset(mut self: Pin<&mut Self>, i: std::time::Instant) {
        let d = self.time.from_std(i);
        if d != self.deadline {
            self.deadline = d;
            let s = self.rt.sleep_until(d);
            self.sleep = Box::pin(s);
        }
    }
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.sleep.as_mut().poll(cx)
    }
}

impl<R> quinn::Runtime for QuinnRuntime<R>
where
    R: Runtime + Send + Sync + 'static,
    R::Sleep: Send,
{
    fn new_timer(&self, i: std::time::Instant) -> Pin<Box<dyn quinn::AsyncTimer>> {
        let deadline = self.time.from_std(i);
        Box::pin(Timer {
            rt: self.rt.clone(),
            time: self.time,
            deadline,
            sleep: Box::pin(self.rt.sleep_until(deadline)),
        })
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        drop(self.rt.spawn(future));
    }

    fn wrap_udp_socket(
        &self,
        _t: std::net::UdpSocket,
    ) -> std::io::Result<Arc<dyn quinn::AsyncUdpSocket>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "a model runtime has no OS sockets: build the endpoint with a ModelUdp socket",
        ))
    }

    fn now(&self) -> std::time::Instant {
        self.time.to_std(self.rt.now())
    }
}
