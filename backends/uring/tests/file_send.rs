//! Pipelined file sends through the ring (READV units from a registered file into registered
//! buffers; plain vectored sends and linked SEND_ZC chains; splices through pipes) to a std
//! reader on loopback; a file shorter than the range; a send abandoned mid-transfer; a splice
//! into a non-blocking socket that fills up; and a dropped stream whose multishot recv was
//! armed. Skips, saying why, where io_uring is unavailable.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use testbed_model::{Duration, Net, Runtime};
use testbed_uring::{send_file, send_file_copy, send_file_zc, FileSendReport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::available;

/// A temporary file with `len` bytes of a fixed pattern, removed on drop.
struct TempFile(PathBuf, Vec<u8>);

impl TempFile {
    fn new(name: &str, len: usize) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("testbed-uring-{}-{name}", std::process::id()));
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 4096) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        TempFile(path, data)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A std listener whose one connection is read to the end on a thread.
fn reader() -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    (addr, t)
}

/// Which file path a test sends through.
#[derive(Clone, Copy)]
enum How {
    Copy,
    ZeroCopy,
    Splice,
}

async fn send_how(
    how: How,
    s: &mut testbed_uring::UringStream,
    file: &std::fs::File,
    range: std::ops::Range<u64>,
) -> std::io::Result<FileSendReport> {
    match how {
        How::Copy => send_file_copy(s, file, range).await,
        How::ZeroCopy => send_file_zc(s, file, range).await,
        How::Splice => send_file(s, file, range).await,
    }
}

/// A send of 16 MiB `how` to a peer that never reads, abandoned after 50 ms (the stream
/// dropped), then three sends of 1 MiB on a new connection. Returns whether the first timed
/// out, the three reports, and the bytes the second peer got with the file's bytes.
fn abandon_then_send(
    name: &str,
    how: How,
) -> (bool, Vec<std::io::Result<FileSendReport>>, Vec<u8>, Vec<u8>) {
    let f = TempFile::new(name, 16 * 1024 * 1024);
    let stalled = TcpListener::bind("127.0.0.1:0").unwrap();
    let stalled_addr = stalled.local_addr().unwrap();
    let (addr, t) = reader();
    let path = f.0.clone();
    let (timed_out, reports) = testbed_uring::block_on(0, move |w| {
        let (path, stalled) = (path.clone(), stalled.try_clone().unwrap());
        async move {
            let mut s = w.connect(stalled_addr).await.unwrap();
            let (_peer, _) = stalled.accept().unwrap();
            let file = std::fs::File::open(&path).unwrap();
            let timed_out = testbed_model::timeout(
                &w,
                Duration::from_millis(50),
                send_how(how, &mut s, &file, 0..16 * 1024 * 1024),
            )
            .await
            .is_err();
            drop(s);
            let mut reports = Vec::new();
            let mut s2 = w.connect(addr).await.unwrap();
            for _ in 0..3 {
                reports.push(send_how(how, &mut s2, &file, 0..1024 * 1024).await);
            }
            s2.shutdown().await.unwrap();
            (timed_out, reports)
        }
    })
    .unwrap();
    (timed_out, reports, t.join().unwrap(), f.1.clone())
}

fn send_range(
    name: &str,
    len: usize,
    range: std::ops::Range<u64>,
    how: How,
) -> (
    Vec<u8>,
    Vec<u8>,
    std::io::Result<FileSendReport>,
    testbed_uring::RingStats,
) {
    let f = TempFile::new(name, len);
    let (addr, t) = reader();
    let path = f.0.clone();
    let (report, stats) = testbed_uring::block_on(0, move |w| {
        let (path, range) = (path.clone(), range.clone());
        async move {
            let mut s = w.connect(addr).await.unwrap();
            s.write_all(b"HEAD").await.unwrap(); // buffered: must precede the file's bytes
            let file = std::fs::File::open(&path).unwrap();
            let r = send_how(how, &mut s, &file, range).await;
            s.write_all(b"TAIL").await.unwrap();
            s.shutdown().await.unwrap();
            (r, w.ring_stats())
        }
    })
    .unwrap();
    let got = t.join().unwrap();
    (got, f.1.clone(), report, stats)
}

/// Sends bytes 7..len-3 of a file of `len` = 3 MiB + 12,345 bytes `how`, between "HEAD" and
/// "TAIL" written on the stream, and checks that the peer got exactly those bytes in order.
/// Returns `len`, the send's report and the ring's stats.
fn send_odd_range(name: &str, how: How) -> (usize, FileSendReport, testbed_uring::RingStats) {
    let len = 3 * 1024 * 1024 + 12_345;
    let (got, data, report, stats) = send_range(name, len, 7..(len as u64 - 3), how);
    let report = report.unwrap();
    let mut want = b"HEAD".to_vec();
    want.extend_from_slice(&data[7..len - 3]);
    want.extend_from_slice(b"TAIL");
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the bytes arrive intact and in order");
    assert_eq!(report.bytes, (len - 10) as u64);
    (len, report, stats)
}

#[test]
fn pipelined_sends_deliver_every_byte_in_order_from_registered_buffers() {
    if !available() {
        return;
    }
    let (len, report, stats) = send_odd_range("plain", How::Copy);
    // Units of up to 1 MiB: one READV and one vectored send each.
    let units = (len as u64 - 10).div_ceil(1024 * 1024);
    assert_eq!(report.pairs, units, "{report:?}");
    assert_eq!(report.chains, units, "{report:?}");
    assert_eq!(
        (report.fixed_reads, report.registered_buf_reads),
        (report.pairs, report.pairs),
        "every read used the registered file and registered buffers: {report:?}"
    );
    assert_eq!(report.fallbacks, 0, "{report:?}");
    assert_eq!(
        stats.linked_sends, report.pairs,
        "one send per unit: {stats:?}"
    );
    assert_eq!(stats.fixed_reads, report.fixed_reads, "{stats:?}");
}

#[test]
fn zero_copy_chains_send_every_byte_and_count_notifications() {
    if !available() {
        return;
    }
    let len = 3 * 1024 * 1024;
    let (got, data, report, stats) = send_range("zc", len, 0..len as u64, How::ZeroCopy);
    let report = report.unwrap();
    assert_eq!(&got[4..len + 4], &data[..]);
    assert_eq!(report.bytes, len as u64);
    if testbed_uring::probe().unwrap().send_zc {
        assert!(report.zc_sends >= 1, "{report:?}");
        assert!(report.zc_copied <= report.zc_sends);
        // A unit of 1 MiB goes as 16 linked SEND_ZCs of 64 KiB. Over loopback the kernel
        // copies their pages (and says so): after the first unit the rest was spliced. Where
        // it did not copy, every 64 KiB went as a SEND_ZC.
        assert_eq!(report.pairs, 3, "{report:?}");
        let first_unit_copied = report.zc_sends == 16 && report.zc_copied == 16;
        assert_eq!(report.zc_switched, first_unit_copied, "{report:?}");
        if !report.zc_switched {
            assert_eq!(report.zc_sends, 48, "one notification per send: {report:?}");
        } else if testbed_uring::probe().unwrap().splice {
            assert_eq!(report.spliced, 2, "the other two units: {report:?}");
        }
        assert!(
            stats.batch_waits >= 1,
            "the worker waited for a chain's completions together: {stats:?}"
        );
    }
}

#[test]
fn a_file_shorter_than_the_range_is_an_error_after_what_it_has() {
    if !available() {
        return;
    }
    let len = 100_000;
    let (got, data, report, _) = send_range("short", len, 0..200_000, How::Copy);
    let err = report.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    // The short read severed the chain; what it read was still sent, in order.
    assert_eq!(&got[4..4 + len], &data[..]);
}

#[test]
fn an_abandoned_send_releases_its_buffers_and_later_sends_work() {
    if !available() {
        return;
    }
    // The first send stalls on a full socket. Every registered buffer is back once the
    // cancelled chain completes; several sends in a row reuse them.
    let (timed_out, reports, got, data) = abandon_then_send("abandon", How::Copy);
    assert!(timed_out, "the stalled send timed out");
    for rep in reports {
        let rep = rep.unwrap();
        assert_eq!(rep.bytes, 1024 * 1024);
        assert_eq!(rep.fixed_reads, rep.pairs, "{rep:?}");
    }
    assert_eq!(got.len(), 3 * 1024 * 1024);
    assert!(got.chunks(1024 * 1024).all(|c| c == &data[..1024 * 1024]));
}

#[test]
fn splices_deliver_every_byte_in_order_without_user_space_buffers() {
    if !available() {
        return;
    }
    let (len, report, stats) = send_odd_range("splice", How::Splice);
    if !testbed_uring::probe().unwrap().splice {
        return; // sent as send_file_copy does (its own test checks that)
    }
    // One splice into a pipe and one out of it per unit (a unit is as large as the pipe, at
    // most 1 MiB); the socket blocks, so each unit went whole.
    assert_eq!(report.spliced, report.pairs, "{report:?}");
    assert!(
        report.pairs >= (len as u64 - 10).div_ceil(1024 * 1024),
        "{report:?}"
    );
    assert_eq!(report.chains, report.pairs, "{report:?}");
    assert_eq!(report.fallbacks, 0, "{report:?}");
    assert_eq!(
        (
            report.fixed_reads,
            report.registered_buf_reads,
            stats.fixed_reads
        ),
        (0, 0, 0),
        "no read into a buffer: {report:?}"
    );
}

#[test]
fn a_splice_from_a_file_shorter_than_the_range_is_an_error_after_what_it_has() {
    if !available() {
        return;
    }
    let len = 1024 * 1024 + 100_000;
    let (got, data, report, _) = send_range("splice-short", len, 0..4 * 1024 * 1024, How::Splice);
    let err = report.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    assert_eq!(
        &got[4..4 + len],
        &data[..],
        "what the file had was sent, in order"
    );
    assert_eq!(&got[4 + len..], b"TAIL");
}

#[test]
fn an_abandoned_splice_is_cancelled_and_later_splices_work() {
    if !available() {
        return;
    }
    // The splice into the stalled socket blocks in the kernel's worker until cancelled.
    let (timed_out, reports, got, data) = abandon_then_send("splice-abandon", How::Splice);
    assert!(timed_out, "the stalled splice timed out");
    for rep in reports {
        assert_eq!(rep.unwrap().bytes, 1024 * 1024);
    }
    assert_eq!(got.len(), 3 * 1024 * 1024);
    assert!(got.chunks(1024 * 1024).all(|c| c == &data[..1024 * 1024]));
}

#[test]
fn a_splice_into_a_full_non_blocking_socket_waits_for_room_and_loses_nothing() {
    if !available() {
        return;
    }
    let len = 32 * 1024 * 1024;
    let f = TempFile::new("splice-nonblock", len);
    // A reader that starts late and reads in small pieces: the socket fills up.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
        loop {
            match s.read(&mut buf).unwrap() {
                0 => break got,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    let path = f.0.clone();
    let report = testbed_uring::block_on(0, move |w| {
        let path = path.clone();
        async move {
            let mut s = w.connect(addr).await.unwrap();
            use std::os::fd::AsRawFd;
            let fd = s.as_raw_fd();
            // SAFETY: F_GETFL/F_SETFL on the stream's open socket; no memory is passed.
            unsafe {
                let fl = libc::fcntl(fd, libc::F_GETFL);
                assert_eq!(libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK), 0);
            }
            let file = std::fs::File::open(&path).unwrap();
            let r = send_file(&mut s, &file, 0..len as u64).await;
            s.shutdown().await.unwrap();
            r
        }
    })
    .unwrap()
    .unwrap();
    let got = t.join().unwrap();
    assert_eq!(report.bytes, len as u64);
    assert!(got == f.1, "every byte, in order");
    if !testbed_uring::probe().unwrap().splice {
        return;
    }
    assert!(
        report.fallbacks >= 1,
        "the socket was full at least once: {report:?}"
    );
}

#[test]
fn a_dropped_stream_closes_the_connection_though_its_recv_was_armed() {
    if !available() {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None::<std::io::Result<usize>>));
    let seen2 = seen.clone();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"hi").unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 8];
        let r = s.read(&mut buf); // EOF (0) once the other side's socket is really closed
        *seen2.lock().unwrap() = Some(r);
    });
    let seen3 = seen.clone();
    let ring_alive = testbed_uring::block_on(0, move |w| {
        let seen = seen3.clone();
        async move {
            let mut s = w.connect(addr).await.unwrap();
            let mut buf = [0u8; 2];
            s.read_exact(&mut buf).await.unwrap(); // arms the multishot recv
            drop(s);
            // The ring stays up until the peer has its answer: closing the ring would close
            // the socket anyway and hide a recv that keeps it open.
            for _ in 0..300 {
                if seen.lock().unwrap().is_some() {
                    return true;
                }
                w.sleep(Duration::from_millis(10)).await;
            }
            false
        }
    })
    .unwrap();
    t.join().unwrap();
    assert!(ring_alive, "the peer's read returned while the ring was up");
    let r = seen.lock().unwrap().take().unwrap();
    assert_eq!(r.unwrap(), 0, "the peer sees EOF, not a read timeout");
}
