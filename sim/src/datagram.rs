//! Datagram (UDP) transport: each datagram is one packet subject to the link's loss,
//! duplication, reordering, bandwidth queue and MTU. Receive queues are bounded; a full queue
//! drops (and the trace says so).

use crate::host::{lock, Shared};
use crate::slab::Key;
use crate::trace::{DropReason, Kind};
use crate::world::{Ev, HostId, LinkState, Transit, World, NO_HOST};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

const UDP_HEADER_BYTES: usize = 28;

pub(crate) struct DatagramSock {
    pub(crate) host: HostId,
    pub(crate) incarnation: u64,
    pub(crate) addr: SocketAddr,
    queue: VecDeque<(Vec<u8>, SocketAddr)>,
    waker: Option<Waker>,
}

pub(crate) struct InFlightDatagram {
    src_host: HostId,
    dst_host: HostId,
    src: SocketAddr,
    dst_port: u16,
    data: Vec<u8>,
}

impl World {
    pub(crate) fn bind_datagram_sock(&mut self, host: HostId, addr: SocketAddr) -> Key {
        let incarnation = self.hosts[host as usize].incarnation;
        let key = self.dgram_socks.insert(DatagramSock {
            host,
            incarnation,
            addr,
            queue: VecDeque::new(),
            waker: None,
        });
        self.hosts[host as usize].datagrams.insert(addr.port(), key);
        key
    }

    pub(crate) fn close_datagram_sock(&mut self, key: Key) {
        let Some(s) = self.dgram_socks.remove(key) else {
            return;
        };
        let h = &mut self.hosts[s.host as usize];
        if h.datagrams.get(&s.addr.port()) == Some(&key) {
            h.datagrams.remove(&s.addr.port());
        }
    }

    fn sock_alive(&self, key: Key) -> Option<&DatagramSock> {
        let s = self.dgram_socks.get(key)?;
        let h = &self.hosts[s.host as usize];
        (h.up && h.incarnation == s.incarnation).then_some(s)
    }

    pub(crate) fn max_datagram(&self, host: HostId) -> usize {
        self.link(host, host)
            .cfg
            .max_datagram()
            .min(self.cfg.default_link.max_datagram())
    }

    pub(crate) fn datagram_send(
        &mut self,
        key: Key,
        data: &[u8],
        target: SocketAddr,
    ) -> io::Result<usize> {
        let Some(s) = self.sock_alive(key) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let (src_host, src) = (s.host, s.addr);
        let src = if src.ip().is_unspecified() {
            SocketAddr::new(self.hosts[src_host as usize].ip, src.port())
        } else {
            src
        };
        let Some(dst_host) = self.resolve(src_host, target.ip()) else {
            self.record(
                Kind::Drop,
                DropReason::NoSocket,
                src_host,
                NO_HOST,
                data.len() as u64,
                0,
            );
            return Ok(data.len());
        };
        if data.len() > self.link(src_host, dst_host).cfg.max_datagram() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message too long for the path MTU (EMSGSIZE)",
            ));
        }
        let src = if target.ip().is_loopback() {
            SocketAddr::new(target.ip(), src.port())
        } else {
            src
        };
        self.record(
            Kind::DatagramSend,
            DropReason::None,
            src_host,
            dst_host,
            data.len() as u64,
            target.port() as u64,
        );
        if self.cfg.fidelity == crate::Fidelity::Packet {
            // As a frame: filters, pcap and the link act on it like on any packet (the link
            // draws duplication itself).
            let (SocketAddr::V4(s4), SocketAddr::V4(t4)) = (src, target) else {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "packet fidelity carries IPv4 only",
                ));
            };
            let frame = testbed_model::wire::build_udp(s4, t4, data);
            let costs = &mut self.hosts[src_host as usize].costs;
            costs.syscall(1);
            costs.cpu_copy(data.len() as u64);
            self.send_frame(src_host, frame, true);
            return Ok(data.len());
        }
        self.trace.mix(crate::trace::content_hash(data));
        let copies = if self.link_mut(src_host, dst_host).duplicates() {
            self.record(
                Kind::Duplicate,
                DropReason::None,
                src_host,
                dst_host,
                data.len() as u64,
                0,
            );
            2
        } else {
            1
        };
        let costs = &mut self.hosts[src_host as usize].costs;
        costs.syscall(1);
        costs.cpu_copy(data.len() as u64);
        for _ in 0..copies {
            let d = InFlightDatagram {
                src_host,
                dst_host,
                src,
                dst_port: target.port(),
                data: data.to_vec(),
            };
            let dk = self.dgrams_in_flight.insert(d);
            self.put_datagram_on_link(dk);
        }
        Ok(data.len())
    }

    fn put_datagram_on_link(&mut self, dk: Key) {
        let d = self.dgrams_in_flight.get(dk).expect("in flight");
        let (src, dst, len) = (d.src_host, d.dst_host, d.data.len());
        let now = self.now;
        match self.link_mut(src, dst).transit(now, len + UDP_HEADER_BYTES) {
            Transit::Arrive(t) => self.schedule(t, Ev::Datagram(dk)),
            Transit::Dropped(r) => {
                self.dgrams_in_flight.remove(dk);
                self.record(Kind::Drop, r, src, dst, len as u64, 0);
            }
            Transit::Blocked(LinkState::Held) => self.link_mut(src, dst).held.push(dk),
            Transit::Blocked(_) => {
                self.dgrams_in_flight.remove(dk);
                self.record(Kind::Drop, DropReason::Partition, src, dst, len as u64, 0);
            }
        }
    }

    /// A held link was released: its datagrams go out now.
    pub(crate) fn release_datagram(&mut self, dk: Key) {
        self.put_datagram_on_link(dk);
    }

    pub(crate) fn on_datagram(&mut self, dk: Key) {
        let Some(d) = self.dgrams_in_flight.get(dk) else {
            return;
        };
        let (src, dst) = (d.src_host, d.dst_host);
        match self.link(src, dst).state {
            LinkState::Up => {}
            LinkState::Held => return self.link_mut(src, dst).held.push(dk),
            LinkState::Partitioned => {
                let d = self.dgrams_in_flight.remove(dk).expect("checked");
                return self.record(
                    Kind::Drop,
                    DropReason::Partition,
                    src,
                    dst,
                    d.data.len() as u64,
                    0,
                );
            }
        }
        let d = self.dgrams_in_flight.remove(dk).expect("checked");
        self.deliver_datagram(src, dst, d.src, d.dst_port, d.data);
    }

    /// Packet fidelity: a UDP frame reached `host`.
    pub(crate) fn udp_frame_arrived(
        &mut self,
        host: HostId,
        frame: &[u8],
        ip: &testbed_model::wire::Ipv4View,
        u: &testbed_model::wire::UdpView,
    ) {
        let from = SocketAddr::new(ip.src.into(), u.src_port);
        let data = frame[u.payload..u.payload + u.payload_len].to_vec();
        self.deliver_datagram(NO_HOST, host, from, u.dst_port, data);
    }

    fn deliver_datagram(
        &mut self,
        src: HostId,
        dst: HostId,
        from: SocketAddr,
        dst_port: u16,
        data: Vec<u8>,
    ) {
        let len = data.len() as u64;
        let h = &self.hosts[dst as usize];
        if !h.up {
            return self.record(Kind::Drop, DropReason::HostDown, src, dst, len, 0);
        }
        let Some(sk) = h.datagrams.get(&dst_port).copied() else {
            return self.record(
                Kind::Drop,
                DropReason::NoSocket,
                src,
                dst,
                len,
                dst_port as u64,
            );
        };
        let cap = self.cfg.datagram_queue;
        let s = self.dgram_socks.get_mut(sk).expect("bound socket");
        if s.queue.len() >= cap {
            return self.record(Kind::Drop, DropReason::ReceiveQueueFull, src, dst, len, 0);
        }
        s.queue.push_back((data, from));
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        self.record(
            Kind::DatagramDeliver,
            DropReason::None,
            src,
            dst,
            len,
            dst_port as u64,
        );
    }

    pub(crate) fn datagram_recv(
        &mut self,
        key: Key,
        cx: &Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        if self.sock_alive(key).is_none() {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        }
        let s = self.dgram_socks.get_mut(key).expect("checked");
        match s.queue.pop_front() {
            Some((data, from)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                let costs = &mut self.hosts[s.host as usize].costs;
                costs.syscall(1);
                costs.cpu_copy(n as u64);
                Poll::Ready(Ok((n, from)))
            }
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A simulated UDP socket.
pub struct SimDatagram {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: Key,
    pub(crate) addr: SocketAddr,
    pub(crate) host: HostId,
}

impl std::fmt::Debug for SimDatagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDatagram")
            .field("addr", &self.addr)
            .finish()
    }
}

impl testbed_model::DatagramSocket for SimDatagram {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    fn max_datagram_size(&self) -> usize {
        lock(&self.shared).max_datagram(self.host)
    }
    fn poll_send_to(
        &self,
        _cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(lock(&self.shared).datagram_send(self.key, buf, target))
    }
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        lock(&self.shared).datagram_recv(self.key, cx, buf)
    }
}

impl Drop for SimDatagram {
    fn drop(&mut self) {
        lock(&self.shared).close_datagram_sock(self.key);
    }
}
