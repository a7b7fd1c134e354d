//! Stream fidelity: reliable, ordered byte streams over simulated links.
//!
//! A connection is two pipes; pipe `d` carries bytes from end `d` to end `1 - d` (end 0 is the
//! client). Writes are cut into MSS-sized segments, each put on the link (bandwidth queue,
//! latency, jitter); a loss costs one round trip (fast retransmission, when three segments
//! follow it) or a retransmission timeout of delay, never corruption, and segments arrive in
//! order (head-of-line blocking). Segments wait in a full bottleneck queue rather than being
//! tail-dropped (what a congestion window achieves). A pipe's window bounds bytes in flight
//! plus bytes unread, so a stalled reader backpressures the writer. A partition stalls a pipe
//! and it resumes on Linux's retransmission schedule, or gives up (see [`crate::retransmit`]).
//! A handshake costs one RTT; a missing listener answers RST, a full accept or SYN queue drops
//! the SYN (the client retries). The client end that closes first leaves its port in
//! TIME-WAIT for 60 s (ports come from Linux's range, 32768–60999). Socket options (Nagle,
//! keepalive, user timeout, linger) are in [`crate::stream_options`]. A reset reports
//! `ConnectionReset` once (`BrokenPipe` if the peer had already closed its side, as Linux's
//! EPIPE in CLOSE-WAIT), then EOF and `BrokenPipe`.

use crate::slab::Key;
use crate::stream_options::EndOpts;
use crate::trace::{DropReason, Kind};
use crate::world::{Ev, HostId, LinkState, Transit, World};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};
use testbed_model::{ConnectError, Duration, Instant};
use tokio::io::ReadBuf;
pub(crate) const TCP_HEADER_BYTES: usize = 40;
/// Losses of one segment absorbed as retransmission delay before it is delivered anyway.
const MAX_RETRANSMITS: u32 = 16;
/// Duplicate ACKs that trigger a fast retransmission (RFC 5681).
const DUP_ACK_THRESHOLD: usize = 3;

pub(crate) struct End {
    pub(crate) host: HostId,
    pub(crate) incarnation: u64,
    pub(crate) addr: SocketAddr,
    pub(crate) open: bool,
    /// An error the next read or write of this end reports once (a socket's `SO_ERROR`).
    pub(crate) error: Option<io::ErrorKind>,
    /// The socket options the application set (nodelay, keepalive, user timeout, linger).
    pub(crate) opts: EndOpts,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ConnState {
    SynSent,
    Established,
    Failed(ConnectError),
}

#[derive(Clone, Copy)]
pub(crate) struct Seg {
    pub(crate) len: u32,
    pub(crate) fin: bool,
    /// The client's final handshake ACK: on arrival the server moves the connection from
    /// its half-open list to the accept queue.
    pub(crate) handshake: bool,
}

#[derive(Default)]
pub(crate) struct Pipe {
    /// Bytes written and not yet read: the first `readable` have arrived, the rest are in flight.
    pub(crate) buf: VecDeque<u8>,
    pub(crate) readable: usize,
    pub(crate) segs: VecDeque<Seg>,
    pub(crate) last_arrival: Instant,
    pub(crate) epoch: u32,
    /// Segments wait for a retransmission (the link was cut).
    pub(crate) stalled: bool,
    /// Stalled and on its link's list of pipes to wake on repair.
    pub(crate) parked: bool,
    /// When the pipe stalled: the start of its retransmission schedule.
    pub(crate) stall_since: Instant,
    /// Counts stalls, so timers of an earlier stall are ignored.
    pub(crate) stall_gen: u32,
    pub(crate) fin_sent: bool,
    pub(crate) fin_received: bool,
    pub(crate) reset: bool,
    pub(crate) reader: Option<Waker>,
    pub(crate) writer: Option<Waker>,
    /// When the sender learns that everything sent so far arrived (the receiver's ACK, delayed
    /// 40 ms after a small segment): Nagle holds small segments until then.
    pub(crate) ack_at: Instant,
    /// Bytes written but held back by Nagle's algorithm (in `buf`, not yet a segment).
    pub(crate) held: u32,
    /// A Nagle flush event is pending.
    pub(crate) flush_armed: bool,
}

impl Pipe {
    fn clear(&mut self) {
        self.buf.clear();
        self.readable = 0;
        self.drop_in_flight();
    }
    /// Forgets what was sent and has not arrived (what has arrived stays readable).
    pub(crate) fn drop_in_flight(&mut self) {
        self.buf.truncate(self.readable);
        self.segs.clear();
        self.held = 0;
        self.epoch = self.epoch.wrapping_add(1);
        self.stalled = false;
        self.parked = false;
    }
    fn wake_all(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

pub(crate) fn store_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

pub(crate) struct Conn {
    pub(crate) ends: [End; 2],
    pub(crate) server_known: bool,
    /// The listener that answered the SYN.
    pub(crate) listener: Option<Key>,
    pub(crate) pipes: [Pipe; 2],
    pub(crate) state: ConnState,
    pub(crate) connect_waker: Option<Waker>,
    /// The end that sent the first FIN (it holds TIME-WAIT after the close).
    pub(crate) first_fin: Option<usize>,
}

pub(crate) struct ListenerState {
    pub(crate) host: HostId,
    pub(crate) incarnation: u64,
    pub(crate) addr: SocketAddr,
    /// Established connections waiting for `accept`.
    pub(crate) backlog: VecDeque<Key>,
    /// Connections whose SYN arrived but whose handshake has not completed (SYN-RECV).
    pub(crate) half_open: Vec<Key>,
    pub(crate) waker: Option<Waker>,
}

impl World {
    fn end_alive(&self, end: &End) -> bool {
        let h = &self.hosts[end.host as usize];
        h.up && h.incarnation == end.incarnation
    }

    // ---- resets ------------------------------------------------------------------------

    /// Sends RST from `from_end` to the other end over the link (lost if the link is down).
    pub(crate) fn send_rst(&mut self, key: Key, from_end: usize) {
        let Some(c) = self.conns.get(key) else { return };
        let (src, dst) = (c.ends[from_end].host, c.ends[1 - from_end].host);
        self.record(
            Kind::Reset,
            DropReason::None,
            src,
            dst,
            key.as_u64(),
            from_end as u64,
        );
        let now = self.now;
        match self.link_mut(src, dst).transit(now, TCP_HEADER_BYTES) {
            Transit::Arrive(t) => self.schedule(
                t,
                Ev::Rst {
                    conn: key,
                    to_end: 1 - from_end,
                },
            ),
            Transit::Dropped(r) => self.record(Kind::Drop, r, src, dst, key.as_u64(), 0),
            Transit::Blocked(_) => {
                self.record(Kind::Drop, DropReason::Partition, src, dst, key.as_u64(), 0)
            }
        }
    }

    pub(crate) fn on_rst(&mut self, key: Key, to_end: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state == ConnState::SynSent {
            c.state = ConnState::Failed(ConnectError::Refused);
            if let Some(w) = c.connect_waker.take() {
                w.wake();
            }
        } else if !c.pipes[0].reset && c.ends[to_end].error.is_none() {
            // Linux: EPIPE if the peer's FIN had arrived (CLOSE-WAIT), else ECONNRESET.
            c.ends[to_end].error = Some(if c.pipes[1 - to_end].fin_received {
                io::ErrorKind::BrokenPipe
            } else {
                io::ErrorKind::ConnectionReset
            });
        }
        self.reset_pipes(key);
    }

    /// The connection is over: both pipes drop their data and wake their waiters.
    pub(crate) fn reset_pipes(&mut self, key: Key) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        for p in &mut c.pipes {
            p.reset = true;
            p.clear();
            p.wake_all();
        }
        self.maybe_gc(key);
    }

    /// `host` crashed: what its live connection ends had sent and not yet delivered is gone
    /// with it (queued and in-flight segments, pending retransmissions).
    pub(crate) fn drop_host_sends(&mut self, host: HostId) {
        let inc = self.hosts[host as usize].incarnation;
        for key in self.conns.keys() {
            let Some(c) = self.conns.get_mut(key) else {
                continue;
            };
            for d in 0..2 {
                if c.ends[d].host == host && c.ends[d].incarnation == inc {
                    c.pipes[d].drop_in_flight();
                }
            }
            self.maybe_gc(key);
        }
    }

    // ---- data --------------------------------------------------------------------------

    /// Puts one segment of pipe `dir` on the wire (or parks it behind a blocked link).
    /// `followers`: segments the sender puts on the wire right behind it (three or more
    /// make a loss of this one a fast retransmission, one round trip later, not an RTO).
    pub(crate) fn send_segment(&mut self, key: Key, dir: usize, seg: Seg, followers: usize) {
        let len = seg.len;
        let c = self
            .conns
            .get_mut(key)
            .expect("segment for a live connection");
        let (src, dst) = (c.ends[dir].host, c.ends[1 - dir].host);
        let nagle = !c.ends[dir].opts.nodelay;
        let p = &mut c.pipes[dir];
        p.segs.push_back(seg);
        let stalled = p.stalled;
        self.record(
            Kind::SegmentSend,
            DropReason::None,
            src,
            dst,
            key.as_u64(),
            len as u64,
        );
        if stalled {
            return;
        }
        let fast = followers >= DUP_ACK_THRESHOLD;
        match self.segment_arrival(src, dst, len as usize + TCP_HEADER_BYTES, key, fast) {
            Some(t) => {
                self.schedule_in_order(key, dir, t);
                if nagle {
                    // Only Nagle reads the ACK time: the default path skips it.
                    self.note_ack_time(key, dir, len);
                }
            }
            None => self.stall_pipe(key, dir),
        }
    }

    /// When a segment sent now arrives, counting retransmissions after losses (the first
    /// one a round trip later if `fast`: three duplicate ACKs; else after the RTO, doubling);
    /// `None` if the link is held or partitioned.
    pub(crate) fn segment_arrival(
        &mut self,
        src: HostId,
        dst: HostId,
        bytes: usize,
        key: Key,
        fast: bool,
    ) -> Option<Instant> {
        let max = self.cfg.max_rto;
        let mut rto = None; // computed on the first loss only: most segments arrive
        let mut t = self.now;
        for n in 0..MAX_RETRANSMITS {
            let now = self.now;
            let link = self.link_mut(src, dst);
            let busy = link.queue.busy_until();
            // A TCP sender's congestion window keeps it from overflowing the bottleneck
            // queue; stream fidelity has no window, so its segments wait in the queue instead
            // of being tail-dropped (loss still drops them).
            let queue = std::mem::replace(&mut link.cfg.queue_bytes, u64::MAX);
            let r = link.transit(t, bytes);
            link.cfg.queue_bytes = queue;
            if let Some(bw) = link.cfg.bandwidth.filter(|b| *b > 0 && n > 0 && t > busy) {
                // A retransmission leaves later: it takes its share of the bottleneck now,
                // without leaving the link idle until then for the segments behind it.
                let tx = Duration::from_nanos((bytes as u128 * 1_000_000_000 / bw as u128) as u64);
                link.queue.occupy(now, tx);
            }
            match r {
                Transit::Arrive(at) => {
                    if self.link_mut(src, dst).duplicates() {
                        self.record(
                            Kind::Duplicate,
                            DropReason::None,
                            src,
                            dst,
                            key.as_u64(),
                            bytes as u64,
                        );
                    }
                    return Some(at);
                }
                Transit::Dropped(r) => {
                    self.record(
                        Kind::SegmentRetransmit,
                        r,
                        src,
                        dst,
                        key.as_u64(),
                        bytes as u64,
                    );
                    t += if fast && n == 0 {
                        self.rtt(src, dst) + self.link(src, dst).cfg.latency.floor()
                    } else {
                        let rto = *rto.get_or_insert_with(|| self.rto(src, dst));
                        crate::retransmit::backoff(rto, max, n)
                    };
                }
                Transit::Blocked(_) => return None,
            }
        }
        Some(t + self.link(src, dst).cfg.latency.floor())
    }

    /// Schedules the arrival of pipe `dir`'s next segment at `t`, or later: a segment never
    /// overtakes the one before it (TCP delivers in order).
    pub(crate) fn schedule_in_order(&mut self, key: Key, dir: usize, t: Instant) {
        let p = &mut self.conns.get_mut(key).expect("live").pipes[dir];
        let at = t.max(p.last_arrival);
        p.last_arrival = at;
        let epoch = p.epoch;
        self.schedule(
            at,
            Ev::Segment {
                conn: key,
                dir,
                epoch,
            },
        );
    }

    pub(crate) fn on_segment(&mut self, key: Key, dir: usize, epoch: u32) {
        let Some(c) = self.conns.get(key) else { return };
        if c.pipes[dir].epoch != epoch || c.pipes[dir].stalled {
            return;
        }
        let (src, dst) = (c.ends[dir].host, c.ends[1 - dir].host);
        if self.link(src, dst).state != LinkState::Up {
            return self.stall_pipe(key, dir);
        }
        let receiver_alive = self.end_alive(&c.ends[1 - dir]);
        let receiver_host_up = self.hosts[dst as usize].up;
        let c = self.conns.get_mut(key).expect("live");
        let p = &mut c.pipes[dir];
        let seg = p.segs.pop_front().expect("an event per segment");
        if !receiver_alive {
            p.clear();
            if receiver_host_up {
                // The host restarted: its new incarnation knows nothing of this connection.
                self.send_rst(key, 1 - dir);
            } else {
                self.record(
                    Kind::Drop,
                    DropReason::HostDown,
                    src,
                    dst,
                    key.as_u64(),
                    seg.len as u64,
                );
            }
            return self.maybe_gc(key);
        }
        if !c.ends[1 - dir].open && seg.len > 0 {
            // Data for a closed socket: RST, like a kernel.
            p.clear();
            self.send_rst(key, 1 - dir);
            return self.maybe_gc(key);
        }
        p.readable += seg.len as usize;
        if seg.fin {
            p.fin_received = true;
        }
        let now = self.now;
        c.ends[1 - dir].opts.last_heard = now;
        // The receiver's own sends wait for ACKs only under Nagle.
        let reverse_nagle = !c.ends[1 - dir].opts.nodelay;
        let p = &mut c.pipes[dir];
        if let Some(w) = p.reader.take() {
            w.wake();
        }
        self.record(
            Kind::SegmentDeliver,
            DropReason::None,
            src,
            dst,
            key.as_u64(),
            seg.len as u64,
        );
        if seg.len > 0 && reverse_nagle {
            self.piggyback_ack(key, dir);
        }
        if seg.handshake {
            self.complete_handshake(key);
        }
        if seg.fin {
            self.maybe_gc(key);
        }
    }

    /// Whether `end` of connection `key` can still do I/O: the connection exists and the
    /// end's host has not crashed since it was opened.
    fn usable_end(&self, key: Key, end: usize) -> io::Result<()> {
        match self.conns.get(key) {
            None => Err(io::ErrorKind::ConnectionReset.into()),
            Some(c) if !self.end_alive(&c.ends[end]) => {
                Err(io::ErrorKind::ConnectionAborted.into())
            }
            Some(_) => Ok(()),
        }
    }

    pub(crate) fn stream_read(
        &mut self,
        key: Key,
        end: usize,
        cx: &Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.usable_end(key, end) {
            return Poll::Ready(Err(e));
        }
        let c = self.conns.get_mut(key).expect("checked");
        if let Some(e) = c.ends[end].error.take() {
            return Poll::Ready(Err(e.into()));
        }
        let host = c.ends[end].host as usize;
        let p = &mut c.pipes[1 - end];
        if p.reset {
            return Poll::Ready(Ok(())); // after the reset was reported: EOF
        }
        if p.readable > 0 {
            let n = p.readable.min(out.remaining());
            let (a, b) = p.buf.as_slices();
            let from_a = n.min(a.len());
            out.put_slice(&a[..from_a]);
            out.put_slice(&b[..n - from_a]);
            let costs = &mut self.hosts[host].costs;
            costs.syscall(1);
            costs.cpu_copy(n as u64);
            p.buf.drain(..n);
            p.readable -= n;
            if let Some(w) = p.writer.take() {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        if p.fin_received || out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        store_waker(&mut p.reader, cx);
        Poll::Pending
    }

    pub(crate) fn stream_write(
        &mut self,
        key: Key,
        end: usize,
        cx: &Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let window = self.cfg.stream_window_bytes;
        if let Err(e) = self.usable_end(key, end) {
            return Poll::Ready(Err(e));
        }
        let c = self.conns.get_mut(key).expect("checked");
        if let Some(e) = c.ends[end].error.take() {
            return Poll::Ready(Err(e.into()));
        }
        let p = &mut c.pipes[end];
        if p.reset || p.fin_sent {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = window.saturating_sub(p.buf.len());
        if room == 0 {
            store_waker(&mut p.writer, cx);
            return Poll::Pending;
        }
        let n = room.min(data.len());
        p.buf.extend(&data[..n]);
        self.trace.mix(crate::trace::content_hash(&data[..n]));
        let costs = &mut self.hosts[c.ends[end].host as usize].costs;
        costs.syscall(1);
        costs.cpu_copy(n as u64);
        self.push_data(key, end, n);
        Poll::Ready(Ok(n))
    }

    pub(crate) fn stream_shutdown(&mut self, key: Key, end: usize) -> io::Result<()> {
        let Some(c) = self.conns.get_mut(key) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let p = &mut c.pipes[end];
        if p.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if !p.fin_sent {
            p.fin_sent = true;
            c.first_fin.get_or_insert(end);
            let (a, b) = (c.ends[end].host, c.ends[1 - end].host);
            // Nagle never holds data back from a FIN.
            self.nagle_flush(key, end);
            self.record(Kind::Fin, DropReason::None, a, b, key.as_u64(), end as u64);
            self.send_segment(
                key,
                end,
                Seg {
                    len: 0,
                    fin: true,
                    handshake: false,
                },
                0,
            );
        }
        Ok(())
    }

    /// The application dropped its handle of `end`.
    pub(crate) fn close_end(&mut self, key: Key, end: usize) {
        let Some(c) = self.conns.get(key) else { return };
        let alive = self.end_alive(&c.ends[end]);
        let c = self.conns.get_mut(key).expect("checked");
        c.ends[end].open = false;
        let established = c.state == ConnState::Established || end == 1;
        if alive && established && !c.pipes[0].reset {
            let unread = c.pipes[1 - end].readable > 0;
            if unread || c.ends[end].opts.linger_zero {
                // Unread data, or SO_LINGER 0: RST instead of FIN (and no TIME-WAIT).
                c.pipes[0].clear();
                c.pipes[1].clear();
                self.send_rst(key, end);
            } else if !c.pipes[end].fin_sent {
                let _ = self.stream_shutdown(key, end);
            }
        }
        self.maybe_gc(key);
    }

    /// Frees a connection once both ends are closed or dead and nothing is in flight.
    pub(crate) fn maybe_gc(&mut self, key: Key) {
        let Some(c) = self.conns.get(key) else { return };
        let end_gone = |i: usize| !c.ends[i].open || !self.end_alive(&c.ends[i]);
        let pending = c.state == ConnState::SynSent;
        let quiet = c.pipes.iter().all(|p| p.segs.is_empty());
        if !pending && end_gone(0) && end_gone(1) && quiet {
            let c = self.conns.remove(key).expect("checked");
            let now = self.now;
            let h = &mut self.hosts[c.ends[0].host as usize];
            // After a crash the port table was reset; a port of an older incarnation may
            // already belong to a new connection.
            if h.incarnation == c.ends[0].incarnation {
                let port = c.ends[0].addr.port();
                h.ports_in_use.remove(&port);
                // The client closed first and the connection ended cleanly: TIME-WAIT.
                if c.first_fin == Some(0) && !c.pipes[0].reset {
                    h.enter_time_wait(port, c.ends[1].addr, now);
                }
            }
        }
    }
}
