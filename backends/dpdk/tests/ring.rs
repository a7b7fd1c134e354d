//! Ports joined by rte_rings (RingPair): bursts both ways, the one-pool rule, PacketPort round
//! trips, and l2fwd forwarding between two pairs with the MAC addresses rewritten.

mod common;

use bytes::Bytes;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use testbed_dpdk::l2fwd;
use testbed_dpdk::{
    DpdkPacketPort, Eal, MacAddr, Mbuf, Mempool, MempoolConfig, PacketPortError, Port, PortConfig,
    PortError, RingPair,
};
use testbed_model::packet::PacketPort;

fn eal() -> Option<&'static Eal> {
    common::eal(&[])
}

fn pool(eal: &'static Eal, name: &str) -> Mempool<'static> {
    Mempool::new(
        eal,
        name,
        MempoolConfig {
            mbufs: 2047,
            cache: 0,
            data_room: 2176,
        },
    )
    .unwrap()
}

fn mbufs<'p>(pool: &'p Mempool<'_>, frames: &[Vec<u8>]) -> Vec<Mbuf<'p>> {
    frames
        .iter()
        .map(|f| {
            let mut m = pool.alloc().unwrap();
            m.append(f).unwrap();
            m
        })
        .collect()
}

#[test]
fn what_one_end_sends_the_other_receives() {
    let Some(eal) = eal() else {
        return;
    };
    let pool = pool(eal, "ring_basic");
    let other = pool_other(eal);
    {
        let pair = RingPair::new(eal, "basic", 256, &pool).unwrap();
        let [a, b] = pair.port_ids();
        assert_ne!(a.id(), b.id());
        let mut pa = Port::open(a, &pool, PortConfig::default()).unwrap();
        let mut pb = Port::open(b, &pool, PortConfig::default()).unwrap();
        assert!(matches!(
            Port::open(a, &other, PortConfig::default()),
            Err(PortError::BadConfig(_) | PortError::Busy(_))
        ));
        let frames: Vec<Vec<u8>> = (0..40)
            .map(|i| common::frame([0xff; 6], [2, 0, 0, 0, 0, 9], i))
            .collect();
        let mut out = mbufs(&pool, &frames);
        assert_eq!(pa.tx_burst(0, &mut out), 40);
        assert!(out.is_empty());
        let mut got = Vec::new();
        while pb.rx_burst(0, &mut got, 32) > 0 {}
        assert_eq!(got.len(), 40);
        for (m, f) in got.iter().zip(&frames) {
            assert_eq!(m.data(), &f[..]);
        }
        // And back, b -> a.
        assert_eq!(pb.tx_burst(0, &mut got), 40);
        let mut back = Vec::new();
        assert_eq!(pa.rx_burst(0, &mut back, 64), 40);
        assert_eq!(back[39].data(), &frames[39][..]);
        drop(back);

        // Mbufs of another pool stay with the caller: a ring port sends its pair's pool only.
        let mut foreign = vec![other.alloc().unwrap(), other.alloc().unwrap()];
        foreign.insert(0, pool.alloc().unwrap());
        assert_eq!(
            pa.tx_burst(0, &mut foreign),
            1,
            "stops at the first foreign mbuf"
        );
        assert_eq!(foreign.len(), 2);
        // Leave frames parked in the rings: dropping ports and pair must return them.
        let mut park = mbufs(&pool, &frames[..5]);
        assert_eq!(pb.tx_burst(0, &mut park), 5);
        let mut park = mbufs(&pool, &frames[..3]);
        assert_eq!(pa.tx_burst(0, &mut park), 3);
    }
    assert_eq!(pool.available(), 2047, "no mbuf leaked through the rings");
}

fn pool_other(eal: &'static Eal) -> Mempool<'static> {
    Mempool::new(
        eal,
        "ring_other",
        MempoolConfig {
            mbufs: 63,
            cache: 0,
            data_room: 2176,
        },
    )
    .unwrap()
}

#[test]
fn full_ring_returns_the_unsent_in_order() {
    let Some(eal) = eal() else {
        return;
    };
    let pool = pool(eal, "ring_full");
    {
        let pair = RingPair::new(eal, "full", 16, &pool).unwrap();
        let [a, b] = pair.port_ids();
        let mut pa = Port::open(a, &pool, PortConfig::default()).unwrap();
        let mut pb = Port::open(b, &pool, PortConfig::default()).unwrap();
        let frames: Vec<Vec<u8>> = (0..20).map(|i| common::frame([1; 6], [2; 6], i)).collect();
        let mut out = mbufs(&pool, &frames);
        // A ring of 16 slots holds 15.
        let sent = pa.tx_burst(0, &mut out);
        assert_eq!(sent, 15);
        assert_eq!(out.len(), 5);
        assert_eq!(out[0].data(), &frames[15][..], "the unsent tail, in order");
        let mut got = Vec::new();
        assert_eq!(pb.rx_burst(0, &mut got, 32), 15);
        assert_eq!(pa.tx_burst_or_free(0, &mut out), (5, 0));
    }
    assert_eq!(pool.available(), 2047);
}

#[test]
fn packet_port_round_trip() {
    let Some(eal) = eal() else {
        return;
    };
    let pool = pool(eal, "ring_pp");
    {
        let pair = RingPair::new(eal, "pp", 512, &pool).unwrap();
        let [a, b] = pair.port_ids();
        let mut pa =
            DpdkPacketPort::new(Port::open(a, &pool, PortConfig::default()).unwrap(), &pool)
                .unwrap();
        let mut pb =
            DpdkPacketPort::new(Port::open(b, &pool, PortConfig::default()).unwrap(), &pool)
                .unwrap();
        assert!(pa.mtu() >= 1500);
        let frames: Vec<Bytes> = (0..100u32)
            .map(|i| {
                let mut f = common::frame([0xff; 6], [2, 0, 0, 0, 0, 1], i);
                f.resize(60 + (i as usize * 13) % 1400, (i % 251) as u8);
                Bytes::from(f)
            })
            .collect();
        let mut sent = 0;
        while sent < frames.len() {
            sent += pa.tx_burst(&frames[sent..]).unwrap();
        }
        let mut got = Vec::new();
        while pb.rx_burst(&mut got, 32).unwrap() > 0 {}
        assert_eq!(got, frames);
        // And back.
        assert_eq!(pb.tx_burst(&got[..7]).unwrap(), 7);
        let mut back = Vec::new();
        assert_eq!(pa.rx_burst(&mut back, 3).unwrap(), 3, "max is respected");
        assert_eq!(pa.rx_burst(&mut back, 100).unwrap(), 4);
        assert_eq!(back, frames[..7]);

        let huge = Bytes::from(vec![0u8; pa.frame_max() + 1]);
        assert_eq!(
            pa.tx_burst(&[frames[0].clone(), huge]).unwrap_err(),
            PacketPortError::FrameTooLong {
                index: 1,
                len: pa.frame_max() + 1,
                max: pa.frame_max()
            }
        );
    }
    assert_eq!(pool.available(), 2047);
}

/// inject ⇄ [pair 1] ⇄ fwd0 ⇄ l2fwd ⇄ fwd1 ⇄ [pair 2] ⇄ observe
#[test]
fn l2fwd_forwards_both_ways_with_macs_rewritten() {
    let Some(eal) = eal() else {
        return;
    };
    let pool = pool(eal, "ring_l2fwd");
    let p1 = RingPair::new(eal, "l2a", 1024, &pool).unwrap();
    let p2 = RingPair::new(eal, "l2b", 1024, &pool).unwrap();
    let [inject, fwd0] = p1.port_ids();
    let [fwd1, observe] = p2.port_ids();
    let cfg = PortConfig::default();
    let mut inject = Port::open(inject, &pool, cfg).unwrap();
    let mut observe = Port::open(observe, &pool, cfg).unwrap();
    let mut fwd = [
        Port::open(fwd0, &pool, cfg).unwrap(),
        Port::open(fwd1, &pool, cfg).unwrap(),
    ];
    assert_eq!(
        fwd[0].mac().unwrap(),
        MacAddr([0; 6]),
        "ring ports start without one"
    );
    fwd[0].set_mac(MacAddr::local(0x10)).unwrap();
    fwd[1].set_mac(MacAddr::local(0x11)).unwrap();
    let fwd_mac = [fwd[0].mac().unwrap(), fwd[1].mac().unwrap()];
    assert_eq!(fwd_mac, [MacAddr::local(0x10), MacAddr::local(0x11)]);
    assert_ne!(fwd_mac[0], fwd_mac[1]);
    let next_hop = [
        MacAddr([0x02, 0xaa, 0, 0, 0, 0]),
        MacAddr([0x02, 0xbb, 0, 0, 0, 1]),
    ];

    let orig_dst = [0x0e; 6];
    let orig_src = [0x0c; 6];
    let east: Vec<Vec<u8>> = (0..300)
        .map(|i| common::frame(orig_dst, orig_src, i))
        .collect();
    let west: Vec<Vec<u8>> = (1000..1200)
        .map(|i| common::frame(orig_dst, orig_src, i))
        .collect();
    let mut runts = vec![vec![1u8; 13], vec![2u8; 0]];
    send(&pool, &mut inject, &east);
    send(&pool, &mut inject, &std::mem::take(&mut runts));
    send(&pool, &mut observe, &west);

    let l2 = l2fwd::Config {
        dst: next_hop,
        rewrite: true,
        burst: 32,
        packets_max: Some(502),
        duration_max: Some(Duration::from_secs(30)),
    };
    let r = l2fwd::run(&mut fwd, &l2, &AtomicBool::new(false)).unwrap();
    assert_eq!(r.rx, [302, 200]);
    assert_eq!(r.dropped_runt, [2, 0]);
    assert_eq!(
        r.tx,
        [200, 300],
        "port 1 sent what port 0 received, and back"
    );
    assert_eq!(r.dropped_unsent, [0, 0]);
    assert_eq!(r.forwarded(), 500);

    let at_observe = recv(&mut observe);
    assert_eq!(at_observe.len(), 300);
    for (g, f) in at_observe.iter().zip(&east) {
        assert_eq!(&g[..6], &next_hop[1].0, "destination: port 1's next hop");
        assert_eq!(&g[6..12], &fwd_mac[1].0, "source: port 1's own MAC");
        assert_eq!(&g[12..], &f[12..], "the rest untouched");
    }
    let at_inject = recv(&mut inject);
    assert_eq!(at_inject.len(), 200);
    for (g, f) in at_inject.iter().zip(&west) {
        assert_eq!(&g[..6], &next_hop[0].0);
        assert_eq!(&g[6..12], &fwd_mac[0].0);
        assert_eq!(&g[12..], &f[12..]);
    }

    // io mode (no rewrite) leaves frames as they were.
    send(&pool, &mut inject, &east[..10]);
    let io = l2fwd::Config {
        rewrite: false,
        packets_max: Some(10),
        ..l2
    };
    let r = l2fwd::run(&mut fwd, &io, &AtomicBool::new(false)).unwrap();
    assert_eq!(r.tx, [0, 10]);
    assert_eq!(recv(&mut observe), east[..10]);
}

fn send<'p>(pool: &'p Mempool<'_>, port: &mut Port<'p>, frames: &[Vec<u8>]) {
    for chunk in frames.chunks(32) {
        let mut m = mbufs(pool, chunk);
        assert_eq!(port.tx_burst(0, &mut m), chunk.len());
    }
}

fn recv(port: &mut Port<'_>) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while port.rx_burst(0, &mut got, 32) > 0 {}
    got.iter().map(|m| m.data().to_vec()).collect()
}
