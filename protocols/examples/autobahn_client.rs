//! Our WebSocket client under Autobahn|Testsuite's `fuzzingserver`: fetches the case count,
//! runs every case as an echo client, then asks the server to write its reports.
//! Usage: autobahn_client [HOST:PORT] (default 127.0.0.1:9001). Driven by scripts/autobahn.

use testbed_protocols::ws::{connect, Event, WsLimits};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into())
        .parse()
        .expect("HOST:PORT");
    testbed_kernel::block_on(0, |w| async move {
        let limits = WsLimits {
            max_frame: 64 << 20,
            max_message: 64 << 20,
        };
        let mut ws = connect(&w, addr, "/getCaseCount", false, limits)
            .await
            .expect("connect for the case count");
        let count: u32 = match ws.recv(&w).await.expect("case count") {
            Event::Text(t) => t.trim().parse().expect("a number"),
            other => panic!("unexpected {other:?}"),
        };
        drop(ws);
        for case in 1..=count {
            let path = format!("/runCase?case={case}&agent=testbed-client");
            let Ok(mut ws) = connect(&w, addr, &path, true, limits).await else {
                continue;
            };
            loop {
                let sent = match ws.recv(&w).await {
                    Ok(Event::Text(t)) => ws.send_text(&t).await,
                    Ok(Event::Binary(b)) => ws.send_binary(&b).await,
                    Ok(Event::Close(_)) | Err(_) => break,
                    Ok(_) => Ok(()),
                };
                if sent.is_err() {
                    break;
                }
            }
        }
        let mut ws = connect(
            &w,
            addr,
            "/updateReports?agent=testbed-client",
            false,
            limits,
        )
        .await
        .expect("update reports");
        let _ = ws.recv(&w).await;
        println!("ran {count} cases");
    });
}
