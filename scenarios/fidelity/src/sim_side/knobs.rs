//! What the simulator does with a row's socket knobs: it has no per-socket user timeout or
//! keepalive, and `set_nodelay` is a no-op (stream fidelity has no Nagle; packet fidelity's
//! smoltcp sockets keep Nagle on).

use crate::workload::{Knobs, StreamKnobs};
use testbed_sim::SimStream;

impl StreamKnobs for SimStream {
    fn apply_knobs(&self, knobs: &Knobs) -> Vec<&'static str> {
        let mut unapplied = Vec::new();
        if knobs.nodelay {
            unapplied.push("TCP_NODELAY");
        }
        if knobs.user_timeout.is_some() {
            unapplied.push("TCP_USER_TIMEOUT");
        }
        if knobs.keepalive.is_some() {
            unapplied.push("SO_KEEPALIVE");
        }
        unapplied
    }
}
