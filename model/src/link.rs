//! The one link model: what a directed link does to each packet — latency, jitter, loss,
//! duplication, reordering, a bandwidth limit with a bounded queue, an MTU — as pure
//! decisions. The simulator's links and the impairment bridge (`testbed-stack`) both call
//! it, so the same configuration, seed and offer times give the same decisions in both.
//!
//! Draw order, fixed (changing it changes every recorded trace hash): per offered packet,
//! [`LinkConfig::duplicates`] first (one draw when `duplicate > 0`); then, for each copy
//! (the duplicate before the original), [`LinkConfig::transit`]: loss, then the bandwidth
//! queue (no draw), latency, jitter, reorder (each drawn only when configured).
//! [`LinkConfig::offer`] is exactly that composition.

use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// One-way propagation delay of a link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Uniform in `min..=max`.
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// Pareto with shape 1 (`min / u`, `u` uniform in (0, 1]), capped at `max`: most packets
    /// take about `min`, 1% take over 100×`min`. Sampled with one division, so identical on
    /// every machine (no libm).
    LongTail {
        /// Scale: the smallest (and most common) delay.
        min: Duration,
        /// Cap on the tail.
        max: Duration,
    },
}

impl Latency {
    /// A fixed latency of `ms` milliseconds.
    pub const fn ms(ms: u64) -> Latency {
        Latency::Fixed(Duration::from_millis(ms))
    }

    /// Draws one delay. Fixed latencies draw nothing from `rng`.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => rng.duration_between(min, max),
            Latency::LongTail { min, max } => {
                let u = (rng.next_u64() >> 11) + 1; // 1..=2^53
                let scaled = (min.as_nanos()).saturating_mul(1u128 << 53) / u as u128;
                Duration::from_nanos(scaled.min(max.as_nanos()).max(min.as_nanos()) as u64)
            }
        }
    }

    /// The smallest delay this distribution can produce.
    pub fn floor(&self) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, .. } | Latency::LongTail { min, .. } => min,
        }
    }
}

/// Properties of one directed link (from one host, or bridge port, to another).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Propagation delay.
    pub latency: Latency,
    /// Extra delay, uniform in `0..=jitter`, per packet. As with netem, jitter alone can
    /// reorder packets.
    pub jitter: Duration,
    /// Probability a packet is lost.
    pub loss: f64,
    /// Probability a packet is delivered twice (each copy then meets the link on its own).
    pub duplicate: f64,
    /// Probability a packet is held back by an extra `0..=reorder_delay`, so later ones
    /// overtake it.
    pub reorder: f64,
    /// Maximum extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Bytes (of IP packets) per second; `None` is unlimited.
    pub bandwidth: Option<u64>,
    /// Bytes the link's transmit queue holds before it drops (drop-tail); used with
    /// `bandwidth`. A packet meeting an empty queue is always admitted.
    pub queue_bytes: u64,
    /// Largest IP packet, headers included.
    pub mtu: usize,
}

impl Default for LinkConfig {
    /// A 1 ms link, otherwise clean: no jitter, loss, duplication, reordering or rate
    /// limit; MTU 1500.
    fn default() -> Self {
        LinkConfig {
            latency: Latency::ms(1),
            ..LinkConfig::clean()
        }
    }
}

/// A [`LinkConfig`] field outside its domain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkConfigError {
    /// A probability is not within `0..=1` (or is NaN).
    #[error("{field} must be a probability in 0..=1")]
    NotAProbability {
        /// Which field.
        field: &'static str,
    },
    /// `bandwidth` is `Some(0)`.
    #[error("bandwidth must be positive (None for unlimited)")]
    ZeroBandwidth,
    /// `mtu` is below 68 (the IPv4 minimum) or above 65535.
    #[error("mtu {0} is outside 68..=65535")]
    Mtu(usize),
    /// A latency's lower bound exceeds its upper bound.
    #[error("latency min exceeds max")]
    LatencyBounds,
}

impl LinkConfig {
    /// A link that does nothing to packets: no delay, loss, duplication, reordering or rate
    /// limit; MTU 1500.
    pub const fn clean() -> LinkConfig {
        LinkConfig {
            latency: Latency::Fixed(Duration::ZERO),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            bandwidth: None,
            queue_bytes: 1 << 20,
            mtu: 1500,
        }
    }

    /// Largest TCP payload per segment (IPv4 + TCP headers, no options).
    pub fn mss(&self) -> usize {
        self.mtu.saturating_sub(40).max(1)
    }

    /// Largest UDP payload that fits one packet (IPv4 + UDP headers).
    pub fn max_datagram(&self) -> usize {
        self.mtu.saturating_sub(28)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), LinkConfigError> {
        for (field, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(LinkConfigError::NotAProbability { field });
            }
        }
        if self.bandwidth == Some(0) {
            return Err(LinkConfigError::ZeroBandwidth);
        }
        if !(68..=65535).contains(&self.mtu) {
            return Err(LinkConfigError::Mtu(self.mtu));
        }
        if let Latency::Uniform { min, max } | Latency::LongTail { min, max } = self.latency {
            if min > max {
                return Err(LinkConfigError::LatencyBounds);
            }
        }
        Ok(())
    }

    /// Whether the link duplicates the packet being offered: one draw when duplication is
    /// configured, none otherwise.
    pub fn duplicates(&self, rng: &mut impl Rng) -> bool {
        self.duplicate > 0.0 && rng.chance(self.duplicate)
    }

    /// Transmission and propagation of one IP packet of `bytes` sent at `now`: draws loss,
    /// queues for the bandwidth limit (no draw), then draws latency, jitter and reordering,
    /// each only when configured. Does not check the MTU (see [`LinkConfig::offer`]).
    pub fn transit(
        &self,
        queue: &mut LinkQueue,
        rng: &mut impl Rng,
        now: Instant,
        bytes: usize,
    ) -> Fate {
        if self.loss > 0.0 && rng.chance(self.loss) {
            return Fate::Dropped(LinkDrop::Loss);
        }
        let mut t = now;
        if let Some(bw) = self.bandwidth.filter(|b| *b > 0) {
            let start = queue.busy_until.max(now);
            let backlog = (start - now).as_nanos() * bw as u128 / 1_000_000_000;
            if backlog + bytes as u128 > self.queue_bytes as u128 && start > now {
                return Fate::Dropped(LinkDrop::QueueFull);
            }
            let tx = Duration::from_nanos((bytes as u128 * 1_000_000_000 / bw as u128) as u64);
            queue.busy_until = start + tx;
            t = queue.busy_until;
        }
        t += self.latency.sample(rng);
        if self.jitter > Duration::ZERO {
            t += rng.duration_between(Duration::ZERO, self.jitter);
        }
        let reordered = self.reorder > 0.0 && rng.chance(self.reorder);
        if reordered {
            t += rng.duration_between(Duration::ZERO, self.reorder_delay);
        }
        Fate::Arrive { at: t, reordered }
    }

    /// Everything the link does to one IP packet of `ip_len` bytes offered at `now`: the
    /// duplication draw, then for each copy (the duplicate first) the MTU check (no draw)
    /// and [`LinkConfig::transit`].
    pub fn offer(
        &self,
        queue: &mut LinkQueue,
        rng: &mut impl Rng,
        now: Instant,
        ip_len: usize,
    ) -> Offer {
        let mut one = |rng: &mut _| {
            if ip_len > self.mtu {
                Fate::Dropped(LinkDrop::Mtu)
            } else {
                self.transit(queue, rng, now, ip_len)
            }
        };
        let duplicate = self.duplicates(rng).then(|| one(rng));
        let original = one(rng);
        Offer {
            duplicate,
            original,
        }
    }
}

/// A link's bandwidth limiter: when it has sent everything admitted so far. The only state
/// the decisions depend on besides the configuration and the RNG.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkQueue {
    busy_until: Instant,
}

impl LinkQueue {
    /// When the link has sent everything admitted so far.
    pub fn busy_until(&self) -> Instant {
        self.busy_until
    }

    /// Takes the link for `tx` from `now` or from when it is next idle, whichever is later
    /// (a sender that bypasses [`LinkConfig::transit`] but still uses the bottleneck).
    pub fn occupy(&mut self, now: Instant, tx: Duration) {
        self.busy_until = self.busy_until.max(now) + tx;
    }
}

/// Why a link dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkDrop {
    /// The loss probability.
    Loss,
    /// The bandwidth queue was full.
    QueueFull,
    /// Larger than the MTU.
    Mtu,
}

/// What the link does with one copy of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It arrives at `at`; `reordered` if it was held back so later packets may overtake it.
    Arrive {
        /// Arrival time.
        at: Instant,
        /// Held back by the reorder probability.
        reordered: bool,
    },
    /// It is lost.
    Dropped(LinkDrop),
}

/// The decisions for one offered packet ([`LinkConfig::offer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The extra copy's fate, if the link duplicated the packet.
    pub duplicate: Option<Fate>,
    /// The packet's own fate.
    pub original: Fate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeededRng;

    #[test]
    fn long_tail_stays_within_bounds_and_has_a_tail() {
        let l = Latency::LongTail {
            min: Duration::from_millis(1),
            max: Duration::from_secs(1),
        };
        let mut rng = SeededRng::new(1);
        let mut v: Vec<Duration> = (0..10_000).map(|_| l.sample(&mut rng)).collect();
        v.sort();
        assert!(v[0] >= Duration::from_millis(1));
        assert!(v[9_999] <= Duration::from_secs(1));
        assert!(v[5_000] < Duration::from_millis(3), "median {:?}", v[5_000]);
        assert!(v[9_950] > Duration::from_millis(50), "p99.5 {:?}", v[9_950]);
    }

    #[test]
    fn a_clean_link_draws_nothing_and_delays_nothing() {
        let cfg = LinkConfig::clean();
        let mut rng = SeededRng::new(3);
        let untouched = rng.clone();
        let mut q = LinkQueue::default();
        let t = Instant::from_millis(7);
        let o = cfg.offer(&mut q, &mut rng, t, 1500);
        assert_eq!(
            o,
            Offer {
                duplicate: None,
                original: Fate::Arrive {
                    at: t,
                    reordered: false
                }
            }
        );
        assert_eq!(rng, untouched, "no draws on a clean link");
        let big = cfg.offer(&mut q, &mut rng, t, 1501);
        assert_eq!(big.original, Fate::Dropped(LinkDrop::Mtu));
    }

    #[test]
    fn offer_is_duplicates_then_transit_per_copy() {
        let cfg = LinkConfig {
            latency: Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(9),
            },
            jitter: Duration::from_millis(2),
            loss: 0.2,
            duplicate: 0.3,
            reorder: 0.2,
            bandwidth: Some(1_000_000),
            queue_bytes: 20_000,
            ..LinkConfig::default()
        };
        let (mut a, mut b) = (SeededRng::new(11), SeededRng::new(11));
        let (mut qa, mut qb) = (LinkQueue::default(), LinkQueue::default());
        let mut dups = 0;
        for i in 0..2_000u64 {
            let now = Instant::from_micros(i * 300);
            let o = cfg.offer(&mut qa, &mut a, now, 700);
            let dup = cfg
                .duplicates(&mut b)
                .then(|| cfg.transit(&mut qb, &mut b, now, 700));
            let orig = cfg.transit(&mut qb, &mut b, now, 700);
            assert_eq!(o.duplicate, dup);
            assert_eq!(o.original, orig);
            dups += usize::from(dup.is_some());
        }
        assert!(
            (450..750).contains(&dups),
            "{dups} duplicates of 2000 at p=0.3"
        );
    }

    #[test]
    fn the_queue_admits_a_burst_up_to_its_size() {
        // 1 MB/s, a 10 kB queue, 100 packets of 1000 bytes at once: 10 admitted.
        let cfg = LinkConfig {
            latency: Latency::Fixed(Duration::ZERO),
            bandwidth: Some(1_000_000),
            queue_bytes: 10_000,
            ..LinkConfig::default()
        };
        let mut q = LinkQueue::default();
        let mut rng = SeededRng::new(0);
        let fates: Vec<Fate> = (0..100)
            .map(|_| cfg.transit(&mut q, &mut rng, Instant::ZERO, 1000))
            .collect();
        let arrived: Vec<Instant> = fates
            .iter()
            .filter_map(|f| match f {
                Fate::Arrive { at, .. } => Some(*at),
                Fate::Dropped(_) => None,
            })
            .collect();
        assert_eq!(arrived.len(), 10);
        assert_eq!(arrived[9], Instant::from_millis(10));
        assert!(fates[10..]
            .iter()
            .all(|f| *f == Fate::Dropped(LinkDrop::QueueFull)));
    }

    #[test]
    fn validation_rejects_out_of_domain_fields() {
        assert_eq!(LinkConfig::default().validate(), Ok(()));
        let bad = |f: fn(&mut LinkConfig)| {
            let mut c = LinkConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(
            bad(|c| c.loss = f64::NAN),
            LinkConfigError::NotAProbability { field: "loss" }
        );
        assert_eq!(
            bad(|c| c.reorder = 1.5),
            LinkConfigError::NotAProbability { field: "reorder" }
        );
        assert_eq!(
            bad(|c| c.bandwidth = Some(0)),
            LinkConfigError::ZeroBandwidth
        );
        assert_eq!(bad(|c| c.mtu = 67), LinkConfigError::Mtu(67));
        assert_eq!(
            bad(|c| {
                c.latency = Latency::LongTail {
                    min: Duration::from_millis(2),
                    max: Duration::from_millis(1),
                }
            }),
            LinkConfigError::LatencyBounds
        );
    }
}
