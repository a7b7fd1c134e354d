//! The impairment bridge (testbed-stack's `bridge`) between two DPDK ports: frames sent into
//! one ring pair cross the bridge onto another with the link model applied, and the outcome
//! (which frames arrive, when, how often) is exactly the one the same seed and clock give over
//! in-memory ports — the link model decides, the ports only carry.

mod common;

use bytes::Bytes;
use testbed_dpdk::{DpdkPacketPort, Eal, Mempool, MempoolConfig, Port, PortConfig, RingPair};
use testbed_model::packet::PacketPort;
use testbed_model::{Duration, Instant};
use testbed_stack::bridge::{Bridge, BridgeConfig, Latency, LinkConfig};
use testbed_stack::mem::MemPort;

const STEP: Duration = Duration::from_micros(100);
const FRAMES: u32 = 2000;

fn link() -> LinkConfig {
    LinkConfig {
        latency: Latency::ms(2),
        jitter: Duration::from_micros(300),
        loss: 0.1,
        duplicate: 0.05,
        reorder: 0.05,
        ..LinkConfig::default()
    }
}

fn frame(i: u32) -> Bytes {
    let mut f = common::frame([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], i);
    f.resize(200, 0);
    Bytes::from(f)
}

fn tag(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[14], f[15], f[16], f[17]])
}

/// Sends `FRAMES` frames into `tx` one per `STEP`, polls the bridge on an injected clock and
/// drains `rx`: each arrival as (frame tag, arrival time in steps).
fn drive<T: PacketPort, A: PacketPort, B: PacketPort, R: PacketPort>(
    tx: &mut T,
    bridge: &mut Bridge<A, B>,
    rx: &mut R,
) -> Vec<(u32, u64)>
where
    T::Error: std::fmt::Debug,
    R::Error: std::fmt::Debug,
    A::Error: std::error::Error + 'static,
    B::Error: std::error::Error + 'static,
{
    let mut got = Vec::new();
    let mut buf = Vec::new();
    let end = u64::from(FRAMES) + 200;
    for step in 0..end {
        if step < u64::from(FRAMES) {
            assert_eq!(tx.tx_burst(&[frame(step as u32)]).unwrap(), 1);
        }
        let now = Instant::ZERO + STEP * step as u32;
        bridge.poll(now).unwrap();
        buf.clear();
        while rx.rx_burst(&mut buf, 32).unwrap() > 0 {}
        got.extend(buf.iter().map(|f| {
            assert_eq!(f.len(), 200, "frames cross whole");
            (tag(f), step)
        }));
    }
    got
}

fn eal() -> Option<&'static Eal> {
    common::eal(&[])
}

#[test]
fn a_bridge_between_dpdk_ports_applies_the_link_model_as_over_memory() {
    let Some(eal) = eal() else { return };
    let pool = Mempool::new(
        eal,
        "bridge",
        MempoolConfig {
            mbufs: 8191,
            cache: 0,
            data_room: 2176,
        },
    )
    .unwrap();
    let (p1, p2) = (
        RingPair::new(eal, "br1", 4096, &pool).unwrap(),
        RingPair::new(eal, "br2", 4096, &pool).unwrap(),
    );
    let [a1, b1] = p1.port_ids();
    let [a2, b2] = p2.port_ids();
    let open = |id| {
        let port = Port::open(id, &pool, PortConfig::default()).unwrap();
        DpdkPacketPort::new(port, &pool).unwrap()
    };
    let (mut tx, side_a, side_b, mut rx) = (open(a1), open(b1), open(a2), open(b2));
    let cfg = BridgeConfig::symmetric(link(), 7);
    let mut bridge = Bridge::new(cfg.clone(), side_a, side_b).unwrap();
    let over_dpdk = drive(&mut tx, &mut bridge, &mut rx);
    let dpdk_stats = bridge.stats();

    let (mut mtx, ma) = MemPort::pair(1 << 16);
    let (mb, mut mrx) = MemPort::pair(1 << 16);
    let mut mem_bridge = Bridge::new(cfg, ma, mb).unwrap();
    let over_mem = drive(&mut mtx, &mut mem_bridge, &mut mrx);

    assert_eq!(over_dpdk, over_mem, "same seed and clock, same deliveries");
    assert_eq!(dpdk_stats, mem_bridge.stats());
    // The model did act: about 10% lost, some duplicated, some overtaken, none early.
    let distinct: std::collections::BTreeSet<u32> = over_dpdk.iter().map(|g| g.0).collect();
    let lost = FRAMES as usize - distinct.len();
    assert!((120..=280).contains(&lost), "lost {lost} of {FRAMES}");
    assert!(
        over_dpdk.len() > distinct.len(),
        "some frames arrived twice"
    );
    assert!(
        over_dpdk.windows(2).any(|w| w[1].0 < w[0].0),
        "some frames were overtaken"
    );
    assert!(
        over_dpdk.iter().all(|&(t, at)| at >= u64::from(t) + 20),
        "no frame arrives before the 2 ms latency"
    );
    // The DPDK ports carried exactly what the bridge forwarded.
    assert_eq!(
        rx.port().stats().unwrap().rx_packets,
        over_dpdk.len() as u64
    );
}
