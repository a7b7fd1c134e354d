//! What the simulator does with a row's socket knobs: TCP_NODELAY on every stream (packet
//! fidelity: smoltcp's Nagle; stream fidelity has none, a no-op), and in packet fidelity the
//! per-socket user timeout and keepalive. Stream fidelity reports those as not applied.

use crate::workload::{Knobs, StreamKnobs};
use testbed_model::Stream;
use testbed_sim::SimStream;

impl StreamKnobs for SimStream {
    fn apply_knobs(&self, knobs: &Knobs) -> Vec<&'static str> {
        let mut unapplied = Vec::new();
        if self.set_nodelay(knobs.nodelay).is_err() {
            unapplied.push("TCP_NODELAY");
        }
        if knobs.user_timeout.is_some() && self.set_packet_user_timeout(knobs.user_timeout).is_err()
        {
            unapplied.push("TCP_USER_TIMEOUT");
        }
        if knobs.keepalive.is_some() && self.set_packet_keepalive(knobs.keepalive).is_err() {
            unapplied.push("SO_KEEPALIVE");
        }
        unapplied
    }
}
