//! QUIC and HTTP/3 in the simulator: requests over h3 in both fidelities, the same seed giving
//! the same packets (trace hash), streams that do not block each other on loss, connection
//! migration, and 0-RTT on resumed connections.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use testbed_model::packet::Verdict;
use testbed_model::{Duration, Instant, Net, Runtime, SeededRng};
use testbed_protocols::http1::{OwnedRequest as Request, OwnedResponse as Response, Router};
use testbed_protocols::quic::{self, TimeBase, ALPN_H3};
use testbed_protocols::tls::{self, Clock, Entropy};
use testbed_sim::{Fidelity, Hook, Host, LinkConfig, Sim, SimConfig};

fn sim(seed: u64, fidelity: Fidelity) -> Sim {
    Sim::new(SimConfig {
        seed,
        fidelity,
        default_link: LinkConfig {
            latency: testbed_sim::Latency::ms(10),
            ..LinkConfig::default()
        },
        ..SimConfig::default()
    })
}

fn clock(h: &Host) -> Clock {
    let h = h.clone();
    Clock::sim(move || h.now())
}

fn app() -> Router {
    Router::new()
        .route("GET", "/hello", |_r| async {
            Response::text(200, "hello\n")
        })
        .route("POST", "/echo", |r: Request| async move {
            Response::text(200, r.body)
        })
}

fn h3_server(sim: &mut Sim, pki: tls::TestPki) {
    sim.host("server", move |h| {
        let pki = pki.clone();
        async move {
            let cfg = quic::server_config(
                vec![pki.leaf_der.clone()],
                pki.key(),
                &[ALPN_H3],
                Entropy::Seeded(h.rng()),
                &clock(&h),
                &mut h.rng(),
            )
            .unwrap();
            let sock = h.bind_datagram("0.0.0.0:443".parse().unwrap()).unwrap();
            let ep = quic::endpoint(
                h.clone(),
                sock,
                TimeBase::new(h.std_base()),
                quic::endpoint_config(&mut h.rng()),
                Some(cfg),
            )
            .unwrap();
            quic::h3_serve(h.clone(), ep, Rc::new(app())).await;
        }
    });
}

fn client_endpoint(h: &Host) -> quinn::Endpoint {
    let sock = h.bind_datagram("0.0.0.0:0".parse().unwrap()).unwrap();
    quic::endpoint(
        h.clone(),
        sock,
        TimeBase::new(h.std_base()),
        quic::endpoint_config(&mut h.rng()),
        None,
    )
    .unwrap()
}

fn server_addr(h: &Host) -> SocketAddr {
    SocketAddr::new(h.lookup("server").unwrap(), 443)
}

fn h3_run(seed: u64, fidelity: Fidelity) -> u64 {
    quic::seed_grease(seed);
    let pki = tls::test_pki(&["server"], &mut SeededRng::new(seed)).unwrap();
    let mut sim = sim(seed, fidelity);
    h3_server(&mut sim, pki.clone());
    sim.client("client", move |h| async move {
        let ep = client_endpoint(&h);
        let cfg = quic::client_config(
            std::slice::from_ref(&pki.ca_der),
            &[ALPN_H3],
            Entropy::Seeded(h.rng()),
            &clock(&h),
        )?;
        let conn = ep.connect_with(cfg, server_addr(&h), "server")?.await?;
        let c = quic::H3Client::new(&h, conn, "server").await?;
        let r = c.request(&Request::get("/hello")).await?;
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello\n"[..]));
        let mut post = Request::get("/echo");
        post.method = "POST".into();
        post.body = vec![7u8; 100_000];
        let r = c.request(&post).await?;
        assert_eq!(r.body.len(), 100_000);
        // Many requests at once on one connection.
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let c = c.clone();
                h.spawn(async move { c.request(&Request::get("/hello")).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap()?.status, 200);
        }
        c.connection().close(0u32.into(), b"done");
        Ok(())
    });
    sim.run().unwrap().trace_hash
}

#[test]
fn http3_requests_in_both_fidelities_and_the_same_seed_gives_the_same_packets() {
    for fidelity in [Fidelity::Stream, Fidelity::Packet] {
        let (a, b, c) = (
            h3_run(1, fidelity),
            h3_run(1, fidelity),
            h3_run(2, fidelity),
        );
        assert_eq!(a, b, "{fidelity:?}");
        assert_ne!(a, c, "{fidelity:?}");
    }
}

#[test]
fn a_lost_packet_on_one_stream_does_not_stall_another() {
    // The server writes 1200 bytes on stream A, then 10 ms later on stream B. The server's
    // first large datagram after `armed` (A's data) is dropped once. B must arrive well
    // before A's retransmission; over one TCP connection it would wait behind A.
    let pki = tls::test_pki(&["server"], &mut SeededRng::new(3)).unwrap();
    let mut sim = sim(3, Fidelity::Packet);
    let armed = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicU32::new(0));
    let (armed2, dropped2) = (armed.clone(), dropped.clone());
    let spki = pki.clone();
    sim.host("server", move |h| {
        let (pki, armed) = (spki.clone(), armed2.clone());
        async move {
            let cfg = quic::server_config(
                vec![pki.leaf_der.clone()],
                pki.key(),
                &[b"test"],
                Entropy::Seeded(h.rng()),
                &clock(&h),
                &mut h.rng(),
            )
            .unwrap();
            let sock = h.bind_datagram("0.0.0.0:443".parse().unwrap()).unwrap();
            let ep = quic::endpoint(
                h.clone(),
                sock,
                TimeBase::new(h.std_base()),
                quic::endpoint_config(&mut h.rng()),
                Some(cfg),
            )
            .unwrap();
            let conn = ep.accept().await.unwrap().await.unwrap();
            let (mut a, _) = conn.accept_bi().await.unwrap();
            let (mut b, _) = conn.accept_bi().await.unwrap();
            armed.store(true, Ordering::SeqCst);
            a.write_all(&[b'A'; 1200]).await.unwrap();
            h.sleep(Duration::from_millis(10)).await;
            b.write_all(&[b'B'; 1200]).await.unwrap();
            a.finish().unwrap();
            b.finish().unwrap();
            conn.closed().await;
        }
    });
    sim.handle("server").unwrap().attach_filter(
        Hook::Egress,
        move |_now: Instant, f: &mut [u8]| {
            if armed.load(Ordering::SeqCst)
                && f.len() > 1000
                && dropped2.load(Ordering::SeqCst) == 0
            {
                dropped2.store(1, Ordering::SeqCst);
                return Verdict::Drop;
            }
            Verdict::Pass
        },
    );
    sim.client("client", move |h| async move {
        let ep = client_endpoint(&h);
        let cfg = quic::client_config(
            std::slice::from_ref(&pki.ca_der),
            &[b"test"],
            Entropy::Seeded(h.rng()),
            &clock(&h),
        )?;
        let conn = ep.connect_with(cfg, server_addr(&h), "server")?.await?;
        let (mut sa, mut ra) = conn.open_bi().await?;
        let (mut sb, mut rb) = conn.open_bi().await?;
        sa.write_all(b"a").await?; // streams become visible to the peer with data
        sb.write_all(b"b").await?;
        let t0 = h.now();
        let arrivals = Rc::new(RefCell::new(Vec::new()));
        let (h1, h2, a1, a2) = (h.clone(), h.clone(), arrivals.clone(), arrivals.clone());
        let ta = h.spawn(async move {
            let d = ra.read_to_end(10_000).await.unwrap();
            a1.borrow_mut().push(('A', h1.now(), d.len()));
        });
        let tb = h.spawn(async move {
            let d = rb.read_to_end(10_000).await.unwrap();
            a2.borrow_mut().push(('B', h2.now(), d.len()));
        });
        ta.await.unwrap();
        tb.await.unwrap();
        let v = arrivals.borrow().clone();
        assert_eq!(v[0].0, 'B', "stream B finished first: {v:?} (from {t0})");
        assert_eq!((v[0].2, v[1].2), (1200, 1200));
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn a_connection_survives_the_client_changing_address() {
    let pki = tls::test_pki(&["server"], &mut SeededRng::new(4)).unwrap();
    let mut sim = sim(4, Fidelity::Packet);
    h3_server(&mut sim, pki.clone());
    sim.client("client", move |h| async move {
        let ep = client_endpoint(&h);
        let cfg = quic::client_config(
            std::slice::from_ref(&pki.ca_der),
            &[ALPN_H3],
            Entropy::Seeded(h.rng()),
            &clock(&h),
        )?;
        let conn = ep.connect_with(cfg, server_addr(&h), "server")?.await?;
        let c = quic::H3Client::new(&h, conn.clone(), "server").await?;
        assert_eq!(c.request(&Request::get("/hello")).await?.status, 200);
        let before = ep.local_addr()?;
        // Mid-transfer: a large upload starts, then the client moves to a new port (a NAT
        // rebinding, or a phone switching networks).
        let mut post = Request::get("/echo");
        post.method = "POST".into();
        post.body = vec![9u8; 300_000];
        let (c2, h2) = (c.clone(), h.clone());
        let upload = h.spawn(async move { c2.request(&post).await });
        h2.sleep(Duration::from_millis(15)).await;
        let new_sock = h.bind_datagram("0.0.0.0:0".parse().unwrap())?;
        ep.rebind_abstract(quic::ModelUdp::new(new_sock))?;
        let after = ep.local_addr()?;
        assert_ne!(before.port(), after.port());
        let r = upload.await.unwrap()?;
        assert_eq!(
            (r.status, r.body.len()),
            (200, 300_000),
            "the transfer survived the move"
        );
        assert_eq!(c.request(&Request::get("/hello")).await?.status, 200);
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn resumed_connections_send_idempotent_requests_in_0rtt() {
    let pki = tls::test_pki(&["server"], &mut SeededRng::new(5)).unwrap();
    let mut sim = sim(5, Fidelity::Packet);
    h3_server(&mut sim, pki.clone());
    sim.client("client", move |h| async move {
        let ep = client_endpoint(&h);
        let cfg = quic::client_config(
            std::slice::from_ref(&pki.ca_der),
            &[ALPN_H3],
            Entropy::Seeded(h.rng()),
            &clock(&h),
        )?;
        // Cold: a full handshake (1 RTT) before the request (1 RTT).
        let t0 = h.now();
        let conn = ep
            .connect_with(cfg.clone(), server_addr(&h), "server")?
            .await?;
        let c = quic::H3Client::new(&h, conn.clone(), "server").await?;
        assert_eq!(c.request(&Request::get("/hello")).await?.status, 200);
        let cold = h.now() - t0;
        h.sleep(Duration::from_millis(100)).await; // the session ticket arrives
        conn.close(0u32.into(), b"bye");
        h.sleep(Duration::from_millis(100)).await;
        // Resumed: the GET rides in 0-RTT.
        let t1 = h.now();
        let get = Request::get("/hello");
        let (conn, accepted) =
            match quic::connect_early(&ep, cfg.clone(), server_addr(&h), "server", &get)? {
                quic::Early::ZeroRtt(conn, accepted) => (conn, accepted),
                quic::Early::FullHandshake(_) => panic!("a resumed GET must use 0-RTT"),
            };
        let c = quic::H3Client::new(&h, conn.clone(), "server").await?;
        assert_eq!(c.request(&get).await?.status, 200);
        let resumed = h.now() - t1;
        assert!(accepted.await, "the server accepted the early data");
        assert!(
            resumed + Duration::from_millis(15) < cold,
            "0-RTT saves a round trip: cold {cold:?}, resumed {resumed:?}"
        );
        // A POST is not idempotent: it waits for the handshake (no early data).
        let mut post = Request::get("/echo");
        post.method = "POST".into();
        post.body = b"x".to_vec();
        assert!(matches!(
            quic::connect_early(&ep, cfg, server_addr(&h), "server", &post)?,
            quic::Early::FullHandshake(_)
        ));
        Ok(())
    });
    sim.run().unwrap();
}
