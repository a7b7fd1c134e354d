//! testbed-harness: simulator test machinery that knows nothing of scenarios — fault schedules
//! and swarm testing, seed sweeps, coverage-guided exploration, schedule shrinking, determinism
//! checks, seed ranges. Depends only on testbed-sim and testbed-model among the testbed crates, so
//! any crate's tests can use it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod determinism;
pub mod explore;
pub mod faults;
#[doc(hidden)]
pub mod fuzzing;
pub mod seeds;
pub mod shrink;
pub mod sweep;
