//! `testbed report`: runs the claim experiments that run here, reads bench claim records, and
//! writes the page (index.html), the markdown summary (report.md) and report.json.

use std::path::PathBuf;
use std::process::ExitCode;
use testbed_report::{build, Config};

/// Options of `testbed report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Where to write index.html, report.md and report.json.
    #[arg(long, default_value = "target/report")]
    out: PathBuf,
    /// Directory of bench claim records (*.jsonl) written by scripts/bench-*.
    #[arg(long, default_value = "target/claims")]
    from: PathBuf,
    /// Smaller experiments (a 20-object page, 10,000 keys): for tests.
    #[arg(long)]
    quick: bool,
    /// Seed of every scenario run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// CPU model, cores and kernel, read from /proc (best effort).
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(
        |_| std::env::consts::OS.to_string(),
        |k| format!("Linux {}", k.trim()),
    );
    format!("{cpu}, {cores} cores available, {kernel}")
}

/// Wall-clock stopwatch handed to scenarios that report wall rates.
#[allow(clippy::disallowed_methods)] // the CLI owns the real clock
fn stopwatch() -> impl Fn() -> testbed_model::Duration {
    let t0 = std::time::Instant::now();
    move || t0.elapsed()
}

/// Runs `testbed report`.
pub fn run(a: ReportArgs) -> ExitCode {
    let wall = stopwatch();
    let report = build(&Config {
        from: a.from,
        quick: a.quick,
        seed: a.seed,
        machine: machine(),
        wall: &wall,
    });
    let written = match report.write(&a.out) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("testbed: {e}");
            return ExitCode::from(1);
        }
    };
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(v, n)| format!("{n} {v}"))
        .collect();
    let drawn = report.plots.iter().filter(|p| p.svg.is_ok()).count();
    println!(
        "{} claims ({}); {drawn} of {} plots drawn",
        report.claims.len(),
        counts.join(", "),
        report.plots.len()
    );
    for p in report.plots.iter().filter(|p| p.svg.is_err()) {
        if let Err(why) = &p.svg {
            println!("  plot {}: {why}", p.id);
        }
    }
    for n in &report.notes {
        println!("  note: {n}");
    }
    println!(
        "wrote {}, {}, {} in {:.1} s",
        written.html.display(),
        written.markdown.display(),
        written.json.display(),
        wall().as_secs_f64()
    );
    ExitCode::SUCCESS
}
