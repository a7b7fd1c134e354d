//! `testbed fidelity`: the differential fidelity suite (real Linux TCP/UDP against the
//! simulator's stream and packet fidelities), as one table or one JSON object.
//! Exit status: 0 when no row is `kinder`, 1 when one is, 2 for usage errors.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use testbed_fidelity::{RowId, SuiteOptions, SuiteReport, Target, Verdict};

/// Options of `testbed fidelity`.
#[derive(clap::Args)]
pub struct FidelityArgs {
    /// Comma-separated targets: linux (needs root), stream, packet.
    #[arg(long, default_value = "linux,stream,packet")]
    targets: String,
    /// Run only this row (repeatable); see the row names in the table.
    #[arg(long, value_name = "ROW")]
    only: Vec<String>,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Also write the JSON object to FILE (read by `testbed report`, e.g.
    /// target/claims/fidelity.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn usage(msg: String) -> ExitCode {
    eprintln!("testbed fidelity: {msg}");
    ExitCode::from(2)
}

/// Parses `--targets` and `--only`.
fn options(a: &FidelityArgs) -> Result<SuiteOptions, String> {
    let mut targets = Vec::new();
    for t in a
        .targets
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let target = Target::ALL
            .into_iter()
            .find(|x| x.name() == t)
            .ok_or_else(|| format!("unknown target {t:?} (linux, stream, packet)"))?;
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    if targets.is_empty() {
        return Err("--targets names no target".into());
    }
    let mut only = Vec::new();
    for o in &a.only {
        let row = RowId::from_name(o).ok_or_else(|| {
            let names: Vec<&str> = RowId::ALL.iter().map(|r| r.name()).collect();
            format!("unknown row {o:?}; rows: {}", names.join(", "))
        })?;
        only.push(row);
    }
    Ok(SuiteOptions { targets, only })
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.abs() >= 1000.0 || v == v.trunc() => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

fn cell(v: Option<f64>, outcome: &str) -> String {
    match outcome {
        "" | "ok" => num(v),
        "not-run" => "not-run".into(),
        o => format!("{} {o}", num(v)),
    }
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Matches => "matches",
        Verdict::Harsher => "harsher",
        Verdict::Kinder => "kinder",
        Verdict::NotRun => "not-run",
    }
}

/// The human table.
pub fn table(r: &SuiteReport) -> String {
    let header = [
        "row",
        "unit",
        "linux",
        "stream",
        "packet",
        "stream vs linux",
        "packet vs linux",
    ];
    let rows: Vec<[String; 7]> = r
        .rows
        .iter()
        .map(|x| {
            [
                x.name.clone(),
                x.unit.clone(),
                cell(x.linux, &x.outcome_linux),
                cell(x.stream, &x.outcome_stream),
                cell(x.packet, &x.outcome_packet),
                verdict(x.verdict_stream).into(),
                verdict(x.verdict_packet).into(),
            ]
        })
        .collect();
    let mut w = header.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &header.map(String::from));
    for r in &rows {
        line(&mut out, r);
    }
    if let Some(why) = &r.linux_reason {
        let _ = writeln!(out, "linux: not run ({why})");
    }
    out
}

/// Runs `testbed fidelity`.
pub fn run(a: FidelityArgs) -> ExitCode {
    let opts = match options(&a) {
        Ok(o) => o,
        Err(e) => return usage(e),
    };
    let report = testbed_fidelity::run(&opts);
    let json = serde_json::to_string(&report).unwrap_or_default();
    if let Some(path) = &a.out {
        let written = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, format!("{json}\n")));
        if let Err(e) = written {
            eprintln!("testbed fidelity: writing {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if a.json {
        println!("{json}");
    } else {
        print!("{}", table(&report));
    }
    if report.any_kinder() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
