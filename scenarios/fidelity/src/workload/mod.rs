//! The rows' workloads, written once against `testbed-model`'s `Runtime` + `Net`: the Linux
//! side runs them on the kernel backend inside namespaces, the simulator side on sim hosts.
//! Faults come in through [`Faults`], implemented by the simulator side (sim `Control` verbs)
//! and by the Linux lab (nft rules, namespace re-creation).
//!
//! Each row has a server half ([`serve`], run on the server host and again after a restart)
//! and a client half ([`run`], on the client host, returns the row's [`Obs`]). Every wait of
//! the client half has a deadline, so a target that never errors still ends the row.
//! The row's link, listen backlog and socket knobs are in [`setup`]: both sides apply them.

mod backlog;
mod bulk;
mod closed_port;
mod crash;
mod keepalive;
mod nagle;
mod outcome;
mod partition;
mod peer_exit;
mod servers;
mod setup;
mod syn;
mod time_wait;
mod udp;
mod user_timeout;
mod wait;
mod write_after_close;

pub use outcome::{classify, Class};
pub use servers::serve;
pub use setup::{setup, Setup, CLOSED_PORT, SERVER_PORT};

use crate::row::{Obs, RowId};
use std::net::IpAddr;
use testbed_model::{Net, Runtime, Stream};

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
    /// answers RST for connections it does not know), and restarts its server process
    /// ([`serve`] for the row).
    fn restart_server(&self);
}

/// Socket knobs a row asks for on a stream, set through the model's `Stream` options on
/// every target (Linux: setsockopt; the simulator: its own semantics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// TCP_USER_TIMEOUT.
    pub user_timeout: Option<testbed_model::Duration>,
    /// Keepalive: idle, interval, probes.
    pub keepalive: Option<testbed_model::Keepalive>,
    /// TCP_NODELAY.
    pub nodelay: bool,
}

/// Applies [`Knobs`] to a connected stream: TCP_NODELAY always (the backends start with it
/// on; a row without it wants Nagle back), the rest when asked for. Returns a note naming
/// each option the backend refused (empty: all applied), for the row's detail.
pub(crate) fn apply_knobs<S: Stream>(s: &S, knobs: &Knobs) -> String {
    let mut refused = Vec::new();
    if let Err(e) = s.set_nodelay(knobs.nodelay) {
        refused.push(format!("TCP_NODELAY: {e}"));
    }
    if let Some(t) = knobs.user_timeout {
        if let Err(e) = s.set_user_timeout(Some(t)) {
            refused.push(format!("TCP_USER_TIMEOUT: {e}"));
        }
    }
    if let Some(k) = knobs.keepalive {
        if let Err(e) = s.set_keepalive(Some(k)) {
            refused.push(format!("keepalive: {e}"));
        }
    }
    if refused.is_empty() {
        String::new()
    } else {
        format!(" (refused: {})", refused.join("; "))
    }
}

/// What the client half of a row gets.
pub struct Client<'a, R, N> {
    /// The client host's runtime (its clock measures every time the row reports).
    pub rt: R,
    /// The client host's network.
    pub net: N,
    /// The server host's address (it runs [`serve`] for the row on [`SERVER_PORT`]).
    pub server: IpAddr,
    /// The fault verbs.
    pub faults: &'a dyn Faults,
}

/// Runs the client half of `row` and returns what it observed.
pub async fn run<R, N>(row: RowId, cx: &Client<'_, R, N>) -> Obs
where
    R: Runtime,
    N: Net,
{
    let knobs = setup(row).knobs;
    match row {
        RowId::PartitionHeal10s => partition::run(cx, 10).await,
        RowId::PartitionHeal30s => partition::run(cx, 30).await,
        RowId::UserTimeout => user_timeout::run(cx, &knobs).await,
        RowId::SynRetries => syn::run(cx).await,
        RowId::ClosedPort => closed_port::run(cx).await,
        RowId::PeerExitClean => peer_exit::run(cx, false).await,
        RowId::PeerExitUnread => peer_exit::run(cx, true).await,
        RowId::CrashRestart => crash::run(cx).await,
        RowId::WriteAfterClose => write_after_close::run(cx).await,
        RowId::Backlog => backlog::run(cx).await,
        RowId::TimeWait => time_wait::run(cx).await,
        RowId::Nagle | RowId::NoDelay => nagle::run(cx, &knobs, setup(row).rtt).await,
        RowId::Bulk0 | RowId::Bulk1 => bulk::run(cx).await,
        RowId::Keepalive => keepalive::run(cx, &knobs).await,
        RowId::UdpLoss => udp::loss(cx).await,
        RowId::UdpOversize => udp::oversize(cx).await,
    }
}
