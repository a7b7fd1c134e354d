//! TCP in packet fidelity: the `model::Net` stream calls (listen, accept, connect, read,
//! write, shutdown, close) on smoltcp sockets. Reads and writes only touch socket buffers and
//! ask for a stack poll; segments, ACKs, retransmissions and window updates come out of the
//! poll.

use super::stack::{Flow, PListener, PacketStack};
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
    fn live_stack(&mut self, host: HostId, incarnation: u64) -> Option<&mut PacketStack> {
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
        let user_timeout = st.user_timeout;
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
        s.set_timeout(Some(smoltcp::time::Duration::from_micros(
            user_timeout.as_micros() as u64,
        )));
        let (local, peer) = (
            to_sockaddr(s.local_endpoint().expect("connected")),
            to_sockaddr(s.remote_endpoint().expect("connected")),
        );
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
        let user_timeout = st.user_timeout;
        let s = st.tcp(p.handle);
        match s.state() {
            tcp::State::SynSent | tcp::State::SynReceived => {
                s.register_send_waker(cx.waker());
                Poll::Pending
            }
            tcp::State::Closed => {
                let refused = st.reset_by_peer.iter().any(|f| f.0 == p.port);
                Poll::Ready(Err(if refused {
                    ConnectError::Refused
                } else {
                    ConnectError::TimedOut
                }))
            }
            _ => {
                s.set_timeout(Some(smoltcp::time::Duration::from_micros(
                    user_timeout.as_micros() as u64,
                )));
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
        let flow = flow_of(s);
        if s.state() == tcp::State::Closed && flow.is_some_and(|f| st.reset_by_peer.contains(&f)) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Poll::Ready(Ok(())) // EOF
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
        let s = st.tcp(p.handle);
        if !s.may_send() {
            let kind = if s.state() == tcp::State::Closed {
                io::ErrorKind::ConnectionReset
            } else {
                io::ErrorKind::BrokenPipe
            };
            return Poll::Ready(Err(kind.into()));
        }
        if !s.can_send() {
            s.register_send_waker(cx.waker());
            return Poll::Pending;
        }
        let n = s.send_slice(buf).unwrap_or(0);
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
        st.tcp(p.handle).close();
        self.request_poll(p.host);
        Ok(())
    }

    /// The application dropped its handle: close (FIN) or, with unread data, abort (RST, as
    /// Linux does); the socket is removed once smoltcp reaches CLOSED.
    pub(crate) fn pkt_close(&mut self, p: PSock) {
        let Some(st) = self.live_stack(p.host, p.incarnation) else {
            return;
        };
        let s = st.tcp(p.handle);
        if s.state() == tcp::State::Closed {
            st.sockets.remove(p.handle);
            if p.port != 0 {
                st.reset_by_peer.retain(|f| f.0 != p.port);
                self.hosts[p.host as usize].ports_in_use.remove(&p.port);
            }
            return;
        }
        if s.recv_queue() > 0 {
            s.abort();
        } else {
            s.close();
        }
        st.zombies.push((p.handle, p.port));
        self.request_poll(p.host);
    }
}

/// The model's stream options on a smoltcp socket, at the API boundary: Nagle, keepalive
/// (smoltcp probes every `interval` of silence and aborts after `idle + interval × retries`
/// of it, its one timeout shared with the user timeout; `None` restores the host-wide
/// `SimConfig::tcp_user_timeout`) and the user timeout; smoltcp has no linger.
impl World {
    fn pkt_socket(&mut self, p: PSock) -> io::Result<&mut tcp::Socket<'static>> {
        match self.live_stack(p.host, p.incarnation) {
            Some(st) => Ok(st.tcp(p.handle)),
            None => Err(io::ErrorKind::ConnectionReset.into()),
        }
    }

    pub(crate) fn pkt_set_nodelay(&mut self, p: PSock, nodelay: bool) -> io::Result<()> {
        self.pkt_socket(p)?.set_nagle_enabled(!nodelay);
        self.request_poll(p.host);
        Ok(())
    }

    pub(crate) fn pkt_set_keepalive(
        &mut self,
        p: PSock,
        ka: Option<testbed_model::Keepalive>,
    ) -> io::Result<()> {
        let default = smol_duration(self.cfg.tcp_user_timeout);
        let s = self.pkt_socket(p)?;
        match ka {
            None => {
                s.set_keep_alive(None);
                s.set_timeout(Some(default));
            }
            Some(k) => {
                let total = k.idle.saturating_add(k.interval.saturating_mul(k.retries));
                s.set_keep_alive(Some(smol_duration(k.interval)));
                s.set_timeout(Some(smol_duration(total)));
            }
        }
        self.request_poll(p.host);
        Ok(())
    }

    pub(crate) fn pkt_set_user_timeout(
        &mut self,
        p: PSock,
        t: Option<std::time::Duration>,
    ) -> io::Result<()> {
        let t = t.unwrap_or(self.cfg.tcp_user_timeout);
        self.pkt_socket(p)?.set_timeout(Some(smol_duration(t)));
        self.request_poll(p.host);
        Ok(())
    }

    pub(crate) fn pkt_set_linger(
        &mut self,
        p: PSock,
        linger: Option<std::time::Duration>,
    ) -> io::Result<()> {
        let _ = (p, linger);
        Err(testbed_model::net::unsupported(
            "SO_LINGER in packet fidelity (smoltcp)",
        ))
    }
}

fn smol_duration(d: std::time::Duration) -> smoltcp::time::Duration {
    smoltcp::time::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
