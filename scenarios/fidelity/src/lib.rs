//! testbed-fidelity: the differential fidelity suite behind `testbed fidelity`. Each row runs
//! one small workload on real Linux TCP/UDP between network namespaces (the oracle) and on the
//! simulator in stream and packet fidelity, and says per fidelity whether the simulator
//! `matches`, is `harsher` (allowed) or `kinder` (a failure: it forgives what Linux punishes).
//! Workloads are written once against `testbed-model` (kernel backend on Linux); the Linux
//! side needs root and never sends traffic outside the namespaces it creates.
#![warn(missing_docs)]

pub mod linux;
pub mod row;
pub mod rows;
pub mod sim_side;
pub mod suite;
pub mod workload;

pub use row::{Obs, RowId, RowResult, Target, Verdict};
pub use suite::{run, SuiteOptions, SuiteReport};
