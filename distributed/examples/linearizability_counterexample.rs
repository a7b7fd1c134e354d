//! Checks the benchmark's generated KV history (seed 1, 50 clients, 10,000 operations) with a
//! planted stale read, prints the counterexample, and writes its SVG timeline to the path
//! given as the first argument (default `counterexample.svg`).
//!
//! `cargo run -p testbed-distributed --example linearizability_counterexample -- out.svg`

use testbed_distributed::history::generate::{kv_history, plant_stale_read, KvSpec};
use testbed_distributed::history::models::KvModel;
use testbed_distributed::history::{check, counterexample_svg, CheckOptions, Verdict};

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "counterexample.svg".to_string());
    let mut history = kv_history(1, &KvSpec::default());
    let Some(planted) = plant_stale_read(&mut history) else {
        eprintln!("no place for a stale read");
        std::process::exit(2);
    };
    let report = match check(&KvModel, &history, &CheckOptions::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!(
        "{} operations, {} partitions, {} model steps; planted stale read: op #{planted}",
        history.len(),
        report.partitions,
        report.steps
    );
    match &report.verdict {
        Verdict::NotLinearizable(cx) => {
            println!("{cx}");
            let svg = counterexample_svg(&KvModel, &history, cx, 40);
            if let Err(e) = std::fs::write(&out, svg) {
                eprintln!("{out}: {e}");
                std::process::exit(2);
            }
            println!("wrote {out}");
        }
        other => {
            eprintln!("expected a counterexample, got {other:?}");
            std::process::exit(1);
        }
    }
}
