//! Retry, budget and deadline properties.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use testbed_distributed::retry::*;
use testbed_model::{Duration, Instant, SeededRng};

fn cfg(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x2E72),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(cfg(128))]

    #[test]
    fn jitter_stays_inside_its_formula_and_repeats_for_a_seed(
        seed: u64, base_ms in 1u64..100, cap_ms in 100u64..10_000, attempts in 1u32..20,
    ) {
        let (base, cap) = (Duration::from_millis(base_ms), Duration::from_millis(cap_ms));
        for jitter in [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let b = Backoff { base, cap, growth: Growth::Exponential, jitter };
            let run = |seed| {
                let mut rng = SeededRng::new(seed);
                let mut prev = base;
                (1..=attempts).map(|a| { prev = b.delay(a, prev, &mut rng); prev }).collect::<Vec<_>>()
            };
            let delays = run(seed);
            prop_assert_eq!(&delays, &run(seed), "same seed, same delays");
            let mut prev = base;
            for (i, d) in delays.iter().enumerate() {
                let ceiling = b.ceiling(i as u32 + 1);
                prop_assert!(*d <= cap);
                match jitter {
                    Jitter::None => prop_assert_eq!(*d, ceiling),
                    Jitter::Full => prop_assert!(*d <= ceiling),
                    Jitter::Equal => prop_assert!(*d >= ceiling / 2 && *d <= ceiling),
                    Jitter::Decorrelated => prop_assert!(*d >= base.min(cap) && *d <= (prev * 3).min(cap).max(base.min(cap))),
                }
                prev = *d;
            }
        }
    }
}

#[test]
fn exponential_ceilings_double_and_cap() {
    let b = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(1),
        growth: Growth::Exponential,
        jitter: Jitter::None,
    };
    let v: Vec<_> = (1..=6).map(|a| b.ceiling(a).as_millis()).collect();
    assert_eq!(v, [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(
        b.ceiling(200),
        Duration::from_secs(1),
        "no overflow on huge attempt numbers"
    );
}

#[test]
fn retry_policy_stops_at_attempts_and_deadline() {
    let mut rng = SeededRng::new(1);
    let backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(10),
        growth: Growth::Exponential,
        jitter: Jitter::None,
    };
    let p = RetryPolicy {
        backoff,
        max_attempts: 3,
        deadline: Some(Deadline::after(Instant::ZERO, Duration::from_millis(250))),
    };
    assert_eq!(
        p.next_delay(Instant::ZERO, 1, Duration::ZERO, &mut rng),
        Some(Duration::from_millis(100))
    );
    assert_eq!(
        p.next_delay(Instant::from_millis(100), 2, Duration::ZERO, &mut rng),
        None,
        "100 + 200 ms passes the 250 ms deadline"
    );
    let p = RetryPolicy {
        deadline: None,
        ..p
    };
    assert_eq!(
        p.next_delay(Instant::ZERO, 3, Duration::ZERO, &mut rng),
        None,
        "three attempts made"
    );
}

#[test]
fn grpc_a6_retry_throttling_thresholds() {
    // maxTokens 10, tokenRatio 0.1: retries stop once tokens ≤ 5.
    let mut t = RetryThrottle::new(10, 100);
    for _ in 0..4 {
        t.on_failure();
    }
    assert_eq!(t.tokens_milli(), 6000);
    assert!(t.can_retry());
    t.on_failure();
    assert_eq!(t.tokens_milli(), 5000);
    assert!(!t.can_retry(), "5 is not > 10/2");
    t.on_success();
    assert_eq!(t.tokens_milli(), 5100);
    assert!(t.can_retry());
    for _ in 0..100 {
        t.on_success();
    }
    assert_eq!(t.tokens_milli(), 10_000, "capped at maxTokens");
}

#[test]
fn tps_budget_handles_fractional_percentages() {
    // 0.5% of 1000 requests = 5 retries, no reserve.
    let mut b = TpsBudget::new(5, 0, Duration::from_secs(10));
    for i in 0..1000 {
        b.deposit(Instant::from_millis(i));
    }
    let t = Instant::from_secs(1);
    let granted = (0..20).filter(|_| b.withdraw(t)).count();
    assert_eq!(granted, 5);
    // Deposits expire after the ttl.
    assert!(!b.withdraw(Instant::from_secs(12)));
    // A reserve of 1 retry/s over a 10 s ttl allows 10 without any traffic.
    let mut r = TpsBudget::new(100, 1, Duration::from_secs(10));
    assert_eq!(
        (0..20)
            .filter(|_| r.withdraw(Instant::from_secs(1)))
            .count(),
        10
    );
}

#[test]
fn deadlines_propagate_and_render() {
    let d = Deadline::after(Instant::ZERO, Duration::from_secs(2));
    let now = Instant::from_millis(500);
    assert_eq!(d.remaining(now), Duration::from_millis(1500));
    let child = d.child(now, Duration::from_secs(5), Duration::from_millis(10));
    assert_eq!(
        child.remaining(now),
        Duration::from_millis(1490),
        "the parent's deadline wins"
    );
    let child = d.child(now, Duration::from_millis(100), Duration::ZERO);
    assert_eq!(child.remaining(now), Duration::from_millis(100));
    assert_eq!(d.grpc_timeout(now), "1500000u");
    assert!(d.expired(Instant::from_secs(2)));
    let h = Hedging {
        delay: Duration::from_millis(50),
        max_extra: 2,
    };
    assert_eq!(h.next_at(Instant::ZERO, 0), Some(Instant::from_millis(50)));
    assert_eq!(h.next_at(Instant::ZERO, 1), Some(Instant::from_millis(100)));
    assert_eq!(h.next_at(Instant::ZERO, 2), None);
}
