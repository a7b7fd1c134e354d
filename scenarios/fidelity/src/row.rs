//! The row contract: what one behaviour measured on one target looks like, and how a
//! simulator value is judged against Linux's.

use serde::Serialize;

/// Where a row is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Real Linux TCP/UDP between network namespaces (needs root).
    Linux,
    /// The simulator, stream fidelity.
    Stream,
    /// The simulator, packet fidelity (smoltcp per host).
    Packet,
}

impl Target {
    /// Every target, in table order.
    pub const ALL: [Target; 3] = [Target::Linux, Target::Stream, Target::Packet];
    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Linux => "linux",
            Target::Stream => "stream",
            Target::Packet => "packet",
        }
    }
}

/// One measurement of one row on one target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Obs {
    /// The number in the row's unit (`None`: not measured; `detail` says why).
    pub value: Option<f64>,
    /// The observed outcome class where the row has one ("ETIMEDOUT", "ECONNRESET", "EOF",
    /// "EPIPE", "ok", "refused", …); empty when the row is purely numeric.
    pub outcome: String,
    /// One line on what was seen (error text, counts, distribution).
    pub detail: String,
}

/// How a simulator target compares with Linux on a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within the row's tolerance of Linux.
    Matches,
    /// Stricter than Linux (a test that passes in the sim also passes on Linux): allowed.
    Harsher,
    /// Forgives what Linux punishes (or does not model it and lets a test pass): a failure.
    Kinder,
    /// Not measured on this target or on Linux (the detail says why).
    NotRun,
}

/// The rows of the suite; `name()` is the stable key used by `--only` and in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RowId {
    /// 1. Echo across a 10 s partition of an established connection: heal → answer (s).
    PartitionHeal10s,
    /// 2. The same with a 30 s partition.
    PartitionHeal30s,
    /// 3. Black hole with a pending write and TCP_USER_TIMEOUT = 5 s: time to error (s), kind.
    UserTimeout,
    /// 4. SYN to a partitioned address, 20 s connect timeout: SYN retransmission times, error.
    SynRetries,
    /// 5. Connect to a closed port: error kind and time (ms).
    ClosedPort,
    /// 6a. Peer process exits, nothing unread in its socket: what the other side reads.
    PeerExitClean,
    /// 6b. Peer process exits with unread data in its socket: what the other side reads.
    PeerExitUnread,
    /// 7. Peer host crash + restart, then the survivor writes: error kind and when (s).
    CrashRestart,
    /// 8. Write after the peer closed: first write result, second write error.
    WriteAfterClose,
    /// 9. Listen backlog 8, 64 clients at once: connected count, connect-time distribution.
    Backlog,
    /// 10. Short connections from one client address to one port, client closes first:
    ///     count before EADDRNOTAVAIL.
    TimeWait,
    /// 11. Write-write-read at 20 ms RTT without TCP_NODELAY: added latency (ms).
    Nagle,
    /// 11b. The same with TCP_NODELAY.
    NoDelay,
    /// 12a. Bulk transfer at 10 Mbit/s, 40 ms RTT, 0 % loss: goodput (Mbit/s).
    Bulk0,
    /// 12b. The same at 1 % loss.
    Bulk1,
    /// 13. Keepalive (idle 1 s, interval 1 s, 3 probes) against a silently dead peer (s).
    Keepalive,
    /// 14a. UDP over a 1 % loss link: fraction of 10,000 datagrams dropped.
    UdpLoss,
    /// 14b. A UDP datagram above the MTU: what send does.
    UdpOversize,
}

impl RowId {
    /// Every row, in table order.
    pub const ALL: &'static [RowId] = &[
        RowId::PartitionHeal10s,
        RowId::PartitionHeal30s,
        RowId::UserTimeout,
        RowId::SynRetries,
        RowId::ClosedPort,
        RowId::PeerExitClean,
        RowId::PeerExitUnread,
        RowId::CrashRestart,
        RowId::WriteAfterClose,
        RowId::Backlog,
        RowId::TimeWait,
        RowId::Nagle,
        RowId::NoDelay,
        RowId::Bulk0,
        RowId::Bulk1,
        RowId::Keepalive,
        RowId::UdpLoss,
        RowId::UdpOversize,
    ];

    /// The stable key (`--only`, JSON `name`).
    pub fn name(self) -> &'static str {
        match self {
            RowId::PartitionHeal10s => "partition-heal-10s",
            RowId::PartitionHeal30s => "partition-heal-30s",
            RowId::UserTimeout => "user-timeout",
            RowId::SynRetries => "syn-retries",
            RowId::ClosedPort => "closed-port",
            RowId::PeerExitClean => "peer-exit-clean",
            RowId::PeerExitUnread => "peer-exit-unread",
            RowId::CrashRestart => "crash-restart",
            RowId::WriteAfterClose => "write-after-close",
            RowId::Backlog => "backlog",
            RowId::TimeWait => "time-wait",
            RowId::Nagle => "nagle",
            RowId::NoDelay => "nodelay",
            RowId::Bulk0 => "bulk-0-loss",
            RowId::Bulk1 => "bulk-1-loss",
            RowId::Keepalive => "keepalive",
            RowId::UdpLoss => "udp-loss",
            RowId::UdpOversize => "udp-oversize",
        }
    }

    /// Looks a row up by its key.
    pub fn from_name(s: &str) -> Option<RowId> {
        RowId::ALL.iter().copied().find(|r| r.name() == s)
    }
}

/// One row of the table: the three observations and the verdict per simulator fidelity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowResult {
    /// The row's key.
    pub name: String,
    /// The unit of the values.
    pub unit: String,
    /// Linux's number (`null`: not run).
    pub linux: Option<f64>,
    /// Stream fidelity's number.
    pub stream: Option<f64>,
    /// Packet fidelity's number.
    pub packet: Option<f64>,
    /// The tolerance and its one-line justification.
    pub tolerance: String,
    /// Linux's outcome class ("ETIMEDOUT", "EOF", "ok", "not-run", …).
    pub outcome_linux: String,
    /// Stream fidelity's outcome class.
    pub outcome_stream: String,
    /// Packet fidelity's outcome class.
    pub outcome_packet: String,
    /// Stream fidelity against Linux.
    pub verdict_stream: Verdict,
    /// Packet fidelity against Linux.
    pub verdict_packet: Verdict,
    /// What each target saw (outcome classes, errors, distributions) and why a verdict is
    /// what it is.
    pub detail: String,
}
