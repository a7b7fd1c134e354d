//! Per-host clock skew: offset and drift, seen through `Runtime::now` and `sleep`.

mod common;

use common::*;
use proptest::prelude::*;
use testbed_model::{Duration, Instant, Runtime};
use testbed_sim::LinkConfig;

proptest! {
    #![proptest_config(cases(32))]

    #[test]
    fn skewed_clocks_differ_by_the_configured_offset(offset_ms in -5_000i64..5_000, wait_ms in 0u64..10_000) {
        let mut sim = sim(1, LinkConfig::default());
        let ok = std::rc::Rc::new(std::cell::Cell::new(false));
        let ok2 = ok.clone();
        sim.client("a", move |h| async move {
            let b = h.other("a").unwrap();
            h.sleep(Duration::from_secs(10)).await; // so a negative offset stays above the epoch
            h.control().clock_skew("a", offset_ms * 1_000_000, 0);
            h.sleep(Duration::from_millis(wait_ms)).await;
            let local = b.now().as_nanos() as i64;
            let global = b.global_now().as_nanos() as i64;
            assert_eq!(local - global, offset_ms * 1_000_000);
            ok2.set(true);
            Ok(())
        });
        sim.run().unwrap();
        prop_assert!(ok.get());
    }
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
