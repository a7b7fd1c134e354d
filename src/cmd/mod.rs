//! One module per subcommand; each exposes its clap arguments and a `run` returning the exit
//! code. Shared here: the wall-clock stopwatch and usage errors;
//! the flags' value enums are in `args`.

pub mod args;
pub mod cert;
pub mod check_determinism;
pub mod explore;
pub mod fidelity;
pub mod list;
pub mod log;
pub mod report;
pub mod run;
pub mod serve;
pub mod shrink;
pub mod sweep;
pub mod xdp;

use std::process::ExitCode;

/// Wall-clock stopwatch handed to scenarios (they never read clocks themselves).
#[allow(clippy::disallowed_methods)] // the CLI measures wall time for RT/s-in-wall-time metrics
pub fn stopwatch() -> impl Fn() -> testbed_model::Duration {
    let t0 = std::time::Instant::now();
    move || t0.elapsed()
}

pub fn usage(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("testbed: {e}");
    ExitCode::from(2)
}

/// Whether `--fidelity` appeared on the command line (its default is stream).
pub fn fidelity_given_explicitly() -> bool {
    std::env::args().any(|a| a == "--fidelity" || a.starts_with("--fidelity="))
}
