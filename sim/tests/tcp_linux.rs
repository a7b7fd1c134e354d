//! Stream fidelity is as hostile as Linux: recovery after a partition waits for the next
//! retransmission on the RTO backoff schedule, a partition that outlasts tcp_retries2 ends in
//! `TimedOut`, a crash destroys what the crashed host had in flight, and writes after the
//! peer closed fail with `BrokenPipe` (EPIPE) while a reset of an open connection reads as
//! `ConnectionReset`.

mod common;

use common::*;
use std::cell::RefCell;
use std::io::ErrorKind;
use std::rc::Rc;
use testbed_model::{timeout, Duration, Instant, Listener, Net, Runtime};
use testbed_sim::LinkConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The server reads 5 bytes and records when they arrived (global seconds) or the error.
fn reader(sim: &mut testbed_sim::Sim) -> Rc<RefCell<Vec<Result<Instant, ErrorKind>>>> {
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    sim.host("srv", move |h| {
        let g = g.clone();
        async move {
            let l = h.listen("0.0.0.0:7".parse().unwrap()).unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 5];
            let r = s.read_exact(&mut b).await.map(|_| h.global_now());
            g.borrow_mut().push(r.map_err(|e| e.kind()));
            std::future::pending::<()>().await;
        }
    });
    got
}

#[test]
fn after_a_partition_data_resumes_at_the_next_backed_off_retransmission() {
    let mut sim = sim(1, LinkConfig::default());
    let got = reader(&mut sim);
    sim.client("cli", |h| async move {
        let mut s = h.connect(addr(&h, "srv", 7)).await?;
        h.sleep(Duration::from_millis(10)).await; // the handshake ACK is through
        let t0 = h.global_now();
        h.control().partition("cli", "srv");
        s.write_all(b"hello").await?;
        h.sleep(Duration::from_secs(10)).await;
        h.control().repair("cli", "srv");
        h.sleep(Duration::from_secs(5)).await;
        // RTO = srtt (2 ms) + 200 ms; retransmissions at 0.202, 0.606, 1.414, 3.030, 6.262,
        // 12.726 s: healed at 10 s, the data leaves at 12.726 s and arrives 1 ms later (Linux
        // would do the same; instant recovery is kinder).
        assert_eq!(
            got.borrow().as_slice(),
            &[Ok(t0 + Duration::from_millis(12_727))]
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_partition_longer_than_tcp_retries2_times_the_connection_out() {
    let mut sim = sim(2, LinkConfig::default());
    let _got = reader(&mut sim);
    sim.client("cli", |h| async move {
        let mut s = h.connect(addr(&h, "srv", 7)).await?;
        h.sleep(Duration::from_millis(10)).await;
        h.control().partition("cli", "srv");
        let t0 = h.now();
        s.write_all(b"hello").await?;
        let mut b = [0u8; 1];
        let e = s.read(&mut b).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        // 0.202 s doubling for 10 waits (206.646 s), then 6 waits at the 120 s cap.
        assert_eq!(h.now() - t0, Duration::from_millis(926_646));
        // Reported once; afterwards the socket is dead: EOF and EPIPE.
        assert_eq!(s.read(&mut b).await?, 0);
        assert_eq!(
            s.write_all(b"x").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_crash_destroys_the_crashed_hosts_unsent_data() {
    let mut sim = sim(3, LinkConfig::default());
    let got = reader(&mut sim);
    sim.host("cli", |h| async move {
        let Ok(mut s) = h.connect(addr(&h, "srv", 7)).await else {
            return;
        };
        h.sleep(Duration::from_millis(10)).await;
        h.control().partition("cli", "srv");
        let _ = s.write_all(b"hello").await; // stalls behind the partition
        std::future::pending::<()>().await;
    });
    sim.client("ctl", |h| async move {
        h.sleep(Duration::from_secs(1)).await;
        h.control().crash("cli");
        h.control().repair("cli", "srv");
        h.sleep(Duration::from_secs(60)).await;
        assert!(
            got.borrow().is_empty(),
            "bytes of a crashed sender arrived: {:?}",
            got.borrow()
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn writing_after_the_peer_closed_fails_with_broken_pipe() {
    let mut sim = sim(4, LinkConfig::default());
    sim.host("srv", |h| async move {
        let l = h.listen("0.0.0.0:7".parse().unwrap()).unwrap();
        while let Ok((s, _)) = l.accept().await {
            drop(s); // FIN; anything sent afterwards is answered with RST
        }
    });
    sim.client("cli", |h| async move {
        let mut s = h.connect(addr(&h, "srv", 7)).await?;
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).await?, 0, "the FIN reads as EOF");
        s.write_all(b"a").await?; // accepted locally; the peer answers RST
        h.sleep(Duration::from_millis(10)).await;
        let e = s.write_all(b"b").await.unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::BrokenPipe,
            "EPIPE in CLOSE-WAIT, as Linux"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_reset_of_an_open_connection_reads_as_connection_reset_once() {
    let mut sim = sim(5, LinkConfig::default());
    sim.host("srv", |h| async move {
        let l = h.listen("0.0.0.0:7".parse().unwrap()).unwrap();
        while let Ok((s, _)) = l.accept().await {
            let h2 = h.clone();
            h.spawn(async move {
                h2.sleep(Duration::from_millis(5)).await;
                drop(s); // unread data: RST instead of FIN
            });
        }
    });
    sim.client("cli", |h| async move {
        let mut s = h.connect(addr(&h, "srv", 7)).await?;
        s.write_all(b"unread").await?;
        let mut b = [0u8; 1];
        let r = timeout(&h, Duration::from_secs(1), s.read(&mut b)).await;
        let e = r.expect("the RST arrives").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        assert_eq!(s.read(&mut b).await?, 0, "then EOF");
        assert_eq!(
            s.write_all(b"x").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        Ok(())
    });
    sim.run().unwrap();
}
