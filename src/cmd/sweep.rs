//! `testbed sweep` (many seeds across threads, optionally one shard of the range) and
//! `testbed merge` (shard results files into one summary).

use super::args::FidelityArg;
use super::shrink::lookup;
use super::usage;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use testbed_scenarios::seeds::parse_seeds;
use testbed_scenarios::sweep::{merge, Shard, Sweep, SweepFile};
use testbed_scenarios::{prepare, Backend};

/// `testbed sweep` arguments.
#[derive(Args)]
pub struct SweepArgs {
    /// Scenario name.
    scenario: String,
    /// Seed range: A..B (end excluded) or A..=B.
    #[arg(long)]
    seeds: String,
    /// Worker threads (each run is single-threaded); default: every core.
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only part i of n (0-based) of the seed range, e.g. $JOB_COMPLETION_INDEX/8.
    #[arg(long, default_value = "0/1")]
    shard: String,
    /// Parameter override, repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Write every seed's result and the summary to FILE (input of `testbed merge`).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// stream or packet (see `run --fidelity`).
    #[arg(long, value_enum, default_value = "stream")]
    fidelity: FidelityArg,
    /// Failing seeds to list in the summary.
    #[arg(long, default_value_t = 20)]
    show_failures: usize,
}

/// `testbed merge` arguments.
#[derive(Args)]
pub struct MergeArgs {
    /// Results files written by `testbed sweep --json`.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write the merged results and summary to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Failing seeds to list.
    #[arg(long, default_value_t = 20)]
    show_failures: usize,
}

fn write_results(path: &PathBuf, f: &SweepFile) -> Result<(), String> {
    let mut v = serde_json::to_value(f).map_err(|e| e.to_string())?;
    v["summary"] = serde_json::to_value(f.summary()).map_err(|e| e.to_string())?;
    let text = serde_json::to_string(&v).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))
}

fn exit_for(f: &SweepFile) -> ExitCode {
    if f.results.iter().all(|r| r.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} seeds  {rate}  ETA {eta}  {msg}",
    )
    .expect("valid template")
    .with_key(
        "rate",
        |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} seeds/s", st.per_sec());
        },
    )
    .progress_chars("=> ");
    pb.set_style(style);
    pb
}

/// Runs `testbed sweep`.
pub fn sweep(a: SweepArgs) -> ExitCode {
    let fidelity = testbed_sim::Fidelity::from(a.fidelity);
    let s = match lookup(&a.scenario) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let full = match parse_seeds(&a.seeds) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let shard = match Shard::parse(&a.shard) {
        Ok(sh) => sh,
        Err(e) => return usage(e),
    };
    let params = match prepare(s, Backend::Sim, &a.sets) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let range = shard.range(&full);
    let n = range.end - range.start;
    let clock = super::stopwatch();
    let wall = super::stopwatch();
    let sw = Sweep {
        scenario: s,
        params: params.clone(),
        fidelity,
        jobs,
        wall: &wall,
    };
    let pb = progress_bar(n);
    let failed = AtomicU64::new(0);
    let results = sw.run(range.clone(), &|r| {
        if !r.passed {
            let f = failed.fetch_add(1, Ordering::Relaxed) + 1;
            pb.set_message(format!("{f} failed"));
        }
        pb.inc(1);
    });
    pb.finish_and_clear();
    let secs = clock().as_secs_f64();
    let file = SweepFile {
        kind: "testbed-sweep".into(),
        scenario: s.name().into(),
        backend: "sim".into(),
        params: params.to_json(),
        seeds: format!("{}..{}", full.start, full.end),
        shards: vec![shard],
        wall_s: vec![secs],
        results,
    };
    let shard_note = if shard.count > 1 {
        format!(
            " (shard {}/{}: seeds {}..{})",
            shard.index, shard.count, range.start, range.end
        )
    } else {
        String::new()
    };
    print!("{}", file.summary().render(a.show_failures));
    println!(
        "  {n} seeds in {secs:.2} s: {:.1} seeds/s on {jobs} jobs{shard_note}",
        n as f64 / secs.max(1e-9)
    );
    if let Some(path) = &a.json {
        if let Err(e) = write_results(path, &file) {
            eprintln!("testbed: {e}");
            return ExitCode::from(1);
        }
    }
    exit_for(&file)
}

/// Runs `testbed merge`.
pub fn merge_files(a: MergeArgs) -> ExitCode {
    let mut files = Vec::new();
    for p in &a.files {
        let name = p.display().to_string();
        let parsed = std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<SweepFile>(&t).map_err(|e| e.to_string()))
            .and_then(|f| {
                (f.kind == "testbed-sweep")
                    .then_some(f)
                    .ok_or_else(|| "kind is not testbed-sweep".to_string())
            });
        match parsed {
            Ok(f) => files.push((name, f)),
            Err(reason) => return usage(format!("{name}: not a sweep results file: {reason}")),
        }
    }
    let merged = match merge(files) {
        Ok(m) => m,
        Err(e) => return usage(e),
    };
    let sum = merged.summary();
    print!("{}", sum.render(a.show_failures));
    let shards: Vec<String> = merged
        .shards
        .iter()
        .map(|s| format!("{}/{}", s.index, s.count))
        .collect();
    let busy: f64 = merged.wall_s.iter().sum();
    println!(
        "  merged {} files: shards {}; {:.1} seeds per shard-second",
        a.files.len(),
        shards.join(", "),
        sum.runs as f64 / busy.max(1e-9)
    );
    if let Some(path) = &a.json {
        if let Err(e) = write_results(path, &merged) {
            eprintln!("testbed: {e}");
            return ExitCode::from(1);
        }
    }
    if sum.missing > 0 {
        eprintln!(
            "testbed: {} seeds of {} have no result; merge every shard",
            sum.missing, sum.seeds
        );
    }
    exit_for(&merged)
}
