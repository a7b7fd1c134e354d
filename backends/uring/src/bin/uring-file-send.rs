//! The io_uring rows of the io-paths file-serving benchmark (网络编程进阶主题 §1, §2.2): a file
//! served over loopback TCP by `send_file` (row "io_uring send": splices through pipes),
//! `send_file_copy` ("io_uring copy": READV units and vectored sends; registered file and
//! buffers) and `send_file_zc` ("io_uring SEND_ZC": linked SEND_ZCs), page cache warm and cold
//! (posix_fadvise DONTNEED). For each: GB/s, CPU-seconds per GB and ring enters
//! (io_uring_enter calls, the path's syscalls) per GB; median of `--runs`. CPU is the whole
//! process (getrusage RUSAGE_SELF: the worker thread and the io-wq threads the kernel ran the
//! ring's splices on) minus the reader thread's own usage.
//! Usage: `uring-file-send [--size BYTES] [--runs N] [--dir DIR]`; uses (or writes)
//! `DIR/io-paths-SIZE.bin`, the file `io-paths` serves. Last stdout line: one JSON object
//! mapping "warm"/"cold" to rows {"io_uring send": {gbps, cpu_per_gb, syscalls_per_gb}, ..}.
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::io::Read;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use testbed_benchkit::{arg, ensure_pattern_file, help, median, selected};
use testbed_model::Net;
use tokio::io::AsyncWriteExt;

/// User + system CPU seconds of the process (`RUSAGE_SELF`) or calling thread.
fn cpu_s(who: i32) -> f64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the live struct we pass.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        panic!("getrusage: {}", std::io::Error::last_os_error());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// (GB/s, CPU-s/GB, ring enters/GB) of one send of the whole file.
fn serve_once(file: &std::fs::File, len: u64, cold: bool, path: &'static str) -> [f64; 3] {
    if cold {
        let _ = file.sync_all();
        // SAFETY: posix_fadvise on an open fd has no memory effects.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    } else {
        let mut warm = file.try_clone().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        std::io::Seek::seek(&mut warm, std::io::SeekFrom::Start(0)).unwrap();
        while warm.read(&mut buf).unwrap_or(0) > 0 {}
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let c0 = cpu_s(libc::RUSAGE_THREAD);
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0u64;
            while let Ok(n @ 1..) = s.read(&mut buf) {
                total += n as u64;
            }
            (total, cpu_s(libc::RUSAGE_THREAD) - c0)
        })
        .unwrap();
    let file = file.try_clone().unwrap();
    let (wall, cpu, enters) = testbed_uring::block_on(0, move |w| {
        let file = file.try_clone().unwrap();
        async move {
            let mut s = w.connect(addr).await.unwrap();
            let (t0, c0, e0) = (
                std::time::Instant::now(),
                cpu_s(libc::RUSAGE_SELF),
                w.ring_stats().enters,
            );
            let r = match path {
                "zc" => testbed_uring::send_file_zc(&mut s, &file, 0..len).await,
                "copy" => testbed_uring::send_file_copy(&mut s, &file, 0..len).await,
                _ => testbed_uring::send_file(&mut s, &file, 0..len).await,
            };
            let r = r.unwrap();
            assert_eq!(r.bytes, len);
            s.shutdown().await.unwrap();
            let wall = t0.elapsed().as_secs_f64();
            (
                wall,
                cpu_s(libc::RUSAGE_SELF) - c0,
                w.ring_stats().enters - e0,
            )
        }
    })
    .unwrap();
    let (got, reader_cpu) = reader.join().unwrap();
    assert_eq!(got, len, "the receiver got every byte");
    let gb = len as f64 / 1e9;
    [
        gb / wall,
        (cpu - reader_cpu).max(0.0) / gb,
        enters as f64 / gb,
    ]
}

fn main() {
    help(
        "usage: uring-file-send [--size BYTES] [--runs N] [--dir DIR]\n\
         ROWS=warm-send,cold-zc,... runs only those rows (send, copy, zc; warm or cold)",
    );
    if let Err(e) = testbed_uring::probe() {
        // A benchmark binary cannot use testbed-testkit (a dev-dependency); same rule:
        // under TESTBED_REQUIRE_ALL=1 a missing environment is a failure, not a skip.
        if std::env::var("TESTBED_REQUIRE_ALL").as_deref() == Ok("1") {
            eprintln!("uring-file-send: {e} (and TESTBED_REQUIRE_ALL=1: nothing may skip)");
            std::process::exit(1);
        }
        eprintln!("SKIP uring-file-send: {e}");
        println!("{{}}");
        return;
    }
    let size: u64 = arg("--size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 30);
    let runs: usize = arg("--runs").and_then(|s| s.parse().ok()).unwrap_or(3);
    let dir = arg("--dir")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target".into());
    let path = dir.join(format!("io-paths-{size}.bin"));
    ensure_pattern_file(&path, size).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let mut out = Vec::new();
    // ROWS=warm-send (say) runs only that row: a profile of one path.
    for cold in [false, true] {
        let mut rows = Vec::new();
        for (name, path) in [
            ("io_uring send", "send"),
            ("io_uring copy", "copy"),
            ("io_uring SEND_ZC", "zc"),
        ] {
            let key = format!("{}-{path}", if cold { "cold" } else { "warm" });
            if !selected("ROWS", &key) {
                continue;
            }
            let samples: Vec<[f64; 3]> = (0..runs)
                .map(|_| serve_once(&file, size, cold, path))
                .collect();
            let m: Vec<f64> = (0..3)
                .map(|k| median(samples.iter().map(|s| s[k]).collect()))
                .collect();
            eprintln!(
                "{:5} {:16} {:6.2} GB/s  {:6.3} CPU-s/GB  {:9.0} syscalls/GB",
                if cold { "cold" } else { "warm" },
                name,
                m[0],
                m[1],
                m[2]
            );
            rows.push(format!(
                "{name:?}:{{\"gbps\":{:.3},\"cpu_per_gb\":{:.4},\"syscalls_per_gb\":{:.1}}}",
                m[0], m[1], m[2]
            ));
        }
        out.push(format!(
            "{:?}:{{{}}}",
            if cold { "cold" } else { "warm" },
            rows.join(",")
        ));
    }
    println!("{{{}}}", out.join(","));
}
