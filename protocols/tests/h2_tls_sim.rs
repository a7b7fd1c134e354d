//! HTTP/2 and TLS in the simulator, in both fidelities: h2c with many concurrent streams on
//! one connection, flow control under a small window, graceful GOAWAY; TLS with ALPN choosing
//! h2 or HTTP/1.1; and the point of the seeded crypto provider — the same seed puts the same
//! bytes on the wire, so TLS runs have the same trace hash.

use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Listener, Net, Runtime, SeededRng};
use testbed_protocols::h2::{self, H2Config, Shutdown};
use testbed_protocols::http1::{
    self, Client, OwnedRequest as Request, OwnedResponse as Response, Router, ServerConfig,
};
use testbed_protocols::https::HttpsApp;
use testbed_protocols::tls::{self, Clock, Entropy, ALPN_H2, ALPN_HTTP11};
use testbed_sim::{Fidelity, Host, LinkConfig, Sim, SimConfig};

fn app() -> Router {
    Router::new()
        .route("GET", "/hello", |_r| async {
            Response::text(200, "hello\n")
        })
        .route("POST", "/echo", |r: Request| async move {
            Response::text(200, r.body)
        })
}

fn sim(seed: u64, fidelity: Fidelity) -> Sim {
    Sim::new(SimConfig {
        seed,
        fidelity,
        default_link: LinkConfig {
            latency: testbed_sim::Latency::ms(5),
            ..LinkConfig::default()
        },
        ..SimConfig::default()
    })
}

fn addr(h: &Host, port: u16) -> SocketAddr {
    SocketAddr::new(h.lookup("server").unwrap(), port)
}

fn h2c_server(sim: &mut Sim, cfg: H2Config, shutdown_after: Option<u64>) {
    sim.host("server", move |h| async move {
        let l = h.listen("0.0.0.0:80".parse().unwrap()).unwrap();
        let shutdown = Shutdown::new();
        if let Some(ms) = shutdown_after {
            let (h2, sd) = (h.clone(), shutdown.clone());
            drop(h.spawn(async move {
                h2.sleep(testbed_model::Duration::from_millis(ms)).await;
                sd.trigger();
            }));
        }
        h2::serve(h, l, Rc::new(app()), cfg, shutdown).await
    });
}

#[test]
fn h2c_serves_many_concurrent_streams_on_one_connection() {
    for fidelity in [Fidelity::Stream, Fidelity::Packet] {
        let mut sim = sim(1, fidelity);
        h2c_server(&mut sim, H2Config::default(), None);
        sim.client("client", move |h| async move {
            let s = h.connect(addr(&h, 80)).await?;
            let c = h2::handshake(&h, s, "server", false).await?;
            let t0 = h.now();
            let tasks: Vec<_> = (0..50)
                .map(|i| {
                    let c = c.clone();
                    h.spawn(async move {
                        let mut r = Request::get("/echo");
                        r.method = "POST".into();
                        r.body = format!("stream {i}").into_bytes();
                        c.request(&r).await
                    })
                })
                .collect();
            for (i, t) in tasks.into_iter().enumerate() {
                let r = t.await.unwrap()?;
                assert_eq!(
                    (r.status, r.body),
                    (200, format!("stream {i}").into_bytes())
                );
            }
            // 50 requests multiplexed: a few round trips, not 50.
            let took = h.now() - t0;
            assert!(
                took < testbed_model::Duration::from_millis(100),
                "{fidelity:?}: {took:?}"
            );
            let r = c.request(&Request::get("/nope")).await?;
            assert_eq!(r.status, 404);
            Ok(())
        });
        sim.run().unwrap();
    }
}

#[test]
fn h2_flow_control_carries_large_bodies_through_small_windows() {
    let mut sim = sim(2, Fidelity::Packet);
    h2c_server(
        &mut sim,
        H2Config {
            initial_window_size: 1024,
            initial_connection_window_size: 4096,
            max_frame_size: 16_384,
            ..H2Config::default()
        },
        None,
    );
    sim.client("client", |h| async move {
        let s = h.connect(addr(&h, 80)).await?;
        let c = h2::handshake(&h, s, "server", false).await?;
        let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = Request::get("/echo");
        r.method = "POST".into();
        r.body = body.clone();
        let resp = c.request(&r).await?;
        assert_eq!(resp.status, 200);
        assert!(
            resp.body == body,
            "1 MB echoed intact through a 1 KiB stream window"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn graceful_shutdown_sends_goaway_and_refuses_new_streams() {
    let mut sim = sim(3, Fidelity::Stream);
    h2c_server(&mut sim, H2Config::default(), Some(100));
    sim.client("client", |h| async move {
        let s = h.connect(addr(&h, 80)).await?;
        let c = h2::handshake(&h, s, "server", false).await?;
        assert_eq!(c.request(&Request::get("/hello")).await?.status, 200);
        h.sleep(testbed_model::Duration::from_millis(200)).await;
        let e = c.request(&Request::get("/hello")).await.unwrap_err();
        match &e {
            h2::H2ClientError::H2(x) => assert!(
                x.is_go_away() && x.reason() == Some(::h2::Reason::NO_ERROR),
                "{e}"
            ),
            other => panic!("expected GOAWAY(NO_ERROR), got {other}"),
        }
        Ok(())
    });
    sim.run().unwrap();
}

/// HTTP/1.1 and HTTP/2 behind one TLS port, by ALPN.
fn tls_server(sim: &mut Sim, pki: tls::TestPki) {
    sim.host("server", move |h| {
        let pki = pki.clone();
        async move {
            let clock = {
                let h = h.clone();
                Clock::sim(move || h.now())
            };
            let cfg = tls::server_config(
                vec![pki.leaf_der.clone()],
                pki.key(),
                &[ALPN_H2, ALPN_HTTP11],
                Entropy::Seeded(h.rng()),
                &clock,
            )
            .unwrap();
            let l = h.listen("0.0.0.0:443".parse().unwrap()).unwrap();
            let handler = Rc::new(app());
            while let Ok((s, _)) = l.accept().await {
                let (h2, cfg, handler) = (h.clone(), cfg.clone(), handler.clone());
                drop(h.spawn(async move {
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
}

fn tls_run(seed: u64, fidelity: Fidelity) -> u64 {
    tls_run_with(seed, fidelity, false)
}

/// One TLS run; `system_entropy` gives the client rustls's stock (OS-random) provider.
fn tls_run_with(seed: u64, fidelity: Fidelity, system_entropy: bool) -> u64 {
    let pki = tls::test_pki(&["server"], &mut SeededRng::new(seed)).unwrap();
    let mut sim = sim(seed, fidelity);
    tls_server(&mut sim, pki.clone());
    sim.client("client", move |h| async move {
        let clock = {
            let h = h.clone();
            Clock::sim(move || h.now())
        };
        // h2 by ALPN.
        let entropy = if system_entropy {
            Entropy::System
        } else {
            Entropy::Seeded(h.rng())
        };
        let cfg = tls::client_config(
            std::slice::from_ref(&pki.ca_der),
            &[ALPN_H2, ALPN_HTTP11],
            entropy,
            &clock,
        )?;
        let s = h.connect(addr(&h, 443)).await?;
        let t = tls::connect(cfg, "server", s).await?;
        assert_eq!(t.alpn(), Some(ALPN_H2));
        assert_eq!(t.version(), Some(rustls::ProtocolVersion::TLSv1_3));
        let c = h2::handshake(&h, t, "server", true).await?;
        assert_eq!(c.request(&Request::get("/hello")).await?.body, b"hello\n");
        // HTTP/1.1 by ALPN, through the HTTP/1.1 client's raw stream path.
        let cfg = tls::client_config(
            std::slice::from_ref(&pki.ca_der),
            &[ALPN_HTTP11],
            Entropy::Seeded(h.rng()),
            &clock,
        )?;
        let s = h.connect(addr(&h, 443)).await?;
        let mut t = tls::connect(cfg, "server", s).await?;
        assert_eq!(t.alpn(), Some(ALPN_HTTP11));
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        t.write_all(b"GET /hello HTTP/1.1\r\nHost: server\r\nConnection: close\r\n\r\n")
            .await?;
        let mut out = Vec::new();
        t.read_to_end(&mut out).await?;
        assert!(out.starts_with(b"HTTP/1.1 200 ") && out.ends_with(b"hello\n"));
        // A client that does not trust the CA fails the handshake.
        let other = tls::test_pki(&["server"], &mut SeededRng::new(seed ^ 0xFFFF)).unwrap();
        let cfg = tls::client_config(
            &[other.ca_der],
            &[ALPN_H2],
            Entropy::Seeded(h.rng()),
            &clock,
        )?;
        let s = h.connect(addr(&h, 443)).await?;
        assert!(tls::connect(cfg, "server", s).await.is_err());
        let _ = Client::new(h.clone()); // the plain client type still builds alongside
        Ok(())
    });
    sim.run().unwrap().trace_hash
}

#[test]
fn tls_with_alpn_in_both_fidelities_and_the_same_seed_gives_the_same_trace() {
    for fidelity in [Fidelity::Stream, Fidelity::Packet] {
        let a = tls_run(7, fidelity);
        let b = tls_run(7, fidelity);
        let c = tls_run(8, fidelity);
        assert_eq!(a, b, "{fidelity:?}: same seed, same TLS bytes, same trace");
        assert_ne!(a, c, "{fidelity:?}");
    }
}

#[test]
fn the_stock_provider_is_not_deterministic_which_is_why_the_seeded_one_exists() {
    // The trace hash covers the bytes written: with OS randomness the client's key share and
    // random differ run to run, and so does the trace.
    let a = tls_run_with(9, Fidelity::Stream, true);
    let b = tls_run_with(9, Fidelity::Stream, true);
    assert_ne!(a, b);
}

#[test]
fn websocket_over_tls_and_rpc_over_tls() {
    use testbed_protocols::rpc::{self, example, CodecId, RpcClient};
    use testbed_protocols::ws::{self, Event, WsLimits};
    let pki = tls::test_pki(&["server"], &mut SeededRng::new(11)).unwrap();
    let mut sim = sim(11, Fidelity::Packet);
    let spki = pki.clone();
    sim.host("server", move |h| {
        let pki = spki.clone();
        async move {
            let cfg = tls::server_config(
                vec![pki.leaf_der.clone()],
                pki.key(),
                &[ALPN_HTTP11],
                Entropy::Seeded(h.rng()),
                &clock_of(&h),
            )
            .unwrap();
            let wss = h.listen("0.0.0.0:443".parse().unwrap()).unwrap();
            let rpcs = h.listen("0.0.0.0:7443".parse().unwrap()).unwrap();
            let (h2, cfg2) = (h.clone(), cfg.clone());
            drop(h.spawn(async move {
                let server = Rc::new(example::server());
                while let Ok((s, _)) = rpcs.accept().await {
                    let (h3, cfg3, server) = (h2.clone(), cfg2.clone(), server.clone());
                    drop(h2.spawn(async move {
                        if let Ok(t) = tls::accept(cfg3, s).await {
                            server.serve_conn(h3, t).await;
                        }
                    }));
                }
            }));
            while let Ok((s, _)) = wss.accept().await {
                let (h2, cfg) = (h.clone(), cfg.clone());
                drop(h.spawn(async move {
                    let Ok(t) = tls::accept(cfg, s).await else {
                        return;
                    };
                    let Ok(mut w) = ws::accept(&h2, t, WsLimits::default()).await else {
                        return;
                    };
                    while let Ok(Event::Text(m)) = w.recv(&h2).await {
                        if w.send_text(&m).await.is_err() {
                            return;
                        }
                    }
                }));
            }
        }
    });
    sim.client("client", move |h| async move {
        let cfg = tls::client_config(
            std::slice::from_ref(&pki.ca_der),
            &[ALPN_HTTP11],
            Entropy::Seeded(h.rng()),
            &clock_of(&h),
        )?;
        // wss
        let s = h.connect(addr(&h, 443)).await?;
        let t = tls::connect(cfg.clone(), "server", s).await?;
        let mut w = ws::connect_over(&h, t, "server", "/", false, WsLimits::default()).await?;
        w.send_text("over tls").await?;
        match w.recv(&h).await? {
            Event::Text(m) => assert_eq!(m, "over tls"),
            other => panic!("{other:?}"),
        }
        // RPC over TLS
        let s = h.connect(addr(&h, 7443)).await?;
        let t = tls::connect(cfg, "server", s).await?;
        let c = RpcClient::over(&h, t, CodecId::Binary);
        let sum = c
            .call::<example::Add, _>(
                &h,
                &example::Pair { a: 40, b: 2 },
                testbed_model::Duration::from_secs(5),
            )
            .await?;
        assert_eq!(sum, 42);
        let _ = rpc::serve::<Host>; // the plain-TCP server stays available
        Ok(())
    });
    sim.run().unwrap();
}

fn clock_of(h: &Host) -> Clock {
    let h = h.clone();
    Clock::sim(move || h.now())
}
