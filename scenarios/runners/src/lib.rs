//! testbed-runners: the generic machinery that runs a scenario's server and clients on real
//! backends (kernel sockets, io_uring, smoltcp over AF_XDP or a DPDK port) and a throwaway etcd
//! on loopback. Knows the contract, not the scenarios: a scenario hands in a [`real::Workload`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod etcd_server;
pub mod real;
pub mod real_dpdk;
pub mod real_port;
