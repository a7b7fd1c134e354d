//! The client stack's layers and their invariants.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::balance::{HashRing, PowerOfTwo, RoundRobin};
use testbed_distributed::breaker::{BreakerConfig, State};
use testbed_distributed::client::*;
use testbed_distributed::retry::{Backoff, Growth, Jitter};
use testbed_model::{Duration, Instant};

fn cfg(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0xC11E),
        failure_persistence: None,
        ..Config::default()
    }
}

fn inst(id: u32) -> Instance {
    Instance {
        id,
        addr: SocketAddr::from(([10, 0, 0, id as u8], 7000)),
        weight: 1,
    }
}

fn instances(n: u32) -> StaticResolve {
    StaticResolve::new((1..=n).map(inst))
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn at(v: u64) -> Instant {
    Instant::ZERO + ms(v)
}

fn retry(max_attempts: u32, budget: Option<(u64, u64, Duration)>) -> RetryConfig {
    RetryConfig {
        max_attempts,
        backoff: Backoff {
            base: ms(1),
            cap: ms(10),
            growth: Growth::Exponential,
            jitter: Jitter::Full,
        },
        budget,
    }
}

#[test]
fn a_failure_is_retried_on_another_instance_and_succeeds() {
    let c = StackConfig {
        retry: Some(retry(3, None)),
        ..StackConfig::PASSTHROUGH
    };
    let mut s = Stack::new(c, instances(2), RoundRobin::new(), 1);
    let mut call = s.begin(at(0), 0);
    let a = s.try_attempt(at(0), &mut call).unwrap();
    let first = a.node;
    let Next::RetryAfter(d) = s.finish(at(1), &mut call, a, false, false) else {
        panic!("retry expected")
    };
    assert!(d <= ms(1));
    let b = s.try_attempt(at(2), &mut call).unwrap();
    assert_ne!(b.node, first, "round robin moves on");
    assert_eq!(s.finish(at(3), &mut call, b, true, false), Next::Done);
    let m = s.metrics();
    assert_eq!((m.calls, m.admitted, m.retried, m.succeeded), (1, 2, 1, 1));
    assert_eq!(m.ended(), 1);
}

#[test]
fn attempts_stop_at_max_and_at_the_deadline() {
    let c = StackConfig {
        retry: Some(retry(2, None)),
        deadline: Some(ms(100)),
        attempt_timeout: Some(ms(30)),
        ..StackConfig::PASSTHROUGH
    };
    let mut s = Stack::new(c, instances(1), RoundRobin::new(), 1);
    let mut call = s.begin(at(0), 0);
    let a = s.try_attempt(at(0), &mut call).unwrap();
    assert_eq!(a.deadline, Some(at(30)));
    assert!(matches!(
        s.finish(at(30), &mut call, a, false, true),
        Next::RetryAfter(_)
    ));
    let b = s.try_attempt(at(90), &mut call).unwrap();
    assert_eq!(b.deadline, Some(at(100)), "capped by the call's deadline");
    assert_eq!(s.finish(at(100), &mut call, b, false, true), Next::GiveUp);
    assert_eq!(
        s.try_attempt(at(100), &mut call),
        Err(Rejected::DeadlineExceeded)
    );
    assert_eq!(s.metrics().timeouts, 2);
}

#[test]
fn breaker_fails_fast_then_probes_and_closes_with_a_timeline() {
    let c = StackConfig {
        breaker: Some(BreakerConfig::consecutive_failures(3, ms(500))),
        ..StackConfig::PASSTHROUGH
    };
    let mut s = Stack::new(c, instances(1), RoundRobin::new(), 1);
    for t in 0..3 {
        let mut call = s.begin(at(t), 0);
        let a = s.try_attempt(at(t), &mut call).unwrap();
        assert_eq!(s.finish(at(t), &mut call, a, false, false), Next::GiveUp);
    }
    let mut call = s.begin(at(10), 0);
    assert_eq!(s.try_attempt(at(10), &mut call), Err(Rejected::CircuitOpen));
    assert!(s.is_ejected(1, at(10)));
    let mut call = s.begin(at(503), 0);
    let probe = s.try_attempt(at(503), &mut call).unwrap();
    let mut other = s.begin(at(503), 0);
    assert_eq!(
        s.try_attempt(at(503), &mut other),
        Err(Rejected::CircuitOpen),
        "one probe at a time"
    );
    assert_eq!(s.finish(at(504), &mut call, probe, true, false), Next::Done);
    let mut after = s.begin(at(505), 0);
    let a = s
        .try_attempt(at(505), &mut after)
        .expect("closed: back in picks at once");
    assert_eq!(s.finish(at(505), &mut after, a, true, false), Next::Done);
    let states: Vec<State> = s
        .metrics()
        .breaker_timeline
        .iter()
        .map(|m| m.state)
        .collect();
    assert_eq!(states, [State::Open, State::HalfOpen, State::Closed]);
    assert_eq!(s.metrics().breaker_timeline[0].at, at(2));
    assert_eq!(s.metrics().circuit_opened, 1);
    assert_eq!(s.metrics().rejected_circuit, 2);
}

#[test]
fn rate_limit_rejects_over_quota() {
    let c = StackConfig {
        rate: Some(testbed_distributed::limit::Quota::per_second(10)),
        ..StackConfig::PASSTHROUGH
    };
    let mut s = Stack::new(c, instances(1), RoundRobin::new(), 1);
    let mut ok = 0;
    for _ in 0..15 {
        let mut call = s.begin(at(0), 0);
        if let Ok(a) = s.try_attempt(at(0), &mut call) {
            ok += 1;
            let _ = s.finish(at(0), &mut call, a, true, false);
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(s.metrics().rejected_rate, 5);
}

#[test]
fn a_watch_adds_and_removes_instances() {
    let w = Rc::new(RefCell::new(WatchResolve::new()));
    w.borrow_mut().apply(1, Change::Put(inst(1))).unwrap();
    let mut s = Stack::new(StackConfig::PASSTHROUGH, w.clone(), RoundRobin::new(), 1);
    let pick = |s: &mut Stack<RoundRobin, _>| {
        let mut call = s.begin(at(0), 0);
        let r = s.try_attempt(at(0), &mut call);
        r.map(|a| {
            let n = a.node;
            let _ = s.finish(at(0), &mut call, a, true, false);
            n
        })
    };
    assert_eq!(pick(&mut s), Ok(1));
    w.borrow_mut().apply(2, Change::Put(inst(2))).unwrap();
    let picks: Vec<_> = (0..4).map(|_| pick(&mut s).unwrap()).collect();
    assert!(picks.contains(&2), "{picks:?}");
    w.borrow_mut().apply(3, Change::Delete(1)).unwrap();
    w.borrow_mut().apply(4, Change::Delete(2)).unwrap();
    assert_eq!(pick(&mut s), Err(Rejected::NoInstance));
}

#[test]
fn outlier_ejection_keeps_picks_off_a_failing_instance() {
    let c = StackConfig {
        outlier: Some(OutlierConfig {
            consecutive_failures: 2,
            base_ejection: ms(1000),
            max_ejection: ms(5000),
            max_ejection_pct: 50,
        }),
        ..StackConfig::PASSTHROUGH
    };
    let mut s = Stack::new(c, instances(2), RoundRobin::new(), 1);
    let mut picks = Vec::new();
    for t in 0..20 {
        let mut call = s.begin(at(t), 0);
        let a = s.try_attempt(at(t), &mut call).unwrap();
        picks.push(a.node);
        let ok = a.node != 1;
        let _ = s.finish(at(t), &mut call, a, ok, false);
    }
    assert_eq!(s.metrics().ejected, 1);
    assert_eq!(picks.iter().filter(|n| **n == 1).count(), 2, "{picks:?}");
    let mut call = s.begin(at(1100), 0);
    let back: Vec<u32> = (0..2)
        .map(|_| {
            let a = s.try_attempt(at(1100), &mut call).unwrap();
            let n = a.node;
            let _ = s.finish(at(1100), &mut call, a, true, false);
            n
        })
        .collect();
    assert!(back.contains(&1), "returns after its ejection: {back:?}");
}

#[derive(Clone, Debug)]
enum Op {
    Begin,
    Finish { which: usize, ok: bool },
    Wait(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(Op::Begin),
            3 => (any::<usize>(), any::<bool>()).prop_map(|(which, ok)| Op::Finish { which, ok }),
            1 => (1u64..300).prop_map(Op::Wait),
        ],
        1..300,
    )
}

proptest! {
    #![proptest_config(cfg(96))]

    /// Whatever happens, the bulkhead never admits more than its limit, an ejected instance
    /// is never picked, and every call is counted as ended exactly once.
    #[test]
    fn bulkhead_bound_and_no_pick_while_ejected(ops in ops(), limit in 1u32..8, n in 1u32..6, seed: u64) {
        let c = StackConfig {
            breaker: Some(BreakerConfig::consecutive_failures(3, ms(200))),
            outlier: Some(OutlierConfig {
                consecutive_failures: 2,
                base_ejection: ms(100),
                max_ejection: ms(400),
                max_ejection_pct: 50,
            }),
            bulkhead: Some(limit),
            retry: Some(retry(3, None)),
            ..StackConfig::PASSTHROUGH
        };
        let mut s = Stack::new(c, instances(n), PowerOfTwo::new(), seed);
        let mut now = at(0);
        let mut open: Vec<(Call, Attempt)> = Vec::new();
        let mut ended_calls = 0u64;
        for op in ops {
            match op {
                Op::Wait(d) => now += ms(d),
                Op::Begin => {
                    let mut call = s.begin(now, 0);
                    let ejected: Vec<u32> = (1..=n).filter(|x| s.is_ejected(*x, now)).collect();
                    match s.try_attempt(now, &mut call) {
                        Ok(a) => {
                            prop_assert!(!ejected.contains(&a.node), "picked {} while ejected {:?}", a.node, ejected);
                            prop_assert!(!s.is_ejected(a.node, now));
                            open.push((call, a));
                        }
                        Err(_) => ended_calls += 1,
                    }
                }
                Op::Finish { which, ok } if !open.is_empty() => {
                    let (mut call, a) = open.swap_remove(which % open.len());
                    match s.finish(now, &mut call, a, ok, false) {
                        Next::RetryAfter(_) => match s.try_attempt(now, &mut call) {
                            Ok(b) => open.push((call, b)),
                            Err(_) => ended_calls += 1,
                        },
                        _ => ended_calls += 1,
                    }
                }
                Op::Finish { .. } => {}
            }
            prop_assert!(s.in_flight() <= limit);
            prop_assert_eq!(s.in_flight() as usize, open.len());
        }
        prop_assert_eq!(s.metrics().ended(), ended_calls);
    }

    /// Within one budget window, retries never exceed ratio × calls + min_per_sec × ttl.
    #[test]
    fn retry_budget_bounds_retries(calls in 1u64..400, ratio_milli in 0u64..500, min in 0u64..5, fail_pct in 0u64..=100, seed: u64) {
        let ttl = Duration::from_secs(10);
        let c = StackConfig {
            retry: Some(retry(50, Some((ratio_milli, min, ttl)))),
            ..StackConfig::PASSTHROUGH
        };
        let mut s = Stack::new(c, instances(3), HashRing::new(16), seed);
        let mut rng = testbed_model::SeededRng::new(seed);
        for i in 0..calls {
            let now = at(i * 20); // all within the 10 s window
            let mut call = s.begin(now, i);
            while let Ok(a) = s.try_attempt(now, &mut call) {
                let ok = testbed_model::Rng::below(&mut rng, 100) >= fail_pct;
                if !matches!(s.finish(now, &mut call, a, ok, false), Next::RetryAfter(_)) {
                    break;
                }
            }
        }
        let m = s.metrics();
        let bound = (ratio_milli * calls) as f64 / 1000.0 + (min * 10) as f64;
        prop_assert!((m.retried as f64) <= bound + 1e-9, "retried {} > bound {}", m.retried, bound);
        if fail_pct == 100 && ratio_milli == 0 && min == 0 {
            prop_assert_eq!(m.retried, 0);
        }
    }
}
