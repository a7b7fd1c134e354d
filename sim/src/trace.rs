//! The run trace: every send, delivery, drop (with its reason), duplication, fault and timer
//! firing, each with its simulated time, folded into a running 64-bit hash. Same seed ⇒ same
//! hash on every run and machine. Events are kept in memory only when asked for (JSONL output,
//! determinism diffs); the hash is always maintained.

use std::fmt;
use std::io::{self, Write};
use testbed_model::rng::splitmix64;
use testbed_model::Instant;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A host's init ran (start or restart). `a` = incarnation.
    HostStart,
    /// A stream segment left a host. `a` = connection, `b` = bytes.
    SegmentSend,
    /// A stream segment arrived. `a` = connection, `b` = bytes.
    SegmentDeliver,
    /// A segment was lost and will be retransmitted (stream fidelity absorbs loss as delay).
    SegmentRetransmit,
    /// A connection request (SYN) left. `a` = client port, `b` = server port.
    Syn,
    /// A connection was established. `a` = connection.
    Established,
    /// A connection was refused or reset. `a` = connection or port.
    Reset,
    /// An end sent FIN. `a` = connection.
    Fin,
    /// A datagram left a host. `a` = bytes.
    DatagramSend,
    /// A datagram arrived. `a` = bytes.
    DatagramDeliver,
    /// A packet was duplicated by the link.
    Duplicate,
    /// A packet was dropped; see the reason.
    Drop,
    /// A fault verb ran. `a` = verb code, `b` = argument.
    Fault,
    /// A timer fired. `a` = timer id.
    Timer,
    /// Packet fidelity: a frame left a host (after its egress filter). `a` = frame bytes,
    /// `b` = IP protocol << 8 | TCP flags.
    FrameSend,
    /// Packet fidelity: a frame reached a host's stack (after its ingress filter). `a`, `b` as
    /// for `FrameSend`.
    FrameDeliver,
    /// Packet fidelity: a packet filter decided. `a` = hook (0 ingress, 1 egress), `b` =
    /// verdict (0 drop, 1 pass, 2 tx, 3 redirect).
    FilterVerdict,
    /// Stream fidelity: a connection gave up retransmitting (tcp_retries2). `a` =
    /// connection, `b` = the end that timed out.
    TimedOut,
}

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Not dropped (placeholder for non-drop events).
    None,
    /// Random loss on the link.
    Loss,
    /// The link is partitioned.
    Partition,
    /// The link's queue was full (drop-tail).
    QueueFull,
    /// Larger than the link MTU.
    Mtu,
    /// The destination host is down.
    HostDown,
    /// Nothing bound at the destination port.
    NoSocket,
    /// The destination socket's receive queue was full.
    ReceiveQueueFull,
    /// The destination connection no longer exists.
    ConnectionGone,
    /// No host has the destination address (e.g. the reply to a spoofed source).
    NoRoute,
    /// A packet filter dropped it.
    Filter,
    /// A SYN found the listener's queue (half-open plus unaccepted) full.
    ListenQueueFull,
    /// Not a frame the host's stack handles (not IPv4 TCP/UDP, or malformed).
    Unhandled,
}

/// One trace event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Simulated (global) time.
    pub time: Instant,
    /// What happened.
    pub kind: Kind,
    /// Why, for drops.
    pub reason: DropReason,
    /// Source host index (or the host concerned).
    pub src: u32,
    /// Destination host index (or `u32::MAX`).
    pub dst: u32,
    /// Kind-specific.
    pub a: u64,
    /// Kind-specific.
    pub b: u64,
}

impl Event {
    fn fold(&self, h: u64) -> u64 {
        let mut h = splitmix64(h ^ self.time.as_nanos());
        h = splitmix64(
            h ^ ((self.kind as u64) << 8 | self.reason as u64)
                ^ ((self.src as u64) << 32 | self.dst as u64),
        );
        splitmix64(h ^ self.a ^ self.b.rotate_left(29))
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={} {:?}", self.time, self.kind)?;
        if self.reason != DropReason::None {
            write!(f, "({:?})", self.reason)?;
        }
        write!(
            f,
            " src={} dst={} a={} b={}",
            self.src, self.dst as i64, self.a, self.b
        )
    }
}

/// The running hash and, optionally, the events.
#[derive(Debug)]
pub struct Trace {
    hash: u64,
    count: u64,
    events: Option<Vec<Event>>,
}

impl Trace {
    pub(crate) fn new(record: bool) -> Trace {
        Trace {
            hash: 0x7E57_BED0_0000_0001,
            count: 0,
            events: record.then(Vec::new),
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, e: Event) {
        self.hash = e.fold(self.hash);
        self.count += 1;
        if let Some(v) = &mut self.events {
            v.push(e);
        }
    }

    /// Folds bytes' content hash into the running hash (no event): what applications write
    /// and what frames carry count, not just their sizes and times.
    #[inline]
    pub(crate) fn mix(&mut self, content: u64) {
        self.hash = splitmix64(self.hash ^ content);
    }

    /// The running hash.
    pub fn hash(&self) -> u64 {
        self.hash
    }
    /// How many events were recorded.
    pub fn len(&self) -> u64 {
        self.count
    }
    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The events, if recording was on.
    pub fn events(&self) -> Option<&[Event]> {
        self.events.as_deref()
    }
}

/// A fast 64-bit hash of `data` (for folding content into the trace hash; not cryptographic).
pub fn content_hash(data: &[u8]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64 ^ data.len() as u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 32)
}

/// Writes events as JSON lines with host names resolved.
pub fn write_jsonl(events: &[Event], hosts: &[String], mut out: impl Write) -> io::Result<()> {
    let name = |i: u32| hosts.get(i as usize).map(String::as_str).unwrap_or("-");
    for e in events {
        writeln!(
            out,
            r#"{{"t_ns":{},"kind":"{:?}","reason":"{:?}","src":"{}","dst":"{}","a":{},"b":{}}}"#,
            e.time.as_nanos(),
            e.kind,
            e.reason,
            name(e.src),
            name(e.dst),
            e.a,
            e.b
        )?;
    }
    Ok(())
}

/// Where two event lists first differ: index and the two events (`None` where one ended).
pub fn first_difference(a: &[Event], b: &[Event]) -> Option<(usize, Option<Event>, Option<Event>)> {
    let n = a.len().max(b.len());
    (0..n).find_map(|i| {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        (x != y).then_some((i, x, y))
    })
}
