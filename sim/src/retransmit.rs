//! Stream fidelity's retransmission timer, on Linux's schedule: the first retransmission one
//! RTO after the segment left (RTO = srtt + max(4·rttvar, `min_rto`), as Linux computes it
//! from its RTT estimate, with Linux's 200 ms floor on the variance term), each later one
//! after twice the previous wait, waits capped at `max_rto` (120 s); after `tcp_retries2` (15)
//! retransmissions go unanswered, or the sending socket's user timeout passes first, the
//! connection gives up with `TimedOut` (924.6 s with a 200 ms RTO).
//!
//! A pipe whose link is partitioned (or whose segment arrives at a cut link) is *stalled*: its
//! segments wait. When the link comes back they leave at the next retransmission time on that
//! schedule, not at once, so recovery after a partition takes as long as on Linux.

use crate::slab::Key;
use crate::stream::TCP_HEADER_BYTES;
use crate::trace::{DropReason, Kind};
use crate::world::{Ev, HostId, LinkState, World};
use testbed_model::{Duration, Instant};

/// The `n`-th wait (0-based) of the backoff from `rto`, capped at `max`.
pub(crate) fn backoff(rto: Duration, max: Duration, n: u32) -> Duration {
    rto.saturating_mul(1u32 << n.min(31))
        .min(max)
        .max(rto.min(max))
}

/// Time from the first transmission until the connection gives up: the waits before each of
/// `retries` retransmissions plus the wait after the last.
pub(crate) fn give_up_after(rto: Duration, max: Duration, retries: u32) -> Duration {
    (0..=retries).fold(Duration::ZERO, |t, n| {
        t.saturating_add(backoff(rto, max, n))
    })
}

/// The first retransmission time at or after `now` of a segment first sent at `since`, and
/// how many retransmissions it is (1-based).
pub(crate) fn next_retransmit(
    since: Instant,
    now: Instant,
    rto: Duration,
    max: Duration,
) -> (Instant, u32) {
    let mut t = since;
    let mut n = 0;
    loop {
        t = t.saturating_add(backoff(rto, max, n));
        n += 1;
        if t >= now || t == Instant::MAX {
            return (t, n);
        }
    }
}

impl World {
    /// The smoothed round-trip time a connection from `from` to `to` converges to: the
    /// smallest latency both ways (the handshake gives the first sample, so no connection
    /// sends data on the 1 s initial RTO).
    pub(crate) fn rtt(&self, from: HostId, to: HostId) -> Duration {
        self.link(from, to).cfg.latency.floor() + self.link(to, from).cfg.latency.floor()
    }

    /// The retransmission timeout from `from` to `to` as Linux computes it (RFC 6298 with
    /// Linux's `rto_min` floor on the variance term): srtt + max(4·rttvar, `min_rto`), where
    /// the mean deviation is what jitter and the latency distribution's spread add both ways.
    pub(crate) fn rto(&self, from: HostId, to: HostId) -> Duration {
        let spread = |l: &crate::world::Link| {
            let c = &l.cfg;
            let range = match c.latency {
                crate::Latency::Fixed(_) => Duration::ZERO,
                crate::Latency::Uniform { min, max } => max.saturating_sub(min) / 2,
                crate::Latency::LongTail { min, .. } => min,
            };
            range + c.jitter / 2
        };
        let rttvar = spread(self.link(from, to)) + spread(self.link(to, from));
        self.rtt(from, to) + self.cfg.min_rto.max(rttvar * 4)
    }

    /// Parks pipe `dir` behind its blocked link. The first stall starts the retransmission
    /// clock (and the give-up timer); a pipe re-parked by a retransmission that found the link
    /// cut again keeps its clock.
    pub(crate) fn stall_pipe(&mut self, key: Key, dir: usize) {
        let now = self.now;
        let c = self.conns.get_mut(key).expect("live");
        let (src, dst) = (c.ends[dir].host, c.ends[1 - dir].host);
        let p = &mut c.pipes[dir];
        if p.parked {
            return;
        }
        p.parked = true;
        p.epoch = p.epoch.wrapping_add(1);
        let start = !p.stalled;
        if start {
            p.stalled = true;
            p.stall_since = now;
            p.stall_gen = p.stall_gen.wrapping_add(1);
        }
        let gen = p.stall_gen;
        self.link_mut(src, dst).stalled.push((key, dir));
        if start {
            let rto = self.rto(src, dst);
            let mut after = give_up_after(rto, self.cfg.max_rto, self.cfg.tcp_retries2);
            let c = self.conns.get(key).expect("live");
            if let Some(u) = c.ends[dir].opts.user_timeout {
                // TCP_USER_TIMEOUT: Linux clamps the RTO so the timer fires when it passes.
                after = after.min(u);
            }
            self.schedule(
                now.saturating_add(after),
                Ev::GiveUp {
                    conn: key,
                    dir,
                    gen,
                },
            );
        }
    }

    /// The link of a stalled pipe came back: its segments leave at the next retransmission
    /// time.
    pub(crate) fn unstall_pipe(&mut self, key: Key, dir: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let (src, dst) = (c.ends[dir].host, c.ends[1 - dir].host);
        let p = &mut c.pipes[dir];
        if !p.parked {
            return;
        }
        p.parked = false;
        let (since, gen) = (p.stall_since, p.stall_gen);
        let rto = self.rto(src, dst);
        let (at, _) = next_retransmit(since, self.now, rto, self.cfg.max_rto);
        self.schedule(
            at,
            Ev::Retransmit {
                conn: key,
                dir,
                gen,
            },
        );
    }

    /// A stalled pipe's retransmission timer fired: re-send every waiting segment in order,
    /// or park again if the link is cut once more.
    pub(crate) fn on_retransmit(&mut self, key: Key, dir: usize, gen: u32) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let (src, dst) = (c.ends[dir].host, c.ends[1 - dir].host);
        let p = &mut c.pipes[dir];
        if !p.stalled || p.parked || p.stall_gen != gen {
            return;
        }
        if self.link(src, dst).state != LinkState::Up {
            return self.stall_pipe(key, dir);
        }
        let p = &mut self.conns.get_mut(key).expect("live").pipes[dir];
        p.stalled = false;
        p.epoch = p.epoch.wrapping_add(1);
        let segs: Vec<_> = p.segs.iter().copied().collect();
        let total = segs.len();
        for (i, s) in segs.into_iter().enumerate() {
            self.record(
                Kind::SegmentRetransmit,
                DropReason::Partition,
                src,
                dst,
                key.as_u64(),
                (s.len as usize + TCP_HEADER_BYTES) as u64,
            );
            let fast = total - 1 - i >= 3;
            match self.segment_arrival(src, dst, s.len as usize + TCP_HEADER_BYTES, key, fast) {
                Some(t) => self.schedule_in_order(key, dir, t),
                None => return self.stall_pipe(key, dir),
            }
        }
    }

    /// A pipe stayed stalled through every retransmission: the sending end's connection
    /// times out (`TimedOut` on its next call, then EOF / `BrokenPipe`) and it sends RST.
    pub(crate) fn on_give_up(&mut self, key: Key, dir: usize, gen: u32) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let p = &c.pipes[dir];
        if !p.stalled || p.stall_gen != gen || p.reset {
            return;
        }
        self.time_out(key, dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS200: Duration = Duration::from_millis(200);
    const S120: Duration = Duration::from_secs(120);

    #[test]
    fn linux_gives_up_after_924_6_seconds() {
        assert_eq!(
            give_up_after(MS200, S120, 15),
            Duration::from_millis(924_600)
        );
    }

    #[test]
    fn retransmissions_double_then_cap() {
        let z = Instant::ZERO;
        assert_eq!(
            next_retransmit(z, z, MS200, S120),
            (Instant::from_millis(200), 1)
        );
        let (t, n) = next_retransmit(z, Instant::from_secs(10), MS200, S120);
        assert_eq!((t, n), (Instant::from_millis(12_600), 6));
        let (t, n) = next_retransmit(z, Instant::from_secs(60), MS200, S120);
        assert_eq!((t, n), (Instant::from_millis(102_200), 9));
        let (t, _) = next_retransmit(z, Instant::from_secs(300), MS200, S120);
        assert_eq!(t, Instant::from_millis(324_600), "waits capped at 120 s");
    }
}
