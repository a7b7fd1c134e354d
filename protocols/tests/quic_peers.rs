//! Real peers for QUIC and HTTP/3 on the kernel backend (loopback): aioquic's HTTP/3 client
//! and ngtcp2's client (Debian ngtcp2-client, `gtlsclient`) against our server; our client
//! against ngtcp2's server (`gtlsserver`) and aioquic's server. A missing peer is skipped with
//! the reason; scripts/test installs them (aioquic's examples come from its sdist, unpacked
//! into target/aioquic).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use testbed_model::{Duration, Runtime, SeededRng};
use testbed_protocols::http1::{OwnedRequest as Request, OwnedResponse as Response, Router};
use testbed_protocols::quic::{self, ALPN_H3};
use testbed_protocols::tls::{self, Clock, Entropy};

struct Fixture {
    addr: SocketAddr,
    dir: PathBuf,
    pki: tls::TestPki,
}

/// Our HTTP/3 server (GET /hello, POST /echo) on the kernel backend, on its own thread, with
/// `pki`'s leaf; returns its address.
fn spawn_h3_server(pki: tls::TestPki) -> SocketAddr {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        testbed_kernel::block_on(0, |w| async move {
            let cfg = quic::server_config(
                vec![pki.leaf_der.clone()],
                pki.key(),
                &[ALPN_H3],
                Entropy::System,
                &Clock::System,
                &mut SeededRng::new(1),
            )
            .unwrap();
            let ep = quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                Some(cfg),
                sock,
                Arc::new(quinn::TokioRuntime),
            )
            .unwrap();
            let app = Router::new()
                .route("GET", "/hello", |_r| async {
                    Response::text(200, "hello\n")
                })
                .route("POST", "/echo", |r: Request| async move {
                    Response::text(200, r.body)
                });
            quic::h3_serve(w.clone(), ep, Rc::new(app)).await;
        })
    });
    addr
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pki = tls::test_pki(&["localhost", "127.0.0.1"], &mut SeededRng::new(7)).unwrap();
        let dir = std::env::temp_dir().join(format!("testbed-quic-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("htdocs")).unwrap();
        std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(dir.join("cert.pem"), &pki.leaf_pem).unwrap();
        std::fs::write(dir.join("key.pem"), &pki.key_pem).unwrap();
        std::fs::write(dir.join("htdocs/hello"), "hello from the peer\n").unwrap();
        let addr = spawn_h3_server(pki.clone());
        Fixture { addr, dir, pki }
    })
}

fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    testbed_testkit::check(
        ok,
        format_args!("{tool} is not installed (scripts/test installs it)"),
    )
}

fn aioquic_examples() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/aioquic/examples");
    let ok = p.join("http3_client.py").exists()
        && Command::new("python3")
            .args(["-c", "import aioquic, wsproto, starlette, jinja2"])
            .status()
            .is_ok_and(|s| s.success());
    testbed_testkit::check(
        ok,
        "aioquic examples not in target/aioquic (scripts/test fetches them)",
    )
    .then_some(p)
}

#[test]
fn aioquic_client_gets_and_posts() {
    let Some(ex) = aioquic_examples() else {
        return;
    };
    let f = fixture();
    let out = f.dir.join("aioquic-out");
    std::fs::create_dir_all(&out).unwrap();
    let url = |p: &str| format!("https://localhost:{}{p}", f.addr.port());
    for (path, data) in [("/hello", None), ("/echo", Some("posted over h3"))] {
        let mut cmd = Command::new("python3");
        cmd.arg(ex.join("http3_client.py"))
            .arg("--ca-certs")
            .arg(f.dir.join("ca.pem"))
            .arg("--output-dir")
            .arg(&out);
        if let Some(d) = data {
            cmd.args(["--data", d]);
        }
        let o = cmd.arg(url(path)).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(
        std::fs::read_to_string(out.join("hello")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("echo")).unwrap(),
        "posted over h3"
    );
}

#[test]
fn ngtcp2_client_downloads() {
    if !have("gtlsclient") {
        return;
    }
    let f = fixture();
    let dl = f.dir.join("ngtcp2-dl");
    std::fs::create_dir_all(&dl).unwrap();
    let o = Command::new("gtlsclient")
        .args(["--quiet", "--exit-on-all-streams-close"])
        .arg(format!("--download={}", dl.display()))
        .args([
            "127.0.0.1",
            &f.addr.port().to_string(),
            &format!("https://localhost:{}/hello", f.addr.port()),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(dl.join("hello")).unwrap(),
        "hello\n"
    );
}

/// Fetches `path` from an HTTP/3 server at 127.0.0.1:`port` with our client.
fn our_get(
    port: u16,
    path: &str,
    ca: &rustls::pki_types::CertificateDer<'static>,
) -> Result<Response, String> {
    let ca = ca.clone();
    let path = path.to_string();
    testbed_kernel::block_on(1, |w| async move {
        let ep =
            quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).map_err(|e| e.to_string())?;
        let cfg = quic::client_config(&[ca], &[ALPN_H3], Entropy::System, &Clock::System)
            .map_err(|e| e.to_string())?;
        let target = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..50 {
            let conn = match ep
                .connect_with(cfg.clone(), target, "localhost")
                .map_err(|e| e.to_string())?
                .await
            {
                Ok(c) => c,
                Err(_) => {
                    w.sleep(Duration::from_millis(100)).await; // the peer is still starting
                    continue;
                }
            };
            let c = quic::H3Client::new(&w, conn, &format!("localhost:{port}"))
                .await
                .map_err(|e| e.to_string())?;
            return c
                .request(&Request::get(&path))
                .await
                .map_err(|e| e.to_string());
        }
        Err("no connection".to_string())
    })
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn our_client_talks_to_ngtcp2_server() {
    if !have("gtlsserver") {
        return;
    }
    let f = fixture();
    let port = free_udp_port();
    let _server = Child(
        Command::new("gtlsserver")
            .args(["--quiet", "-d"])
            .arg(f.dir.join("htdocs"))
            .args(["127.0.0.1", &port.to_string()])
            .arg(f.dir.join("key.pem"))
            .arg(f.dir.join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let r = our_get(port, "/hello", &f.pki.ca_der).unwrap();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"hello from the peer\n"[..])
    );
}

#[test]
fn our_client_talks_to_aioquic_server() {
    let Some(ex) = aioquic_examples() else {
        return;
    };
    let f = fixture();
    let port = free_udp_port();
    let _server = Child(
        Command::new("python3")
            .arg(ex.join("http3_server.py"))
            .arg("--certificate")
            .arg(f.dir.join("cert.pem"))
            .arg("--private-key")
            .arg(f.dir.join("key.pem"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(&ex)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let r = our_get(port, "/", &f.pki.ca_der).unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        String::from_utf8_lossy(&r.body).contains("aioquic"),
        "aioquic's demo page"
    );
}

#[test]
fn curl_cffi_gets_and_posts_over_http3_only() {
    let ok = Command::new("python3")
        .args(["-c", "import curl_cffi"])
        .status()
        .is_ok_and(|s| s.success());
    if !testbed_testkit::check(
        ok,
        "python curl_cffi is not installed (scripts/test installs it)",
    ) {
        return;
    }
    // curl_cffi's BoringSSL does not offer Ed25519: this server gets an ECDSA P-256 PKI.
    let pki = tls::test_pki_with(
        &["localhost", "127.0.0.1"],
        tls::KeyAlg::EcdsaP256,
        &mut SeededRng::new(0),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("testbed-quic-ecdsa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    let port = spawn_h3_server(pki).port();
    let script = format!(
        r#"
from curl_cffi import requests, CurlHttpVersion
kw = dict(http_version=CurlHttpVersion.V3ONLY, verify={ca:?})
r = requests.get("https://127.0.0.1:{port}/hello", **kw)
assert r.status_code == 200 and r.text == "hello\n" and r.http_version == 30, (r.status_code, r.http_version, r.text)
r = requests.post("https://127.0.0.1:{port}/echo", data=b"x" * 100000, **kw)
assert r.status_code == 200 and len(r.content) == 100000, (r.status_code, len(r.content))
print("ok")
"#,
        ca = dir.join("ca.pem").display().to_string(),
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
}
