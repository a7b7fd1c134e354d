//! Echo server on monoio (io_uring driver): `--threads` (default 2) runtimes, each with its
//! own SO_REUSEPORT listener, `--entries` ring entries (default: monoio's).

use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use uring_echo::{addr, arg, reuseport_listener};

fn main() {
    let threads: usize = arg("--threads", 2);
    let entries: u32 = arg("--entries", 0);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let std_l = reuseport_listener(addr());
            std::thread::spawn(move || {
                let mut b = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new();
                if entries > 0 {
                    b = b.with_entries(entries);
                }
                let mut rt = b.build().expect("monoio io_uring runtime");
                rt.block_on(async move {
                    let l = monoio::net::TcpListener::from_std(std_l).expect("listener");
                    loop {
                        let Ok((mut s, _)) = l.accept().await else {
                            continue;
                        };
                        let _ = s.set_nodelay(true);
                        monoio::spawn(async move {
                            let mut buf = vec![0u8; 16 * 1024];
                            loop {
                                let (r, b) = s.read(buf).await;
                                let n = match r {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => n,
                                };
                                let (w, b) = s.write_all(b.slice(..n)).await;
                                if w.is_err() {
                                    return;
                                }
                                buf = b.into_inner();
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
