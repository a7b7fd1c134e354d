//! The client stack's async driver in the simulator (the four client-stack scenarios' claims
//! are checked in scenarios/tests/client_scenarios.rs).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::balance::RoundRobin;
use testbed_distributed::client::{
    call, call_or_fallback, ClientError, Instance, RetryConfig, Served, Stack, StackConfig,
    StaticResolve,
};
use testbed_distributed::retry::{Backoff, Growth, Jitter};
use testbed_model::{Duration, Runtime};
use testbed_sim::{Sim, SimConfig};

#[derive(Debug, PartialEq)]
struct Boom;

/// A dropped call gives its bulkhead slot back; retries sleep their backoff; a fallback
/// answers a call that failed for good.
#[test]
fn driver_frees_slots_of_dropped_calls_retries_and_falls_back() {
    let mut sim = Sim::new(SimConfig::default());
    let done = Rc::new(Cell::new(false));
    let d2 = done.clone();
    sim.client("client", move |h| async move {
        let addr: SocketAddr = "10.9.9.9:1".parse().expect("literal");
        let cfg = StackConfig {
            bulkhead: Some(1),
            retry: Some(RetryConfig {
                max_attempts: 3,
                backoff: Backoff {
                    base: Duration::from_millis(10),
                    cap: Duration::from_millis(10),
                    growth: Growth::Constant,
                    jitter: Jitter::None,
                },
                budget: None,
            }),
            ..StackConfig::PASSTHROUGH
        };
        let r = StaticResolve::new([Instance {
            id: 1,
            addr,
            weight: 1,
        }]);
        let stack = RefCell::new(Stack::new(cfg, r, RoundRobin::new(), 7));
        // A call that never answers, dropped after 50 ms by its caller.
        let slow = call(&h, &stack, 0, |_, _, _| {
            let h = h.clone();
            async move {
                h.sleep(Duration::from_secs(10)).await;
                Ok::<u32, Boom>(1)
            }
        });
        assert!(testbed_model::timeout(&h, Duration::from_millis(50), slow)
            .await
            .is_err());
        assert_eq!(stack.borrow().in_flight(), 0, "the slot came back");
        assert_eq!(stack.borrow().metrics().cancelled, 1);
        // Two failures, then success: three attempts, two backoffs of 10 ms.
        let tries = Cell::new(0);
        let t0 = h.now();
        let v = call(&h, &stack, 0, |_, _, _| {
            tries.set(tries.get() + 1);
            let n = tries.get();
            async move {
                if n < 3 {
                    Err(Boom)
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(v, Ok(3));
        assert_eq!(h.now() - t0, Duration::from_millis(20));
        // Always failing: the third failure is final, and the fallback answers.
        let (v, served) = call_or_fallback(
            &h,
            &stack,
            0,
            |_, _, _| async { Err::<u32, Boom>(Boom) },
            |e| match e {
                ClientError::Failed { attempts: 3, .. } => 99,
                _ => 0,
            },
        )
        .await;
        assert_eq!((v, served), (99, Served::Fallback));
        let m = stack.borrow().metrics().clone();
        assert_eq!(
            (m.calls, m.retried, m.succeeded, m.failed, m.fallbacks),
            (3, 4, 1, 1, 1)
        );
        assert_eq!(m.ended(), 3);
        d2.set(true);
        Ok(())
    });
    sim.run().expect("sim runs");
    assert!(done.get());
}
