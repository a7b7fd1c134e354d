//! [`Timer`]: hyper's `rt::Timer` over a model runtime's clock, including `now()`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use testbed_model::{Instant, Runtime};

/// hyper's timer (header-read timeouts, keep-alive, HTTP/2 pings, pool idle expiry) on the
/// model runtime's clock.
///
/// It overrides [`hyper::rt::Timer::now`]: hyper's default reads the real clock, so a timer
/// that only forwards sleeps fires its deadlines at real-time offsets (a 2 s header timeout
/// after milliseconds of simulated time). Model instants map to `std::time::Instant` as
/// `base + t`; `base` is read once per timer and only differences ever reach the runtime.
#[derive(Clone, Debug)]
pub struct Timer<R> {
    rt: R,
    base: std::time::Instant,
}

impl<R: Runtime> Timer<R> {
    /// A timer on `rt`'s clock. Reads the real clock once, for the base instant model time
    /// zero maps to (nothing depends on its value, only on differences from it).
    #[allow(clippy::disallowed_methods)]
    pub fn new(rt: R) -> Timer<R> {
        let base = std::time::Instant::now(); // allow-nondeterminism: a base; only differences are used
        Timer::with_base(rt, base)
    }

    /// A timer with an explicit base (e.g. the simulator's `Host::std_base`, so that hyper's
    /// instants agree with other std-instant libraries of the same run).
    pub fn with_base(rt: R, base: std::time::Instant) -> Timer<R> {
        Timer { rt, base }
    }

    /// The std instant of model time `t`.
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.base + t.since_epoch()
    }

    /// The model instant of `t` (instants before the base map to the epoch).
    pub fn to_model(&self, t: std::time::Instant) -> Instant {
        let nanos = t.saturating_duration_since(self.base).as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

pin_project_lite::pin_project! {
    /// A model sleep as hyper's `rt::Sleep`.
    pub struct HyperSleep<S> {
        #[pin]
        inner: S,
    }
}

impl<S: Future<Output = ()>> Future for HyperSleep<S> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll(cx)
    }
}

impl<S> hyper::rt::Sleep for HyperSleep<S> where S: Future<Output = ()> + Send + Sync {}

impl<R> hyper::rt::Timer for Timer<R>
where
    R: Runtime + Send + Sync,
    R::Sleep: Send + Sync,
{
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep {
            inner: self.rt.sleep(duration),
        })
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep {
            inner: self.rt.sleep_until(self.to_model(deadline)),
        })
    }

    fn now(&self) -> std::time::Instant {
        self.to_std(self.rt.now())
    }
}
