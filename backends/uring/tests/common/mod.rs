//! Helpers the backend's test files share.

use std::net::SocketAddr;
use testbed_model::{Listener, Net, Runtime};
use testbed_uring::Worker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// io_uring works here; otherwise says why (and fails under TESTBED_REQUIRE_ALL=1).
pub fn available() -> bool {
    testbed_testkit::require(testbed_uring::probe()).is_some()
}

/// Starts an echo server on a loopback port of worker `w`; returns its address.
#[allow(dead_code)] // not every test file runs an echo server
pub fn start_echo(w: &Worker) -> SocketAddr {
    let l = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = l.local_addr();
    drop(w.spawn(echo_server(w.clone(), l)));
    addr
}

/// Echoes every connection `l` accepts, each on its own task.
async fn echo_server(w: Worker, l: testbed_uring::UringListener) {
    while let Ok((mut s, _)) = l.accept().await {
        drop(w.spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n @ 1..) = s.read(&mut buf).await {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }));
    }
}
