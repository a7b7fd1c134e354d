//! TCP in packet fidelity: the `model::Net` stream calls (listen, accept, connect, read,
//! write, shutdown, close) on smoltcp sockets. Reads and writes only touch socket buffers and
//! ask for a stack poll; segments, ACKs, retransmissions and window updates come out of the
//! poll.

use super::conn::{Conn, End};
use super::stack::{Flow, PListener, PacketStack, ORPHAN_TIMEOUT};
use crate::world::{HostId, World};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::task::{Context, Poll};
use testbed_model::{AcceptError, BindError, ConnectError, Duration};
use tokio::io::ReadBuf;

/// A packet-fidelity socket as the application holds it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PSock {
    pub(crate) host: HostId,
    pub(crate) incarnation: u64,
    pub(crate) handle: SocketHandle,
    /// The ephemeral port to free when the socket goes (0 for accepted sockets).
    pub(crate) port: u16,
}

fn to_sockaddr(e: IpEndpoint) -> SocketAddr {
    let ip = match e.addr {
        IpAddress::Ipv4(a) => IpAddr::V4(a),
    };
    SocketAddr::new(ip, e.port)
}

fn v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

fn flow_of(s: &tcp::Socket<'_>) -> Option<Flow> {
    let (l, r) = (s.local_endpoint()?, s.remote_endpoint()?);
    let IpAddress::Ipv4(ra) = r.addr;
    Some((l.port, ra, r.port))
}

/// Established (or later) and not yet closed: an accept or connect is complete.
fn connected(state: tcp::State) -> bool {
    !matches!(
        state,
        tcp::State::Closed | tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived
    )
}

impl PacketStack {
    fn listen_socket(&mut self, addr: SocketAddr, half_open_timeout: Duration) -> SocketHandle {
        let mut s = self.new_socket();
        let ep = IpListenEndpoint {
            addr: v4(addr.ip())
                .filter(|a| !a.is_unspecified())
                .map(IpAddress::Ipv4),
            port: addr.port(),
        };
        s.listen(ep).expect("a valid port");
        s.set_timeout(Some(smoltcp::time::Duration::from_micros(
            half_open_timeout.as_micros() as u64,
        )));
        self.sockets.add(s)
    }

    /// Whether a SYN for `dst:port` from `flow` may reach the stack: keeps one idle LISTEN
    /// socket ready while the listener's queue is below its backlog, and refuses the SYN (as
    /// Linux drops it) when the queue is full.
    pub(crate) fn admit_syn(&mut self, dst: Ipv4Addr, port: u16, flow: Flow) -> bool {
        let Some(l) = self.listeners.get(&port) else {
            return true; // nobody listens: smoltcp answers RST
        };
        let ip = l.addr.ip();
        if !(ip.is_unspecified() || ip == IpAddr::V4(dst)) {
            return true;
        }
        let (mut idle, mut busy) = (0usize, 0usize);
        for &h in &l.sockets {
            let s = self.sockets.get::<tcp::Socket>(h);
            match s.state() {
                tcp::State::Listen => idle += 1,
                tcp::State::SynReceived if flow_of(s) == Some(flow) => return true, // a retransmitted SYN
                _ => busy += 1,
            }
        }
        // SYNs admitted since the last poll each need their own LISTEN socket.
        let pending = l.pending_syns;
        if busy + pending >= self.backlog {
            self.stats.listen_queue_full += 1;
            return false;
        }
        if idle <= pending {
            let (addr, t) = (l.addr, self.half_open_timeout);
            let h = self.listen_socket(addr, t);
            self.listeners
                .get_mut(&port)
                .expect("checked")
                .sockets
                .push(h);
        }
        self.listeners.get_mut(&port).expect("checked").pending_syns += 1;
        true
    }
}

impl World {
    pub(super) fn live_stack(
        &mut self,
        host: HostId,
        incarnation: u64,
    ) -> Option<&mut PacketStack> {
        let h = &mut self.hosts[host as usize];
        if !h.up || h.incarnation != incarnation {
            return None;
        }
        h.stack.as_deref_mut()
    }

    pub(crate) fn pkt_listen(
        &mut self,
        host: HostId,
        addr: SocketAddr,
    ) -> Result<SocketAddr, BindError> {
        if v4(addr.ip()).is_none() {
            return Err(BindError::AddrNotAvailable);
        }
        let h = &mut self.hosts[host as usize];
        let in_use = |h: &crate::world::HostState, p: u16| {
            h.stack
                .as_ref()
                .is_some_and(|s| s.listeners.contains_key(&p))
        };
        let port = match addr.port() {
            0 => h.ephemeral_port().ok_or(BindError::AddrNotAvailable)?,
            p if in_use(h, p) => return Err(BindError::AddrInUse),
            p => p,
        };
        h.ports_in_use.insert(port);
        let bound = SocketAddr::new(addr.ip(), port);
        let st = h.stack.as_deref_mut().ok_or(BindError::AddrNotAvailable)?;
        let t = st.half_open_timeout;
        let first = st.listen_socket(bound, t);
        st.listeners.insert(
            port,
            PListener {
                addr: bound,
                sockets: vec![first],
                waker: None,
                pending_syns: 0,
            },
        );
        Ok(bound)
    }

    pub(crate) fn pkt_close_listener(&mut self, host: HostId, incarnation: u64, port: u16) {
        let Some(st) = self.live_stack(host, incarnation) else {
            return;
        };
        let Some(l) = st.listeners.remove(&port) else {
            return;
        };
        for h in l.sockets {
            let s = st.tcp(h);
            if s.state() == tcp::State::Listen {
                st.sockets.remove(h);
            } else {
                s.abort();
                st.zombies.push((h, 0));
            }
        }
        self.hosts[host as usize].ports_in_use.remove(&port);
        self.request_poll(host);
    }

    #[allow(clippy::type_complexity)]
    pub(crate) fn pkt_accept(
        &mut self,
        host: HostId,
        incarnation: u64,
        port: u16,
        cx: &Context<'_>,
    ) -> Poll<Result<(PSock, SocketAddr, SocketAddr), AcceptError>> {
        let Some(st) = self.live_stack(host, incarnation) else {
            return Poll::Ready(Err(AcceptError::Closed));
        };
        let Some(l) = st.listeners.get_mut(&port) else {
            return Poll::Ready(Err(AcceptError::Closed));
        };
        let sockets = &mut st.sockets;
        let pos = l
            .sockets
            .iter()
            .position(|&h| connected(sockets.get::<tcp::Socket>(h).state()));
        let Some(pos) = pos else {
            super::super::stream::store_waker(&mut l.waker, cx);
            return Poll::Pending;
        };
        let h = l.sockets.remove(pos);
        let s = sockets.get_mut::<tcp::Socket>(h);
        let (local, peer) = (
            to_sockaddr(s.local_endpoint().expect("connected")),
            to_sockaddr(s.remote_endpoint().expect("connected")),
        );
        let flow = flow_of(s).expect("connected");
        st.conns.insert(h, Conn::new(flow));
        st.conns.apply(h, s);
        st.stats.accepted += 1;
        let sock = PSock {
            host,
            incarnation,
            handle: h,
            port: 0,
        };
        Poll::Ready(Ok((sock, local, peer)))
    }

    pub(crate) fn pkt_connect_start(
        &mut self,
        host: HostId,
        addr: SocketAddr,
    ) -> Result<PSock, ConnectError> {
        let ip = v4(addr.ip()).ok_or(ConnectError::Unreachable)?;
        let syn_budget = {
            let (rto, retries) = (self.cfg.syn_rto, self.cfg.syn_retries.min(20));
            rto * ((1u32 << (retries + 1)) - 1)
        };
        let h = &mut self.hosts[host as usize];
        let incarnation = h.incarnation;
        let port = h.ephemeral_port().ok_or(ConnectError::AddrNotAvailable)?;
        let st = h.stack.as_deref_mut().ok_or(ConnectError::Unreachable)?;
        let mut s = st.new_socket();
        s.set_timeout(Some(smoltcp::time::Duration::from_micros(
            syn_budget.as_micros() as u64,
        )));
        let remote = IpEndpoint::new(IpAddress::Ipv4(ip), addr.port());
        s.connect(st.iface.context(), remote, port)
            .map_err(|_| ConnectError::Unreachable)?;
        let handle = st.sockets.add(s);
        st.conns.insert(handle, Conn::new((port, ip, addr.port())));
        h.ports_in_use.insert(port);
        self.request_poll(host);
        Ok(PSock {
            host,
            incarnation,
            handle,
            port,
        })
    }

    pub(crate) fn pkt_poll_connect(
        &mut self,
        p: PSock,
        cx: &Context<'_>,
    ) -> Poll<Result<(SocketAddr, SocketAddr), ConnectError>> {
        let Some(st) = self.live_stack(p.host, p.incarnation) else {
            return Poll::Ready(Err(ConnectError::Reset));
        };
        let s = st.sockets.get_mut::<tcp::Socket>(p.handle);
        match s.state() {
            tcp::State::SynSent | tcp::State::SynReceived => {
                s.register_send_waker(cx.waker());
                Poll::Pending
            }
            tcp::State::Closed => {
                let refused = matches!(
                    st.conns.get(p.handle).and_then(|c| c.end),
                    Some(End::Reset { .. })
                );
                Poll::Ready(Err(if refused {
                    ConnectError::Refused
                } else {
                    ConnectError::TimedOut
                }))
            }
            _ => {
                st.conns.apply(p.handle, s);
                let local = s.local_endpoint().map(to_sockaddr);
                let peer = s.remote_endpoint().map(to_sockaddr);
                match (local, peer) {
                    (Some(l), Some(r)) => Poll::Ready(Ok((l, r))),
                    _ => Poll::Ready(Err(ConnectError::Reset)),
                }
            }
        }
    }

    pub(crate) fn pkt_read(
        &mut self,
        p: PSock,
        cx: &Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(st) = self.live_stack(p.host, p.incarnation) else {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        };
        let s = st.tcp(p.handle);
        if s.can_recv() {
            let n = s.recv_slice(buf.initialize_unfilled()).unwrap_or(0);
            buf.advance(n);
            let costs = &mut self.hosts[p.host as usize].costs;
            costs.syscall(1);
            costs.cpu_copy(n as u64);
            self.request_poll(p.host); // the window opened
            return Poll::Ready(Ok(()));
        }
        if s.may_recv() {
            s.register_recv_waker(cx.waker());
            return Poll::Pending;
        }
        if s.state() != tcp::State::Closed {
            return Poll::Ready(Ok(())); // EOF: the peer's FIN
        }
        // Linux reports a reset or timeout once; a reset after the peer's FIN reads as EOF.
        let kind = match st.conns.get_mut(p.handle) {
            Some(c) if !c.reported => match c.end {
                Some(End::Reset { after_fin: false }) => Some(io::ErrorKind::ConnectionReset),
                Some(End::TimedOut) => Some(io::ErrorKind::TimedOut),
                _ => None,
            }
            .inspect(|_| c.reported = true),
            _ => None,
        };
        Poll::Ready(kind.map_or(Ok(()), |k| Err(k.into())))
    }

    pub(crate) fn pkt_write(
        &mut self,
        p: PSock,
        cx: &Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Some(st) = self.live_stack(p.host, p.incarnation) else {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        };
        if st.conns.written.contains(&p.handle) {
            // Nagle is on and an earlier write of this instant is still queued: Linux would
            // have sent it in that write call, so send it now, before this one joins it.
            self.stack_poll(p.host);
        }
        let Some(st) = self.live_stack(p.host, p.incarnation) else {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        };
        let s = st.sockets.get_mut::<tcp::Socket>(p.handle);
        if !s.may_send() {
            // Linux reports a reset or timeout once, a reset after the peer's FIN as EPIPE;
            // writes after that, or after a shutdown, fail with EPIPE.
            let kind = match st.conns.get_mut(p.handle) {
                Some(c) if !c.reported && s.state() == tcp::State::Closed => {
                    c.reported = c.end.is_some();
                    match c.end {
                        Some(End::Reset { after_fin: false }) => io::ErrorKind::ConnectionReset,
                        Some(End::TimedOut) => io::ErrorKind::TimedOut,
                        _ => io::ErrorKind::BrokenPipe,
                    }
                }
                _ => io::ErrorKind::BrokenPipe,
            };
            return Poll::Ready(Err(kind.into()));
        }
        if !s.can_send() {
            s.register_send_waker(cx.waker());
            return Poll::Pending;
        }
        let n = s.send_slice(buf).unwrap_or(0);
        if n > 0 {
            st.conns.arm(p.handle, s);
            if st.conns.get(p.handle).is_some_and(|c| c.nagle) {
                st.conns.written.push(p.handle);
            }
        }
        let costs = &mut self.hosts[p.host as usize].costs;
        costs.syscall(1);
        costs.cpu_copy(n as u64);
        self.request_poll(p.host);
        Poll::Ready(Ok(n))
    }

    pub(crate) fn pkt_shutdown(&mut self, p: PSock) -> io::Result<()> {
        let Some(st) = self.live_stack(p.host, p.incarnation) else {
            return Err(io::ErrorKind::ConnectionReset.into());
        };
        let s = st.sockets.get_mut::<tcp::Socket>(p.handle);
        s.close();
        if let Some(c) = st.conns.get_mut(p.handle) {
            c.shut = true;
        }
        st.conns.arm(p.handle, s); // the FIN is unacknowledged
        self.request_poll(p.host);
        Ok(())
    }

    /// The application dropped its handle: close (FIN) or, with unread data or SO_LINGER 0,
    /// abort (RST, as Linux does); the socket is removed once smoltcp reaches CLOSED, or
    /// after its peer stays silent for Linux's orphan timeout.
    pub(crate) fn pkt_close(&mut self, p: PSock) {
        let Some(st) = self.live_stack(p.host, p.incarnation) else {
            return;
        };
        let linger_zero = st.conns.remove(p.handle).is_some_and(|c| c.linger_zero);
        let s = st.tcp(p.handle);
        if s.state() == tcp::State::Closed {
            st.sockets.remove(p.handle);
            if p.port != 0 {
                self.hosts[p.host as usize].ports_in_use.remove(&p.port);
            }
            return;
        }
        if s.recv_queue() > 0 || linger_zero {
            s.abort();
        } else {
            s.close();
        }
        s.set_timeout(Some(smoltcp::time::Duration::from_micros(
            ORPHAN_TIMEOUT.as_micros() as u64,
        )));
        st.zombies.push((p.handle, p.port));
        self.request_poll(p.host);
    }
}
