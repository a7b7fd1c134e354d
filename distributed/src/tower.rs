//! Tower adapters (feature `tower`): thin `Layer`s over the sans-IO cores. State lives behind
//! an `Arc<Mutex<_>>`, so every clone of a service shares one limiter, breaker or bulkhead
//! (tower's own `RateLimit` keeps per-clone state: tower#794). Time comes from an injected
//! [`Clock`], so the same layer runs under the simulator or on a real clock.
//! Rejections are immediate errors (shed load, never queue): [`Rejected`].

use crate::breaker::{Breaker, Outcome, Permit};
use crate::concurrency::{Bulkhead, Slot};
use crate::limit::RateLimiter;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use testbed_model::{Duration, Instant};
use tower::{BoxError, Layer, Service};

/// Where adapters read time: the simulator's host clock, or a real one in production.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Why an adapter refused a request before calling the inner service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// The rate limiter denied it.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// When a request would pass.
        retry_after: Duration,
    },
    /// The circuit breaker is open.
    #[error("circuit open")]
    CircuitOpen,
    /// The bulkhead is full.
    #[error("too many requests in flight")]
    Overloaded,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// Rate limiting in front of a service.
#[derive(Clone)]
pub struct RateLimitLayer<L> {
    limiter: Arc<Mutex<L>>,
    clock: Clock,
}

impl<L> RateLimitLayer<L> {
    /// Shares `limiter` among every service this layer builds, and their clones.
    pub fn new(limiter: L, clock: Clock) -> Self {
        RateLimitLayer {
            limiter: Arc::new(Mutex::new(limiter)),
            clock,
        }
    }
}

impl<S, L> Layer<S> for RateLimitLayer<L> {
    type Service = RateLimited<S, L>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimited {
            inner,
            limiter: self.limiter.clone(),
            clock: self.clock.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] builds.
#[derive(Clone)]
pub struct RateLimited<S, L> {
    inner: S,
    limiter: Arc<Mutex<L>>,
    clock: Clock,
}

impl<S, L, R> Service<R> for RateLimited<S, L>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    L: RateLimiter,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Boxed<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let d = lock(&self.limiter).check((self.clock)(), 1);
        if !d.allowed {
            let e = Rejected::RateLimited {
                retry_after: d.retry_after,
            };
            return Box::pin(async move { Err(e.into()) });
        }
        let f = self.inner.call(req);
        Box::pin(async move { f.await.map_err(Into::into) })
    }
}

/// A circuit breaker in front of a service: errors of the inner service count as failures.
#[derive(Clone)]
pub struct BreakerLayer {
    breaker: Arc<Mutex<Breaker>>,
    clock: Clock,
}

impl BreakerLayer {
    /// Shares `breaker` among every service this layer builds.
    pub fn new(breaker: Breaker, clock: Clock) -> Self {
        BreakerLayer {
            breaker: Arc::new(Mutex::new(breaker)),
            clock,
        }
    }
    /// The shared breaker (to read its state or events).
    pub fn breaker(&self) -> Arc<Mutex<Breaker>> {
        self.breaker.clone()
    }
}

impl<S> Layer<S> for BreakerLayer {
    type Service = Broken<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Broken {
            inner,
            breaker: self.breaker.clone(),
            clock: self.clock.clone(),
        }
    }
}

/// The service [`BreakerLayer`] builds.
#[derive(Clone)]
pub struct Broken<S> {
    inner: S,
    breaker: Arc<Mutex<Breaker>>,
    clock: Clock,
}

pin_project! {
    /// Reports the inner call's outcome to the breaker when it completes.
    pub struct BreakerFuture<F> {
        #[pin]
        inner: F,
        permit: Option<Permit>,
        started: Instant,
        breaker: Arc<Mutex<Breaker>>,
        clock: Clock,
    }
}

impl<F, T, E> Future for BreakerFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let r = std::task::ready!(this.inner.poll(cx));
        if let Some(p) = this.permit.take() {
            let now = (this.clock)();
            let outcome = if r.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            lock(this.breaker).on_result(now, p, outcome, now - *this.started);
        }
        Poll::Ready(r.map_err(Into::into))
    }
}

impl<S, R> Service<R> for Broken<S>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Boxed<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let now = (self.clock)();
        let permit = match lock(&self.breaker).try_acquire(now) {
            Ok(p) => p,
            Err(_) => return Box::pin(async { Err(Rejected::CircuitOpen.into()) }),
        };
        let fut = BreakerFuture {
            inner: self.inner.call(req),
            permit: Some(permit),
            started: now,
            breaker: self.breaker.clone(),
            clock: self.clock.clone(),
        };
        Box::pin(fut)
    }
}

/// A bulkhead in front of a service: at most `max` calls in flight across all clones.
#[derive(Clone)]
pub struct BulkheadLayer {
    bulkhead: Arc<Mutex<Bulkhead>>,
}

impl BulkheadLayer {
    /// At most `max` concurrent calls.
    pub fn new(max: u32) -> Self {
        BulkheadLayer {
            bulkhead: Arc::new(Mutex::new(Bulkhead::new(max))),
        }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = Bulkheaded<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Bulkheaded {
            inner,
            bulkhead: self.bulkhead.clone(),
        }
    }
}

/// The service [`BulkheadLayer`] builds.
#[derive(Clone)]
pub struct Bulkheaded<S> {
    inner: S,
    bulkhead: Arc<Mutex<Bulkhead>>,
}

/// Releases a bulkhead slot when the call's future completes or is dropped.
struct SlotGuard {
    slot: Option<Slot>,
    bulkhead: Arc<Mutex<Bulkhead>>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(s) = self.slot.take() {
            lock(&self.bulkhead).release(s);
        }
    }
}

impl<S, R> Service<R> for Bulkheaded<S>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Boxed<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let slot = match lock(&self.bulkhead).try_acquire() {
            Ok(s) => s,
            Err(_) => return Box::pin(async { Err(Rejected::Overloaded.into()) }),
        };
        let guard = SlotGuard {
            slot: Some(slot),
            bulkhead: self.bulkhead.clone(),
        };
        let f = self.inner.call(req);
        Box::pin(async move {
            let r = f.await.map_err(Into::into);
            drop(guard);
            r
        })
    }
}
