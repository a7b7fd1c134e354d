//! Value enums for the flags several subcommands share: `--backend`, `--fidelity`, and
//! `serve`'s protocol and backend. clap lists their values in `--help` and rejects others
//! (exit 2) before a subcommand runs.

use clap::ValueEnum;
use testbed_scenarios::{Backend, RunError};
use testbed_serve::{Protocol, ServeBackend};
use testbed_sim::Fidelity;

/// `--backend`: where a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// The deterministic simulator.
    Sim,
    /// Kernel sockets on loopback.
    Kernel,
    /// io_uring on loopback.
    Uring,
    /// XDP on veth pairs in namespaces (root, clang).
    Xdp,
    /// DPDK ports (a build with --features dpdk).
    Dpdk,
}

impl BackendArg {
    /// The backend, or [`RunError::BackendNotBuilt`] for dpdk in a build without it.
    pub fn backend(self) -> Result<Backend, RunError> {
        let name = self
            .to_possible_value()
            .expect("no skipped variants")
            .get_name()
            .to_string();
        name.parse()
    }
}

/// `--fidelity`: how the simulator models streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FidelityArg {
    /// Reliable byte streams (fast).
    Stream,
    /// smoltcp TCP per host over packet links.
    Packet,
}

impl From<FidelityArg> for Fidelity {
    fn from(f: FidelityArg) -> Fidelity {
        match f {
            FidelityArg::Stream => Fidelity::Stream,
            FidelityArg::Packet => Fidelity::Packet,
        }
    }
}

/// `serve`'s protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// HTTP/1.1 (and HTTP/2 by ALPN under TLS).
    Http1,
    /// HTTP/2 (h2c, or h2 by ALPN under TLS).
    H2,
    /// HTTP/3 over QUIC (needs --tls).
    H3,
    /// WebSocket echo.
    Ws,
    /// The example RPC service.
    Rpc,
}

impl From<ProtocolArg> for Protocol {
    fn from(p: ProtocolArg) -> Protocol {
        match p {
            ProtocolArg::Http1 => Protocol::Http1,
            ProtocolArg::H2 => Protocol::H2,
            ProtocolArg::H3 => Protocol::H3,
            ProtocolArg::Ws => Protocol::Ws,
            ProtocolArg::Rpc => Protocol::Rpc,
        }
    }
}

/// `serve --backend`: the real backends a server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServeBackendArg {
    /// tokio on epoll, thread per core.
    Kernel,
    /// io_uring, a ring per worker.
    Uring,
}

impl From<ServeBackendArg> for ServeBackend {
    fn from(b: ServeBackendArg) -> ServeBackend {
        match b {
            ServeBackendArg::Kernel => ServeBackend::Kernel,
            ServeBackendArg::Uring => ServeBackend::Uring,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_value_names_a_backend_and_dpdk_needs_its_build() {
        for b in BackendArg::value_variants() {
            match b.backend() {
                Ok(backend) => {
                    assert_eq!(backend.name(), b.to_possible_value().unwrap().get_name())
                }
                Err(e) => {
                    assert_eq!(*b, BackendArg::Dpdk);
                    assert_eq!(e, RunError::BackendNotBuilt("dpdk".into()));
                }
            }
        }
        let names: Vec<String> = BackendArg::value_variants()
            .iter()
            .map(|b| b.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(names, Backend::ALL);
    }
}
