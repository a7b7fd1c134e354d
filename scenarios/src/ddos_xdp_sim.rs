//! `ddos-xdp` on the simulator: the XDP filter's model at the server's ingress (packet
//! fidelity), legitimate clients as hosts with UDP sockets, the flood as raw frames with
//! spoofed sources at 20,000 packets per second per source.

use crate::ddos_xdp::{flood_sources, judge, limits, Flow, Kind2, BLOCKED, PORT};
use crate::outcome::Outcome;
use crate::scenario::RunCtx;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use testbed_distributed::xdp::frame::{ipv4_src, l3, L3};
use testbed_distributed::xdp::XdpFilter;
use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::wire::{build_tcp, build_udp, TcpSegment};
use testbed_model::{DatagramSocket, Duration, Instant, Net, Runtime};
use testbed_sim::{Fidelity, Hook, Latency, LinkConfig, Sim, SimConfig};

/// Flood packets per second per source.
const FLOOD_PPS: u64 = 20_000;

/// Per source: packets the filter passed and dropped.
type PerSourceCounts = BTreeMap<Ipv4Addr, (u64, u64)>;

/// The model, counting verdicts per IPv4 source.
struct PerSource {
    filter: XdpFilter,
    counts: Arc<Mutex<PerSourceCounts>>,
}

impl PacketFilter for PerSource {
    fn on_packet(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        let v = self.filter.on_packet(now, frame);
        if let L3::Ipv4 { at, .. } = l3(frame) {
            let src = Ipv4Addr::from(ipv4_src(frame, at));
            let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            let e = c.entry(src).or_default();
            match v {
                Verdict::Drop => e.1 += 1,
                _ => e.0 += 1,
            }
        }
        v
    }
}

pub(crate) fn run(ctx: &RunCtx<'_>, out: &mut Outcome, clients: u64, requests: u64, flood: u64) {
    let cfg = SimConfig {
        default_link: LinkConfig {
            latency: Latency::Fixed(Duration::from_millis(1)),
            bandwidth: None,
            ..LinkConfig::default()
        },
        fidelity: Fidelity::Packet,
        datagram_queue: 65_536,
        time_limit: Duration::from_secs(3600),
        ..ctx.sim_config()
    };
    let mut sim = Sim::new(cfg);
    let received: Rc<RefCell<BTreeMap<Ipv4Addr, u64>>> = Rc::default();
    let rx = received.clone();
    sim.host("server", move |h| {
        let rx = rx.clone();
        async move {
            let s = h
                .bind_datagram(SocketAddr::from(([0, 0, 0, 0], PORT)))
                .expect("fresh host");
            let mut buf = [0u8; 2048];
            while let Ok((_, from)) = s.recv_from(&mut buf).await {
                if let IpAddr::V4(ip) = from.ip() {
                    *rx.borrow_mut().entry(ip).or_default() += 1;
                }
            }
        }
    });
    let server = sim.handle("server").expect("server");
    let counts: Arc<Mutex<PerSourceCounts>> = Arc::default();
    let mut filter = XdpFilter::new();
    filter.block(BLOCKED.0, BLOCKED.1);
    filter.set_limits(limits());
    server.attach_filter(
        Hook::Ingress,
        PerSource {
            filter,
            counts: counts.clone(),
        },
    );
    let legit_ips: Rc<RefCell<Vec<(String, Ipv4Addr)>>> = Rc::default();
    for c in 0..clients {
        let ips = legit_ips.clone();
        sim.host(&format!("legit-{c}"), move |h| {
            let ips = ips.clone();
            async move {
                let IpAddr::V4(me) = h.local_ip() else {
                    return;
                };
                ips.borrow_mut().push((format!("legit-{c}"), me));
                let Some(srv) = h.lookup("server") else {
                    return;
                };
                let Ok(s) = h.bind_datagram(SocketAddr::from(([0, 0, 0, 0], 0))) else {
                    return;
                };
                for _ in 0..requests / 10 {
                    for _ in 0..10 {
                        let _ = s.send_to(b"request", SocketAddr::new(srv, PORT)).await;
                    }
                    h.sleep(Duration::from_millis(20)).await;
                }
            }
        });
    }
    sim.host("flooder", move |h| async move {
        let Some(IpAddr::V4(target)) = h.lookup("server") else {
            return;
        };
        let gap = Duration::from_nanos(1_000_000_000 / FLOOD_PPS);
        let mut next = h.now();
        for i in 0..flood {
            for (_, src, kind) in flood_sources() {
                let port = 1024 + (i % 60_000) as u16;
                let frame = match kind {
                    Kind2::SynFlood => build_tcp(
                        SocketAddrV4::new(src, port),
                        SocketAddrV4::new(target, 80),
                        &TcpSegment {
                            seq: i as u32,
                            flags: 0x02,
                            window: 65_535,
                            ..TcpSegment::default()
                        },
                    ),
                    _ => build_udp(
                        SocketAddrV4::new(src, port),
                        SocketAddrV4::new(target, PORT + 1),
                        &[0x55; 18],
                    ),
                };
                let _ = h.send_frame(frame);
            }
            next += gap;
            h.sleep_until(next).await;
        }
    });
    let run = sim.run();
    out.sim_run(&run, sim.trace_hash());
    let counts = counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let passed = |ip: Ipv4Addr| counts.get(&ip).map(|c| c.0).unwrap_or(0);
    let mut flows: Vec<Flow> = legit_ips
        .borrow()
        .iter()
        .map(|(name, ip)| Flow {
            name: name.clone(),
            src: *ip,
            kind: Kind2::Legit,
            sent: requests / 10 * 10,
            passed: passed(*ip),
            received: Some(received.borrow().get(ip).copied().unwrap_or(0)),
        })
        .collect();
    flows.extend(flood_sources().into_iter().map(|(name, src, kind)| Flow {
        name,
        src,
        kind,
        sent: flood,
        passed: passed(src),
        received: None,
    }));
    judge(out, &flows, flood as f64 / FLOOD_PPS as f64);
}
