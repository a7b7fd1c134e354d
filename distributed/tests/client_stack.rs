//! The client stack's async driver in the simulator, and the four client-stack scenarios'
//! claims on a few seeds (the full 0..200 sweep is `scripts/e2e`).

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
use testbed_scenarios::{find, prepare, Backend, RunCtx};
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

fn run(name: &str, seed: u64, sets: &[&str]) -> serde_json::Value {
    let s = find(name).expect("in the catalogue");
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let params = prepare(s, Backend::Sim, &sets).expect("params");
    let wall = || Duration::ZERO;
    let ctx = RunCtx::new(Backend::Sim, seed, params, &wall);
    let o = s.run(&ctx).expect("runs");
    assert!(o.passed(), "{name} seed {seed}: {}", o.summary());
    o.to_json()
}

#[test]
fn avalanche_protection_keeps_the_core_endpoint_up() {
    for seed in 0..2 {
        let m = &run("avalanche", seed, &[])["metrics"];
        let (u, p) = (&m["unprotected"], &m["protected"]);
        assert!(p["core_success_fault"].as_f64().unwrap() >= 0.95);
        assert!(u["core_success_fault"].as_f64().unwrap() < 0.5);
        assert_eq!(
            u["web_workers_peak"], u["workers"],
            "unprotected web saturates"
        );
        let tl = p["client_order_inventory"]["breaker_timeline"]
            .as_array()
            .unwrap();
        assert_eq!(tl[0][2], "Open");
        assert_eq!(
            tl.last().unwrap()[2],
            "Closed",
            "closed again after the heal"
        );
    }
}

#[test]
fn retry_storm_budget_caps_amplification() {
    let m = &run("retry-storm", 3, &[])["metrics"];
    let (n, b) = (
        m["amplification"]["naive"].as_f64().unwrap(),
        m["amplification"]["budget"].as_f64().unwrap(),
    );
    assert!(n > 3.0 && b <= 1.2, "naive {n}, budget {b}");
    assert!(m["budget"]["client"]["retry_denied"].as_u64().unwrap() > 0);
}

#[test]
fn rebalance_moves_few_keys_with_consistent_hashing() {
    let m = &run("rebalance", 5, &[])["metrics"];
    let at = |scheme: &str, n: u64| {
        m["keys_moved_add"][scheme]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == n)
            .unwrap()[1]
            .as_f64()
            .unwrap()
    };
    for n in 4..=10 {
        let ideal = 1.0 / (n as f64 + 1.0);
        assert!((at("ring", n) - ideal).abs() < 0.5 * ideal);
        assert!(at("modulo", n) > 0.7);
    }
    let claims = m["claims"].as_array().unwrap();
    assert!(claims.iter().all(|c| c["verdict"] == "holds"), "{claims:?}");
}

#[test]
fn degrade_walks_the_seed_levels_and_never_touches_the_core() {
    let m = &run("degrade", 9, &[])["metrics"];
    let tl: Vec<&str> = m["level_timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[1].as_str().unwrap())
        .collect();
    assert_eq!(tl.first(), Some(&"degraded"));
    assert!(tl.contains(&"critical"));
    assert_eq!(tl.last(), Some(&"normal"));
    assert_eq!(m["pages_failed"], 0);
}
