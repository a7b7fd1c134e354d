//! Real peers for TLS and HTTP/2 on the kernel backend (loopback only): curl (h2c prior
//! knowledge, h2 and HTTP/1.1 over TLS by ALPN), h2load, nghttp, openssl s_client and
//! gnutls-cli against our server, and our TLS client against openssl s_server. Each tool that
//! is missing is skipped with the reason (CI installs curl, nghttp2-client, gnutls-bin and
//! openssl).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use testbed_model::{Duration, Listener, Net, Runtime, SeededRng};
use testbed_protocols::h2::{self, H2Config, Shutdown};
use testbed_protocols::http1::{
    self, OwnedRequest as Request, OwnedResponse as Response, Router, ServerConfig,
};
use testbed_protocols::https::HttpsApp;
use testbed_protocols::tls::{self, Clock, Entropy, ALPN_H2, ALPN_HTTP11};

fn have(tool: &str, arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    testbed_testkit::check(
        ok,
        format_args!("{tool} is not installed (scripts/test installs it)"),
    )
}

fn run(tool: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

struct Fixture {
    h2c: SocketAddr,
    https: SocketAddr,
    dir: PathBuf,
    pki: tls::TestPki,
}

/// One server process-wide: h2c on one port, TLS (h2 + HTTP/1.1 by ALPN) on another.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pki = tls::test_pki(&["localhost", "127.0.0.1"], &mut SeededRng::new(42)).unwrap();
        let dir = std::env::temp_dir().join(format!("testbed-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(dir.join("cert.pem"), &pki.leaf_pem).unwrap();
        std::fs::write(dir.join("key.pem"), &pki.key_pem).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let pki2 = pki.clone();
        std::thread::spawn(move || {
            testbed_kernel::block_on(0, |w| async move {
                let app = Rc::new(
                    Router::new()
                        .route("GET", "/hello", |_r| async {
                            Response::text(200, "hello\n")
                        })
                        .route("POST", "/echo", |r: Request| async move {
                            Response::text(200, r.body)
                        }),
                );
                let plain = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
                let secure = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
                tx.send((plain.local_addr(), secure.local_addr())).unwrap();
                let cfg = tls::server_config(
                    vec![pki2.leaf_der.clone()],
                    pki2.key(),
                    &[ALPN_H2, ALPN_HTTP11],
                    Entropy::System,
                    &Clock::System,
                )
                .unwrap();
                drop(w.spawn(h2::serve(
                    w.clone(),
                    plain,
                    app.clone(),
                    H2Config::default(),
                    Shutdown::new(),
                )));
                while let Ok((s, _)) = secure.accept().await {
                    let (w2, cfg, app) = (w.clone(), cfg.clone(), app.clone());
                    drop(w.spawn(async move {
                        let Ok(t) = tls::accept(cfg, s).await else {
                            return;
                        };
                        let app = HttpsApp {
                            http1: &*app,
                            http1_config: ServerConfig::default(),
                            files: &http1::NoFiles,
                            h2: app.clone(),
                            h2_config: H2Config::default(),
                            shutdown: Shutdown::new(),
                        };
                        app.serve(&w2, t).await;
                    }));
                }
            })
        });
        let (h2c, https) = rx.recv().unwrap();
        Fixture {
            h2c,
            https,
            dir,
            pki,
        }
    })
}

#[test]
fn curl_speaks_h2c_h2_and_http11_by_alpn() {
    if !have("curl", "--version") {
        return;
    }
    let f = fixture();
    let ca = f.dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let fmt = "%{http_version} %{http_code}";
    let (ok, out) = run(
        "curl",
        &[
            "-s",
            "--http2-prior-knowledge",
            "-w",
            fmt,
            &format!("http://{}/hello", f.h2c),
        ],
    );
    assert!(ok && out == "hello\n2 200", "{out}");
    let https = format!("https://localhost:{}", f.https.port());
    let (ok, out) = run(
        "curl",
        &[
            "-s",
            "--cacert",
            ca,
            "--http2",
            "-w",
            fmt,
            &format!("{https}/hello"),
        ],
    );
    assert!(ok && out == "hello\n2 200", "{out}");
    let (ok, out) = run(
        "curl",
        &[
            "-s",
            "--cacert",
            ca,
            "--http1.1",
            "-w",
            fmt,
            &format!("{https}/hello"),
        ],
    );
    assert!(ok && out == "hello\n1.1 200", "{out}");
    let body = "x".repeat(200_000);
    let file = f.dir.join("body.txt");
    std::fs::write(&file, &body).unwrap();
    let data = format!("@{}", file.display());
    let (ok, out) = run(
        "curl",
        &[
            "-s",
            "--cacert",
            ca,
            "--http2",
            "--data-binary",
            &data,
            &format!("{https}/echo"),
        ],
    );
    assert!(
        ok && out == body,
        "a 200 kB POST echoed over h2 ({} bytes back)",
        out.len()
    );
    // Verification really happens: without the CA curl refuses.
    let (ok, _) = run("curl", &["-s", "--http2", &format!("{https}/hello")]);
    assert!(!ok, "curl must reject a certificate it cannot verify");
}

#[test]
fn h2load_and_nghttp_succeed() {
    if !have("h2load", "--version") || !have("nghttp", "--version") {
        return;
    }
    let f = fixture();
    for url in [
        format!("http://{}/hello", f.h2c),
        format!("https://127.0.0.1:{}/hello", f.https.port()),
    ] {
        let (ok, out) = run("h2load", &["-n", "2000", "-c", "8", "-m", "16", &url]);
        assert!(
            ok && out.contains("2000 succeeded, 0 failed, 0 errored"),
            "h2load {url}: {out}"
        );
    }
    let (ok, out) = run("nghttp", &["-nv", &format!("http://{}/hello", f.h2c)]);
    assert!(ok, "{out}");
    assert!(
        out.contains("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100"),
        "{out}"
    );
    assert!(out.contains(":status: 200"), "{out}");
}

#[test]
fn openssl_and_gnutls_clients_complete_handshakes_with_alpn() {
    let f = fixture();
    let ca = f.dir.join("ca.pem");
    if have("openssl", "version") {
        let (_, out) = run(
            "openssl",
            &[
                "s_client",
                "-connect",
                &f.https.to_string(),
                "-servername",
                "localhost",
                "-alpn",
                "h2",
                "-CAfile",
                ca.to_str().unwrap(),
            ],
        );
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
        assert!(out.contains("ALPN protocol: h2"), "{out}");
        assert!(out.contains("TLSv1.3"), "{out}");
    }
    if have("gnutls-cli", "--version") {
        let (_, out) = run(
            "gnutls-cli",
            &[
                "--alpn=http/1.1",
                "--x509cafile",
                ca.to_str().unwrap(),
                "-p",
                &f.https.port().to_string(),
                "localhost",
            ],
        );
        assert!(out.contains("Handshake was completed"), "{out}");
        assert!(out.contains("Application protocol: http/1.1"), "{out}");
    }
}

#[test]
fn our_client_talks_to_openssl_s_server() {
    if !have("openssl", "version") {
        return;
    }
    let f = fixture();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &port.to_string(),
            "-www",
            "-alpn",
            "h2,http/1.1",
            "-cert",
        ])
        .arg(f.dir.join("cert.pem"))
        .arg("-key")
        .arg(f.dir.join("key.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let ca = f.pki.ca_der.clone();
    let got = testbed_kernel::block_on(1, |w| async move {
        let cfg =
            tls::client_config(&[ca], &[ALPN_HTTP11], Entropy::System, &Clock::System).unwrap();
        for _ in 0..100 {
            if let Ok(s) = w.connect(SocketAddr::from(([127, 0, 0, 1], port))).await {
                let mut t = tls::connect(cfg.clone(), "localhost", s)
                    .await
                    .expect("handshake with s_server");
                assert_eq!(t.alpn(), Some(ALPN_HTTP11));
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                t.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
                let mut out = Vec::new();
                let _ = t.read_to_end(&mut out).await;
                return String::from_utf8_lossy(&out).into_owned();
            }
            w.sleep(Duration::from_millis(50)).await;
        }
        String::new()
    });
    done.store(true, Ordering::SeqCst);
    let _ = server.kill();
    let _ = server.wait();
    assert!(got.starts_with("HTTP/1.0 200 ok"), "{got}");
    assert!(
        got.contains("TLSv1.3"),
        "s_server's status page names the protocol: {got}"
    );
}
