//! TCP on the stack: listeners (a LISTEN socket per backlog slot, re-armed after accept, as
//! smoltcp has no accept queue), connect with an ephemeral port from a bounded range, and
//! streams implementing tokio's `AsyncRead + AsyncWrite`. Reads and writes touch socket
//! buffers only; the run loop's next smoltcp poll sends what they made possible.

use crate::device::Flow;
use crate::stack::{Core, Inner};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use testbed_model::{AcceptError, BindError, ConnectError, Duration, Rng, SeededRng};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A listening port's sockets (LISTEN, SYN-RECEIVED, or established and not yet accepted).
pub(crate) struct ListenerState {
    pub(crate) addr: SocketAddr,
    pub(crate) sockets: Vec<SocketHandle>,
    pub(crate) waker: Option<Waker>,
}

pub(crate) fn to_sockaddr(e: IpEndpoint) -> SocketAddr {
    let IpAddress::Ipv4(a) = e.addr;
    SocketAddr::new(IpAddr::V4(a), e.port)
}

pub(crate) fn smol_duration(d: Duration) -> smoltcp::time::Duration {
    smoltcp::time::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Established (or later) and not closed: an accept or connect has completed.
fn connected(state: tcp::State) -> bool {
    !matches!(
        state,
        tcp::State::Closed | tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived
    )
}

/// Whether `ip` is one this stack may bind: unspecified or its own address.
pub(crate) fn local_ip_ok(core: &Core, ip: IpAddr) -> Result<Option<Ipv4Addr>, BindError> {
    match ip {
        IpAddr::V4(a) if a.is_unspecified() => Ok(None),
        IpAddr::V4(a) if a == core.cfg.ip.address() => Ok(Some(a)),
        _ => Err(BindError::AddrNotAvailable),
    }
}

/// A free port of `range`, starting the search at a random point; `None` if all are taken.
pub(crate) fn pick_port(
    rng: &mut SeededRng,
    (lo, hi): (u16, u16),
    in_use: impl Fn(u16) -> bool,
) -> Option<u16> {
    let span = u32::from(hi) - u32::from(lo) + 1;
    let start = rng.below(u64::from(span)) as u32;
    (0..span)
        .map(|i| lo + ((start + i) % span) as u16)
        .find(|&p| !in_use(p))
}

impl Core {
    fn listen_socket(&mut self, addr: SocketAddr) -> SocketHandle {
        let mut s = self.new_tcp_socket();
        let ep = IpListenEndpoint {
            addr: match addr.ip() {
                IpAddr::V4(a) if !a.is_unspecified() => Some(IpAddress::Ipv4(a)),
                _ => None,
            },
            port: addr.port(),
        };
        // Port is non-zero (checked by `listen`), so smoltcp accepts the endpoint.
        let _ = s.listen(ep);
        s.set_timeout(Some(smol_duration(self.cfg.connect_timeout)));
        self.sockets.add(s)
    }

    fn tcp_port_in_use(&self, p: u16) -> bool {
        self.listeners.contains_key(&p) || self.tcp_ports.contains(&p)
    }

    /// Replaces a listener's dead slots (a half-open connection that timed out or was
    /// reset) with fresh LISTEN sockets; wakes the acceptor if a connection is ready.
    pub(crate) fn rearm_listener(&mut self, port: u16) {
        let Some(l) = self.listeners.get_mut(&port) else {
            return;
        };
        let (mut dead, mut ready) = (0, false);
        let sockets = &mut self.sockets;
        l.sockets
            .retain(|&h| match sockets.get::<tcp::Socket>(h).state() {
                tcp::State::Closed => {
                    sockets.remove(h);
                    dead += 1;
                    false
                }
                s => {
                    ready |= connected(s);
                    true
                }
            });
        if ready {
            if let Some(w) = l.waker.take() {
                w.wake();
            }
        }
        let addr = l.addr;
        for _ in 0..dead {
            let h = self.listen_socket(addr);
            if let Some(l) = self.listeners.get_mut(&port) {
                l.sockets.push(h);
            }
        }
    }
}

pub(crate) fn listen(inner: &Rc<Inner>, addr: SocketAddr) -> Result<StackListener, BindError> {
    let mut core = inner.core.borrow_mut();
    local_ip_ok(&core, addr.ip())?;
    let port = match addr.port() {
        0 => {
            let Core {
                port_rng,
                cfg,
                listeners,
                tcp_ports,
                ..
            } = &mut *core;
            pick_port(port_rng, cfg.ephemeral_ports, |p| {
                listeners.contains_key(&p) || tcp_ports.contains(&p)
            })
            .ok_or(BindError::AddrNotAvailable)?
        }
        p if core.tcp_port_in_use(p) => return Err(BindError::AddrInUse),
        p => p,
    };
    let bound = SocketAddr::new(addr.ip(), port);
    let sockets = (0..core.cfg.backlog)
        .map(|_| core.listen_socket(bound))
        .collect();
    core.listeners.insert(
        port,
        ListenerState {
            addr: bound,
            sockets,
            waker: None,
        },
    );
    Ok(StackListener {
        inner: inner.clone(),
        addr: bound,
    })
}

/// A listening TCP socket on a [`crate::Stack`].
pub struct StackListener {
    inner: Rc<Inner>,
    addr: SocketAddr,
}

impl std::fmt::Debug for StackListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackListener")
            .field("addr", &self.addr)
            .finish()
    }
}

impl testbed_model::Listener for StackListener {
    type Stream = StackStream;

    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(StackStream, SocketAddr), AcceptError>> {
        let mut core = self.inner.core.borrow_mut();
        let core = &mut *core;
        let port = self.addr.port();
        let Some(l) = core.listeners.get_mut(&port) else {
            return Poll::Ready(Err(AcceptError::Closed));
        };
        let sockets = &mut core.sockets;
        let pos = l
            .sockets
            .iter()
            .position(|&h| connected(sockets.get::<tcp::Socket>(h).state()));
        let Some(pos) = pos else {
            match &mut l.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        };
        let h = l.sockets.remove(pos);
        let s = sockets.get_mut::<tcp::Socket>(h);
        s.set_timeout(core.cfg.user_timeout.map(smol_duration));
        let (local, peer) = match (s.local_endpoint(), s.remote_endpoint()) {
            (Some(l), Some(r)) => (to_sockaddr(l), to_sockaddr(r)),
            _ => {
                // smoltcp keeps both endpoints while connected; should that change, the
                // socket is dropped and its slot re-armed rather than handed out half-known.
                s.abort();
                core.zombies.push((h, 0));
                let fresh = core.listen_socket(self.addr);
                if let Some(l) = core.listeners.get_mut(&port) {
                    l.sockets.push(fresh);
                }
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        };
        // Re-arm the slot.
        let fresh = core.listen_socket(self.addr);
        if let Some(l) = core.listeners.get_mut(&port) {
            l.sockets.push(fresh);
        }
        core.stats.accepted += 1;
        let stream = StackStream {
            inner: self.inner.clone(),
            handle: h,
            port: 0,
            local,
            peer,
        };
        Poll::Ready(Ok((stream, peer)))
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for StackListener {
    fn drop(&mut self) {
        let mut core = self.inner.core.borrow_mut();
        let Some(l) = core.listeners.remove(&self.addr.port()) else {
            return;
        };
        for h in l.sockets {
            let s = core.sockets.get_mut::<tcp::Socket>(h);
            if s.state() == tcp::State::Listen {
                core.sockets.remove(h);
            } else {
                s.abort();
                core.zombies.push((h, 0));
            }
        }
    }
}

/// Opens a connection: picks an ephemeral port, sends the SYN on the next poll and resolves
/// once established, refused (RST) or timed out.
pub(crate) async fn connect(
    inner: Rc<Inner>,
    addr: SocketAddr,
) -> Result<StackStream, ConnectError> {
    let IpAddr::V4(ip) = addr.ip() else {
        return Err(ConnectError::Unreachable);
    };
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || addr.port() == 0 {
        return Err(ConnectError::Unreachable);
    }
    let (handle, port) = {
        let mut core = inner.core.borrow_mut();
        let core = &mut *core;
        if !core.cfg.ip.contains_addr(&ip) && core.cfg.gateway.is_none() {
            return Err(ConnectError::Unreachable); // off-subnet, no gateway: no route
        }
        let port = pick_port(&mut core.port_rng, core.cfg.ephemeral_ports, |p| {
            core.listeners.contains_key(&p) || core.tcp_ports.contains(&p)
        })
        .ok_or(ConnectError::AddrNotAvailable)?;
        let mut s = core.new_tcp_socket();
        s.set_timeout(Some(smol_duration(core.cfg.connect_timeout)));
        let remote = IpEndpoint::new(IpAddress::Ipv4(ip), addr.port());
        s.connect(core.iface.context(), remote, port)
            .map_err(|_| ConnectError::Unreachable)?;
        let handle = core.sockets.add(s);
        core.tcp_ports.insert(port);
        (handle, port)
    };
    let mut pending = Connecting {
        inner,
        handle,
        port,
        flow: (port, ip, addr.port()),
        done: false,
    };
    std::future::poll_fn(|cx| pending.poll(cx)).await
}

struct Connecting {
    inner: Rc<Inner>,
    handle: SocketHandle,
    port: u16,
    flow: Flow,
    done: bool,
}

impl Connecting {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<StackStream, ConnectError>> {
        let mut core = self.inner.core.borrow_mut();
        let core = &mut *core;
        let s = core.sockets.get_mut::<tcp::Socket>(self.handle);
        match s.state() {
            tcp::State::SynSent | tcp::State::SynReceived => {
                s.register_send_waker(cx.waker());
                Poll::Pending
            }
            tcp::State::Closed => {
                self.done = true;
                core.sockets.remove(self.handle);
                core.tcp_ports.remove(&self.port);
                let refused = core.reset_by_peer.remove(&self.flow);
                Poll::Ready(Err(if refused {
                    ConnectError::Refused
                } else {
                    ConnectError::TimedOut
                }))
            }
            _ => {
                self.done = true;
                s.set_timeout(core.cfg.user_timeout.map(smol_duration));
                let local = s.local_endpoint().map(to_sockaddr);
                let peer = s.remote_endpoint().map(to_sockaddr);
                core.stats.connected += 1;
                match (local, peer) {
                    (Some(local), Some(peer)) => Poll::Ready(Ok(StackStream {
                        inner: self.inner.clone(),
                        handle: self.handle,
                        port: self.port,
                        local,
                        peer,
                    })),
                    _ => {
                        s.abort();
                        core.zombies.push((self.handle, self.port));
                        Poll::Ready(Err(ConnectError::Reset))
                    }
                }
            }
        }
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut core = self.inner.core.borrow_mut();
        core.sockets.get_mut::<tcp::Socket>(self.handle).abort();
        core.zombies.push((self.handle, self.port));
    }
}

/// A TCP connection on a [`crate::Stack`]. Dropping it closes it (FIN), or resets it (RST)
/// if unread data remains, as Linux does.
pub struct StackStream {
    inner: Rc<Inner>,
    handle: SocketHandle,
    /// The ephemeral port to free when the socket goes (0 for accepted sockets).
    port: u16,
    local: SocketAddr,
    peer: SocketAddr,
}

impl std::fmt::Debug for StackStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

impl StackStream {
    fn flow(&self) -> Option<Flow> {
        match self.peer.ip() {
            IpAddr::V4(a) => Some((self.local.port(), a, self.peer.port())),
            IpAddr::V6(_) => None,
        }
    }

    fn closed_error(&self, core: &Core) -> io::ErrorKind {
        if self.flow().is_some_and(|f| core.reset_by_peer.contains(&f)) {
            io::ErrorKind::ConnectionReset
        } else {
            io::ErrorKind::BrokenPipe
        }
    }
}

impl testbed_model::Stream for StackStream {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let mut core = self.inner.core.borrow_mut();
        core.sockets
            .get_mut::<tcp::Socket>(self.handle)
            .set_nagle_enabled(!nodelay);
        Ok(())
    }
    /// smoltcp probes after every `interval` of silence and aborts when the peer stays
    /// silent for `idle + interval × retries` (its one timeout, shared with the user timeout).
    fn set_keepalive(&self, keepalive: Option<testbed_model::Keepalive>) -> io::Result<()> {
        let mut core = self.inner.core.borrow_mut();
        let s = core.sockets.get_mut::<tcp::Socket>(self.handle);
        match keepalive {
            None => {
                s.set_keep_alive(None);
                s.set_timeout(None);
            }
            Some(k) => {
                let total = k.idle.saturating_add(k.interval.saturating_mul(k.retries));
                s.set_keep_alive(Some(smol_duration(k.interval)));
                s.set_timeout(Some(smol_duration(total)));
            }
        }
        Ok(())
    }
    /// smoltcp's socket timeout: the peer silent this long with data unacknowledged aborts.
    fn set_user_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        let mut core = self.inner.core.borrow_mut();
        core.sockets
            .get_mut::<tcp::Socket>(self.handle)
            .set_timeout(timeout.map(smol_duration));
        Ok(())
    }
    /// smoltcp has no linger: `Unsupported`.
    fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        let _ = linger;
        Err(testbed_model::net::unsupported(
            "SO_LINGER on the smoltcp stack",
        ))
    }
}

impl AsyncRead for StackStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut core = self.inner.core.borrow_mut();
        let s = core.sockets.get_mut::<tcp::Socket>(self.handle);
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if s.can_recv() {
            let n = s.recv_slice(buf.initialize_unfilled()).unwrap_or(0);
            buf.advance(n);
            return Poll::Ready(Ok(()));
        }
        if s.may_recv() {
            s.register_recv_waker(cx.waker());
            return Poll::Pending;
        }
        if s.state() == tcp::State::Closed
            && self.closed_error(&core) == io::ErrorKind::ConnectionReset
        {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Poll::Ready(Ok(())) // EOF
    }
}

impl AsyncWrite for StackStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut core = self.inner.core.borrow_mut();
        let s = core.sockets.get_mut::<tcp::Socket>(self.handle);
        if !s.may_send() {
            let kind = if s.state() == tcp::State::Closed {
                self.closed_error(&core)
            } else {
                io::ErrorKind::BrokenPipe
            };
            return Poll::Ready(Err(kind.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !s.can_send() {
            s.register_send_waker(cx.waker());
            return Poll::Pending;
        }
        Poll::Ready(Ok(s.send_slice(buf).unwrap_or(0)))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // bytes written are in the socket's buffer, as with a kernel
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut core = self.inner.core.borrow_mut();
        core.sockets.get_mut::<tcp::Socket>(self.handle).close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for StackStream {
    fn drop(&mut self) {
        let Ok(mut core) = self.inner.core.try_borrow_mut() else {
            return; // dropped from inside the stack (cannot happen: no callback holds one)
        };
        let s = core.sockets.get_mut::<tcp::Socket>(self.handle);
        if s.state() == tcp::State::Closed {
            core.sockets.remove(self.handle);
            if self.port != 0 {
                core.tcp_ports.remove(&self.port);
            }
            if let Some(f) = self.flow() {
                core.reset_by_peer.remove(&f);
            }
            return;
        }
        if s.recv_queue() > 0 {
            s.abort();
        } else {
            s.close();
        }
        core.zombies.push((self.handle, self.port));
    }
}
