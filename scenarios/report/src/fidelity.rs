//! The fidelity section of the report: the differential suite's table (real Linux TCP/UDP
//! against the simulator's stream and packet fidelities) and a plot of each simulator value
//! relative to Linux's. Linux numbers come from the JSON `testbed fidelity --out` wrote into
//! the claims directory (they need root); without that file the simulator columns are
//! measured in-process and the section says Linux was not run.

use super::plot::{bar_chart, PlotError};
use std::path::Path;
use testbed_fidelity::{RowId, RowResult, SuiteOptions, Target};

/// The file `testbed fidelity --out` writes and the report reads, in the claims directory.
pub const FILE: &str = "fidelity.json";

/// The section's data.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Where the rows come from (the file, or "measured in-process").
    pub source: String,
    /// Whether the rows carry Linux numbers.
    pub linux_available: bool,
    /// Why not, when not.
    pub linux_reason: Option<String>,
    /// The rows.
    pub rows: Vec<RowResult>,
}

/// Reads `from/fidelity.json`; else measures the simulator side in-process (in quick mode
/// without the 30,000-connection time-wait row).
pub fn build(from: &Path, quick: bool) -> (Section, Vec<String>) {
    let path = from.join(FILE);
    let mut notes = Vec::new();
    match std::fs::read_to_string(&path) {
        Ok(text) => match parse(&text) {
            Ok(s) => {
                return (
                    Section {
                        source: path.display().to_string(),
                        ..s
                    },
                    notes,
                )
            }
            Err(e) => notes.push(format!(
                "{}: not readable as a fidelity report: {e}",
                path.display()
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => notes.push(format!("{}: {e}", path.display())),
    }
    let only = if quick {
        RowId::ALL
            .iter()
            .copied()
            .filter(|r| *r != RowId::TimeWait)
            .collect()
    } else {
        Vec::new()
    };
    let r = testbed_fidelity::run(&SuiteOptions {
        targets: vec![Target::Stream, Target::Packet],
        only,
    });
    let mut source = "simulator side measured in-process".to_string();
    if quick {
        source.push_str(" (quick mode: without the time-wait row)");
    }
    (
        Section {
            source,
            linux_available: false,
            linux_reason: Some(format!(
                "no Linux numbers: {} does not exist; as root run `testbed fidelity --out {}`",
                path.display(),
                path.display()
            )),
            rows: r.rows,
        },
        notes,
    )
}

fn parse(text: &str) -> Result<Section, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let rows = v["rows"].as_array().ok_or("no rows")?;
    let s = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    let verdict = |r: &serde_json::Value, k: &str| match r[k].as_str() {
        Some("matches") => testbed_fidelity::Verdict::Matches,
        Some("harsher") => testbed_fidelity::Verdict::Harsher,
        Some("kinder") => testbed_fidelity::Verdict::Kinder,
        _ => testbed_fidelity::Verdict::NotRun,
    };
    let rows = rows
        .iter()
        .map(|r| RowResult {
            name: s(r, "name"),
            unit: s(r, "unit"),
            linux: r["linux"].as_f64(),
            stream: r["stream"].as_f64(),
            packet: r["packet"].as_f64(),
            tolerance: s(r, "tolerance"),
            outcome_linux: s(r, "outcome_linux"),
            outcome_stream: s(r, "outcome_stream"),
            outcome_packet: s(r, "outcome_packet"),
            verdict_stream: verdict(r, "verdict_stream"),
            verdict_packet: verdict(r, "verdict_packet"),
            detail: s(r, "detail"),
        })
        .collect();
    Ok(Section {
        source: String::new(),
        linux_available: v["linux_available"].as_bool().unwrap_or(false),
        linux_reason: v["linux_reason"].as_str().map(String::from),
        rows,
    })
}

/// Largest ratio drawn (bars past it are cut there; the table has the numbers).
const RATIO_CAP: f64 = 1000.0;

/// Each simulator value as a percentage of Linux's (100 = the same), one bar per row and
/// fidelity; an error when no row has a Linux number.
pub fn plot(s: &Section) -> Result<String, PlotError> {
    if !s.linux_available {
        return Err(PlotError::NotRun(format!(
            "not drawn: {}",
            s.linux_reason.as_deref().unwrap_or("Linux was not run")
        )));
    }
    let mut bars = Vec::new();
    for r in &s.rows {
        let Some(l) = r.linux.filter(|l| *l != 0.0) else {
            continue;
        };
        for (name, v) in [("stream", r.stream), ("packet", r.packet)] {
            if let Some(v) = v {
                bars.push((
                    format!("{} · {name}", r.name),
                    (100.0 * v / l).clamp(0.0, RATIO_CAP),
                ));
            }
        }
    }
    bar_chart(
        "simulator value as % of Linux's (100 = same)",
        "% of the Linux value (capped at 1000)",
        &bars,
    )
}

/// The verdict's short name.
pub fn verdict(v: testbed_fidelity::Verdict) -> &'static str {
    match v {
        testbed_fidelity::Verdict::Matches => "matches",
        testbed_fidelity::Verdict::Harsher => "harsher",
        testbed_fidelity::Verdict::Kinder => "kinder",
        _ => "not-run",
    }
}

/// A value with its outcome class ("5.00 ETIMEDOUT"), or "not-run".
pub fn cell(v: Option<f64>, outcome: &str) -> String {
    let n = v.map_or("-".to_string(), super::plot::fmt_num);
    match outcome {
        "" | "ok" => n,
        "not-run" => "not-run".into(),
        o => format!("{n} {o}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_cli_writes() {
        let r = testbed_fidelity::suite::judge_row(
            RowId::ClosedPort,
            &testbed_fidelity::Obs {
                value: Some(10.0),
                outcome: "refused".into(),
                detail: "linux".into(),
            },
            &testbed_fidelity::sim_side::measure(RowId::ClosedPort, testbed_sim::Fidelity::Stream),
            &testbed_fidelity::sim_side::measure(RowId::ClosedPort, testbed_sim::Fidelity::Packet),
        );
        let text = serde_json::to_string(&serde_json::json!({
            "linux_available": true, "linux_reason": null, "rows": [r.clone()],
        }))
        .unwrap();
        let s = parse(&text).unwrap();
        assert!(s.linux_available);
        assert_eq!(s.rows, vec![r]);
        assert!(plot(&s).is_ok());
    }

    #[test]
    fn without_linux_the_plot_says_why() {
        let s = Section {
            source: String::new(),
            linux_available: false,
            linux_reason: Some("no file".into()),
            rows: Vec::new(),
        };
        assert!(plot(&s).unwrap_err().to_string().contains("no file"));
    }
}
