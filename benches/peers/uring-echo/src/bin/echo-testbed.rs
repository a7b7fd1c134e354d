//! Echo server on testbed's own backends, `--backend uring|kernel`, `--threads` workers
//! (default 2), each listening on the port with SO_REUSEPORT: the server loop of the `echo`
//! scenario (read up to 16 KiB, write it all back), generic over `model::Net`.
//! `--coalesce-us N` sets the uring rings' interrupt-coalescing wait (default: the backend's).
//! `--buf-size N` sets the bytes per provided buffer of the multishot recvs (default: the
//! backend's).

use testbed_model::{AcceptError, Listener, Net, Runtime, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uring_echo::{addr, arg};

async fn echo_connection<S: Stream>(mut s: S) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn serve<W: Net + Runtime>(w: W) {
    let l = w.listen(addr()).expect("listen");
    loop {
        match l.accept().await {
            Ok((s, _)) => drop(w.spawn(echo_connection(s))),
            Err(AcceptError::Closed) => return,
            Err(_) => continue,
        }
    }
}

fn main() {
    let threads: usize = arg("--threads", 2);
    match arg("--backend", String::from("uring")).as_str() {
        "uring" => {
            let mut b = testbed_uring::Uring::builder().workers(threads);
            // --coalesce-us N: the ring's interrupt-coalescing wait (0 turns it off).
            let us: i64 = arg("--coalesce-us", -1);
            if us >= 0 {
                b = b.coalesce_wait(std::time::Duration::from_micros(us as u64));
            }
            // --buf-size N: bytes per provided buffer of the multishot recvs.
            let buf: usize = arg("--buf-size", 0);
            if buf > 0 {
                b = b.provided_buffer_size(buf);
            }
            let u = b.build().expect("io_uring");
            for r in u.run(serve) {
                r.expect("uring worker");
            }
        }
        "kernel" => {
            let k = testbed_kernel::Kernel::builder().workers(threads).build();
            for r in k.run(serve) {
                r.expect("kernel worker");
            }
        }
        other => panic!("--backend uring|kernel, not {other:?}"),
    }
}
