//! UDP on the stack: one smoltcp UDP socket per bound [`StackDatagram`], with bounded
//! payload and datagram-count buffers each way. Datagrams larger than one frame are refused
//! (`InvalidInput`, as EMSGSIZE): the stack does not fragment.

use crate::stack::Inner;
use crate::tcp::{local_ip_ok, pick_port};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::task::{Context, Poll};
use testbed_model::BindError;

/// IPv4 + UDP header bytes.
const HEADERS: usize = 28;

pub(crate) fn bind(inner: &Rc<Inner>, addr: SocketAddr) -> Result<StackDatagram, BindError> {
    let mut core = inner.core.borrow_mut();
    let core = &mut *core;
    let ip = local_ip_ok(core, addr.ip())?;
    let port = match addr.port() {
        0 => {
            let used = &core.udp_ports;
            pick_port(&mut core.port_rng, core.cfg.ephemeral_ports, |p| {
                used.contains(&p)
            })
            .ok_or(BindError::AddrNotAvailable)?
        }
        p if core.udp_ports.contains(&p) => return Err(BindError::AddrInUse),
        p => p,
    };
    let meta = || vec![udp::PacketMetadata::EMPTY; core.cfg.udp_datagrams_max];
    let mut s = udp::Socket::new(
        udp::PacketBuffer::new(meta(), vec![0; core.cfg.udp_buffer_bytes]),
        udp::PacketBuffer::new(meta(), vec![0; core.cfg.udp_buffer_bytes]),
    );
    let ep = IpListenEndpoint {
        addr: ip.map(IpAddress::Ipv4),
        port,
    };
    s.bind(ep).map_err(|e| BindError::Io {
        kind: io::ErrorKind::InvalidInput,
        message: e.to_string(),
    })?;
    let handle = core.sockets.add(s);
    core.udp_ports.insert(port);
    let max = core
        .ip_mtu
        .saturating_sub(HEADERS)
        .min(core.cfg.udp_buffer_bytes);
    Ok(StackDatagram {
        inner: inner.clone(),
        handle,
        local: SocketAddr::new(addr.ip(), port),
        max_datagram: max,
    })
}

/// A bound UDP socket on a [`crate::Stack`].
pub struct StackDatagram {
    inner: Rc<Inner>,
    handle: SocketHandle,
    local: SocketAddr,
    max_datagram: usize,
}

impl std::fmt::Debug for StackDatagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackDatagram")
            .field("local", &self.local)
            .finish()
    }
}

impl testbed_model::DatagramSocket for StackDatagram {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn max_datagram_size(&self) -> usize {
        self.max_datagram
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        if buf.len() > self.max_datagram {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "datagram of {} bytes exceeds {} (no fragmentation)",
                    buf.len(),
                    self.max_datagram
                ),
            )));
        }
        let IpAddr::V4(ip) = target.ip() else {
            return Poll::Ready(Err(io::ErrorKind::AddrNotAvailable.into()));
        };
        if ip.is_unspecified() || target.port() == 0 {
            return Poll::Ready(Err(io::ErrorKind::InvalidInput.into()));
        }
        let mut core = self.inner.core.borrow_mut();
        let s = core.sockets.get_mut::<udp::Socket>(self.handle);
        let to = IpEndpoint::new(IpAddress::Ipv4(ip), target.port());
        match s.send_slice(buf, to) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            Err(udp::SendError::BufferFull) => {
                s.register_send_waker(cx.waker());
                Poll::Pending
            }
            Err(_) => Poll::Ready(Err(io::ErrorKind::InvalidInput.into())),
        }
    }

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut core = self.inner.core.borrow_mut();
        let s = core.sockets.get_mut::<udp::Socket>(self.handle);
        match s.recv() {
            Ok((data, meta)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                let IpAddress::Ipv4(a) = meta.endpoint.addr;
                Poll::Ready(Ok((n, SocketAddr::new(IpAddr::V4(a), meta.endpoint.port))))
            }
            Err(_) => {
                s.register_recv_waker(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl Drop for StackDatagram {
    fn drop(&mut self) {
        if let Ok(mut core) = self.inner.core.try_borrow_mut() {
            core.sockets.remove(self.handle);
            core.udp_ports.remove(&self.local.port());
        }
    }
}
