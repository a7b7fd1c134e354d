//! Stream fidelity's socket options, with Linux's semantics: Nagle's algorithm against the
//! receiver's delayed ACK (when `nodelay` is off), keepalive probes ending in `TimedOut`, the
//! per-socket user timeout (applied by the retransmission timer, see [`crate::retransmit`])
//! and SO_LINGER 0 (RST on close, applied in `close_end`).
//!
//! Every stream starts with `nodelay` on, like the kernel backend's streams, so the default
//! path costs nothing: Nagle state is only consulted when an application turns it back on.

use crate::slab::Key;
use crate::stream::Seg;
use crate::trace::{DropReason, Kind};
use crate::world::{Ev, LinkState, World};
use std::io;
use testbed_model::{Duration, Instant, Keepalive};

/// How long a receiver holds the ACK of a small segment it has no reply to carry it on
/// (Linux's TCP_DELACK_MIN, 40 ms).
pub(crate) const DELAYED_ACK: Duration = Duration::from_millis(40);

/// One end's socket options and the state they need.
#[derive(Clone, Debug)]
pub(crate) struct EndOpts {
    /// TCP_NODELAY (on by default, as the kernel backend sets it).
    pub(crate) nodelay: bool,
    pub(crate) keepalive: Option<Keepalive>,
    /// TCP_USER_TIMEOUT.
    pub(crate) user_timeout: Option<Duration>,
    /// SO_LINGER with a zero timeout: close sends RST.
    pub(crate) linger_zero: bool,
    /// Counts keepalive settings, so timers of an earlier one are ignored.
    pub(crate) ka_gen: u32,
    /// Keepalive probes sent and not answered.
    pub(crate) ka_probes: u32,
    /// When this end last received a segment (keepalive idles from here).
    pub(crate) last_heard: Instant,
}

impl EndOpts {
    pub(crate) fn new(now: Instant) -> EndOpts {
        EndOpts {
            nodelay: true,
            keepalive: None,
            user_timeout: None,
            linger_zero: false,
            ka_gen: 0,
            ka_probes: 0,
            last_heard: now,
        }
    }
}

impl World {
    // ---- setters (from the stream handle) ---------------------------------------------

    fn opts_mut(&mut self, key: Key, end: usize) -> io::Result<&mut EndOpts> {
        match self.conns.get_mut(key) {
            Some(c) if !c.pipes[0].reset => Ok(&mut c.ends[end].opts),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    pub(crate) fn stream_set_nodelay(&mut self, key: Key, end: usize, on: bool) -> io::Result<()> {
        self.opts_mut(key, end)?.nodelay = on;
        if on {
            // Linux pushes what Nagle held when TCP_NODELAY is set.
            self.nagle_flush(key, end);
        }
        Ok(())
    }

    pub(crate) fn stream_set_user_timeout(
        &mut self,
        key: Key,
        end: usize,
        t: Option<Duration>,
    ) -> io::Result<()> {
        self.opts_mut(key, end)?.user_timeout = t.filter(|t| !t.is_zero());
        Ok(())
    }

    pub(crate) fn stream_set_linger(
        &mut self,
        key: Key,
        end: usize,
        l: Option<Duration>,
    ) -> io::Result<()> {
        self.opts_mut(key, end)?.linger_zero = l == Some(Duration::ZERO);
        Ok(())
    }

    pub(crate) fn stream_set_keepalive(
        &mut self,
        key: Key,
        end: usize,
        ka: Option<Keepalive>,
    ) -> io::Result<()> {
        if ka.is_some_and(|k| k.idle.is_zero() || k.interval.is_zero() || k.retries == 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "keepalive idle, interval and retries must be positive",
            ));
        }
        let now = self.now;
        let o = self.opts_mut(key, end)?;
        o.keepalive = ka;
        o.ka_gen = o.ka_gen.wrapping_add(1);
        o.ka_probes = 0;
        let gen = o.ka_gen;
        if let Some(k) = ka {
            self.schedule(
                now.saturating_add(k.idle),
                Ev::Keepalive {
                    conn: key,
                    end,
                    gen,
                },
            );
        }
        Ok(())
    }

    // ---- Nagle and delayed ACK ---------------------------------------------------------

    /// Cuts `n` newly written bytes of pipe `dir` (plus what Nagle held) into segments: full
    /// ones leave at once; a small remainder waits, with Nagle on, while data is unacknowledged.
    pub(crate) fn push_data(&mut self, key: Key, dir: usize, n: usize) {
        let now = self.now;
        let c = self.conns.get_mut(key).expect("live");
        let (src, dst) = (c.ends[dir].host, c.ends[1 - dir].host);
        let nagle = !c.ends[dir].opts.nodelay;
        let p = &mut c.pipes[dir];
        let total = n + p.held as usize;
        p.held = 0;
        let mss = self.link(src, dst).cfg.mss();
        let full = total / mss;
        let rest = total % mss;
        let p = &self.conns.get(key).expect("live").pipes[dir];
        let hold = nagle && rest > 0 && (full > 0 || p.ack_at > now);
        let count = full + usize::from(rest > 0 && !hold);
        for i in 0..count {
            let len = if i < full { mss } else { rest };
            let seg = Seg {
                len: len as u32,
                fin: false,
                handshake: false,
            };
            self.send_segment(key, dir, seg, count - 1 - i);
        }
        if hold {
            let p = &mut self.conns.get_mut(key).expect("live").pipes[dir];
            p.held = rest as u32;
            self.arm_flush(key, dir);
        }
    }

    /// Records when the ACK of a segment of `len` bytes that just left reaches its sender:
    /// a full segment is acknowledged at once, a small one after the delayed-ACK timer.
    pub(crate) fn note_ack_time(&mut self, key: Key, dir: usize, len: u32) {
        let c = self.conns.get(key).expect("live");
        let (src, dst) = (c.ends[dir].host, c.ends[1 - dir].host);
        let small = (len as usize) < self.link(src, dst).cfg.mss();
        let back = self.link(dst, src).cfg.latency.floor();
        let p = &mut self.conns.get_mut(key).expect("live").pipes[dir];
        let delay = if small { DELAYED_ACK } else { Duration::ZERO };
        p.ack_at = p.last_arrival.saturating_add(delay).saturating_add(back);
    }

    /// Data on pipe `dir` reached its receiver: it carries the ACK of everything the other
    /// pipe had delivered before it left, which may release what Nagle holds there.
    pub(crate) fn piggyback_ack(&mut self, key: Key, dir: usize) {
        let now = self.now;
        let c = self.conns.get(key).expect("live");
        let (src, dst) = (c.ends[dir].host, c.ends[1 - dir].host);
        let sent_at = now.saturating_sub(self.link(src, dst).cfg.latency.floor());
        let back = &mut self.conns.get_mut(key).expect("live").pipes[1 - dir];
        if back.ack_at > now && back.last_arrival <= sent_at {
            back.ack_at = now;
            if back.held > 0 {
                self.nagle_flush(key, 1 - dir);
            }
        }
    }

    fn arm_flush(&mut self, key: Key, dir: usize) {
        let p = &mut self.conns.get_mut(key).expect("live").pipes[dir];
        if p.flush_armed {
            return;
        }
        p.flush_armed = true;
        let at = p.ack_at;
        self.schedule(at, Ev::NagleFlush { conn: key, dir });
    }

    /// Sends what Nagle holds on pipe `dir` as one segment.
    pub(crate) fn nagle_flush(&mut self, key: Key, dir: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let p = &mut c.pipes[dir];
        if p.held == 0 || p.reset {
            return;
        }
        let len = std::mem::take(&mut p.held);
        let seg = Seg {
            len,
            fin: false,
            handshake: false,
        };
        self.send_segment(key, dir, seg, 0);
    }

    pub(crate) fn on_nagle_flush(&mut self, key: Key, dir: usize) {
        let now = self.now;
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let p = &mut c.pipes[dir];
        p.flush_armed = false;
        if p.held == 0 {
            return;
        }
        if p.ack_at > now {
            return self.arm_flush(key, dir);
        }
        self.nagle_flush(key, dir);
    }

    // ---- keepalive ---------------------------------------------------------------------

    /// A keepalive timer of `end` fired: wait longer if it heard from its peer within the
    /// idle time; else probe. A probe is answered if the path is up both ways and the peer
    /// host is up (a restarted peer answers RST); `retries` unanswered probes time the
    /// connection out, as Linux's keepalive timer does.
    pub(crate) fn on_keepalive(&mut self, key: Key, end: usize, gen: u32) {
        let now = self.now;
        let Some(c) = self.conns.get(key) else { return };
        let o = &c.ends[end].opts;
        let Some(ka) = o.keepalive else { return };
        if o.ka_gen != gen || c.pipes[0].reset || !c.ends[end].open {
            return;
        }
        let (me, peer) = (c.ends[end].host, c.ends[1 - end].host);
        let ev = Ev::Keepalive {
            conn: key,
            end,
            gen,
        };
        let idle_until = o.last_heard.saturating_add(ka.idle);
        if o.ka_probes == 0 && idle_until > now {
            return self.schedule(idle_until, ev);
        }
        if o.ka_probes >= ka.retries {
            return self.time_out(key, end);
        }
        let path_up = self.link(me, peer).state == LinkState::Up
            && self.link(peer, me).state == LinkState::Up;
        let peer_up = self.hosts[peer as usize].up;
        let peer_knows =
            peer_up && self.hosts[peer as usize].incarnation == c.ends[1 - end].incarnation;
        if path_up && peer_knows {
            // Answered: the ACK comes back a round trip later.
            let heard = now.saturating_add(self.rtt(me, peer));
            let o = &mut self.conns.get_mut(key).expect("live").ends[end].opts;
            o.ka_probes = 0;
            o.last_heard = heard;
            return self.schedule(heard.saturating_add(ka.idle), ev);
        }
        if path_up && peer_up {
            // A new incarnation of the peer knows nothing of the connection: RST.
            return self.send_rst(key, 1 - end);
        }
        self.conns.get_mut(key).expect("live").ends[end]
            .opts
            .ka_probes += 1;
        self.schedule(now.saturating_add(ka.interval), ev);
    }

    /// `end` gave up on its peer: `TimedOut` on its next call, RST to the peer, then EOF.
    pub(crate) fn time_out(&mut self, key: Key, end: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        c.ends[end].error = Some(io::ErrorKind::TimedOut);
        let (src, dst) = (c.ends[end].host, c.ends[1 - end].host);
        self.record(
            Kind::TimedOut,
            DropReason::None,
            src,
            dst,
            key.as_u64(),
            end as u64,
        );
        self.send_rst(key, end);
        self.reset_pipes(key);
    }
}
