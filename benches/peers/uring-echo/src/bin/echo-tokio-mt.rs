//! Echo server on tokio's multi-thread runtime (`--threads` workers, default 2). One
//! listener with the same backlog (4096) as the other servers: `TcpListener::bind` listens
//! with 128, and the load client's 1000 back-to-back connects overflowed it (SYNs dropped and
//! retried after 1 s).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uring_echo::{addr, arg, reuseport_listener};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(arg("--threads", 2usize))
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let l = tokio::net::TcpListener::from_std(reuseport_listener(addr())).expect("listener");
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
