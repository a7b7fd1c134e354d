//! The same replicated register with a planted bug: a write is acknowledged after ONE
//! replica confirmed it (reads still ask two), so write and read quorums need not meet. The
//! swarm finds a seed where a read misses the latest write, shrinks its fault schedule to the
//! few events that matter and prints the command that replays exactly that run; the example
//! then replays it and checks the same error comes back.
//!
//!     cargo run --release -p testbed-harness --example quorum_kv_bug
//!
//! Exits 0 when the bug is found and replays; the last line is `trace_hash=<hex>` of the
//! replayed failing run.

#[path = "support/quorum_kv.rs"]
mod quorum_kv;

use quorum_kv::Quorums;
use testbed_harness::{CheckError, SwarmCheck};

fn main() {
    let swarm = quorum_kv::swarm();
    let found = SwarmCheck::new(swarm).seeds(0..64).try_run(|seed, s| {
        quorum_kv::run(seed, s, Quorums::PLANTED_BUG)
            .result
            .map(|_| ())
    });
    let f = match found {
        Err(CheckError::Failed(f)) => f,
        Ok(e) => {
            eprintln!("the planted bug was not found in seeds {:?}", e.seeds);
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!("{f}");
    let again = quorum_kv::run(f.seed, &f.minimal, Quorums::PLANTED_BUG);
    match &again.result {
        Err(e) if e.to_string().contains(&f.error) => {
            println!(
                "replayed seed {} with the minimal schedule: same failure",
                f.seed
            )
        }
        other => {
            eprintln!("the replay did not fail the same way: {other:?}");
            std::process::exit(1);
        }
    }
    println!("trace_hash={:016x}", again.trace_hash);
}
