//! The rows' workloads, written once against `testbed-model`'s `Runtime` + `Net`: the Linux
//! side runs them on the kernel backend inside namespaces, the simulator side on sim hosts.
//! Faults come in through [`Faults`], implemented by the simulator side (sim `Control` verbs)
//! and by the Linux lab (nft rules, namespace re-creation).

/// Fault verbs a workload may call at the moment it chooses (synchronous: on Linux each is an
/// `nft`/`ip` command of a few milliseconds; in the simulator a `Control` call).
/// "client" is the host the workload runs on, "server" its peer.
pub trait Faults {
    /// Drops every packet between client and server, both ways.
    fn partition(&self);
    /// Drops packets from client to server only.
    fn partition_oneway(&self);
    /// Lifts every partition.
    fn heal(&self);
    /// State-destroying crash of the server host: its traffic is dropped, its process and
    /// sockets destroyed; it stays unreachable until [`Faults::restart_server`].
    fn crash_server(&self);
    /// Brings the crashed server host back with the same address and a fresh kernel (it
    /// answers RST for connections it does not know), and restarts its server process.
    fn restart_server(&self);
}

/// Socket knobs a row asks for on a stream (Linux: setsockopt; the simulator applies what it
/// models and the row reports what it does not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// TCP_USER_TIMEOUT.
    pub user_timeout: Option<testbed_model::Duration>,
    /// Keepalive: (idle, interval, probes).
    pub keepalive: Option<(testbed_model::Duration, testbed_model::Duration, u32)>,
    /// TCP_NODELAY.
    pub nodelay: bool,
}
