//! Circuit breaker properties.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use testbed_distributed::breaker::*;
use testbed_model::{Duration, Instant};

fn cfg(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0xB4EA),
        failure_persistence: None,
        ..Config::default()
    }
}

fn call(b: &mut Breaker, now: Instant, outcome: Outcome) -> bool {
    match b.try_acquire(now) {
        Ok(p) => {
            b.on_result(now, p, outcome, Duration::from_millis(1));
            true
        }
        Err(_) => false,
    }
}

fn base(window: u32, min: u32, rate: u32) -> BreakerConfig {
    BreakerConfig {
        window: Window::Count(window),
        minimum_calls: min,
        failure_rate_pct: rate,
        wait_in_open: Duration::from_secs(5),
        half_open_probes: 3,
        probe_timeout: Duration::from_secs(2),
        ..BreakerConfig::default()
    }
}

proptest! {
    #![proptest_config(cfg(128))]

    #[test]
    fn never_trips_before_the_minimum_number_of_calls(min in 1u32..50, window in 50u32..100) {
        let mut b = Breaker::new(base(window, min, 1));
        for i in 0..min - 1 {
            prop_assert!(call(&mut b, Instant::from_millis(i as u64), Outcome::Failure));
            prop_assert_eq!(b.state(Instant::from_millis(i as u64)), State::Closed);
        }
        call(&mut b, Instant::from_secs(1), Outcome::Failure);
        prop_assert_eq!(b.state(Instant::from_secs(1)), State::Open, "trips at the minimum");
    }

    #[test]
    fn trips_exactly_when_the_failure_rate_reaches_the_threshold(rate in 1u32..100, outcomes in prop::collection::vec(any::<bool>(), 20..200)) {
        let window = 20u32;
        let mut b = Breaker::new(base(window, window, rate));
        let mut last = std::collections::VecDeque::new();
        for (i, fail) in outcomes.into_iter().enumerate() {
            let now = Instant::from_millis(i as u64);
            let outcome = if fail { Outcome::Failure } else { Outcome::Success };
            prop_assert!(call(&mut b, now, outcome));
            last.push_back(fail);
            if last.len() > window as usize { last.pop_front(); }
            let failures = last.iter().filter(|f| **f).count() as u64;
            let should = last.len() == window as usize && failures * 100 >= rate as u64 * window as u64;
            prop_assert_eq!(b.state(now) == State::Open, should, "after {} calls, {} failures in window", i + 1, failures);
            if should { break; }
        }
    }

    #[test]
    fn admits_exactly_n_half_open_probes(n in 1u32..10, extra in 1u32..10) {
        let mut c = base(4, 4, 50);
        c.half_open_probes = n;
        let mut b = Breaker::new(c);
        for i in 0..4 { call(&mut b, Instant::from_millis(i), Outcome::Failure); }
        let t = Instant::from_secs(10);
        let permits: Vec<_> = (0..n + extra).filter_map(|_| b.try_acquire(t).ok()).collect();
        prop_assert_eq!(permits.len() as u32, n);
        prop_assert_eq!(b.state(t), State::HalfOpen);
        for p in permits { b.on_result(t, p, Outcome::Success, Duration::from_millis(1)); }
        prop_assert_eq!(b.state(t), State::Closed);
    }
}

#[test]
fn the_seeds_consecutive_failure_breaker() {
    let mut b = Breaker::new(BreakerConfig::consecutive_failures(
        3,
        Duration::from_secs(10),
    ));
    let t = |s| Instant::from_secs(s);
    call(&mut b, t(0), Outcome::Failure);
    call(&mut b, t(0), Outcome::Failure);
    call(&mut b, t(0), Outcome::Success); // the run is broken
    call(&mut b, t(0), Outcome::Failure);
    call(&mut b, t(0), Outcome::Failure);
    assert_eq!(b.state(t(0)), State::Closed);
    call(&mut b, t(1), Outcome::Failure);
    assert_eq!(b.state(t(1)), State::Open);
    let r = b.try_acquire(t(2)).unwrap_err();
    assert_eq!(r.retry_at, Some(t(11)));
    assert_eq!(b.next_ready(t(2)), Some(t(11)));
    // One probe after the wait; a failed probe reopens.
    let p = b.try_acquire(t(11)).unwrap();
    assert!(b.try_acquire(t(11)).is_err(), "only one probe");
    b.on_result(t(11), p, Outcome::Failure, Duration::ZERO);
    assert_eq!(b.state(t(11)), State::Open);
    let p = b.try_acquire(t(21)).unwrap();
    b.on_result(t(21), p, Outcome::Success, Duration::ZERO);
    assert_eq!(b.state(t(21)), State::Closed);
    let events: Vec<_> = std::iter::from_fn(|| b.poll_event())
        .map(|e| (e.from, e.to))
        .collect();
    use State::*;
    assert_eq!(
        events,
        vec![
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed)
        ]
    );
}

#[test]
fn an_unreported_probe_times_out_instead_of_sticking_in_half_open() {
    let mut b = Breaker::new(base(2, 2, 50));
    call(&mut b, Instant::ZERO, Outcome::Failure);
    call(&mut b, Instant::ZERO, Outcome::Failure);
    let t = Instant::from_secs(5);
    let lost: Vec<_> = (0..3).map(|_| b.try_acquire(t).unwrap()).collect(); // never reported
    assert_eq!(b.next_ready(t), Some(Instant::from_secs(7)));
    assert_eq!(
        b.state(Instant::from_secs(7)),
        State::Open,
        "probe timeout counts as failure"
    );
    assert!(
        b.try_acquire(Instant::from_secs(12)).is_ok(),
        "and probing resumes after the next wait"
    );
    drop(lost);
}

#[test]
fn slow_calls_trip_and_time_windows_forget() {
    let c = BreakerConfig {
        window: Window::Time {
            size: Duration::from_secs(10),
            buckets: 10,
        },
        minimum_calls: 5,
        failure_rate_pct: 50,
        slow_call_rate_pct: 60,
        slow_call: Duration::from_secs(2),
        ..BreakerConfig::default()
    };
    let mut b = Breaker::new(c);
    for i in 0..4 {
        let p = b.try_acquire(Instant::from_secs(i)).unwrap();
        b.on_result(
            Instant::from_secs(i),
            p,
            Outcome::Failure,
            Duration::from_millis(1),
        );
    }
    // 11 s later those four failures have left the window.
    let now = Instant::from_secs(15);
    assert_eq!(b.window_totals(now), (0, 0, 0));
    for _ in 0..5 {
        let p = b.try_acquire(now).unwrap();
        b.on_result(now, p, Outcome::Success, Duration::from_secs(3));
    }
    assert_eq!(b.state(now), State::Open, "100% slow calls ≥ 60%");
}

#[test]
fn forced_open_and_disabled() {
    let mut b = Breaker::new(base(2, 2, 50));
    b.force_open(Instant::ZERO);
    assert_eq!(
        b.try_acquire(Instant::from_secs(1000)).unwrap_err().state,
        State::ForcedOpen
    );
    b.disable(Instant::ZERO);
    for _ in 0..10 {
        assert!(call(&mut b, Instant::ZERO, Outcome::Failure));
    }
    assert_eq!(b.state(Instant::ZERO), State::Disabled);
    b.reset(Instant::ZERO);
    assert_eq!(b.state(Instant::ZERO), State::Closed);
}
