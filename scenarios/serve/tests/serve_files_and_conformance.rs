//! `testbed serve`: static files stay under the root (traversal forms, symlinks, h2 and h2 over
//! TLS), conformance items on the wire, and the RPC store shared by all workers.

mod common;
use common::*;

#[test]
fn static_files_never_leave_the_root() {
    let base = tempdir::Dir::new("static");
    let www = base.0.join("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::write(www.join("sub/a b.txt"), b"inside\n").unwrap();
    std::fs::write(base.0.join("secret"), b"SECRET\n").unwrap();
    std::os::unix::fs::symlink(base.0.join("secret"), www.join("link")).unwrap();
    let srv = Server::with(Protocol::Http1, quick(), Some(www.clone()), None, 1);
    let get = |path: &str| {
        exchange(
            &srv,
            format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    let r = get("/sub/a%20b.txt");
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("inside\n"),
        "{r}"
    );
    for bad in [
        "/link",
        "/../secret",
        "/%2e%2e/secret",
        "/sub/..%2f..%2fsecret",
        "/sub%2f..%2f..%2fsecret",
    ] {
        let r = get(bad);
        assert_eq!(status(&r), "403", "{bad}: {r}");
        assert!(!r.contains("SECRET"), "{bad}");
    }
    assert_eq!(status(&get("/nope")), "404");
    assert_eq!(status(&get("/%zz")), "400");
    let index = get("/");
    assert!(
        index.contains("/hello") && index.contains("/echo"),
        "{index}"
    );
}

/// A peer tool the test needs: `None` when missing (skipped through testbed-testkit, which
/// fails instead under `TESTBED_REQUIRE_ALL=1`).
#[test]
fn static_files_over_h2c_and_h2_over_tls() {
    if tool("curl").is_none() {
        return;
    }
    let base = tempdir::Dir::new("h2files");
    std::fs::write(base.0.join("f.txt"), b"file over h2\n").unwrap();
    let (files, tls_dir) = test_tls();
    let curl = |args: &[&str]| {
        let o = std::process::Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "5",
                "-w",
                "\n%{http_version} %{http_code}",
            ])
            .args(args)
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let h2c = Server::with(Protocol::H2, quick(), Some(base.0.clone()), None, 1);
    let out = curl(&[
        "--http2-prior-knowledge",
        &format!("http://{}/f.txt", h2c.addr),
    ]);
    assert_eq!(out, "file over h2\n\n2 200");
    let out = curl(&["--http2-prior-knowledge", &format!("http://{}/", h2c.addr)]);
    assert!(out.contains("/hello") && out.ends_with("2 200"), "{out}");
    let tls = Server::with(Protocol::H2, quick(), Some(base.0.clone()), Some(files), 1);
    let ca = tls_dir.0.join("ca.pem");
    let out = curl(&[
        "--http2",
        "--cacert",
        ca.to_str().unwrap(),
        &format!("https://localhost:{}/f.txt", tls.addr.port()),
        "--resolve",
        &format!("localhost:{}:127.0.0.1", tls.addr.port()),
    ]);
    assert_eq!(out, "file over h2\n\n2 200");
}

// ---- conformance and smuggling forms on the wire ----

#[test]
fn conformance_items_on_the_wire() {
    let srv = Server::start(Protocol::Http1, quick());
    let cases: &[(&[u8], &str)] = &[
        (b"G ET /hello HTTP/1.1\r\nHost: a\r\n\r\n", "400"),
        (b"GET /hel lo HTTP/1.1\r\nHost: a\r\n\r\n", "400"),
        (b"GET /hello HTTP/1.2\r\nHost: a\r\nConnection: close\r\n\r\n", "200"),
        (b"GET http://a/hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "200"),
        (b"GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n", "400"),
        (b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nGET /admin HTTP/1.1\r\n\r\n",
            "400",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3 ;x=1\r\nabc\r\n0\r\n\r\n",
            "200",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400",
        ),
        (b"GET /hello HTTP/1.1\r\nHost : a\r\n\r\n", "400"),
    ];
    for (raw, want) in cases {
        let r = exchange(&srv, raw);
        assert_eq!(status(&r), *want, "{}\n→ {r}", String::from_utf8_lossy(raw));
    }
    let ws = Server::start(Protocol::Ws, quick());
    let no_version = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let r = exchange(&ws, no_version);
    assert_eq!(status(&r), "426", "{r}");
    assert!(r.contains("Sec-WebSocket-Version: 13"), "{r}");
    let no_host = String::from_utf8_lossy(WS_UPGRADE).replace("Host: a\r\n", "");
    assert_eq!(status(&exchange(&ws, no_host.as_bytes())), "400");
    let body =
        String::from_utf8_lossy(WS_UPGRADE).replace("\r\n\r\n", "\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(status(&exchange(&ws, body.as_bytes())), "400");
}

#[test]
fn rpc_workers_share_one_store() {
    let srv = Server::with(Protocol::Rpc, quick(), None, None, 4);
    let mut first = srv.connect();
    let put = serde_json::to_vec(&("shared", "yes")).unwrap();
    first
        .write_all(&rpc_frame(Kind::Request, 1, 4, &put))
        .unwrap();
    assert_eq!(read_rpc(&mut first).0.kind, Kind::Response);
    for i in 0..16 {
        let mut s = srv.connect();
        s.write_all(&rpc_frame(Kind::Request, i, 3, b"\"shared\""))
            .unwrap();
        let (h, p) = read_rpc(&mut s);
        assert_eq!(h.kind, Kind::Response);
        assert_eq!(p, b"\"yes\"", "connection {i}");
    }
}
