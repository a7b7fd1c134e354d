//! The `failover` scenario: its invariants hold over seeds, they fail when the behaviour they
//! describe is switched off, and its removal bound follows the TTL.

use testbed_model::Duration;
use testbed_scenarios::determinism::{check_seed, SeedVerdict};
use testbed_scenarios::{find, prepare, Backend, Outcome, RunCtx};
use testbed_sim::Fidelity;

fn run(seed: u64, sets: &[&str]) -> Outcome {
    let s = find("failover").unwrap();
    let sets: Vec<String> = sets.iter().map(|x| x.to_string()).collect();
    let params = prepare(s, Backend::Sim, &sets).unwrap();
    let wall = || Duration::ZERO;
    let ctx =
        RunCtx::new(Backend::Sim, seed, params, &wall).with_replay(format!("failover seed {seed}"));
    s.run(&ctx).unwrap()
}

fn failed(o: &Outcome) -> Vec<&str> {
    o.invariants
        .iter()
        .filter(|i| !i.passed)
        .map(|i| i.name.as_str())
        .collect()
}

#[test]
fn invariants_hold_over_seeds() {
    for seed in 0..12 {
        let o = run(seed, &[]);
        assert!(o.passed(), "seed {seed}: {:?}\n{}", failed(&o), o.summary());
        let off = &o.metrics["self_preservation_off"];
        let removal = off["crash_removal_s"].as_f64().unwrap();
        assert!(removal > 0.0 && removal <= 2.11, "seed {seed}: {removal}");
        assert_eq!(off["success_after_crash"], 1.0);
        assert!(
            off["success_crash"].as_f64().unwrap() < 1.0,
            "the crash costs calls"
        );
    }
}

#[test]
fn without_protection_the_self_preservation_invariants_fail() {
    // A threshold of 0 never protects: the "on" variant behaves like "off".
    let o = run(3, &["sp_threshold=0"]);
    let f = failed(&o);
    assert!(
        f.contains(&"partitioned_instance_kept_listed_sp_on"),
        "{f:?}"
    );
    assert!(f.contains(&"crashed_instance_kept_listed_sp_on"), "{f:?}");
    assert!(f.contains(&"self_preservation_tradeoff"), "{f:?}");
    assert!(!f.iter().any(|n| n.ends_with("_sp_off")), "{f:?}");
}

#[test]
fn the_removal_bound_follows_the_ttl() {
    let o = run(5, &["ttl=1s", "keepalive=250ms", "sp_window=500ms"]);
    assert!(o.passed(), "{:?}", failed(&o));
    assert_eq!(o.metrics["removal_bound_s"], 1.11);
    let removal = o.metrics["self_preservation_off"]["crash_removal_s"]
        .as_f64()
        .unwrap();
    assert!(removal <= 1.11, "{removal}");
}

#[test]
fn runs_replay_exactly() {
    let s = find("failover").unwrap();
    let params = prepare(s, Backend::Sim, &[]).unwrap();
    for seed in [0, 7] {
        let v = check_seed(s, &params, seed, Fidelity::Stream, String::new()).unwrap();
        assert!(matches!(v, SeedVerdict::Same(_)), "seed {seed}: {v:?}");
    }
}

#[test]
fn inconsistent_timings_are_refused() {
    let s = find("failover").unwrap();
    for bad in [
        ["keepalive=1500ms"],
        ["sp_window=3s"],
        ["ttl=100ms"],
        ["liveness=3s"],
    ] {
        let sets: Vec<String> = bad.iter().map(|x| x.to_string()).collect();
        let params = prepare(s, Backend::Sim, &sets).unwrap();
        let wall = || Duration::ZERO;
        let ctx = RunCtx::new(Backend::Sim, 0, params, &wall);
        assert!(s.run(&ctx).is_err(), "{bad:?} accepted");
    }
}

#[cfg(not(feature = "etcd"))]
#[test]
fn on_the_kernel_backend_without_the_etcd_feature_says_how_to_build_it() {
    let s = find("failover").unwrap();
    let params = prepare(s, Backend::Kernel, &[]).unwrap();
    let wall = || Duration::ZERO;
    let ctx = RunCtx::new(Backend::Kernel, 0, params, &wall);
    let e = s.run(&ctx).unwrap_err();
    assert!(
        matches!(
            e,
            testbed_scenarios::RunError::NeedsFeature {
                feature: "etcd",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("--features etcd"), "{e}");
}

#[cfg(feature = "etcd")]
#[test]
fn on_the_kernel_backend_with_a_real_etcd() {
    if !testbed_testkit::check(
        testbed_scenarios::etcd_server::etcd_binary().is_some(),
        "etcd is not installed (apt-get install etcd-server)",
    ) {
        return;
    }
    let s = find("failover").unwrap();
    let params = prepare(s, Backend::Kernel, &["liveness=4s".to_string()]).unwrap();
    let wall = || Duration::ZERO;
    let ctx = RunCtx::new(Backend::Kernel, 4, params, &wall);
    let o = s.run(&ctx).unwrap();
    assert!(o.passed(), "{:?}\n{}", failed(&o), o.summary());
    let m = &o.metrics["etcd"];
    assert!(m["crash_removal_s"].as_f64().unwrap() <= 3.5, "{m}");
    assert!(m["partitioned_unlisted_s"].as_f64().unwrap() > 0.0, "{m}");
    assert_eq!(m["success_liveness"], 1.0);
}
