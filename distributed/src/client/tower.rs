//! The client stack as a tower `Layer` (feature `tower`): wraps a service that sends one
//! request to one instance (`Service<(SocketAddr, Req)>`) into a `Service<Req>` that
//! resolves, balances, breaks, limits, bounds and retries. The stack is shared by every
//! clone (behind an `Arc<Mutex<_>>`); time comes from an injected [`Clock`] and backoffs and
//! attempt deadlines wait on an injected [`Sleeper`], so the layer runs under the simulator
//! or on a real runtime. Errors are [`ClientError`]`<BoxError>`, boxed.

use super::{Attempt, ClientError, Next, Resolve, Stack};
use crate::balance::Balancer;
use crate::tower::Clock;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use testbed_model::Instant;
use tower::{BoxError, Layer, Service};

/// Waits until an instant on the injected clock.
pub type Sleeper = Arc<dyn Fn(Instant) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

type Shared<B, R> = Arc<Mutex<Stack<B, R>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The layer: one shared [`Stack`], a clock, a sleeper and the request's affinity key.
pub struct ClientStackLayer<B, R, K> {
    stack: Shared<B, R>,
    clock: Clock,
    sleep: Sleeper,
    key: K,
}

impl<B, R, K: Clone> Clone for ClientStackLayer<B, R, K> {
    fn clone(&self) -> Self {
        ClientStackLayer {
            stack: self.stack.clone(),
            clock: self.clock.clone(),
            sleep: self.sleep.clone(),
            key: self.key.clone(),
        }
    }
}

impl<B, R, K> ClientStackLayer<B, R, K> {
    /// Shares `stack` among every service this layer builds; `key` hashes a request's
    /// affinity key (for hashing balancers).
    pub fn new(stack: Stack<B, R>, clock: Clock, sleep: Sleeper, key: K) -> Self {
        ClientStackLayer {
            stack: Arc::new(Mutex::new(stack)),
            clock,
            sleep,
            key,
        }
    }
    /// The shared stack (to read its metrics).
    pub fn stack(&self) -> Shared<B, R> {
        self.stack.clone()
    }
}

impl<S, B, R, K: Clone> Layer<S> for ClientStackLayer<B, R, K> {
    type Service = ClientStackService<S, B, R, K>;
    fn layer(&self, inner: S) -> Self::Service {
        ClientStackService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ClientStackLayer`] builds.
pub struct ClientStackService<S, B, R, K> {
    inner: S,
    layer: ClientStackLayer<B, R, K>,
}

impl<S: Clone, B, R, K: Clone> Clone for ClientStackService<S, B, R, K> {
    fn clone(&self) -> Self {
        ClientStackService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

/// `Some(output)`, or `None` when `timer` fires first.
async fn race<F: Future, G: Future<Output = ()>>(fut: F, timer: G) -> Option<F::Output> {
    let (mut fut, mut timer) = (pin!(fut), pin!(timer));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Reports a call dropped mid-way to the stack.
struct Guard<B: Balancer, R: Resolve> {
    stack: Shared<B, R>,
    clock: Clock,
    attempt: Option<Attempt>,
    done: bool,
}

impl<B: Balancer, R: Resolve> Drop for Guard<B, R> {
    fn drop(&mut self) {
        if !self.done {
            lock(&self.stack).abandon((self.clock)(), self.attempt.take());
        }
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<S, B, R, K, Req> Service<Req> for ClientStackService<S, B, R, K>
where
    S: Service<(SocketAddr, Req)> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    S::Response: Send + 'static,
    B: Balancer + Send + 'static,
    R: Resolve + Send + 'static,
    K: Fn(&Req) -> u64,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Boxed<S::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(())) // each attempt waits for the inner service's readiness
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let l = &self.layer;
        let (stack, clock, sleep) = (l.stack.clone(), l.clock.clone(), l.sleep.clone());
        let key = (l.key)(&req);
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let mut c = lock(&stack).begin(clock(), key);
            let mut guard = Guard {
                stack: stack.clone(),
                clock: clock.clone(),
                attempt: None,
                done: false,
            };
            loop {
                let attempt = match lock(&stack).try_attempt(clock(), &mut c) {
                    Ok(a) => a,
                    Err(e) => {
                        guard.done = true;
                        return Err(ClientError::<BoxError>::Rejected(e).into());
                    }
                };
                let (addr, deadline) = (attempt.addr, attempt.deadline);
                guard.attempt = Some(attempt);
                let one = req.clone();
                let send = async {
                    std::future::poll_fn(|cx| inner.poll_ready(cx))
                        .await
                        .map_err(Into::into)?;
                    inner.call((addr, one)).await.map_err(Into::into)
                };
                let result: Option<Result<S::Response, BoxError>> = match deadline {
                    Some(d) => race(send, sleep(d)).await,
                    None => Some(send.await),
                };
                let attempt = guard.attempt.take().expect("set before the await");
                let (ok, timed_out) = (matches!(result, Some(Ok(_))), result.is_none());
                let attempts = c.attempts;
                let next = lock(&stack).finish(clock(), &mut c, attempt, ok, timed_out);
                if let Next::RetryAfter(d) = next {
                    sleep(clock() + d).await;
                    continue;
                }
                guard.done = true;
                return match result {
                    Some(Ok(v)) => Ok(v),
                    Some(Err(error)) => Err(ClientError::Failed { attempts, error }.into()),
                    None => Err(ClientError::<BoxError>::TimedOut { attempts }.into()),
                };
            }
        })
    }
}
