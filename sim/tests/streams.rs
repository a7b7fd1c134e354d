//! Stream fidelity: integrity under loss/duplication/reordering, bandwidth, backpressure,
//! half-close, accept backlog.

mod common;

use common::*;
use proptest::prelude::*;
use std::cell::Cell;
use std::rc::Rc;
use testbed_model::{ConnectError, Duration, Instant, Listener, Net, Runtime};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn bytes_arrive_complete_and_in_order(
        seed: u64,
        len in 1usize..200_000,
        chunk in 1usize..20_000,
        loss in 0.0f64..0.3,
        dup in 0.0f64..0.3,
        reorder in 0.0f64..0.5,
    ) {
        let link = LinkConfig {
            latency: Latency::Uniform { min: Duration::from_micros(100), max: Duration::from_millis(5) },
            jitter: Duration::from_millis(1),
            loss, duplicate: dup, reorder,
            ..LinkConfig::default()
        };
        let mut sim = sim(seed, link);
        let data = pattern(seed, len);
        let expect = data.clone();
        let got = Rc::new(std::cell::RefCell::new(Vec::new()));
        let sink = got.clone();
        sim.host("rx", move |h| {
            let sink = sink.clone();
            async move {
                let l = h.listen("0.0.0.0:9".parse().unwrap()).unwrap();
                let (mut s, _) = l.accept().await.unwrap();
                let mut all = Vec::new();
                s.read_to_end(&mut all).await.unwrap();
                *sink.borrow_mut() = all;
            }
        });
        sim.client("tx", move |h| async move {
            // Under heavy loss every SYN of a connect can be lost (as with real TCP): retry.
            let mut s = loop {
                match h.connect(addr(&h, "rx", 9)).await {
                    Ok(s) => break s,
                    Err(testbed_model::ConnectError::TimedOut) => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            for c in data.chunks(chunk) {
                s.write_all(c).await?;
            }
            s.shutdown().await?;
            Ok(())
        });
        sim.run().unwrap();
        // Let the receiver drain what is still in flight.
        let t = sim.now() + Duration::from_secs(120);
        sim.run_until(t).unwrap();
        prop_assert_eq!(got.borrow().len(), expect.len());
        prop_assert!(*got.borrow() == expect, "bytes differ");
    }
}

#[test]
fn one_megabyte_over_one_megabyte_per_second_takes_about_a_second() {
    let link = LinkConfig {
        latency: Latency::ms(1),
        bandwidth: Some(1_000_000),
        ..LinkConfig::default()
    };
    let mut sim = sim(1, link);
    let done_at = Rc::new(Cell::new(0.0));
    let d = done_at.clone();
    sim.host("rx", move |h| {
        let d = d.clone();
        async move {
            let l = h.listen("0.0.0.0:9".parse().unwrap()).unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let mut n = 0;
            let mut buf = vec![0u8; 65536];
            while let Ok(k @ 1..) = s.read(&mut buf).await {
                n += k;
            }
            assert_eq!(n, 1_000_000);
            d.set(secs(&h));
        }
    });
    let started = Rc::new(Cell::new(0.0));
    let st = started.clone();
    sim.client("tx", move |h| async move {
        let mut s = h.connect(addr(&h, "rx", 9)).await?;
        st.set(secs(&h));
        s.write_all(&vec![7u8; 1_000_000]).await?;
        s.shutdown().await?;
        Ok(())
    });
    sim.run().unwrap();
    sim.run_until(sim.now() + Duration::from_secs(10)).unwrap();
    // 1,000,000 payload bytes in 1460-byte segments, each carrying 40 header bytes on the
    // wire: 685 segments, 1,027,400 bytes at 1 MB/s = 1.0274 s, plus 1 ms latency.
    let segments = 1_000_000u64.div_ceil(1460);
    let expected = (1_000_000 + segments * 40) as f64 / 1e6 + 0.001;
    let took = done_at.get() - started.get();
    assert!(
        (took - expected).abs() < 0.002,
        "took {took:.4} s, expected {expected:.4} s"
    );
}

#[test]
fn a_stalled_reader_backpressures_the_writer_within_the_window() {
    let window = 64 * 1024;
    let mut sim = Sim::new(SimConfig {
        seed: 2,
        stream_window_bytes: window,
        ..SimConfig::default()
    });
    let written = Rc::new(Cell::new(0usize));
    let w2 = written.clone();
    sim.host("rx", |h| async move {
        let l = h.listen("0.0.0.0:9".parse().unwrap()).unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        h.sleep(Duration::from_secs(10)).await; // not reading
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), 1 << 20);
    });
    sim.client("tx", move |h| async move {
        let mut s = h.connect(addr(&h, "rx", 9)).await?;
        let chunk = vec![1u8; 4096];
        let h2 = h.clone();
        let w3 = w2.clone();
        h.spawn(async move {
            h2.sleep(Duration::from_secs(5)).await;
            // Halfway through the reader's nap: the writer is stuck at the window.
            assert!(
                w3.get() <= 64 * 1024,
                "wrote {} bytes past a 64 KiB window",
                w3.get()
            );
            assert!(w3.get() >= 60 * 1024, "wrote only {} bytes", w3.get());
        });
        while w2.get() < 1 << 20 {
            s.write_all(&chunk).await?;
            w2.set(w2.get() + chunk.len());
        }
        s.shutdown().await?;
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(
        written.get(),
        1 << 20,
        "writer resumed after the reader drained"
    );
}

#[test]
fn half_close_delivers_eof_and_the_other_direction_keeps_working() {
    let mut sim = sim(3, LinkConfig::default());
    sim.host("srv", |h| async move {
        let l = h.listen("0.0.0.0:9".parse().unwrap()).unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        let mut req = Vec::new();
        s.read_to_end(&mut req).await.unwrap(); // EOF after the client's shutdown
        s.write_all(format!("got {}", req.len()).as_bytes())
            .await
            .unwrap();
    });
    sim.client("cli", |h| async move {
        let mut s = h.connect(addr(&h, "srv", 9)).await?;
        s.write_all(b"hello").await?;
        s.shutdown().await?;
        assert!(
            s.write_all(b"more").await.is_err(),
            "writing after shutdown fails"
        );
        let mut resp = String::new();
        s.read_to_string(&mut resp).await?;
        assert_eq!(resp, "got 5");
        Ok(())
    });
    sim.run().unwrap();
}

/// Clients connect to a listener with a backlog of 4 that starts accepting at `accept_from`
/// (never if `None`): 4 at time zero, then 6 more at 100 ms, each writing one byte. Returns
/// the late clients' connect outcomes with when they completed, and when the server accepted
/// each connection.
type Outcomes = Vec<(Result<(), ConnectError>, Duration)>;
fn connect_to_a_full_backlog(accept_from: Option<Duration>) -> (Outcomes, Vec<Duration>) {
    let mut sim = Sim::new(SimConfig {
        seed: 4,
        accept_backlog: 4,
        syncookies: false, // tcp_syncookies=0: the SYN queue is a limit too
        ..SimConfig::default()
    });
    let accepted = Rc::new(std::cell::RefCell::new(Vec::new()));
    let a = accepted.clone();
    sim.host("srv", move |h| {
        let a = a.clone();
        async move {
            let l = h.listen("0.0.0.0:9".parse().unwrap()).unwrap();
            let Some(d) = accept_from else {
                return std::future::pending::<()>().await; // never accepts
            };
            h.sleep(d).await;
            let mut kept = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                a.borrow_mut().push(h.now() - Instant::ZERO);
                kept.push(s);
            }
        }
    });
    let outcomes = Rc::new(std::cell::RefCell::new(Vec::new()));
    let o = outcomes.clone();
    sim.client("cli", move |h| async move {
        let t0 = h.now();
        let tasks: Vec<_> = (0..10u64)
            .map(|i| {
                let h2 = h.clone();
                h.spawn(async move {
                    if i >= 4 {
                        h2.sleep(Duration::from_millis(100)).await;
                    }
                    let r = h2.connect(addr(&h2, "srv", 9)).await.map(|_| ());
                    (i, r, h2.now() - t0)
                })
            })
            .collect();
        for t in tasks {
            let (i, r, at) = t.await?;
            if i >= 4 {
                o.borrow_mut().push((r, at));
            }
        }
        h.sleep(Duration::from_secs(1)).await; // the last handshake ACKs reach the server
        Ok(())
    });
    sim.run().unwrap();
    (outcomes.take(), accepted.take())
}

#[test]
fn a_full_backlog_drops_syns_and_clients_retry_on_linuxs_schedule() {
    // Backlog 4: the accept queue holds 5, the SYN queue 4. The first 4 clients fill 4 places
    // of the accept queue; of the 6 late SYNs (0.1 s) 4 fit the SYN queue and connect at once
    // (one takes the last place, 3 wait for SYN-ACK retransmissions), 2 are dropped. Those
    // retry at 1.1 s (accept queue full: dropped), at 3.1 s (the server accepts from 2 s; one
    // fits the SYN queue beside the 3 still half-open) and at 7.1 s.
    let (late, accepted) = connect_to_a_full_backlog(Some(Duration::from_secs(2)));
    assert!(late.iter().all(|(r, _)| r.is_ok()), "{late:?}");
    let mut times: Vec<Duration> = late.iter().map(|(_, t)| *t).collect();
    times.sort();
    let ms = Duration::from_millis;
    assert_eq!(
        times,
        [ms(102), ms(102), ms(102), ms(102), ms(3_102), ms(7_102)],
        "{late:?}"
    );
    assert_eq!(accepted.len(), 10, "{accepted:?}");
    // Nobody ever accepts: 4 late SYNs fit the SYN queue; the other 2, retried after 1, 3,
    // 7, 15, 31, 63 s, time out at 127 s.
    let (late, _) = connect_to_a_full_backlog(None);
    let timed_out = late
        .iter()
        .filter(|(r, t)| *r == Err(ConnectError::TimedOut) && *t == ms(127_100))
        .count();
    assert_eq!(timed_out, 2, "{late:?}");
    assert_eq!(
        late.iter().filter(|(r, _)| r.is_ok()).count(),
        4,
        "{late:?}"
    );
}

#[test]
fn simultaneous_handshakes_past_the_backlog_wait_for_room_in_the_accept_queue() {
    // Ten SYNs at once, backlog 4: 4 fit the SYN queue, 6 are dropped and retry at 1 s (4 fit
    // again, 2 retry at 3 s). The accept queue holds 5; the ACKs it cannot take are dropped,
    // and the server's SYN-ACK retransmissions bring them in once it accepts.
    let mut sim = Sim::new(SimConfig {
        seed: 5,
        accept_backlog: 4,
        syncookies: false, // tcp_syncookies=0: the SYN queue is a limit too
        ..SimConfig::default()
    });
    let accepted = Rc::new(std::cell::RefCell::new(Vec::new()));
    let a = accepted.clone();
    sim.host("srv", move |h| {
        let a = a.clone();
        async move {
            let l = h.listen("0.0.0.0:9".parse().unwrap()).unwrap();
            h.sleep(Duration::from_secs(2)).await;
            let mut kept = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                a.borrow_mut().push(h.now() - Instant::ZERO);
                kept.push(s);
            }
        }
    });
    sim.client("cli", |h| async move {
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let h2 = h.clone();
                h.spawn(async move { h2.connect(addr(&h2, "srv", 9)).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        h.sleep(Duration::from_secs(5)).await;
        Ok(())
    });
    sim.run().unwrap();
    let v = accepted.borrow();
    assert_eq!(v.len(), 10, "{v:?}");
    let ms = Duration::from_millis;
    // 5 queued by 2 s; 3 whose ACKs were dropped at 1.003 s come with the SYN-ACK
    // retransmission 1 s + 1 RTT later; the 2 SYNs dropped twice connect at 3 s.
    assert_eq!(
        *v,
        [
            ms(2_000),
            ms(2_000),
            ms(2_000),
            ms(2_000),
            ms(2_000),
            ms(2_005),
            ms(2_005),
            ms(2_005),
            ms(3_003),
            ms(3_003)
        ],
        "{v:?}"
    );
}

#[test]
fn the_handshake_costs_one_round_trip() {
    let mut sim = sim(
        5,
        LinkConfig {
            latency: Latency::ms(7),
            ..LinkConfig::default()
        },
    );
    echo_server(&mut sim, "srv");
    sim.client("cli", |h| async move {
        let t0 = h.now();
        let _s = h.connect(addr(&h, "srv", 7)).await?;
        assert_eq!(h.now() - t0, Duration::from_millis(14));
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_host_reaches_itself_over_loopback_and_its_own_address() {
    let mut sim = sim(6, LinkConfig::default());
    sim.client("solo", |h| async move {
        let l = h.listen("0.0.0.0:9".parse().unwrap())?;
        let h2 = h.clone();
        h.spawn(async move {
            while let Ok((mut s, peer)) = l.accept().await {
                assert!(
                    peer.ip().is_loopback() || peer.ip() == h2.ip(),
                    "peer {peer}"
                );
                h2.spawn(async move {
                    let mut b = [0u8; 3];
                    s.read_exact(&mut b).await.unwrap();
                    s.write_all(&b).await.unwrap();
                });
            }
        });
        for target in ["127.0.0.1:9".parse().unwrap(), addr(&h, "solo", 9)] {
            let t0 = h.now();
            let mut s = h.connect(target).await?;
            assert_eq!(testbed_model::Stream::peer_addr(&s), target);
            s.write_all(b"abc").await?;
            let mut b = [0u8; 3];
            s.read_exact(&mut b).await?;
            assert_eq!(&b, b"abc");
            assert_eq!(h.now(), t0, "loopback has no latency");
        }
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn accept_waits_for_the_handshake_to_complete() {
    let mut sim = sim(7, LinkConfig::default());
    let accepted = Rc::new(Cell::new(0));
    let acc = accepted.clone();
    sim.host("srv", move |h| {
        let acc = acc.clone();
        async move {
            let l = h.listen("0.0.0.0:9".parse().unwrap()).unwrap();
            while l.accept().await.is_ok() {
                acc.set(acc.get() + 1);
            }
        }
    });
    let acc = accepted.clone();
    sim.client("cli", move |h| async move {
        // SYNs reach the server; its SYN-ACKs are lost until the repair at 2 s.
        h.control().partition_oneway("srv", "cli");
        let h2 = h.clone();
        let acc2 = acc.clone();
        h.spawn(async move {
            h2.sleep(Duration::from_millis(1500)).await;
            assert_eq!(acc2.get(), 0, "a half-open connection was accepted");
            h2.sleep(Duration::from_millis(500)).await;
            h2.control().repair("srv", "cli");
        });
        let _s = h.connect(addr(&h, "srv", 9)).await?;
        // SYN retransmissions at 1 s and 3 s: the one at 3 s completes.
        assert_eq!(h.now(), testbed_model::Instant::from_millis(3002));
        h.sleep(Duration::from_millis(5)).await;
        assert_eq!(acc.get(), 1);
        Ok(())
    });
    sim.run().unwrap();
}
