//! Concurrency control properties.

use testbed_distributed::concurrency::*;
use testbed_model::{Duration, Instant, SeededRng};

#[test]
fn bulkhead_rejects_instead_of_queueing() {
    let mut b = Bulkhead::new(2);
    let s1 = b.try_acquire().unwrap();
    let _s2 = b.try_acquire().unwrap();
    assert_eq!(
        b.try_acquire().unwrap_err(),
        Full {
            in_flight: 2,
            max: 2
        }
    );
    b.release(s1);
    assert!(b.try_acquire().is_ok());
    assert_eq!(b.rejected(), 1);
}

#[test]
fn sre_throttle_probabilities_match_the_book() {
    let mut rng = SeededRng::new(1);
    let t = Instant::from_secs(1);
    let mut th = SreThrottle::new(2000, Duration::from_secs(120), 12);
    for _ in 0..100 {
        th.admit(t, &mut rng);
    }
    for _ in 0..50 {
        th.on_accepted(t);
    }
    assert_eq!(th.reject_probability(t), 0.0);
    let mut th = SreThrottle::new(2000, Duration::from_secs(120), 12);
    for _ in 0..100 {
        th.admit(t, &mut rng);
    }
    for _ in 0..25 {
        th.on_accepted(t);
    }
    let p = th.reject_probability(t);
    assert!((p - 50.0 / 101.0).abs() < 1e-12, "p = {p}");
    // Two minutes later the window has forgotten it all.
    assert_eq!(th.reject_probability(Instant::from_secs(122)), 0.0);
    // And rejection happens at about that rate.
    let mut th = SreThrottle::new(2000, Duration::from_secs(120), 12);
    let mut sent = 0;
    for _ in 0..10_000 {
        if th.admit(t, &mut rng) {
            sent += 1;
            if sent % 4 == 0 {
                th.on_accepted(t); // the backend accepts a quarter of what it gets
            }
        }
    }
    assert!(sent < 10_000, "the throttle shed load");
}

fn drive<A: LimitAlgorithm>(lim: &mut AdaptiveLimit<A>, rtt: Duration, rounds: u32, dropped: bool) {
    let mut now = Instant::from_secs(1);
    for _ in 0..rounds {
        let tokens: Vec<_> = std::iter::from_fn(|| lim.try_acquire(now)).collect();
        now += rtt;
        for t in tokens {
            lim.on_done(now, t, dropped);
        }
    }
}

#[test]
fn aimd_grows_additively_and_backs_off_multiplicatively() {
    let mut l = AdaptiveLimit::new(Aimd::new(10, 1, 1000, 0.9));
    drive(&mut l, Duration::from_millis(10), 1, false);
    // Samples report the in-flight count at their start (1..=10): those from 5 on had at least
    // half the limit in use, and each raised it by one.
    assert_eq!(l.limit(), 16);
    drive(&mut l, Duration::from_millis(10), 1, true);
    assert!(l.limit() < 20 && l.limit() >= 1);
    assert_eq!(l.in_flight(), 0);
}

#[test]
fn vegas_and_gradient_shrink_when_latency_rises() {
    let mut v = AdaptiveLimit::new(Vegas::new(20, 1, 1000));
    drive(&mut v, Duration::from_millis(10), 20, false);
    let grown = v.limit();
    assert!(grown > 20, "no queueing: Vegas grows ({grown})");
    drive(&mut v, Duration::from_millis(40), 20, false);
    assert!(
        v.limit() < grown,
        "queueing: Vegas shrinks ({} → {})",
        grown,
        v.limit()
    );

    let mut g = AdaptiveLimit::new(Gradient2::new(20, 1, 100));
    drive(&mut g, Duration::from_millis(10), 10, false);
    let steady = g.limit();
    assert_eq!(steady, 100, "latency steady: Gradient2 grows to its max");
    drive(&mut g, Duration::from_millis(50), 1, false);
    assert!(
        g.limit() < steady,
        "Gradient2 shrinks under latency ({} → {})",
        steady,
        g.limit()
    );
}
