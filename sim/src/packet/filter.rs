//! Packet filters at a host's ingress (the XDP hook point: before the stack sees a frame) and
//! egress (after the stack built one), with per-verdict counters.
//!
//! Verdicts: `Drop` discards; `Pass` hands the (possibly rewritten) frame on; `Tx` at ingress
//! sends the frame back out of the host (routed by its, usually rewritten, destination), at
//! egress loops it back into the host's own stack; `Redirect(i)` puts it on the link to host
//! index `i`.

use crate::trace::{DropReason, Kind};
use crate::world::{HostId, World, NO_HOST};
use testbed_model::packet::{PacketFilter, Verdict};

/// Where a filter is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    /// Frames arriving at the host, before its stack (XDP).
    Ingress,
    /// Frames the host's stack (or a raw sender) transmits, before the link.
    Egress,
}

/// How often a filter returned each verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    /// `Verdict::Drop`.
    pub drop: u64,
    /// `Verdict::Pass`.
    pub pass: u64,
    /// `Verdict::Tx`.
    pub tx: u64,
    /// `Verdict::Redirect`.
    pub redirect: u64,
}

/// A boxed filter the simulator can hold (the world is shared across threads in type, though
/// run on one).
pub type BoxFilter = Box<dyn PacketFilter + Send>;

#[derive(Default)]
pub(crate) struct Filters {
    pub(crate) ingress: Option<BoxFilter>,
    pub(crate) egress: Option<BoxFilter>,
    pub(crate) counts: [VerdictCounts; 2],
}

impl World {
    /// Runs `host`'s filter at `hook` (Pass when none is attached).
    pub(crate) fn run_filter(&mut self, host: HostId, hook: Hook, frame: &mut [u8]) -> Verdict {
        let local = self.local_time(host);
        let filters = &mut self.hosts[host as usize].filters;
        let slot = match hook {
            Hook::Ingress => &mut filters.ingress,
            Hook::Egress => &mut filters.egress,
        };
        let Some(f) = slot.as_mut() else {
            return Verdict::Pass;
        };
        let len = frame.len();
        let v = f.on_packet(local, frame);
        // A filter may not change the length; a wrong-length rewrite cannot happen through
        // `&mut [u8]`, so only the verdict needs accounting.
        debug_assert_eq!(len, frame.len());
        let c = &mut filters.counts[hook as usize];
        let code = match v {
            Verdict::Drop => {
                c.drop += 1;
                0
            }
            Verdict::Pass => {
                c.pass += 1;
                1
            }
            Verdict::Tx => {
                c.tx += 1;
                2
            }
            Verdict::Redirect(_) => {
                c.redirect += 1;
                3
            }
            _ => {
                c.drop += 1;
                0
            }
        };
        if code != 1 {
            self.record(
                Kind::FilterVerdict,
                DropReason::None,
                host,
                NO_HOST,
                hook as u64,
                code,
            );
        }
        if code == 0 {
            self.record(
                Kind::Drop,
                DropReason::Filter,
                host,
                NO_HOST,
                len as u64,
                hook as u64,
            );
            return Verdict::Drop;
        }
        v
    }
}
