//! Echo server on tokio's multi-thread runtime (`--threads` workers, default 2).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uring_echo::{addr, arg};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(arg("--threads", 2usize))
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind(addr()).await.expect("bind");
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
