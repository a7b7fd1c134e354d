//! Simulator configuration: the stream/handshake parameters and the default link (the link
//! model itself, [`LinkConfig`] and [`Latency`], is `testbed_model::link`).

pub use testbed_model::link::{Latency, LinkConfig};
use testbed_model::Duration;

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
    /// A listener's backlog: its accept queue holds this many + 1 established connections
    /// and (stream fidelity, without `syncookies`) its SYN queue this many half-open ones;
    /// SYNs past either are dropped and the client retries.
    pub accept_backlog: usize,
    /// Stream fidelity: Linux's tcp_syncookies (default 1): a SYN that finds the SYN queue
    /// full is still answered (only a full accept queue drops it), so a connect storm larger
    /// than the backlog completes through the accept queue rather than SYN retries. Off:
    /// the SYN queue drops SYNs past `accept_backlog`.
    pub syncookies: bool,
    /// Datagrams a socket queues before it drops more (receive buffer).
    pub datagram_queue: usize,
    /// First SYN retransmission timeout; doubles per retry.
    pub syn_rto: Duration,
    /// SYN retransmissions before a connect fails with `TimedOut` (Linux's tcp_syn_retries
    /// default, 6: with a 1 s first timeout a connect gives up after 127 s).
    pub syn_retries: u32,
    /// Both fidelities: the floor of the RTO's variance term (default Linux's TCP_RTO_MIN,
    /// 200 ms): RTO = srtt + max(4·rttvar, `min_rto`); later retransmissions double it. Stream
    /// fidelity takes srtt from the link's round trip; packet fidelity gives each smoltcp
    /// socket these bounds (smoltcp's own, 1 s to 60 s, would retransmit into a healed
    /// partition sooner than Linux: 1, 3, 7, 15, 31 s after the cut).
    pub min_rto: Duration,
    /// Both fidelities: the largest retransmission timeout, where the doubling stops (default
    /// Linux's TCP_RTO_MAX, 120 s). Must not be below `min_rto`.
    pub max_rto: Duration,
    /// Stream fidelity: retransmissions of a stalled segment before the connection gives up
    /// with `TimedOut` (Linux's tcp_retries2, 15: 924.6 s with a 200 ms RTO; a socket's user
    /// timeout ends it sooner).
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
    /// before it fails with `TimedOut`, for sockets without a user timeout of their own
    /// (`Stream::set_user_timeout`). smoltcp has no retransmission count, so this stands in
    /// for Linux's tcp_retries2 (about 924 s); 120 s is harsher.
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
    /// Replaces the per-run enable draw of buggify points: point `name` is enabled iff bit
    /// [`crate::buggify_bit`]`(name)` is set (firing is still drawn). `None`: drawn with
    /// probability `buggify_enable`. Fuzz inputs and exploration set it through a fault
    /// schedule's `buggify_mask`.
    pub buggify_mask: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            default_link: LinkConfig::default(),
            stream_window_bytes: 256 * 1024,
            accept_backlog: 128,
            syncookies: true,
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
            buggify_mask: None,
        }
    }
}
