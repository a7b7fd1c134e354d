//! Real peer: curl against our HTTP/1.1 server on the kernel backend (loopback only).
//! Skips, saying why, when curl is not installed (CI installs it).

use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use testbed_model::{Duration, Listener, Net, Runtime};
use testbed_protocols::http1::{
    serve, OwnedRequest as Request, OwnedResponse as Response, Router, ServerConfig,
};

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl").args(args).output().expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_talks_to_our_server() {
    if !testbed_testkit::tool("curl", "apt-get install curl") {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let server = std::thread::spawn(move || {
        testbed_kernel::block_on(0, |w| async move {
            let l = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(l.local_addr()).unwrap();
            let app = Router::new()
                .route("GET", "/hello", |_r| async {
                    Response::text(200, "hello\n")
                })
                .route("POST", "/echo", |r: Request| async move {
                    Response::text(200, r.body)
                });
            let srv = w.spawn(serve(w.clone(), l, Rc::new(app), ServerConfig::default()));
            while !stop2.load(Ordering::SeqCst) {
                w.sleep(Duration::from_millis(5)).await;
            }
            srv.abort();
        })
    });
    let addr = rx.recv().unwrap();
    let url = |p: &str| format!("http://{addr}{p}");

    let (out, err) = curl(&["-sv", "--http1.1", &url("/hello"), &url("/hello")]);
    assert_eq!(out, "hello\nhello\n");
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing connection"),
        "keep-alive reuse: {err}"
    );

    let body: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let (out, err) = curl(&[
        "-sv",
        "--http1.1",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &body,
        &url("/echo"),
    ]);
    assert_eq!(out, body, "chunked upload echoed");
    assert!(err.contains("100 Continue"), "curl saw 100 Continue: {err}");

    let (out, _) = curl(&["-sI", "--http1.1", &url("/hello")]);
    assert!(
        out.starts_with("HTTP/1.1 200 OK\r\n") && out.contains("Content-Length: 6\r\n"),
        "{out}"
    );

    let (out, _) = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url("/missing"),
    ]);
    assert_eq!(out, "404");

    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
}
