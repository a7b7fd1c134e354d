//! testbed-harness: simulator test machinery that knows nothing of scenarios — fault schedules
//! drawn per seed within declared ranges (swarm testing), applied to a `Sim`, replayed from JSON.
//! Depends only on testbed-sim and testbed-model, so any crate's own tests can use it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod faults;
