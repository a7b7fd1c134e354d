//! The `kv` scenario: the correct replication passes the linearizability check under swarm
//! faults, and the planted stale read is caught with a readable counterexample and its SVG.

use testbed_model::Duration;
use testbed_scenarios::params::Params;
use testbed_scenarios::scenario::{Backend, RunCtx};
use testbed_scenarios::{find, Outcome};

fn run(seed: u64, sets: &[&str]) -> Outcome {
    let s = find("kv").expect("kv is in the catalogue");
    let sets: Vec<String> = sets.iter().map(|x| x.to_string()).collect();
    let params = Params::parse(s.params(), &sets).expect("parameters");
    let wall = || Duration::ZERO;
    s.run(&RunCtx::new(Backend::Sim, seed, params, &wall))
        .expect("kv runs on the simulator")
}

fn invariant<'a>(o: &'a Outcome, name: &str) -> &'a testbed_scenarios::Invariant {
    o.invariants
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no invariant {name}"))
}

#[test]
fn the_plan_fails_over_twice_and_stays_linearizable() {
    let o = run(0, &[]);
    assert!(o.passed(), "{}", o.summary());
    // The partitioned primary is replaced, then the crashed new one: two promotions.
    assert_eq!(o.metrics["promotions"], 2, "{}", o.summary());
    assert!(
        o.metrics["ops_ok"].as_u64().unwrap() > 100,
        "{}",
        o.summary()
    );
}

#[test]
fn the_planted_stale_read_is_caught_and_the_correct_version_passes_the_same_seeds() {
    let mut caught = Vec::new();
    for seed in 0..40 {
        let good = run(seed, &["faults=swarm"]);
        assert!(good.passed(), "seed {seed}: {}", good.summary());
        let bad = run(seed, &["faults=swarm", "bug=stale-read"]);
        let lin = invariant(&bad, "linearizable");
        if !lin.passed {
            assert!(
                lin.detail.contains("cannot place op") && lin.detail.contains("get("),
                "seed {seed}: {}",
                lin.detail
            );
            let svg = bad.metrics["counterexample_svg"].as_str().expect("svg");
            assert!(svg.starts_with("<svg") && svg.contains("cannot be placed"));
            caught.push(seed);
        }
    }
    assert!(!caught.is_empty(), "the stale read passed seeds 0..40");
}
