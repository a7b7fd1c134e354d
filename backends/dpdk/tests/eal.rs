//! EAL start-up on net_null and net_ring vdevs, the one-init rule, port control (MAC, link,
//! MTU, counters, promiscuous), mbufs and pools, and net_null bursts.

mod common;

use testbed_dpdk::{
    Eal, EalError, LaunchError, Mempool, MempoolConfig, MempoolError, Port, PortConfig, PortError,
    PortId, Vdev,
};

// net_null1 is opened (and so, on close, released) by one test; the others stay listed.
const VDEVS: &[&str] = &[
    "--vdev=net_null0",
    "--vdev=net_null1",
    "--vdev=net_null2",
    "--vdev=net_ring0",
];

fn eal() -> Option<&'static Eal> {
    common::eal(VDEVS)
}

#[test]
fn starts_with_the_vdevs_and_only_once() {
    let Some(eal) = eal() else {
        return;
    };
    let names = eal.port_names();
    for want in ["net_null0", "net_null2", "net_ring0"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert!(eal.lcore_count() >= 1);
    assert_eq!(
        Eal::init(["--no-huge"]).unwrap_err(),
        EalError::AlreadyInitialized
    );
    assert_eq!(
        Eal::init(["bad\0arg"]).unwrap_err(),
        EalError::BadArgument("bad\0arg".into())
    );
}

#[test]
fn port_lookup_refuses_unknown_names_and_vdev_rings() {
    let Some(eal) = eal() else {
        return;
    };
    assert_eq!(
        PortId::by_name(eal, "net_nope9").unwrap_err(),
        PortError::NotFound("net_nope9".into())
    );
    assert!(matches!(
        PortId::by_name(eal, "net_ring0").unwrap_err(),
        PortError::BadConfig(_)
    ));
    assert_eq!(
        PortId::by_name(eal, "net_null0").unwrap().name().as_deref(),
        Some("net_null0")
    );
}

#[test]
fn pool_allocates_appends_and_takes_everything_back() {
    let Some(eal) = eal() else {
        return;
    };
    assert!(matches!(
        Mempool::new(eal, "", MempoolConfig::default()),
        Err(MempoolError::BadName(_))
    ));
    assert!(matches!(
        Mempool::new(
            eal,
            "p",
            MempoolConfig {
                mbufs: 10,
                cache: 250,
                data_room: 2176
            }
        ),
        Err(MempoolError::BadSize(_))
    ));
    let cfg = MempoolConfig {
        mbufs: 63,
        cache: 0,
        data_room: 2176,
    };
    let pool = Mempool::new(eal, "eal_pool", cfg).unwrap();
    assert!(matches!(
        Mempool::new(eal, "eal_pool", cfg),
        Err(MempoolError::Create { .. })
    ));
    assert_eq!(pool.available(), 63);
    let mut m = pool.alloc().unwrap();
    assert!(m.is_empty());
    m.append(b"hello").unwrap();
    m.append(b", world").unwrap();
    assert_eq!(m.data(), b"hello, world");
    m.data_mut()[0] = b'H';
    m.truncate(5);
    assert_eq!(m.data(), b"Hello");
    let room = m.tailroom();
    assert_eq!(room, 2048 - 5);
    assert!(m.append(&vec![0u8; room + 1]).is_err());
    assert_eq!(m.data(), b"Hello", "a failed append changes nothing");
    let mut all = Vec::new();
    pool.alloc_bulk(&mut all, 62).unwrap();
    assert_eq!(pool.available(), 0);
    assert!(pool.alloc().is_none());
    assert_eq!(pool.alloc_bulk(&mut all, 1), Err(MempoolError::Exhausted));
    drop(all);
    drop(m);
    assert_eq!(pool.available(), 63, "every mbuf went back");
}

#[test]
fn null_port_controls_and_bursts() {
    let Some(eal) = eal() else {
        return;
    };
    let pool = Mempool::new(
        eal,
        "eal_null",
        MempoolConfig {
            mbufs: 4095,
            cache: 0,
            data_room: 2176,
        },
    )
    .unwrap();
    let id = PortId::by_name(eal, "net_null1").unwrap();
    let mut port = Port::open(id, &pool, PortConfig::default()).unwrap();
    assert_eq!(
        Port::open(id, &pool, PortConfig::default()).unwrap_err(),
        PortError::Busy(id.id())
    );
    assert!(port.is_started());
    assert!(port.link().unwrap().up);
    assert!(port.mtu().unwrap() >= 1500);
    let mac = port.mac().unwrap();
    assert_ne!(mac.0, [0; 6]);
    port.reset_stats().unwrap();

    let mut rx = Vec::new();
    let n = port.rx_burst(0, &mut rx, 32);
    assert_eq!(n, 32, "net_null always has a full burst");
    assert!(
        rx.iter().all(|m| m.len() == 64),
        "net_null frames are 64 bytes"
    );
    assert_eq!(port.rx_burst(7, &mut rx, 32), 0, "no such queue");
    let sent = port.tx_burst(0, &mut rx);
    assert_eq!(sent, 32);
    assert!(rx.is_empty());
    let s = port.stats().unwrap();
    assert_eq!((s.rx_packets, s.tx_packets), (32, 32));

    port.stop().unwrap();
    assert_eq!(
        port.rx_burst(0, &mut rx, 32),
        0,
        "a stopped port moves nothing"
    );
    port.start().unwrap();
    drop(port);
    assert_eq!(
        pool.available(),
        4095,
        "the device holds no mbufs after close"
    );
}

#[test]
fn runtime_vdev_comes_and_goes() {
    let Some(eal) = eal() else {
        return;
    };
    let pool = Mempool::new(
        eal,
        "eal_vdev",
        MempoolConfig {
            mbufs: 1023,
            cache: 0,
            data_room: 2176,
        },
    )
    .unwrap();
    {
        let dev = Vdev::new(eal, "net_null_rt", "size=128").unwrap();
        let mut port = Port::open(dev.port_id(), &pool, PortConfig::default()).unwrap();
        let mut rx = Vec::new();
        assert_eq!(port.rx_burst(0, &mut rx, 8), 8);
        assert!(
            rx.iter().all(|m| m.len() == 128),
            "size=128 reached the driver"
        );
        assert!(eal.port_names().iter().any(|n| n == "net_null_rt"));
    }
    assert!(
        !eal.port_names().iter().any(|n| n == "net_null_rt"),
        "removed on drop"
    );
    assert!(Vdev::new(eal, "net_nosuchdriver0", "").is_err());
    assert_eq!(pool.available(), 1023);
}

#[test]
fn jobs_run_on_worker_lcores() {
    let Some(eal) = eal() else {
        return;
    };
    let workers = eal.worker_lcores();
    assert_eq!(
        workers.len() as u32,
        eal.lcore_count() - 1,
        "all but the main lcore"
    );
    let main = (0..eal.lcore_count() + 1)
        .find(|l| !workers.contains(l))
        .unwrap();
    assert!(matches!(
        eal.launch(main, || 0),
        Err(LaunchError::NotWorker(_))
    ));
    let Some(&w) = workers.first() else {
        testbed_testkit::skip("one CPU: no worker lcore");
        return;
    };
    let job = eal
        .launch(w, || testbed_dpdk::lcore_id().map_or(-1, |l| l as i32))
        .unwrap();
    assert_eq!(job.lcore(), w);
    assert_eq!(job.join(), Ok(w as i32), "it ran on that lcore");

    let (go, wait) = std::sync::mpsc::channel::<()>();
    let job = eal
        .launch(w, move || {
            wait.recv().unwrap();
            7
        })
        .unwrap();
    assert_eq!(eal.launch(w, || 0).unwrap_err(), LaunchError::Busy(w));
    go.send(()).unwrap();
    assert_eq!(job.join(), Ok(7));

    let job = eal.launch(w, || panic!("on purpose")).unwrap();
    assert_eq!(job.join(), Err(LaunchError::Panicked(w)));
    // The worker is usable again.
    assert_eq!(eal.launch(w, || 3).unwrap().join(), Ok(3));
}
