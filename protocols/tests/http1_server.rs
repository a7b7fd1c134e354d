//! The HTTP/1.1 server and client in the simulator: keep-alive, pipelining, 100-continue,
//! chunked bodies, HEAD, routing, timeouts, and the negative (smuggling/malformed) suite.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Duration, Net, Runtime};
use testbed_protocols::http1::{
    serve, Client, OwnedRequest as Request, OwnedResponse as Response, Router, ServerConfig,
};
use testbed_sim::{Host, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn app() -> Router {
    Router::new()
        .route("GET", "/hello", |_r| async {
            Response::text(200, "hello\n")
        })
        .route("POST", "/echo", |r: Request| async move {
            Response::text(200, r.body)
        })
}

fn server_sim(seed: u64, cfg: ServerConfig) -> Sim {
    let mut sim = Sim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    sim.host("server", move |h| async move {
        let l = h.listen("0.0.0.0:80".parse().unwrap()).unwrap();
        serve(h, l, Rc::new(app()), cfg).await
    });
    sim
}

fn server_addr(h: &Host) -> SocketAddr {
    SocketAddr::new(h.lookup("server").unwrap(), 80)
}

/// Sends `raw`, reads until the server closes (or 60 s of sim time pass), returns the text.
async fn raw_exchange(h: &Host, raw: Vec<u8>) -> String {
    let mut s = h.connect(server_addr(h)).await.unwrap();
    s.write_all(&raw).await.unwrap();
    let mut out = Vec::new();
    let _ = testbed_model::timeout(h, Duration::from_secs(60), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn client_reuses_keep_alive_connections() {
    let mut sim = server_sim(1, ServerConfig::default());
    sim.client("client", |h| async move {
        let c = Client::new(h.clone());
        for _ in 0..3 {
            let r = c.request(server_addr(&h), &Request::get("/hello")).await?;
            assert_eq!((r.status, r.body.as_slice()), (200, &b"hello\n"[..]));
        }
        let mut post = Request::get("/echo");
        post.method = "POST".into();
        post.body = b"ping".to_vec();
        assert_eq!(c.request(server_addr(&h), &post).await?.body, b"ping");
        assert_eq!(c.connects(), 1, "one connection served all four requests");
        let r = c.request(server_addr(&h), &Request::get("/nope")).await?;
        assert_eq!(r.status, 404);
        let r = c
            .request(server_addr(&h), &{
                let mut d = Request::get("/hello");
                d.method = "DELETE".into();
                d
            })
            .await?;
        assert_eq!((r.status, r.header("allow")), (405, Some(&b"GET"[..])));
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut sim = server_sim(2, ServerConfig::default());
    sim.client("client", |h| async move {
        let raw = b"GET /hello HTTP/1.1\r\nHost: s\r\n\r\nPOST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 3\r\n\r\nabcGET /nope HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n".to_vec();
        let text = raw_exchange(&h, raw).await;
        let statuses: Vec<&str> = text.match_indices("HTTP/1.1 ").map(|(i, _)| &text[i + 9..i + 12]).collect();
        assert_eq!(statuses, ["200", "200", "404"], "{text}");
        assert!(text.find("hello").unwrap() < text.find("abc").unwrap());
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn expect_continue_chunked_uploads_and_head() {
    let mut sim = server_sim(3, ServerConfig::default());
    sim.client("client", |h| async move {
        let mut s = h.connect(server_addr(&h)).await?;
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: s\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n").await?;
        let mut interim = [0u8; 25];
        s.read_exact(&mut interim).await?;
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        s.write_all(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nHEAD /hello HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n").await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("Content-Length: 5\r\n\r\nabcde"), "{out}");
        let head = &out[out.find("abcde").unwrap() + 5..];
        assert!(head.contains("Content-Length: 6") && head.ends_with("\r\n\r\n"), "HEAD: length but no body: {head}");
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn malformed_and_ambiguous_requests_get_their_status_and_a_close() {
    let cases: Vec<(&str, &str)> = vec![
        ("POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "400"),
        ("POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400"),
        ("GET /hello HTTP/1.1\r\nHost : s\r\n\r\n", "400"),
        ("GET /hello HTTP/1.1\r\nHost: s\r\nX: a\r\n b\r\n\r\n", "400"),
        ("POST /echo HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"),
        ("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"),
        ("GET /hello HTTP/1.1\r\n\r\n", "400"),
        ("POST /echo HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501"),
        ("POST /echo HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "400"),
        ("GET /hello HTTP/3.0\r\nHost: s\r\n\r\n", "505"),
        ("GET /hello HTTP/1.1\nHost: s\n\n", "400"),
    ];
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: s\r\n\r\n", "a".repeat(9000));
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: s\r\n{}\r\n",
        "X-A: b\r\n".repeat(120)
    );
    let results = Rc::new(RefCell::new(Vec::new()));
    let r2 = results.clone();
    let mut sim = server_sim(4, ServerConfig::default());
    sim.client("client", move |h| async move {
        for (raw, want) in cases
            .iter()
            .map(|(r, w)| (r.to_string(), *w))
            .chain([(long_target, "414"), (many_headers, "431")])
        {
            let text = raw_exchange(&h, raw.clone().into_bytes()).await;
            r2.borrow_mut().push((raw, want, text));
        }
        Ok(())
    });
    sim.run().unwrap();
    for (raw, want, text) in results.borrow().iter() {
        assert!(
            text.starts_with(&format!("HTTP/1.1 {want} ")),
            "{raw:?} → {text:?}"
        );
        assert!(text.contains("Connection: close"), "{raw:?} → {text:?}");
        assert_eq!(
            text.matches("HTTP/1.1").count(),
            1,
            "nothing after the error response: {text:?}"
        );
    }
}

#[test]
fn slowloris_gets_408_and_idle_connections_close() {
    let cfg = ServerConfig {
        header_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    let mut sim = server_sim(5, cfg);
    sim.client("client", |h| async move {
        let mut s = h.connect(server_addr(&h)).await?;
        let t0 = h.now();
        s.write_all(b"GET /hello HTTP/1.1\r\nHo").await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
        let waited = h.now() - t0;
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_millis(2100),
            "{waited:?}"
        );

        let mut s = h.connect(server_addr(&h)).await?;
        s.write_all(b"GET /hello HTTP/1.1\r\nHost: s\r\n\r\n")
            .await?;
        let t0 = h.now();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?; // the response, then EOF when the idle timeout fires
        let idle = h.now() - t0;
        assert!(
            idle >= Duration::from_secs(5) && idle < Duration::from_millis(5100),
            "{idle:?}"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn idle_timeout_counts_from_the_last_request_not_the_first() {
    // The server re-arms one idle timer lazily: a timer armed for the first wait fires at
    // 5 s, finds the connection active since, and must re-arm for the remainder.
    let cfg = ServerConfig {
        idle_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    let mut sim = server_sim(6, cfg);
    sim.client("client", |h| async move {
        let mut s = h.connect(server_addr(&h)).await?;
        let mut buf = vec![0u8; 4096];
        for _ in 0..3 {
            s.write_all(b"GET /hello HTTP/1.1\r\nHost: s\r\n\r\n")
                .await?;
            let n = s.read(&mut buf).await?;
            assert!(buf[..n].starts_with(b"HTTP/1.1 200 "));
            h.sleep(Duration::from_secs(3)).await; // < idle timeout, > half of it
        }
        let t0 = h.now();
        s.write_all(b"GET /hello HTTP/1.1\r\nHost: s\r\n\r\n")
            .await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        assert!(out.starts_with(b"HTTP/1.1 200 "));
        let idle = h.now() - t0;
        assert!(
            idle >= Duration::from_secs(5) && idle < Duration::from_millis(5100),
            "{idle:?}"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let run = |seed| {
        let mut sim = server_sim(seed, ServerConfig::default());
        sim.client("client", |h| async move {
            let c = Client::new(h.clone());
            for i in 0..20 {
                let mut r = Request::get("/echo");
                r.method = "POST".into();
                r.body = vec![b'x'; i * 100];
                assert_eq!(c.request(server_addr(&h), &r).await?.body.len(), i * 100);
            }
            Ok(())
        });
        sim.run().unwrap().trace_hash
    };
    assert_eq!(run(9), run(9));
}

/// A file hook that "sends" files made of the byte `b'f'` (no file system in the simulator).
struct PatternFiles;

impl testbed_protocols::http1::FileSender for PatternFiles {
    async fn send_file<S: testbed_model::Stream>(
        &self,
        s: &mut S,
        head: &[u8],
        file: &testbed_protocols::http1::FileBody,
    ) -> std::io::Result<()> {
        s.write_all(head).await?;
        s.write_all(&vec![b'f'; file.len as usize]).await
    }
}

#[test]
fn file_bodies_go_through_the_file_hook_and_keep_alive_continues() {
    let mut sim = Sim::new(SimConfig {
        seed: 8,
        ..SimConfig::default()
    });
    sim.host("server", |h| async move {
        let l = h.listen("0.0.0.0:80".parse().unwrap()).unwrap();
        let app = Router::new()
            .route("GET", "/file", |_r| async {
                Response::file("/virtual/file".into(), 100_000)
            })
            .route("GET", "/hello", |_r| async {
                Response::text(200, "hello\n")
            });
        testbed_protocols::http1::serve_files(
            h,
            l,
            Rc::new(app),
            ServerConfig::default(),
            Rc::new(PatternFiles),
        )
        .await
    });
    sim.client("client", |h| async move {
        let c = Client::new(h.clone());
        let r = c.request(server_addr(&h), &Request::get("/file")).await?;
        assert_eq!((r.status, r.body.len()), (200, 100_000));
        assert!(r.body.iter().all(|b| *b == b'f'));
        let mut head = Request::get("/file");
        head.method = "HEAD".into();
        let r = c.request(server_addr(&h), &head).await?;
        assert_eq!(
            (r.header("content-length"), r.body.len()),
            (Some(&b"100000"[..]), 0),
            "HEAD: length, no file"
        );
        assert_eq!(
            c.request(server_addr(&h), &Request::get("/hello"))
                .await?
                .body,
            b"hello\n"
        );
        assert_eq!(c.connects(), 1);
        Ok(())
    });
    sim.run().unwrap();
}
