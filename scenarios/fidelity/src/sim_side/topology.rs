//! A row's simulator configuration from its [`Setup`](crate::workload::Setup): the link both
//! ways, the listen backlog, and the host-wide settings that stand in for socket knobs.

use super::RUN_LIMIT;
use crate::row::RowId;
use crate::workload::setup;
use testbed_model::Duration;
use testbed_sim::{Fidelity, Latency, LinkConfig, SimConfig};

/// The seed of every row's run (rows with loss draw from it; the rest draw nothing).
pub const SEED: u64 = 16;

/// The simulation config of `row` in `fidelity`.
pub(super) fn config(row: RowId, fidelity: Fidelity) -> SimConfig {
    let s = setup(row);
    let link = LinkConfig {
        latency: Latency::Fixed(Duration::from_nanos((s.rtt.as_nanos() / 2) as u64)),
        loss: s.loss,
        bandwidth: s.bandwidth,
        queue_bytes: s.queue_bytes,
        mtu: s.mtu,
        ..LinkConfig::default()
    };
    let mut cfg = SimConfig {
        seed: SEED,
        default_link: link,
        fidelity,
        time_limit: RUN_LIMIT,
        replay_hint: Some(format!(
            "testbed fidelity --targets {} --only {}",
            name(fidelity),
            row.name()
        )),
        ..SimConfig::default()
    };
    if row == RowId::TimeWait {
        // Packet fidelity keeps each closed client socket (and its buffers) through smoltcp's
        // TIME-WAIT; 30,000 connections with the default 64 KiB buffers would hold gigabytes.
        // The row sends no data, so small buffers change nothing it measures.
        cfg.tcp_buffer_bytes = 2048;
    }
    if let Some(b) = s.backlog {
        cfg.accept_backlog = b as usize;
    }
    cfg
}

/// What the simulator could not set up like Linux for `row` (empty: nothing).
pub(super) fn notes(row: RowId, fidelity: Fidelity) -> String {
    let s = setup(row);
    let mut n = Vec::new();
    if fidelity != Fidelity::Packet {
        if s.knobs.user_timeout.is_some() {
            n.push("stream fidelity has no user timeout");
        }
        if s.knobs.keepalive.is_some() {
            n.push("stream fidelity has no keepalive");
        }
    }
    n.join("; ")
}

fn name(f: Fidelity) -> &'static str {
    match f {
        Fidelity::Packet => "packet",
        _ => "stream",
    }
}
