//! Fault verbs: partitions (both ways and one way), hold/release, crash/restart.

mod common;

use common::*;
use std::cell::RefCell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use testbed_model::{
    timeout, ConnectError, DatagramSocket, Duration, Instant, Listener, Net, Runtime,
};
use testbed_sim::{LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Datagrams received, each with its arrival time in seconds.
type Received = Rc<RefCell<Vec<(Vec<u8>, f64)>>>;

/// Host `rx` records every datagram it gets on port 9 with its arrival time (seconds).
fn datagram_sink(sim: &mut Sim) -> Received {
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    sim.host("rx", move |h| {
        let g = g.clone();
        async move {
            let u = h.bind_datagram("0.0.0.0:9".parse().unwrap()).unwrap();
            let mut buf = [0u8; 64];
            while let Ok((n, _)) = u.recv_from(&mut buf).await {
                g.borrow_mut().push((buf[..n].to_vec(), secs(&h)));
            }
        }
    });
    got
}

#[test]
fn nothing_crosses_a_partition_and_streams_resume_after_repair() {
    let mut sim = sim(1, LinkConfig::default());
    let got = datagram_sink(&mut sim);
    sim.host("srv", |h| async move {
        let l = h.listen("0.0.0.0:7".parse().unwrap()).unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        let mut b = [0u8; 5];
        s.read_exact(&mut b).await.unwrap();
        assert!(
            secs(&h) >= 2.0,
            "stream bytes crossed the partition at {}",
            secs(&h)
        );
        s.write_all(&b).await.unwrap();
    });
    sim.client("tx", |h| async move {
        let u = h.bind_datagram("0.0.0.0:0".parse().unwrap())?;
        let mut s = h.connect(addr(&h, "srv", 7)).await?;
        let ctl = h.control();
        ctl.partition("tx", "rx");
        ctl.partition("tx", "srv");
        u.send_to(b"lost", addr(&h, "rx", 9)).await?;
        s.write_all(b"later").await?; // buffered, retransmitted after repair
        h.sleep(Duration::from_secs(2)).await;
        ctl.repair("tx", "rx");
        ctl.repair("tx", "srv");
        u.send_to(b"after", addr(&h, "rx", 9)).await?;
        let mut b = [0u8; 5];
        s.read_exact(&mut b).await?;
        assert_eq!(&b, b"later");
        Ok(())
    });
    sim.run().unwrap();
    let got = got.borrow();
    assert_eq!(
        got.iter().map(|(d, _)| d.as_slice()).collect::<Vec<_>>(),
        vec![&b"after"[..]]
    );
}

#[test]
fn a_one_way_partition_blocks_one_direction_only() {
    let mut sim = sim(2, LinkConfig::default());
    let got = datagram_sink(&mut sim);
    let back = Rc::new(RefCell::new(0));
    let b2 = back.clone();
    sim.client("tx", move |h| async move {
        let u = h.bind_datagram("0.0.0.0:9".parse().unwrap())?;
        h.control().partition_oneway("tx", "rx");
        u.send_to(b"blocked", addr(&h, "rx", 9)).await?;
        // rx -> tx still works: rx's host sends us one datagram via a spawned task.
        let rx = h.other("rx").unwrap();
        let me = addr(&h, "tx", 9);
        let rx2 = rx.clone();
        rx.spawn(async move {
            let s = rx2.bind_datagram("0.0.0.0:0".parse().unwrap()).unwrap();
            s.send_to(b"reverse", me).await.unwrap();
        });
        let mut buf = [0u8; 16];
        let (n, _) = timeout(&h, Duration::from_secs(1), u.recv_from(&mut buf)).await??;
        assert_eq!(&buf[..n], b"reverse");
        *b2.borrow_mut() += 1;
        Ok(())
    });
    sim.run().unwrap();
    assert!(
        got.borrow().is_empty(),
        "a datagram crossed the cut direction"
    );
    assert_eq!(*back.borrow(), 1);
}

#[test]
fn hold_delays_and_release_delivers_everything_in_order() {
    let mut sim = sim(3, LinkConfig::default());
    let got = datagram_sink(&mut sim);
    sim.client("tx", |h| async move {
        let u = h.bind_datagram("0.0.0.0:0".parse().unwrap())?;
        h.control().hold("tx", "rx");
        for i in 0..5u8 {
            u.send_to(&[i], addr(&h, "rx", 9)).await?;
        }
        h.sleep(Duration::from_secs(3)).await;
        h.control().release("tx", "rx");
        Ok(())
    });
    sim.run().unwrap();
    sim.run_until(sim.now() + Duration::from_secs(1)).unwrap();
    let got = got.borrow();
    assert_eq!(
        got.iter().map(|(d, _)| d[0]).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert!(
        got.iter().all(|(_, t)| *t >= 3.0),
        "delivered before release: {got:?}"
    );
}

#[test]
fn a_crashed_and_restarted_server_resets_its_old_connections() {
    let starts = Arc::new(AtomicUsize::new(0));
    let mut sim = sim(4, LinkConfig::default());
    let st = starts.clone();
    sim.host("srv", move |h| {
        st.fetch_add(1, Ordering::SeqCst);
        async move {
            let l = h.listen("0.0.0.0:7".parse().unwrap()).unwrap();
            while let Ok((mut s, _)) = l.accept().await {
                h.spawn(async move {
                    let mut b = [0u8; 1];
                    while s.read_exact(&mut b).await.is_ok() {
                        let _ = s.write_all(&b).await;
                    }
                });
            }
        }
    });
    sim.client("cli", |h| async move {
        let server = addr(&h, "srv", 7);
        let mut s = h.connect(server).await?;
        s.write_all(b"a").await?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await?;
        h.control().restart("srv");
        h.sleep(Duration::from_millis(10)).await;
        // The new incarnation knows nothing of this connection: our next segment gets RST.
        s.write_all(b"b").await?;
        let e = s.read_exact(&mut b).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        // A fresh connection to the restarted server works.
        let mut s = h.connect(server).await?;
        s.write_all(b"c").await?;
        s.read_exact(&mut b).await?;
        assert_eq!(&b, b"c");
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(
        starts.load(Ordering::SeqCst),
        2,
        "init ran at start and at restart"
    );
}

#[test]
fn while_the_server_is_down_reads_time_out_and_connects_time_out() {
    let mut sim = Sim::new(SimConfig {
        seed: 5,
        ..SimConfig::default()
    });
    echo_server(&mut sim, "srv");
    sim.client("cli", |h| async move {
        let server = addr(&h, "srv", 7);
        let mut s = h.connect(server).await?;
        h.control().crash("srv");
        s.write_all(b"x").await?;
        let mut b = [0u8; 1];
        let r = timeout(&h, Duration::from_secs(2), s.read_exact(&mut b)).await;
        assert!(
            r.is_err(),
            "a read from a crashed host must time out, got {r:?}"
        );
        let t0 = h.now();
        let e = h.connect(server).await.unwrap_err();
        assert_eq!(e, ConnectError::TimedOut);
        // Default SYN schedule (Linux's): timeouts after 1 + 2 + 4 + ... + 64 s.
        assert_eq!(h.now() - t0, Duration::from_secs(127));
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn connecting_to_a_port_nobody_listens_on_is_refused() {
    let mut sim = sim(6, LinkConfig::default());
    echo_server(&mut sim, "srv");
    sim.client("cli", |h| async move {
        let t0 = h.now();
        assert_eq!(
            h.connect(addr(&h, "srv", 8)).await.unwrap_err(),
            ConnectError::Refused
        );
        assert_eq!(
            h.now() - t0,
            Duration::from_millis(2),
            "RST comes back after one RTT"
        );
        assert_eq!(
            h.connect("10.9.9.9:1".parse().unwrap()).await.unwrap_err(),
            ConnectError::Unreachable
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn scheduled_faults_run_at_their_time() {
    let mut sim = sim(7, LinkConfig::default());
    echo_server(&mut sim, "srv");
    sim.at(Instant::from_millis(500), |ctl| ctl.crash("srv"));
    sim.at(Instant::from_millis(800), |ctl| ctl.restart("srv"));
    let ctl = sim.control();
    sim.client("cli", move |h| async move {
        h.sleep(Duration::from_millis(600)).await;
        assert!(!ctl.is_up("srv"));
        h.sleep(Duration::from_millis(300)).await;
        assert!(ctl.is_up("srv"));
        Ok(())
    });
    sim.run().unwrap();
}
