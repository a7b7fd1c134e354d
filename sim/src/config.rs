//! Link and simulator configuration: latency distributions, loss, duplication, reordering,
//! bandwidth with a bounded queue, MTU, and the stream/handshake parameters.

use testbed_model::{Duration, Rng};

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

/// Properties of one directed link (from one host to another).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Propagation delay.
    pub latency: Latency,
    /// Extra delay, uniform in `0..=jitter`, per packet.
    pub jitter: Duration,
    /// Probability a packet is lost.
    pub loss: f64,
    /// Probability a packet is delivered twice.
    pub duplicate: f64,
    /// Probability a packet is held back by an extra `0..=reorder_delay`, so later ones
    /// overtake it.
    pub reorder: f64,
    /// Maximum extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Bytes per second; `None` is unlimited.
    pub bandwidth: Option<u64>,
    /// Bytes the link's transmit queue holds before it drops (drop-tail); used with
    /// `bandwidth`.
    pub queue_bytes: u64,
    /// Largest IP packet, headers included.
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Latency::ms(1),
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
}

impl LinkConfig {
    /// Largest TCP payload per segment (IPv4 + TCP headers, no options).
    pub fn mss(&self) -> usize {
        self.mtu.saturating_sub(40).max(1)
    }
    /// Largest UDP payload that fits one packet (IPv4 + UDP headers).
    pub fn max_datagram(&self) -> usize {
        self.mtu.saturating_sub(28)
    }
}

/// Simulator-wide settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// The root seed: every random decision of the run derives from it.
    pub seed: u64,
    /// The link every host pair gets unless set otherwise.
    pub default_link: LinkConfig,
    /// Per-direction stream window: bytes in flight plus unread at the receiver. A writer
    /// past it gets `Pending` (backpressure).
    pub stream_window_bytes: usize,
    /// Established connections a listener queues before it refuses more.
    pub accept_backlog: usize,
    /// Datagrams a socket queues before it drops more (receive buffer).
    pub datagram_queue: usize,
    /// First SYN retransmission timeout; doubles per retry.
    pub syn_rto: Duration,
    /// SYN retransmissions before a connect fails with `TimedOut` (Linux's tcp_syn_retries
    /// default, 6: with a 1 s first timeout a connect gives up after 127 s).
    pub syn_retries: u32,
    /// Stream fidelity: the first retransmission timeout (Linux's TCP_RTO_MIN, 200 ms; at
    /// least four one-way latencies of the link). Later ones double.
    pub min_rto: Duration,
    /// Stream fidelity: the largest retransmission timeout (Linux's TCP_RTO_MAX, 120 s).
    pub max_rto: Duration,
    /// Stream fidelity: retransmissions of a stalled segment before the connection gives up
    /// with `TimedOut` (Linux's tcp_retries2, 15: 924.6 s with a 200 ms RTO).
    pub tcp_retries2: u32,
    /// The run stops (as a failure if clients are unfinished) at this sim time.
    pub time_limit: Duration,
    /// Keep every trace event in memory (for JSONL output and determinism diffs).
    pub record_trace: bool,
    /// Printed with the seed when a run fails: the command that replays it.
    pub replay_hint: Option<String>,
    /// How streams are simulated: byte streams (fast) or smoltcp TCP over packets.
    pub fidelity: crate::Fidelity,
    /// Packet fidelity: receive and send buffer of each TCP socket (the window).
    pub tcp_buffer_bytes: usize,
    /// Packet fidelity: how long a half-open (SYN-RECEIVED) connection waits for the last
    /// ACK of the handshake (Linux: 5 SYN-ACK retries, about 63 s).
    pub half_open_timeout: Duration,
    /// Packet fidelity: how long a connection with unacknowledged data waits for its peer
    /// before it is reset (a stand-in for Linux's tcp_retries2).
    pub tcp_user_timeout: Duration,
    /// Packet fidelity: write one pcap per host into this directory.
    pub pcap_dir: Option<std::path::PathBuf>,
    /// Poll tasks that are ready at the same instant in an order drawn from the seed (its own
    /// stream, "sched"), so races that depend on poll order show up across seeds: the next
    /// task is drawn from the ready queue, and timers that fire at the same instant wake their
    /// tasks together. Off: FIFO in wake order, one event at a time (the order of runs before
    /// this switch existed).
    pub perturb_schedule: bool,
    /// Buggify points ([`testbed_model::Runtime::buggify`]) may fire: each named point is
    /// enabled for the run with probability `buggify_enable` when first reached, and an
    /// enabled point then fires with probability `buggify_fire` per call, all drawn from the
    /// seed (one stream per point). Off: every point answers `false`.
    pub buggify: bool,
    /// Probability that a buggify point is enabled for the run.
    pub buggify_enable: f64,
    /// Probability that an enabled buggify point fires when reached.
    pub buggify_fire: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            default_link: LinkConfig::default(),
            stream_window_bytes: 256 * 1024,
            accept_backlog: 128,
            datagram_queue: 1024,
            syn_rto: Duration::from_secs(1),
            syn_retries: 6,
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            tcp_retries2: 15,
            time_limit: Duration::from_secs(3600),
            record_trace: false,
            replay_hint: None,
            fidelity: crate::Fidelity::Stream,
            tcp_buffer_bytes: 64 * 1024,
            half_open_timeout: Duration::from_secs(63),
            tcp_user_timeout: Duration::from_secs(120),
            pcap_dir: None,
            perturb_schedule: true,
            buggify: true,
            buggify_enable: 0.25,
            buggify_fire: 0.05,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed_model::SeededRng;

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
}
