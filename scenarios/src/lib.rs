//! testbed-scenarios: the scenario catalogue (topology + links + workload + faults +
//! invariants + metrics) and its registry ([`catalogue()`]), written against testbed-contract.
//! Scenario code never reads a clock or OS entropy: time comes from the backend's `Runtime`,
//! randomness from the run seed, and wall time from a stopwatch the caller injects.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod avalanche;
pub mod catalogue;
pub mod chat_room;
pub mod client_common;
pub mod ddos_common;
pub mod ddos_xdp;
mod ddos_xdp_real;
mod ddos_xdp_sim;
pub mod degrade;
pub mod determinism;
#[cfg(feature = "etcd")]
pub mod discovery_etcd;
pub mod echo;
pub mod explore;
pub mod failover;
#[doc(hidden)]
pub mod fuzzing;
pub mod http1_load;
pub mod http_flood;
pub mod http_versions;
pub mod kv;
pub mod partition_heal;
mod planted;
pub mod rebalance;
pub mod retry_storm;
pub mod rpc;
pub mod shrink;
pub mod sweep;
pub mod syn_flood;
pub mod udp_flood;
pub mod ws_echo;

pub use catalogue::{catalogue, find, prepare, replay_command, run_with_schedule, test_catalogue};
// The contract and the fault schedules under their old paths (`crate::params`, `crate::faults`,
// ...), so scenario modules and users keep one import path.
pub use testbed_contract::{outcome, params, seeds};
pub use testbed_contract::{
    Backend, DpdkOpts, Invariant, Outcome, ParamError, ParamSpec, Params, RunCtx, RunError,
    Scenario,
};
pub use testbed_harness::faults;
// The real-backend runners under their old paths (`crate::real`, ...).
pub use testbed_runners::etcd_server;
use testbed_runners::real;

/// The contract (`Scenario`, `RunCtx`, ...) under its old path; the registry is [`catalogue`].
pub mod scenario {
    pub use testbed_contract::scenario::*;
}

/// The README's code blocks, compiled and run as doctests (its simulation-test example).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
