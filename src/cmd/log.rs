//! `--log`: the run's `tracing` spans and events, stamped with simulated time and host. With
//! `--trace` they go into the JSONL file among the simulator's events; without, as human lines
//! on stderr. Directives come from `--log`, else `TESTBED_LOG`, else `RUST_LOG`.

use std::io::Write;
use testbed_tracing::{Captured, DefaultGuard, Format, SimLayer};

/// Most tracing lines one run keeps for its trace file (the rest are counted, not kept).
pub const TRACE_LINES_MAX: usize = 1_000_000;

/// An installed run log; dropping it uninstalls the subscriber.
pub struct RunLog {
    /// The lines bound for the trace file (`None`: they go to stderr).
    pub captured: Option<Captured>,
    _guard: DefaultGuard,
}

/// Installs the run log when `--log` is given or an environment variable sets a filter;
/// `Ok(None)` when neither does. Lines are kept for the trace file when `to_trace`.
pub fn install(flag: Option<&str>, to_trace: bool) -> Result<Option<RunLog>, String> {
    let filter = match flag {
        Some(d) => testbed_tracing::filter(d).map(Some),
        None => testbed_tracing::filter_from_env(),
    };
    let Some(filter) = filter.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let (layer, captured) = if to_trace {
        let (l, c) = SimLayer::captured(Format::Jsonl, TRACE_LINES_MAX);
        (l, Some(c))
    } else {
        (SimLayer::human(std::io::stderr()), None)
    };
    Ok(Some(RunLog {
        captured,
        _guard: testbed_tracing::set_default(layer, filter),
    }))
}

/// Writes the simulator's `events` with the log's lines among them to `out`.
pub fn write_trace(
    events: &[testbed_sim::trace::Event],
    hosts: &[String],
    log: Option<&RunLog>,
    out: impl Write,
) -> std::io::Result<()> {
    let captured = log.and_then(|l| l.captured.as_ref());
    let lines = captured.map(Captured::take).unwrap_or_default();
    if let Some(n) = captured.map(Captured::dropped).filter(|n| *n > 0) {
        eprintln!("testbed: {n} tracing lines past {TRACE_LINES_MAX} were left out of the trace");
    }
    testbed_tracing::write_jsonl_merged(events, hosts, &lines, out)
}
