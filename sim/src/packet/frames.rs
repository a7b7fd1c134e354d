//! Frames on the simulated wire: egress filter → pcap → route → link (loss, duplication,
//! bandwidth queue, latency, jitter, reordering, partitions) → ingress filter → pcap → the
//! destination's stack (TCP) or datagram socket (UDP).

use super::filter::Hook;
use crate::slab::Key;
use crate::trace::{DropReason, Kind};
use crate::world::{Ev, HostId, LinkState, Transit, World, NO_HOST};
use std::net::IpAddr;
use testbed_model::packet::Verdict;
use testbed_model::wire::{self, tcp_flags};

pub(crate) struct InFlightFrame {
    pub(crate) src: HostId,
    pub(crate) dst: HostId,
    pub(crate) data: Vec<u8>,
}

/// Trace summary of a frame: IP protocol << 8 | TCP flags (0 if not IPv4).
fn summary(ip: Option<&wire::Ipv4View>, tcp: Option<&wire::TcpView>) -> u64 {
    match ip {
        Some(ip) => (ip.proto as u64) << 8 | tcp.map_or(0, |t| t.flags) as u64,
        None => 0,
    }
}

impl World {
    /// A frame leaves `host`: its egress filter (if `filter`) decides, then it is routed by
    /// destination address and put on the link.
    pub(crate) fn send_frame(&mut self, host: HostId, mut frame: Vec<u8>, filter: bool) {
        if filter {
            match self.run_filter(host, Hook::Egress, &mut frame) {
                Verdict::Pass => {}
                Verdict::Tx => return self.deliver_local(host, frame, false),
                Verdict::Redirect(to) => return self.redirect(host, to, frame),
                _ => return,
            }
        }
        self.pcap_record(host, &frame);
        self.trace.mix(crate::trace::content_hash(&frame));
        let ip = wire::ipv4(&frame);
        let tcp = ip.as_ref().and_then(|ip| wire::tcp(&frame, ip));
        let (len, sum) = (frame.len() as u64, summary(ip.as_ref(), tcp.as_ref()));
        let to = ip.and_then(|ip| self.resolve(host, IpAddr::V4(ip.dst)));
        self.record(
            Kind::FrameSend,
            DropReason::None,
            host,
            to.unwrap_or(NO_HOST),
            len,
            sum,
        );
        match to {
            Some(to) => self.transmit(host, to, frame),
            None => self.record(Kind::Drop, DropReason::NoRoute, host, NO_HOST, len, 0),
        }
    }

    fn redirect(&mut self, host: HostId, to: u32, frame: Vec<u8>) {
        if (to as usize) < self.hosts.len() {
            self.transmit(host, to, frame);
        } else {
            self.record(
                Kind::Drop,
                DropReason::NoRoute,
                host,
                to,
                frame.len() as u64,
                0,
            );
        }
    }

    /// Puts a frame on the link `src → dst`.
    pub(crate) fn transmit(&mut self, src: HostId, dst: HostId, frame: Vec<u8>) {
        let copies = if self.link_mut(src, dst).duplicates() {
            self.record(
                Kind::Duplicate,
                DropReason::None,
                src,
                dst,
                frame.len() as u64,
                0,
            );
            2
        } else {
            1
        };
        if copies == 2 {
            let key = self.frames.insert(InFlightFrame {
                src,
                dst,
                data: frame.clone(),
            });
            self.put_frame_on_link(key);
        }
        let key = self.frames.insert(InFlightFrame {
            src,
            dst,
            data: frame,
        });
        self.put_frame_on_link(key);
    }

    fn put_frame_on_link(&mut self, key: Key) {
        let f = self.frames.get(key).expect("in flight");
        let (src, dst, len) = (f.src, f.dst, f.data.len());
        let now = self.now;
        // The link's MTU counts the IP packet, not the Ethernet header.
        let ip_len = len.saturating_sub(wire::ETH_LEN);
        if ip_len > self.link(src, dst).cfg.mtu {
            self.frames.remove(key);
            return self.record(Kind::Drop, DropReason::Mtu, src, dst, len as u64, 0);
        }
        match self.link_mut(src, dst).transit(now, ip_len) {
            Transit::Arrive(t) => self.schedule(t, Ev::Frame(key)),
            Transit::Dropped(r) => {
                self.frames.remove(key);
                self.record(Kind::Drop, r, src, dst, len as u64, 0);
            }
            Transit::Blocked(LinkState::Held) => self.link_mut(src, dst).held_frames.push(key),
            Transit::Blocked(_) => {
                self.frames.remove(key);
                self.record(Kind::Drop, DropReason::Partition, src, dst, len as u64, 0);
            }
        }
    }

    /// A held link was released: its frames go out now.
    pub(crate) fn release_frame(&mut self, key: Key) {
        self.put_frame_on_link(key);
    }

    pub(crate) fn on_frame(&mut self, key: Key) {
        let Some(f) = self.frames.get(key) else {
            return;
        };
        let (src, dst) = (f.src, f.dst);
        match self.link(src, dst).state {
            LinkState::Up => {}
            LinkState::Held => return self.link_mut(src, dst).held_frames.push(key),
            LinkState::Partitioned => {
                let f = self.frames.remove(key).expect("checked");
                return self.record(
                    Kind::Drop,
                    DropReason::Partition,
                    src,
                    dst,
                    f.data.len() as u64,
                    0,
                );
            }
        }
        let mut frame = self.frames.remove(key).expect("checked").data;
        if !self.hosts[dst as usize].up {
            return self.record(
                Kind::Drop,
                DropReason::HostDown,
                src,
                dst,
                frame.len() as u64,
                0,
            );
        }
        match self.run_filter(dst, Hook::Ingress, &mut frame) {
            Verdict::Pass => {
                // Frames are batched into one stack poll per instant, except on hosts with
                // filters: there a filter's next decision may depend on the stack's answer
                // to this frame (a SYN proxy), as in a kernel that runs the stack per packet.
                let f = &self.hosts[dst as usize].filters;
                let poll_now = f.ingress.is_some() || f.egress.is_some();
                self.deliver_local(dst, frame, poll_now)
            }
            Verdict::Tx => self.send_frame(dst, frame, false),
            Verdict::Redirect(to) => self.redirect(dst, to, frame),
            _ => {}
        }
    }

    /// Hands a frame to `host`'s stack or datagram sockets. `poll_now`: run the stack at once
    /// (a frame arrival) rather than in a scheduled poll (a frame bounced back by a filter
    /// while the stack is running).
    pub(crate) fn deliver_local(&mut self, host: HostId, frame: Vec<u8>, poll_now: bool) {
        let len = frame.len() as u64;
        let Some(ip) = wire::ipv4(&frame) else {
            return self.record(Kind::Drop, DropReason::Unhandled, NO_HOST, host, len, 0);
        };
        let tcp = wire::tcp(&frame, &ip);
        self.pcap_record(host, &frame);
        self.record(
            Kind::FrameDeliver,
            DropReason::None,
            NO_HOST,
            host,
            len,
            summary(Some(&ip), tcp.as_ref()),
        );
        if let Some(u) = wire::udp(&frame, &ip) {
            return self.udp_frame_arrived(host, &frame, &ip, &u);
        }
        let Some(t) = tcp else {
            return self.record(Kind::Drop, DropReason::Unhandled, NO_HOST, host, len, 0);
        };
        let Some(st) = self.stack(host) else {
            return self.record(Kind::Drop, DropReason::HostDown, NO_HOST, host, len, 0);
        };
        st.stats.frames_received += 1;
        if t.flags & (tcp_flags::RST | tcp_flags::FIN) != 0 {
            st.conns
                .control_in((t.dst_port, ip.src, t.src_port), t.flags);
        }
        if t.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
            && !st.admit_syn(ip.dst, t.dst_port, (t.dst_port, ip.src, t.src_port))
        {
            return self.record(
                Kind::Drop,
                DropReason::ListenQueueFull,
                NO_HOST,
                host,
                len,
                t.dst_port as u64,
            );
        }
        let st = self.stack(host).expect("checked");
        st.dev.rx.push_back(frame);
        if poll_now {
            self.stack_poll(host);
        } else {
            self.request_poll(host);
        }
    }
}
