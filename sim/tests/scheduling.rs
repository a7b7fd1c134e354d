//! Scheduling perturbation and buggify points: tasks ready at the same instant are polled in
//! an order drawn from the seed (so a race FIFO never shows comes out within a few seeds),
//! `perturb_schedule: false` restores FIFO, and buggify points fire only as configured.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use testbed_model::{Duration, Runtime};
use testbed_sim::{Sim, SimConfig};

/// A start-up race: `init` and `user` both wake 10 ms in (timers armed in that order); `user`
/// reads the setting `init` writes when it wakes. In wake order `init` always goes first.
/// Returns whether `user` saw the setting missing (the race) and the order they ran in.
fn startup_race(seed: u64, perturb: bool) -> (bool, Vec<&'static str>) {
    let mut sim = Sim::new(SimConfig {
        seed,
        perturb_schedule: perturb,
        ..Default::default()
    });
    let lost = Rc::new(Cell::new(false));
    let order = Rc::new(RefCell::new(Vec::new()));
    let (lost2, order2) = (lost.clone(), order.clone());
    sim.client("c", move |h| async move {
        let setting: Rc<Cell<Option<u32>>> = Rc::default();
        let (h1, s1, o1) = (h.clone(), setting.clone(), order2.clone());
        let init = h.spawn(async move {
            h1.sleep(Duration::from_millis(10)).await;
            o1.borrow_mut().push("init");
            s1.set(Some(42));
        });
        let (h2, s2, o2) = (h.clone(), setting.clone(), order2.clone());
        let user = h.spawn(async move {
            // Yield once so `init` arms its timer first whatever the order of the first polls.
            testbed_model::runtime::yield_now().await;
            h2.sleep(Duration::from_millis(10)).await;
            o2.borrow_mut().push("user");
            if s2.get().is_none() {
                lost2.set(true);
            }
        });
        init.await?;
        user.await?;
        Ok(())
    });
    sim.run().unwrap();
    let order = order.borrow().clone();
    (lost.get(), order)
}

#[test]
fn fifo_never_exposes_the_startup_race() {
    for seed in 0..200 {
        let (lost, order) = startup_race(seed, false);
        assert!(!lost, "seed {seed}: FIFO polled {order:?}");
        assert_eq!(order, ["init", "user"], "seed {seed}");
    }
}

#[test]
fn perturbation_exposes_the_startup_race_within_a_few_seeds() {
    let exposed: Vec<u64> = (0..32).filter(|&s| startup_race(s, true).0).collect();
    assert!(!exposed.is_empty(), "no seed in 0..32 polled `user` first");
    assert!(
        exposed.len() < 32,
        "every seed polled `user` first: not a draw"
    );
    // The same seed always gives the same order.
    for &s in &exposed {
        assert_eq!(
            startup_race(s, true),
            (true, vec!["user", "init"]),
            "seed {s}"
        );
    }
}

#[test]
fn perturbation_is_on_by_default() {
    assert!(SimConfig::default().perturb_schedule);
}

/// Runs a client that reaches buggify point `p` 1,000 times; returns how often it fired.
fn reach(seed: u64, cfg: SimConfig) -> (u64, Vec<testbed_sim::BuggifyPoint>) {
    let mut sim = Sim::new(SimConfig { seed, ..cfg });
    let fired = Rc::new(Cell::new(0u64));
    let f2 = fired.clone();
    sim.client("c", move |h| async move {
        for _ in 0..1000 {
            if h.buggify("test.point") {
                f2.set(f2.get() + 1);
            }
        }
        Ok(())
    });
    sim.run().unwrap();
    (fired.get(), sim.buggify_points())
}

#[test]
fn buggify_points_fire_in_some_runs_reproducibly_and_never_when_off() {
    let runs: Vec<u64> = (0..40).map(|s| reach(s, SimConfig::default()).0).collect();
    let enabled = runs.iter().filter(|f| **f > 0).count();
    assert!(
        (2..30).contains(&enabled),
        "point enabled in {enabled} of 40 runs (p = 0.25)"
    );
    for (seed, &fired) in runs.iter().enumerate() {
        // When enabled it fires about 5% of the time.
        assert!(
            fired == 0 || (15..100).contains(&fired),
            "seed {seed}: fired {fired}"
        );
        let (again, points) = reach(seed as u64, SimConfig::default());
        assert_eq!(again, fired, "seed {seed}: not reproducible");
        assert_eq!(points.len(), 1);
        assert_eq!((points[0].reached, points[0].fired), (1000, fired));
    }
    let off = SimConfig {
        buggify: false,
        ..Default::default()
    };
    for seed in 0..40 {
        assert_eq!(
            reach(seed, off.clone()).0,
            0,
            "seed {seed}: fired while off"
        );
    }
}
