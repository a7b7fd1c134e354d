//! Zero-copy paths on loopback: sendfile sends the exact bytes without CPU copies of the body,
//! the read/write path copies every byte twice, a file sendfile refuses falls back and says
//! so, and our syscall counts agree with `strace -c -f` (skipped, saying why, without strace;
//! CI installs it).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use testbed_kernel::zerocopy::{self, Path};
use testbed_model::Net;

fn temp_file(len: usize) -> (std::path::PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let p = std::env::temp_dir().join(format!("tb-zc-{}-{len}", std::process::id()));
    std::fs::File::create(&p).unwrap().write_all(&data).unwrap();
    (p, data)
}

/// Sends with `send` over loopback; returns the report and what the receiver got.
fn transfer(
    file: &std::fs::File,
    head: &'static [u8],
    len: u64,
    copy: bool,
) -> (zerocopy::PathReport, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        v
    });
    let file = file.try_clone().unwrap();
    let report = testbed_kernel::block_on(0, |w| async move {
        let mut s = w.connect(addr).await.unwrap();
        if copy {
            zerocopy::send_file_copying(&mut s, head, &file, 0..len)
                .await
                .unwrap()
        } else {
            zerocopy::send_file(&mut s, head, &file, 0..len)
                .await
                .unwrap()
        }
    });
    (report, reader.join().unwrap())
}

#[test]
fn sendfile_sends_head_and_body_with_no_cpu_copy_of_the_body() {
    let (p, data) = temp_file(5_000_000);
    let f = std::fs::File::open(&p).unwrap();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n";
    let (r, got) = transfer(&f, head, data.len() as u64, false);
    assert_eq!(r.path, Path::Sendfile);
    assert_eq!(&got[..head.len()], head);
    assert!(got[head.len()..] == data[..], "body intact");
    assert_eq!(r.bytes, (head.len() + data.len()) as u64);
    assert_eq!(
        r.costs.cpu_copy_bytes,
        head.len() as u64,
        "only the head passed through user space"
    );
    assert_eq!(r.costs.dma_copy_bytes, data.len() as u64);
    assert!(
        r.calls.sendfile >= 5,
        "1 MiB per call at most: {:?}",
        r.calls
    );
    assert_eq!(r.calls.setsockopt, 2, "TCP_CORK on and off");
    assert_eq!(
        r.costs.syscalls,
        r.calls.sendfile + r.calls.write + r.calls.setsockopt
    );
    std::fs::remove_file(p).ok();
}

#[test]
fn the_read_write_path_copies_every_byte_twice() {
    let (p, data) = temp_file(3_000_000);
    let f = std::fs::File::open(&p).unwrap();
    let (r, got) = transfer(&f, b"", data.len() as u64, true);
    assert_eq!(r.path, Path::ReadWrite);
    assert!(got == data);
    assert_eq!(r.costs.cpu_copy_bytes, 2 * data.len() as u64);
    assert!(r.calls.pread >= 3 && r.calls.write >= r.calls.pread);
    std::fs::remove_file(p).ok();
}

#[test]
fn a_file_sendfile_refuses_falls_back_to_read_write_and_says_so() {
    // procfs seq files reject sendfile with EINVAL but read fine.
    let f = std::fs::File::open("/proc/self/status").unwrap();
    let (r, got) = transfer(&f, b"head:", 64, false);
    assert_eq!(r.path, Path::ReadWrite);
    assert_eq!(
        r.calls.sendfile, 1,
        "one refused sendfile, then the fallback"
    );
    assert!(
        got.starts_with(b"head:Name:"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(got.len(), 5 + 64);
}

/// strace -c's call counts by syscall name.
fn strace_counts(out: &str) -> std::collections::BTreeMap<String, u64> {
    out.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // % time, seconds, usecs/call, calls, [errors], syscall
            let name = *cols.last()?;
            let calls = cols.get(3)?.parse().ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

#[test]
fn syscall_counts_agree_with_strace() {
    if !testbed_testkit::tool("strace", "apt-get install strace") {
        return;
    }
    let (p, _) = temp_file(20_000_000);
    let run = |path: &str| {
        let trace = std::env::temp_dir().join(format!("tb-strace-{}-{path}", std::process::id()));
        let out = Command::new("strace")
            .args([
                "-f",
                "-c",
                "-e",
                "trace=sendfile,pread64,write,setsockopt",
                "-o",
            ])
            .arg(&trace)
            .arg(env!("CARGO_BIN_EXE_zc-probe"))
            .args(["--path", path, "--size", "20000000", "--file"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = serde_like::parse(&String::from_utf8_lossy(&out.stdout));
        let theirs = strace_counts(&std::fs::read_to_string(&trace).unwrap());
        std::fs::remove_file(trace).ok();
        (ours, theirs)
    };
    // The process makes some of these calls anyway (the loader's pread64, the JSON line's
    // write, TCP_NODELAY): a run without the transfer is the baseline.
    let (_, base) = run("none");
    for path in ["sendfile", "copy"] {
        let (ours, theirs) = run(path);
        let delta =
            |k: &str| theirs.get(k).copied().unwrap_or(0) - base.get(k).copied().unwrap_or(0);
        assert!(
            ours.sendfile + ours.pread + ours.write > 10,
            "{path}: a real transfer"
        );
        assert_eq!(
            ours.sendfile,
            delta("sendfile"),
            "{path}: sendfile, strace {theirs:?} base {base:?}"
        );
        assert_eq!(
            ours.pread,
            delta("pread64"),
            "{path}: pread64, strace {theirs:?} base {base:?}"
        );
        assert_eq!(
            ours.write,
            delta("write"),
            "{path}: write, strace {theirs:?} base {base:?}"
        );
        assert_eq!(
            ours.setsockopt,
            delta("setsockopt"),
            "{path}: setsockopt, strace {theirs:?} base {base:?}"
        );
    }
    std::fs::remove_file(p).ok();
}

/// The probe's JSON line, read without a JSON dependency (flat object of numbers).
mod serde_like {
    pub struct Report {
        pub sendfile: u64,
        pub pread: u64,
        pub write: u64,
        pub setsockopt: u64,
    }
    fn field(s: &str, k: &str) -> u64 {
        let at = s
            .find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("{k} in {s}"));
        s[at + k.len() + 3..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap()
    }
    pub fn parse(s: &str) -> Report {
        Report {
            sendfile: field(s, "sendfile"),
            pread: field(s, "pread"),
            write: field(s, "write"),
            setsockopt: field(s, "setsockopt"),
        }
    }
}

/// client ⇄ proxy ⇄ echo server on one worker; the proxy mirrors client→server bytes to a
/// monitor when `mirror`. Returns (proxy report, bytes echoed back, bytes the monitor got).
fn proxied_echo(
    len: usize,
    splice: bool,
    mirror: bool,
) -> (zerocopy::ProxyReport, Vec<u8>, Vec<u8>, Vec<u8>) {
    use testbed_model::{Listener, Runtime};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    let sent = data.clone();
    let (report, echoed, seen) = testbed_kernel::block_on(0, |w| async move {
        let lo = "127.0.0.1:0".parse().unwrap();
        let echo_l = w.listen(lo).unwrap();
        let proxy_l = w.listen(lo).unwrap();
        let mon_l = w.listen(lo).unwrap();
        let (echo_a, proxy_a, mon_a) = (
            echo_l.local_addr(),
            proxy_l.local_addr(),
            mon_l.local_addr(),
        );
        drop(w.spawn(async move {
            let (mut s, _) = echo_l.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
            s.shutdown().await.unwrap();
        }));
        let monitor = w.spawn(async move {
            let (mut s, _) = mon_l.accept().await.unwrap();
            let mut v = Vec::new();
            s.read_to_end(&mut v).await.unwrap();
            v
        });
        let w2 = w.clone();
        let proxy = w.spawn(async move {
            let (client, _) = proxy_l.accept().await.unwrap();
            let server = w2.connect(echo_a).await.unwrap();
            let mon = if mirror {
                Some(w2.connect(mon_a).await.unwrap())
            } else {
                None
            };
            let r = if splice {
                zerocopy::splice_proxy(&client, &server, mon.as_ref())
                    .await
                    .unwrap()
            } else {
                zerocopy::copy_proxy(&client, &server).await.unwrap()
            };
            drop(mon);
            r
        });
        let c = w.connect(proxy_a).await.unwrap();
        let (mut r, mut wr) = tokio::io::split(c);
        let writer = w.spawn(async move {
            wr.write_all(&data).await.unwrap();
            wr.shutdown().await.unwrap();
        });
        let mut echoed = Vec::new();
        r.read_to_end(&mut echoed).await.unwrap();
        writer.await.unwrap();
        let report = proxy.await.unwrap();
        let seen = if mirror {
            monitor.await.unwrap()
        } else {
            Vec::new()
        };
        (report, echoed, seen)
    });
    (report, sent, echoed, seen)
}

#[test]
fn the_splice_proxy_moves_both_directions_without_cpu_copies_and_tee_mirrors() {
    let (r, sent, echoed, seen) = proxied_echo(3_000_000, true, true);
    assert!(echoed == sent, "echo through the proxy intact");
    assert!(seen == sent, "the monitor saw the client's bytes");
    assert_eq!(
        (r.up, r.down, r.mirrored),
        (3_000_000, 3_000_000, 3_000_000)
    );
    assert_eq!(r.cpu_copy_bytes, 0);
    assert!(r.syscalls > 0);
}

#[test]
fn the_copy_proxy_copies_each_byte_in_and_out_of_user_space() {
    let (r, sent, echoed, _) = proxied_echo(1_000_000, false, false);
    assert!(echoed == sent);
    assert_eq!((r.up, r.down), (1_000_000, 1_000_000));
    assert_eq!(
        r.cpu_copy_bytes,
        4 * 1_000_000,
        "read + write, both directions"
    );
}

#[test]
fn mmap_write_copies_each_byte_once() {
    let (p, data) = temp_file(2_500_000);
    let f = std::fs::File::open(&p).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        v
    });
    let r = testbed_kernel::block_on(0, |w| async move {
        let mut s = w.connect(addr).await.unwrap();
        // An unaligned range exercises the page-aligned mapping.
        zerocopy::send_file_mmap(&mut s, b"", &f, 1000..2_500_000)
            .await
            .unwrap()
    });
    let got = reader.join().unwrap();
    assert_eq!(r.path, Path::MmapWrite);
    assert!(got[..] == data[1000..]);
    assert_eq!(r.costs.cpu_copy_bytes, (data.len() - 1000) as u64);
    std::fs::remove_file(p).ok();
}

#[test]
fn msg_zerocopy_sends_and_counts_every_completion() {
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 241) as u8).collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        v
    });
    let d2 = data.clone();
    let r = testbed_kernel::block_on(0, |w| async move {
        let s = w.connect(addr).await.unwrap();
        zerocopy::send_zerocopy(&s, &d2).await.unwrap()
    });
    let got = reader.join().unwrap();
    assert!(got == data);
    assert_eq!(r.bytes, data.len() as u64);
    assert_eq!(
        r.zerocopied + r.copied,
        r.sends,
        "every send completed: {r:?}"
    );
    assert!(r.notifications >= 1 && r.notifications <= r.sends);
    // Loopback: the receiver needs its own copy, so the kernel reports copies (seen here;
    // a NIC with scatter-gather would report zero-copied completions).
    eprintln!("MSG_ZEROCOPY on loopback: {r:?}");
}
