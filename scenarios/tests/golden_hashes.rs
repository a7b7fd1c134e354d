//! Golden trace hashes: seeds 0..4 of every catalogue scenario on the simulator, pinned to
//! `scenarios/golden/<scenario>.txt`. A change in any hash fails, so drift between processes
//! or machines (a per-process hasher seed, a real-clock read) is caught, not only drift between
//! two runs in one process. After an intended change in simulated behaviour, rewrite them:
//!
//!     TESTBED_UPDATE_HASHES=1 cargo test -p testbed-scenarios --test golden_hashes

use testbed_model::Duration;
use testbed_scenarios::catalogue;
use testbed_scenarios::params::Params;
use testbed_scenarios::scenario::{Backend, RunCtx};
use testbed_sim::assert_golden_hashes;

const SEEDS: std::ops::Range<u64> = 0..4;

#[test]
fn catalogue_trace_hashes_match_the_golden_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let wall = || Duration::ZERO;
    let scenarios: Vec<_> = catalogue()
        .into_iter()
        .filter(|s| s.backends().contains(&Backend::Sim))
        .collect();
    assert!(
        scenarios.len() >= 10,
        "the catalogue shrank to {}",
        scenarios.len()
    );
    // Two threads (the scenarios are Sync); each scenario's file is written by one thread only.
    let (a, b) = scenarios.split_at(scenarios.len() / 2);
    let (dir, wall) = (&dir, &wall);
    std::thread::scope(|scope| {
        for half in [a, b] {
            scope.spawn(move || {
                for s in half {
                    let params = Params::parse(s.params(), &[]).expect("default parameters");
                    let hashes: Vec<(String, u64)> = SEEDS
                        .map(|seed| {
                            let ctx = RunCtx::new(Backend::Sim, seed, params.clone(), wall)
                                .with_replay(format!("testbed run {} --seed {seed}", s.name()));
                            let out = s
                                .run(&ctx)
                                .unwrap_or_else(|e| panic!("{} seed {seed}: {e}", s.name()));
                            let hash = out.trace_hash.unwrap_or_else(|| {
                                panic!("{} seed {seed}: no trace hash", s.name())
                            });
                            (format!("seed-{seed}"), hash)
                        })
                        .collect();
                    assert_golden_hashes(dir.join(format!("{}.txt", s.name())), &hashes);
                }
            });
        }
    });
}
