//! One host's TCP/IP stack in packet fidelity: a smoltcp `Interface` and its sockets, driven
//! on the host's (skewed) clock. The simulator polls it when a frame arrives, when an
//! application touched a socket, and when smoltcp asks to be polled again (retransmission,
//! delayed ACK, TIME-WAIT); what it transmits goes through the host's egress filter onto
//! the links.

use super::device::SimDevice;
use crate::world::{Ev, HostId, World};
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::task::Waker;
use testbed_model::wire::{self, tcp_flags};
use testbed_model::{Duration, Instant};

/// A listening port: smoltcp has no accept queue, so a listener is a set of sockets, each in
/// LISTEN, SYN-RECEIVED or established and not yet accepted. One idle LISTEN socket is kept
/// ready while the queue (half-open plus unaccepted) is below the backlog.
pub(crate) struct PListener {
    pub(crate) addr: SocketAddr,
    pub(crate) sockets: Vec<SocketHandle>,
    pub(crate) waker: Option<Waker>,
    /// SYNs admitted since the last poll (each needs its own LISTEN socket).
    pub(crate) pending_syns: usize,
}

/// A flow as the host sees it: (local port, remote address, remote port).
pub(crate) type Flow = (u16, Ipv4Addr, u16);

/// Counters of one host's packet stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketStats {
    /// Frames the host transmitted (before its egress filter).
    pub frames_sent: u64,
    /// Frames that reached the host's stack (after its ingress filter).
    pub frames_received: u64,
    /// TCP segments the host sent again (sequence space it had sent before).
    pub retransmits: u64,
    /// SYNs dropped because a listener's queue was full.
    pub listen_queue_full: u64,
    /// TCP connections this host's listeners accepted.
    pub accepted: u64,
}

pub(crate) struct PacketStack {
    pub(crate) iface: Interface,
    pub(crate) sockets: SocketSet<'static>,
    pub(crate) dev: SimDevice,
    pub(crate) listeners: BTreeMap<u16, PListener>,
    /// Sockets the application closed, removed once smoltcp reaches CLOSED.
    pub(crate) zombies: Vec<(SocketHandle, u16)>,
    /// Highest sequence number sent per flow (to recognise retransmissions).
    sent_high: BTreeMap<Flow, u32>,
    /// Flows the peer reset (a read then fails with `ConnectionReset`, a connect with
    /// `Refused`).
    pub(crate) reset_by_peer: BTreeSet<Flow>,
    poll_gen: u64,
    poll_scheduled: Option<Instant>,
    pub(crate) stats: PacketStats,
    pub(crate) buffer_bytes: usize,
    /// Ephemeral ports of reaped client sockets, to return to the host.
    freed_ports: Vec<u16>,
    /// Most connections a listener queues (half-open plus unaccepted).
    pub(crate) backlog: usize,
    /// How long a half-open (SYN-RECEIVED) connection waits for the handshake's last ACK.
    pub(crate) half_open_timeout: Duration,
    /// How long an established connection with unacknowledged data waits for its peer.
    pub(crate) user_timeout: Duration,
}

/// The TCP parameters of a host's stack.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StackParams {
    pub(crate) mtu: usize,
    pub(crate) buffer_bytes: usize,
    pub(crate) backlog: usize,
    pub(crate) half_open_timeout: Duration,
    pub(crate) user_timeout: Duration,
}

/// smoltcp's clock reading for a host-local time (microseconds).
pub(crate) fn smol_time(local: Instant) -> SmolInstant {
    SmolInstant::from_micros((local.as_nanos() / 1000) as i64)
}

impl PacketStack {
    pub(crate) fn new(ip: Ipv4Addr, seed: u64, p: StackParams, now: Instant) -> Self {
        let mut dev = SimDevice::new(p.mtu);
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut dev, smol_time(now));
        iface.update_ip_addrs(|a| {
            // Prefix 0: every destination is on-link (the simulator routes by address, and
            // replies to spoofed sources must leave the host to be dropped on the way).
            a.push(IpCidr::new(IpAddress::Ipv4(ip), 0))
                .expect("room for 2 addresses");
            a.push(IpCidr::new(IpAddress::Ipv4(Ipv4Address::LOCALHOST), 8))
                .expect("room for 2 addresses");
        });
        PacketStack {
            iface,
            sockets: SocketSet::new(Vec::new()),
            dev,
            listeners: BTreeMap::new(),
            zombies: Vec::new(),
            sent_high: BTreeMap::new(),
            reset_by_peer: BTreeSet::new(),
            poll_gen: 0,
            poll_scheduled: None,
            stats: PacketStats::default(),
            buffer_bytes: p.buffer_bytes,
            freed_ports: Vec::new(),
            backlog: p.backlog,
            half_open_timeout: p.half_open_timeout,
            user_timeout: p.user_timeout,
        }
    }

    pub(crate) fn new_socket(&self) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.buffer_bytes]),
            tcp::SocketBuffer::new(vec![0; self.buffer_bytes]),
        );
        s.set_congestion_control(tcp::CongestionControl::Reno);
        s
    }

    pub(crate) fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    /// Housekeeping after smoltcp changed some socket's state: removes closed sockets the
    /// application let go of, drops timed-out or reset half-open sockets from listeners and
    /// wakes listeners with a connection to accept.
    fn after_state_change(&mut self) {
        let sockets = &mut self.sockets;
        let freed = &mut self.freed_ports;
        self.zombies.retain(|&(h, port)| {
            if sockets.get::<tcp::Socket>(h).state() == tcp::State::Closed {
                sockets.remove(h);
                if port != 0 {
                    freed.push(port);
                }
                false
            } else {
                true
            }
        });
        for l in self.listeners.values_mut() {
            let mut ready = false;
            l.sockets
                .retain(|&h| match sockets.get::<tcp::Socket>(h).state() {
                    tcp::State::Closed => {
                        sockets.remove(h);
                        false
                    }
                    tcp::State::Listen | tcp::State::SynReceived => true,
                    _ => {
                        ready = true;
                        true
                    }
                });
            if ready {
                if let Some(w) = l.waker.take() {
                    w.wake();
                }
            }
        }
    }

    /// Notes a transmitted TCP segment; returns whether it re-sends sequence space.
    ///
    /// Also repairs one smoltcp behaviour: after a retransmission timeout smoltcp rewinds
    /// its send sequence (go-back-N), and the pure ACKs it sends meanwhile carry that stale
    /// sequence number. A peer that already received beyond it finds such an ACK outside its
    /// window (RFC 9293 §3.10.7.4) and discards it, ACK field included; when both ends of a
    /// bidirectional transfer time out together, each discards the other's ACKs and the
    /// connection deadlocks. Like Linux (whose ACKs carry SND.NXT), a pure ACK here carries
    /// the highest sequence number sent on the flow.
    fn note_sent(&mut self, frame: &mut [u8]) -> bool {
        let Some(ip) = wire::ipv4(frame) else {
            return false;
        };
        let Some(t) = wire::tcp(frame, &ip) else {
            return false;
        };
        let flow = (t.src_port, ip.dst, t.dst_port);
        if t.flags & tcp_flags::RST != 0 {
            self.sent_high.remove(&flow);
            return false;
        }
        let len = t.seq_len();
        if len == 0 {
            if let Some(&high) = self.sent_high.get(&flow) {
                if (t.seq.wrapping_sub(high) as i32) < 0 {
                    frame[ip.l4 + 4..ip.l4 + 8].copy_from_slice(&high.to_be_bytes());
                    wire::fix_checksums(frame);
                }
            }
            return false;
        }
        let end = t.seq.wrapping_add(len);
        if self.sent_high.len() >= 1 << 16 && !self.sent_high.contains_key(&flow) {
            self.sent_high.clear(); // bounded memory; forgets old flows
        }
        match self.sent_high.get_mut(&flow) {
            Some(high) if (end.wrapping_sub(*high) as i32) <= 0 => true,
            Some(high) => {
                *high = end;
                false
            }
            None => {
                self.sent_high.insert(flow, end);
                false
            }
        }
    }
}

impl World {
    pub(crate) fn stack(&mut self, host: HostId) -> Option<&mut PacketStack> {
        self.hosts[host as usize].stack.as_deref_mut()
    }

    /// Asks for a poll of `host`'s stack at the current time (after an application call).
    pub(crate) fn request_poll(&mut self, host: HostId) {
        let now = self.now;
        let Some(st) = self.stack(host) else {
            return;
        };
        if st.poll_scheduled.is_some_and(|t| t <= now) {
            return;
        }
        st.poll_gen += 1;
        st.poll_scheduled = Some(now);
        let gen = st.poll_gen;
        self.schedule(now, Ev::StackPoll { host, gen });
    }

    pub(crate) fn on_stack_poll(&mut self, host: HostId, gen: u64) {
        match self.stack(host) {
            Some(st) if st.poll_gen == gen => st.poll_scheduled = None,
            _ => return,
        }
        self.stack_poll(host);
    }

    /// Runs smoltcp on `host`, sends what it transmitted and schedules the next poll.
    pub(crate) fn stack_poll(&mut self, host: HostId) {
        let local = self.local_time(host);
        let now = self.now;
        let ts = smol_time(local);
        let Some(st) = self.stack(host) else {
            return;
        };
        let changed =
            st.iface.poll(ts, &mut st.dev, &mut st.sockets) == PollResult::SocketStateChanged;
        for l in st.listeners.values_mut() {
            l.pending_syns = 0; // the SYNs admitted before this poll each found a socket
        }
        if changed {
            st.after_state_change();
        }
        let mut frames = std::mem::take(&mut st.dev.tx);
        let mut notes = Vec::new();
        for f in &mut frames {
            st.stats.frames_sent += 1;
            if st.note_sent(f) {
                st.stats.retransmits += 1;
                notes.push(f.len());
            }
        }
        let next = st.iface.poll_at(ts, &st.sockets);
        let freed = std::mem::take(&mut st.freed_ports);
        if st.reset_by_peer.len() > 1 << 16 {
            st.reset_by_peer.clear(); // bounded memory; forgets old resets
        }
        for port in freed {
            self.hosts[host as usize].ports_in_use.remove(&port);
        }
        for len in notes {
            self.record(
                crate::trace::Kind::SegmentRetransmit,
                crate::trace::DropReason::None,
                host,
                crate::world::NO_HOST,
                len as u64,
                0,
            );
        }
        for f in frames {
            self.send_frame(host, f, true);
        }
        if let Some(next) = next {
            let local_next =
                Instant::from_nanos((next.total_micros().max(0) as u64).saturating_mul(1000));
            let mut g = self.to_global(host, local_next);
            if g <= now {
                g = now + Duration::from_micros(1);
            }
            let Some(st) = self.stack(host) else {
                return;
            };
            if st.poll_scheduled.is_none_or(|t| g < t) {
                st.poll_gen += 1;
                st.poll_scheduled = Some(g);
                let gen = st.poll_gen;
                self.schedule(g, Ev::StackPoll { host, gen });
            }
        }
    }
}
