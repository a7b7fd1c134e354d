//! The scenario contract: where a run happens ([`Backend`]), what it is given ([`RunCtx`]),
//! why it could not happen ([`RunError`]), and what a scenario is ([`Scenario`]).

use crate::outcome::Outcome;
use crate::params::{ParamError, ParamSpec, Params};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use testbed_harness::faults::{FaultSchedule, ScheduleError, SwarmSpec};
use testbed_model::Duration;
use testbed_sim::{Fidelity, SimConfig};

/// Where a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// The deterministic simulator.
    Sim,
    /// Real kernel sockets on loopback (tokio, thread per core).
    Kernel,
    /// io_uring on loopback (a ring per worker thread).
    Uring,
    /// XDP programs on veth pairs into namespaces the run creates (needs root and clang).
    Xdp,
    /// DPDK ports (the `dpdk` cargo feature): the server on smoltcp over a DPDK port, the
    /// clients on the kernel side of a veth pair (or a wired NIC) in a namespace.
    Dpdk,
}

impl Backend {
    /// Every backend: what the scenarios written against `Net` + `Runtime` alone (echo,
    /// http1, ws-echo, rpc) run on.
    pub const EVERY: &'static [Backend] = &[
        Backend::Sim,
        Backend::Kernel,
        Backend::Uring,
        Backend::Xdp,
        Backend::Dpdk,
    ];

    /// Every backend name the CLI knows, including those later issues add.
    pub const ALL: &'static [&'static str] = &["sim", "kernel", "uring", "xdp", "dpdk"];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sim => "sim",
            Backend::Kernel => "kernel",
            Backend::Uring => "uring",
            Backend::Xdp => "xdp",
            Backend::Dpdk => "dpdk",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = RunError;
    fn from_str(s: &str) -> Result<Backend, RunError> {
        match s {
            "sim" => Ok(Backend::Sim),
            "kernel" => Ok(Backend::Kernel),
            "uring" => Ok(Backend::Uring),
            "xdp" => Ok(Backend::Xdp),
            "dpdk" if testbed_dpdk::available().is_ok() => Ok(Backend::Dpdk),
            other if Backend::ALL.contains(&other) => Err(RunError::BackendNotBuilt(other.into())),
            other => Err(RunError::UnknownBackend(other.into())),
        }
    }
}

/// What a run is given. Built with [`RunCtx::new`] and the `with_*` setters (the struct is
/// `#[non_exhaustive]`: no struct literals outside this crate, so a new field is one edit).
#[non_exhaustive]
pub struct RunCtx<'a> {
    /// Where to run.
    pub backend: Backend,
    /// The root seed.
    pub seed: u64,
    /// Parameter values.
    pub params: Params,
    /// Keep trace events (for `--trace` and determinism checks).
    pub record_trace: bool,
    /// Wall-clock stopwatch injected by the caller (scenarios never read clocks themselves):
    /// returns the wall time elapsed since some fixed point.
    pub wall: &'a dyn Fn() -> Duration,
    /// The command that replays this run, printed on failure.
    pub replay: String,
    /// Simulator only: how streams are simulated (`--fidelity stream|packet`).
    pub fidelity: Fidelity,
    /// Simulator, packet fidelity: write one pcap per host into this directory (`--pcap DIR`).
    pub pcap: Option<PathBuf>,
    /// `--backend dpdk`: EAL arguments, port and client-side interface.
    pub dpdk: DpdkOpts,
}

/// How a `--backend dpdk` run finds its DPDK port and its clients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DpdkOpts {
    /// EAL arguments, split on whitespace (`--dpdk-args`). `None`: no hugepages, no PCI, no
    /// shared files (`testbed_dpdk::EAL_ARGS_VIRTUAL`). DPDK starts its EAL once per process,
    /// so every run in a process must use the same arguments.
    pub eal_args: Option<String>,
    /// The port the server uses (`--dpdk-port`: a PCI address such as `0000:01:00.0` or a
    /// `--vdev` name). `None`: the run creates a veth pair and opens `net_af_packet` on its
    /// outer end.
    pub port: Option<String>,
    /// With `port`: the kernel interface wired to that port (`--dpdk-peer`; on lab hardware a
    /// second NIC cabled to it). The run moves it into its namespace for the clients.
    pub peer: Option<String>,
    /// Apply the scenario's link parameters (`latency`, `jitter`, `loss`, `bandwidth`) to the
    /// real frames (`--impair`): an impairment bridge with the simulator's link model sits
    /// between the DPDK port and the server's stack (this kernel has no netem).
    pub impair: bool,
}

impl<'a> RunCtx<'a> {
    /// A run of `seed` on `backend` with `params`, timed by `wall`: no trace recording, no
    /// replay hint, stream fidelity, no pcap, default DPDK options.
    pub fn new(
        backend: Backend,
        seed: u64,
        params: Params,
        wall: &'a dyn Fn() -> Duration,
    ) -> RunCtx<'a> {
        RunCtx {
            backend,
            seed,
            params,
            record_trace: false,
            wall,
            replay: String::new(),
            fidelity: Fidelity::default(),
            pcap: None,
            dpdk: DpdkOpts::default(),
        }
    }

    /// Keeps trace events (`--trace`, determinism checks) when `on`.
    pub fn with_trace(mut self, on: bool) -> Self {
        self.record_trace = on;
        self
    }

    /// The command that replays this run.
    pub fn with_replay(mut self, replay: impl Into<String>) -> Self {
        self.replay = replay.into();
        self
    }

    /// Simulator stream fidelity.
    pub fn with_fidelity(mut self, fidelity: Fidelity) -> Self {
        self.fidelity = fidelity;
        self
    }

    /// Simulator, packet fidelity: one pcap per host into this directory.
    pub fn with_pcap(mut self, dir: Option<PathBuf>) -> Self {
        self.pcap = dir;
        self
    }

    /// `--backend dpdk` options.
    pub fn with_dpdk(mut self, dpdk: DpdkOpts) -> Self {
        self.dpdk = dpdk;
        self
    }

    /// The simulator settings every sim run starts from: seed, trace recording, replay hint,
    /// fidelity and pcap directory from the context; the rest default.
    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            seed: self.seed,
            record_trace: self.record_trace,
            replay_hint: Some(self.replay.clone()),
            fidelity: self.fidelity,
            pcap_dir: self.pcap.clone(),
            ..SimConfig::default()
        }
    }
}

/// Why a run could not happen at all (as opposed to running and failing an invariant).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// No scenario by that name.
    #[error("unknown scenario {name:?}; scenarios: {}", valid.join(", "))]
    UnknownScenario {
        /// The name given.
        name: String,
        /// Valid names.
        valid: Vec<String>,
    },
    /// No backend by that name.
    #[error("unknown backend {0:?}; backends: sim, kernel, uring, xdp, dpdk")]
    UnknownBackend(String),
    /// A known backend that this build leaves out (dpdk without the `dpdk` cargo feature).
    #[error(
        "backend {0:?} is not in this build: rebuild with `cargo build --release --features {0}` (needs libdpdk-dev); this build has sim, kernel, uring, xdp"
    )]
    BackendNotBuilt(String),
    /// The scenario does not run on that backend.
    #[error("scenario {scenario} does not run on backend {backend}; it runs on: {}", supported.join(", "))]
    Unsupported {
        /// Scenario.
        scenario: String,
        /// Backend asked for.
        backend: String,
        /// Backends it supports.
        supported: Vec<String>,
    },
    /// A parameter was wrong.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The backend failed to set up (e.g. could not bind a socket).
    #[error("backend setup failed: {0}")]
    Setup(String),
    /// `--schedule` for a scenario whose faults are not a schedule.
    #[error("scenario {name} does not take a fault schedule (--schedule); scenarios that do: {}", takes.join(", "))]
    NoSchedule {
        /// The scenario (and, where it matters, the backend) asked for.
        name: String,
        /// The scenarios that do take one: filled in by the catalogue, which knows them all
        /// ([`RunError::no_schedule`] leaves it empty).
        takes: Vec<String>,
    },
    /// A run that needs a cargo feature this build lacks.
    #[error("{what} needs the `{feature}` cargo feature: rebuild with `cargo build --release --features {feature}` ({needs})")]
    NeedsFeature {
        /// What was asked for.
        what: String,
        /// The feature.
        feature: &'static str,
        /// What building with it needs.
        needs: &'static str,
    },
    /// The fault schedule does not fit the scenario.
    #[error("fault schedule: {0}")]
    Schedule(#[from] ScheduleError),
}

impl RunError {
    /// [`RunError::NoSchedule`] for `name`, before the catalogue lists the scenarios that do
    /// take a schedule.
    pub fn no_schedule(name: impl Into<String>) -> RunError {
        RunError::NoSchedule {
            name: name.into(),
            takes: Vec::new(),
        }
    }

    /// Usage errors (exit code 2) versus run failures.
    pub fn is_usage(&self) -> bool {
        !matches!(self, RunError::Setup(_))
    }
}

/// A runnable scenario.
pub trait Scenario: Sync {
    /// CLI name.
    fn name(&self) -> &'static str;
    /// One line for `testbed list`.
    fn summary(&self) -> &'static str;
    /// Declared parameters.
    fn params(&self) -> &'static [ParamSpec];
    /// Backends it runs on.
    fn backends(&self) -> &'static [Backend];
    /// Runs once. Invariant failures are reported in the outcome, not as errors.
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError>;
    /// Swarm testing: the hosts and fault ranges this scenario draws its schedule from, for
    /// these parameters. `None` (the default): its faults are not a [`FaultSchedule`].
    fn swarm(&self, _params: &Params) -> Option<SwarmSpec> {
        None
    }
    /// The fault schedule the run of `seed` uses (drawn from the seed), when it has one.
    fn fault_schedule(&self, _seed: u64, _params: &Params) -> Option<FaultSchedule> {
        None
    }
    /// Runs once with `schedule` instead of the faults drawn from the seed (replay and
    /// shrinking). The default refuses with [`RunError::NoSchedule`].
    fn run_with_schedule(
        &self,
        _ctx: &RunCtx<'_>,
        _schedule: &FaultSchedule,
    ) -> Result<Outcome, RunError> {
        Err(RunError::no_schedule(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip_and_unknown_ones_are_typed_errors() {
        for name in ["sim", "kernel", "uring", "xdp"] {
            assert_eq!(name.parse::<Backend>().unwrap().name(), name);
        }
        assert_eq!(
            "netmap".parse::<Backend>(),
            Err(RunError::UnknownBackend("netmap".into()))
        );
    }

    #[test]
    fn dpdk_parses_only_in_a_build_with_the_feature() {
        let parsed = "dpdk".parse::<Backend>();
        if cfg!(feature = "dpdk") {
            assert_eq!(parsed, Ok(Backend::Dpdk));
        } else {
            let e = parsed.unwrap_err();
            assert_eq!(e, RunError::BackendNotBuilt("dpdk".into()));
            assert!(e.to_string().contains("--features dpdk"), "{e}");
            assert!(e.is_usage());
        }
    }
}
