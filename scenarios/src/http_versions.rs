//! `http-versions` (网络编程进阶主题 §3.2, §3.4): a page of `resources` objects fetched over HTTPS with
//! HTTP/1.1 (six keep-alive connections, one request at a time each, as browsers do) and
//! HTTP/2 (one connection, every request at once), at a given RTT and bandwidth and at each
//! loss rate, in packet fidelity (smoltcp TCP: loss costs retransmissions and head-of-line
//! blocking). TLS uses the seeded provider, so the whole matrix replays from its seed.
//!
//! HTTP/3 (QUIC via quinn, UDP 443) loads the same page cold and resumed (a second visit:
//! the first requests ride in 0-RTT). Reports the page-load time of each (version, loss)
//! cell in `--json` next to the claims of the guide 网络编程进阶主题.
//!
//! Read loss numbers knowing that smoltcp's minimum retransmission timeout is 1 s (RFC 6298;
//! Linux uses 200 ms), so a tail loss costs more here than on Linux, and more on HTTP/2's
//! single connection, where every stream waits for the retransmission.

use crate::ddos_common::{record_variants, VariantRun};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use serde_json::json;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Duration, Listener, Net, Runtime, SeededRng};
use testbed_protocols::h2::{self, H2Config, Shutdown};
use testbed_protocols::http1::{
    self, parse_response, response_body, BodyKind, Header, Limits, OwnedRequest, OwnedResponse,
    ServerConfig, Status,
};
use testbed_protocols::https::HttpsApp;
use testbed_protocols::quic::{self, TimeBase};
use testbed_protocols::tls::{self, Clock, Entropy, ALPN_H2, ALPN_HTTP11};
use testbed_sim::{Fidelity, Host, Latency, LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The scenario.
pub struct HttpVersions;

const PORT: u16 = 443;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "resources",
        default: "100",
        kind: Kind::Int { min: 1, max: 2000 },
        help: "objects on the page",
    },
    ParamSpec {
        name: "size",
        default: "20000",
        kind: Kind::Int {
            min: 1,
            max: 10_000_000,
        },
        help: "bytes per object",
    },
    ParamSpec {
        name: "rtt",
        default: "50ms",
        kind: Kind::Duration,
        help: "round-trip time",
    },
    ParamSpec {
        name: "bandwidth",
        default: "10000000",
        kind: Kind::Int {
            min: 0,
            max: 10_000_000_000,
        },
        help: "bits per second each way (0: unlimited)",
    },
    ParamSpec {
        name: "h1_connections",
        default: "6",
        kind: Kind::Int { min: 1, max: 64 },
        help: "parallel HTTP/1.1 connections",
    },
];

/// The claims of the guide 网络编程进阶主题 for this experiment (§3.2, §3.4), in seconds.
fn claims() -> serde_json::Value {
    json!({
        "source": "网络编程进阶主题 §3.2, §3.4 (page of 100 resources)",
        "http1_s": 5.2,
        "http2_s": 2.1,
        "first_connection": {"http2_s": 2.8, "http3_s": 2.1},
        "resumed": {"http2_s": 2.1, "http3_s": 1.4},
        "loss_1pct": {"http2_s": 6.5, "http3_s": 3.2},
        "note": "the seed gives no RTT, bandwidth or object sizes; compare shapes, not seconds",
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Version {
    H1,
    H2,
    /// HTTP/3; `resumed`: after a first visit, so the page starts in 0-RTT.
    H3 {
        resumed: bool,
    },
}

/// Reads one HTTP/1.1 response (Content-Length framed) from `s`, keeping leftovers in `buf`.
/// Returns its body and whether the server closes the connection after it (`Connection:
/// close`): the next request then needs a new connection.
async fn h1_response<S: testbed_model::Stream>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> Result<(Vec<u8>, bool), String> {
    loop {
        let mut hs = [Header::default(); 32];
        if let Ok(Status::Complete(r)) = parse_response(buf, &mut hs, &Limits::default()) {
            let len = match response_body("GET", &r, &Limits::default()) {
                Ok(BodyKind::Length(n)) => n as usize,
                Ok(BodyKind::None) => 0,
                other => return Err(format!("unexpected framing {other:?}")),
            };
            let (status, head) = (r.status, r.head_len);
            let close = r.headers.has_token("connection", "close");
            while buf.len() < head + len {
                read_more(s, buf).await?;
            }
            let body = buf[head..head + len].to_vec();
            buf.drain(..head + len);
            return if status == 200 {
                Ok((body, close))
            } else {
                Err(format!("status {status}"))
            };
        }
        read_more(s, buf).await?;
    }
}

async fn read_more<S: testbed_model::Stream>(s: &mut S, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 16 * 1024];
    match s.read(&mut chunk).await {
        Ok(0) => Err("connection closed".into()),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn tls_to(
    h: &Host,
    alpn: &[u8],
    ca: &rustls::pki_types::CertificateDer<'static>,
) -> Result<tls::TlsStream<testbed_sim::SimStream>, String> {
    let clock = {
        let h = h.clone();
        Clock::sim(move || h.now())
    };
    let cfg = tls::client_config(
        std::slice::from_ref(ca),
        &[alpn],
        Entropy::Seeded(h.rng()),
        &clock,
    )
    .map_err(|e| e.to_string())?;
    let server = SocketAddr::new(h.lookup("server").ok_or("no server")?, PORT);
    let s = h.connect(server).await.map_err(|e| e.to_string())?;
    tls::connect(cfg, "server", s)
        .await
        .map_err(|e| e.to_string())
}

/// Loads the page; returns how long it took and the bytes received per resource.
async fn load_page(
    h: &Host,
    v: Version,
    n: u64,
    conns: u64,
    ca: &rustls::pki_types::CertificateDer<'static>,
) -> Result<(Duration, Vec<usize>), String> {
    match v {
        Version::H2 => {
            let t0 = h.now();
            let t = tls_to(h, ALPN_H2, ca).await?;
            // Browser-like receive windows (Chrome: 6 MiB per stream, 15 MiB per connection).
            let windows = H2Config {
                initial_window_size: 6 << 20,
                initial_connection_window_size: 15 << 20,
                ..H2Config::default()
            };
            let c = h2::handshake_with(h, t, "server", true, &windows)
                .await
                .map_err(|e| e.to_string())?;
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let c = c.clone();
                    h.spawn(async move { c.request(&OwnedRequest::get(&format!("/r/{i}"))).await })
                })
                .collect();
            let mut sizes = Vec::new();
            for t in tasks {
                let r = t
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                if r.status != 200 {
                    return Err(format!("status {}", r.status));
                }
                sizes.push(r.body.len());
            }
            Ok((h.now() - t0, sizes))
        }
        Version::H3 { resumed } => {
            let sock = h
                .bind_datagram(SocketAddr::from(([0, 0, 0, 0], 0)))
                .map_err(|e| e.to_string())?;
            let ep = quic::endpoint(
                h.clone(),
                sock,
                TimeBase::new(h.std_base()),
                quic::endpoint_config(&mut h.rng()),
                None,
            )
            .map_err(|e| e.to_string())?;
            let clock = {
                let h = h.clone();
                Clock::sim(move || h.now())
            };
            let cfg = quic::client_config(
                std::slice::from_ref(ca),
                &[quic::ALPN_H3],
                Entropy::Seeded(h.rng()),
                &clock,
            )
            .map_err(|e| e.to_string())?;
            let server = SocketAddr::new(h.lookup("server").ok_or("no server")?, PORT);
            if resumed {
                // A first visit leaves a session ticket behind.
                let conn = ep
                    .connect_with(cfg.clone(), server, "server")
                    .map_err(|e| e.to_string())?
                    .await
                    .map_err(|e| e.to_string())?;
                let c = quic::H3Client::new(h, conn.clone(), "server")
                    .await
                    .map_err(|e| e.to_string())?;
                c.request(&OwnedRequest::get("/"))
                    .await
                    .map_err(|e| e.to_string())?;
                h.sleep(Duration::from_millis(200)).await;
                conn.close(0u32.into(), b"bye");
                h.sleep(Duration::from_millis(200)).await;
            }
            let t0 = h.now();
            let first = OwnedRequest::get("/r/0");
            let conn = match quic::connect_early(&ep, cfg, server, "server", &first)
                .map_err(|e| e.to_string())?
            {
                quic::Early::ZeroRtt(conn, _) => conn,
                quic::Early::FullHandshake(c) => c.await.map_err(|e| e.to_string())?,
            };
            let c = quic::H3Client::new(h, conn, "server")
                .await
                .map_err(|e| e.to_string())?;
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let c = c.clone();
                    h.spawn(async move { c.request(&OwnedRequest::get(&format!("/r/{i}"))).await })
                })
                .collect();
            let mut sizes = Vec::new();
            for t in tasks {
                let r = t
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                if r.status != 200 {
                    return Err(format!("status {}", r.status));
                }
                sizes.push(r.body.len());
            }
            Ok((h.now() - t0, sizes))
        }
        Version::H1 => {
            let t0 = h.now();
            let next = Rc::new(RefCell::new(0u64));
            let sizes = Rc::new(RefCell::new(vec![0usize; n as usize]));
            let tasks: Vec<_> = (0..conns.min(n))
                .map(|_| {
                    let (h, next, sizes, ca) = (h.clone(), next.clone(), sizes.clone(), ca.clone());
                    h.clone().spawn(async move {
                        let mut t = tls_to(&h, ALPN_HTTP11, &ca).await?;
                        let mut buf = Vec::new();
                        loop {
                            let i = {
                                let mut x = next.borrow_mut();
                                if *x >= n {
                                    return Ok::<(), String>(());
                                }
                                *x += 1;
                                *x - 1
                            };
                            let req = format!("GET /r/{i} HTTP/1.1\r\nHost: server\r\n\r\n");
                            t.write_all(req.as_bytes())
                                .await
                                .map_err(|e| e.to_string())?;
                            let (body, close) = h1_response(&mut t, &mut buf).await?;
                            sizes.borrow_mut()[i as usize] = body.len();
                            if close {
                                // The server closed this connection: open another.
                                t = tls_to(&h, ALPN_HTTP11, &ca).await?;
                                buf.clear();
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.map_err(|e| e.to_string())??;
            }
            let v = sizes.borrow().clone();
            Ok((h.now() - t0, v))
        }
    }
}

impl HttpVersions {
    fn cell(&self, ctx: &RunCtx<'_>, name: &'static str, v: Version, loss: f64) -> VariantRun {
        let p: &Params = &ctx.params;
        let (n, size, conns) = (
            p.int("resources"),
            p.int("size") as usize,
            p.int("h1_connections"),
        );
        let bw = p.int("bandwidth");
        let link = LinkConfig {
            latency: Latency::Fixed(p.duration("rtt") / 2),
            loss,
            bandwidth: (bw > 0).then_some(bw / 8),
            queue_bytes: 256 * 1024,
            ..LinkConfig::default()
        };
        let cfg = SimConfig {
            default_link: link,
            fidelity: Fidelity::Packet,
            tcp_buffer_bytes: 256 * 1024,
            time_limit: Duration::from_secs(3600),
            ..ctx.sim_config()
        };
        let pki = tls::test_pki(&["server"], &mut SeededRng::new(ctx.seed)).expect("test PKI");
        let mut sim = Sim::new(cfg);
        let server_pki = pki.clone();
        sim.host("server", move |h| {
            let pki = server_pki.clone();
            async move {
                let clock = {
                    let h = h.clone();
                    Clock::sim(move || h.now())
                };
                let Ok(cfg) = tls::server_config(
                    vec![pki.leaf_der.clone()],
                    pki.key(),
                    &[ALPN_H2, ALPN_HTTP11],
                    Entropy::Seeded(h.rng()),
                    &clock,
                ) else {
                    return;
                };
                let l = h
                    .listen(SocketAddr::from(([0, 0, 0, 0], PORT)))
                    .expect("fresh host");
                let handler = Rc::new(move |r: OwnedRequest| async move {
                    if r.path().starts_with("/r/") {
                        OwnedResponse::text(200, vec![b'x'; size])
                    } else {
                        OwnedResponse::text(404, "no\n")
                    }
                });
                // HTTP/3 on UDP 443 beside HTTPS on TCP 443.
                if let Ok(qcfg) = quic::server_config(
                    vec![pki.leaf_der.clone()],
                    pki.key(),
                    &[quic::ALPN_H3],
                    Entropy::Seeded(h.rng()),
                    &clock,
                    &mut h.rng(),
                ) {
                    let sock = h
                        .bind_datagram(SocketAddr::from(([0, 0, 0, 0], PORT)))
                        .expect("fresh host");
                    if let Ok(ep) = quic::endpoint(
                        h.clone(),
                        sock,
                        TimeBase::new(h.std_base()),
                        quic::endpoint_config(&mut h.rng()),
                        Some(qcfg),
                    ) {
                        drop(h.spawn(quic::h3_serve(h.clone(), ep, handler.clone())));
                    }
                }
                let gate = testbed_protocols::bounded::ConnGate::new(
                    testbed_protocols::bounded::ServerLimits::default().max_connections,
                );
                while let Ok((s, _)) = l.accept().await {
                    let Some(permit) = gate.try_enter() else {
                        continue; // over the cap: closed at once
                    };
                    let (h2, cfg, handler) = (h.clone(), cfg.clone(), handler.clone());
                    drop(h.spawn(async move {
                        let _permit = permit; // held for the connection's life
                        let Ok(t) = tls::accept(cfg, s).await else {
                            return;
                        };
                        let app = HttpsApp {
                            http1: &*handler,
                            http1_config: ServerConfig::default(),
                            files: &http1::NoFiles,
                            h2: handler.clone(),
                            h2_config: H2Config::default(),
                            shutdown: Shutdown::new(),
                        };
                        app.serve(&h2, t).await;
                    }));
                }
            }
        });
        let result = Rc::new(RefCell::new(None::<Result<(Duration, Vec<usize>), String>>));
        let res = result.clone();
        let ca = pki.ca_der.clone();
        sim.client("browser", move |h| async move {
            let r = load_page(&h, v, n, conns, &ca).await;
            *res.borrow_mut() = Some(r);
            Ok(())
        });
        // h3 draws GREASE values from a per-thread generator: seed it from the run.
        quic::seed_grease(testbed_model::rng::derive_seed(ctx.seed, name));
        let run = sim.run();
        let hash = sim.trace_hash();
        let mut metrics = serde_json::Map::new();
        metrics.insert(
            "version".into(),
            json!(match v {
                Version::H1 => "http/1.1",
                Version::H2 => "h2",
                Version::H3 { resumed: false } => "h3",
                Version::H3 { resumed: true } => "h3 (resumed, 0-RTT)",
            }),
        );
        metrics.insert("loss".into(), json!(loss));
        match result.borrow().as_ref() {
            Some(Ok((t, sizes))) => {
                metrics.insert(
                    "page_load_s".into(),
                    json!((t.as_secs_f64() * 1000.0).round() / 1000.0),
                );
                metrics.insert(
                    "complete".into(),
                    json!(sizes.iter().all(|s| *s == size) && sizes.len() == n as usize),
                );
            }
            Some(Err(e)) => {
                metrics.insert("error".into(), json!(e));
                metrics.insert("complete".into(), json!(false));
            }
            None => {
                metrics.insert("complete".into(), json!(false));
            }
        }
        VariantRun {
            name,
            run,
            hash,
            metrics,
        }
    }
}

impl Scenario for HttpVersions {
    fn name(&self) -> &'static str {
        "http-versions"
    }
    fn summary(&self) -> &'static str {
        "page load: HTTP/1.1 (6 connections) vs HTTP/2 vs HTTP/3 (cold and 0-RTT) at 0/1/2% loss (packet fidelity)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        crate::params::check_product(&ctx.params, "resources", "size", 200_000_000)?;
        let bw = ctx.params.int("bandwidth");
        if (1..8).contains(&bw) {
            // Links count whole bytes per second: below 8 bit/s would round to 0 = unlimited.
            return Err(crate::params::ParamError::Constraint(format!(
                "bandwidth {bw} bit/s is below one byte per second: use 0 (unlimited) or at least 8"
            ))
            .into());
        }
        let mut out = Outcome::start(self.name(), ctx);
        let cells: [(&'static str, Version, f64); 11] = [
            ("http1_loss0", Version::H1, 0.0),
            ("http1_loss1", Version::H1, 0.01),
            ("http1_loss2", Version::H1, 0.02),
            ("http2_loss0", Version::H2, 0.0),
            ("http2_loss1", Version::H2, 0.01),
            ("http2_loss2", Version::H2, 0.02),
            ("http3_loss0", Version::H3 { resumed: false }, 0.0),
            ("http3_loss1", Version::H3 { resumed: false }, 0.01),
            ("http3_loss2", Version::H3 { resumed: false }, 0.02),
            ("http3_resumed_loss0", Version::H3 { resumed: true }, 0.0),
            ("http3_resumed_loss1", Version::H3 { resumed: true }, 0.01),
        ];
        let runs: Vec<VariantRun> = cells
            .into_iter()
            .map(|(name, v, loss)| self.cell(ctx, name, v, loss))
            .collect();
        let incomplete: Vec<String> = runs
            .iter()
            .filter(|r| r.metrics["complete"] != json!(true))
            .map(|r| {
                format!(
                    "{}: {}",
                    r.name,
                    r.metrics
                        .get("error")
                        .map_or("incomplete".to_string(), |e| e.to_string())
                )
            })
            .collect();
        let table: serde_json::Map<String, serde_json::Value> = runs
            .iter()
            .map(|r| {
                (
                    r.name.to_string(),
                    r.metrics.get("page_load_s").cloned().unwrap_or(json!(null)),
                )
            })
            .collect();
        out.invariants.push(Invariant::no_errors(
            "every_page_loaded_completely",
            &incomplete,
            "every cell fetched every object with its full size",
        ));
        record_variants(&mut out, runs);
        out.metric("page_load_s", serde_json::Value::Object(table));
        out.metric("seed_claims", claims());
        Ok(out)
    }
}
