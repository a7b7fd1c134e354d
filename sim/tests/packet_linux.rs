//! Packet fidelity (smoltcp) reports failures as Linux does: a peer's reset reads as
//! `ConnectionReset`, a user timeout or keepalive failure as `TimedOut`, a write after the
//! peer closed and reset as `BrokenPipe`; dropping a socket with unread data resets the
//! connection; Nagle with the peer's 40 ms delayed ACK costs what it costs on Linux, and
//! `set_nodelay` removes it; idle connections without keepalive live forever.

mod common;

use common::*;
use std::io::ErrorKind;
use testbed_model::{timeout, DatagramSocket, Duration, Listener, Net, Runtime, Stream};
use testbed_sim::{Fidelity, LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn packet_sim(seed: u64, rtt_ms: u64) -> Sim {
    Sim::new(SimConfig {
        seed,
        default_link: LinkConfig {
            latency: testbed_sim::Latency::ms(rtt_ms / 2),
            ..LinkConfig::default()
        },
        fidelity: Fidelity::Packet,
        ..SimConfig::default()
    })
}

#[test]
fn an_idle_connection_without_keepalive_outlives_the_user_timeout() {
    let mut sim = packet_sim(1, 10);
    echo_server(&mut sim, "server");
    sim.client("client", |h| async move {
        let mut s = h.connect(addr(&h, "server", 7)).await?;
        s.write_all(b"hi").await?;
        let mut b = [0u8; 2];
        s.read_exact(&mut b).await?;
        h.sleep(Duration::from_secs(600)).await;
        s.write_all(b"yo").await?;
        s.read_exact(&mut b).await?;
        assert_eq!(&b, b"yo");
        Ok(())
    });
    sim.run().unwrap();
}

/// A server on port 8 that reads a 4-byte request `n` and answers with `n` bytes, then
/// closes.
fn download_server(sim: &mut Sim) {
    sim.host("server", |h| async move {
        let l = h.listen("0.0.0.0:8".parse().unwrap()).unwrap();
        while let Ok((mut s, _)) = l.accept().await {
            h.spawn(async move {
                let mut req = [0u8; 4];
                if s.read_exact(&mut req).await.is_err() {
                    return;
                }
                let n = u32::from_be_bytes(req) as usize;
                let _ = s.write_all(&pattern(n as u64, n)).await;
                let _ = s.shutdown().await;
                let mut rest = [0u8; 1];
                let _ = s.read(&mut rest).await; // the client's FIN
            });
        }
    });
}

#[test]
fn after_the_ephemeral_ports_wrap_40_of_40_bulk_transfers_complete() {
    // 40 short connections (each client sends a request, so the stack has seen data on the
    // flow); then the host's ephemeral ports go round once (datagram sockets bound and
    // dropped) and 40 downloads reuse those flows with new initial sequence numbers. Their
    // pure ACKs must not carry the old connections' sequence numbers: the peer would drop
    // them and the download would stall.
    let mut sim = packet_sim(3, 2);
    download_server(&mut sim);
    sim.client("client", |h| async move {
        let server = addr(&h, "server", 8);
        let any = "0.0.0.0:0".parse().unwrap();
        let before_first = h.bind_datagram(any)?.local_addr().port();
        let mut used = Vec::new();
        for _ in 0..40 {
            let mut s = h.connect(server).await?;
            used.push(s.local_addr().port());
            s.write_all(&1u32.to_be_bytes()).await?;
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await?;
        }
        h.sleep(Duration::from_secs(30)).await; // the server's TIME-WAIT sockets are gone
        let mut wrapped = false;
        for _ in 0..100_000 {
            let d = h.bind_datagram(any)?;
            if d.local_addr().port() == before_first {
                wrapped = true;
                break;
            }
        }
        assert!(wrapped, "ephemeral ports are handed out in order and wrap");
        let (mut done, mut reused) = (0, 0);
        for i in 0..40u32 {
            let n = 200_000 + i;
            let mut s = h.connect(server).await?;
            reused += usize::from(used.contains(&s.local_addr().port()));
            s.write_all(&n.to_be_bytes()).await?;
            let mut got = Vec::new();
            let r = timeout(&h, Duration::from_secs(60), s.read_to_end(&mut got)).await;
            if r.is_ok_and(|r| r.is_ok()) && got == pattern(u64::from(n), n as usize) {
                done += 1;
            }
        }
        assert_eq!(reused, 40, "every download reuses an earlier flow");
        assert_eq!(done, 40, "bulk transfers completed after the ports wrapped");
        Ok(())
    });
    sim.run().unwrap();
}

/// A server on port 9 that accepts one connection and runs `serve` on it.
fn one_shot<F, Fut>(sim: &mut Sim, serve: F)
where
    F: Fn(testbed_sim::Host, testbed_sim::SimStream) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let serve = std::rc::Rc::new(serve);
    sim.host("server", move |h| {
        let serve = serve.clone();
        async move {
            let l = h.listen("0.0.0.0:9".parse().unwrap()).unwrap();
            let (s, _) = l.accept().await.unwrap();
            serve(h, s).await;
            std::future::pending::<()>().await;
        }
    });
}

#[test]
fn a_peer_dropping_unread_data_resets_and_the_reset_reads_as_connection_reset_once() {
    let mut sim = packet_sim(4, 10);
    one_shot(&mut sim, |h, s| async move {
        h.sleep(Duration::from_millis(200)).await;
        drop(s); // the client's request is unread: RST
    });
    sim.client("client", |h| async move {
        let mut s = h.connect(addr(&h, "server", 9)).await?;
        s.write_all(b"request").await?;
        let mut b = [0u8; 8];
        let e = s.read(&mut b).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        assert_eq!(s.read(&mut b).await?, 0, "reported once, then EOF");
        let e = s.write_all(b"more").await.unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::BrokenPipe,
            "then writes fail with EPIPE"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn writing_after_the_peer_closed_succeeds_once_then_fails_with_broken_pipe() {
    let mut sim = packet_sim(5, 10);
    one_shot(&mut sim, |_h, s| async move { drop(s) });
    sim.client("client", |h| async move {
        let mut s = h.connect(addr(&h, "server", 9)).await?;
        let mut ok = 0;
        let err = loop {
            h.sleep(Duration::from_millis(200)).await;
            match s.write_all(b"data").await {
                Ok(()) => ok += 1,
                Err(e) => break e,
            }
            assert!(ok < 5, "writes to a closed peer keep succeeding");
        };
        assert_eq!(ok, 1, "the first write draws the RST");
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        let mut b = [0u8; 4];
        assert_eq!(s.read(&mut b).await?, 0, "reads see the FIN");
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_crashed_and_restarted_server_resets_the_old_connection() {
    let mut sim = packet_sim(6, 10);
    echo_server(&mut sim, "server");
    sim.client("client", |h| async move {
        let mut s = h.connect(addr(&h, "server", 7)).await?;
        s.write_all(b"hi").await?;
        let mut b = [0u8; 2];
        s.read_exact(&mut b).await?;
        h.control().crash("server");
        h.sleep(Duration::from_secs(1)).await;
        h.control().restart("server");
        h.sleep(Duration::from_secs(1)).await;
        s.write_all(b"again").await?;
        let e = s.read(&mut b).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_user_timeout_ends_a_write_into_a_partition_with_timed_out() {
    let mut sim = packet_sim(7, 10);
    echo_server(&mut sim, "server");
    sim.client("client", |h| async move {
        let mut s = h.connect(addr(&h, "server", 7)).await?;
        s.set_user_timeout(Some(Duration::from_secs(5)))?;
        h.control().partition("client", "server");
        let t0 = h.now();
        s.write_all(&[1; 1024]).await?;
        let mut b = [0u8; 1024];
        let e = s.read(&mut b).await.unwrap_err();
        let took = h.now() - t0;
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        assert!(
            took >= Duration::from_secs(5) && took < Duration::from_secs(7),
            "{took:?}"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn keepalive_finds_a_silently_gone_peer_after_idle_plus_interval_times_probes() {
    let mut sim = packet_sim(8, 10);
    echo_server(&mut sim, "server");
    sim.client("client", |h| async move {
        let mut s = h.connect(addr(&h, "server", 7)).await?;
        let second = Duration::from_secs(1);
        s.set_keepalive(Some(testbed_model::Keepalive {
            idle: second,
            interval: second,
            retries: 3,
        }))?;
        h.sleep(Duration::from_secs(10)).await; // probes answered: the connection lives
        h.control().partition("client", "server");
        let t0 = h.now();
        let mut b = [0u8; 4];
        let e = s.read(&mut b).await.unwrap_err();
        let took = h.now() - t0;
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        assert!(
            took >= Duration::from_secs(3) && took <= Duration::from_secs(5),
            "{took:?}"
        );
        Ok(())
    });
    sim.run().unwrap();
}

/// Median time of write-write-read requests (2 × 100 B, 200 B answer) at 20 ms RTT.
fn write_write_read_ms(nodelay: bool) -> f64 {
    let mut sim = packet_sim(9, 20);
    one_shot(&mut sim, |_h, mut s| async move {
        let mut req = [0u8; 200];
        while s.read_exact(&mut req).await.is_ok() {
            if s.write_all(&req).await.is_err() {
                break;
            }
        }
    });
    let out = std::rc::Rc::new(std::cell::Cell::new(0.0));
    let o = out.clone();
    sim.client("client", move |h| {
        let o = o.clone();
        async move {
            let mut s = h.connect(addr(&h, "server", 9)).await?;
            testbed_model::Stream::set_nodelay(&s, nodelay)?;
            let mut lat = Vec::new();
            for _ in 0..21 {
                let t0 = h.now();
                s.write_all(&[1; 100]).await?;
                s.write_all(&[2; 100]).await?;
                let mut back = [0u8; 200];
                s.read_exact(&mut back).await?;
                lat.push((h.now() - t0).as_secs_f64() * 1e3);
            }
            lat.sort_by(f64::total_cmp);
            o.set(lat[10]);
            Ok(())
        }
    });
    sim.run().unwrap();
    out.get()
}

#[test]
fn nagle_waits_for_the_peers_delayed_ack_and_nodelay_does_not() {
    let nagle = write_write_read_ms(false);
    let nodelay = write_write_read_ms(true);
    // The first 100 B go out, the second wait for their ACK, which the server delays 40 ms:
    // 10 + 40 + 10 ms, then one more round trip (Linux on this path: 84 ms).
    assert!(
        (75.0..=90.0).contains(&nagle),
        "Nagle: {nagle} ms (two RTTs of 20 ms + 40 ms delayed ACK)"
    );
    assert!(nodelay < 22.0, "TCP_NODELAY: {nodelay} ms");
}

/// A request written into a partition of `partition`: the client's retransmissions of it
/// (times since the write) and when the answer came (since the heal).
fn retransmissions_into_a_partition(
    cfg: SimConfig,
    partition: Duration,
) -> (Vec<Duration>, Duration) {
    let mut sim = Sim::new(SimConfig {
        record_trace: true,
        // longer than the partition: the connection must survive it
        tcp_user_timeout: partition * 2,
        time_limit: partition * 3,
        ..cfg
    });
    echo_server(&mut sim, "server");
    let times = std::sync::Arc::new(std::sync::Mutex::new((Duration::ZERO, Duration::ZERO)));
    let out = times.clone();
    let client = sim.client("client", move |h| async move {
        let mut s = h.connect(addr(&h, "server", 7)).await?;
        let mut b = [0u8; 4];
        s.write_all(b"warm").await?; // an RTT sample
        s.read_exact(&mut b).await?;
        h.control().partition("client", "server");
        let written = h.global_now();
        s.write_all(b"ping").await?;
        h.sleep(partition).await;
        h.control().repair("client", "server");
        let healed = h.now();
        s.read_exact(&mut b).await?;
        assert_eq!(&b, b"ping");
        *out.lock().unwrap() = (written - testbed_model::Instant::ZERO, h.now() - healed);
        Ok(())
    });
    let report = sim.run().unwrap();
    let (written, answer) = *times.lock().unwrap();
    let at: Vec<Duration> = report
        .events
        .unwrap()
        .iter()
        .filter(|e| {
            e.kind == testbed_sim::trace::Kind::SegmentRetransmit && e.src == client.index()
        })
        .map(|e| e.time - testbed_model::Instant::ZERO - written)
        .collect();
    (at, answer)
}

/// Gaps between consecutive times, starting from 0, in whole milliseconds.
fn gaps_ms(at: &[Duration]) -> Vec<u64> {
    let mut prev = Duration::ZERO;
    at.iter()
        .map(|&t| {
            let g = t - prev;
            prev = t;
            g.as_millis() as u64
        })
        .collect()
}

#[test]
fn retransmissions_back_off_from_linux_min_rto_to_its_120_s_cap() {
    // 10 ms RTT: RTO = srtt + max(4·rttvar, 200 ms) = 210 ms, doubling, capped at 120 s
    // (smoltcp's own bounds would give 1 s, 2 s, 4 s, ... capped at 60 s).
    let cfg = SimConfig {
        seed: 3,
        default_link: LinkConfig {
            latency: testbed_sim::Latency::ms(5),
            ..LinkConfig::default()
        },
        fidelity: Fidelity::Packet,
        ..SimConfig::default()
    };
    let (at, answer) = retransmissions_into_a_partition(cfg, Duration::from_secs(400));
    let gaps = gaps_ms(&at);
    // 0.21 s · (2^10 − 1) = 214.8 s, then 120 s apart: 334.8 s; 454.8 s is after the heal.
    assert_eq!(gaps.len(), 12, "{gaps:?}");
    let want = [
        210u64, 420, 840, 1680, 3360, 6720, 13440, 26880, 53760, 107_520,
    ];
    for (i, (&g, &w)) in gaps.iter().zip(&want).enumerate() {
        assert!(
            g.abs_diff(w) <= 2,
            "gap {i}: {g} ms, want {w} ms ({gaps:?})"
        );
    }
    assert!(
        gaps[10..].iter().all(|&g| g.abs_diff(120_000) <= 2),
        "{gaps:?}"
    );
    // The answer rides the first retransmission after the heal at 400 s (plus one RTT).
    let next = at[11].as_millis() as i64 - 400_000;
    let answer_ms = answer.as_millis() as i64;
    assert!(
        (answer_ms - next - 10).abs() <= 50,
        "{answer_ms} ms vs {next} ms"
    );
}

#[test]
fn the_rto_bounds_come_from_the_sim_config() {
    // Other bounds through SimConfig: a 1 s floor on the variance term (RTO = 10 ms + 1 s)
    // and a 10 s cap.
    let cfg = SimConfig {
        seed: 4,
        default_link: LinkConfig {
            latency: testbed_sim::Latency::ms(5),
            ..LinkConfig::default()
        },
        fidelity: Fidelity::Packet,
        min_rto: Duration::from_secs(1),
        max_rto: Duration::from_secs(10),
        ..SimConfig::default()
    };
    let (at, answer) = retransmissions_into_a_partition(cfg, Duration::from_secs(60));
    let gaps = gaps_ms(&at);
    let want = [
        1010u64, 2020, 4040, 8080, 10_000, 10_000, 10_000, 10_000, 10_000,
    ];
    assert_eq!(gaps.len(), want.len(), "{gaps:?}");
    for (i, (&g, &w)) in gaps.iter().zip(&want).enumerate() {
        assert!(
            g.abs_diff(w) <= 2,
            "gap {i}: {g} ms, want {w} ms ({gaps:?})"
        );
    }
    // 15.15 s, then every 10 s: the first retransmission after the heal at 60 s is at 65.15 s.
    let answer_ms = answer.as_millis() as i64;
    assert!((answer_ms - 5_160).abs() <= 50, "{answer_ms} ms");
}
