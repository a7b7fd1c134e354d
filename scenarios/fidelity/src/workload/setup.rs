//! Each row's environment, shared by both sides: the link between client and server, the
//! server's listen backlog and the socket knobs the client sets.

use super::Knobs;
use crate::row::RowId;
use testbed_model::Duration;

/// The port the row's server listens on (stream and datagram).
pub const SERVER_PORT: u16 = 7000;
/// A port nothing listens on (the closed-port row connects to it).
pub const CLOSED_PORT: u16 = 7001;

/// A row's environment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setup {
    /// Round-trip time of the client–server path (half each way).
    pub rtt: Duration,
    /// Loss probability of each direction.
    pub loss: f64,
    /// Bottleneck bandwidth of each direction, bytes per second (`None`: unlimited).
    pub bandwidth: Option<u64>,
    /// Bytes the bottleneck queues before it drops (drop-tail), with `bandwidth`.
    pub queue_bytes: u64,
    /// Link MTU (IP packet, headers included).
    pub mtu: usize,
    /// The server's listen backlog (`None`: the backend's default).
    pub backlog: Option<u32>,
    /// Socket knobs the client sets on its stream.
    pub knobs: Knobs,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The environment of `row`.
pub fn setup(row: RowId) -> Setup {
    let base = Setup {
        rtt: ms(10),
        loss: 0.0,
        bandwidth: None,
        queue_bytes: 1 << 20,
        mtu: 1500,
        backlog: None,
        knobs: Knobs::default(),
    };
    match row {
        RowId::UserTimeout => Setup {
            knobs: Knobs {
                user_timeout: Some(Duration::from_secs(5)),
                ..Knobs::default()
            },
            ..base
        },
        RowId::Backlog => Setup {
            backlog: Some(8),
            ..base
        },
        // Fast connections so 30,000 of them take seconds on Linux, well inside TIME-WAIT.
        RowId::TimeWait => Setup {
            rtt: Duration::from_micros(200),
            ..base
        },
        RowId::Nagle => Setup {
            rtt: ms(20),
            ..base
        },
        RowId::NoDelay => Setup {
            rtt: ms(20),
            knobs: Knobs {
                nodelay: true,
                ..Knobs::default()
            },
            ..base
        },
        RowId::Bulk0 | RowId::Bulk1 => Setup {
            rtt: ms(40),
            loss: if row == RowId::Bulk1 { 0.01 } else { 0.0 },
            bandwidth: Some(10_000_000 / 8),
            // About two bandwidth-delay products (50 kB at 10 Mbit/s × 40 ms).
            queue_bytes: 100_000,
            ..base
        },
        RowId::Keepalive => Setup {
            knobs: Knobs {
                keepalive: Some(testbed_model::Keepalive {
                    idle: Duration::from_secs(1),
                    interval: Duration::from_secs(1),
                    retries: 3,
                }),
                ..Knobs::default()
            },
            ..base
        },
        RowId::UdpLoss => Setup { loss: 0.01, ..base },
        _ => base,
    }
}
