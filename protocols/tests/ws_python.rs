//! Real peer: the Python `websockets` package against our WebSocket server and client on the
//! kernel backend (loopback). Skips, saying why, when python3 or `websockets` is missing
//! (CI installs it with pip).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use testbed_model::{Duration, Listener, Net, Runtime};
use testbed_protocols::ws::{accept, connect, CloseCode, Event, WsLimits};

fn have_websockets() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import websockets"])
        .output()
        .is_ok_and(|o| o.status.success());
    testbed_testkit::check(
        ok,
        "python3 with the `websockets` package is not installed (pip install websockets)",
    )
}

#[test]
fn python_client_against_our_server() {
    if !have_websockets() {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let server = std::thread::spawn(move || {
        testbed_kernel::block_on(0, |w| async move {
            let l = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(l.local_addr()).unwrap();
            let w2 = w.clone();
            let srv = w.spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let w3 = w2.clone();
                    w2.spawn(async move {
                        let Ok(mut ws) = accept(&w3, s, WsLimits::default()).await else {
                            return;
                        };
                        while let Ok(ev) = ws.recv(&w3).await {
                            match ev {
                                Event::Text(t) => ws.send_text(&t).await.unwrap(),
                                Event::Binary(b) => ws.send_binary(&b).await.unwrap(),
                                Event::Close(_) => return,
                                _ => {}
                            }
                        }
                    });
                }
            });
            while !stop2.load(Ordering::SeqCst) {
                w.sleep(Duration::from_millis(5)).await;
            }
            srv.abort();
        })
    });
    let addr = rx.recv().unwrap();
    let script = format!(
        r#"
import asyncio, websockets
async def main():
    for compression in (None, "deflate"):
        async with websockets.connect("ws://{addr}/", compression=compression) as ws:
            await ws.send("hello κόσμε")
            print(await ws.recv())
            await ws.send(bytes(range(256)) * 100)
            print(len(await ws.recv()))
            await ws.ping()
asyncio.run(main())
"#
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello κόσμε\n25600\nhello κόσμε\n25600\n"
    );
}

#[test]
fn our_client_against_a_python_server() {
    if !have_websockets() {
        return;
    }
    let script = r#"
import asyncio, sys, websockets
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"#;
    let mut py = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(py.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let result = testbed_kernel::block_on(1, |w| async move {
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        for deflate in [false, true] {
            let mut ws = connect(&w, addr, "/", deflate, WsLimits::default())
                .await
                .map_err(|e| e.to_string())?;
            ws.send_text("from rust").await.map_err(|e| e.to_string())?;
            assert_eq!(
                ws.recv(&w).await.map_err(|e| e.to_string())?,
                Event::Text("from rust".into())
            );
            let big = vec![7u8; 200_000];
            ws.send_binary(&big).await.map_err(|e| e.to_string())?;
            assert_eq!(
                ws.recv(&w).await.map_err(|e| e.to_string())?,
                Event::Binary(big)
            );
            ws.close(CloseCode::NORMAL, "done")
                .await
                .map_err(|e| e.to_string())?;
            assert!(matches!(
                ws.recv(&w).await.map_err(|e| e.to_string())?,
                Event::Close(Some((1000, _)))
            ));
        }
        Ok::<_, String>(())
    });
    drop(py.stdin.take());
    let _ = py.wait();
    result.unwrap();
}
