//! The stream handshake and listeners: connect (SYN with exponential retransmission),
//! SYN-ACK, the client's final ACK (which moves the connection from the listener's half-open
//! list to its accept queue), refusals (RST when nothing listens; a full backlog drops the SYN
//! and the client retries on Linux's SYN schedule: 1, 3, 7, 15, 31, 63 s, giving up at 127 s),
//! accept and listener close.

use crate::slab::Key;
use crate::stream::{store_waker, Conn, ConnState, End, Pipe, Seg, TCP_HEADER_BYTES};
use crate::stream_options::EndOpts;
use crate::trace::{DropReason, Kind};
use crate::world::{Ev, HostId, Transit, World};
use std::net::SocketAddr;
use std::task::{Context, Poll};
use testbed_model::{AcceptError, ConnectError};

/// SYN-ACK retransmissions for a completed handshake the full accept queue cannot take
/// (Linux's tcp_synack_retries).
const SYNACK_RETRIES: u32 = 5;

impl World {
    // ---- handshake -------------------------------------------------------------------

    pub(crate) fn connect_start(
        &mut self,
        host: HostId,
        target: SocketAddr,
    ) -> Result<Key, ConnectError> {
        let dst = self
            .resolve(host, target.ip())
            .ok_or(ConnectError::Unreachable)?;
        let now = self.now;
        let h = &mut self.hosts[host as usize];
        let port = h
            .ephemeral_port_to(target, now)
            .ok_or(ConnectError::AddrNotAvailable)?;
        h.ports_in_use.insert(port);
        let local = SocketAddr::new(
            if target.ip().is_loopback() {
                target.ip()
            } else {
                h.ip
            },
            port,
        );
        let conn = Conn {
            ends: [
                End {
                    host,
                    incarnation: h.incarnation,
                    addr: local,
                    open: true,
                    error: None,
                    opts: EndOpts::new(now),
                },
                End {
                    host: dst,
                    incarnation: 0,
                    addr: target,
                    open: false,
                    error: None,
                    opts: EndOpts::new(now),
                },
            ],
            server_known: false,
            listener: None,
            pipes: [Pipe::default(), Pipe::default()],
            state: ConnState::SynSent,
            connect_waker: None,
            first_fin: None,
        };
        let key = self.conns.insert(conn);
        self.send_syn(key, 0);
        Ok(key)
    }

    fn send_syn(&mut self, key: Key, attempt: u32) {
        let Some(c) = self.conns.get(key) else { return };
        let (src, dst) = (c.ends[0].host, c.ends[1].host);
        let (cport, sport) = (c.ends[0].addr.port() as u64, c.ends[1].addr.port() as u64);
        self.record(Kind::Syn, DropReason::None, src, dst, cport, sport);
        let now = self.now;
        match self.link_mut(src, dst).transit(now, TCP_HEADER_BYTES + 20) {
            Transit::Arrive(t) => self.schedule(t, Ev::Syn { conn: key, attempt }),
            Transit::Dropped(r) => self.record(Kind::Drop, r, src, dst, cport, sport),
            Transit::Blocked(_) => {
                self.record(Kind::Drop, DropReason::Partition, src, dst, cport, sport)
            }
        }
        let timeout = self.cfg.syn_rto * (1u32 << attempt.min(16));
        self.schedule(now + timeout, Ev::SynTimeout { conn: key, attempt });
    }

    pub(crate) fn on_syn(&mut self, key: Key, _attempt: u32) {
        let Some(c) = self.conns.get(key) else { return };
        let (src, dst, sport) = (c.ends[0].host, c.ends[1].host, c.ends[1].addr.port());
        if c.state != ConnState::SynSent {
            return;
        }
        if !self.hosts[dst as usize].up {
            self.record(Kind::Drop, DropReason::HostDown, src, dst, key.as_u64(), 0);
            return;
        }
        if c.server_known {
            // A retransmitted SYN whose SYN-ACK was lost: answer again.
            self.send_syn_ack(key);
            return;
        }
        let cap = self.cfg.accept_backlog;
        let listener = self.hosts[dst as usize].listeners.get(&sport).copied();
        if let Some(l) = listener {
            self.purge_half_open(l);
        }
        let Some(lkey) = listener else {
            self.send_rst(key, 1);
            return;
        };
        // Linux drops a SYN when the accept queue is full (it holds backlog + 1) or, without
        // syncookies, when the SYN queue holds `backlog` half-open connections; the client's
        // SYN timer retries (1 s, 3 s, 7 s…). With syncookies the SYN is answered statelessly;
        // the simulator keeps the half-open entry (its SYN-ACK retries stand in for the
        // client's data re-presenting the cookie).
        let syn_queue_limited = !self.cfg.syncookies;
        if self.listeners.get(lkey).is_none_or(|l| {
            l.backlog.len() > cap || (syn_queue_limited && l.half_open.len() >= cap.max(1))
        }) {
            let cport = self.conns.get(key).map_or(0, |c| c.ends[0].addr.port());
            self.record(
                Kind::Drop,
                DropReason::ListenQueueFull,
                src,
                dst,
                cport as u64,
                sport as u64,
            );
            return;
        }
        let inc = self.hosts[dst as usize].incarnation;
        let c = self.conns.get_mut(key).expect("checked above");
        c.server_known = true;
        c.listener = Some(lkey);
        c.ends[1].incarnation = inc;
        c.ends[1].open = true;
        let l = self.listeners.get_mut(lkey).expect("checked above");
        // Accepted connections carry the listener's concrete address (not 0.0.0.0).
        c.ends[1].addr = SocketAddr::new(self.hosts[dst as usize].ip, sport);
        if c.ends[0].addr.ip().is_loopback() {
            c.ends[1].addr = SocketAddr::new(c.ends[0].addr.ip(), sport);
        }
        l.half_open.push(key);
        self.send_syn_ack(key);
    }

    /// Forgets half-open connections whose client gave up (its connect timed out).
    fn purge_half_open(&mut self, lkey: Key) {
        let Some(l) = self.listeners.get(lkey) else {
            return;
        };
        let conns = &self.conns;
        let (keep, dead): (Vec<Key>, Vec<Key>) = l.half_open.iter().partition(|k| {
            conns
                .get(**k)
                .is_some_and(|c| !matches!(c.state, ConnState::Failed(_)))
        });
        if dead.is_empty() {
            return;
        }
        self.listeners.get_mut(lkey).expect("checked").half_open = keep;
        for k in dead {
            if let Some(c) = self.conns.get_mut(k) {
                c.ends[1].open = false;
            }
            self.maybe_gc(k);
        }
    }

    /// The client's handshake ACK arrived: the connection is ready for `accept`. If the
    /// accept queue is full the ACK is dropped, as Linux does: the connection stays half-open
    /// and the server's SYN-ACK retransmissions (1, 2, 4, 8, 16 s apart; tcp_synack_retries 5)
    /// each draw a new ACK, until there is room or the server gives up and resets it.
    pub(crate) fn complete_handshake(&mut self, key: Key) {
        self.try_complete(key, 0);
    }

    pub(crate) fn try_complete(&mut self, key: Key, attempt: u32) {
        let lkey = self.conns.get(key).and_then(|c| c.listener);
        let cap = self.cfg.accept_backlog;
        let Some(l) = lkey.and_then(|l| self.listeners.get_mut(l)) else {
            // The listener closed meanwhile.
            if let Some(c) = self.conns.get_mut(key) {
                c.ends[1].open = false;
            }
            return self.send_rst(key, 1);
        };
        if !l.half_open.contains(&key) {
            return; // purged, or already complete
        }
        if l.backlog.len() > cap {
            let (src, dst) = self
                .conns
                .get(key)
                .map_or((0, 0), |c| (c.ends[0].host, c.ends[1].host));
            self.record(
                Kind::Drop,
                DropReason::ListenQueueFull,
                src,
                dst,
                key.as_u64(),
                attempt as u64,
            );
            if attempt >= SYNACK_RETRIES {
                if let Some(l) = lkey.and_then(|l| self.listeners.get_mut(l)) {
                    l.half_open.retain(|k| *k != key);
                }
                if let Some(c) = self.conns.get_mut(key) {
                    c.ends[1].open = false;
                }
                return self.send_rst(key, 1);
            }
            let rtt =
                self.link(dst, src).cfg.latency.floor() + self.link(src, dst).cfg.latency.floor();
            let at = self.now + self.cfg.syn_rto * (1u32 << attempt) + rtt;
            self.schedule(
                at,
                Ev::SynAckRetry {
                    conn: key,
                    attempt: attempt + 1,
                },
            );
            return;
        }
        let l = lkey
            .and_then(|l| self.listeners.get_mut(l))
            .expect("checked");
        l.half_open.retain(|k| *k != key);
        l.backlog.push_back(key);
        if let Some(w) = l.waker.take() {
            w.wake();
        }
    }

    fn send_syn_ack(&mut self, key: Key) {
        let Some(c) = self.conns.get(key) else { return };
        let (client, server) = (c.ends[0].host, c.ends[1].host);
        let now = self.now;
        match self
            .link_mut(server, client)
            .transit(now, TCP_HEADER_BYTES + 20)
        {
            Transit::Arrive(t) => self.schedule(t, Ev::SynAck { conn: key }),
            Transit::Dropped(r) => self.record(Kind::Drop, r, server, client, key.as_u64(), 0),
            Transit::Blocked(_) => self.record(
                Kind::Drop,
                DropReason::Partition,
                server,
                client,
                key.as_u64(),
                0,
            ),
        }
    }

    pub(crate) fn on_syn_ack(&mut self, key: Key) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state != ConnState::SynSent {
            return;
        }
        c.state = ConnState::Established;
        if let Some(w) = c.connect_waker.take() {
            w.wake();
        }
        let (a, b) = (c.ends[0].host, c.ends[1].host);
        self.record(Kind::Established, DropReason::None, a, b, key.as_u64(), 0);
        // The final ACK travels like data: in order, retransmitted if lost.
        let ack = Seg {
            len: 0,
            fin: false,
            handshake: true,
        };
        self.send_segment(key, 0, ack, 0);
    }

    pub(crate) fn on_syn_timeout(&mut self, key: Key, attempt: u32) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state != ConnState::SynSent {
            return;
        }
        if attempt < self.cfg.syn_retries {
            self.send_syn(key, attempt + 1);
        } else {
            c.state = ConnState::Failed(ConnectError::TimedOut);
            if let Some(w) = c.connect_waker.take() {
                w.wake();
            }
        }
    }

    pub(crate) fn poll_connect(
        &mut self,
        key: Key,
        cx: &Context<'_>,
    ) -> Poll<Result<(), ConnectError>> {
        let Some(c) = self.conns.get_mut(key) else {
            return Poll::Ready(Err(ConnectError::Reset));
        };
        match &c.state {
            ConnState::Established => Poll::Ready(Ok(())),
            ConnState::Failed(e) => {
                let e = e.clone();
                c.ends[0].open = false;
                self.maybe_gc(key);
                Poll::Ready(Err(e))
            }
            ConnState::SynSent => {
                store_waker(&mut c.connect_waker, cx);
                Poll::Pending
            }
        }
    }

    /// The connecting future was dropped before it finished.
    pub(crate) fn abandon_connect(&mut self, key: Key) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state == ConnState::SynSent {
            c.state = ConnState::Failed(ConnectError::TimedOut);
        }
        if c.ends[0].open {
            self.close_end(key, 0);
        }
    }

    // ---- listeners ---------------------------------------------------------------------

    pub(crate) fn poll_accept(
        &mut self,
        lkey: Key,
        cx: &Context<'_>,
    ) -> Poll<Result<(Key, SocketAddr, SocketAddr), AcceptError>> {
        let Some(l) = self.listeners.get(lkey) else {
            return Poll::Ready(Err(AcceptError::Closed));
        };
        let h = &self.hosts[l.host as usize];
        if !h.up || h.incarnation != l.incarnation {
            return Poll::Ready(Err(AcceptError::Closed));
        }
        let l = self.listeners.get_mut(lkey).expect("checked");
        while let Some(ck) = l.backlog.pop_front() {
            if let Some(c) = self.conns.get(ck) {
                return Poll::Ready(Ok((ck, c.ends[1].addr, c.ends[0].addr)));
            }
        }
        store_waker(&mut l.waker, cx);
        Poll::Pending
    }

    pub(crate) fn close_listener(&mut self, lkey: Key) {
        let Some(l) = self.listeners.remove(lkey) else {
            return;
        };
        let h = &mut self.hosts[l.host as usize];
        if h.incarnation == l.incarnation && h.listeners.get(&l.addr.port()) == Some(&lkey) {
            h.listeners.remove(&l.addr.port());
        }
        for ck in l.backlog.into_iter().chain(l.half_open) {
            self.close_end(ck, 1);
        }
    }
}
