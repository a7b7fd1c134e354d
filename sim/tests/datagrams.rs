//! Datagram transport: loss, duplication, MTU, ports.

mod common;

use common::*;
use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use testbed_model::{BindError, DatagramSocket, Duration, Net, Runtime};
use testbed_sim::LinkConfig;

fn count_received(link: LinkConfig, sent: usize) -> usize {
    let mut sim = sim(9, link);
    let n = Rc::new(Cell::new(0));
    let n2 = n.clone();
    sim.host("rx", move |h| {
        let n2 = n2.clone();
        async move {
            let u = h.bind_datagram("0.0.0.0:9".parse().unwrap()).unwrap();
            let mut buf = [0u8; 8];
            while u.recv_from(&mut buf).await.is_ok() {
                n2.set(n2.get() + 1);
            }
        }
    });
    sim.client("tx", move |h| async move {
        let u = h.bind_datagram("0.0.0.0:0".parse().unwrap())?;
        for i in 0..sent {
            u.send_to(&(i as u64).to_le_bytes(), addr(&h, "rx", 9))
                .await?;
            h.sleep(Duration::from_micros(100)).await;
        }
        Ok(())
    });
    sim.run().unwrap();
    sim.run_until(sim.now() + Duration::from_secs(1)).unwrap();
    n.get()
}

#[test]
fn loss_is_roughly_the_configured_probability() {
    let got = count_received(
        LinkConfig {
            loss: 0.3,
            ..LinkConfig::default()
        },
        2000,
    );
    assert!(
        (1300..1500).contains(&got),
        "received {got} of 2000 at 30% loss"
    );
    assert_eq!(count_received(LinkConfig::default(), 2000), 2000);
}

#[test]
fn duplication_delivers_extra_copies() {
    let got = count_received(
        LinkConfig {
            duplicate: 0.2,
            ..LinkConfig::default()
        },
        2000,
    );
    assert!(
        (2300..2500).contains(&got),
        "received {got} for 2000 sent at 20% duplication"
    );
}

#[test]
fn oversized_datagrams_and_taken_ports_are_typed_errors() {
    let mut sim = sim(
        1,
        LinkConfig {
            mtu: 1000,
            ..LinkConfig::default()
        },
    );
    sim.client("a", |h| async move {
        let u = h.bind_datagram("0.0.0.0:5000".parse().unwrap())?;
        assert_eq!(u.max_datagram_size(), 972);
        let e = u
            .send_to(&[0u8; 973], addr(&h, "a", 5000))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(u.send_to(&[0u8; 972], addr(&h, "a", 5000)).await?, 972);
        let e = h
            .bind_datagram("0.0.0.0:5000".parse().unwrap())
            .unwrap_err();
        assert_eq!(e, BindError::AddrInUse);
        let e = h.bind_datagram("10.99.0.1:0".parse().unwrap()).unwrap_err();
        assert_eq!(e, BindError::AddrNotAvailable);
        let _l = h.listen("0.0.0.0:80".parse().unwrap())?;
        assert_eq!(
            h.listen("0.0.0.0:80".parse().unwrap()).unwrap_err(),
            BindError::AddrInUse
        );
        Ok(())
    });
    sim.run().unwrap();
}
