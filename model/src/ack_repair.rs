//! The stale-ACK repair for smoltcp stacks, shared by the simulator's packet fidelity and the
//! smoltcp backend: one host's outgoing TCP segments pass through [`AckRepair::on_transmit`].
//!
//! After a retransmission timeout smoltcp rewinds its send sequence (go-back-N), and the pure
//! ACKs it sends meanwhile carry that stale sequence number. A peer that already received
//! beyond it finds such an ACK outside its window (RFC 9293 §3.10.7.4) and discards it, ACK
//! field included; when both ends of a bidirectional transfer time out together, each
//! discards the other's ACKs and the connection deadlocks. Like Linux (whose ACKs carry
//! SND.NXT), a pure ACK leaves with the highest sequence number sent on its flow.
//!
//! A SYN starts its flow over: a new connection on a reused flow (the ephemeral ports
//! wrapped) has a new initial sequence number, and the old connection's highest sequence
//! must not leak into its ACKs. An RST ends the flow.

use crate::wire::{self, tcp_flags};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A TCP flow as the sending host sees it: (local port, remote address, remote port).
pub type Flow = (u16, Ipv4Addr, u16);

/// Flows remembered by default before the table starts over (bounded memory).
pub const FLOWS_MAX: usize = 1 << 16;

/// What an outgoing frame was, as far as the repair is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Not an IPv4 TCP segment.
    NotTcp,
    /// A segment carrying sequence space not sent before on its flow (SYN, data, FIN).
    New,
    /// A segment re-sending sequence space already sent (a retransmission).
    Retransmission,
    /// A pure ACK, left as it was.
    Ack,
    /// An RST on this flow (the flow is forgotten).
    Reset(Flow),
    /// A pure ACK whose stale sequence number was raised to the highest sent (checksums
    /// fixed).
    RepairedAck,
}

/// The highest sequence number sent per flow of one host.
#[derive(Clone, Debug)]
pub struct AckRepair {
    high: BTreeMap<Flow, u32>,
    flows_max: usize,
}

impl Default for AckRepair {
    fn default() -> Self {
        AckRepair::new(FLOWS_MAX)
    }
}

impl AckRepair {
    /// A repair that remembers at most `flows_max` flows (then forgets them all and starts
    /// over; a forgotten flow's next pure ACK goes out unrepaired).
    pub fn new(flows_max: usize) -> AckRepair {
        AckRepair {
            high: BTreeMap::new(),
            flows_max: flows_max.max(1),
        }
    }

    /// Flows currently remembered.
    pub fn flows(&self) -> usize {
        self.high.len()
    }

    /// Notes an outgoing Ethernet frame; repairs a stale pure ACK in place.
    pub fn on_transmit(&mut self, frame: &mut [u8]) -> Sent {
        let Some(ip) = wire::ipv4(frame) else {
            return Sent::NotTcp;
        };
        let Some(t) = wire::tcp(frame, &ip) else {
            return Sent::NotTcp;
        };
        let flow = (t.src_port, ip.dst, t.dst_port);
        if t.flags & tcp_flags::RST != 0 {
            self.high.remove(&flow);
            return Sent::Reset(flow);
        }
        let len = t.seq_len();
        if len == 0 {
            return match self.high.get(&flow) {
                Some(&high) if (t.seq.wrapping_sub(high) as i32) < 0 => {
                    frame[ip.l4 + 4..ip.l4 + 8].copy_from_slice(&high.to_be_bytes());
                    wire::fix_checksums(frame);
                    Sent::RepairedAck
                }
                _ => Sent::Ack,
            };
        }
        let end = t.seq.wrapping_add(len);
        if t.flags & tcp_flags::SYN != 0 {
            // A new connection on this flow, or its SYN again: the flow starts over. (A
            // retransmitted SYN is then counted as new; SYN retransmissions are the
            // handshake's business.)
            self.high.remove(&flow);
        }
        if self.high.len() >= self.flows_max && !self.high.contains_key(&flow) {
            self.high.clear();
        }
        match self.high.get_mut(&flow) {
            Some(high) if (end.wrapping_sub(*high) as i32) <= 0 => Sent::Retransmission,
            Some(high) => {
                *high = end;
                Sent::New
            }
            None => {
                self.high.insert(flow, end);
                Sent::New
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

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
    fn a_stale_pure_ack_leaves_with_the_highest_sequence_sent() {
        let mut r = AckRepair::default();
        assert_eq!(
            r.on_transmit(&mut seg(1000, tcp_flags::ACK, &[7; 100])),
            Sent::New
        );
        // after an RTO smoltcp rewinds to 1000 and sends a pure ACK with seq 1000
        let mut ack = seg(1000, tcp_flags::ACK, &[]);
        assert_eq!(r.on_transmit(&mut ack), Sent::RepairedAck);
        assert_eq!(seq_of(&ack), 1100);
        assert!(
            wire::checksums_valid(&ack),
            "checksums fixed after the rewrite"
        );
        // a retransmission of the same data is recognised, not rewritten
        let mut again = seg(1000, tcp_flags::ACK, &[7; 100]);
        assert_eq!(r.on_transmit(&mut again), Sent::Retransmission);
        assert_eq!(seq_of(&again), 1000);
        // a current pure ACK is untouched
        let mut cur = seg(1100, tcp_flags::ACK, &[]);
        assert_eq!(r.on_transmit(&mut cur), Sent::Ack);
        assert_eq!(seq_of(&cur), 1100);
    }

    #[test]
    fn a_syn_starts_a_reused_flow_over() {
        let mut r = AckRepair::default();
        r.on_transmit(&mut seg(3_000_000, tcp_flags::ACK, &[1; 500]));
        // The ports wrapped: a new connection on the same flow, with a lower ISN.
        assert_eq!(
            r.on_transmit(&mut seg(1000, tcp_flags::SYN, &[])),
            Sent::New
        );
        let mut ack = seg(1001, tcp_flags::ACK, &[]);
        assert_eq!(
            r.on_transmit(&mut ack),
            Sent::Ack,
            "not raised to the old high"
        );
        assert_eq!(seq_of(&ack), 1001);
        assert_eq!(
            r.on_transmit(&mut seg(1001, tcp_flags::ACK, &[2; 10])),
            Sent::New
        );
    }

    #[test]
    fn an_rst_forgets_the_flow_and_the_table_is_bounded() {
        let mut r = AckRepair::new(2);
        r.on_transmit(&mut seg(1000, tcp_flags::ACK, &[7; 100]));
        let rst = r.on_transmit(&mut seg(1100, tcp_flags::RST, &[]));
        assert_eq!(rst, Sent::Reset((5000, Ipv4Addr::new(10, 0, 0, 2), 80)));
        assert_eq!(r.flows(), 0);
        let mut ack = seg(1000, tcp_flags::ACK, &[]);
        assert_eq!(r.on_transmit(&mut ack), Sent::Ack);
        for port in 0..10u16 {
            let mut f = seg(1, tcp_flags::ACK, &[0; 1]);
            f[wire::ETH_LEN + 20..wire::ETH_LEN + 22].copy_from_slice(&port.to_be_bytes());
            wire::fix_checksums(&mut f);
            r.on_transmit(&mut f);
            assert!(r.flows() <= 2);
        }
        assert_eq!(r.on_transmit(&mut [0u8; 60]), Sent::NotTcp);
    }
}
