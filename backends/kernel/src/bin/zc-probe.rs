//! Sends a file over loopback TCP by one path and prints what it cost as one JSON line:
//! `zc-probe --path sendfile|mmap|copy|none --size BYTES [--file PATH]` (`none`: everything but
//! the transfer, the baseline for strace comparisons). The receiver is a plain
//! thread draining the socket (its reads are recvfrom calls, apart from the sender's). Used
//! by tests/strace.rs to hold our syscall counts against `strace -c`, and by the io-paths
//! bench.
#![allow(clippy::disallowed_methods)] // a measuring tool reads the wall clock

use std::io::{Read, Write};
use std::net::TcpListener;
use testbed_benchkit::{arg, help};
use testbed_kernel::zerocopy::{self, thread_usage};
use testbed_model::Net;

fn main() {
    help("usage: zc-probe --path sendfile|mmap|copy|none --size BYTES [--file PATH]");
    let path = arg("--path").unwrap_or_else(|| "sendfile".into());
    let size: u64 = arg("--size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(64 << 20);
    let file_path = arg("--file")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let p = std::env::temp_dir().join(format!("zc-probe-{}-{size}", std::process::id()));
            let mut f = std::fs::File::create(&p).expect("temp file");
            let chunk = vec![0x5Au8; 1 << 20];
            let mut left = size;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                f.write_all(&chunk[..n]).expect("write temp file");
                left -= n as u64;
            }
            p
        });
    let file = std::fs::File::open(&file_path).expect("open file");
    let len = file.metadata().expect("stat").len().min(size);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n as u64,
            }
        }
    });
    let t0 = std::time::Instant::now();
    let (report, usage) = testbed_kernel::block_on(0, |w| async move {
        let mut s = w.connect(addr).await.expect("connect");
        let u0 = thread_usage().expect("getrusage");
        let r = match path.as_str() {
            "sendfile" => zerocopy::send_file(&mut s, b"", &file, 0..len).await,
            "mmap" => zerocopy::send_file_mmap(&mut s, b"", &file, 0..len).await,
            "none" => zerocopy::send_file_copying(&mut s, b"", &file, 0..0).await, // baseline
            _ => zerocopy::send_file_copying(&mut s, b"", &file, 0..len).await,
        }
        .expect("transfer");
        let u = thread_usage().expect("getrusage").since(&u0);
        (r, u)
    });
    let wall = t0.elapsed().as_secs_f64();
    let received = reader.join().expect("reader");
    if arg("--file").is_none() {
        let _ = std::fs::remove_file(&file_path);
    }
    println!(
        "{{\"path\":\"{:?}\",\"bytes\":{},\"received\":{},\"wall_s\":{:.6},\"cpu_s\":{:.6},\"vcsw\":{},\"ivcsw\":{},\"syscalls\":{},\"sendfile\":{},\"pread\":{},\"write\":{},\"setsockopt\":{},\"cpu_copy_bytes\":{},\"dma_copy_bytes\":{}}}",
        report.path,
        report.bytes,
        received,
        wall,
        usage.cpu_s(),
        usage.voluntary,
        usage.involuntary,
        report.costs.syscalls,
        report.calls.sendfile,
        report.calls.pread,
        report.calls.write,
        report.calls.setsockopt,
        report.costs.cpu_copy_bytes,
        report.costs.dma_copy_bytes
    );
}
