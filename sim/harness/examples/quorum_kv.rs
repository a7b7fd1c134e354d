//! A user's replicated register (three replicas, client-driven 2-of-3 quorums; see
//! `support/quorum_kv.rs`) explored under the swarm: 64 seeds, each with the fault schedule
//! it draws (partitions, replica crashes, loss, latency, clock skew), every acknowledged write
//! read back. Then seed 0 in detail.
//!
//!     cargo run --release -p testbed-harness --example quorum_kv
//!
//! The last line is `trace_hash=<hex>` of seed 0's run: the same in every process.

#[path = "support/quorum_kv.rs"]
mod quorum_kv;

use quorum_kv::Quorums;
use testbed_harness::SwarmCheck;

fn main() {
    let swarm = quorum_kv::swarm();
    let checked = SwarmCheck::new(swarm.clone())
        .seeds(0..64)
        .try_run(|seed, s| {
            quorum_kv::run(seed, s, Quorums::MAJORITY)
                .result
                .map(|_| ())
        });
    match checked {
        Ok(e) => println!(
            "checked seeds {:?} on {} threads: every acknowledged write was read back",
            e.seeds, e.jobs
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    let schedule = swarm.draw(0).expect("the swarm's names are consistent");
    println!("seed 0 draws: {}", schedule.to_json());
    let run = quorum_kv::run(0, &schedule, Quorums::MAJORITY);
    match &run.result {
        Ok(t) => println!(
            "seed 0: {} writes acknowledged and read back, {} requests failed or timed out, \
             finished at t={}",
            t.writes, t.failed_requests, run.end
        ),
        Err(e) => {
            eprintln!("seed 0 failed: {e}");
            std::process::exit(1);
        }
    }
    println!("trace_hash={:016x}", run.trace_hash);
}
