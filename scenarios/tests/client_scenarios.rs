//! The four client-stack scenarios' claims on a few seeds (the full 0..200 sweep is
//! `scripts/e2e`; the client stack's driver itself is tested in distributed/tests).

use testbed_model::Duration;
use testbed_scenarios::{find, prepare, Backend, RunCtx};

fn run(name: &str, seed: u64, sets: &[&str]) -> serde_json::Value {
    let s = find(name).expect("in the catalogue");
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let params = prepare(s, Backend::Sim, &sets).expect("params");
    let wall = || Duration::ZERO;
    let ctx = RunCtx::new(Backend::Sim, seed, params, &wall);
    let o = s.run(&ctx).expect("runs");
    assert!(o.passed(), "{name} seed {seed}: {}", o.summary());
    o.to_json()
}

#[test]
fn avalanche_protection_keeps_the_core_endpoint_up() {
    for seed in 0..2 {
        let m = &run("avalanche", seed, &[])["metrics"];
        let (u, p) = (&m["unprotected"], &m["protected"]);
        assert!(p["core_success_fault"].as_f64().unwrap() >= 0.95);
        assert!(u["core_success_fault"].as_f64().unwrap() < 0.5);
        assert_eq!(
            u["web_workers_peak"], u["workers"],
            "unprotected web saturates"
        );
        let tl = p["client_order_inventory"]["breaker_timeline"]
            .as_array()
            .unwrap();
        assert_eq!(tl[0][2], "Open");
        assert_eq!(
            tl.last().unwrap()[2],
            "Closed",
            "closed again after the heal"
        );
    }
}

#[test]
fn retry_storm_budget_caps_amplification() {
    let m = &run("retry-storm", 3, &[])["metrics"];
    let (n, b) = (
        m["amplification"]["naive"].as_f64().unwrap(),
        m["amplification"]["budget"].as_f64().unwrap(),
    );
    assert!(n > 3.0 && b <= 1.2, "naive {n}, budget {b}");
    assert!(m["budget"]["client"]["retry_denied"].as_u64().unwrap() > 0);
}

#[test]
fn rebalance_moves_few_keys_with_consistent_hashing() {
    let m = &run("rebalance", 5, &[])["metrics"];
    let at = |scheme: &str, n: u64| {
        m["keys_moved_add"][scheme]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == n)
            .unwrap()[1]
            .as_f64()
            .unwrap()
    };
    for n in 4..=10 {
        let ideal = 1.0 / (n as f64 + 1.0);
        assert!((at("ring", n) - ideal).abs() < 0.5 * ideal);
        assert!(at("modulo", n) > 0.7);
    }
    let claims = m["claims"].as_array().unwrap();
    assert!(claims.iter().all(|c| c["verdict"] == "holds"), "{claims:?}");
}

#[test]
fn degrade_walks_the_seed_levels_and_never_touches_the_core() {
    let m = &run("degrade", 9, &[])["metrics"];
    let tl: Vec<&str> = m["level_timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[1].as_str().unwrap())
        .collect();
    assert_eq!(tl.first(), Some(&"degraded"));
    assert!(tl.contains(&"critical"));
    assert_eq!(tl.last(), Some(&"normal"));
    assert_eq!(m["pages_failed"], 0);
}
