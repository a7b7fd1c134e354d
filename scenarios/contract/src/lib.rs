//! testbed-contract: what a scenario is ([`Scenario`]), what a run is given ([`RunCtx`], built
//! with [`RunCtx::new`]), what it produces ([`Outcome`]) and why it could not run
//! ([`RunError`]); plus parameters and seed ranges. No scenario and no registry lives here.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
pub mod fuzzing;
pub mod outcome;
pub mod params;
pub mod scenario;

pub use outcome::{Invariant, Outcome};
pub use params::{ParamError, ParamSpec, Params};
pub use scenario::{Backend, DpdkOpts, RunCtx, RunError, Scenario};
pub use testbed_harness::faults::{FaultSchedule, ScheduleError, SwarmSpec};
/// Seed ranges (`--seeds A..B`), from the harness.
pub use testbed_harness::seeds;
