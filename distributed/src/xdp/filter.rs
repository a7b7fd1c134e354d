//! Model of the XDP filter (`backends/xdp/bpf/filter.c`): a source blocklist of IPv4 CIDRs,
//! a per-source rate limit and a per-source SYN limit, with per-verdict counters.
//!
//! Order per frame: parse (malformed IPv4 is dropped, non-IPv4 passes); blocklist; for TCP
//! first fragments, the TCP header must hold 20 bytes (else malformed) and SYN-without-ACK
//! marks a SYN; then the source's rate bucket, then (for SYNs) its SYN bucket. Buckets are
//! GCRA-style in integer nanoseconds: a packet costs `cost_ns` of credit, a source holds at
//! most `cap_ns`, credit grows with elapsed time, and a new source starts full. The eBPF
//! twin keeps buckets in an LRU hash of 65,536 sources; so does this model (evicting the
//! least recently used), though the kernel's LRU is approximate, so the two may evict
//! differently once a flood exceeds that many sources.

use super::frame::{first_fragment, ipv4_src, l3, L3};
use std::collections::{BTreeMap, BTreeSet};
use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::Instant;

/// Counter names, indexed as [`XdpFilter::counters`] (the same indices as the eBPF map).
pub const FILTER_COUNTERS: [&str; 6] = [
    "pass",
    "drop_blocklist",
    "drop_rate",
    "drop_syn",
    "pass_not_ipv4",
    "drop_malformed",
];

/// Sources the bucket table holds (the eBPF LRU map's size).
pub const SOURCES: usize = 65_536;

/// The per-source limits. Zero costs switch a limit off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterLimits {
    /// Credit (ns) per packet of a source.
    pub cost_ns: u64,
    /// Most credit (ns) a source holds.
    pub cap_ns: u64,
    /// Credit (ns) per SYN of a source.
    pub syn_cost_ns: u64,
    /// Most SYN credit (ns) a source holds.
    pub syn_cap_ns: u64,
}

impl FilterLimits {
    /// `rate` packets per second with bursts of `burst`, and `syn_rate` SYNs per second with
    /// bursts of `syn_burst` (a rate of 0 switches that limit off).
    pub fn per_second(rate: u64, burst: u64, syn_rate: u64, syn_burst: u64) -> FilterLimits {
        let cost = |r: u64| 1_000_000_000u64.checked_div(r).unwrap_or(0);
        FilterLimits {
            cost_ns: cost(rate),
            cap_ns: cost(rate) * burst.max(1),
            syn_cost_ns: cost(syn_rate),
            syn_cap_ns: cost(syn_rate) * syn_burst.max(1),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    credit: u64,
    last: u64,
    syn_credit: u64,
    syn_last: u64,
    used: u64,
}

/// Spends `cost` from a bucket; whether it was allowed (the eBPF `spend`).
fn spend(credit: &mut u64, last: &mut u64, now: u64, cost: u64, cap: u64) -> bool {
    let mut c = *credit;
    if now > *last {
        c += now - *last;
    }
    c = c.min(cap);
    *last = (*last).max(now);
    if c < cost {
        *credit = c;
        return false;
    }
    *credit = c - cost;
    true
}

/// The filter.
#[derive(Clone, Debug, Default)]
pub struct XdpFilter {
    blocked: BTreeSet<(u8, u32)>,
    limits: FilterLimits,
    buckets: BTreeMap<u32, Bucket>,
    lru: BTreeMap<u64, u32>,
    tick: u64,
    counters: [u64; 6],
}

fn masked(addr: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - len as u32))
    }
}

impl XdpFilter {
    /// A filter with an empty blocklist and no limits.
    pub fn new() -> XdpFilter {
        XdpFilter::default()
    }

    /// Drops every packet from `net/len` (`len` is capped at 32).
    pub fn block(&mut self, net: std::net::Ipv4Addr, len: u8) {
        let len = len.min(32);
        self.blocked.insert((len, masked(u32::from(net), len)));
    }

    /// Removes `net/len`; whether it was there.
    pub fn unblock(&mut self, net: std::net::Ipv4Addr, len: u8) -> bool {
        let len = len.min(32);
        self.blocked.remove(&(len, masked(u32::from(net), len)))
    }

    /// Sets the limits (existing buckets keep their credit).
    pub fn set_limits(&mut self, limits: FilterLimits) {
        self.limits = limits;
    }

    /// Packets per verdict, indexed as [`FILTER_COUNTERS`].
    pub fn counters(&self) -> [u64; 6] {
        self.counters
    }

    fn is_blocked(&self, src: u32) -> bool {
        (0..=32u8).any(|len| self.blocked.contains(&(len, masked(src, len))))
    }

    fn bucket(&mut self, src: u32, now: u64) -> &mut Bucket {
        self.tick += 1;
        let tick = self.tick;
        if let Some(b) = self.buckets.get(&src) {
            self.lru.remove(&b.used);
        } else {
            if self.buckets.len() >= SOURCES {
                if let Some((_, old)) = self.lru.pop_first() {
                    self.buckets.remove(&old);
                }
            }
            let l = self.limits;
            self.buckets.insert(
                src,
                Bucket {
                    credit: l.cap_ns,
                    last: now,
                    syn_credit: l.syn_cap_ns,
                    syn_last: now,
                    used: tick,
                },
            );
        }
        self.lru.insert(tick, src);
        let b = self.buckets.get_mut(&src).expect("inserted above");
        b.used = tick;
        b
    }

    fn count(&mut self, c: usize, v: Verdict) -> Verdict {
        self.counters[c] += 1;
        v
    }

    /// The verdict for `frame` at `now` (nanoseconds on the filter's clock).
    pub fn decide(&mut self, now: u64, frame: &[u8]) -> Verdict {
        let (at, ihl) = match l3(frame) {
            L3::Malformed => return self.count(5, Verdict::Drop),
            L3::NotIpv4 => return self.count(4, Verdict::Pass),
            L3::Ipv4 { at, ihl } => (at, ihl),
        };
        let src = u32::from_be_bytes(ipv4_src(frame, at));
        if self.is_blocked(src) {
            return self.count(1, Verdict::Drop);
        }
        let mut syn = false;
        if frame[at + 9] == 6 && first_fragment(frame, at) {
            let tcp = at + ihl;
            if tcp + 20 > frame.len() {
                return self.count(5, Verdict::Drop);
            }
            syn = frame[tcp + 13] & 0x12 == 0x02;
        }
        let l = self.limits;
        if l.cost_ns == 0 && (l.syn_cost_ns == 0 || !syn) {
            return self.count(0, Verdict::Pass);
        }
        let b = self.bucket(src, now);
        if l.cost_ns != 0 && !spend(&mut b.credit, &mut b.last, now, l.cost_ns, l.cap_ns) {
            return self.count(2, Verdict::Drop);
        }
        if syn
            && l.syn_cost_ns != 0
            && !spend(
                &mut b.syn_credit,
                &mut b.syn_last,
                now,
                l.syn_cost_ns,
                l.syn_cap_ns,
            )
        {
            return self.count(3, Verdict::Drop);
        }
        self.count(0, Verdict::Pass)
    }
}

impl PacketFilter for XdpFilter {
    fn on_packet(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        self.decide(now.as_nanos(), frame)
    }
}
