//! Real peers under load: ApacheBench (`ab -k`) and `wrk` against our HTTP/1.1 server on the
//! kernel backend, loopback only, bounded in count and time. Skips, saying why, when the
//! tools are missing (CI installs apache2-utils and wrk).

use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use testbed_model::{Duration, Listener, Net, Runtime};
use testbed_protocols::http1::{serve, OwnedResponse as Response, Router, ServerConfig};

fn have(tool: &str, arg: &str) -> bool {
    let ok = Command::new(tool).arg(arg).output().is_ok();
    testbed_testkit::check(
        ok,
        format_args!("{tool} is not installed (apt-get install wrk apache2-utils)"),
    )
}

#[test]
fn ab_keep_alive_and_wrk_load_without_errors() {
    if !have("ab", "-V") || !have("wrk", "--version") {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let server = std::thread::spawn(move || {
        testbed_kernel::block_on(0, |w| async move {
            let l = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(l.local_addr()).unwrap();
            let app = Router::new().route("GET", "/hello", |_r| async {
                Response::text(200, "hello\n")
            });
            let srv = w.spawn(serve(w.clone(), l, Rc::new(app), ServerConfig::default()));
            while !stop2.load(Ordering::SeqCst) {
                w.sleep(Duration::from_millis(5)).await;
            }
            srv.abort();
        })
    });
    let addr = rx.recv().unwrap();
    let url = format!("http://{addr}/hello");

    let ab = Command::new("ab")
        .args(["-k", "-n", "5000", "-c", "16", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ab.stdout).into_owned();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_string)
    };
    let wrk = Command::new("wrk")
        .args(["-t2", "-c32", "-d2s", &url])
        .output()
        .unwrap();
    let wrk_text = String::from_utf8_lossy(&wrk.stdout).into_owned();
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();

    assert!(
        ab.status.success(),
        "ab failed: {}",
        String::from_utf8_lossy(&ab.stderr)
    );
    assert_eq!(
        field("Complete requests:").as_deref(),
        Some("5000"),
        "{text}"
    );
    assert_eq!(field("Failed requests:").as_deref(), Some("0"), "{text}");
    assert_eq!(
        field("Keep-Alive requests:").as_deref(),
        Some("5000"),
        "every request reused a connection: {text}"
    );
    assert!(wrk.status.success(), "{wrk_text}");
    assert!(
        !wrk_text.contains("Socket errors") && !wrk_text.contains("Non-2xx"),
        "{wrk_text}"
    );
    let requests: u64 = wrk_text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        requests > 1000,
        "wrk completed {requests} requests: {wrk_text}"
    );
}
