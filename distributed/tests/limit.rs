//! Rate limiter properties.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use testbed_distributed::limit::{
    FixedWindow, Gcra, KeyedLimiter, LeakyBucket, Quota, RateLimiter, Shaper, SlidingCounter,
    SlidingLog, TokenBucket, WhenFull,
};
use testbed_model::{Duration, Instant};

fn cfg(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0xB0CE7),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Times (ns, non-decreasing) and costs from gaps and costs.
fn timeline(gaps: &[(u64, u64)]) -> Vec<(Instant, u64)> {
    let mut t = 0;
    gaps.iter()
        .map(|&(g, c)| {
            t += g;
            (Instant::from_nanos(t), c)
        })
        .collect()
}

fn quota_strategy() -> impl Strategy<Value = Quota> {
    (1u64..50, 1u64..3000, 1u64..20)
        .prop_map(|(n, ms, b)| Quota::new(n, Duration::from_millis(ms)).with_burst(b))
}

proptest! {
    #![proptest_config(cfg(64))]

    #[test]
    fn gcra_token_bucket_and_leaky_meter_decide_identically(
        q in quota_strategy(),
        gaps in prop::collection::vec((0u64..200_000_000, 0u64..4), 1..300),
    ) {
        let (mut g, mut tb, mut lb) = (Gcra::new(q), TokenBucket::new(q), LeakyBucket::new(q));
        let atomic = testbed_distributed::limit::AtomicGcra::new(q);
        let mut fast = Gcra::new(q);
        for (now, cost) in timeline(&gaps) {
            let d = g.check(now, cost);
            prop_assert_eq!(fast.allow(now, cost), d.allowed, "allow() agrees with check()");
            prop_assert_eq!(d, tb.check(now, cost), "token bucket at {:?} cost {}", now, cost);
            prop_assert_eq!(d, lb.check(now, cost), "leaky bucket at {:?} cost {}", now, cost);
            prop_assert_eq!(d, atomic.check(now, cost));
        }
    }

    #[test]
    fn buckets_never_admit_more_than_burst_plus_rate_times_t(
        q in quota_strategy(),
        gaps in prop::collection::vec((0u64..50_000_000, 1u64..3), 1..200),
    ) {
        let mut g = Gcra::new(q);
        let t = q.emission_interval_ns();
        let admitted: Vec<(u64, u64)> = timeline(&gaps)
            .into_iter()
            .filter_map(|(now, c)| g.check(now, c).allowed.then_some((now.as_nanos(), c)))
            .collect();
        for i in 0..admitted.len() {
            let mut sum = 0;
            for j in i..admitted.len() {
                sum += admitted[j].1;
                let span = admitted[j].0 - admitted[i].0;
                prop_assert!(sum <= q.burst + span / t, "{} admitted in {} ns (burst {}, T {} ns)", sum, span, q.burst, t);
            }
        }
    }

    #[test]
    fn sliding_log_never_admits_more_than_the_limit_in_any_window(
        limit in 1u64..20,
        ms in 1u64..1000,
        gaps in prop::collection::vec((0u64..100_000_000, 1u64..3), 1..300),
    ) {
        let q = Quota::new(limit, Duration::from_millis(ms));
        let mut l = SlidingLog::new(q);
        let p = ms * 1_000_000;
        let admitted: Vec<(u64, u64)> = timeline(&gaps)
            .into_iter()
            .filter_map(|(now, c)| l.check(now, c).allowed.then_some((now.as_nanos(), c)))
            .collect();
        for i in 0..admitted.len() {
            let in_window: u64 = admitted[i..].iter().take_while(|(t, _)| *t < admitted[i].0 + p).map(|(_, c)| c).sum();
            prop_assert!(in_window <= limit, "{} admitted within {} ms of {}", in_window, ms, admitted[i].0);
        }
    }

    #[test]
    fn retry_after_is_exact(
        q in quota_strategy(),
        gaps in prop::collection::vec((0u64..20_000_000, 1u64..3), 1..100),
    ) {
        let tl = timeline(&gaps);
        exact_retry_after(Gcra::new(q), &tl)?;
        exact_retry_after(TokenBucket::new(q), &tl)?;
        exact_retry_after(LeakyBucket::new(q), &tl)?;
        exact_retry_after(SlidingLog::new(q), &tl)?;
        exact_retry_after(FixedWindow::new(q), &tl)?;
    }

    #[test]
    fn keyed_store_never_exceeds_its_cap(
        cap in 1usize..64,
        fail_open: bool,
        stream in prop::collection::vec((0u64..5_000_000, 0u32..10_000), 1..2000),
    ) {
        let when = if fail_open { WhenFull::FailOpen } else { WhenFull::FailClosed };
        let mut k = KeyedLimiter::new(cap, when, Quota::per_second(5).with_burst(2), Gcra::new);
        let mut t = 0;
        for (gap, key) in stream {
            t += gap;
            k.check(Instant::from_nanos(t), &key, 1);
            prop_assert!(k.len() <= cap);
        }
        let s = k.stats();
        prop_assert!(s.keys <= cap);
        if fail_open { prop_assert_eq!(s.full_denied, 0) } else { prop_assert_eq!(s.full_admitted, 0) }
    }

    #[test]
    fn a_hammered_key_keeps_its_limit_while_others_churn(
        cap in 2usize..16,
        stream in prop::collection::vec((0u64..2_000_000, 0u32..1000), 1..3000),
    ) {
        let q = Quota::per_second(10).with_burst(3);
        let mut k = KeyedLimiter::new(cap, WhenFull::FailClosed, q, Gcra::new);
        let mut t = 0u64;
        let mut hot = Vec::new();
        for (i, (gap, key)) in stream.into_iter().enumerate() {
            t += gap;
            // Every other request is the hot key 0; the rest are fresh keys.
            let key = if i % 2 == 0 { 0 } else { 1 + key };
            if k.check(Instant::from_nanos(t), &key, 1).allowed && key == 0 {
                hot.push(t);
            }
        }
        let interval = q.emission_interval_ns();
        for i in 0..hot.len() {
            for j in i..hot.len() {
                prop_assert!((j - i + 1) as u64 <= q.burst + (hot[j] - hot[i]) / interval);
            }
        }
    }
}

/// A denied request would pass exactly at `now + retry_after`, and not a nanosecond before.
fn exact_retry_after<L: RateLimiter + Clone>(
    mut lim: L,
    tl: &[(Instant, u64)],
) -> Result<(), TestCaseError> {
    for &(now, cost) in tl {
        let before = lim.clone();
        let d = lim.check(now, cost);
        if d.allowed || d.retry_after == Duration::MAX {
            continue;
        }
        let at = now + d.retry_after;
        prop_assert!(
            before.clone().check(at, cost).allowed,
            "denied at now + retry_after ({:?})",
            d.retry_after
        );
        prop_assert!(
            !before
                .clone()
                .check(at - Duration::from_nanos(1), cost)
                .allowed,
            "retry_after {:?} is not the earliest",
            d.retry_after
        );
    }
    Ok(())
}

#[test]
fn ten_per_second_burst_five_polled_every_millisecond_for_ten_seconds_admits_105() {
    let q = Quota::per_second(10).with_burst(5);
    let poll = |lim: &mut dyn RateLimiter| {
        (0..=10_000u64)
            .filter(|ms| lim.check(Instant::from_millis(*ms), 1).allowed)
            .count()
    };
    assert_eq!(poll(&mut Gcra::new(q)), 105);
    assert_eq!(poll(&mut TokenBucket::new(q)), 105);
    assert_eq!(poll(&mut LeakyBucket::new(q)), 105);
}

#[test]
fn fixed_window_admits_twice_its_limit_across_a_boundary_and_sliding_windows_do_not() {
    let q = Quota::per_second(10);
    let burst_around_boundary = |lim: &mut dyn RateLimiter| {
        let before = (0..10)
            .filter(|i| lim.check(Instant::from_micros(999_000 + i), 1).allowed)
            .count();
        let after = (0..10)
            .filter(|i| lim.check(Instant::from_micros(1_000_000 + i), 1).allowed)
            .count();
        before + after
    };
    assert_eq!(
        burst_around_boundary(&mut FixedWindow::new(q)),
        20,
        "2L within 1 ms"
    );
    assert_eq!(burst_around_boundary(&mut SlidingLog::new(q)), 10);
    assert_eq!(burst_around_boundary(&mut SlidingCounter::new(q)), 10);
}

#[test]
fn sliding_counter_weights_the_previous_window() {
    let q = Quota::per_second(10);
    let mut l = SlidingCounter::new(q);
    for _ in 0..10 {
        assert!(l.check(Instant::from_millis(500), 1).allowed);
    }
    // At 1.25 s, 75% of the previous window (10) still counts: 7.5, rounded up to 8, so 2 fit.
    let admitted = (0..10)
        .filter(|_| l.check(Instant::from_millis(1250), 1).allowed)
        .count();
    assert_eq!(admitted, 2);
}

#[test]
fn decisions_carry_header_values() {
    let mut g = Gcra::new(Quota::per_second(10).with_burst(5));
    let d = g.check(Instant::from_secs(1), 2);
    assert_eq!((d.allowed, d.limit, d.remaining), (true, 5, 3));
    assert_eq!(d.reset_after, Duration::from_millis(200));
    assert_eq!(
        d.headers(),
        [
            ("RateLimit-Limit", 5),
            ("RateLimit-Remaining", 3),
            ("RateLimit-Reset", 1)
        ]
    );
    let d = g.check(Instant::from_secs(1), 6);
    assert_eq!(
        (d.allowed, d.retry_after),
        (false, Duration::MAX),
        "more than the burst can never pass"
    );
    let peek = g.check(Instant::from_secs(1), 0);
    assert_eq!(
        (peek.allowed, peek.remaining),
        (true, 3),
        "cost 0 is a peek"
    );
}

#[test]
fn quotas_change_at_runtime_keeping_what_was_spent() {
    let mut g = Gcra::new(Quota::per_second(10).with_burst(10));
    for _ in 0..10 {
        assert!(g.check(Instant::ZERO, 1).allowed);
    }
    assert!(!g.check(Instant::ZERO, 1).allowed);
    g.set_quota(Instant::ZERO, Quota::per_second(100).with_burst(10));
    // 1 s of spent credit at 10/s is clamped to the new capacity (0.1 s at 100/s).
    assert!(g.check(Instant::from_millis(10), 1).allowed);
}

#[test]
fn keyed_limits_are_per_key_with_overrides_and_fail_closed_when_full() {
    let q = Quota::per_second(1).with_burst(1);
    let mut k = KeyedLimiter::new(2, WhenFull::FailClosed, q, Gcra::new);
    let t0 = Instant::ZERO;
    assert!(k.check(t0, &"a", 1).allowed);
    assert!(!k.check(t0, &"a", 1).allowed);
    assert!(k.check(t0, &"b", 1).allowed, "keys are independent");
    let d = k.check(t0, &"c", 1);
    assert!(!d.allowed, "store full of busy keys: fail closed");
    assert_eq!(
        d.retry_after,
        Duration::from_secs(1),
        "until the oldest key is idle"
    );
    // After a second both are idle: "c" evicts the oldest.
    assert!(k.check(Instant::from_secs(1), &"c", 1).allowed);
    assert_eq!(k.stats().evictions, 1);
    k.set_key_quota(Instant::from_secs(1), &"vip", Quota::per_second(100))
        .unwrap();
    assert_eq!(k.sweep(Instant::from_secs(5), 10), 2);
    let admitted = (0..50)
        .filter(|_| k.check(Instant::from_secs(5), &"vip", 1).allowed)
        .count();
    assert_eq!(admitted, 50);
    let mut open = KeyedLimiter::new(1, WhenFull::FailOpen, q, Gcra::new);
    assert!(open.check(t0, &1, 1).allowed);
    assert!(
        open.check(t0, &2, 1).allowed,
        "fail open admits untracked keys"
    );
    assert_eq!(open.stats().full_admitted, 1);
    assert!(open.stats().bytes_per_key > 0);
}

#[test]
fn shaper_spaces_requests_and_bounds_its_queue() {
    let mut s = Shaper::new(Quota::per_second(10), Duration::from_millis(250));
    let waits: Vec<_> = (0..4).map(|_| s.shape(Instant::ZERO, 1)).collect();
    assert_eq!(
        waits[..3],
        [
            Ok(Duration::ZERO),
            Ok(Duration::from_millis(100)),
            Ok(Duration::from_millis(200))
        ]
    );
    assert!(waits[3].is_err(), "a 300 ms wait exceeds the 250 ms queue");
    assert_eq!(s.backlog(Instant::ZERO), Duration::from_millis(300));
}
