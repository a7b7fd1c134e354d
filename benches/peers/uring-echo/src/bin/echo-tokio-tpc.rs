//! Echo server on tokio, thread per core: `--threads` (default 2) current-thread runtimes,
//! each with its own SO_REUSEPORT listener.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uring_echo::{addr, arg, reuseport_listener};

fn main() {
    let threads: usize = arg("--threads", 2);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let std_l = reuseport_listener(addr());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    let l = tokio::net::TcpListener::from_std(std_l).expect("listener");
                    loop {
                        let Ok((mut s, _)) = l.accept().await else {
                            continue;
                        };
                        let _ = s.set_nodelay(true);
                        tokio::task::spawn_local(async move {
                            let mut buf = vec![0u8; 16 * 1024];
                            while let Ok(n @ 1..) = s.read(&mut buf).await {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        });
                    }
                });
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}
