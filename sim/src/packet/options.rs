//! Stream options in packet fidelity: TCP_NODELAY (smoltcp's Nagle), TCP_USER_TIMEOUT and
//! keepalive (smoltcp's timeout and keep-alive, armed as `conn` describes) and SO_LINGER 0
//! (dropping the socket aborts it with RST). The model's `Stream` setters route here for
//! packet-fidelity streams.

use super::conn::Keepalive;
use super::PSock;
use crate::world::World;
use smoltcp::socket::tcp;
use testbed_model::Duration;

impl World {
    /// Changes one option of `p`'s connection and applies the result to its socket. A socket
    /// whose host crashed or that the application no longer holds takes no options.
    fn pkt_option(&mut self, p: PSock, set: impl FnOnce(&mut super::conn::Conn)) {
        let Some(st) = self.live_stack(p.host, p.incarnation) else {
            return;
        };
        let Some(c) = st.conns.get_mut(p.handle) else {
            return;
        };
        set(c);
        let s = st.sockets.get_mut::<tcp::Socket>(p.handle);
        st.conns.apply(p.handle, s);
        self.request_poll(p.host); // a keep-alive timer may start
    }

    /// TCP_NODELAY: `true` turns Nagle's algorithm off (the default), `false` on.
    pub(crate) fn pkt_set_nodelay(&mut self, p: PSock, nodelay: bool) {
        self.pkt_option(p, |c| c.nagle = !nodelay);
    }

    /// TCP_USER_TIMEOUT (`None`: the host's `SimConfig::tcp_user_timeout`).
    pub(crate) fn pkt_set_user_timeout(&mut self, p: PSock, t: Option<Duration>) {
        self.pkt_option(p, |c| c.user_timeout = t);
    }

    /// SO_KEEPALIVE with (idle, interval, probes); `None`: off. smoltcp has one keep-alive
    /// interval: probes go out after `idle` of silence and again every `idle`, and the
    /// connection times out after `idle + interval × probes` of silence, as on Linux.
    pub(crate) fn pkt_set_keepalive(&mut self, p: PSock, k: Option<Keepalive>) {
        self.pkt_option(p, |c| c.keepalive = k);
    }

    /// SO_LINGER: `Some(0)` makes dropping the socket reset the connection; other values
    /// close it normally.
    pub(crate) fn pkt_set_linger(&mut self, p: PSock, linger: Option<Duration>) {
        self.pkt_option(p, |c| c.linger_zero = linger == Some(Duration::ZERO));
    }
}
