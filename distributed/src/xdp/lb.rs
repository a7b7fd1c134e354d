//! Model of the XDP L4 load balancer (`backends/xdp/bpf/lb.c`), Katran-like.
//!
//! Per frame: parse (malformed IPv4 is dropped, non-IPv4 passes). A frame whose destination
//! address and protocol are the VIP's (TCP or UDP) is a VIP candidate: fragments (more
//! fragments set or a non-zero offset) are dropped, the TCP (20 bytes) or UDP (8 bytes) header
//! must fit (else malformed), and the destination port must be the VIP's (else it passes). A
//! VIP frame's flow (src, dst, sport, dport, proto) is looked up in the conntrack table; a
//! miss, or a hit on a backend slot emptied since, picks `table[flow_hash % table.len()]` and
//! records it, so flows stick when the Maglev table changes. The frame is rewritten in place
//! (destination IPv4 := backend's, IPv4 and TCP/UDP checksums updated incrementally by
//! RFC 1624 with a zero UDP checksum left zero, destination MAC := backend's, source MAC :=
//! the LB's) and sent back out ([`Verdict::Tx`]) or to an interface ([`Verdict::Redirect`]).
//!
//! Conntrack holds [`FLOWS`] flows and evicts the least recently used, as the eBPF LRU map
//! does approximately; the two may evict differently once more flows than that are live.

use super::frame::{l3, L3};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::Instant;

/// Counter names, indexed as [`XdpLb::counters`] (the same indices as the eBPF map).
pub const LB_COUNTERS: [&str; 9] = [
    "pass_not_ipv4",
    "pass_not_vip",
    "tx",
    "redirect",
    "new_flow",
    "existing_flow",
    "drop_no_backend",
    "drop_malformed",
    "drop_fragment",
];

const PASS_NOT_IPV4: usize = 0;
const PASS_NOT_VIP: usize = 1;
const TX: usize = 2;
const REDIRECT: usize = 3;
const NEW_FLOW: usize = 4;
const EXISTING_FLOW: usize = 5;
const DROP_NO_BACKEND: usize = 6;
const DROP_MALFORMED: usize = 7;
const DROP_FRAGMENT: usize = 8;

/// Flows the conntrack table holds (the eBPF LRU map's size).
pub const FLOWS: usize = 65_536;
/// Most Maglev table slots (the eBPF table map's size, a prime).
pub const TABLE_MAX: usize = 65_537;
/// Most backend slots (the eBPF backends map's size).
pub const BACKENDS_MAX: usize = 4_096;

const TCP: u8 = 6;
const UDP: u8 = 17;

/// A configuration the balancer (and its eBPF twin) cannot hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LbConfigError {
    /// More entries than the program's map holds.
    #[error("{what}: {len} entries, the program holds at most {max}")]
    TooLarge {
        /// What was being loaded.
        what: &'static str,
        /// How many entries were given.
        len: usize,
        /// The capacity.
        max: usize,
    },
}

/// The virtual service: frames for `addr:port` over `proto` are balanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vip {
    /// The VIP's address.
    pub addr: Ipv4Addr,
    /// Its port.
    pub port: u16,
    /// 6 (TCP) or 17 (UDP); any other value balances nothing.
    pub proto: u8,
    /// Source MAC of rewritten frames.
    pub lb_mac: [u8; 6],
    /// `Some(ifindex)`: redirect rewritten frames there; `None`: send them back out.
    pub redirect_ifindex: Option<u32>,
}

/// A flow's 5-tuple, as the conntrack key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flow {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
}

impl Flow {
    /// The flow hash (the eBPF `flow_hash`): MurmurHash3 x86_32, seed 0, over the four words
    /// `src`, `dst`, `sport << 16 | dport`, `proto`.
    pub fn hash(&self) -> u32 {
        let mut h = 0u32;
        for k in [
            self.src,
            self.dst,
            (u32::from(self.sport) << 16) | u32::from(self.dport),
            u32::from(self.proto),
        ] {
            let k = k
                .wrapping_mul(0xcc9e_2d51)
                .rotate_left(15)
                .wrapping_mul(0x1b87_3593);
            h = (h ^ k)
                .rotate_left(13)
                .wrapping_mul(5)
                .wrapping_add(0xe654_6b64);
        }
        h ^= 16;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }
}

/// RFC 1624 eqn. 3 for a 32-bit field changing from `from` to `to` under checksum `check`
/// (all as big-endian values): `~(~HC + ~m + m')` in 16-bit one's complement.
pub fn csum_replace4(check: u16, from: u32, to: u32) -> u16 {
    let mut sum = u32::from(!check);
    sum += u32::from(!(from as u16)) + u32::from(!((from >> 16) as u16));
    sum += (to & 0xffff) + (to >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

#[derive(Clone, Copy, Debug)]
struct Tracked {
    backend: u32,
    used: u64,
}

/// The load balancer.
#[derive(Clone, Debug, Default)]
pub struct XdpLb {
    vip: Option<Vip>,
    backends: Vec<Option<(Ipv4Addr, [u8; 6])>>,
    table: Vec<u32>,
    flows: BTreeMap<Flow, Tracked>,
    lru: BTreeMap<u64, Flow>,
    tick: u64,
    counters: [u64; 9],
}

fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

fn be32(f: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]])
}

impl XdpLb {
    /// A balancer with no VIP (everything passes), no backends and an empty table.
    pub fn new() -> XdpLb {
        XdpLb::default()
    }

    /// Balances `proto` to `ip:port` (the eBPF loader's `set_vip`).
    pub fn set_vip(
        &mut self,
        ip: Ipv4Addr,
        port: u16,
        proto: u8,
        lb_mac: [u8; 6],
        redirect_ifindex: Option<u32>,
    ) {
        self.vip = Some(Vip {
            addr: ip,
            port,
            proto,
            lb_mac,
            redirect_ifindex: redirect_ifindex.filter(|&i| i != 0),
        });
    }

    /// Sets the backends: table value `i` names `backends[i]`; 0.0.0.0 marks an empty slot
    /// (flows held by it pick again).
    pub fn set_backends(&mut self, backends: &[(Ipv4Addr, [u8; 6])]) -> Result<(), LbConfigError> {
        if backends.len() > BACKENDS_MAX {
            return Err(LbConfigError::TooLarge {
                what: "backends",
                len: backends.len(),
                max: BACKENDS_MAX,
            });
        }
        self.backends = backends
            .iter()
            .map(|&(ip, mac)| (!ip.is_unspecified()).then_some((ip, mac)))
            .collect();
        Ok(())
    }

    /// Loads a Maglev table (slot → backend index); its length is the table size.
    pub fn set_table(&mut self, table: &[u32]) -> Result<(), LbConfigError> {
        if table.len() > TABLE_MAX {
            return Err(LbConfigError::TooLarge {
                what: "Maglev table",
                len: table.len(),
                max: TABLE_MAX,
            });
        }
        self.table = table.to_vec();
        Ok(())
    }

    /// Packets per outcome, indexed as [`LB_COUNTERS`].
    pub fn counters(&self) -> [u64; 9] {
        self.counters
    }

    /// The flows conntrack holds now.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// The backend index conntrack holds for `flow`, if any.
    pub fn tracked(&self, flow: &Flow) -> Option<u32> {
        self.flows.get(flow).map(|t| t.backend)
    }

    fn backend(&self, idx: u32) -> Option<(Ipv4Addr, [u8; 6])> {
        self.backends.get(idx as usize).copied().flatten()
    }

    fn touch(&mut self, flow: Flow, backend: u32) {
        self.tick += 1;
        let used = self.tick;
        if let Some(old) = self.flows.get(&flow) {
            self.lru.remove(&old.used);
        } else if self.flows.len() >= FLOWS {
            if let Some((_, evicted)) = self.lru.pop_first() {
                self.flows.remove(&evicted);
            }
        }
        self.flows.insert(flow, Tracked { backend, used });
        self.lru.insert(used, flow);
    }

    fn count(&mut self, c: usize, v: Verdict) -> Verdict {
        self.counters[c] += 1;
        v
    }

    /// The verdict for `frame`, rewriting it in place when it is balanced.
    pub fn decide(&mut self, frame: &mut [u8]) -> Verdict {
        let (at, ihl) = match l3(frame) {
            L3::Malformed => return self.count(DROP_MALFORMED, Verdict::Drop),
            L3::NotIpv4 => return self.count(PASS_NOT_IPV4, Verdict::Pass),
            L3::Ipv4 { at, ihl } => (at, ihl),
        };
        let Some(vip) = self.vip else {
            return self.count(PASS_NOT_VIP, Verdict::Pass);
        };
        let proto = frame[at + 9];
        let dst = be32(frame, at + 16);
        if dst != u32::from(vip.addr) || proto != vip.proto || (proto != TCP && proto != UDP) {
            return self.count(PASS_NOT_VIP, Verdict::Pass);
        }
        if be16(frame, at + 6) & 0x3fff != 0 {
            return self.count(DROP_FRAGMENT, Verdict::Drop);
        }
        let l4 = at + ihl;
        let (need, check_at) = if proto == TCP { (20, 16) } else { (8, 6) };
        if l4 + need > frame.len() {
            return self.count(DROP_MALFORMED, Verdict::Drop);
        }
        let flow = Flow {
            src: be32(frame, at + 12),
            dst,
            sport: be16(frame, l4),
            dport: be16(frame, l4 + 2),
            proto,
        };
        if flow.dport != vip.port {
            return self.count(PASS_NOT_VIP, Verdict::Pass);
        }

        let known = self
            .flows
            .get(&flow)
            .map(|t| t.backend)
            .and_then(|idx| self.backend(idx).map(|b| (idx, b)));
        if let Some(t) = self.flows.get(&flow).copied() {
            // A lookup refreshes the entry, as the kernel's LRU marks it referenced.
            self.touch(flow, t.backend);
        }
        let (idx, (addr, mac), existing) = match known {
            Some((idx, b)) => (idx, b, true),
            None => {
                let Some(slot) = (flow.hash() as usize).checked_rem(self.table.len()) else {
                    return self.count(DROP_NO_BACKEND, Verdict::Drop);
                };
                let idx = self.table[slot];
                let Some(b) = self.backend(idx) else {
                    return self.count(DROP_NO_BACKEND, Verdict::Drop);
                };
                (idx, b, false)
            }
        };
        if !existing {
            self.touch(flow, idx);
        }
        self.count(
            if existing { EXISTING_FLOW } else { NEW_FLOW },
            Verdict::Pass,
        );

        let new = u32::from(addr);
        frame[at + 16..at + 20].copy_from_slice(&addr.octets());
        let ip_check = csum_replace4(be16(frame, at + 10), dst, new);
        frame[at + 10..at + 12].copy_from_slice(&ip_check.to_be_bytes());
        let c = l4 + check_at;
        let old_check = be16(frame, c);
        if proto == TCP {
            frame[c..c + 2].copy_from_slice(&csum_replace4(old_check, dst, new).to_be_bytes());
        } else if old_check != 0 {
            let updated = match csum_replace4(old_check, dst, new) {
                0 => 0xffff, // a computed zero is sent as all ones (RFC 768)
                x => x,
            };
            frame[c..c + 2].copy_from_slice(&updated.to_be_bytes());
        }
        frame[0..6].copy_from_slice(&mac);
        frame[6..12].copy_from_slice(&vip.lb_mac);
        match vip.redirect_ifindex {
            Some(ifindex) => self.count(REDIRECT, Verdict::Redirect(ifindex)),
            None => self.count(TX, Verdict::Tx),
        }
    }
}

impl PacketFilter for XdpLb {
    fn on_packet(&mut self, _now: Instant, frame: &mut [u8]) -> Verdict {
        self.decide(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const LB_MAC: [u8; 6] = [2, 0x1b, 0, 0, 0, 1];

    fn ones_sum(bytes: &[u8]) -> u16 {
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    fn tcp(src: [u8; 4], sport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&[8, 0]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&40u16.to_be_bytes());
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&VIP.octets());
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[46] = 0x50;
        f[47] = 0x02;
        let c = !ones_sum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f
    }

    fn lb(backends: usize) -> XdpLb {
        let mut lb = XdpLb::new();
        lb.set_vip(VIP, 80, 6, LB_MAC, None);
        let b: Vec<_> = (0..backends as u8)
            .map(|i| (Ipv4Addr::new(10, 1, 0, i + 1), [2, 0xbe, 0, 0, 0, i]))
            .collect();
        lb.set_backends(&b).unwrap();
        lb
    }

    #[test]
    fn the_hash_is_murmur3_x86_32_of_the_big_endian_words() {
        // MurmurHash3_x86_32 of the 16 bytes (little-endian words 1, 2, 3, 4), seed 0, as
        // computed by the reference implementation's block loop.
        let f = Flow {
            src: 1,
            dst: 2,
            sport: 0,
            dport: 3,
            proto: 4,
        };
        let mut bytes = Vec::new();
        for w in [1u32, 2, 3, 4] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(f.hash(), reference_murmur3(&bytes));
        assert_ne!(f.hash(), Flow { sport: 1, ..f }.hash());
    }

    fn reference_murmur3(data: &[u8]) -> u32 {
        let mut h: u32 = 0;
        for c in data.chunks_exact(4) {
            let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            k = k.wrapping_mul(0xcc9e2d51);
            k = k.rotate_left(15);
            k = k.wrapping_mul(0x1b873593);
            h ^= k;
            h = h.rotate_left(13);
            h = h.wrapping_mul(5).wrapping_add(0xe6546b64);
        }
        h ^= data.len() as u32;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85ebca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2ae35);
        h ^ (h >> 16)
    }

    #[test]
    fn incremental_checksum_equals_a_full_recompute() {
        let mut f = tcp([198, 51, 100, 7], 40000);
        let mut lb = lb(3);
        lb.set_table(&[2; 7]).unwrap();
        assert_eq!(lb.decide(&mut f), Verdict::Tx);
        assert_eq!(&f[30..34], &[10, 1, 0, 3]);
        assert_eq!(ones_sum(&f[14..34]), 0xffff);
        assert_eq!(&f[0..6], &[2, 0xbe, 0, 0, 0, 2]);
        assert_eq!(&f[6..12], &LB_MAC);
    }

    #[test]
    fn flows_stick_until_their_backend_slot_is_emptied() {
        let mut lb = lb(3);
        lb.set_table(&[0; 7]).unwrap();
        let mut a = tcp([198, 51, 100, 7], 1);
        assert_eq!(lb.decide(&mut a), Verdict::Tx);
        lb.set_table(&[1; 7]).unwrap();
        let mut again = tcp([198, 51, 100, 7], 1);
        lb.decide(&mut again);
        assert_eq!(&again[30..34], &[10, 1, 0, 1], "stuck to backend 0");
        let mut b = tcp([198, 51, 100, 7], 2);
        lb.decide(&mut b);
        assert_eq!(&b[30..34], &[10, 1, 0, 2], "a new flow follows the table");
        let mut backends: Vec<_> = (0..3u8)
            .map(|i| (Ipv4Addr::new(10, 1, 0, i + 1), [2, 0xbe, 0, 0, 0, i]))
            .collect();
        backends[0].0 = Ipv4Addr::UNSPECIFIED;
        lb.set_backends(&backends).unwrap();
        let mut moved = tcp([198, 51, 100, 7], 1);
        lb.decide(&mut moved);
        assert_eq!(
            &moved[30..34],
            &[10, 1, 0, 2],
            "backend 0 gone: picks again"
        );
        assert_eq!(lb.counters()[NEW_FLOW], 3);
        assert_eq!(lb.counters()[EXISTING_FLOW], 1);
        assert_eq!(lb.counters()[TX], 4);
        assert_eq!(lb.flows(), 2);
    }

    #[test]
    fn without_a_table_vip_frames_drop_and_others_pass() {
        let mut lb = lb(1);
        assert_eq!(lb.decide(&mut tcp([1, 2, 3, 4], 5)), Verdict::Drop);
        let mut other = tcp([1, 2, 3, 4], 5);
        other[37] = 81;
        assert_eq!(lb.decide(&mut other), Verdict::Pass);
        assert_eq!(lb.decide(&mut [0u8; 10]), Verdict::Drop);
        assert_eq!(
            lb.counters(),
            [0, 1, 0, 0, 0, 0, 1, 1, 0],
            "{:?}",
            LB_COUNTERS
        );
        assert_eq!(
            lb.set_table(&vec![0; TABLE_MAX + 1]),
            Err(LbConfigError::TooLarge {
                what: "Maglev table",
                len: TABLE_MAX + 1,
                max: TABLE_MAX
            })
        );
    }

    #[test]
    fn conntrack_evicts_the_least_recently_used_flow() {
        let mut lb = lb(1);
        for i in 0..FLOWS as u32 + 1 {
            lb.touch(
                Flow {
                    src: i,
                    dst: 0,
                    sport: 0,
                    dport: 0,
                    proto: 6,
                },
                0,
            );
        }
        assert_eq!(lb.flows(), FLOWS);
        let first = Flow {
            src: 0,
            dst: 0,
            sport: 0,
            dport: 0,
            proto: 6,
        };
        assert_eq!(lb.tracked(&first), None, "the oldest went");
        assert_eq!(lb.tracked(&Flow { src: 1, ..first }), Some(0));
    }
}
