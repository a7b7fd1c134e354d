//! `ddos-xdp` on the xdp backend: the real filter (driver mode, skb as fallback) on the inner
//! end of a veth in a namespace this run creates, the server's UDP socket in that namespace,
//! legitimate clients as real UDP sockets on extra addresses of the outer end, and the flood
//! from the live-frames generator, one source after another (the counters' deltas around each
//! generator run are that source's verdicts).

use crate::ddos_xdp::{flood_sources, judge, limits, Flow, Kind2, BLOCKED, PORT};
use crate::outcome::Outcome;
use crate::scenario::RunError;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use testbed_model::wire::{build_tcp, build_udp, TcpSegment};
use testbed_xdp::netns::{Netns, Veth};
use testbed_xdp::{FilterConfig, Generator, XdpFilter};

const INNER: Ipv4Addr = Ipv4Addr::new(10, 82, 0, 1);

fn setup(e: impl std::fmt::Display) -> RunError {
    RunError::Setup(e.to_string())
}

pub(crate) fn run(
    out: &mut Outcome,
    clients: u64,
    requests: u64,
    flood: u64,
) -> Result<(), RunError> {
    testbed_xdp::available().map_err(setup)?;
    let ns = Netns::new("tbdx").map_err(setup)?;
    let veth = Veth::new(&ns, "10.82.0.254", &INNER.to_string()).map_err(setup)?;
    let legit: Vec<Ipv4Addr> = (0..clients as u8)
        .map(|i| Ipv4Addr::new(10, 82, 0, 10 + i))
        .collect();
    for ip in &legit {
        testbed_xdp::netns::ip(&["addr", "add", &format!("{ip}/24"), "dev", &veth.outer])
            .map_err(setup)?;
    }
    let inner = veth.inner.clone();
    let l = limits();
    let (mut filter, server, mode) = ns
        .run_in(move || -> Result<_, testbed_xdp::XdpError> {
            let mut f = XdpFilter::load()?;
            let mode = f.attach(&inner, false)?;
            f.maps.block(BLOCKED.0, BLOCKED.1)?;
            f.maps.configure(FilterConfig {
                cost_ns: l.cost_ns,
                cap_ns: l.cap_ns,
                syn_cost_ns: l.syn_cost_ns,
                syn_cap_ns: l.syn_cap_ns,
                now_ns: 0,
            })?;
            let s = UdpSocket::bind(SocketAddr::from((INNER, PORT)))
                .map_err(|e| testbed_xdp::XdpError::Setup(format!("bind the server: {e}")))?;
            Ok((f, s, mode))
        })
        .and_then(|r| r)
        .map_err(setup)?;
    out.metric("xdp_mode", format!("{mode:?}"));
    // The server counts datagrams per source until told to stop.
    server
        .set_read_timeout(Some(std::time::Duration::from_millis(50)))
        .map_err(setup)?;
    let received: Arc<Mutex<BTreeMap<Ipv4Addr, u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (rx, st) = (received.clone(), stop.clone());
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !st.load(Ordering::Relaxed) {
            if let Ok((_, SocketAddr::V4(from))) = server.recv_from(&mut buf) {
                *rx.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(*from.ip())
                    .or_default() += 1;
            }
        }
    });
    // Legitimate clients: 10 datagrams each every 20 ms.
    let socks: Vec<UdpSocket> = legit
        .iter()
        .map(|ip| UdpSocket::bind(SocketAddr::from((*ip, 0))))
        .collect::<Result<_, _>>()
        .map_err(setup)?;
    let before = filter.maps.counters().map_err(setup)?;
    for _ in 0..requests / 10 {
        for s in &socks {
            for _ in 0..10 {
                s.send_to(b"request", SocketAddr::from((INNER, PORT)))
                    .map_err(setup)?;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let legit_passed = filter.maps.counters().map_err(setup)?[0] - before[0];
    // The flood, one source at a time.
    let inner_mac = veth.inner_mac(&ns).map_err(setup)?;
    let outer_mac = veth.outer_mac().map_err(setup)?;
    let ifindex = veth.outer_ifindex().map_err(setup)?;
    let mut generator = Generator::load().map_err(setup)?;
    let mut flows = Vec::new();
    let mut longest = 0f64;
    for (name, src, kind) in flood_sources() {
        let mut frame = match kind {
            Kind2::SynFlood => build_tcp(
                SocketAddrV4::new(src, 40000),
                SocketAddrV4::new(INNER, 80),
                &TcpSegment {
                    flags: 0x02,
                    window: 65_535,
                    ..TcpSegment::default()
                },
            ),
            _ => build_udp(
                SocketAddrV4::new(src, 40000),
                SocketAddrV4::new(INNER, PORT + 1),
                &[0x55; 18],
            ),
        };
        frame[0..6].copy_from_slice(&inner_mac);
        frame[6..12].copy_from_slice(&outer_mac);
        let c0 = filter.maps.counters().map_err(setup)?;
        let took = generator
            .send(ifindex, &frame, flood as u32, 64)
            .map_err(setup)?;
        let c1 = filter.maps.counters().map_err(setup)?;
        longest = longest.max(took.as_secs_f64());
        flows.push(Flow {
            name,
            src,
            kind,
            sent: flood,
            passed: c1[0] - c0[0],
            received: None,
        });
    }
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let received = received.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // Each legit source's verdicts are not separable in the counters; every legit datagram
    // passing shows as the pass delta equalling the total sent, and as each arriving.
    let sent = requests / 10 * 10;
    let all_passed = legit_passed == sent * clients;
    let mut legit_flows: Vec<Flow> = legit
        .iter()
        .enumerate()
        .map(|(i, ip)| Flow {
            name: format!("legit-{i}"),
            src: *ip,
            kind: Kind2::Legit,
            sent,
            passed: if all_passed {
                sent
            } else {
                received.get(ip).copied().unwrap_or(0)
            },
            received: Some(received.get(ip).copied().unwrap_or(0)),
        })
        .collect();
    legit_flows.extend(flows);
    out.metric("legit_pass_counter", legit_passed);
    out.metric("flood_seconds_longest", longest);
    judge(out, &legit_flows, longest.max(0.001));
    filter.detach().map_err(setup)?;
    Ok(())
}
