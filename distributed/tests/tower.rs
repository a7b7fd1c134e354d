//! Tower adapters share state across clones and read time from the injected clock.
#![cfg(feature = "tower")]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use testbed_distributed::breaker::{Breaker, BreakerConfig, State};
use testbed_distributed::limit::{Gcra, Quota};
use testbed_distributed::tower::{BreakerLayer, BulkheadLayer, Clock, RateLimitLayer, Rejected};
use testbed_model::{Duration, Instant};
use tower::{service_fn, BoxError, Layer, Service};

/// Drives a future that needs no waking (everything here is ready at once).
fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn manual_clock() -> (Clock, Arc<AtomicU64>) {
    let t = Arc::new(AtomicU64::new(0));
    let t2 = t.clone();
    (
        Arc::new(move || Instant::from_nanos(t2.load(Ordering::SeqCst))),
        t,
    )
}

fn rejected(e: &BoxError) -> Option<Rejected> {
    e.downcast_ref::<Rejected>().copied()
}

#[test]
fn rate_limit_state_is_shared_by_clones() {
    let (clock, t) = manual_clock();
    let layer = RateLimitLayer::new(Gcra::new(Quota::per_second(2)), clock);
    let mut a = layer.layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    let mut b = a.clone();
    assert_eq!(now_or_never(a.call(1)).unwrap().unwrap(), 1);
    assert_eq!(now_or_never(b.call(2)).unwrap().unwrap(), 2);
    let e = now_or_never(a.call(3)).unwrap().unwrap_err();
    assert_eq!(
        rejected(&e),
        Some(Rejected::RateLimited {
            retry_after: Duration::from_millis(500)
        }),
        "the clone spent the shared burst"
    );
    t.store(500_000_000, Ordering::SeqCst);
    assert!(
        now_or_never(b.call(4)).unwrap().is_ok(),
        "the injected clock refilled it"
    );
}

#[test]
fn breaker_layer_opens_on_inner_errors() {
    let (clock, t) = manual_clock();
    let layer = BreakerLayer::new(
        Breaker::new(BreakerConfig::consecutive_failures(
            2,
            Duration::from_secs(5),
        )),
        clock,
    );
    let mut svc = layer.layer(service_fn(|ok: bool| async move {
        if ok {
            Ok::<_, BoxError>(())
        } else {
            Err("boom".into())
        }
    }));
    for _ in 0..2 {
        assert!(now_or_never(svc.call(false)).unwrap().is_err());
    }
    let e = now_or_never(svc.call(true)).unwrap().unwrap_err();
    assert_eq!(rejected(&e), Some(Rejected::CircuitOpen));
    t.store(5_000_000_000, Ordering::SeqCst);
    assert!(
        now_or_never(svc.call(true)).unwrap().is_ok(),
        "the probe succeeds"
    );
    assert_eq!(
        layer.breaker().lock().unwrap().state(Instant::from_secs(5)),
        State::Closed
    );
}

#[test]
fn bulkhead_layer_rejects_past_its_limit_and_frees_slots() {
    let layer = BulkheadLayer::new(1);
    let mut svc = layer.layer(service_fn(|_: ()| async { Ok::<_, BoxError>(()) }));
    let first = svc.call(()); // holds the slot until it completes or is dropped
    let e = now_or_never(svc.call(())).unwrap().unwrap_err();
    assert_eq!(rejected(&e), Some(Rejected::Overloaded));
    drop(first);
    assert!(now_or_never(svc.call(())).unwrap().is_ok());
}

mod client_stack {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use testbed_distributed::balance::RoundRobin;
    use testbed_distributed::client::tower::{ClientStackLayer, Sleeper};
    use testbed_distributed::client::{
        ClientError, Instance, Rejected as StackRejected, RetryConfig, Stack, StackConfig,
        StaticResolve,
    };
    use testbed_distributed::retry::{Backoff, Growth, Jitter};

    /// A sleeper that jumps the manual clock to the instant and is ready at once.
    fn sleeper(t: Arc<AtomicU64>) -> Sleeper {
        Arc::new(move |at: Instant| {
            t.fetch_max(at.as_nanos(), Ordering::SeqCst);
            Box::pin(async {})
        })
    }

    fn layer_clock(t: &Arc<AtomicU64>) -> Clock {
        let t = t.clone();
        Arc::new(move || Instant::from_nanos(t.load(Ordering::SeqCst)))
    }

    fn stack(cfg: StackConfig) -> Stack<RoundRobin, StaticResolve> {
        let r = StaticResolve::new((1..=2).map(|id| Instance {
            id,
            addr: SocketAddr::from(([10, 0, 0, id as u8], 80)),
            weight: 1,
        }));
        Stack::new(cfg, r, RoundRobin::new(), 3)
    }

    fn retry() -> Option<RetryConfig> {
        Some(RetryConfig {
            max_attempts: 3,
            backoff: Backoff {
                base: Duration::from_millis(10),
                cap: Duration::from_millis(10),
                growth: Growth::Constant,
                jitter: Jitter::None,
            },
            budget: None,
        })
    }

    #[test]
    fn retries_across_instances_after_the_backoff() {
        let (clock, t) = manual_clock();
        let cfg = StackConfig {
            retry: retry(),
            ..StackConfig::PASSTHROUGH
        };
        let layer =
            ClientStackLayer::new(stack(cfg), clock, sleeper(t.clone()), |x: &u32| *x as u64);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let mut svc = layer.layer(service_fn(move |(addr, x): (SocketAddr, u32)| {
            let mut s = s2.lock().unwrap();
            s.push(addr);
            let n = s.len();
            async move {
                if n < 3 {
                    Err::<u32, BoxError>("unavailable".into())
                } else {
                    Ok(x * 2)
                }
            }
        }));
        assert_eq!(now_or_never(svc.call(21)).unwrap().unwrap(), 42);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_ne!(seen[0], seen[1], "the retry went to the other instance");
        assert_eq!(t.load(Ordering::SeqCst), 20_000_000, "two 10 ms backoffs");
        let st = layer.stack();
        let m = st.lock().unwrap().metrics().clone();
        assert_eq!((m.calls, m.admitted, m.retried, m.succeeded), (1, 3, 2, 1));
    }

    #[test]
    fn attempt_timeouts_and_rejections_are_typed() {
        let (clock, t) = manual_clock();
        let cfg = StackConfig {
            attempt_timeout: Some(Duration::from_millis(50)),
            ..StackConfig::PASSTHROUGH
        };
        let layer = ClientStackLayer::new(stack(cfg), clock, sleeper(t.clone()), |_: &u32| 0);
        let mut svc = layer.layer(service_fn(|_: (SocketAddr, u32)| {
            std::future::pending::<Result<u32, BoxError>>()
        }));
        let e = now_or_never(svc.call(1)).unwrap().unwrap_err();
        assert!(
            matches!(
                e.downcast_ref::<ClientError<BoxError>>(),
                Some(ClientError::TimedOut { attempts: 1 })
            ),
            "{e}"
        );
        assert_eq!(t.load(Ordering::SeqCst), 50_000_000);
        // Without a timeout, a call in flight holds the bulkhead's only slot; dropping it
        // frees the slot.
        let cfg = StackConfig {
            bulkhead: Some(1),
            ..StackConfig::PASSTHROUGH
        };
        let layer =
            ClientStackLayer::new(stack(cfg), layer_clock(&t), sleeper(t.clone()), |_: &u32| 0);
        let mut svc = layer.layer(service_fn(|_: (SocketAddr, u32)| {
            std::future::pending::<Result<u32, BoxError>>()
        }));
        let mut pending = Box::pin(svc.call(2));
        let cx = &mut Context::from_waker(Waker::noop());
        let st = layer.stack();
        let mut other = svc.clone();
        let _ = pending.as_mut().poll(cx);
        let e = now_or_never(other.call(3)).unwrap().unwrap_err();
        assert!(matches!(
            e.downcast_ref::<ClientError<BoxError>>(),
            Some(ClientError::Rejected(StackRejected::BulkheadFull {
                max: 1
            }))
        ));
        drop(pending);
        assert_eq!(st.lock().unwrap().in_flight(), 0);
        assert_eq!(st.lock().unwrap().metrics().cancelled, 1);
    }
}
