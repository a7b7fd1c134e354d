//! One host's TCP/IP stack in packet fidelity: a smoltcp `Interface` and its sockets, driven
//! on the host's (skewed) clock. The simulator polls it when a frame arrives, when an
//! application touched a socket, and when smoltcp asks to be polled again (retransmission,
//! delayed ACK, TIME-WAIT); what it transmits goes through the host's egress filter onto
//! the links.

use super::conn::{smol, Conns};
use super::device::SimDevice;
use crate::world::{HostId, World};
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::task::Waker;
use testbed_model::ack_repair::{AckRepair, Sent};
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
pub(crate) use testbed_model::ack_repair::Flow;

/// Linux's delayed-ACK timeout (TCP_DELACK_MIN, 40 ms); smoltcp's default is 10 ms.
pub(crate) const DELAYED_ACK: Duration = Duration::from_millis(40);
/// How long a socket the application dropped waits for its peer (Linux's tcp_fin_timeout
/// for orphaned FIN-WAIT-2 sockets, 60 s).
pub(crate) const ORPHAN_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// Highest sequence number sent per flow (retransmissions, the stale-ACK repair).
    sent: AckRepair,
    /// The application's connections: options and how they ended.
    pub(crate) conns: Conns,
    pub(crate) stats: PacketStats,
    pub(crate) buffer_bytes: usize,
    /// Ephemeral ports of reaped client sockets, to return to the host.
    freed_ports: Vec<u16>,
    /// Most connections a listener queues (half-open plus unaccepted).
    pub(crate) backlog: usize,
    /// How long a half-open (SYN-RECEIVED) connection waits for the handshake's last ACK.
    pub(crate) half_open_timeout: Duration,
    /// Every socket's RTO bounds: (floor of the variance term and of the RTO, cap).
    rto: (Duration, Duration),
}

/// The TCP parameters of a host's stack.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StackParams {
    pub(crate) mtu: usize,
    pub(crate) buffer_bytes: usize,
    pub(crate) backlog: usize,
    pub(crate) half_open_timeout: Duration,
    pub(crate) user_timeout: Duration,
    /// Floor of the RTO's variance term and of the RTO (`SimConfig::min_rto`).
    pub(crate) rto_min: Duration,
    /// Cap of the RTO's backoff (`SimConfig::max_rto`).
    pub(crate) rto_max: Duration,
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
            sent: AckRepair::default(),
            conns: Conns::new(p.user_timeout),
            stats: PacketStats::default(),
            buffer_bytes: p.buffer_bytes,
            freed_ports: Vec::new(),
            backlog: p.backlog,
            half_open_timeout: p.half_open_timeout,
            rto: (p.rto_min, p.rto_max),
        }
    }

    pub(crate) fn new_socket(&self) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.buffer_bytes]),
            tcp::SocketBuffer::new(vec![0; self.buffer_bytes]),
        );
        s.set_congestion_control(tcp::CongestionControl::Reno);
        s.set_ack_delay(Some(smoltcp::time::Duration::from_micros(
            DELAYED_ACK.as_micros() as u64,
        )));
        // Streams start with TCP_NODELAY, as the kernel backends set it on every stream.
        s.set_nagle_enabled(false);
        // Linux's RTO: srtt + max(4·rttvar, rto_min), doubling up to rto_max (the vendored
        // smoltcp's setters; upstream clamps to [1 s, 60 s]).
        let (min, max) = self.rto;
        s.set_rto_bounds(smol(min), smol(max));
        s.set_rto_min_margin(smol(min));
        s
    }

    pub(crate) fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    /// Housekeeping after smoltcp changed some socket's state: removes closed sockets the
    /// application let go of and resets those that received data after it did (Linux
    /// answers data for a closed socket with RST), drops timed-out or reset half-open
    /// sockets from listeners and wakes listeners with a connection to accept.
    fn after_state_change(&mut self) {
        let sockets = &mut self.sockets;
        let freed = &mut self.freed_ports;
        self.zombies.retain(|&(h, port)| {
            let s = sockets.get_mut::<tcp::Socket>(h);
            if s.state() == tcp::State::Closed {
                sockets.remove(h);
                if port != 0 {
                    freed.push(port);
                }
                false
            } else {
                if s.recv_queue() > 0 {
                    s.abort(); // the RST leaves in the next poll (smoltcp polls it at once)
                }
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
}

impl World {
    pub(crate) fn stack(&mut self, host: HostId) -> Option<&mut PacketStack> {
        self.hosts[host as usize].stack.as_deref_mut()
    }

    /// Asks for a poll of `host`'s stack at the current time (after an application call).
    pub(crate) fn request_poll(&mut self, host: HostId) {
        let now = self.now;
        if self.stack(host).is_none() {
            return;
        }
        if self
            .events
            .pending_poll(host)
            .is_some_and(|(t, _)| t <= now)
        {
            return;
        }
        self.events.schedule_poll(host, now);
    }

    /// The poll scheduled for `host`'s stack is due.
    pub(crate) fn on_stack_poll(&mut self, host: HostId) {
        self.stack_poll(host);
    }

    /// `host`'s stack goes away (crash, restart): its pending poll passes as a no-op.
    pub(crate) fn cancel_stack_poll(&mut self, host: HostId) {
        self.events.cancel_poll(host);
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
        let mut rst_out = Vec::new();
        for f in &mut frames {
            st.stats.frames_sent += 1;
            match st.sent.on_transmit(f) {
                Sent::Retransmission => {
                    st.stats.retransmits += 1;
                    notes.push(f.len());
                }
                Sent::Reset(flow) => rst_out.push(flow),
                Sent::NotTcp | Sent::New | Sent::Ack | Sent::RepairedAck => {}
            }
        }
        st.conns.after_poll(&mut st.sockets, &rst_out);
        let next = st.iface.poll_at(ts, &st.sockets);
        let freed = std::mem::take(&mut st.freed_ports);
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
        for f in frames.drain(..) {
            self.send_frame(host, f, true);
        }
        if let Some(st) = self.stack(host) {
            if st.dev.tx.is_empty() {
                st.dev.tx = frames; // keep the list's allocation for the next poll
            }
        }
        if let Some(next) = next {
            let local_next =
                Instant::from_nanos((next.total_micros().max(0) as u64).saturating_mul(1000));
            let mut g = self.to_global(host, local_next);
            if g <= now {
                g = now + Duration::from_micros(1);
            }
            if self.stack(host).is_none() {
                return;
            }
            if self.events.pending_poll(host).is_none_or(|(t, _)| g < t) {
                self.events.schedule_poll(host, g);
            }
        }
    }
}
