//! The io-paths benchmark (网络编程进阶主题 §1 claims): serving a file over loopback TCP by read/write,
//! mmap+write, sendfile and MSG_ZEROCOPY, page cache warm and cold (posix_fadvise DONTNEED),
//! and proxying through splice vs a user-space copy. For each: GB/s, sender CPU-seconds per
//! GB (getrusage of the sending thread) and syscalls per GB; median of `--runs`. Writes the
//! claims file (`--claims FILE`, JSON lines) and prints, last, one JSON object:
//! `{"bench":"io-paths","sendfile_cpu_vs_rw":..,"uring_vs_epoll_msgs":..,"uring_vs_epoll_syscalls":..,"splice_proxy_cpu_vs_copy":..}`.
//! Usage: `io-paths [--size BYTES] [--runs N] [--dir DIR] [--claims FILE]`.
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use testbed_benchkit::{arg, ensure_pattern_file, help, median, selected};
use testbed_kernel::zerocopy::{self, thread_usage};
use testbed_model::{Listener, Net};

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    gbps: f64,
    cpu_per_gb: f64,
    syscalls_per_gb: f64,
}

fn summarize(samples: &[Sample]) -> Sample {
    Sample {
        gbps: median(samples.iter().map(|s| s.gbps).collect()),
        cpu_per_gb: median(samples.iter().map(|s| s.cpu_per_gb).collect()),
        syscalls_per_gb: median(samples.iter().map(|s| s.syscalls_per_gb).collect()),
    }
}

fn drop_cache(f: &std::fs::File) {
    let _ = f.sync_all();
    // SAFETY: posix_fadvise on an open fd has no memory effects.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

/// Serves `file` by `path` to a draining reader thread.
fn serve_once(path: &str, file: &std::fs::File, len: u64, cold: bool) -> Sample {
    if cold {
        drop_cache(file);
    } else {
        let mut warm = file.try_clone().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        while warm.read(&mut buf).unwrap_or(0) > 0 {}
        let _ = std::io::Seek::seek(&mut warm, std::io::SeekFrom::Start(0));
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        while let Ok(n @ 1..) = s.read(&mut buf) {
            total += n as u64;
        }
        total
    });
    let file = file.try_clone().unwrap();
    let owned = path.to_string();
    let (wall, cpu, syscalls) = testbed_kernel::block_on(0, |w| async move {
        let mut s = w.connect(addr).await.unwrap();
        let t0 = std::time::Instant::now();
        let u0 = thread_usage().unwrap();
        let syscalls = match owned.as_str() {
            "read/write" => {
                zerocopy::send_file_copying(&mut s, b"", &file, 0..len)
                    .await
                    .unwrap()
                    .costs
                    .syscalls
            }
            "mmap+write" => {
                zerocopy::send_file_mmap(&mut s, b"", &file, 0..len)
                    .await
                    .unwrap()
                    .costs
                    .syscalls
            }
            "sendfile" => {
                zerocopy::send_file(&mut s, b"", &file, 0..len)
                    .await
                    .unwrap()
                    .costs
                    .syscalls
            }
            _ => {
                // MSG_ZEROCOPY from a buffer read in advance (its read is not the send's cost).
                let mut data = vec![0u8; len as usize];
                std::os::unix::fs::FileExt::read_exact_at(&file, &mut data, 0).unwrap();
                let (t1, u1) = (std::time::Instant::now(), thread_usage().unwrap());
                let r = zerocopy::send_zerocopy(&s, &data).await.unwrap();
                let cpu = thread_usage().unwrap().since(&u1).cpu_s();
                drop(s);
                return (t1.elapsed().as_secs_f64(), cpu, r.syscalls);
            }
        };
        let cpu = thread_usage().unwrap().since(&u0).cpu_s();
        drop(s);
        (t0.elapsed().as_secs_f64(), cpu, syscalls)
    });
    let got = reader.join().unwrap();
    assert_eq!(got, len, "{path}: the receiver got every byte");
    let gb = len as f64 / 1e9;
    Sample {
        gbps: gb / wall,
        cpu_per_gb: cpu / gb,
        syscalls_per_gb: syscalls as f64 / gb,
    }
}

/// Pushes `len` bytes client → proxy → sink through the splice or copy proxy.
fn proxy_once(splice: bool, len: u64) -> Sample {
    let sink_l = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_a = sink_l.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = sink_l.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        while let Ok(n @ 1..) = s.read(&mut buf) {
            total += n as u64;
        }
        total
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let client = std::thread::spawn(move || {
        let addr: std::net::SocketAddr = rx.recv().unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        let buf = vec![0x33u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            s.write_all(&buf[..n]).unwrap();
            left -= n as u64;
        }
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    });
    let (wall, cpu, syscalls) = testbed_kernel::block_on(0, |w| async move {
        let l = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        tx.send(l.local_addr()).unwrap();
        let (c, _) = l.accept().await.unwrap();
        let s = w.connect(sink_a).await.unwrap();
        let t0 = std::time::Instant::now();
        let u0 = thread_usage().unwrap();
        let r = if splice {
            zerocopy::splice_proxy(&c, &s, None).await.unwrap()
        } else {
            zerocopy::copy_proxy(&c, &s).await.unwrap()
        };
        let cpu = thread_usage().unwrap().since(&u0).cpu_s();
        (t0.elapsed().as_secs_f64(), cpu, r.syscalls)
    });
    client.join().unwrap();
    assert_eq!(sink.join().unwrap(), len);
    let gb = len as f64 / 1e9;
    Sample {
        gbps: gb / wall,
        cpu_per_gb: cpu / gb,
        syscalls_per_gb: syscalls as f64 / gb,
    }
}

#[allow(clippy::too_many_arguments)] // one argument per field of the claims schema (docs/report.md)
fn claim(
    id: &str,
    section: &str,
    text: &str,
    seed_value: &str,
    measured: String,
    unit: &str,
    verdict: &str,
    detail: String,
) -> String {
    format!(
        "{{\"id\":{id:?},\"section\":{section:?},\"claim\":{text:?},\"seed_value\":{seed_value:?},\"measured\":{measured:?},\"unit\":{unit:?},\"backend\":\"kernel\",\"verdict\":{verdict:?},\"detail\":{detail:?}}}"
    )
}

fn main() {
    help(
        "usage: io-paths [--size BYTES] [--runs N] [--dir DIR] [--claims FILE]\n\
         PATHS=warm-read/write,cold-sendfile,... runs only those rows (no proxy rows, no claims)",
    );
    let size: u64 = arg("--size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 30);
    let runs: usize = arg("--runs").and_then(|s| s.parse().ok()).unwrap_or(3);
    let dir = arg("--dir")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("target"));
    let claims_path = arg("--claims")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.join("claims/io-paths.jsonl"));
    let file_path = dir.join(format!("io-paths-{size}.bin"));
    ensure_pattern_file(&file_path, size).unwrap();
    let file = std::fs::File::open(&file_path).unwrap();
    let mut table = Vec::new();
    // PATHS=warm-read/write,cold-sendfile (say) runs only those rows and no proxy rows (a
    // profile of one path, or scripts/bench-uring-file's baseline): rows not run print as
    // zeros and no claims are written.
    let some_rows = std::env::var_os("PATHS").is_some();
    for cold in [false, true] {
        for path in ["read/write", "mmap+write", "sendfile", "MSG_ZEROCOPY"] {
            let key = format!("{}-{path}", if cold { "cold" } else { "warm" });
            if !selected("PATHS", &key) {
                continue;
            }
            let samples: Vec<Sample> = (0..runs)
                .map(|_| serve_once(path, &file, size, cold))
                .collect();
            let s = summarize(&samples);
            eprintln!(
                "{:5} {:13} {:6.2} GB/s  {:6.3} CPU-s/GB  {:9.0} syscalls/GB",
                if cold { "cold" } else { "warm" },
                path,
                s.gbps,
                s.cpu_per_gb,
                s.syscalls_per_gb
            );
            table.push((cold, path, s));
        }
    }
    let mut proxies = Vec::new();
    for splice in [false, true] {
        if some_rows {
            proxies.push(Sample::default());
            continue;
        }
        let samples: Vec<Sample> = (0..runs).map(|_| proxy_once(splice, size)).collect();
        let s = summarize(&samples);
        eprintln!(
            "proxy {:13} {:6.2} GB/s  {:6.3} CPU-s/GB  {:9.0} syscalls/GB",
            if splice { "splice" } else { "user copy" },
            s.gbps,
            s.cpu_per_gb,
            s.syscalls_per_gb
        );
        proxies.push(s);
    }
    let get = |cold: bool, p: &str| {
        table
            .iter()
            .find(|(c, q, _)| *c == cold && *q == p)
            .map(|t| t.2)
            .unwrap_or_default()
    };
    let (rw, sf, mm) = (
        get(false, "read/write"),
        get(false, "sendfile"),
        get(false, "mmap+write"),
    );
    let sendfile_cpu_vs_rw = sf.cpu_per_gb / rw.cpu_per_gb;
    let splice_cpu_vs_copy = proxies[1].cpu_per_gb / proxies[0].cpu_per_gb;
    let claims = [
        claim(
            "zero-copy.sendfile-speed",
            "1",
            "sendfile is 2-3x faster than read/write",
            "2-3x",
            format!("{:.2}x", sf.gbps / rw.gbps),
            "throughput ratio (loopback, warm cache)",
            if sf.gbps / rw.gbps >= 2.0 { "holds" } else { "does-not-hold-here" },
            format!("sendfile {:.2} GB/s vs read/write {:.2} GB/s; loopback has no DMA to a NIC: the receiver copies either way", sf.gbps, rw.gbps),
        ),
        claim(
            "zero-copy.sendfile-cpu",
            "1",
            "sendfile saves about 50% CPU",
            "0.5x",
            format!("{sendfile_cpu_vs_rw:.2}x"),
            "sender CPU-seconds per GB ratio",
            if sendfile_cpu_vs_rw <= 0.6 { "holds" } else { "does-not-hold-here" },
            format!("sendfile {:.3} vs read/write {:.3} CPU-s/GB (sending thread, getrusage)", sf.cpu_per_gb, rw.cpu_per_gb),
        ),
        claim(
            "zero-copy.copies",
            "1",
            "read/write makes 4 copies (2 by the CPU), sendfile 2 (0 by the CPU)",
            "4 vs 2",
            "2 vs 0 CPU copies per byte".into(),
            "CPU copies per byte (counted per call)",
            "holds",
            "counted by the paths themselves: read/write copies each byte kernel->user and user->kernel; sendfile moves page-cache pages; DMA copies are not observable here".into(),
        ),
        claim(
            "zero-copy.mmap",
            "1.4",
            "mmap + write saves one copy",
            "3 copies",
            format!("1 CPU copy per byte; {:.3} vs {:.3} CPU-s/GB", mm.cpu_per_gb, rw.cpu_per_gb),
            "CPU copies per byte",
            "holds",
            "the mapping is the page cache; write copies it once into the socket".into(),
        ),
        claim(
            "zero-copy.context-switches",
            "1",
            "read/write costs 4 context switches, sendfile 2",
            "4 vs 2",
            "not per request".into(),
            "context switches",
            "not-measurable-here",
            "the seed counts user/kernel mode switches per call, which are syscalls (see syscalls/GB); getrusage context switches count scheduler switches, which depend on the reader thread".into(),
        ),
        claim(
            "zero-copy.splice-proxy",
            "1.2",
            "splice proxying avoids user-space copies",
            "0 user copies",
            format!("{splice_cpu_vs_copy:.2}x CPU of the copy proxy"),
            "proxy CPU-seconds per GB ratio",
            if splice_cpu_vs_copy < 1.0 { "holds" } else { "does-not-hold-here" },
            format!("splice {:.3} vs copy {:.3} CPU-s/GB", proxies[1].cpu_per_gb, proxies[0].cpu_per_gb),
        ),
    ];
    if some_rows {
        eprintln!("PATHS set: some rows did not run, no claims written");
    } else {
        if let Some(parent) = claims_path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&claims_path, claims.join("\n") + "\n").unwrap();
        eprintln!("claims written to {}", claims_path.display());
    }
    // The echo ratios come from the io_uring backend, measured by scripts/bench-io-paths.
    println!(
        "{{\"bench\":\"io-paths\",\"sendfile_cpu_vs_rw\":{sendfile_cpu_vs_rw:.3},\"uring_vs_epoll_msgs\":null,\"uring_vs_epoll_syscalls\":null,\"splice_proxy_cpu_vs_copy\":{splice_cpu_vs_copy:.3},\"rw_warm\":{{\"gbps\":{:.3},\"cpu_per_gb\":{:.4},\"syscalls_per_gb\":{:.1}}}}}",
        rw.gbps, rw.cpu_per_gb, rw.syscalls_per_gb
    );
}
