//! Runs the suite: Linux rows (when selected and available) and both simulator fidelities,
//! then judges each fidelity against Linux.

use crate::linux;
use crate::row::{Obs, RowId, RowResult, Target, Verdict};
use crate::rows::spec;
use crate::sim_side;
use serde::Serialize;
use testbed_sim::Fidelity;

/// What to run.
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// Targets to measure (default: all three).
    pub targets: Vec<Target>,
    /// Rows to run (empty: all).
    pub only: Vec<RowId>,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        SuiteOptions {
            targets: Target::ALL.to_vec(),
            only: Vec::new(),
        }
    }
}

/// The suite's result (`testbed fidelity --json` prints this).
#[derive(Clone, Debug, Serialize)]
pub struct SuiteReport {
    /// Whether the Linux side ran.
    pub linux_available: bool,
    /// Why it did not, when it did not.
    pub linux_reason: Option<String>,
    /// One entry per row.
    pub rows: Vec<RowResult>,
}

impl SuiteReport {
    /// Whether any row is `kinder` in either fidelity (the CLI then exits 1).
    pub fn any_kinder(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.verdict_stream == Verdict::Kinder || r.verdict_packet == Verdict::Kinder)
    }
}

fn not_run(why: &str) -> Obs {
    Obs {
        value: None,
        outcome: "not-run".into(),
        detail: why.into(),
    }
}

/// Runs the suite.
pub fn run(opts: &SuiteOptions) -> SuiteReport {
    let rows: Vec<RowId> = if opts.only.is_empty() {
        RowId::ALL.to_vec()
    } else {
        RowId::ALL
            .iter()
            .copied()
            .filter(|r| opts.only.contains(r))
            .collect()
    };
    let want = |t: Target| opts.targets.contains(&t);
    let (linux_available, linux_reason, linux_obs) = if !want(Target::Linux) {
        let why = "not selected (--targets)";
        (
            false,
            Some(why.to_string()),
            rows.iter().map(|_| not_run(why)).collect(),
        )
    } else {
        match linux::available() {
            Ok(()) => (true, None, linux::measure_all(&rows)),
            Err(why) => {
                let obs = rows.iter().map(|_| not_run(&why)).collect();
                (false, Some(why), obs)
            }
        }
    };
    let sim = |t: Target, f: Fidelity, row: RowId| {
        if want(t) {
            sim_side::measure(row, f)
        } else {
            not_run("not selected (--targets)")
        }
    };
    let results = rows
        .iter()
        .zip(linux_obs)
        .map(|(&row, linux)| {
            let stream = sim(Target::Stream, Fidelity::Stream, row);
            let packet = sim(Target::Packet, Fidelity::Packet, row);
            judge_row(row, &linux, &stream, &packet)
        })
        .collect();
    SuiteReport {
        linux_available,
        linux_reason,
        rows: results,
    }
}

/// One row's result from its three observations.
pub fn judge_row(row: RowId, linux: &Obs, stream: &Obs, packet: &Obs) -> RowResult {
    let s = spec(row);
    let (vs, why_s) = s.judge(linux, stream);
    let (vp, why_p) = s.judge(linux, packet);
    let side = |name: &str, o: &Obs| {
        if o.outcome.is_empty() {
            format!("{name}: {}", o.detail)
        } else {
            format!("{name} [{}]: {}", o.outcome, o.detail)
        }
    };
    RowResult {
        name: row.name().to_string(),
        unit: s.unit.to_string(),
        linux: linux.value,
        stream: stream.value,
        packet: packet.value,
        tolerance: s.tolerance(),
        outcome_linux: linux.outcome.clone(),
        outcome_stream: stream.outcome.clone(),
        outcome_packet: packet.outcome.clone(),
        verdict_stream: vs,
        verdict_packet: vp,
        detail: format!(
            "{} | {} | {} | stream: {why_s}; packet: {why_p}",
            side("linux", linux),
            side("stream", stream),
            side("packet", packet)
        ),
    }
}
