//! The impairment bridge and the simulator use one link model: with the same link
//! configuration and the same seed, datagrams offered at the same times meet the same fate
//! (lost, queue-dropped, duplicated, delayed by the same amount) on a simulated link and in a
//! bridge direction.

use bytes::Bytes;
use std::cell::RefCell;
use std::rc::Rc;
use testbed_model::rng::derive_seed;
use testbed_model::{DatagramSocket, Duration, Instant, Net, Runtime};
use testbed_sim::{Fidelity, Latency, LinkConfig, Sim, SimConfig};
use testbed_stack::bridge::LinkModel;

const SENT: u64 = 3_000;
const GAP: Duration = Duration::from_micros(100);
const PAYLOAD: usize = 8;
/// IPv4 + UDP headers, and the Ethernet header the bridge's frames carry in front.
const IP_UDP: usize = 28;
const ETH: usize = 14;

fn impaired() -> LinkConfig {
    LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(3),
        },
        jitter: Duration::from_millis(1),
        loss: 0.1,
        duplicate: 0.05,
        reorder: 0.1,
        reorder_delay: Duration::from_millis(5),
        // 36-byte packets every 100 µs is 360 kB/s offered: the queue fills and drops.
        bandwidth: Some(300_000),
        queue_bytes: 2_000,
        ..LinkConfig::default()
    }
}

/// (datagram index, send time, arrival time) of everything "rx" received from "tx".
type Arrivals = Vec<(u64, Instant, Instant)>;

fn through_sim(seed: u64, link: LinkConfig, fidelity: Fidelity) -> Arrivals {
    let mut sim = Sim::new(SimConfig {
        seed,
        default_link: link,
        fidelity,
        ..SimConfig::default()
    });
    let sent_at = Rc::new(RefCell::new(Vec::new()));
    let got: Rc<RefCell<Vec<(u64, Instant)>>> = Rc::default();
    let got2 = got.clone();
    sim.host("rx", move |h| {
        let got = got2.clone();
        async move {
            let u = h.bind_datagram("0.0.0.0:9".parse().unwrap()).unwrap();
            let mut buf = [0u8; 64];
            while let Ok((n, _)) = u.recv_from(&mut buf).await {
                let i = u64::from_le_bytes(buf[..n].try_into().unwrap());
                got.borrow_mut().push((i, h.now()));
            }
        }
    });
    let sent2 = sent_at.clone();
    sim.client("tx", move |h| async move {
        let u = h.bind_datagram("0.0.0.0:0".parse().unwrap())?;
        let rx = (h.lookup("rx").unwrap(), 9).into();
        for i in 0..SENT {
            sent2.borrow_mut().push(h.now());
            u.send_to(&i.to_le_bytes(), rx).await?;
            h.sleep(GAP).await;
        }
        Ok(())
    });
    sim.run().unwrap();
    sim.run_until(sim.now() + Duration::from_secs(1)).unwrap();
    let sent_at = sent_at.borrow();
    assert_eq!(sent_at.len() as u64, SENT);
    let mut out: Arrivals = got
        .borrow()
        .iter()
        .map(|&(i, at)| (i, sent_at[i as usize], at))
        .collect();
    out.sort();
    out
}

/// The same datagrams, as Ethernet frames, offered to a bridge direction seeded with the
/// simulated link's seed, at the times the simulation sent them.
fn through_bridge(link_seed: u64, link: LinkConfig, sent: &[Instant]) -> (Arrivals, LinkModel) {
    let mut model = LinkModel::new(link, link_seed);
    let mut out = Vec::new();
    let mut drain = |model: &mut LinkModel, until: Instant| {
        while let Some(at) = model.next_due().filter(|&t| t <= until) {
            let f = model.pop_due(at).unwrap();
            let i = u64::from_le_bytes(f[ETH + IP_UDP..].try_into().unwrap());
            out.push((i, sent[i as usize], at));
        }
    };
    for (i, &t) in sent.iter().enumerate() {
        drain(&mut model, t);
        let mut frame = vec![0u8; ETH + IP_UDP];
        frame.extend_from_slice(&(i as u64).to_le_bytes());
        assert_eq!(frame.len(), ETH + IP_UDP + PAYLOAD);
        model.offer(t, Bytes::from(frame));
    }
    drain(&mut model, Instant::from_secs(3600));
    out.sort();
    (out, model)
}

fn same_fates(fidelity: Fidelity) {
    let seed = 0x11_4E;
    let sim = through_sim(seed, impaired(), fidelity);
    // Every datagram was sent, GAP apart from time zero (whether or not it arrived).
    let sent: Vec<Instant> = (0..SENT).map(|i| Instant::ZERO + GAP * i as u32).collect();
    for &(i, s, _) in &sim {
        assert_eq!(s, sent[i as usize], "datagram {i} sent at {s}");
    }
    // The simulator seeds each directed link from the run's seed and the link's name.
    let (bridge, model) = through_bridge(derive_seed(seed, "link:tx->rx"), impaired(), &sent);
    let s = model.stats();
    assert!(s.lost > 100 && s.duplicated > 50 && s.reordered > 100 && s.queue_drops > 50);
    assert_eq!(sim.len(), bridge.len(), "{s:?}");
    assert_eq!(sim, bridge);
    // Another seed gives other decisions: the comparison above could fail.
    let (other, _) = through_bridge(derive_seed(seed + 1, "link:tx->rx"), impaired(), &sent);
    assert_ne!(sim, other);
}

#[test]
fn a_bridge_direction_decides_as_a_simulated_link_with_the_same_seed() {
    same_fates(Fidelity::Stream);
}

#[test]
fn also_when_the_simulator_carries_packets() {
    same_fates(Fidelity::Packet);
}
