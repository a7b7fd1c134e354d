//! testbed-scenarios: the scenario catalogue (topology + links + workload + faults +
//! invariants + metrics), its parameters, runner helpers and result rendering.
//! Scenario code never reads a clock or OS entropy: time comes from the backend's `Runtime`,
//! randomness from the run seed, and wall time from a stopwatch the caller injects.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod avalanche;
pub mod chat_room;
pub mod client_common;
pub mod ddos_common;
pub mod ddos_xdp;
mod ddos_xdp_real;
mod ddos_xdp_sim;
pub mod degrade;
pub mod determinism;
pub mod discovery_conformance;
#[cfg(feature = "etcd")]
pub mod discovery_etcd;
pub mod echo;
pub mod etcd_server;
pub mod failover;
pub mod faults;
#[doc(hidden)]
pub mod fuzzing;
pub mod http1_load;
pub mod http_flood;
pub mod http_versions;
pub mod outcome;
pub mod params;
pub mod partition_heal;
mod planted;
mod real;
mod real_dpdk;
mod real_port;
pub mod rebalance;
pub mod report;
pub mod retry_storm;
pub mod rpc;
pub mod scenario;
pub mod seeds;
pub mod serve;
pub mod shrink;
pub mod sweep;
pub mod syn_flood;
pub mod udp_flood;
pub mod ws_echo;

pub use outcome::{Invariant, Outcome};
pub use params::{ParamError, ParamSpec, Params};
pub use scenario::{
    catalogue, find, prepare, replay_command, test_catalogue, Backend, DpdkOpts, RunCtx, RunError,
    Scenario,
};

/// The README's code blocks, compiled and run as doctests (its simulation-test example).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
