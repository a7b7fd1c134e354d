//! The io_uring backend on loopback: echo over TCP (many connections, large transfers),
//! timers, a future dropped mid-operation, a stream dropped with its last write in flight
//! (the bytes still go out, within the linger bound), UDP, and the ring's syscall counter.
//! Skips, saying why, where io_uring is unavailable.

use std::future::Future;
use std::io;
use testbed_model::{DatagramSocket, Duration, Listener, Net, Runtime, Stream};
use testbed_uring::{RingStats, Uring};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

mod common;
use common::{available, start_echo};

#[test]
fn tcp_echo_with_many_connections_and_large_transfers() {
    if !available() {
        return;
    }
    let u = Uring::builder().build().unwrap();
    let out = u.run(|w| async move {
        let addr = start_echo(&w);
        let tasks: Vec<_> = (0..50u32)
            .map(|i| {
                let w2 = w.clone();
                w.spawn(async move {
                    let s = w2.connect(addr).await.unwrap();
                    let (mut r, mut wr) = tokio::io::split(s);
                    let len = 200_000 + i as usize * 1000;
                    let data: Vec<u8> = (0..len).map(|k| (k as u32 * 7 + i) as u8).collect();
                    let d2 = data.clone();
                    let writer = w2.spawn(async move {
                        wr.write_all(&d2).await.unwrap();
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
            if t.await.unwrap() {
                ok += 1;
            }
        }
        ok
    });
    let (ok, stats) = out.into_iter().next().unwrap().unwrap();
    assert_eq!(ok, 50, "every connection echoed its bytes intact");
    assert!(stats.completed > 0 && stats.enters > 0, "{stats:?}");
    let f = u.features();
    if f.accept_multi {
        assert_eq!(
            stats.multishot_accepts, 50,
            "one armed multishot accept took every connection: {stats:?}"
        );
    }
    if f.send_zc {
        // Writes of 16 KiB and more go out as SEND_ZC; on loopback the kernel reports it
        // copied them (the receiver needs its own copy).
        assert!(stats.zc_sends > 0, "{stats:?}");
        assert!(stats.zc_copied <= stats.zc_sends);
    }
    assert!(
        stats.provided_recvs > 0,
        "reads went through the provided-buffer ring: {stats:?}"
    );
    eprintln!("ring: {stats:?}, features {f:?}");
}

#[test]
fn timers_fire_in_order_and_dropped_operations_are_cancelled() {
    if !available() {
        return;
    }
    let r = testbed_uring::block_on(0, |w| async move {
        let t0 = w.now();
        w.sleep(Duration::from_millis(30)).await;
        let slept = w.now() - t0;
        // A read that never completes, abandoned through a timeout: the buffer stays with the
        // driver until the cancellation completes.
        let l = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr();
        let keep = w.spawn(async move { l.accept().await.map(|(s, _)| s) });
        let mut c = w.connect(addr).await.unwrap();
        let mut buf = [0u8; 8];
        let timed_out = testbed_model::timeout(&w, Duration::from_millis(20), c.read(&mut buf))
            .await
            .is_err();
        let accepted = keep.await.unwrap().is_ok();
        // The connection still works after the cancelled read.
        c.write_all(b"x").await.unwrap();
        (slept, timed_out, accepted)
    })
    .unwrap();
    assert!(
        r.0 >= Duration::from_millis(30),
        "a timer never fires early: {:?}",
        r.0
    );
    assert!(r.1, "the read timed out");
    assert!(r.2);
}

#[test]
fn udp_round_trip() {
    if !available() {
        return;
    }
    let got = testbed_uring::block_on(0, |w| async move {
        let a = w.bind_datagram("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = w.bind_datagram("127.0.0.1:0".parse().unwrap()).unwrap();
        let b_addr = b.local_addr();
        let waiter = w.spawn(async move {
            let mut buf = [0u8; 64];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            b.send_to(&buf[..n], from).await.unwrap();
        });
        w.sleep(Duration::from_millis(5)).await; // the receiver waits on the ring first
        a.send_to(b"ping", b_addr).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = a.recv_from(&mut buf).await.unwrap();
        waiter.await.unwrap();
        buf[..n].to_vec()
    })
    .unwrap();
    assert_eq!(got, b"ping");
}

#[test]
fn a_wake_from_another_thread_interrupts_the_ring_wait() {
    if !available() {
        return;
    }
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};
    // Nothing else is pending on the ring (no timers, no I/O): only the cross-thread wake can
    // end the wait.
    let shared: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
    let s2 = shared.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut g = s2.lock().unwrap();
        g.0 = true;
        if let Some(w) = g.1.take() {
            w.wake();
        }
    });
    let woke = testbed_uring::block_on(0, move |_w| {
        let shared = shared.clone();
        async move {
            std::future::poll_fn(|cx| {
                let mut g = shared.lock().unwrap();
                if g.0 {
                    Poll::Ready(true)
                } else {
                    g.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await
        }
    })
    .unwrap();
    t.join().unwrap();
    assert!(woke);
}

#[test]
fn echo_with_sqpoll() {
    if !available() {
        return;
    }
    let u = Uring::builder().sqpoll(50).build().unwrap();
    let out = u.run(|w| async move {
        let addr = start_echo(&w);
        let mut s = w.connect(addr).await.unwrap();
        let mut ok = 0;
        for i in 0..200u32 {
            let msg = i.to_be_bytes();
            s.write_all(&msg).await.unwrap();
            let mut back = [0u8; 4];
            s.read_exact(&mut back).await.unwrap();
            ok += (back == msg) as u32;
        }
        ok
    });
    match out.into_iter().next().unwrap() {
        Ok((ok, _)) => assert_eq!(ok, 200),
        // Creating an SQPOLL ring needs privileges some machines withhold.
        Err(e) if e.raw_os_error() == Some(libc_eperm()) => {
            testbed_testkit::skip(format_args!("an SQPOLL ring is not permitted here: {e}"))
        }
        Err(e) => panic!("{e}"),
    }
}

fn libc_eperm() -> i32 {
    1 // EPERM
}

/// Connects from a uring worker to a plain-thread peer with a small receive buffer that
/// reads nothing yet, writes patterned bytes until the socket is full and a write has waited
/// 50 ms (a handler giving up), drops the stream, and only then lets the peer read to the end
/// (with `after_timeout`, only once the worker's ring has cancelled the lingering send at its
/// deadline). Returns what the peer read, how many bytes the writes reported written, and the
/// ring's stats.
fn drop_after_write(
    builder: testbed_uring::Builder,
    linger_zero: bool,
    after_timeout: bool,
) -> (io::Result<Vec<u8>>, usize, RingStats) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (dropped_tx, dropped_rx) = std::sync::mpsc::channel::<()>();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let read_done = done.clone();
    let reader = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        socket2::SockRef::from(&s)
            .set_recv_buffer_size(4096)
            .unwrap();
        dropped_rx.recv().unwrap();
        let mut got = Vec::new();
        let r = std::io::Read::read_to_end(&mut &s, &mut got).map(|_| got);
        read_done.store(true, std::sync::atomic::Ordering::Release);
        r
    });
    let u = builder.workers(1).build().unwrap();
    let out = u.run(move |w| {
        let dropped = dropped_tx.clone();
        let done = done.clone();
        async move {
            let mut s = w.connect(addr).await.unwrap();
            socket2::SockRef::from(&s)
                .set_send_buffer_size(4096)
                .unwrap();
            if linger_zero {
                s.set_linger(Some(Duration::ZERO)).unwrap();
            }
            let data = pattern(LEN);
            let mut written = 0;
            let mut give_up = std::pin::pin!(w.sleep(Duration::from_millis(50)));
            loop {
                let step = std::future::poll_fn(|cx| {
                    if give_up.as_mut().poll(cx).is_ready() {
                        return std::task::Poll::Ready(None);
                    }
                    std::pin::Pin::new(&mut s)
                        .poll_write(cx, &data[written..])
                        .map(Some)
                })
                .await;
                match step {
                    Some(n) => written += n.unwrap(),
                    None => break,
                }
            }
            assert!(
                written < LEN,
                "the peer reads nothing yet: the writes must block"
            );
            drop(s);
            while after_timeout && w.ring_stats().linger_timeouts == 0 {
                w.sleep(Duration::from_millis(10)).await; // ends: the deadline is finite
            }
            dropped.send(()).unwrap();
            // keep the worker's ring running until the peer has read to the end (a closed
            // window reopens through TCP's persist timer: that can take a second)
            for _ in 0..1000 {
                if done.load(std::sync::atomic::Ordering::Acquire) {
                    break;
                }
                w.sleep(Duration::from_millis(10)).await;
            }
            (written, w.ring_stats())
        }
    });
    let ((written, _), stats) = out.into_iter().next().unwrap().unwrap();
    (reader.join().unwrap(), written, stats)
}

const LEN: usize = 1 << 20;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8).collect()
}

#[test]
fn a_stream_dropped_with_its_last_write_in_flight_still_delivers_it() {
    if !available() {
        return;
    }
    // A write reports its bytes written once their send is queued; as with a kernel socket,
    // dropping the stream with that send still waiting for room must not discard them.
    let (got, written, stats) = drop_after_write(Uring::builder(), false, false);
    let got = got.unwrap();
    assert_eq!(got.len(), written, "bytes lost when the stream was dropped");
    assert!(got == pattern(written));
    assert_eq!(
        (stats.lingering_sends, stats.linger_timeouts),
        (1, 0),
        "{stats:?}"
    );
}

#[test]
fn a_dropped_streams_send_is_cancelled_at_its_linger_deadline_or_at_once_with_linger_zero() {
    if !available() {
        return;
    }
    // The peer reads only after a 100 ms linger ran out: the send was cancelled, the peer
    // gets what the kernel had taken, then EOF.
    let builder = Uring::builder().drop_linger(Duration::from_millis(100));
    let (got, written, stats) = drop_after_write(builder, false, true);
    let got = got.map(|g| g.len());
    assert!(
        matches!(got, Ok(n) if n < written),
        "{got:?} of {written} {stats:?}"
    );
    assert_eq!(
        (stats.lingering_sends, stats.linger_timeouts),
        (1, 1),
        "{stats:?}"
    );
    // SO_LINGER zero: dropping discards the unsent bytes at once (RST).
    let (got, written, stats) = drop_after_write(Uring::builder(), true, false);
    assert!(got.map_or(true, |g| g.len() < written));
    assert_eq!(stats.lingering_sends, 0, "{stats:?}");
}
