//! The example from docs/distributed.md ("Resilience and balancing policies"), kept compiling.

#[test]
fn readme_example() {
    use testbed_distributed::{balance::*, breaker::*, limit::*};
    use testbed_model::{Duration, Instant, SeededRng};

    let t = Instant::from_millis; // a simulated clock: plain values

    // 10 requests/s with bursts of 5: the sixth request at t=0 is refused for 100 ms.
    let mut limit = Gcra::new(Quota::per_second(10).with_burst(5));
    assert!((0..5).all(|_| limit.check(t(0), 1).allowed));
    assert_eq!(limit.check(t(0), 1).retry_after, Duration::from_millis(100));

    // Open after 3 consecutive failures; one probe after 10 s.
    let mut breaker = Breaker::new(BreakerConfig::consecutive_failures(
        3,
        Duration::from_secs(10),
    ));
    for _ in 0..3 {
        let p = breaker.try_acquire(t(0)).unwrap();
        breaker.on_result(t(0), p, Outcome::Failure, Duration::from_millis(5));
    }
    assert_eq!(breaker.state(t(1)), State::Open);
    assert_eq!(breaker.state(t(10_000)), State::HalfOpen);

    // Smooth weighted round robin: weights 5, 1, 1 give a a b a c a a.
    let mut lb = SmoothWeighted::new();
    for (node, w) in [(0, 5), (1, 1), (2, 1)] {
        lb.add(node, w);
    }
    let mut rng = SeededRng::new(7);
    let picks: Vec<_> = (0..7)
        .map(|_| {
            lb.pick(&mut Pick {
                now: t(0),
                key: 0,
                rng: &mut rng,
            })
            .unwrap()
        })
        .collect();
    assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0]);
}
