//! `avalanche` on `--backend kernel`: real loopback sockets and a real etcd as service
//! discovery (feature `etcd`; skips with the reason when the etcd binary is missing), and
//! without the feature a `NeedsFeature` error that says how to build it.

use testbed_model::Duration;
use testbed_scenarios::{find, prepare, Backend, Outcome, RunCtx};

#[allow(dead_code)]
fn run(seed: u64) -> Result<Outcome, testbed_scenarios::RunError> {
    let s = find("avalanche").unwrap();
    let params = prepare(s, Backend::Kernel, &[]).unwrap();
    let wall = || Duration::ZERO;
    let ctx = RunCtx::new(Backend::Kernel, seed, params, &wall);
    s.run(&ctx)
}

#[cfg(not(feature = "etcd"))]
#[test]
fn on_the_kernel_backend_without_the_etcd_feature_says_how_to_build_it() {
    let e = run(0).unwrap_err();
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
    let o = run(1).unwrap();
    let failed: Vec<_> = o.invariants.iter().filter(|i| !i.passed).collect();
    assert!(o.passed(), "{failed:?}\n{}", o.summary());
    let (u, p) = (&o.metrics["unprotected"], &o.metrics["protected"]);
    let f = |m: &serde_json::Value, k: &str| m[k].as_f64().unwrap();
    assert!(f(p, "core_success_fault") >= 0.95, "{p}");
    assert!(f(p, "stock_from_inventory_fault") <= 0.5, "{p}");
    assert!(f(u, "core_success_fault") < 0.5, "{u}");
    // The callers resolved their dependency through etcd: what they saw is what registered.
    for v in ["unprotected", "protected"] {
        let d = &o.metrics["discovery_etcd"][v];
        assert_eq!(d["order"]["web_sees"][0], d["order"]["registered"], "{d}");
        assert_eq!(
            d["inventory"]["order_sees"][0], d["inventory"]["registered"],
            "{d}"
        );
    }
    assert_eq!(o.metrics["claims"][0]["backend"], "kernel");
}
