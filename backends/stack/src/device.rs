//! The smoltcp `phy::Device` over a port's frames: received frames wait in a bounded queue
//! until smoltcp reads them, transmitted frames wait in a bounded queue until the run loop
//! hands them to `tx_burst`. Ethernet medium (smoltcp does ARP itself), software checksums
//! both ways (veth and AF_XDP deliver frames without offload help).
//!
//! Two repairs happen here, on frames as they cross:
//! - stale pure ACKs: after a retransmission timeout smoltcp rewinds SND.NXT (go-back-N) and
//!   the pure ACKs it sends meanwhile carry that stale sequence number, which a peer drops;
//!   as Linux does, a pure ACK leaves with the highest sequence number sent on its flow
//!   ([`testbed_model::ack_repair`], shared with the simulator's packet fidelity).
//! - static neighbours: smoltcp has no API to insert a neighbour entry, so an ARP request it
//!   sends for a static neighbour is answered here, on the spot, with the configured MAC.

use crate::config::{BURST, FRAME_MAX};
use bytes::Bytes;
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SmolInstant;
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use testbed_model::ack_repair::{AckRepair, Sent};
use testbed_model::wire;

/// A TCP flow as this host sees it: (local port, remote address, remote port).
pub(crate) use testbed_model::ack_repair::Flow;

/// Frames each queue holds at most.
pub(crate) const QUEUE_FRAMES: usize = 1024;
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];

pub(crate) struct PortDevice {
    pub(crate) rx: VecDeque<Bytes>,
    pub(crate) tx: VecDeque<Bytes>,
    /// Frame size limit (Ethernet header included).
    frame_max: usize,
    /// Highest sequence number sent per flow, for the stale-ACK repair.
    sent: AckRepair,
    /// Counters the stack reports.
    pub(crate) acks_repaired: u64,
    pub(crate) retransmits: u64,
}

impl PortDevice {
    pub(crate) fn new(port_mtu: usize) -> PortDevice {
        PortDevice {
            rx: VecDeque::with_capacity(BURST * 4),
            tx: VecDeque::with_capacity(BURST * 4),
            frame_max: (port_mtu + wire::ETH_LEN).min(FRAME_MAX),
            sent: AckRepair::default(),
            acks_repaired: 0,
            retransmits: 0,
        }
    }

    /// Room for more received frames.
    pub(crate) fn rx_room(&self) -> usize {
        QUEUE_FRAMES.saturating_sub(self.rx.len())
    }

    /// Notes an outgoing TCP segment; repairs a stale pure ACK in place.
    fn note_sent(&mut self, frame: &mut [u8]) {
        match self.sent.on_transmit(frame) {
            Sent::RepairedAck => self.acks_repaired += 1,
            Sent::Retransmission => self.retransmits += 1,
            Sent::NotTcp | Sent::New | Sent::Ack | Sent::Reset(_) => {}
        }
    }

    /// Answers, from `neighbors`, the ARP requests smoltcp queued for transmission: each is
    /// removed from the tx queue and a reply is queued for smoltcp to receive. Returns how
    /// many were answered.
    pub(crate) fn answer_static_arp(&mut self, neighbors: &BTreeMap<Ipv4Addr, [u8; 6]>) -> usize {
        if neighbors.is_empty() {
            return 0;
        }
        let mut answered = 0;
        let mut i = 0;
        while i < self.tx.len() {
            let reply = arp_request_target(&self.tx[i])
                .and_then(|(target, req)| neighbors.get(&target).map(|mac| arp_reply(req, *mac)));
            match reply {
                Some(r) if self.rx.len() < QUEUE_FRAMES => {
                    self.tx.remove(i);
                    self.rx.push_back(Bytes::from(r));
                    answered += 1;
                }
                _ => i += 1,
            }
        }
        answered
    }
}

/// The target address of an ARP request frame, and the frame.
fn arp_request_target(f: &[u8]) -> Option<(Ipv4Addr, &[u8])> {
    // Ethernet(14) + ARP: htype 1, ptype 0x0800, hlen 6, plen 4, op 1.
    if f.len() < 42 || f[12..14] != ETHERTYPE_ARP || f[14..22] != [0, 1, 8, 0, 6, 4, 0, 1] {
        return None;
    }
    Some((Ipv4Addr::new(f[38], f[39], f[40], f[41]), f))
}

/// The ARP reply to request `req` from `mac`.
fn arp_reply(req: &[u8], mac: [u8; 6]) -> Vec<u8> {
    let mut r = vec![0u8; 42];
    r[0..6].copy_from_slice(&req[6..12]); // to the requester
    r[6..12].copy_from_slice(&mac);
    r[12..14].copy_from_slice(&ETHERTYPE_ARP);
    r[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    r[22..28].copy_from_slice(&mac); // sender hardware address
    r[28..32].copy_from_slice(&req[38..42]); // sender protocol address = the target asked for
    r[32..38].copy_from_slice(&req[22..28]); // target = the requester
    r[38..42].copy_from_slice(&req[28..32]);
    r
}

pub(crate) struct Rx(Bytes);
pub(crate) struct Tx<'a>(&'a mut PortDevice);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        if len <= self.0.frame_max {
            self.0.note_sent(&mut frame);
            self.0.tx.push_back(Bytes::from(frame));
        }
        r
    }
}

impl phy::Device for PortDevice {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        if self.tx.len() >= QUEUE_FRAMES {
            return None; // a reply could not be queued: leave the frame until tx drains
        }
        let frame = self.rx.pop_front()?;
        Some((Rx(frame), Tx(self)))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<Tx<'_>> {
        (self.tx.len() < QUEUE_FRAMES).then_some(Tx(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.frame_max;
        caps.max_burst_size = Some(BURST);
        caps.checksum = ChecksumCapabilities::default(); // compute and verify all
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;
    use testbed_model::wire::tcp_flags;

    fn seg(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        wire::build_tcp(
            src,
            dst,
            &wire::TcpSegment {
                seq,
                ack: 1,
                flags,
                window: 1000,
                options: &[],
                payload,
            },
        )
    }

    fn seq_of(f: &[u8]) -> u32 {
        let ip = wire::ipv4(f).unwrap();
        wire::tcp(f, &ip).unwrap().seq
    }

    #[test]
    fn stale_pure_ack_leaves_with_the_highest_sequence_sent() {
        let mut d = PortDevice::new(1500);
        let mut data = seg(1000, tcp_flags::ACK, &[7; 100]);
        d.note_sent(&mut data);
        // after an RTO smoltcp rewinds to 1000 and sends a pure ACK with seq 1000
        let mut ack = seg(1000, tcp_flags::ACK, &[]);
        d.note_sent(&mut ack);
        assert_eq!(seq_of(&ack), 1100);
        assert!(wire::checksums_valid(&ack), "checksums fixed after rewrite");
        assert_eq!(d.acks_repaired, 1);
        // a retransmission of the same data is counted, not rewritten
        let mut again = seg(1000, tcp_flags::ACK, &[7; 100]);
        d.note_sent(&mut again);
        assert_eq!(seq_of(&again), 1000);
        assert_eq!(d.retransmits, 1);
        // a current pure ACK is untouched
        let mut cur = seg(1100, tcp_flags::ACK, &[]);
        d.note_sent(&mut cur);
        assert_eq!(seq_of(&cur), 1100);
        assert_eq!(d.acks_repaired, 1);
    }

    #[test]
    fn static_arp_requests_are_answered_locally() {
        let mut d = PortDevice::new(1500);
        let mut req = vec![0u8; 42];
        req[0..6].copy_from_slice(&[0xff; 6]);
        req[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        req[12..14].copy_from_slice(&ETHERTYPE_ARP);
        req[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        req[22..28].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        req[28..32].copy_from_slice(&[10, 0, 0, 1]);
        req[38..42].copy_from_slice(&[10, 0, 0, 9]);
        d.tx.push_back(Bytes::from(req.clone()));
        let mut n = BTreeMap::new();
        n.insert(Ipv4Addr::new(10, 0, 0, 8), [2, 0, 0, 0, 0, 8]);
        assert_eq!(d.answer_static_arp(&n), 0, "not a static neighbour");
        assert_eq!(d.tx.len(), 1);
        n.insert(Ipv4Addr::new(10, 0, 0, 9), [2, 0, 0, 0, 0, 9]);
        assert_eq!(d.answer_static_arp(&n), 1);
        assert!(d.tx.is_empty());
        let r = d.rx.pop_front().unwrap();
        assert_eq!(&r[0..6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&r[20..22], &[0, 2], "an ARP reply");
        assert_eq!(&r[22..28], &[2, 0, 0, 0, 0, 9]);
        assert_eq!(&r[28..32], &[10, 0, 0, 9]);
        assert_eq!(&r[38..42], &[10, 0, 0, 1]);
    }
}
