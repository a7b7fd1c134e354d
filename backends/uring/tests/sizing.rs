//! Ring setup and sizing: the task-run mode the kernel offers is the one used, a completion
//! queue too small for the load overflows without losing a completion, a provided-buffer
//! ring that runs dry (ENOBUFS) loses no byte and reorders none, and the defaults carry a
//! thousand streams on one worker without an overflow or an ENOBUFS; a busy worker coalesces
//! its waits (Linux 6.12+) and a lone ping-pong never does. Skips, saying why,
//! where io_uring is unavailable (fails instead with TESTBED_REQUIRE_ALL=1).

use testbed_model::{Net, Runtime};
use testbed_uring::{RingSetup, RingStats, Uring};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::{available, start_echo};

/// `conns` clients each sending `len` patterned bytes through the echo server (writer and
/// reader concurrent); returns how many got every byte back in order, and the ring's stats.
fn echo_streams(u: &Uring, conns: u32, len: usize) -> (u32, RingStats) {
    let out = u.run(|w| async move {
        let addr = start_echo(&w);
        let mut streams = Vec::new();
        for _ in 0..conns {
            streams.push(w.connect(addr).await.unwrap());
        }
        let tasks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let w2 = w.clone();
                w.spawn(async move {
                    let (mut r, mut wr) = tokio::io::split(s);
                    let data: Vec<u8> = (0..len).map(|k| (k * 31 + i * 7) as u8).collect();
                    let d2 = data.clone();
                    let writer = w2.spawn(async move {
                        for chunk in d2.chunks(100) {
                            wr.write_all(chunk).await.unwrap();
                        }
                        wr.shutdown().await.unwrap();
                    });
                    let mut back = Vec::new();
                    r.read_to_end(&mut back).await.unwrap();
                    writer.await.unwrap();
                    back == data
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap() as u32;
        }
        ok
    });
    out.into_iter().next().unwrap().unwrap()
}

fn kernel_version() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = r
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|x| x.parse().ok());
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[test]
fn the_ring_uses_the_best_task_run_mode_the_kernel_has() {
    if !available() {
        return;
    }
    let u = Uring::builder().build().unwrap();
    let stats = u
        .run(|w| async move { w.ring_stats() })
        .pop()
        .unwrap()
        .unwrap()
        .0;
    let expected = match kernel_version() {
        v if v >= (6, 1) => RingSetup::DeferTaskrun,
        v if v >= (5, 19) => RingSetup::CoopTaskrun,
        _ => RingSetup::Plain,
    };
    assert_eq!(stats.setup, expected, "kernel {:?}", kernel_version());
    assert_eq!(stats.cq_entries, 8192);
    assert_eq!(stats.provided_buffers, 256);
}

#[test]
fn a_completion_queue_too_small_overflows_without_losing_completions() {
    if !available() {
        return;
    }
    let u = Uring::builder().entries(2).cq_entries(2).build().unwrap();
    let (ok, stats) = echo_streams(&u, 64, 3_000);
    assert_eq!(ok, 64);
    assert!(stats.cq_overflows > 0, "{stats:?}");
    assert_eq!(stats.cq_dropped, 0, "{stats:?}");
}

#[test]
fn a_dry_buffer_ring_keeps_every_stream_whole_and_in_order() {
    if !available() {
        return;
    }
    // Two 16-byte buffers for 48 streams: recvs find the ring empty all the time.
    let u = Uring::builder()
        .provided_buffers(2, 2)
        .provided_buffer_size(16)
        .build()
        .unwrap();
    let (ok, stats) = echo_streams(&u, 24, 2_000);
    assert_eq!(ok, 24);
    assert!(stats.provided_empty > 0, "{stats:?}");
    assert!(stats.recv_rearms >= stats.provided_empty, "{stats:?}");
    assert_eq!(
        stats.provided_buffers, 2,
        "the ring never grows past its maximum"
    );
}

#[test]
fn the_defaults_carry_a_thousand_streams_without_overflow_or_enobufs() {
    if !available() {
        return;
    }
    let (ok, stats) = ping_pongs(Uring::builder(), 500, 20);
    assert_eq!(ok, 500);
    assert_eq!(stats.cq_overflows, 0, "{stats:?}");
    assert_eq!(stats.provided_empty, 0, "{stats:?}");
    // 1000 streams (both ends on this worker): two buffers each plus the margin.
    assert!(stats.provided_buffers >= 2000, "{stats:?}");
}

#[test]
fn streams_waiting_for_their_peer_hold_no_send_buffer() {
    if !available() {
        return;
    }
    // 400 streams (200 connections, both ends on this worker), used one connection at a
    // time: each write takes a send buffer from the worker's pool and the driver puts it back
    // when the send completes, so the worker allocates a couple of buffers, not one per stream.
    let u = Uring::builder().build().unwrap();
    let out = u.run(|w| async move {
        let addr = start_echo(&w);
        let mut streams = Vec::new();
        for _ in 0..200 {
            streams.push(w.connect(addr).await.unwrap());
        }
        for round in 0..3u32 {
            for (i, s) in streams.iter_mut().enumerate() {
                let msg = (i as u32 * 10 + round).to_le_bytes().repeat(4);
                s.write_all(&msg).await.unwrap();
                let mut back = [0u8; 16];
                s.read_exact(&mut back).await.unwrap();
                assert_eq!(back[..], msg[..]);
            }
        }
        w.ring_stats()
    });
    let stats = out.into_iter().next().unwrap().unwrap().0;
    assert!(stats.send_buffers >= 1, "{stats:?}");
    assert!(stats.send_buffers <= 4, "{stats:?}");
}

/// `conns` streams each doing `trips` round trips of 16 bytes through the echo server on a
/// worker built by `b`; returns how many saw every echo, and the ring's stats.
fn ping_pongs(b: testbed_uring::Builder, conns: usize, trips: u32) -> (u32, RingStats) {
    let u = b.build().unwrap();
    let out = u.run(move |w| async move {
        let addr = start_echo(&w);
        let mut streams = Vec::new();
        for _ in 0..conns {
            streams.push(w.connect(addr).await.unwrap());
        }
        let tasks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                w.spawn(async move {
                    for k in 0..trips {
                        let msg = (i as u32 * 100_000 + k).to_le_bytes().repeat(4);
                        s.write_all(&msg).await.unwrap();
                        let mut back = [0u8; 16];
                        s.read_exact(&mut back).await.unwrap();
                        if back[..] != msg[..] {
                            return false;
                        }
                    }
                    true
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap() as u32;
        }
        ok
    });
    out.into_iter().next().unwrap().unwrap()
}

#[test]
fn a_busy_worker_coalesces_its_waits_and_a_lone_ping_pong_does_not() {
    if !available() {
        return;
    }
    // IORING_FEAT_MIN_TIMEOUT came with Linux 6.12: without it the backend never coalesces.
    let min_timeout = kernel_version() >= (6, 12);
    let (ok, busy) = ping_pongs(Uring::builder(), 300, 30);
    assert_eq!(ok, 300);
    assert_eq!(busy.cq_overflows, 0, "{busy:?}");
    if min_timeout {
        assert!(busy.coalesced_waits > 0, "{busy:?}");
    } else {
        assert_eq!(busy.coalesced_waits, 0, "{busy:?}");
    }
    let (ok, off) = ping_pongs(
        Uring::builder().coalesce_wait(std::time::Duration::ZERO),
        300,
        30,
    );
    assert_eq!((ok, off.coalesced_waits), (300, 0), "{off:?}");
    // One stream: one completion per wait, nothing to coalesce, no added latency.
    let (ok, lone) = ping_pongs(Uring::builder(), 1, 300);
    assert_eq!((ok, lone.coalesced_waits), (1, 0), "{lone:?}");
}
