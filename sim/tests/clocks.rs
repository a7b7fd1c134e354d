//! Per-host clocks: the monotonic clock (`Runtime::now`, sleeps) drifts but never steps; the
//! wall clock (`Runtime::wall_clock`) is what `clock_skew`'s offset steps.

mod common;

use common::*;
use proptest::prelude::*;
use std::cell::Cell;
use std::rc::Rc;
use testbed_model::runtime::WALL_EPOCH_SECS;
use testbed_model::{Duration, Instant, Runtime};
use testbed_sim::{LinkConfig, MAX_OFFSET_NS};

const EPOCH_NS: i64 = WALL_EPOCH_SECS as i64 * 1_000_000_000;

proptest! {
    #![proptest_config(cases(32))]

    #[test]
    fn an_offset_steps_the_wall_clock_and_not_the_monotonic_one(offset_ms in -5_000i64..5_000, wait_ms in 0u64..10_000) {
        let mut sim = sim(1, LinkConfig::default());
        let ok = Rc::new(Cell::new(false));
        let ok2 = ok.clone();
        sim.client("a", move |h| async move {
            h.sleep(Duration::from_secs(10)).await;
            let before = h.now();
            h.control().clock_skew("a", offset_ms * 1_000_000, 0);
            assert_eq!(h.now(), before, "the monotonic clock does not step");
            h.sleep(Duration::from_millis(wait_ms)).await;
            let global = h.global_now().as_nanos() as i64;
            assert_eq!(h.now().as_nanos() as i64, global);
            let wall = h.wall_nanos() as i64;
            assert_eq!(wall - EPOCH_NS - global, offset_ms * 1_000_000);
            let sys = h.wall_clock().duration_since(std::time::UNIX_EPOCH).unwrap();
            assert_eq!(sys.as_nanos() as i64, wall);
            ok2.set(true);
            Ok(())
        });
        sim.run().unwrap();
        prop_assert!(ok.get());
    }
}

/// A sleeper on host `a` asks for `sleep` while, `step_at` later, a fault steps `a`'s wall
/// clock by `offset_ns`. Returns (monotonic, global) time slept.
fn sleep_across_a_step(offset_ns: i64, step_at: Duration, sleep: Duration) -> (Duration, Duration) {
    let mut sim = sim(3, LinkConfig::default());
    let out = Rc::new(Cell::new((Duration::ZERO, Duration::ZERO)));
    let out2 = out.clone();
    sim.client("a", move |h| async move {
        let (l0, g0) = (h.now(), h.global_now());
        h.sleep(sleep).await;
        out2.set((h.now() - l0, h.global_now() - g0));
        Ok(())
    });
    sim.at(Instant::ZERO + step_at, move |c| {
        c.clock_skew("a", offset_ns, 0)
    });
    sim.run().unwrap();
    out.get()
}

#[test]
fn a_forward_wall_step_does_not_overrun_a_pending_sleep() {
    let (mono, global) = sleep_across_a_step(
        30_000_000_000,
        Duration::from_millis(100),
        Duration::from_secs(1),
    );
    assert_eq!(mono, Duration::from_secs(1));
    assert_eq!(global, Duration::from_secs(1), "woke late by the step");
}

#[test]
fn a_backward_wall_step_does_not_wake_a_sleep_early() {
    let (mono, global) = sleep_across_a_step(
        -30_000_000_000,
        Duration::from_millis(100),
        Duration::from_secs(60),
    );
    assert_eq!(mono, Duration::from_secs(60));
    assert_eq!(global, Duration::from_secs(60), "woke early by the step");
}

#[test]
fn the_largest_negative_offset_does_not_freeze_either_clock() {
    let mut sim = sim(4, LinkConfig::default());
    sim.client("a", |h| async move {
        h.control().clock_skew("a", -MAX_OFFSET_NS, 0);
        let (m0, w0) = (h.now(), h.wall_nanos());
        h.sleep(Duration::from_secs(1)).await;
        assert_eq!(h.now() - m0, Duration::from_secs(1));
        assert_eq!(h.wall_nanos() - w0, 1_000_000_000);
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_drift_change_re_arms_a_pending_sleep_and_keeps_accumulated_time() {
    let mut sim = sim(5, LinkConfig::default());
    sim.client("a", |h| async move {
        h.control().clock_skew("a", 0, 100_000); // 1.1× real time
        let g0 = h.global_now();
        let sleeper = h.clone();
        let t = h.spawn(async move {
            sleeper.sleep_until(Instant::from_secs(22)).await;
            (sleeper.now(), sleeper.global_now())
        });
        // 10 global seconds read 11 monotonic seconds; then the clock slows to 0.9×.
        h.sleep_until(Instant::from_secs(11)).await;
        assert_eq!(h.global_now() - g0, Duration::from_secs(10));
        let before = h.now();
        h.control().clock_skew("a", 0, -100_000);
        assert_eq!(h.now(), before, "a drift change does not step the clock");
        let (mono, global) = t.await.unwrap();
        assert!(
            mono >= Instant::from_secs(22)
                && mono - Instant::from_secs(22) < Duration::from_micros(1)
        );
        // The remaining 11 monotonic seconds take 11 / 0.9 global seconds, not 11 / 1.1.
        let rest = (global - Instant::from_secs(10)).as_nanos() as i64;
        assert!(
            (rest - 12_222_222_223).abs() <= 2,
            "re-armed at {rest} ns after the change"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn drift_scales_elapsed_time_and_sleep_wakes_at_local_deadlines() {
    let mut sim = sim(2, LinkConfig::default());
    sim.client("fast", |h| async move {
        h.control().clock_skew("fast", 0, 1_000); // +1000 ppm: gains 1 ms per second
        let (l0, g0) = (h.now(), h.global_now());
        h.sleep(Duration::from_secs(10)).await;
        let (l1, g1) = (h.now(), h.global_now());
        assert!(
            l1 - l0 >= Duration::from_secs(10),
            "slept less than asked on the local clock"
        );
        assert!(l1 - l0 < Duration::from_secs(10) + Duration::from_micros(1));
        // 10 local seconds pass in 10 / 1.001 global seconds.
        let g = (g1 - g0).as_nanos() as i64;
        assert!((g - 9_990_009_990).abs() <= 2, "global elapsed {g} ns");
        let deadline = Instant::from_secs(20);
        h.sleep_until(deadline).await;
        assert!(h.now() >= deadline && h.now() - deadline < Duration::from_micros(1));
        Ok(())
    });
    sim.run().unwrap();
}
