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
