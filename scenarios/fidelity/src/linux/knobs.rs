//! The rows' socket knobs on a kernel stream: setsockopt through socket2 (the model's
//! `Stream` only knows TCP_NODELAY).

use crate::workload::{Knobs, StreamKnobs};
use socket2::{SockRef, TcpKeepalive};
use testbed_kernel::KernelStream;

impl StreamKnobs for KernelStream {
    fn apply_knobs(&self, knobs: &Knobs) -> Vec<&'static str> {
        let sock = SockRef::from(self.tcp());
        let mut refused = Vec::new();
        if let Some(t) = knobs.user_timeout {
            if sock.set_tcp_user_timeout(Some(t)).is_err() {
                refused.push("TCP_USER_TIMEOUT");
            }
        }
        if let Some((idle, interval, probes)) = knobs.keepalive {
            let ka = TcpKeepalive::new()
                .with_time(idle)
                .with_interval(interval)
                .with_retries(probes);
            if sock.set_tcp_keepalive(&ka).is_err() {
                refused.push("keepalive");
            }
        }
        // The kernel backend turns TCP_NODELAY on for every stream; a row without it wants
        // Nagle back.
        if sock.set_tcp_nodelay(knobs.nodelay).is_err() {
            refused.push("TCP_NODELAY");
        }
        refused
    }
}
